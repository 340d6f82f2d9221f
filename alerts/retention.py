"""Retention of missing-person alerts: erase the personal data, keep anonymous statistics.

``missing_retention_days`` after an alert ended (``alert.purge_after``),
``purge_expired_alerts`` (run every minute by ``bot.housekeeping`` through
``bot.privacy.purge_expired``) clears everything that describes the person and everything
the family gave: the alert's description, public fields, photo, last-seen point, town and
time, its CAP messages' content; the missing case's details (the family's call-back phone
included) and what its events copied of them; the caller's number of a family who
reported by phone (the contact's id on the phone line), unless another open case or alert
of theirs still needs it; every message the family exchanged with us
from the start of the report until the purge — texts and payloads, so a location sent in
another conversation does not survive — and their conversations' slots; the family's
links to the alert; the sightings' words, places, photos and finders. The alert's message
and sighting counts are folded into ``alert.stats`` first.

The purge is idempotent: each statement only touches rows that still hold something, so
running it again (or after ``bot.privacy`` erased old message texts) rewrites nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Text, cast, delete, func, or_, select, update
from sqlalchemy.orm import Session

from bot.models import (
    Alert,
    AlertFamily,
    CapMessage,
    Case,
    CaseStatus,
    Contact,
    Conversation,
    Message,
    OutboxItem,
    OutboxState,
    Sighting,
    utcnow,
)
from alerts.media import discard_photo
from routing.cases import transition

__all__ = ["ERASED_PREFIX", "KEPT_EVENT_DETAILS", "purge_alert", "purge_expired_alerts"]

log = logging.getLogger(__name__)

# What a case event of a purged alert keeps: ids, states and counts, never words, places or
# numbers (the "created" event copies the case's details, the family's phone among them).
KEPT_EVENT_DETAILS = frozenset({
    "alert_id", "sighting_id", "group_id", "case_id", "from", "to", "queued", "stage", "radius_km",
    "pre_registered", "service",
})


# Why a missing case was closed by the purge (kept on the case: it says nothing about the person).
PURGED_REASON = "personal data purged after the search ended"
# Channels whose user id is a phone number.
PHONE_CHANNELS = ("voice", "sms")
# A phone contact's number is replaced by this and the contact's id (unique, and no number).
ERASED_PREFIX = "erased:"


def _statistics(session: Session, alert: Alert) -> dict[str, Any]:
    by_state: dict[str, int] = {}
    for kind, state, number in session.execute(
        select(OutboxItem.kind, OutboxItem.state, func.count())
        .where(OutboxItem.alert_id == alert.id).group_by(OutboxItem.kind, OutboxItem.state)
    ):
        key = f"{kind}_{OutboxState(state).value}"
        by_state[key] = by_state.get(key, 0) + number
    sightings = session.scalar(select(func.count()).select_from(Sighting).where(Sighting.alert_id == alert.id)) or 0
    groups = session.scalar(
        select(func.count(func.distinct(Sighting.group_id))).where(Sighting.alert_id == alert.id)
    ) or 0
    stats: dict[str, Any] = {
        "outcome": alert.status.value,
        "pre_registered": alert.person_id is not None,
        "stage_reached": alert.stage,
        "messages": by_state,
        "sightings": sightings,
        "sighting_groups": groups,
    }
    if alert.approved_at is not None:
        stats["minutes_to_approval"] = round((alert.approved_at - alert.created_at).total_seconds() / 60)
    if alert.ended_at is not None:
        stats["minutes_active"] = round((alert.ended_at - alert.created_at).total_seconds() / 60)
    return {**alert.stats, **stats}


def _not_empty(column: Any) -> ColumnElement[bool]:
    """A JSON column that still holds something (not NULL, not {})."""
    return column.is_not(None) & (cast(column, Text) != "{}") & (cast(column, Text) != "null")


def _erase_case(session: Session, case: Case) -> tuple[set[int], int]:
    """Clear the case's details, its reporter link and what its events say; returns the
    conversations the case names and how many events were cleared."""
    conversation_ids = {case.details["conversation_id"]} if case.details.get("conversation_id") else set()
    if case.details:
        case.details = {}
    case.reporter_contact_id = None
    case.household_key = None
    cleared = 0
    for event in case.events:
        if event.kind == "sighting" and event.details.get("conversation_id"):
            conversation_ids.add(event.details["conversation_id"])
        kept = {key: value for key, value in event.details.items() if key in KEPT_EVENT_DETAILS}
        if kept != event.details:
            event.details = kept
            cleared += 1
    return conversation_ids, cleared


def _erase_messages(session: Session, contact_ids: Collection[int], conversation_ids: Collection[int],
                    since: datetime | None, now: datetime) -> int:
    """Texts and payloads (locations, photos) of the family's messages since the report, and of
    the conversations the case and its sightings came from; only rows that still hold some."""
    whose = [Message.conversation_id.in_(conversation_ids)] if conversation_ids else []
    if contact_ids and since is not None:
        whose.append(Message.contact_id.in_(contact_ids) & (Message.created_at >= since)
                     & (Message.created_at <= now))
    if not whose:
        return 0
    return session.execute(
        update(Message).where(or_(*whose), Message.text.is_not(None) | _not_empty(Message.payload))
        .values(text=None, payload=None).execution_options(synchronize_session=False)
    ).rowcount


def _erase_conversations(session: Session, contact_ids: Collection[int], conversation_ids: Collection[int],
                         since: datetime | None) -> int:
    whose = [Conversation.id.in_(conversation_ids)] if conversation_ids else []
    if contact_ids and since is not None:
        whose.append(Conversation.contact_id.in_(contact_ids) & (Conversation.updated_at >= since))
    if not whose:
        return 0
    return session.execute(
        update(Conversation).where(or_(*whose), _not_empty(Conversation.slots))
        .values(slots={}).execution_options(synchronize_session=False)
    ).rowcount


def _erase_phone_numbers(session: Session, contact_ids: Collection[int], alert: Alert) -> int:
    """Replace the number of each family contact on the phone line whose number nothing open still needs."""
    if not contact_ids:
        return 0
    erased = 0
    for contact in session.scalars(select(Contact).where(
            Contact.id.in_(contact_ids), Contact.channel.in_(PHONE_CHANNELS),
            ~Contact.channel_user_id.startswith(ERASED_PREFIX))):
        open_case = select(Case.id).where(Case.reporter_contact_id == contact.id, Case.id != alert.case_id,
                                          Case.status != CaseStatus.closed)
        other_alert = select(AlertFamily.id).join(Alert, Alert.id == AlertFamily.alert_id).where(
            AlertFamily.contact_id == contact.id, Alert.id != alert.id, Alert.purged.is_(False))
        if session.scalar(select(open_case.exists())) or session.scalar(select(other_alert.exists())):
            continue
        contact.channel_user_id = f"{ERASED_PREFIX}{contact.id}"
        erased += 1
    return erased


def purge_alert(session: Session, alert: Alert, now: datetime | None = None) -> dict[str, int]:
    """Erase the personal data of one alert and what the family gave, keeping anonymous statistics.

    Args:
        session: the caller's session.
        alert: the alert (ended; its retention need not have passed: the caller decides).
        now: the current time (aware); defaults to now.

    Returns:
        How many rows of each kind were erased (0 for those already erased).
    """
    now = now or utcnow()
    if not alert.purged:
        alert.stats = _statistics(session, alert)
    case = session.get(Case, alert.case_id) if alert.case_id is not None else None
    family = set(session.scalars(select(AlertFamily.contact_id).where(AlertFamily.alert_id == alert.id)))
    conversation_ids: set[int] = set()
    events = 0
    since: datetime | None = alert.created_at
    if case is not None:
        if case.status != CaseStatus.closed:
            # The search ended and nothing of it is kept: the case is done (closed before its
            # events are cleared, so a second purge finds nothing to rewrite).
            transition(session, case, CaseStatus.closed, actor="retention", reason=PURGED_REASON, now=now)
        if case.reporter_contact_id is not None:
            family.add(case.reporter_contact_id)
        conversation_ids, events = _erase_case(session, case)
        since = min(since, case.created_at)
    started = session.scalar(select(func.min(Conversation.started_at)).where(Conversation.id.in_(conversation_ids))) \
        if conversation_ids else None
    if started is not None:
        since = min(since, started)
    counts = {
        "case events": events,
        "messages": _erase_messages(session, family, conversation_ids, since, now),
        "conversations": _erase_conversations(session, family, conversation_ids, since),
        "phone numbers": _erase_phone_numbers(session, family, alert),
        "family links": session.execute(delete(AlertFamily).where(AlertFamily.alert_id == alert.id)).rowcount,
        # Sightings forwarded to the family's chat or the police: the rows hold their addresses.
        "forwarded sightings": session.execute(
            delete(OutboxItem).where(OutboxItem.alert_id == alert.id, OutboxItem.cooperator_id.is_(None))
        ).rowcount,
        "sightings": session.execute(
            update(Sighting).where(Sighting.alert_id == alert.id, or_(
                Sighting.text.is_not(None), Sighting.town_id.is_not(None), Sighting.latitude.is_not(None),
                Sighting.longitude.is_not(None), Sighting.photo_ref.is_not(None), Sighting.contact_id.is_not(None)))
            .values(text=None, town_id=None, latitude=None, longitude=None, photo_ref=None, contact_id=None)
            .execution_options(synchronize_session=False)
        ).rowcount,
        "cap messages": session.execute(
            update(CapMessage).where(CapMessage.alert_id == alert.id, CapMessage.xml.is_not(None)).values(xml=None)
            .execution_options(synchronize_session=False)
        ).rowcount,
    }
    counts["photos"] = discard_photo(session, alert.id)
    alert.description = alert.clothing = alert.photo_ref = None
    alert.latitude = alert.longitude = None
    alert.town_id = None
    alert.last_seen_at = None
    alert.person_id = None
    alert.public_fields = {}
    alert.share_identity = False
    alert.purged = True
    session.flush()
    return counts


def purge_expired_alerts(session: Session, now: datetime | None = None) -> int:
    """Purge every alert past its retention (``purge_after``) that is not purged yet (see ``purge_alert``).

    Args:
        session: the caller's session.
        now: the current time (aware); defaults to now.

    Returns:
        The number of alerts purged.
    """
    now = now or utcnow()
    alerts = session.scalars(
        select(Alert).where(Alert.purged.is_(False), Alert.purge_after.is_not(None), Alert.purge_after <= now)
        .with_for_update(skip_locked=True)
    ).all()
    for alert in alerts:
        counts = purge_alert(session, alert, now)
        log.info("purged alert %s: %s", alert.id, counts)
    return len(alerts)
