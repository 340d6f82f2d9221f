"""Telegram channel (python-telegram-bot v22): ``POST /webhooks/telegram``.

The ``X-Telegram-Bot-Api-Secret-Token`` header must equal ``settings.telegram_secret_token``
(the ``secret_token`` given to ``setWebhook``) before the body is even parsed; otherwise
the answer is 403 and nothing is stored. The :class:`telegram.ext.Application` is built
with ``updater(None)`` (webhooks come through FastAPI, not PTB's own server), a
configurable ``base_url`` and a rate limiter that draws from :mod:`channels.ratelimit`;
the app's lifespan starts and stops it.

Each update is committed to the inbox (``channels.inbox``) before the webhook answers 200
(503 when the database cannot take it: Telegram delivers it again), then processed from
the inbox, a chat's updates in order, also after a crash; an ``update_id`` already stored
is a duplicate. Telegram has no reply tokens: the answer is always ``sendMessage``. It has
no idempotency key either: if a process is killed after sending and before recording the
event as answered, the event is answered again when it is taken up (at most the events a
process holds at once, ``channels.inbox.IN_FLIGHT``).
Private chats only: text, ``/start`` (follow), shared locations, photos (a file id is
kept, not the photo), inline-keyboard presses (the callback query is answered) and "bot
blocked" (unfollow); other updates are acknowledged and not stored.
"""

from __future__ import annotations

import hmac
import logging
import warnings
from collections.abc import Callable, Coroutine, Sequence
from datetime import timedelta
from typing import Any, Self

from fastapi import APIRouter, Header, Request, Response
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import RetryAfter, TelegramError
from telegram.ext import Application, BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

from bot.messages import InboundMessage, Reply, TurnResult
from bot.settings import Settings
from channels.base import EngineHandler, OutputChannel, numbered_text
from channels.inbox import Answer, ClaimedEvent, DurableChannel, NewEvent
from channels.ratelimit import RateLimiter, rate_limiter, send_with_backoff

__all__ = ["TelegramChannel", "TelegramOutput", "TelegramRateLimiter"]

log = logging.getLogger(__name__)

MAX_CALLBACK_DATA = 64  # bytes


def _retry_delay(exc: BaseException) -> float | None:
    if isinstance(exc, RetryAfter):
        with warnings.catch_warnings():  # int today, timedelta in PTB's next major version
            warnings.simplefilter("ignore", PTBDeprecationWarning)
            value = exc.retry_after
        return value.total_seconds() if isinstance(value, timedelta) else float(value)
    return None


class TelegramRateLimiter(BaseRateLimiter[None]):
    """Plugs :mod:`channels.ratelimit` into PTB: every Bot API call goes through it.

    Each call takes a token of ``telegram.global`` and, when it names a chat, of
    ``telegram.chat`` for that chat; a ``RetryAfter`` answer pauses that chat's (or the
    global) bucket for the time Telegram asked, then the call is retried.
    """

    def __init__(self, limiter: RateLimiter) -> None:
        self.limiter = limiter

    async def initialize(self) -> None:
        """Nothing to open: the limiter is shared."""

    async def shutdown(self) -> None:
        """Nothing to close: the limiter is shared."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        rules = [("telegram.global", "")]
        if data.get("chat_id") is not None:
            rules.append(("telegram.chat", str(data["chat_id"])))
        return await send_with_backoff(
            lambda: callback(*args, **kwargs), limiter=self.limiter, rules=rules, retry_delay=_retry_delay
        )


class TelegramOutput(OutputChannel):
    """Sends replies with ``sendMessage``: inline keyboards for choices, a location button."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    @staticmethod
    def render(reply: Reply, language: str) -> dict[str, Any]:
        """``sendMessage`` arguments (text, reply_markup) for one reply.

        A reply asking for a place gets a one-time keyboard with a location button (its
        choices, if any, become numbered lines). Choices become inline buttons unless a
        payload is too long for ``callback_data`` (64 bytes): then numbered lines. Any
        other message removes a location keyboard left from before.
        """
        if reply.request_location:
            keyboard = [[KeyboardButton(reply.location_label, request_location=True)]]
            markup = ReplyKeyboardMarkup(keyboard, resize_keyboard=True, one_time_keyboard=True)
            return {"text": numbered_text(reply), "reply_markup": markup}
        if reply.choices and all(len(c.payload.encode()) <= MAX_CALLBACK_DATA for c in reply.choices):
            buttons = [[InlineKeyboardButton(c.title, callback_data=c.payload)] for c in reply.choices]
            return {"text": reply.text, "reply_markup": InlineKeyboardMarkup(buttons)}
        # A plain message also takes down a location keyboard the resident did not use.
        return {"text": numbered_text(reply), "reply_markup": ReplyKeyboardRemove()}

    async def send(self, recipient_id: str, replies: Sequence[Reply], *, language: str = "ja") -> None:
        """Send each reply as one message to the chat ``recipient_id`` (rate limited)."""
        for reply in replies:
            await self.bot.send_message(chat_id=recipient_id, **self.render(reply, language))


def _language(code: str | None) -> str | None:
    if not code:
        return None
    prefix = code.split("-")[0].lower()
    return prefix if prefix in ("ja", "en") else None


def to_inbound(update: Update) -> InboundMessage | None:
    """The common message for an update, or None for updates tsunagu ignores."""
    chat = update.effective_chat
    if chat is None or chat.type != "private":
        return None
    user = update.effective_user
    common: dict[str, Any] = {
        "channel": TelegramChannel.name(),
        "user_id": str(chat.id),
        "event_id": str(update.update_id),
        "language": _language(user.language_code if user else None),
    }
    if update.callback_query is not None:
        return InboundMessage(postback=update.callback_query.data, **common)
    if update.my_chat_member is not None:
        status = update.my_chat_member.new_chat_member.status
        return InboundMessage(event="unfollow", **common) if status == "kicked" else None
    message = update.message
    if message is None:
        return None
    if message.location is not None:
        return InboundMessage(latitude=message.location.latitude, longitude=message.location.longitude, **common)
    if message.photo:
        return InboundMessage(media_ref=f"telegram:photo:{message.photo[-1].file_id}", **common)
    if message.text is not None:
        if message.text.split(maxsplit=1)[0].split("@")[0] == "/start":
            return InboundMessage(event="follow", **common)
        return InboundMessage(text=message.text, **common)
    return InboundMessage(metadata={"kind": "other"}, **common)


class TelegramChannel(DurableChannel):
    """The Telegram webhook, its PTB Application (the bot and its rate limiter) and its sender."""

    def __init__(self, application: Application, secret_token: str, handler: EngineHandler) -> None:
        super().__init__(handler)
        self.application = application
        self.secret_token = secret_token
        self.output = TelegramOutput(application.bot)

    @classmethod
    def name(cls) -> str:
        return "telegram"

    @classmethod
    def is_configured(cls, settings: Settings) -> bool:
        return bool(settings.telegram_bot_token and settings.telegram_secret_token)

    @classmethod
    def from_settings(cls, settings: Settings, handler: EngineHandler) -> Self:
        application = (
            Application.builder()
            .token(settings.telegram_bot_token)
            .base_url(settings.telegram_base_url)
            .updater(None)
            .rate_limiter(TelegramRateLimiter(rate_limiter()))
            .build()
        )
        return cls(application, settings.telegram_secret_token, handler)

    async def startup(self) -> None:
        await self.application.initialize()  # getMe: fails fast on a wrong token
        await self.application.start()

    async def shutdown(self) -> None:
        await super().shutdown()
        await self.application.stop()
        await self.application.shutdown()

    def router(self) -> APIRouter:
        router = APIRouter()

        @router.post("", summary="Telegram webhook")
        async def webhook(
            request: Request,
            secret: str | None = Header(default=None, alias="X-Telegram-Bot-Api-Secret-Token"),
        ) -> Response:
            if secret is None or not hmac.compare_digest(secret.encode(), self.secret_token.encode()):
                log.warning("telegram: wrong secret token from %s", request.client.host if request.client else "?")
                return Response("forbidden", status_code=403)
            try:
                payload = await request.json()
                message = to_inbound(Update.de_json(payload, self.application.bot))
            except (ValueError, TypeError, KeyError, AttributeError):
                return Response("malformed update", status_code=400)
            if message is None or message.event_id is None:
                return await self.acknowledge([])
            return await self.acknowledge([NewEvent(event_id=message.event_id, resident=message.user_id,
                                                    payload=payload)])

        return router

    def _update(self, event: ClaimedEvent) -> Update:
        return Update.de_json(event.payload, self.application.bot)

    def inbound(self, event: ClaimedEvent) -> InboundMessage | None:
        return to_inbound(self._update(event))

    async def answer(self, event: ClaimedEvent, message: InboundMessage, result: TurnResult) -> Answer:
        callback_query = self._update(event).callback_query
        if callback_query is not None:
            try:
                await callback_query.answer()
            except TelegramError as exc:  # too old to answer: the button still counts
                log.info("telegram: could not answer callback query: %s", exc)
        await self.output.send(message.user_id, result.replies, language=result.language)
        return Answer.send


async def fetch_file(base_url: str, file_base_url: str, token: str, file_id: str) -> tuple[bytes, str]:
    """A file a user sent (a photo) by its ``file_id``: ``getFile``, then its download address.

    LINE cooperators cannot be sent a Telegram ``file_id``, so an alert's photo is copied from
    here to a public address first (``alerts.media``). Telegram's photos are JPEG.

    Raises:
        TelegramError: when Telegram refuses (an unknown file, a wrong token).
    """
    async with Bot(token, base_url=base_url, base_file_url=file_base_url) as bot:
        found = await bot.get_file(file_id)
        data = await found.download_as_bytearray()
    return bytes(data), "image/jpeg"
