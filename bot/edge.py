"""What every request meets before a channel or the staff API sees it: a body size limit,
error answers that never echo what was sent, and a count by route and status.

* :class:`BodySizeLimit` answers 413 to a body larger than ``TSUNAGU_MAX_REQUEST_BYTES``,
  whether it declares its length or streams it in chunks, before the app reads any of it (one
  300 MB body once took the server from 317 MB to 1.5 GB).
* :class:`RequestCounter` counts answers by route group (a channel's webhooks, the staff API,
  the pages) and status code into ``bot.metrics.WEBHOOKS``: never the full path, which can
  carry ids.
* :func:`install_error_handlers`: a 422 names the fields that were wrong and why, never their
  values (the default handler echoes the whole input: a resident's message, 10 MB in and 10 MB
  out); a value the database cannot hold (an id above 2³¹ on PostgreSQL) is a 400, not a 500.
  (JSON nested too deeply for the parser is already FastAPI's 400.)
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.metrics import WEBHOOKS

log = logging.getLogger(__name__)

__all__ = ["BodySizeLimit", "RequestCounter", "install_error_handlers", "route_group"]

class BodySizeLimit:
    """ASGI middleware: refuse request bodies over ``max_bytes`` with 413."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _too_large(send)
            return
        if declared is not None:
            await self.app(scope, receive, send)
            return
        # A streamed (chunked) body: read it up to the limit before the app sees any of it,
        # then hand it over as one piece. Memory stays bounded by the limit.
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await _too_large(send)
                return
            if not message.get("more_body", False):
                break
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)


def route_group(path: str) -> str:
    """The label of a path: ``webhooks/<channel>``, ``staff_api``, ``health`` or ``page``."""
    parts = path.strip("/").split("/")
    if parts[0] == "webhooks" and len(parts) > 1:
        return f"webhooks/{parts[1]}"
    if parts[:2] == ["api", "staff"]:
        return "staff_api"
    if parts[0] in ("healthz", "readyz", "metrics"):
        return "health"
    return "page"


class RequestCounter:
    """ASGI middleware: count every answer by route group and status code."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        group = route_group(scope["path"])

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                WEBHOOKS.labels(group, str(message["status"])).inc()
            await send(message)

        await self.app(scope, receive, counting_send)


async def _too_large(send: Send) -> None:
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": b'{"detail":"request body too large"}'})


def install_error_handlers(app: FastAPI) -> None:
    """Error answers that say what was wrong without repeating what was sent."""

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        fields = [{"loc": list(problem.get("loc", ())), "type": problem.get("type", "invalid")}
                  for problem in error.errors()[:20]]
        return JSONResponse({"detail": fields}, status_code=422)

    @app.exception_handler(DataError)
    async def value_out_of_range(request: Request, error: DataError) -> JSONResponse:
        # The driver's message quotes the value: log the class and the route group only.
        log.warning("a value the database cannot hold on %s (%s)", route_group(request.url.path),
                    type(error.orig).__name__)
        return JSONResponse({"detail": "a value is out of range"}, status_code=400)
