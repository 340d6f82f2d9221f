"""The one server stack every fake runs on: an asyncio loop in a thread of its own, serving on
127.0.0.1 (random port).

:class:`LoopbackServer` starts and stops the loop and carries what the fan-out tests need on
any platform: the platform's side of a rate limit (:class:`Bucket`), a log of the messages it
accepted (``deliveries``) and a switch to make it hang (:class:`Stall`). :class:`FakeHTTPServer`
serves an aiohttp application on it, records every request and can be told to fail the next
calls to an endpoint (e.g. with a 429), as the real platform would; the SMTP fake
(tests/fakes/smtp.py) serves aiosmtpd's protocol on the same loop.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web
from multidict import CIMultiDict

__all__ = ["PARAMS", "Bucket", "Failure", "FakeHTTPServer", "LoopbackServer", "Recorded", "Stall"]

# The parsed parameters of a request (JSON, form or multipart), for the handlers.
PARAMS = web.RequestKey("params", dict[str, Any])


class Bucket:
    """The platform's side of a rate limit: ``rate`` per second, bursts up to ``burst``.

    Written apart from the app's own limiter on purpose: a fake sharing the app's bucket
    would agree with any bug in it.
    """

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


class Stall:
    """Lets ``n`` more accepted requests through, then holds every later one until released.

    ``delivering``: a held request was delivered first (the platform accepted it and the
    answer is what never comes), as when a sender is killed mid-request.
    """

    def __init__(self) -> None:
        self.remaining: int | None = None
        self.stalled = 0
        self.delivering = False
        self._released = threading.Event()

    def arm(self, after: int, *, delivering: bool = False) -> None:
        self._released.clear()
        self.remaining = after
        self.delivering = delivering

    def disarm(self) -> None:
        """Let later requests through again; those already held stay held until :meth:`release`."""
        self.remaining = None

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


class LoopbackServer:
    """Runs :meth:`_start` on a loop in a background thread; use as a context manager.

    Args:
        rate: the platform's rate limit (messages or requests per second, bursts of as
            many); None for no limit.
    """

    def __init__(self, *, rate: float | None = None) -> None:
        self.port = 0
        self.bucket = Bucket(rate, rate) if rate else None
        self.rate_limited = 0
        self.deliveries: list[tuple[float, str]] = []  # (monotonic time, address) of each accepted message
        self.stall = Stall()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    async def _start(self) -> int:
        """Start serving on the running loop; return the port."""
        raise NotImplementedError

    async def _stop(self) -> None:
        """Stop serving (on the loop, after it stopped running forever)."""

    def over_limit(self) -> bool:
        """True (and counted) when the platform's rate limit refuses this request."""
        if self.bucket is None or self.bucket.take():
            return False
        self.rate_limited += 1
        return True

    def delivered(self, *addresses: str) -> None:
        """Log messages the platform accepted, all at this moment."""
        now = time.monotonic()
        self.deliveries.extend((now, address) for address in addresses)

    def stall_after(self, accepted: int, *, delivering: bool = False) -> None:
        """Accept ``accepted`` more requests, then hang on every later one until :meth:`release`
        (``delivering``: deliver it first, and hang where the answer would be)."""
        self.stall.arm(accepted, delivering=delivering)

    def release(self) -> None:
        self.stall.release()

    def __enter__(self) -> Self:
        ready = threading.Event()
        failed: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self.port = loop.run_until_complete(self._start())
            except BaseException as error:  # noqa: BLE001 - handed to the test's thread below
                failed.append(error)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._stop())
            loop.close()

        self._thread = threading.Thread(target=run, name=type(self).__name__, daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"{type(self).__name__} did not start")
        if failed:
            raise failed[0]
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()  # a held request would otherwise keep the loop from stopping cleanly
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)


@dataclass
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    headers: CIMultiDict[str]
    body: dict[str, Any]
    raw: bytes
    status: int = 0


@dataclass
class Failure:
    """Answer the next ``count`` requests whose path ends with ``path_suffix`` with this."""

    path_suffix: str
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    count: int = 1


class FakeHTTPServer(LoopbackServer):
    """Serves ``self.app`` (aiohttp), recording every request in ``requests``."""

    def __init__(self, *, rate: float | None = None) -> None:
        super().__init__(rate=rate)
        self.app = web.Application(middlewares=[self._middleware])
        self.requests: list[Recorded] = []
        self.failures: list[Failure] = []
        self._lock = threading.Lock()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _start(self) -> int:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def fail_next(self, path_suffix: str, status: int, body: dict[str, Any], headers: dict[str, str] | None = None,
                  count: int = 1) -> None:
        """Make the next ``count`` calls to an endpoint fail with ``status`` and ``body``."""
        with self._lock:
            self.failures.append(Failure(path_suffix, status, body, headers or {}, count))

    @staticmethod
    async def _read(request: web.Request) -> tuple[bytes, dict[str, Any]]:
        """The raw body and the request's parameters (JSON, form or multipart) as a dict."""
        if request.content_type == "multipart/form-data":
            # A multipart body is parsed from the stream, so it is not kept raw.
            return b"", {key: str(value) for key, value in (await request.post()).items()}
        raw = await request.read()
        if request.content_type == "application/json":
            return raw, json.loads(raw) if raw else {}
        if request.content_type == "application/x-www-form-urlencoded":
            return raw, {key: str(value) for key, value in (await request.post()).items()}
        return raw, {}

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        raw, body = await self._read(request)
        request[PARAMS] = body
        recorded = Recorded(request.method, request.path, dict(request.query), CIMultiDict(request.headers), body, raw)
        with self._lock:
            self.requests.append(recorded)
            failure = next((f for f in self.failures if request.path.endswith(f.path_suffix) and f.count > 0), None)
            if failure is not None:
                failure.count -= 1
        if failure is not None:
            recorded.status = failure.status
            return web.json_response(failure.body, status=failure.status, headers=failure.headers)
        response = await handler(request)
        recorded.status = response.status
        return response

    def calls(self, path_suffix: str, *, successful: bool = True) -> list[Recorded]:
        """Requests to an endpoint, by default only those answered with a 2xx status."""
        with self._lock:
            return [r for r in self.requests
                    if r.path.endswith(path_suffix) and (not successful or 200 <= r.status < 300)]
