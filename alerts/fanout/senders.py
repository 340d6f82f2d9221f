"""One sender per channel for the alert fan-out, built on the senders in ``channels/``.

A sender takes a group of claimed rows that share one text (same alert, kind and
language), sends it and says what happened to each row as an
:class:`~alerts.fanout.items.Outcome` (with the platform's request or message id when
sent). The platform clients and their rate limits are the channels' own: LINE's
``multicast`` (up to 500 users, rendered by :class:`channels.line.LineOutput`, with the
group's stored ``X-Line-Retry-Key``), PTB's bot with
:class:`channels.telegram.TelegramRateLimiter`, :class:`channels.email.EmailSender`
(one SMTP connection per pass), :class:`channels.sms.SmsSender`, and the token buckets
of :mod:`channels.ratelimit` (Redis-backed with ``settings.redis_url``, so every
worker shares one budget per channel; e-mail has its own ``email.send`` bucket). A
429 / ``RetryAfter`` is waited out a few times; what is left over comes back here as
``later`` and the row is simply queued again.

Telegram, e-mail and SMS have no idempotency key: a message whose send was cut off by
a crash before its outcome was recorded is sent again. So these senders send one
message at a time and report each outcome at once (the worker records it before the
next send): at most one duplicate per killed worker and channel (docs/reliability.md).

:meth:`Sender.withdraw` takes an ended alert back where the platform allows it: Telegram
deletes the messages (``deleteMessage``); the closing notice, queued for everyone the alert
reached, says the rest.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import smtplib
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any, ClassVar

import aiohttp
from linebot.v3.messaging import (
    ApiException,
    AsyncApiClient,
    AsyncMessagingApi,
    Configuration,
    ImageMessage,
    Message,
    MulticastRequest,
)
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.ext import ExtBot
from telegram.request import HTTPXRequest
from twilio.base.exceptions import TwilioRestException

from alerts.fanout.items import SENT, Item, Outcome, Status
from alerts.texts import AlertMessage
from bot.messages import Reply
from bot.settings import Settings
from channels.email import EmailSender
from channels.line import MAX_MULTICAST_RECIPIENTS, LineOutput
from channels.ratelimit import LIMITS, Limit, MemoryRateLimiter, RateLimiter, RedisRateLimiter, send_with_backoff
from channels.sms import SmsSender
from channels.telegram import TelegramOutput, TelegramRateLimiter

__all__ = ["SENDERS", "EmailChannelSender", "LineSender", "Report", "Sender", "SmsChannelSender", "TelegramSender",
           "fanout_limits", "make_limiter"]

log = logging.getLogger(__name__)

_LINE_TIMEOUT_SECONDS = 10.0
# Telegram answers these for a chat the bot can never write to again.
_TELEGRAM_GONE = ("chat not found", "user is deactivated", "peer_id_invalid", "bot was blocked")
# Twilio: invalid number, no permission for the region, unsubscribed (STOP), unroutable, not a mobile.
_TWILIO_GONE = {21211, 21408, 21610, 21612, 21614}
_LINE_RECIPIENT = re.compile(r"^to\[(\d+)\]$")

Report = Callable[[Item, Outcome], Awaitable[None]]
"""Awaited by a sender as soon as it knows what happened to one row (the worker records it)."""


def fanout_limits(config: Settings) -> dict[str, Limit]:
    """The channels' limits, plus ``email.send``, with ``settings.fanout_rate_limits`` applied."""
    limits = dict(LIMITS)
    limits.setdefault("email.send", Limit(rate=config.fanout_email_rate, burst=max(1, round(config.fanout_email_rate))))
    for rule, rate in config.fanout_rate_limits.items():
        limits[rule] = Limit(rate=rate, burst=max(1, round(rate)))
    return limits


@lru_cache(maxsize=4)
def _memory_limiter(limits: frozenset[tuple[str, Limit]]) -> MemoryRateLimiter:
    return MemoryRateLimiter(dict(limits))


def make_limiter(config: Settings) -> RateLimiter:
    """The limiter for one pass: Redis-backed with ``redis_url``, else one per process.

    A Redis limiter holds a connection of the running event loop, so each pass makes
    its own (the buckets themselves live in Redis under ``<fanout_namespace>:rl``, the
    same keys the channels' senders use with the default namespace).
    """
    limits = fanout_limits(config)
    if config.redis_url:
        return RedisRateLimiter(config.redis_url, limits, prefix=f"{config.fanout_namespace}:rl")
    return _memory_limiter(frozenset(limits.items()))


class Sender(ABC):
    """Sends one text to a group of rows of one channel; opened lazily, closed after a pass.

    By default one message at a time, each outcome reported (and recorded) before the
    next send: see the module's note on duplicates. LINE overrides :meth:`_send`.
    """

    channel: ClassVar[str]
    rule: ClassVar[str]  # the limit that sets the channel's pace (and so its batch size)
    # Whether a repeated send is dropped by the platform (LINE's retry key): if not, each
    # outcome is recorded before the next send.
    idempotent: ClassVar[bool] = False

    def __init__(self, config: Settings, limiter: RateLimiter) -> None:
        self.config = config
        self.limiter = limiter
        self._opened = False

    @property
    def batch_size(self) -> int:
        """Rows claimed at a time: about half a second of the channel's budget (1..100)."""
        rate = self.limiter.limits[self.rule].rate
        return max(1, min(100, round(rate / 2)))

    async def send(self, items: Sequence[Item], text: str | AlertMessage, language: str, report: Report) -> None:
        """Send ``text`` to every item, reporting each item's outcome as soon as it is known.

        Args:
            items: rows of this channel that share the text.
            text: the message (personal data: never logged): a text, or an alert's text
                with its 「見かけた」 button and, with the family's consent, its photo.
            language: the cooperators' language, for channel-owned labels.
            report: awaited once per item, as soon as its outcome is known.
        """
        await self._open_once()
        await self._send(items, text if isinstance(text, AlertMessage) else AlertMessage(text), language, report)

    async def withdraw(self, items: Sequence[Item], message_ids: Mapping[int, Sequence[str]], report: Report) -> None:
        """Delete an ended alert's messages from each item's chat, where the platform allows it.

        By default nothing can be deleted (a LINE push, an e-mail, an SMS; a withdraw row
        lands here when its Telegram chat was gone and it moved to another endpoint): the
        row is done, and the closing notice says that the search has ended.

        Args:
            items: ``withdraw`` rows of this channel.
            message_ids: per row, the platform ids of the alert messages its cooperator was sent.
            report: awaited once per item.
        """
        for item in items:
            await report(item, Outcome(Status.sent, f"{self.channel}: nothing can be deleted"))

    async def close(self) -> None:
        """Release the connections, if any were opened."""
        if self._opened:
            self._opened = False
            await self._close()

    async def _open_once(self) -> None:
        if not self._opened:
            await self.open()
            self._opened = True

    @abstractmethod
    async def open(self) -> None:
        """Open the platform client (called before the first send)."""

    @abstractmethod
    async def _close(self) -> None: ...

    async def _send(self, items: Sequence[Item], message: AlertMessage, language: str, report: Report) -> None:
        for item in items:
            await report(item, await self._send_one(item, message, language))

    async def _send_one(self, item: Item, message: AlertMessage, language: str) -> Outcome:
        raise NotImplementedError(f"{self.channel} sends groups")


# --------------------------------------------------------------------------- an alert's photo
# A photo goes out only with the family's consent (``AlertMessage.photo_ref`` is None
# otherwise). A Telegram photo is kept as its ``file_id``, which this bot can send again
# (``sendPhoto``); a LINE image as a message id whose content only this channel's token can
# download. A LINE image message needs a public HTTPS address, so the fan-out copies the
# photo there first (``alerts.media``, ``AlertMessage.photo_url``): LINE sends that address,
# Telegram its own ``file_id`` or else the address.
_TELEGRAM_PHOTO = "telegram:photo:"
# Telegram's limit for a photo's caption: a longer alert goes as text, without the photo.
_TELEGRAM_CAPTION_LIMIT = 1024


def telegram_photo(message: AlertMessage) -> str | None:
    """What to send with ``sendPhoto`` (the alert text as its caption): the photo's ``file_id``
    when it came from Telegram, else its public copy's address; or None."""
    ref = message.photo_ref or ""
    if len(message.text) > _TELEGRAM_CAPTION_LIMIT:
        return None
    return ref.removeprefix(_TELEGRAM_PHOTO) if ref.startswith(_TELEGRAM_PHOTO) else message.photo_url


def line_messages(message: AlertMessage, language: str) -> list[Message]:
    """A LINE multicast's messages: the photo first when it is at a public HTTPS address (its
    copy, ``alerts.media``, small enough to be its own preview), then the text with its buttons
    as quick replies (the 「見かけた」 postback)."""
    text = LineOutput.render([Reply(message.text, choices=message.choices)], language)
    ref = message.photo_ref or ""
    url = message.photo_url or (ref if ref.startswith("https://") else None)
    if url is None:
        return list(text)
    return [ImageMessage(originalContentUrl=url, previewImageUrl=url), *text]


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """A response header, whatever the case of its name (the SDK hands back a plain dict)."""
    return next((value for key, value in (headers or {}).items() if key.lower() == name), None)


def _line_retry_delay(exc: BaseException) -> float | None:
    """Wait out a LINE 429 here (the bucket pauses for every worker); anything else goes back
    to the outbox, which retries a possibly accepted request under the same retry key."""
    if isinstance(exc, ApiException) and exc.status == 429:
        after = _header(exc.headers, "retry-after")
        return float(after) if after and after.isdigit() else 0.0
    return None


class LineSender(Sender):
    """LINE ``multicast``: one request for up to 500 users, under the group's stored retry key.

    The key (``X-Line-Retry-Key``) is a random UUID stored on the rows before the first
    try (``alerts.fanout.outbox``). LINE answers a repeat of an accepted request with
    409 and the accepted request's id (``x-line-accepted-request-id``), which is kept as
    the rows' request id. The 409 counts as sent only when it is ours: the key was sent
    before (a time-out, a worker that died). A 409 on a key this installation never
    sent means someone else holds it: the rows are retried under a new key.
    """

    channel = "line"
    rule = "line.multicast"
    idempotent = True

    @property
    def batch_size(self) -> int:
        """One multicast's worth: 500 rows."""
        return MAX_MULTICAST_RECIPIENTS

    async def open(self) -> None:
        self._client = AsyncApiClient(
            Configuration(host=self.config.line_api_host, access_token=self.config.line_channel_access_token)
        )
        self._api = AsyncMessagingApi(self._client)

    async def _close(self) -> None:
        await self._client.close()

    async def _send(self, items: Sequence[Item], message: AlertMessage, language: str, report: Report) -> None:
        for item, outcome in zip(items, await self._multicast(items, message, language), strict=True):
            await report(item, outcome)

    async def _multicast(self, items: Sequence[Item], message: AlertMessage, language: str) -> list[Outcome]:
        keys = {item.retry_key for item in items}
        if len(keys) != 1 or None in keys:
            raise ValueError("a LINE group is sent under one stored retry key")
        request = MulticastRequest(to=[item.address for item in items], messages=line_messages(message, language))

        async def call() -> Any:
            return await self._api.multicast_with_http_info(request, x_line_retry_key=items[0].retry_key,
                                                            _request_timeout=_LINE_TIMEOUT_SECONDS)

        try:
            response = await send_with_backoff(call, limiter=self.limiter, rules=[(self.rule, "")],
                                               retry_delay=_line_retry_delay)
        except ApiException as exc:
            if exc.status == 409:
                return self._conflict(exc, items)
            return self._refused(exc, items)
        except (aiohttp.ClientError, TimeoutError) as exc:
            # LINE may have accepted it: retry the same rows under the same key.
            return [Outcome(Status.hold, f"LINE {type(exc).__name__}")] * len(items)
        return [Outcome(Status.sent, request_id=_header(response.headers, "x-line-request-id"))] * len(items)

    def _conflict(self, exc: ApiException, items: Sequence[Item]) -> list[Outcome]:
        """LINE's 409: an earlier request with this key was accepted. Ours, or someone else's?"""
        accepted = _header(exc.headers, "x-line-accepted-request-id")
        if any(item.new_key for item in items):
            log.error("line: 409 for a retry key this installation never sent (accepted request %s): "
                      "retrying under a new key", accepted)
            return [Outcome(Status.retry, "LINE 409 for a retry key that is not ours")] * len(items)
        return [Outcome(Status.sent, "LINE 409: accepted earlier", request_id=accepted)] * len(items)

    def _refused(self, exc: ApiException, items: Sequence[Item]) -> list[Outcome]:
        status = exc.status or 0
        if status == 429:
            after = _header(exc.headers, "retry-after")
            wait = float(after) if after and after.isdigit() else self.config.fanout_retry_seconds
            return [Outcome(Status.later, "LINE 429", wait)] * len(items)
        if status >= 500:
            return [Outcome(Status.hold, f"LINE {status}")] * len(items)
        invalid = self._invalid_recipients(exc) if status == 400 else set()
        if invalid:
            # Nothing was sent: the others go back to the queue under a new row set (a new key).
            return [Outcome(Status.gone, "LINE: unknown user") if index in invalid else Outcome(Status.later, None)
                    for index in range(len(items))]
        log.error("line: multicast refused with %s", status)
        # A malformed request stays malformed; a token problem can be fixed while we retry.
        return [Outcome(Status.failed if status == 400 else Status.retry, f"LINE {status}")] * len(items)

    @staticmethod
    def _invalid_recipients(exc: ApiException) -> set[int]:
        try:
            details = json.loads(exc.body or "{}").get("details") or []
        except (ValueError, AttributeError):
            return set()
        return {int(match.group(1)) for detail in details
                if (match := _LINE_RECIPIENT.match(str(detail.get("property", ""))))}


class TelegramSender(Sender):
    """Telegram ``sendMessage`` per chat, one at a time, paced by the shared buckets.

    The ``message_id`` of each message sent is kept, so that :meth:`withdraw` can delete
    it once the alert ends (``deleteMessage``; a bot may delete its messages for 48 hours:
    a message older than that, or deleted already, is left to the closing notice).
    """

    channel = "telegram"
    rule = "telegram.global"

    async def open(self) -> None:
        self._bot = ExtBot(
            self.config.telegram_bot_token,
            base_url=self.config.telegram_base_url,
            request=HTTPXRequest(connection_pool_size=2),
            rate_limiter=TelegramRateLimiter(self.limiter),
        )
        await self._bot.initialize()

    async def _close(self) -> None:
        await self._bot.shutdown()

    async def withdraw(self, items: Sequence[Item], message_ids: Mapping[int, Sequence[str]], report: Report) -> None:
        await self._open_once()
        for item in items:
            await report(item, await self._delete(item, message_ids.get(item.id, ())))

    async def _delete(self, item: Item, message_ids: Sequence[str]) -> Outcome:
        left = 0
        for message_id in message_ids:
            try:
                await self._bot.delete_message(chat_id=item.address, message_id=int(message_id))
            except BadRequest:
                left += 1  # older than 48 hours, or deleted already: the closing notice says the rest
            except TelegramError as exc:
                return self._failure(exc)
        return Outcome(Status.sent, f"Telegram: {left} message(s) could not be deleted") if left else SENT

    async def _send_one(self, item: Item, message: AlertMessage, language: str) -> Outcome:
        rendered = TelegramOutput.render(Reply(message.text, choices=message.choices), language)
        photo = telegram_photo(message)
        try:
            if photo is not None:
                sent = await self._bot.send_photo(chat_id=item.address, photo=photo, caption=rendered["text"],
                                                  reply_markup=rendered["reply_markup"])
            else:
                sent = await self._bot.send_message(chat_id=item.address, **rendered)
        except TelegramError as exc:
            return self._failure(exc)
        return Outcome(Status.sent, message_id=str(sent.message_id))

    @staticmethod
    def _failure(exc: TelegramError) -> Outcome:
        if isinstance(exc, Forbidden):
            return Outcome(Status.gone, f"Telegram: {exc.message}")
        if isinstance(exc, RetryAfter):
            after = exc.retry_after
            return Outcome(Status.later, "Telegram RetryAfter",
                           after if isinstance(after, (int, float)) else after.total_seconds())
        if isinstance(exc, BadRequest):
            if any(marker in exc.message.lower() for marker in _TELEGRAM_GONE):
                return Outcome(Status.gone, f"Telegram: {exc.message}")
            # e.g. a text too long: sending it again will not help.
            return Outcome(Status.failed, f"Telegram: {exc.message}")
        # Network errors and time-outs: maybe delivered, retried.
        return Outcome(Status.retry, f"Telegram {type(exc).__name__}")


class EmailChannelSender(Sender):
    """Plain-text e-mail through :class:`channels.email.EmailSender`: one SMTP connection per pass.

    The subject is the text's first line; 4xx answers are waited out (``later``), a
    5xx refusal of the recipient deactivates the address.
    """

    channel = "email"
    rule = "email.send"

    async def open(self) -> None:
        self._mail = EmailSender.from_settings(self.config)

    async def _close(self) -> None:
        await asyncio.to_thread(self._mail.close)

    async def _send_one(self, item: Item, alert: AlertMessage, language: str) -> Outcome:
        text = alert.text
        message = self._mail.compose(to=item.address, subject=text.split("\n", 1)[0][:120], body=text)
        try:
            await send_with_backoff(lambda: asyncio.to_thread(self._mail.send, message), limiter=self.limiter,
                                    rules=[(self.rule, "")], retry_delay=_smtp_retry_delay)
        except smtplib.SMTPRecipientsRefused as exc:
            code = min(code for code, _ in exc.recipients.values())
            if code >= 500:
                return Outcome(Status.gone, f"SMTP {code}")
            return Outcome(Status.later, f"SMTP {code}", self.config.fanout_retry_seconds)
        except smtplib.SMTPResponseException as exc:
            if 400 <= exc.smtp_code < 500:
                return Outcome(Status.later, f"SMTP {exc.smtp_code}", self.config.fanout_retry_seconds)
            return Outcome(Status.failed, f"SMTP {exc.smtp_code}")  # refused for good
        except (smtplib.SMTPException, OSError) as exc:  # the connection broke; the next send opens another
            return Outcome(Status.retry, f"SMTP {type(exc).__name__}")
        return SENT


def _smtp_retry_delay(exc: BaseException) -> float | None:
    """Retry (after back-off) only what the server called temporary: 4xx."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return 0.0 if all(400 <= code < 500 for code, _ in exc.recipients.values()) else None
    if isinstance(exc, smtplib.SMTPResponseException) and 400 <= exc.smtp_code < 500:
        return 0.0
    return None


class SmsChannelSender(Sender):
    """SMS through Twilio's Messages API (:class:`channels.sms.SmsSender`), one at a time."""

    channel = "sms"
    rule = "sms.send"

    async def open(self) -> None:
        self._sms = SmsSender.from_settings(self.config, self.limiter)
        await self._sms.start()

    async def _close(self) -> None:
        await self._sms.close()

    async def _send_one(self, item: Item, message: AlertMessage, language: str) -> Outcome:
        try:
            await self._sms.send_text(item.address, message.text)
        except TwilioRestException as exc:
            if exc.status == 429:
                return Outcome(Status.later, "Twilio 429", self.config.fanout_retry_seconds)
            if exc.code in _TWILIO_GONE:
                return Outcome(Status.gone, f"Twilio {exc.code}")
            # Other 4xx: this message is refused (e.g. too long); 5xx and auth may pass later.
            permanent = exc.status == 400
            return Outcome(Status.failed if permanent else Status.retry, f"Twilio {exc.status} {exc.code}")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return Outcome(Status.retry, f"Twilio {type(exc).__name__}")
        return SENT


SENDERS: dict[str, type[Sender]] = {
    sender.channel: sender for sender in (LineSender, TelegramSender, EmailChannelSender, SmsChannelSender)
}
"""Channel name → sender class; ``alerts.fanout.items.CHANNELS`` lists the same names."""
