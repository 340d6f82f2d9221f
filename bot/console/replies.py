"""Sending staff replies to residents: the outbox of :class:`bot.models.casework.StaffReply` rows.

A reply written on a case page is committed as a row first (``bot.console.casework.reply``)
and sent after the commit, so a crash or a platform that is down loses nothing: the row is
taken again once its lease runs out or its back-off is over, the way case deliveries are
(``bot.workqueue``: claims no two workers share, a lease token guarding every write-back, the
back-off in the claim query). Each channel is sent with the channels' own clients:

* LINE: a push (``LineOutput.push``) under a retry key derived from the row, so a push
  repeated after a crash is shown once (LINE answers 409 for a key it accepted);
* Telegram: ``sendMessage`` (``TelegramOutput``);
* SMS: Twilio's Messages API (``SmsSender``) to the mobile number the caller gave;
* web chat rows are never queued: the page fetches them (``channels.webchat``).

A refusal that retrying cannot change (an unknown user, a blocked bot, words or an address
that retention or an erasure removed) fails the row at once; anything else is retried,
``MAX_ATTEMPTS`` times in all. The case page shows each reply's state.

:func:`schedule_replies` runs after a commit that queued replies (the embedded thread of
this process); ``serve``'s sweeper calls it too, so rows queued by another process or
before a restart go out.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from linebot.v3.messaging import ApiException, AsyncApiClient, AsyncMessagingApi, Configuration
from sqlalchemy import ColumnElement, Table, and_, or_, select, update
from sqlalchemy.orm import Session
from telegram.error import BadRequest, Forbidden
from telegram.ext import ExtBot
from telegram.request import HTTPXRequest
from twilio.base.exceptions import TwilioRestException

from alerts.cooperators import parse_mobile
from alerts.fanout.senders import make_limiter
from bot import db
from bot.messages import Reply
from bot.models import Case, Contact, Message, utcnow
from bot.models.casework import ReplyState, StaffReply
from bot.settings import Settings, settings
from bot.workqueue import Backoff, claim_due, embedded_runner, lease_expired, lease_token
from channels.line import LineOutput
from channels.ratelimit import RateLimiter
from channels.sms import SmsSender
from channels.telegram import TelegramOutput, TelegramRateLimiter

__all__ = ["MAX_ATTEMPTS", "ReplyRun", "schedule_replies", "send_pending"]

log = logging.getLogger(__name__)

BACKOFF = Backoff(first=timedelta(seconds=30), factor=2.0, most=timedelta(minutes=10))
LEASE = timedelta(minutes=5)
# 30 s, 1, 2, 4, 8 min: a platform down for a quarter of an hour is shown as failed.
MAX_ATTEMPTS = 6
# Small batches: a send takes at most ten seconds, well inside the lease.
BATCH = 10
_REPLIES = cast(Table, StaffReply.__table__)


class Refused(Exception):
    """The platform (or what is left of the row) makes this reply unsendable: no retry."""


@dataclass(frozen=True)
class ReplyRun:
    """What one pass did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    lost: int = 0


def _due(now: datetime) -> ColumnElement[bool]:
    rows = _REPLIES.c
    return or_(
        and_(rows.state == ReplyState.unprocessed, BACKOFF.due(rows.fail_count, rows.last_attempt_at, now)),
        and_(rows.state == ReplyState.processing, lease_expired(rows.claimed_at, now, LEASE)),
    )


class _Clients:
    """The platform clients of one pass, opened on first use and closed at its end."""

    def __init__(self, config: Settings, limiter: RateLimiter) -> None:
        self.config = config
        self.limiter = limiter
        self._line: AsyncApiClient | None = None
        self._telegram: ExtBot[None] | None = None
        self._sms: SmsSender | None = None

    async def line(self) -> LineOutput:
        if self._line is None:
            self._line = AsyncApiClient(Configuration(host=self.config.line_api_host,
                                                      access_token=self.config.line_channel_access_token))
        return LineOutput(AsyncMessagingApi(self._line), self.limiter)

    async def telegram(self) -> TelegramOutput:
        if self._telegram is None:
            self._telegram = ExtBot(self.config.telegram_bot_token, base_url=self.config.telegram_base_url,
                                    request=HTTPXRequest(connection_pool_size=2),
                                    rate_limiter=TelegramRateLimiter(self.limiter))
            await self._telegram.initialize()
        return TelegramOutput(self._telegram)

    async def sms(self) -> SmsSender:
        if self._sms is None:
            self._sms = SmsSender.from_settings(self.config, self.limiter)
            await self._sms.start()
        return self._sms

    async def close(self) -> None:
        if self._line is not None:
            await self._line.close()
        if self._telegram is not None:
            await self._telegram.shutdown()
        if self._sms is not None:
            await self._sms.close()


@dataclass(frozen=True)
class _Outgoing:
    """What one claimed row sends: where, the words, the resident's language."""

    id: int
    channel: str
    address: str
    text: str
    language: str
    seed: str


def _outgoing(session: Session, row: StaffReply) -> _Outgoing:
    """The row's address and words as they are now (erased or purged: refused)."""
    message = session.get(Message, row.message_id) if row.message_id is not None else None
    contact = session.get(Contact, row.contact_id) if row.contact_id is not None else None
    case = session.get(Case, row.case_id)
    if message is None or not message.text or contact is None or case is None:
        raise Refused("the words or the resident's contact were removed (retention or erasure)")
    address = contact.channel_user_id
    if row.channel == "sms":
        address = parse_mobile(str(case.details.get("callback_phone") or "")) or ""
        if not address:
            raise Refused("the case keeps no mobile number to send an SMS to")
    return _Outgoing(row.id, row.channel, address, message.text, case.language,
                     seed=f"tsunagu-staff-reply:{row.id}:{row.created_at.isoformat()}")


async def _send(clients: _Clients, outgoing: _Outgoing) -> None:
    """Send one reply; raises :class:`Refused` for a refusal a retry cannot change."""
    reply = Reply(text=outgoing.text)
    try:
        if outgoing.channel == "line":
            line = await clients.line()
            await line.push(outgoing.address, line.render([reply], outgoing.language), seed=outgoing.seed)
        elif outgoing.channel == "telegram":
            await (await clients.telegram()).send(outgoing.address, [reply], language=outgoing.language)
        elif outgoing.channel == "sms":
            await (await clients.sms()).send_text(outgoing.address, outgoing.text)
        else:
            raise Refused(f"no sender for channel '{outgoing.channel}'")
    except ApiException as error:
        if error.status is not None and 400 <= error.status < 500 and error.status != 429:
            raise Refused(f"LINE {error.status}") from error
        raise
    except (Forbidden, BadRequest) as error:
        raise Refused(f"Telegram: {error.message}") from error
    except TwilioRestException as error:
        if 400 <= error.status < 500 and error.status != 429:
            raise Refused(f"Twilio {error.status} ({error.code})") from error
        raise


def _write_back(session: Session, row_id: int, token: datetime, **values: object) -> bool:
    """Record an attempt, only while the row is still held under ``token``; commits."""
    session.rollback()
    result = session.execute(update(_REPLIES).where(
        _REPLIES.c.id == row_id, _REPLIES.c.state == ReplyState.processing, _REPLIES.c.claimed_at == token,
    ).values(claimed_at=None, **values))
    session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def _attempt(url: str, clients: _Clients, row_id: int, token: datetime) -> str:
    with db.session_scope(url) as session:
        row = session.get(StaffReply, row_id)
        if row is None or row.state != ReplyState.processing or row.claimed_at != token:
            return "lost"
        fails = row.fail_count + 1
        try:
            outgoing = _outgoing(session, row)
        except Refused as error:
            _write_back(session, row_id, token, state=ReplyState.failed, fail_count=fails,
                        last_failure_reason=str(error), last_attempt_at=utcnow())
            return "failed"
    try:
        await _send(clients, outgoing)
    except Exception as error:  # noqa: BLE001 - any failure is a failed attempt, never a crashed pass
        give_up = isinstance(error, Refused) or fails >= MAX_ATTEMPTS
        reason = (str(error) or type(error).__name__)[:2000]
        # The reason names the platform's answer, never the words or the address.
        log.warning("staff reply %s (%s) failed, attempt %d%s: %s", row_id, outgoing.channel, fails,
                    " — giving up" if give_up else "", type(error).__name__)
        with db.session_scope(url) as session:
            _write_back(session, row_id, token, state=ReplyState.failed if give_up else ReplyState.unprocessed,
                        fail_count=fails, last_failure_reason=reason, last_attempt_at=utcnow())
        return "failed" if give_up else "retrying"
    with db.session_scope(url) as session:
        now = utcnow()
        kept = _write_back(session, row_id, token, state=ReplyState.sent, sent_at=now, last_attempt_at=now)
    log.info("staff reply %s sent via %s", row_id, outgoing.channel)
    return "sent" if kept else "lost"


async def send_pending(url: str, config: Settings | None = None) -> ReplyRun:
    """One pass: every staff reply that is due is claimed and sent once.

    Args:
        url: the database.
        config: the channels' settings (tokens, API hosts); the process's by default.

    Returns:
        Counts of what happened.
    """
    config = config or settings
    outcomes = {"sent": 0, "retrying": 0, "failed": 0, "lost": 0}
    clients = _Clients(config, make_limiter(config))
    try:
        while True:
            with db.session_scope(url) as session:
                token = lease_token(utcnow())
                ids = claim_due(session, _REPLIES, _due(token), order_by=[_REPLIES.c.id], limit=BATCH,
                                values={"state": ReplyState.processing, "claimed_at": token})
            if not ids:
                break
            for row_id in sorted(ids):
                outcomes[await _attempt(url, clients, row_id, token)] += 1
    finally:
        await clients.close()
    return ReplyRun(**outcomes)


def _background_pass(url: str) -> datetime | None:
    """One pass of the embedded thread; while replies wait for a retry, look again after the first back-off."""
    asyncio.run(send_pending(url))
    with db.session_scope(url) as session:
        waiting = session.scalar(select(StaffReply.id).where(StaffReply.state == ReplyState.unprocessed).limit(1))
    return utcnow() + BACKOFF.first if waiting is not None else None


def schedule_replies(url: str | None = None) -> None:
    """Send the queued staff replies soon (this process's background thread), without waiting.

    Args:
        url: the database; the configured one by default.
    """
    embedded_runner("staff-replies", url or settings.database_url, _background_pass).wake()
