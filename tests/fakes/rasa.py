"""A fake Rasa server speaking the documented ``POST /model/parse`` (``?token=`` optional).

Tests set ``respond``: the parse request's JSON body → (status, answer JSON); by default the
answer has no intent, as an untrained Rasa model gives.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.fakes.server import PARAMS, FakeHTTPServer

__all__ = ["FakeRasa", "Responder"]

Responder = Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]


def _no_intent(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return 200, {"text": body.get("text"), "intent": None, "entities": []}


class FakeRasa(FakeHTTPServer):
    """Rasa's HTTP API, only the parse endpoint; requests are recorded like every fake's."""

    def __init__(self) -> None:
        super().__init__()
        self.respond: Responder = _no_intent
        self.app.router.add_post("/model/parse", self.parse)

    async def parse(self, request: web.Request) -> web.Response:
        status, answer = self.respond(request[PARAMS])
        return web.json_response(answer, status=status)
