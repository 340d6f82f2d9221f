"""Sightings of a missing person, and the alerts staff may read.

A cooperator's sighting is stored at once and noted on the alert's case, so the staff
member following the alert sees it without waiting; sightings of one town within
``sighting_group_minutes`` share a group. Staff see only the alerts of their own
counters' cases (``alerts_for_counters``). A sighting by the alert's button is taken
only from a chat the alert was sent to (``alert_was_sent_to``).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.lifecycle import case_event
from bot.models import Alert, Case, OutboxItem, OutboxState, Sighting, utcnow
from bot.settings import settings

__all__ = ["alert_was_sent_to", "alerts_for_counters", "record_sighting"]

log = logging.getLogger(__name__)

# Outbox states in which the alert has gone (or is going) out to the address.
_SENT_STATES = (OutboxState.sent, OutboxState.sending)


def alert_was_sent_to(session: Session, alert_id: int, *, channel: str, address: str) -> bool:
    """Whether this alert was sent (or is being sent) to this channel address: its outbox
    row, an alert or a widening, records who was sent what."""
    query = select(OutboxItem.id).where(
        OutboxItem.alert_id == alert_id,
        OutboxItem.channel == channel,
        OutboxItem.address == address,
        OutboxItem.state.in_(_SENT_STATES),
    ).limit(1)
    return session.scalar(query) is not None


def record_sighting(
    session: Session,
    alert: Alert,
    *,
    contact_id: int | None,
    text: str | None,
    town_id: str | None,
    point: tuple[float, float] | None,
    seen_at: datetime | None,
    photo_ref: str | None,
    where_label: str,
    when_text: str | None,
    channel: str,
    conversation_id: int | None,
    now: datetime | None = None,
) -> Sighting:
    """Store a sighting and tell the alert's case at once (a ``sighting`` case event).

    Sightings of the same alert in the same town within ``sighting_group_minutes`` of
    each other share a ``group_id`` (the first one's id), so staff see one place and
    moment reported several times as one.

    Args:
        session: the caller's session.
        alert: the active alert the sighting answers.
        contact_id: who reported it.
        text: the reporter's own words (a note, or a time we could not read).
        town_id: the town where the person was seen, if known.
        point: the exact position, when a location was sent.
        seen_at: when they were seen, if known.
        photo_ref: a media reference of a photo, if one was sent.
        where_label: the place in words, for staff.
        when_text: the reporter's words for the time.
        channel: the channel it came in on.
        conversation_id: the conversation it was given in (erased with the alert).
        now: the current time (aware); defaults to now.

    Returns:
        The sighting (flushed).
    """
    now = now or utcnow()
    sighting = Sighting(alert_id=alert.id, contact_id=contact_id, text=text, town_id=town_id,
                        latitude=point[0] if point else None, longitude=point[1] if point else None,
                        seen_at=seen_at, photo_ref=photo_ref, created_at=now)
    session.add(sighting)
    session.flush()
    sighting.group_id = sighting.id
    if town_id is not None:
        window = timedelta(minutes=settings.sighting_group_minutes)
        moment = seen_at or now
        for earlier in session.scalars(
            select(Sighting)
            .where(Sighting.alert_id == alert.id, Sighting.town_id == town_id, Sighting.id != sighting.id)
            .order_by(Sighting.id)
        ):
            if abs((earlier.seen_at or earlier.created_at) - moment) <= window:
                sighting.group_id = earlier.group_id or earlier.id
                break
    case_event(session, alert, "sighting", channel, now, sighting_id=sighting.id, group_id=sighting.group_id,
           where=where_label, when=when_text, seen_at=seen_at.isoformat() if seen_at else None,
           has_photo=photo_ref is not None, conversation_id=conversation_id)
    session.flush()
    log.info("sighting %s recorded for alert %s (group %s)", sighting.id, alert.id, sighting.group_id)
    return sighting


def alerts_for_counters(session: Session, counter_ids: Collection[str], *, limit: int = 200) -> list[Alert]:
    """The alerts of the cases of some counters, newest first (staff see only their own).

    Args:
        session: a session.
        counter_ids: the staff member's counters; empty means none.
        limit: page size.

    Returns:
        The alerts.
    """
    if not counter_ids:
        return []
    return list(session.scalars(
        select(Alert).join(Case, Case.id == Alert.case_id)
        .where(Case.counter_id.in_(list(counter_ids)))
        .order_by(Alert.id.desc()).limit(limit)
    ))
