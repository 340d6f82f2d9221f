"""Web chat for residents without LINE: ``POST /webhooks/webchat/messages`` (JSON).

The page itself is ``bot/static/chat.html``, served by the app at ``GET /chat`` (``/``
redirects there; docs/webchat.md describes the page and its browser tests). A
resident is identified by a random session id in an HttpOnly, SameSite=Strict cookie
(created on the first request); there is nothing else to verify. Only JSON bodies are
accepted, which a cross-site form cannot send without a CORS preflight that this app
never grants. Each message carries a client-made id, so a resent request (a flaky
connection) is processed once.

Request: ``{"id": "…", "text": "…"}`` or ``{"id": "…", "postback": "…"}`` or
``{"id": "…", "latitude": 35.1, "longitude": 139.1}`` or ``{"id": "…", "event": "follow"}``
(the page opening), with an optional ``"language": "en"``: the page's language (the
browser's, or the resident's choice with the language button), a hint the engine may
override from the message itself.
Response: ``{"replies": [Reply as JSON, …], "language": "ja"}``: the conversation's
language after the turn, which the page then follows (labels, ``lang`` attributes).
"""

from __future__ import annotations

import re
import secrets
from typing import Annotated, Any, Literal, Self

from fastapi import APIRouter, Cookie, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, Field

from bot.messages import InboundMessage, storable_text
from bot.settings import Settings
from channels.base import CollectingOutput, EngineHandler, InputChannel

__all__ = ["ChatRequest", "WebChatChannel"]

COOKIE = "tsunagu_chat"
_SESSION_ID = re.compile(r"^[0-9a-f]{32}$")


def _storable_if_text(value: Any) -> Any:
    return storable_text(value) if isinstance(value, str) else value


# Cleaned before validation: pydantic refuses a lone surrogate (a 422 that could not even
# be encoded, hence a 500), and the resident should get a normal reply instead.
ResidentText = Annotated[str, BeforeValidator(_storable_if_text)]


class ChatRequest(BaseModel):
    """One thing the resident did in the chat page."""

    id: ResidentText | None = Field(default=None, max_length=64, description="client-made message id (de-duplication)")
    event: Literal["message", "follow"] = "message"
    text: ResidentText | None = Field(default=None, max_length=2000)
    postback: ResidentText | None = Field(default=None, max_length=300)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    language: Literal["ja", "en"] | None = None


class WebChatChannel(InputChannel):
    """The JSON endpoint of the web chat page."""

    def __init__(self, secure_cookie: bool, handler: EngineHandler) -> None:
        super().__init__(handler)
        self.secure_cookie = secure_cookie

    @classmethod
    def name(cls) -> str:
        return "webchat"

    @classmethod
    def from_settings(cls, settings: Settings, handler: EngineHandler) -> Self:
        return cls(settings.public_base_url.startswith("https://"), handler)

    def router(self) -> APIRouter:
        router = APIRouter()

        @router.post("/messages", summary="Web chat: send a message, get the replies")
        async def messages(
            request: Request, body: ChatRequest, session: str | None = Cookie(default=None, alias=COOKIE)
        ) -> Response:
            if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
                return Response("JSON only", status_code=415)
            new_session = session is None or not _SESSION_ID.match(session)
            session_id = secrets.token_hex(16) if new_session else str(session)
            message = InboundMessage(
                channel=self.name(),
                user_id=session_id,
                event=body.event,
                text=body.text,
                postback=body.postback,
                latitude=body.latitude,
                longitude=body.longitude,
                event_id=f"{session_id}:{body.id}" if body.id else None,
                language=body.language,
            )
            result = await self.handle(message)
            output = CollectingOutput()
            await output.send(session_id, result.replies, language=result.language)
            response = JSONResponse({"replies": output.as_json(), "language": result.language})
            if new_session:
                response.set_cookie(
                    COOKIE, session_id, httponly=True, samesite="strict", secure=self.secure_cookie, path="/"
                )
            return response

        return router
