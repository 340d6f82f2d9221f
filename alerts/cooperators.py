"""The cooperator (協力者) register: sign-up, one-message unsubscribe, yearly re-confirmation.

A cooperator is an area at town precision (the town's centroid, never a resident's
exact position), one or more endpoints in order of preference (the chat they signed up
on first, then e-mail, then SMS), optional quiet hours, whether missing-person alerts may
reach them at night (they do, in quiet hours too, unless the cooperator opted out:
``stop_night_alerts``), and a consent date. Consent is
renewed yearly: ``due_for_reconfirmation`` lists those whose ``reconfirm_due`` has
passed; ``queue_reconfirm_requests`` (run every minute by ``bot.housekeeping``) queues
``utter_helper_reconfirm_request`` for each of them once per cycle, and the alert
fan-out sends it like any outbox row; answering "このまま続ける"
in the register_helper flow calls ``reconfirm``; ``lapse_unconfirmed`` stops alerts to
those who did not answer within ``cooperator_reconfirm_grace_days``
(`tsunagu helper reconfirm-due --lapse`, daily).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, selectinload

from alerts.fanout.enqueue import enqueue_requests
from alerts.fanout.items import RECONFIRM_KIND, configured_channels
from bot.models import Cooperator, CooperatorEndpoint, OutboxItem, OutboxState, utcnow
from bot.settings import settings
from intents.phone import national_phone

__all__ = [
    "NIGHT_HOURS",
    "PUSH_CHANNELS",
    "EndpointSpec",
    "cooperator_at",
    "deactivate_endpoints",
    "due_for_reconfirmation",
    "lapse_unconfirmed",
    "parse_email",
    "parse_mobile",
    "parse_quiet_hours",
    "queue_reconfirm_requests",
    "reconfirm",
    "register_cooperator",
    "stop_night_alerts",
    "unsubscribe_endpoint",
]

log = logging.getLogger(__name__)

# Chat channels the fan-out can push an alert to, with their display names. A cooperator
# who signs up on one of them is reached there first; the phone line and the web chat
# cannot be pushed to, so they need an e-mail address or an SMS number.
PUSH_CHANNELS = {"line": "LINE", "telegram": "Telegram"}
# Channels whose address is a phone number (the phone line's caller id, an SMS number).
PHONE_CHANNELS = ("sms", "voice")
EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$"
)
# About 1/365 of the cooperators fall due each day and the housekeeping runs every minute,
# so this drains even the first year's backlog quickly while keeping one run short.
RECONFIRM_REQUESTS_PER_RUN = 500
MOBILE_RE = re.compile(r"^0[789]0\d{8}$")
# The night a cooperator who opts out of night alerts without quiet hours of their own gets.
NIGHT_HOURS = ("22:00", "07:00")
_TIME = r"(\d{1,2})(?:\s*(?::|時)\s*(\d{1,2})?\s*分?)?"
QUIET_RE = re.compile(rf"^{_TIME}\s*(?:-|~|〜|ー|から|to)\s*{_TIME}$")


@dataclass(frozen=True)
class EndpointSpec:
    """One way to reach a cooperator: channel (line, telegram, email, sms) and address."""

    channel: str
    address: str


def parse_email(text: str) -> str | None:
    """An e-mail address (full-width characters folded), or None."""
    candidate = unicodedata.normalize("NFKC", text).strip()
    return candidate if len(candidate) <= 254 and EMAIL_RE.match(candidate) else None


def parse_mobile(text: str) -> str | None:
    """A Japanese mobile number (070/080/090) in E.164 form for SMS ("+8190…"), or None."""
    digits = national_phone(text)
    return "+81" + digits[1:] if digits is not None and MOBILE_RE.match(digits) else None


def parse_quiet_hours(text: str) -> tuple[str, str] | None:
    """Quiet hours such as 「22:00-07:00」「22時〜7時」「22-7」 as ("22:00", "07:00"), or None."""
    plain = unicodedata.normalize("NFKC", text).strip().lower().replace(" ", "")
    match = QUIET_RE.match(plain)
    if match is None:
        return None
    start_h, start_m, end_h, end_m = (int(group or 0) for group in match.groups())
    if not (0 <= start_h <= 23 and 0 <= end_h <= 24 and 0 <= start_m <= 59 and 0 <= end_m <= 59):
        return None
    start, end = f"{start_h:02d}:{start_m:02d}", f"{end_h % 24:02d}:{end_m:02d}"
    return (start, end) if start != end else None


def cooperator_at(
    session: Session, endpoints: Sequence[EndpointSpec], *, active_only: bool = False
) -> Cooperator | None:
    """The cooperator behind the first of ``endpoints`` that is registered, or None.

    Args:
        session: a session.
        endpoints: candidate (channel, address) pairs, most telling first.
        active_only: only an active cooperator counts.

    Returns:
        The cooperator or None.
    """
    for spec in endpoints:
        endpoint = _endpoint_at(session, spec)
        if endpoint is not None and (endpoint.cooperator.active or not active_only):
            return endpoint.cooperator
    return None


def _endpoint_at(session: Session, spec: EndpointSpec) -> CooperatorEndpoint | None:
    """The stored endpoint ``spec`` names; a phone number matches however either side wrote it."""
    phone = national_phone(spec.address) if spec.channel in PHONE_CHANNELS else None
    if phone is None:
        return session.scalar(select(CooperatorEndpoint).where(CooperatorEndpoint.channel == spec.channel,
                                                               CooperatorEndpoint.address == spec.address))
    # A caller id is E.164 and a number may have been kept as typed: compare national digits,
    # among the few stored numbers that end in the same four digits.
    candidates = session.scalars(select(CooperatorEndpoint).where(
        CooperatorEndpoint.channel == spec.channel, CooperatorEndpoint.address.endswith(phone[-4:]),
    ).order_by(CooperatorEndpoint.id))
    return next((endpoint for endpoint in candidates if national_phone(endpoint.address) == phone), None)


def register_cooperator(
    session: Session,
    *,
    endpoints: Sequence[EndpointSpec],
    town_id: str,
    latitude: float,
    longitude: float,
    quiet_hours: tuple[str, str] | None,
    language: str,
    night_alerts: bool = True,
    now: datetime | None = None,
) -> Cooperator:
    """Register a cooperator, or renew the registration that already owns one of the endpoints.

    Endpoints are ranked in the given order (first = preferred). An endpoint that belonged
    to another cooperator moves to this one: one address, one cooperator.

    Args:
        session: the caller's session.
        endpoints: how to reach them, preferred first; at least one.
        town_id: the town of their area.
        latitude: the town's centroid (never a resident's own position).
        longitude: the town's centroid.
        quiet_hours: ("22:00", "07:00") or None.
        language: the language of their alerts.
        night_alerts: False when they asked for no missing-person alerts at night: their
            quiet hours (``NIGHT_HOURS`` without their own) then hold those too.
        now: the current time (aware); defaults to now.

    Returns:
        The active cooperator with exactly these endpoints.

    Raises:
        ValueError: without any endpoint.
    """
    if not endpoints:
        raise ValueError("a cooperator needs at least one endpoint")
    now = now or utcnow()
    cooperator = cooperator_at(session, endpoints)
    if cooperator is None:
        cooperator = Cooperator()
        session.add(cooperator)
    cooperator.town_id = town_id
    cooperator.latitude, cooperator.longitude = latitude, longitude
    cooperator.quiet_start, cooperator.quiet_end = quiet_hours or (NIGHT_HOURS if not night_alerts else (None, None))
    cooperator.night_alerts = night_alerts
    cooperator.language = language
    cooperator.active = True
    cooperator.consented_at = now
    cooperator.reconfirm_due = now + timedelta(days=settings.cooperator_reconfirm_days)
    session.flush()
    wanted = {(spec.channel, spec.address): priority for priority, spec in enumerate(endpoints)}
    for endpoint in list(cooperator.endpoints):
        if (endpoint.channel, endpoint.address) not in wanted:
            cooperator.endpoints.remove(endpoint)
    session.flush()
    kept = {(endpoint.channel, endpoint.address): endpoint for endpoint in cooperator.endpoints}
    for (channel, address), priority in wanted.items():
        endpoint = kept.get((channel, address)) or session.scalar(
            select(CooperatorEndpoint).where(CooperatorEndpoint.channel == channel,
                                             CooperatorEndpoint.address == address)
        )
        if endpoint is None:
            endpoint = CooperatorEndpoint(channel=channel, address=address)
            session.add(endpoint)
        endpoint.cooperator = cooperator
        endpoint.priority = priority
        endpoint.active = True
    session.flush()
    return cooperator


def unsubscribe_endpoint(session: Session, endpoints: Sequence[EndpointSpec]) -> Cooperator | None:
    """Stop everything for the cooperator behind an endpoint: registration, endpoints, queued messages.

    Args:
        session: the caller's session.
        endpoints: the (channel, address) pairs the request came from.

    Returns:
        The deactivated cooperator, or None when no active cooperator is behind them.
    """
    cooperator = cooperator_at(session, endpoints, active_only=True)
    if cooperator is None:
        return None
    cooperator.active = False
    for endpoint in cooperator.endpoints:
        endpoint.active = False
    session.execute(
        update(OutboxItem)
        .where(OutboxItem.cooperator_id == cooperator.id, OutboxItem.state == OutboxState.queued)
        .values(state=OutboxState.cancelled)
    )
    session.flush()
    return cooperator


def stop_night_alerts(session: Session, endpoints: Sequence[EndpointSpec]) -> Cooperator | None:
    """「夜中の通知は止めてほしい」: no missing-person alerts at night, the registration stays.

    Missing-person alerts otherwise reach cooperators in their quiet hours too; after this
    the quiet hours hold them as well (``NIGHT_HOURS`` for someone who set none).

    Args:
        session: the caller's session.
        endpoints: the (channel, address) pairs the request came from.

    Returns:
        The cooperator, or None when no active cooperator is behind them.
    """
    cooperator = cooperator_at(session, endpoints, active_only=True)
    if cooperator is None:
        return None
    cooperator.night_alerts = False
    if cooperator.quiet_start is None or cooperator.quiet_end is None:
        cooperator.quiet_start, cooperator.quiet_end = NIGHT_HOURS
    session.flush()
    return cooperator


def deactivate_endpoints(session: Session, *, channel: str, address: str) -> None:
    """Stop sending alerts to a chat the resident blocked or left (LINE unfollow, Telegram kicked).

    LINE multicast drops such users silently, so the outbox would count them as sent.
    The cooperator's other endpoints (e-mail, SMS) stay as they are.

    Args:
        session: the caller's session; the caller commits.
        channel: the channel the resident left.
        address: their id on that channel.
    """
    session.execute(update(CooperatorEndpoint).where(
        CooperatorEndpoint.channel == channel, CooperatorEndpoint.address == address).values(active=False))


def due_for_reconfirmation(session: Session, now: datetime | None = None) -> list[Cooperator]:
    """Active cooperators whose yearly re-confirmation is due, oldest first.

    Args:
        session: a session.
        now: the current time (aware); defaults to now.

    Returns:
        The cooperators (send each ``utter_helper_reconfirm_request``).
    """
    now = now or utcnow()
    return list(session.scalars(
        select(Cooperator).where(Cooperator.active.is_(True), Cooperator.reconfirm_due <= now)
        .order_by(Cooperator.reconfirm_due, Cooperator.id)
    ))


def queue_reconfirm_requests(session: Session, now: datetime | None = None) -> int:
    """Queue the yearly request to continue for each due cooperator not yet asked in this cycle.

    Active cooperators whose ``reconfirm_due`` has passed, who were not asked in this
    cycle and have no request waiting get ``utter_helper_reconfirm_request`` as an
    outbox row (``alerts.fanout.enqueue.enqueue_requests``) on their preferred active
    endpoint of a configured channel; the fan-out sends it like an alert message (same
    senders and rate limits, after their quiet hours, on the next endpoint if one is
    gone) and, once it is sent, sets ``reconfirm_requested_at``. A request that failed
    for good leaves that empty, so a later run queues another. At most
    ``RECONFIRM_REQUESTS_PER_RUN`` per call. Wake the senders after committing.

    Args:
        session: the caller's session.
        now: the current time (aware); defaults to now.

    Returns:
        How many requests were queued.
    """
    now = now or utcnow()
    waiting = select(OutboxItem.id).where(
        OutboxItem.cooperator_id == Cooperator.id,
        OutboxItem.kind == RECONFIRM_KIND,
        OutboxItem.state.in_((OutboxState.queued, OutboxState.sending)),
    )
    due = session.scalars(
        select(Cooperator)
        .where(
            Cooperator.active.is_(True),
            Cooperator.reconfirm_due <= now,
            # A request is only sent once the cycle's due date has passed, so one sent
            # before the current reconfirm_due belongs to an earlier cycle.
            or_(Cooperator.reconfirm_requested_at.is_(None),
                Cooperator.reconfirm_requested_at < Cooperator.reconfirm_due),
            ~waiting.exists(),
        )
        .order_by(Cooperator.reconfirm_due, Cooperator.id)
        .limit(RECONFIRM_REQUESTS_PER_RUN)
        .options(selectinload(Cooperator.endpoints))
        # Two schedulers (several servers, or cron beside serve) never ask the same person twice.
        .with_for_update(skip_locked=True)
    ).all()
    channels = configured_channels()
    # Unreachable cooperators (no endpoint left) are not asked: they lapse after the grace
    # period like anyone who does not answer.
    endpoints = [endpoint for cooperator in due
                 if (endpoint := next((e for e in cooperator.endpoints if e.active and e.channel in channels), None))]
    queued = enqueue_requests(session, endpoints, now=now)
    session.flush()
    if queued:
        log.info("re-confirmation requests: %d queued", queued)
    return queued


def reconfirm(cooperator: Cooperator, now: datetime | None = None) -> None:
    """The cooperator said they want to continue: renew consent for another period.

    Args:
        cooperator: the cooperator.
        now: the current time (aware); defaults to now.
    """
    now = now or utcnow()
    cooperator.consented_at = now
    cooperator.reconfirm_due = now + timedelta(days=settings.cooperator_reconfirm_days)


def lapse_unconfirmed(session: Session, now: datetime | None = None) -> int:
    """Deactivate cooperators who let the re-confirmation grace period pass without answering.

    Args:
        session: the caller's session.
        now: the current time (aware); defaults to now.

    Returns:
        How many cooperators were deactivated.
    """
    now = now or utcnow()
    cutoff = now - timedelta(days=settings.cooperator_reconfirm_grace_days)
    lapsed = session.scalars(
        select(Cooperator).where(Cooperator.active.is_(True), Cooperator.reconfirm_due < cutoff)
    ).all()
    for cooperator in lapsed:
        cooperator.active = False
        for endpoint in cooperator.endpoints:
            endpoint.active = False
    session.flush()
    return len(lapsed)
