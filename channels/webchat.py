"""Web chat for residents without LINE: ``POST /webhooks/webchat/messages`` (JSON).

The page itself is ``bot/static/chat.html``, served by the app at ``GET /chat`` (``/``
redirects there; docs/webchat.md describes the page and its browser tests). A
resident is identified by a random session id that the server issues in an HttpOnly,
SameSite=Strict cookie on the first request, signed with ``TSUNAGU_SECRET_KEY`` and dated:
a session id the client made up, altered or kept past ``TSUNAGU_WEBCHAT_SESSION_DAYS`` is
not accepted (a new session starts), so nobody can read another resident's report in
progress by guessing or copying an id into a request body. Only JSON bodies are
accepted, which a cross-site form cannot send without a CORS preflight that this app
never grants. Each message carries a client-made id, so a resent request (a flaky
connection) is processed once.

Request: ``{"id": "…", "text": "…"}`` or ``{"id": "…", "postback": "…"}`` or
``{"id": "…", "latitude": 35.1, "longitude": 139.1}`` or ``{"id": "…", "event": "follow"}``
(the page opening), with an optional ``"language": "en"`` (any resident language): the page's language (the
browser's, or the resident's choice with the language button), a hint the engine may
override from the message itself.
Response: ``{"replies": [Reply as JSON, …], "language": "ja"}``: the conversation's
language after the turn, which the page then follows (labels, ``lang`` attributes).

Staff answer a resident from the staff console (``bot.console.casework.reply``): their words
are stored as the resident's outbound messages of kind ``staff``, and the page asks for them
every few seconds, ``GET /webhooks/webchat/updates?after=<last id seen>``, answered with
``{"messages": [{"id": 7, "text": "…"}, …], "held": true}`` (``held``: staff hold the chat,
the bot is quiet but for the safety guidance). Only the session cookie's own resident's
messages of the last ``STAFF_HISTORY_DAYS`` days are answered, so a reopened page shows
staff's recent replies again.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from base64 import urlsafe_b64encode
from datetime import timedelta
from typing import Annotated, Any, Literal, Self

import anyio
from fastapi import APIRouter, Cookie, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, Field
from sqlalchemy import select

from bot.db import session_scope
from bot.domain import RESIDENT_LANGUAGES
from bot.messages import InboundMessage, storable_text
from bot.models import Contact, Message, MessageDirection, utcnow
from bot.settings import Settings
from channels.base import CollectingOutput, EngineHandler, InputChannel

__all__ = ["ChatRequest", "SessionSigner", "WebChatChannel"]

COOKIE = "tsunagu_chat"
# Staff's replies older than this are not shown again on a reopened page.
STAFF_HISTORY_DAYS = 7
STAFF_BATCH = 50


class SessionSigner:
    """Issues web chat session cookies (``<id>.<issued>.<signature>``) and reads them back."""

    def __init__(self, secret_key: str, max_age_seconds: int) -> None:
        self._key = hashlib.sha256(f"webchat-session:{secret_key}".encode()).digest()
        self.max_age_seconds = max_age_seconds

    def _signature(self, session_id: str, issued: str) -> str:
        digest = hmac.new(self._key, f"{session_id}.{issued}".encode(), hashlib.sha256).digest()
        return urlsafe_b64encode(digest).decode().rstrip("=")

    def issue(self, now: float | None = None) -> tuple[str, str]:
        """A new session: its id and the cookie value that carries it."""
        session_id = secrets.token_hex(16)
        issued = str(int(time.time() if now is None else now))
        return session_id, f"{session_id}.{issued}.{self._signature(session_id, issued)}"

    def session_id(self, cookie: str | None, now: float | None = None) -> str | None:
        """The session id of a cookie this server issued and that has not expired, else None."""
        parts = (cookie or "").split(".")
        if len(parts) != 3 or not parts[1].isdigit():
            return None
        session_id, issued, signature = parts
        if not hmac.compare_digest(signature, self._signature(session_id, issued)):
            return None
        age = (time.time() if now is None else now) - int(issued)
        return session_id if 0 <= age <= self.max_age_seconds else None


def _storable_if_text(value: Any) -> Any:
    return storable_text(value) if isinstance(value, str) else value


# Cleaned before validation: pydantic refuses a lone surrogate (a 422 that could not even
# be encoded, hence a 500), and the resident should get a normal reply instead.
ResidentText = Annotated[str, BeforeValidator(_storable_if_text)]

# The page's language, a hint for a new conversation: any of the residents' languages.
PageLanguage = Literal[RESIDENT_LANGUAGES]  # type: ignore[valid-type]


class ChatRequest(BaseModel):
    """One thing the resident did in the chat page."""

    id: ResidentText | None = Field(default=None, max_length=64, description="client-made message id (de-duplication)")
    event: Literal["message", "follow"] = "message"
    text: ResidentText | None = Field(default=None, max_length=2000)
    postback: ResidentText | None = Field(default=None, max_length=300)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    language: PageLanguage | None = None


class WebChatChannel(InputChannel):
    """The JSON endpoint of the web chat page."""

    def __init__(self, secure_cookie: bool, handler: EngineHandler, sessions: SessionSigner, database_url: str) -> None:
        super().__init__(handler)
        self.secure_cookie = secure_cookie
        self.sessions = sessions
        self.database_url = database_url

    @classmethod
    def name(cls) -> str:
        return "webchat"

    @classmethod
    def from_settings(cls, settings: Settings, handler: EngineHandler) -> Self:
        sessions = SessionSigner(settings.secret_key, settings.webchat_session_days * 24 * 3600)
        return cls(settings.public_base_url.startswith("https://"), handler, sessions, settings.database_url)

    def staff_messages(self, session_id: str, after: int) -> dict[str, Any]:
        """Staff's messages to this session's resident after message id ``after``, and whether staff hold the chat."""
        with session_scope(self.database_url) as session:
            contact = session.scalar(select(Contact).where(Contact.channel == self.name(),
                                                           Contact.channel_user_id == session_id))
            if contact is None:
                return {"messages": [], "held": False}
            since = utcnow() - timedelta(days=STAFF_HISTORY_DAYS)
            rows = session.execute(
                select(Message.id, Message.text)
                .where(Message.contact_id == contact.id, Message.direction == MessageDirection.outbound,
                       Message.kind == "staff", Message.id > after, Message.created_at >= since)
                .order_by(Message.id).limit(STAFF_BATCH))
            return {"messages": [{"id": row.id, "text": row.text} for row in rows if row.text],
                    "held": contact.held_case_id is not None}

    def router(self) -> APIRouter:
        router = APIRouter()

        @router.post("/messages", summary="Web chat: send a message, get the replies")
        async def messages(
            request: Request, body: ChatRequest, session: str | None = Cookie(default=None, alias=COOKIE)
        ) -> Response:
            if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
                return Response("JSON only", status_code=415)
            session_id = self.sessions.session_id(session)
            new_cookie = None
            if session_id is None:
                session_id, new_cookie = self.sessions.issue()
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
            if new_cookie is not None:
                response.set_cookie(
                    COOKIE, new_cookie, max_age=self.sessions.max_age_seconds, httponly=True, samesite="strict",
                    secure=self.secure_cookie, path="/",
                )
            return response

        @router.get("/updates", summary="Web chat: staff's replies since the last one seen")
        async def updates(after: Annotated[int, Query(ge=0)] = 0,
                          session: str | None = Cookie(default=None, alias=COOKIE)) -> JSONResponse:
            session_id = self.sessions.session_id(session)
            if session_id is None:
                return JSONResponse({"messages": [], "held": False})
            found = await anyio.to_thread.run_sync(self.staff_messages, session_id, after)
            return JSONResponse(found, headers={"Cache-Control": "no-store"})

        return router
