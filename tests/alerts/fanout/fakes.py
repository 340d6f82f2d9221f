"""Fakes for the fan-out: the LINE / Telegram fakes of tests/fakes with delivery logs, platform
rate limits, blocked users and a "stall" switch, and an SMTP server (aiosmtpd) that records mail.

Each fake keeps ``deliveries``: (monotonic time, address) of every message the platform
*accepted*, in arrival order — a LINE multicast whose ``X-Line-Retry-Key`` was already
accepted is a 409 and delivers nothing, as on the real API. ``stall_after(n)`` makes the
platform stop answering after ``n`` more accepted requests: LINE accepts the next
multicast (its retry key is taken) and never answers, as if the worker died before it
read the response; Telegram and SMTP hang *before* delivering. ``release()`` ends it.
The benchmark uses these too.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
import time
from typing import Any, Self

from aiohttp import web
from aiosmtpd.controller import Controller

from tests.fakes.line import FakeLineAPI
from tests.fakes.server import PARAMS
from tests.fakes.telegram import FakeTelegramAPI, retry_after_body

__all__ = ["Bucket", "FanoutLineAPI", "FanoutSMTP", "FanoutTelegramAPI"]


class Bucket:
    """The platform's side of a rate limit: ``rate`` per second, bursts up to ``burst``."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.updated = burst, time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            return False


class _Stall:
    """Lets ``n`` more accepted requests through, then holds every later one until released."""

    def __init__(self) -> None:
        self.remaining: int | None = None
        self.stalled = 0
        self._released = threading.Event()

    def arm(self, after: int) -> None:
        self._released.clear()
        self.remaining = after

    def should_stall(self) -> bool:
        if self.remaining is None:
            return False
        if self.remaining > 0:
            self.remaining -= 1
            return False
        self.stalled += 1
        return True

    async def hold(self) -> None:
        while not self._released.is_set():
            await asyncio.sleep(0.05)

    def release(self) -> None:
        self.remaining = None
        self._released.set()


class FanoutLineAPI(FakeLineAPI):
    """Fake LINE with a multicast rate limit (429), unknown users (400 ``to[i]``) and a delivery log."""

    def __init__(self, access_token: str, *, rate: float | None = None) -> None:
        super().__init__(access_token)
        self.bucket = Bucket(rate, rate) if rate else None
        self.unknown_users: set[str] = set()
        self.deliveries: list[tuple[float, str]] = []
        self.accepted_requests: list[tuple[float, int]] = []  # (time, recipients)
        self.rate_limited = 0
        self.duplicates_refused = 0
        self.stall = _Stall()

    def stall_after(self, accepted: int) -> None:
        self.stall.arm(accepted)

    def release(self) -> None:
        self.stall.release()

    async def multicast(self, request: web.Request) -> web.Response:
        if self.bucket is not None and not self.bucket.take():
            self.rate_limited += 1
            return web.json_response({"message": "The API rate limit has been exceeded. Try again later."},
                                     status=429, headers={"Retry-After": "1"})
        to = request[PARAMS].get("to", [])
        invalid = [index for index, user in enumerate(to) if user in self.unknown_users]
        if invalid:
            return web.json_response({"message": "The request body has 1 error(s)",
                                      "details": [{"message": "Invalid user id", "property": f"to[{i}]"}
                                                  for i in invalid]}, status=400)
        response = await super().multicast(request)
        if response.status == 409:
            self.duplicates_refused += 1
        if response.status != 200:
            return response
        now = time.monotonic()
        self.accepted_requests.append((now, len(to)))
        self.deliveries.extend((now, user) for user in to)
        if self.stall.should_stall():
            await self.stall.hold()
        return response


class FanoutTelegramAPI(FakeTelegramAPI):
    """Fake Telegram with a global message rate (429 retry_after), blocked chats and a delivery log."""

    def __init__(self, token: str, *, rate: float | None = None) -> None:
        super().__init__(token)
        self.bucket = Bucket(rate, rate) if rate else None
        self.blocked: set[str] = set()
        self.deliveries: list[tuple[float, str]] = []
        self.rate_limited = 0
        self.stall = _Stall()

    def stall_after(self, accepted: int) -> None:
        self.stall.arm(accepted)

    def release(self) -> None:
        self.stall.release()

    async def dispatch(self, request: web.Request) -> web.Response:
        if request.match_info["method"] != "sendMessage" or request.match_info["token"] != self.token:
            return await super().dispatch(request)
        chat = str(request[PARAMS].get("chat_id"))
        if chat in self.blocked:
            return web.json_response({"ok": False, "error_code": 403,
                                      "description": "Forbidden: bot was blocked by the user"}, status=403)
        if self.bucket is not None and not self.bucket.take():
            self.rate_limited += 1
            return web.json_response(retry_after_body(1), status=429)
        if self.stall.should_stall():
            await self.stall.hold()
            return web.json_response({"ok": False, "error_code": 500, "description": "Internal Server Error"},
                                     status=500)
        response = await super().dispatch(request)
        self.deliveries.append((time.monotonic(), chat))
        return response


class _Recorder:
    """aiosmtpd handler: refuses unknown recipients, limits the rate, records accepted mail."""

    def __init__(self, owner: FanoutSMTP) -> None:
        self.owner = owner

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook names
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.owner.unknown:
            return "550 5.1.1 User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        owner = self.owner
        if owner.bucket is not None and not owner.bucket.take():
            owner.rate_limited += 1
            return "451 4.7.0 Too many messages, slow down"
        if owner.fail_next > 0:
            owner.fail_next -= 1
            owner.rate_limited += 1
            return "451 4.7.0 Try again later"
        if owner.stall.should_stall():
            await owner.stall.hold()
            return "421 4.3.0 Service shutting down"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        now = time.monotonic()
        for address in envelope.rcpt_tos:
            owner.deliveries.append((now, address))
            owner.messages.append((address, str(message["Subject"]), message.get_content()))
        return "250 Message accepted"


class FanoutSMTP:
    """An SMTP server on 127.0.0.1 (aiosmtpd), optionally rate limited; a context manager."""

    def __init__(self, *, rate: float | None = None) -> None:
        self.bucket = Bucket(rate, rate) if rate else None
        self.unknown: set[str] = set()
        self.deliveries: list[tuple[float, str]] = []
        self.messages: list[tuple[str, str, str]] = []  # (recipient, subject, body)
        self.rate_limited = 0
        self.fail_next = 0
        self.stall = _Stall()
        self.port = 0
        self._controller: Controller | None = None

    def stall_after(self, accepted: int) -> None:
        self.stall.arm(accepted)

    def release(self) -> None:
        self.stall.release()

    def __enter__(self) -> Self:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._controller = Controller(_Recorder(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()
        if self._controller is not None:
            self._controller.stop()

