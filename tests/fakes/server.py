"""A real HTTP server on 127.0.0.1 (random port) in a background thread, for fake platform APIs.

Each fake is an aiohttp application; it records every request and can be told to fail
the next calls to an endpoint (e.g. with a 429), as the real platform would.
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

__all__ = ["PARAMS", "Failure", "FakeServer", "Recorded"]

# The parsed parameters of a request (JSON, form or multipart), for the handlers.
PARAMS = web.RequestKey("params", dict[str, Any])


@dataclass
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    status: int = 0


@dataclass
class Failure:
    """Answer the next ``count`` requests whose path ends with ``path_suffix`` with this."""

    path_suffix: str
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    count: int = 1


class FakeServer:
    """Serves ``self.app`` on loopback from a thread; use as a context manager."""

    def __init__(self) -> None:
        self.app = web.Application(middlewares=[self._middleware])
        self.requests: list[Recorded] = []
        self.failures: list[Failure] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail_next(self, path_suffix: str, status: int, body: dict[str, Any], headers: dict[str, str] | None = None,
                  count: int = 1) -> None:
        """Make the next ``count`` calls to an endpoint fail with ``status`` and ``body``."""
        with self._lock:
            self.failures.append(Failure(path_suffix, status, body, headers or {}, count))

    async def parse_body(self, request: web.Request) -> dict[str, Any]:
        """The request's parameters: JSON, form or multipart, as a dict."""
        if request.content_type == "application/json":
            raw = await request.read()
            return json.loads(raw) if raw else {}
        if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            return {key: str(value) for key, value in form.items()}
        return {}

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        body = await self.parse_body(request)
        request[PARAMS] = body
        recorded = Recorded(request.method, request.path, dict(request.headers), body)
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

    def __enter__(self) -> Self:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._runner = web.AppRunner(self.app, access_log=None)
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name=type(self).__name__, daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake server did not start")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def calls(self, path_suffix: str, *, successful: bool = True) -> list[Recorded]:
        """Requests to an endpoint, by default only those answered with a 2xx status."""
        with self._lock:
            return [r for r in self.requests
                    if r.path.endswith(path_suffix) and (not successful or 200 <= r.status < 300)]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Poll until ``predicate()`` holds (the app sends in the background)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting; requests so far: {[r.path for r in self.requests]}")
            await asyncio.sleep(0.02)
