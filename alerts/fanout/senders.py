"""One sender per channel for the alert fan-out, built on the senders in ``channels/``.

A sender takes a group of claimed rows that share one text (same alert, kind and
language), sends it and says what happened to each row as an
:class:`~alerts.fanout.items.Outcome`. The platform clients and their rate limits are
the channels' own: :class:`channels.line.LineOutput` (multicast, up to 500 users,
``X-Line-Retry-Key``), :class:`channels.telegram.TelegramOutput` through PTB with
:class:`channels.telegram.TelegramRateLimiter`, :class:`channels.email.EmailSender`
(one SMTP connection per pass), :class:`channels.sms.SmsSender`, and the token buckets
of :mod:`channels.ratelimit` (Redis-backed with ``settings.redis_url``, so every
worker shares one budget per channel; e-mail has its own ``email.send`` bucket). Each
already waits out a 429 / ``RetryAfter`` a few times; what is left over comes back
here as ``later`` and the row is simply queued again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import smtplib
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import ClassVar

import aiohttp
from linebot.v3.messaging import ApiException, AsyncApiClient, AsyncMessagingApi, Configuration
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.ext import ExtBot
from telegram.request import HTTPXRequest
from twilio.base.exceptions import TwilioRestException

from alerts.fanout.items import SENT, Item, Outcome, Status
from bot.messages import Reply
from bot.settings import Settings
from channels.email import EmailSender
from channels.line import MAX_MULTICAST_RECIPIENTS, LineOutput
from channels.ratelimit import LIMITS, Limit, MemoryRateLimiter, RateLimiter, RedisRateLimiter, send_with_backoff
from channels.sms import SmsSender
from channels.telegram import TelegramOutput, TelegramRateLimiter

__all__ = ["SENDERS", "EmailChannelSender", "LineSender", "Report", "Sender", "SmsChannelSender", "TelegramSender",
           "batch_retry_key", "fanout_limits", "make_limiter"]

log = logging.getLogger(__name__)

_RETRY_KEY_NAMESPACE = uuid.UUID("5b0c7a8e-2f61-4d3a-9e8b-0f4d6c2a9b71")
# Telegram answers these for a chat the bot can never write to again.
_TELEGRAM_GONE = ("chat not found", "user is deactivated", "peer_id_invalid", "bot was blocked")
# Twilio: invalid number, no permission for the region, unsubscribed (STOP), unroutable, not a mobile.
_TWILIO_GONE = {21211, 21408, 21610, 21612, 21614}
_LINE_RECIPIENT = re.compile(r"^to\[(\d+)\]$")

Report = Callable[[Item, Outcome], None]
"""Called by a sender as soon as it knows what happened to one row (recorded within moments)."""


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


def batch_retry_key(items: Sequence[Item]) -> str:
    """The ``X-Line-Retry-Key`` of a multicast: a UUID from the set of outbox rows it carries.

    The same rows give the same key, so a group taken back from a dead worker is
    recognised by LINE as already accepted.
    """
    return str(uuid.uuid5(_RETRY_KEY_NAMESPACE, ",".join(str(row) for row in sorted(item.id for item in items))))


class Sender(ABC):
    """Sends one text to a group of rows of one channel; opened lazily, closed after a pass."""

    channel: ClassVar[str]
    rule: ClassVar[str]  # the limit that sets the channel's pace (and so its batch size)

    def __init__(self, config: Settings, limiter: RateLimiter) -> None:
        self.config = config
        self.limiter = limiter
        self._opened = False

    @property
    def batch_size(self) -> int:
        """Rows claimed at a time: about half a second of the channel's budget (1..100)."""
        rate = self.limiter.limits[self.rule].rate
        return max(1, min(100, round(rate / 2)))

    async def send(self, items: Sequence[Item], text: str, language: str, report: Report) -> None:
        """Send ``text`` to every item, reporting each item's outcome as soon as it is known.

        Args:
            items: rows of this channel that share the text.
            text: the message (personal data: never logged).
            language: the cooperators' language, for channel-owned labels.
            report: called once per item, as soon as its outcome is known.
        """
        if not self._opened:
            await self.open()
            self._opened = True
        await self._send(items, text, language, report)

    async def close(self) -> None:
        """Release the connections, if any were opened."""
        if self._opened:
            self._opened = False
            await self._close()

    @abstractmethod
    async def open(self) -> None:
        """Open the platform client (called before the first send)."""

    @abstractmethod
    async def _close(self) -> None: ...

    @abstractmethod
    async def _send(self, items: Sequence[Item], text: str, language: str, report: Report) -> None: ...


class LineSender(Sender):
    """LINE ``multicast``: one request for up to 500 users, with a retry key per row set."""

    channel = "line"
    rule = "line.multicast"

    @property
    def batch_size(self) -> int:
        """One multicast's worth: 500 rows."""
        return MAX_MULTICAST_RECIPIENTS

    async def open(self) -> None:
        self._client = AsyncApiClient(
            Configuration(host=self.config.line_api_host, access_token=self.config.line_channel_access_token)
        )
        self._output = LineOutput(AsyncMessagingApi(self._client), self.limiter)

    async def _close(self) -> None:
        await self._client.close()

    async def _send(self, items: Sequence[Item], text: str, language: str, report: Report) -> None:
        for item, outcome in zip(items, await self._multicast(items, text, language), strict=True):
            report(item, outcome)

    async def _multicast(self, items: Sequence[Item], text: str, language: str) -> list[Outcome]:
        try:
            await self._output.multicast([item.address for item in items], [Reply(text)], batch_retry_key(items),
                                         language=language)
        except ApiException as exc:
            return self._refused(exc, items)
        except (aiohttp.ClientError, TimeoutError) as exc:
            # LINE may have accepted it: retry the same rows under the same key.
            return [Outcome(Status.hold, f"LINE {type(exc).__name__}")] * len(items)
        return [SENT] * len(items)

    def _refused(self, exc: ApiException, items: Sequence[Item]) -> list[Outcome]:
        status = exc.status or 0
        if status == 429:
            after = (exc.headers or {}).get("Retry-After")
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
    """Telegram ``sendMessage`` per chat, several in flight, paced by the shared buckets."""

    channel = "telegram"
    rule = "telegram.global"
    concurrency = 16

    async def open(self) -> None:
        self._bot = ExtBot(
            self.config.telegram_bot_token,
            base_url=self.config.telegram_base_url,
            request=HTTPXRequest(connection_pool_size=self.concurrency),
            rate_limiter=TelegramRateLimiter(self.limiter),
        )
        await self._bot.initialize()
        self._output = TelegramOutput(self._bot)

    async def _close(self) -> None:
        await self._bot.shutdown()

    async def _send(self, items: Sequence[Item], text: str, language: str, report: Report) -> None:
        slots = asyncio.Semaphore(self.concurrency)

        async def one(item: Item) -> None:
            async with slots:
                report(item, await self._send_one(item, text, language))

        await asyncio.gather(*(one(item) for item in items))

    async def _send_one(self, item: Item, text: str, language: str) -> Outcome:
        try:
            await self._output.send(item.address, [Reply(text)], language=language)
        except Forbidden as exc:
            return Outcome(Status.gone, f"Telegram: {exc.message}")
        except RetryAfter as exc:
            after = exc.retry_after
            return Outcome(Status.later, "Telegram RetryAfter",
                           after if isinstance(after, (int, float)) else after.total_seconds())
        except BadRequest as exc:
            if any(marker in exc.message.lower() for marker in _TELEGRAM_GONE):
                return Outcome(Status.gone, f"Telegram: {exc.message}")
            # e.g. a text too long: sending it again will not help.
            return Outcome(Status.failed, f"Telegram: {exc.message}")
        except TelegramError as exc:  # network errors and time-outs: maybe delivered, retried
            return Outcome(Status.retry, f"Telegram {type(exc).__name__}")
        return SENT


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

    async def _send(self, items: Sequence[Item], text: str, language: str, report: Report) -> None:
        for item in items:
            report(item, await self._send_one(item.address, text))

    async def _send_one(self, address: str, text: str) -> Outcome:
        message = self._mail.compose(to=address, subject=text.split("\n", 1)[0][:120], body=text)
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
    """SMS through Twilio's Messages API (:class:`channels.sms.SmsSender`), a few in flight."""

    channel = "sms"
    rule = "sms.send"
    concurrency = 4

    async def open(self) -> None:
        self._sms = SmsSender.from_settings(self.config, self.limiter)
        await self._sms.start()

    async def _close(self) -> None:
        await self._sms.close()

    async def _send(self, items: Sequence[Item], text: str, language: str, report: Report) -> None:
        slots = asyncio.Semaphore(self.concurrency)

        async def one(item: Item) -> None:
            async with slots:
                report(item, await self._send_one(item, text))

        await asyncio.gather(*(one(item) for item in items))

    async def _send_one(self, item: Item, text: str) -> Outcome:
        try:
            await self._sms.send_text(item.address, text)
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
