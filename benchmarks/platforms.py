"""Rate-limited stand-ins for LINE, Telegram and an SMTP server, for the benchmarks.

Kept apart from tests/fakes on purpose: benchmarks import only the package, never tests/
(a change to a test fake must not move a benchmark's figures), and they need much less than
the tests: take what the senders send, refuse what is over the platform's rate as the
platform would (LINE 429, Telegram 429 with retry_after, SMTP 451) and note when each
message arrived. Tokens, signatures and payload shapes are the tests' business.

Both servers run on 127.0.0.1 on one asyncio loop in a background thread; use
:class:`Platforms` as a context manager.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any, Self

from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session

__all__ = ["CHANNELS", "Platforms"]

CHANNELS = ("line", "telegram", "email")
BOT_USER = {"id": 7000000001, "is_bot": True, "first_name": "つなぐ", "username": "tsunagu_bench_bot"}


class _Bucket:
    """The platform's side of a rate limit: ``rate`` per second, bursts of as many."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens, self.updated = rate, time.monotonic()

    def take(self) -> bool:
        # Only the loop's thread calls this: no lock needed.
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class Platforms:
    """LINE (reply, push, multicast), Telegram ``sendMessage`` and SMTP, with optional rate limits.

    Args:
        limits: per channel of :data:`CHANNELS`, the platform's rate (LINE: multicast
            requests per second; Telegram and e-mail: messages per second).

    Attributes:
        deliveries: per channel, (monotonic time, address) of every message accepted.
        line_requests: (monotonic time, recipients) of every multicast accepted.
        refused: per channel, how many requests the rate limit refused.
        answered: LINE replies and pushes accepted (also at ``GET /bench/answered``).
    """

    def __init__(self, limits: Mapping[str, float] | None = None) -> None:
        self._buckets = {channel: _Bucket(rate) for channel, rate in (limits or {}).items()}
        self.deliveries: dict[str, list[tuple[float, str]]] = {channel: [] for channel in CHANNELS}
        self.line_requests: list[tuple[float, int]] = []
        self.refused = dict.fromkeys(CHANNELS, 0)
        self.answered = 0
        self.http_port = 0
        self.smtp_port = 0
        self._message_ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def line_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def telegram_base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/bot"

    def _over_limit(self, channel: str) -> bool:
        bucket = self._buckets.get(channel)
        if bucket is None or bucket.take():
            return False
        self.refused[channel] += 1
        return True

    # --------------------------------------------------------------------------- HTTP

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v2/bot/message/reply", self._reply_or_push)
        app.router.add_post("/v2/bot/message/push", self._reply_or_push)
        app.router.add_post("/v2/bot/message/multicast", self._multicast)
        app.router.add_post("/bot{token}/getMe", self._get_me)
        app.router.add_post("/bot{token}/sendMessage", self._send_message)
        app.router.add_get("/bench/answered", self._answered)
        return app

    async def _reply_or_push(self, request: web.Request) -> web.Response:
        messages = (await request.json()).get("messages", [])
        self.answered += 1
        return web.json_response({"sentMessages": [{"id": str(time.time_ns() + i), "quoteToken": uuid.uuid4().hex}
                                                   for i in range(len(messages))]})

    async def _multicast(self, request: web.Request) -> web.Response:
        if self._over_limit("line"):
            return web.json_response({"message": "The API rate limit has been exceeded. Try again later."},
                                     status=429, headers={"Retry-After": "1"})
        to = (await request.json()).get("to", [])
        now = time.monotonic()
        self.line_requests.append((now, len(to)))
        self.deliveries["line"].extend((now, user) for user in to)
        return web.json_response({})

    async def _get_me(self, request: web.Request) -> web.Response:
        # python-telegram-bot asks who the bot is before its first message.
        return web.json_response({"ok": True, "result": BOT_USER})

    async def _send_message(self, request: web.Request) -> web.Response:
        params: Mapping[str, Any] = await (request.json() if request.content_type == "application/json"
                                           else request.post())
        if self._over_limit("telegram"):
            return web.json_response({"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1",
                                      "parameters": {"retry_after": 1}}, status=429)
        chat_id = int(str(params["chat_id"]))
        self.deliveries["telegram"].append((time.monotonic(), str(chat_id)))
        return web.json_response({"ok": True, "result": {
            "message_id": next(self._message_ids), "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"}, "from": BOT_USER, "text": str(params.get("text", "")),
        }})

    async def _answered(self, request: web.Request) -> web.Response:
        return web.json_response(self.answered)

    # --------------------------------------------------------------------------- SMTP

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd
        if self._over_limit("email"):
            return "451 4.7.0 Too many messages, slow down"
        now = time.monotonic()
        self.deliveries["email"].extend((now, address) for address in envelope.rcpt_tos)
        return "250 Message accepted"

    # --------------------------------------------------------------------------- lifecycle

    def __enter__(self) -> Self:
        ready = threading.Event()

        async def start() -> tuple[web.AppRunner, asyncio.Server]:
            runner = web.AppRunner(self._app(), access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.http_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            loop = asyncio.get_running_loop()
            # The hostname is what the server greets with; the default would look up this machine's name.
            smtp = await loop.create_server(lambda: SMTP(self, hostname="smtp.bench.test", loop=loop), "127.0.0.1", 0)
            self.smtp_port = smtp.sockets[0].getsockname()[1]
            return runner, smtp

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            runner, smtp = loop.run_until_complete(start())
            ready.set()
            loop.run_forever()
            smtp.close()
            loop.run_until_complete(smtp.wait_closed())
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="platforms", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fake platforms did not start")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
