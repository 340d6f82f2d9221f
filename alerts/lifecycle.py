"""Missing-person alerts: lifecycle and radius schedule.

An alert is born ``pending`` from a missing-person case (``create_from_case``), linked to
the family who reported it (``link_family`` adds anyone the desk names): nothing is sent
until a staff member approves it (``approve``; a setting may auto-approve a pre-registered
person). Approval broadcasts within the first radius around the last-seen point, grown
until it reaches ``alert_min_first_stage`` cooperators (``preview_approval`` says how far,
and whom no configured channel reaches; ``reach_warning`` what to tell the desk when
nobody was reached); the radius then widens on a schedule (``settings.alert_radius_stages_km``,
then the whole city) every ``alert_widen_minutes`` (``widen_due``) or when staff ask
(``widen``), each time to the cooperators not yet alerted. ``found`` and ``cancel`` end
it — from the desk or the family's chat: queued messages are cancelled, a short notice
goes only to those who received the alert, and the missing case leaves its first-contact
deadline. ``alerts.retention`` erases the personal data ``missing_retention_days`` later.

The outbox itself (who gets what, in which order) is ``alerts.fanout.enqueue``'s; this
module decides *when* and *what*. Every function runs in the caller's transaction and
only writes rows: the caller commits, then wakes the senders
(``alerts.fanout.runner.kick``), so importing this module loads no platform SDK.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.cap import record_cap_message
from alerts.fanout.outbox import enqueue_withdrawals
from alerts.media import discard_photo
from alerts.fanout.enqueue import (
    cancel_pending,
    enqueue_alert,
    enqueue_found,
    enqueue_notice,
    first_stage_radius,
    unreachable_within,
)
from bot.models import (
    Alert,
    AlertFamily,
    AlertStatus,
    Case,
    CaseEvent,
    CaseStatus,
    Contact,
    Cooperator,
    RegisteredPerson,
    utcnow,
)
from bot.settings import settings
from routing.cases import InvalidTransition, transition
from routing.snapshot import get_directory

__all__ = [
    "AlertError",
    "Preview",
    "approve",
    "cancel",
    "case_event",
    "create_from_case",
    "found",
    "link_family",
    "preview_approval",
    "radius_for_stage",
    "reach_warning",
    "running_alert_of",
    "widen",
    "widen_due",
]

log = logging.getLogger(__name__)


class AlertError(ValueError):
    """A lifecycle step the alert's current status does not allow."""


# --------------------------------------------------------------------------- stages


def radius_for_stage(stage: int) -> float | None:
    """The broadcast radius of a stage in km; None means the whole city.

    Args:
        stage: 0 for the first broadcast, +1 for each widening.

    Returns:
        ``settings.alert_radius_stages_km[stage]``, or None past the last listed stage.
    """
    stages = settings.alert_radius_stages_km
    return stages[stage] if stage < len(stages) else None


def _centroid(session: Session, town_id: str | None, ward_code: str | None) -> tuple[float, float] | None:
    directory = get_directory(session)
    if town_id and town_id in directory.towns:
        record = directory.towns[town_id]
        return record.latitude, record.longitude
    towns = [record for record in directory.towns.values() if record.option.ward_code == ward_code]
    if towns:
        return (sum(t.latitude for t in towns) / len(towns), sum(t.longitude for t in towns) / len(towns))
    return None


def case_event(session: Session, alert: Alert, kind: str, actor: str, now: datetime, **details: Any) -> None:
    """Note a step of the alert on its missing case's history (staff read it there)."""
    if alert.case_id is not None:
        session.add(CaseEvent(case_id=alert.case_id, kind=kind, actor=actor, created_at=now,
                              details={"alert_id": alert.id, **details}))


# --------------------------------------------------------------------------- lifecycle


def create_from_case(
    session: Session,
    case: Case,
    *,
    person: RegisteredPerson | None = None,
    point: tuple[float, float] | None = None,
    last_seen_at: datetime | None = None,
    now: datetime | None = None,
) -> Alert:
    """A pending alert for a missing-person case; nothing is sent until ``approve``.

    Args:
        session: the caller's session.
        case: the ``missing`` case (its details hold who, clothing, last seen where/when).
        person: the pre-registered person the family picked, if any (description and
            photo reference are copied to the alert; the registration itself is untouched).
        point: where the person was last seen, when the family sent a location; else the
            centroid of the case's town (or ward).
        last_seen_at: when they were last seen, if the family's words said it clearly.
        now: the current time (aware); defaults to now.

    Returns:
        The new alert (flushed, so it has an id).
    """
    now = now or utcnow()
    point = point or _centroid(session, case.town_id, case.ward)
    description = case.details.get("who") or (person.description if person else None)
    alert = Alert(
        case_id=case.id,
        person_id=person.id if person else None,
        status=AlertStatus.pending,
        ward=case.ward,
        town_id=case.town_id,
        latitude=point[0] if point else None,
        longitude=point[1] if point else None,
        last_seen_at=last_seen_at,
        description=description,
        clothing=case.details.get("clothing"),
        photo_ref=person.photo_ref if person else None,
        radius_km=radius_for_stage(0),
        stage=0,
        created_at=now,
    )
    session.add(alert)
    session.flush()
    if case.reporter_contact_id is not None:
        # The family who reported it: forwarded sightings reach them in their chat.
        session.add(AlertFamily(alert_id=alert.id, contact_id=case.reporter_contact_id, role="reporter",
                                added_by=case.channel, created_at=now))
    case_event(session, alert, "alert_created", case.channel or "system", now, pre_registered=person is not None)
    session.flush()
    return alert


def running_alert_of(session: Session, contact_id: int) -> Alert | None:
    """The newest alert not yet ended (pending or active) that this contact is family of."""
    return session.scalar(
        select(Alert).join(AlertFamily, AlertFamily.alert_id == Alert.id)
        .where(AlertFamily.contact_id == contact_id, Alert.status.in_((AlertStatus.pending, AlertStatus.active)))
        .order_by(Alert.id.desc()).limit(1))


def link_family(session: Session, alert: Alert, *, channel: str, user_id: str, by: str,
                now: datetime | None = None) -> AlertFamily:
    """Link someone the desk names (another family member) to an alert, by their chat.

    Args:
        session: the caller's session.
        alert: the alert, not yet purged.
        channel: ``line`` or ``telegram`` (the chat they will be reached on).
        user_id: their user id on that channel (LINE user id, Telegram chat id).
        by: the staff member who named them.
        now: the current time (aware); defaults to now.

    Returns:
        The link (the existing one when they were linked already).

    Raises:
        AlertError: when the alert's personal data has been purged.
    """
    now = now or utcnow()
    if alert.purged:
        raise AlertError(f"alert {alert.id} has been purged")
    contact = session.scalar(select(Contact).where(Contact.channel == channel, Contact.channel_user_id == user_id))
    if contact is None:
        contact = Contact(channel=channel, channel_user_id=user_id, created_at=now)
        session.add(contact)
        session.flush()
    link = session.scalar(select(AlertFamily).where(AlertFamily.alert_id == alert.id,
                                                    AlertFamily.contact_id == contact.id))
    if link is None:
        link = AlertFamily(alert_id=alert.id, contact_id=contact.id, role="named", added_by=by, created_at=now)
        session.add(link)
        case_event(session, alert, "alert_family_linked", by, now, channel=channel)
        session.flush()
    return link


@dataclass(frozen=True)
class Preview:
    """What approving a pending alert now would do: its first radius, whom it reaches, whom it skips."""

    radius_km: float | None
    # Cooperators inside that radius reachable only on channels this installation has no settings for.
    unreachable: int


def preview_approval(session: Session, alert: Alert) -> Preview:
    """The first stage an approval would use (grown to ``alert_min_first_stage`` cooperators, at
    most ``alert_first_stage_max_km``) and how many cooperators in it no configured channel reaches."""
    radius = first_stage_radius(session, alert, start_km=radius_for_stage(0), minimum=settings.alert_min_first_stage,
                                most_km=settings.alert_first_stage_max_km)
    return Preview(radius, unreachable_within(session, alert, radius))


def approve(session: Session, alert: Alert, *, by: str, now: datetime | None = None) -> int:
    """A staff decision: broadcast the alert within the first radius, nearest cooperators first.

    The first radius is ``alert_radius_stages_km[0]``, grown until it reaches at least
    ``alert_min_first_stage`` cooperators (at most ``alert_first_stage_max_km``): an alert
    must reach people from the first minute, not after the first widening.

    Args:
        session: the caller's session (load the alert with ``with_for_update`` so two
            staff members cannot approve it twice).
        alert: a pending alert.
        by: who decided (a staff username, or ``auto`` for the auto-approval setting).
        now: the current time (aware); defaults to now.

    Returns:
        The number of outbox rows queued: one per cooperator reached.

    Raises:
        AlertError: when the alert is not pending.
    """
    now = now or utcnow()
    if alert.status != AlertStatus.pending:
        raise AlertError(f"alert {alert.id} is {alert.status.value}, not pending")
    radius = preview_approval(session, alert).radius_km
    alert.status = AlertStatus.active
    alert.approved_by, alert.approved_at = by, now
    alert.stage, alert.radius_km = 0, radius
    alert.next_widen_at = now + timedelta(minutes=settings.alert_widen_minutes) if alert.radius_km is not None else None
    session.flush()
    record_cap_message(session, alert, now=now)
    queued = enqueue_alert(session, alert, kind="alert", now=now)
    case_event(session, alert, "alert_approved", by, now, radius_km=alert.radius_km, queued=queued)
    session.flush()
    log.info("alert %s approved by %s: %d messages queued", alert.id, by, queued)
    return queued


def reach_warning(session: Session, alert: Alert, queued: int) -> str | None:
    """Why an approved alert reached nobody (for the desk: CLI and staff API); None when it reached someone."""
    if queued:
        return None
    within = "in the whole city" if alert.radius_km is None else f"within {alert.radius_km:g} km"
    registered = session.scalar(select(func.count()).select_from(Cooperator).where(Cooperator.active.is_(True)))
    if not registered:
        return "no cooperators are registered at all: nobody receives this alert."
    return (f"none of the {registered} registered cooperators is {within} of the last-seen place "
            "(or reachable on a configured channel); the alert widens on schedule, "
            f"or now with `tsunagu alert widen {alert.id}`.")


def widen(session: Session, alert: Alert, *, by: str, now: datetime | None = None) -> int:
    """Move an active alert to its next radius stage and alert the cooperators newly inside it.

    Stages no wider than the current radius are passed over (a first stage grown to reach
    enough cooperators may already cover them).

    Args:
        session: the caller's session.
        alert: an active alert that is not yet city-wide.
        by: who widened it (a staff username, or ``schedule``).
        now: the current time (aware); defaults to now.

    Returns:
        The number of outbox rows queued (``update`` messages).

    Raises:
        AlertError: when the alert is not active or already covers the whole city.
    """
    now = now or utcnow()
    if alert.status != AlertStatus.active:
        raise AlertError(f"alert {alert.id} is {alert.status.value}, not active")
    if alert.radius_km is None:
        raise AlertError(f"alert {alert.id} already covers the whole city")
    current = alert.radius_km
    alert.stage += 1
    while (radius := radius_for_stage(alert.stage)) is not None and radius <= current:
        alert.stage += 1
    alert.radius_km = radius
    alert.next_widen_at = now + timedelta(minutes=settings.alert_widen_minutes) if alert.radius_km is not None else None
    session.flush()
    record_cap_message(session, alert, now=now)
    queued = enqueue_alert(session, alert, kind="update", now=now)
    case_event(session, alert, "alert_widened", by, now, stage=alert.stage, radius_km=alert.radius_km, queued=queued)
    session.flush()
    log.info("alert %s widened to stage %d by %s: %d messages queued", alert.id, alert.stage, by, queued)
    return queued


def widen_due(session: Session, now: datetime | None = None) -> list[int]:
    """Widen every active alert whose next stage is due (run every minute by a scheduler).

    Rows are locked (skipped when another worker holds them), so two schedulers never
    widen the same alert twice.

    Args:
        session: the caller's session.
        now: the current time (aware); defaults to now.

    Returns:
        The ids of the alerts widened.
    """
    now = now or utcnow()
    due = session.scalars(
        select(Alert)
        .where(Alert.status == AlertStatus.active, Alert.next_widen_at.is_not(None), Alert.next_widen_at <= now)
        .order_by(Alert.next_widen_at)
        .with_for_update(skip_locked=True)
    ).all()
    for alert in due:
        widen(session, alert, by="schedule", now=now)
    return [alert.id for alert in due]


def _end(session: Session, alert: Alert, status: AlertStatus, by: str, now: datetime) -> None:
    if alert.status not in (AlertStatus.pending, AlertStatus.active):
        raise AlertError(f"alert {alert.id} has already ended ({alert.status.value})")
    alert.status = status
    alert.ended_at = now
    alert.next_widen_at = None
    alert.purge_after = now + timedelta(days=settings.missing_retention_days)
    _move_case_on(session, alert, status, by, now)
    discard_photo(session, alert.id)
    if alert.approved_at is not None:  # a pending alert was never issued: nothing to cancel
        record_cap_message(session, alert, now=now)


def _move_case_on(session: Session, alert: Alert, status: AlertStatus, by: str, now: datetime) -> None:
    """The search is over: the missing case becomes ``found`` or ``cancelled`` as its alert did.

    That ends its first-contact deadline but not the case: the family's last words still reach
    the desk, and staff close it once they have spoken to the family (or the purge does).
    """
    case = session.get(Case, alert.case_id) if alert.case_id is not None else None
    ending = CaseStatus.found if status == AlertStatus.found else CaseStatus.cancelled
    if case is None or case.status in (ending, CaseStatus.closed):
        return
    try:
        transition(session, case, ending, actor=by, reason=f"alert {status.value}", now=now)
    except InvalidTransition:  # found after a cancel (or the reverse): the first ending stands
        log.info("case %s of alert %s was not moved on", case.id, alert.id)


def found(session: Session, alert: Alert, *, by: str, now: datetime | None = None) -> int:
    """The person was found: stop queued messages, thank those who received the alert.

    Args:
        session: the caller's session.
        alert: a pending or active alert.
        by: the staff username.
        now: the current time (aware); defaults to now.

    Returns:
        The number of messages queued: a "found" notice to each cooperator who was sent the
        alert, and a withdrawal of the alert where the platform allows deleting it (Telegram).

    Raises:
        AlertError: when the alert has already ended.
    """
    now = now or utcnow()
    _end(session, alert, AlertStatus.found, by, now)
    alert.stats = {**alert.stats, "minutes_to_found": round((now - alert.created_at).total_seconds() / 60)}
    session.flush()
    queued = enqueue_found(session, alert, now=now)
    queued += enqueue_withdrawals(session, alert.id, now=now)
    case_event(session, alert, "alert_found", by, now, queued=queued)
    session.flush()
    log.info("alert %s found (by %s): %d thank-you messages queued", alert.id, by, queued)
    return queued


def cancel(session: Session, alert: Alert, *, by: str, now: datetime | None = None) -> int:
    """Withdraw an alert (a mistake, or the person was never missing).

    Queued messages are cancelled; those who already received the alert (or receive it
    while this runs) get a short notice that it was withdrawn.

    Args:
        session: the caller's session.
        alert: a pending or active alert.
        by: the staff username.
        now: the current time (aware); defaults to now.

    Returns:
        The number of messages queued: cancel notices, and withdrawals where the platform
        allows deleting the alert (Telegram).

    Raises:
        AlertError: when the alert has already ended.
    """
    now = now or utcnow()
    _end(session, alert, AlertStatus.cancelled, by, now)
    session.flush()
    stopped = cancel_pending(session, alert.id)
    queued = enqueue_notice(session, alert, "cancelled", now=now)
    queued += enqueue_withdrawals(session, alert.id, now=now)
    case_event(session, alert, "alert_cancelled", by, now, stopped=stopped, queued=queued)
    session.flush()
    log.info("alert %s cancelled by %s: %d stopped, %d notices queued", alert.id, by, stopped, queued)
    return queued
