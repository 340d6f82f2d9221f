"""A fake case-management system: the webhook receiver a counter's delivery target points at.

It answers ``POST /tsunagu/cases`` with 204 and records it (raw body and headers, for
checking the signature); ``fail_next_attempts(n)`` makes it answer the next ``n`` with 500;
``on_receive`` (if set) is called with each delivery's payload before it is answered, e.g.
to move a test's clock as a slow receiver would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.fakes.server import PARAMS, FakeHTTPServer, Recorded

__all__ = ["FakeWebhookReceiver"]

PATH = "/tsunagu/cases"


class FakeWebhookReceiver(FakeHTTPServer):
    """Receives case deliveries at ``endpoint``."""

    def __init__(self) -> None:
        super().__init__()
        self.on_receive: Callable[[dict[str, Any]], None] | None = None
        self.app.router.add_post(PATH, self.receive)

    @property
    def endpoint(self) -> str:
        return f"{self.url}{PATH}"

    async def receive(self, request: web.Request) -> web.Response:
        if self.on_receive is not None:
            self.on_receive(request[PARAMS])
        return web.Response(status=204)

    def fail_next_attempts(self, count: int) -> None:
        """Answer the next ``count`` deliveries with HTTP 500."""
        self.fail_next(PATH, 500, {}, count=count)

    @property
    def accepted(self) -> list[Recorded]:
        """The deliveries answered with 204, in arrival order."""
        return self.calls(PATH)

    @property
    def attempts(self) -> int:
        """Every delivery attempt, refused or not."""
        return len(self.calls(PATH, successful=False))
