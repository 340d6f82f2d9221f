"""Missing-person alerts: lifecycle, radius schedule, message texts, purge and CAP 1.2 export.

An alert is born ``pending`` from a missing-person case (``create_from_case``): nothing
is sent until a staff member approves it (``approve``; a setting may auto-approve a
pre-registered person). Approval broadcasts within the first radius around the
last-seen point; the radius then widens on a schedule (``settings.alert_radius_stages_km``,
then the whole city) every ``alert_widen_minutes`` (``widen_due``) or when staff ask
(``widen``), each time to the cooperators not yet alerted. ``found`` and ``cancel`` end
it: queued messages are cancelled and a short notice goes only to those who received
the alert. ``retention`` days later ``purge_expired_alerts`` erases the description,
clothing, photo reference, last-seen point and sightings, leaving anonymous statistics.

The outbox itself (who gets what, in which order, at what rate) is ``alerts.fanout.enqueue``'s;
this module decides *when* and *what*. Every function runs in the caller's transaction;
call ``alerts.fanout.enqueue.kick()`` after committing.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any, Literal
from xml.etree import ElementTree as ET

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, object_session

from bot.domain import Domain
from bot.models import (
    Alert,
    AlertStatus,
    Case,
    CaseEvent,
    Conversation,
    Message,
    OutboxItem,
    OutboxState,
    RegisteredPerson,
    Sighting,
    utcnow,
)
from bot.settings import settings
from routing.snapshot import get_directory

__all__ = [
    "CAP_NAMESPACE",
    "AlertError",
    "alerts_for_counters",
    "approve",
    "cancel",
    "cap_msg_type",
    "create_from_case",
    "found",
    "last_seen_label",
    "purge_expired_alerts",
    "radius_for_stage",
    "record_sighting",
    "render_alert_message",
    "to_cap",
    "widen",
    "widen_due",
]

log = logging.getLogger(__name__)

# The response each outbox message kind is rendered from.
RESPONSES: dict[str, str] = {
    "alert": "utter_alert_broadcast",
    "update": "utter_alert_update",
    "found": "utter_alert_found",
    "cancelled": "utter_alert_cancelled",
}
CAP_NAMESPACE = "urn:oasis:names:tc:emergency:cap:1.2"
CapMsgType = Literal["Alert", "Update", "Cancel"]
# Who may see a CAP export of an alert: it describes a real person.
CAP_RESTRICTION = "Registered missing-person alert cooperators and public agencies only"
# The missing case's details that describe the person; erased with the alert.
PERSONAL_CASE_DETAILS = ("first_report", "who", "last_seen_where", "last_seen_when", "clothing")


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


def _event(session: Session, alert: Alert, kind: str, actor: str, now: datetime, **details: Any) -> None:
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
    _event(session, alert, "alert_created", case.channel or "system", now, pre_registered=person is not None)
    session.flush()
    return alert


def approve(session: Session, alert: Alert, *, by: str, now: datetime | None = None) -> int:
    """A staff decision: broadcast the alert within the first radius, nearest cooperators first.

    Args:
        session: the caller's session (load the alert with ``with_for_update`` so two
            staff members cannot approve it twice).
        alert: a pending alert.
        by: who decided (a staff username, or ``auto`` for the auto-approval setting).
        now: the current time (aware); defaults to now.

    Returns:
        The number of outbox rows queued.

    Raises:
        AlertError: when the alert is not pending.
    """
    from alerts.fanout import enqueue as fanout  # here, not at the top: alerts.fanout.enqueue renders with this module

    now = now or utcnow()
    if alert.status != AlertStatus.pending:
        raise AlertError(f"alert {alert.id} is {alert.status.value}, not pending")
    alert.status = AlertStatus.active
    alert.approved_by, alert.approved_at = by, now
    alert.stage, alert.radius_km = 0, radius_for_stage(0)
    alert.next_widen_at = now + timedelta(minutes=settings.alert_widen_minutes) if alert.radius_km is not None else None
    session.flush()
    queued = fanout.enqueue_alert(session, alert, kind="alert", now=now)
    _event(session, alert, "alert_approved", by, now, radius_km=alert.radius_km, queued=queued)
    session.flush()
    log.info("alert %s approved by %s: %d messages queued", alert.id, by, queued)
    return queued


def widen(session: Session, alert: Alert, *, by: str, now: datetime | None = None) -> int:
    """Move an active alert to its next radius stage and alert the cooperators newly inside it.

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
    from alerts.fanout import enqueue as fanout  # here, not at the top: alerts.fanout.enqueue renders with this module

    now = now or utcnow()
    if alert.status != AlertStatus.active:
        raise AlertError(f"alert {alert.id} is {alert.status.value}, not active")
    if alert.radius_km is None:
        raise AlertError(f"alert {alert.id} already covers the whole city")
    alert.stage += 1
    alert.radius_km = radius_for_stage(alert.stage)
    alert.next_widen_at = now + timedelta(minutes=settings.alert_widen_minutes) if alert.radius_km is not None else None
    session.flush()
    queued = fanout.enqueue_alert(session, alert, kind="update", now=now)
    _event(session, alert, "alert_widened", by, now, stage=alert.stage, radius_km=alert.radius_km, queued=queued)
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


def _end(alert: Alert, status: AlertStatus, now: datetime) -> None:
    if alert.status not in (AlertStatus.pending, AlertStatus.active):
        raise AlertError(f"alert {alert.id} has already ended ({alert.status.value})")
    alert.status = status
    alert.ended_at = now
    alert.next_widen_at = None
    alert.purge_after = now + timedelta(days=settings.missing_retention_days)


def found(session: Session, alert: Alert, *, by: str, now: datetime | None = None) -> int:
    """The person was found: stop queued messages, thank those who received the alert.

    Args:
        session: the caller's session.
        alert: a pending or active alert.
        by: the staff username.
        now: the current time (aware); defaults to now.

    Returns:
        The number of "found" messages queued (one per cooperator who was sent the alert).

    Raises:
        AlertError: when the alert has already ended.
    """
    from alerts.fanout import enqueue as fanout  # here, not at the top: alerts.fanout.enqueue renders with this module

    now = now or utcnow()
    _end(alert, AlertStatus.found, now)
    alert.stats = {**alert.stats, "minutes_to_found": round((now - alert.created_at).total_seconds() / 60)}
    session.flush()
    queued = fanout.enqueue_found(session, alert, now=now)
    _event(session, alert, "alert_found", by, now, queued=queued)
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
        The number of cancel notices queued.

    Raises:
        AlertError: when the alert has already ended.
    """
    from alerts.fanout import enqueue as fanout  # here, not at the top: alerts.fanout.enqueue renders with this module

    now = now or utcnow()
    _end(alert, AlertStatus.cancelled, now)
    session.flush()
    stopped = fanout.cancel_pending(session, alert.id)
    queued = fanout.enqueue_notice(session, alert, "cancelled", now=now)
    _event(session, alert, "alert_cancelled", by, now, stopped=stopped, queued=queued)
    session.flush()
    log.info("alert %s cancelled by %s: %d stopped, %d notices queued", alert.id, by, stopped, queued)
    return queued


# --------------------------------------------------------------------------- sightings


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
    _event(session, alert, "sighting", channel, now, sighting_id=sighting.id, group_id=sighting.group_id,
           where=where_label, when=when_text, seen_at=seen_at.isoformat() if seen_at else None,
           has_photo=photo_ref is not None, conversation_id=conversation_id)
    session.flush()
    log.info("sighting %s recorded for alert %s (group %s)", sighting.id, alert.id, sighting.group_id)
    return sighting


# --------------------------------------------------------------------------- reading


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


def last_seen_label(session: Session | None, alert: Alert) -> str:
    """"北区 柳町": the alert's last-seen place at town precision (or ward), "" when unknown."""
    if session is not None and alert.town_id:
        record = get_directory(session).towns.get(alert.town_id)
        if record is not None:
            return f"{record.option.ward} {record.option.town}"
    if session is not None and alert.ward:
        return get_directory(session).wards.get(alert.ward, alert.ward)
    return ""


def _format_time(moment: datetime, language: str) -> str:
    local = moment.astimezone(settings.tz)
    if language == "en":
        return local.strftime("%d %b %H:%M")
    return f"{local.month}月{local.day}日 {local.hour}時{local.minute:02d}分"


def render_alert_message(domain: Domain, alert: Alert, kind: str, language: str) -> str:
    """The text of one outbox message, from domain.yml in the cooperator's language.

    Args:
        domain: the loaded domain.
        alert: the alert (attached to a session, so the case's words can be read).
        kind: ``alert``, ``update``, ``found`` or ``cancelled``.
        language: ``ja`` or ``en``.

    Returns:
        The message text.

    Raises:
        KeyError: for an unknown kind.
    """
    response = RESPONSES[kind]
    if kind in ("found", "cancelled"):
        return domain.text(response, language, alert_id=alert.id)
    session = object_session(alert)
    case = session.get(Case, alert.case_id) if session is not None and alert.case_id else None
    details = case.details if case is not None else {}
    unknown = domain.text("utter_unknown_label", language)
    seen_at = _format_time(alert.last_seen_at, language) if alert.last_seen_at else unknown
    when = details.get("last_seen_when") or seen_at
    return domain.text(
        response,
        language,
        alert_id=alert.id,
        description=alert.description or unknown,
        clothing=alert.clothing or unknown,
        last_seen_where=details.get("last_seen_where") or last_seen_label(session, alert) or unknown,
        last_seen_when=when,
    )


# --------------------------------------------------------------------------- purge


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


# --------------------------------------------------------------------------- CAP 1.2


def cap_msg_type(alert: Alert) -> CapMsgType:
    """The CAP message type that describes the alert now: Alert, Update (widened) or Cancel (ended)."""
    if alert.status in (AlertStatus.found, AlertStatus.cancelled):
        return "Cancel"
    return "Update" if alert.stage > 0 else "Alert"


def _cap_time(moment: datetime) -> str:
    # CAP forbids "Z"; UTC itself is written -00:00.
    text = moment.astimezone(settings.tz).isoformat(timespec="seconds")
    return text[:-6] + "-00:00" if text.endswith("+00:00") else text


def _cap_identifier(alert: Alert, msg_type: CapMsgType) -> str:
    base = f"{settings.cap_sender.replace('@', '.')}.alert.{alert.id}"
    if msg_type == "Alert":
        return base
    if msg_type == "Update":
        return f"{base}.update.{alert.stage}"
    return f"{base}.cancel"


def to_cap(
    alert: Alert,
    msg_type: CapMsgType | None = None,
    *,
    sent: datetime | None = None,
    area_desc: str | None = None,
) -> str:
    """The alert as an OASIS CAP 1.2 message (``scope`` Restricted, ``status`` Actual).

    An Update or Cancel references the original Alert message. A Cancel carries no
    ``info`` block (nothing is asked of the recipients any more); its ``note`` says
    whether the person was found.

    Args:
        alert: the alert.
        msg_type: ``Alert``, ``Update`` or ``Cancel``; by default the one matching the
            alert's state (see ``cap_msg_type``).
        sent: when this message is issued; by default the approval (Alert), the end
            (Cancel) or now (Update).
        area_desc: the area's name ("北区 柳町 周辺"); by default the town id or ward code.

    Returns:
        The XML document (UTF-8 declaration included).
    """
    msg_type = msg_type or cap_msg_type(alert)
    original_sent = alert.approved_at or alert.created_at
    if sent is None:
        sent = {"Alert": original_sent, "Cancel": alert.ended_at or utcnow()}.get(msg_type) or utcnow()

    ET.register_namespace("", CAP_NAMESPACE)

    def child(parent: ET.Element, tag: str, text: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{CAP_NAMESPACE}}}{tag}")
        element.text = text
        return element

    root = ET.Element(f"{{{CAP_NAMESPACE}}}alert")
    child(root, "identifier", _cap_identifier(alert, msg_type))
    child(root, "sender", settings.cap_sender)
    child(root, "sent", _cap_time(sent))
    child(root, "status", "Actual")
    child(root, "msgType", msg_type)
    child(root, "scope", "Restricted")
    child(root, "restriction", CAP_RESTRICTION)
    if msg_type == "Cancel":
        child(root, "note", "Person found" if alert.status == AlertStatus.found else "Alert withdrawn")
    if msg_type != "Alert":
        child(root, "references",
              f"{settings.cap_sender},{_cap_identifier(alert, 'Alert')},{_cap_time(original_sent)}")
    if msg_type != "Cancel":
        info = ET.SubElement(root, f"{{{CAP_NAMESPACE}}}info")
        child(info, "language", "ja-JP")
        child(info, "category", "Rescue")
        child(info, "event", "Missing person")
        child(info, "responseType", "Monitor")
        child(info, "urgency", "Immediate")
        child(info, "severity", "Severe")
        child(info, "certainty", "Observed")
        child(info, "headline", f"Missing person alert {alert.id}")
        description = "\n".join(part for part in (alert.description, alert.clothing) if part)
        if description:
            child(info, "description", description)
        area = ET.SubElement(info, f"{{{CAP_NAMESPACE}}}area")
        child(area, "areaDesc", area_desc or alert.town_id or alert.ward or "city")
        if alert.radius_km is not None and alert.latitude is not None and alert.longitude is not None:
            child(area, "circle", f"{alert.latitude:.5f},{alert.longitude:.5f} {alert.radius_km:g}")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
