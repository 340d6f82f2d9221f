"""Retention of missing-person alerts: erase the personal data, keep anonymous statistics.

``missing_retention_days`` after an alert ended (``alert.purge_after``),
``purge_expired_alerts`` (run by ``bot.privacy.purge_expired``) clears what describes
the person and those who saw them, and folds the alert's message and sighting counts
into ``alert.stats``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.models import Alert, Case, Conversation, Message, OutboxItem, OutboxState, Sighting, utcnow

__all__ = ["PERSONAL_CASE_DETAILS", "purge_expired_alerts"]

log = logging.getLogger(__name__)

# The missing case's details that describe the person; erased with the alert.
PERSONAL_CASE_DETAILS = ("first_report", "who", "last_seen_where", "last_seen_when", "clothing")


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


def purge_expired_alerts(session: Session, now: datetime | None = None) -> int:
    """Erase the personal data of alerts past their retention, keeping anonymous statistics.

    Cleared: the alert's description, clothing, photo reference, last-seen point, town
    and time, and its link to the pre-registration (the registration itself stays until
    the family deletes it); every sighting's text, place and photo; the person-describing
    details of the missing case and its sighting events; and the texts of the
    conversations in which the report and the sightings were given.

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
        alert.stats = _statistics(session, alert)
        conversation_ids: set[int] = set()
        if alert.case_id is not None:
            case = session.get(Case, alert.case_id)
            if case is not None:
                if case.details.get("conversation_id"):
                    conversation_ids.add(case.details["conversation_id"])
                case.details = {k: v for k, v in case.details.items() if k not in PERSONAL_CASE_DETAILS}
                for event in case.events:
                    if event.kind == "sighting":
                        if event.details.get("conversation_id"):
                            conversation_ids.add(event.details["conversation_id"])
                        event.details = {"alert_id": alert.id, "sighting_id": event.details.get("sighting_id"),
                                         "group_id": event.details.get("group_id")}
                    elif event.kind == "details_added":  # the family's later words about the person
                        event.details = {}
        session.execute(
            update(Sighting).where(Sighting.alert_id == alert.id)
            .values(text=None, town_id=None, latitude=None, longitude=None, photo_ref=None, contact_id=None)
        )
        if conversation_ids:
            session.execute(update(Message).where(Message.conversation_id.in_(conversation_ids))
                            .values(text=None, payload=None))
            session.execute(update(Conversation).where(Conversation.id.in_(conversation_ids)).values(slots={}))
        alert.description = alert.clothing = alert.photo_ref = None
        alert.latitude = alert.longitude = None
        alert.town_id = None
        alert.last_seen_at = None
        alert.person_id = None
        alert.purged = True
    session.flush()
    if alerts:
        log.info("purged %d ended alerts", len(alerts))
    return len(alerts)
