"""Sightings of a missing person, and the alerts staff may read.

A cooperator's sighting is stored at once, noted on the alert's case and pushed to the
alert desk like any update of the case (its delivery targets and the console), with its
group, place, time and distance from the last-seen point; sightings of one town within
``sighting_group_minutes`` share a group. The desk confirms a sighting (the next widening
says "last seen near … at …" from the newest confirmed one, ``alerts.texts.latest_confirmed``)
and forwards it in one step to the family's chat or the police (``forward_sighting``). Staff
see only the alerts of their own counters' cases (``alerts_for_counters``). A sighting by the alert's button is taken
only from a chat the alert was sent to (``alert_was_sent_to``).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.fanout.enqueue import enqueue_forward, sighting_distance_m
from alerts.lifecycle import AlertError, case_event
from alerts.texts import sighting_place
from bot.models import Alert, AlertStatus, Case, OutboxItem, OutboxState, Sighting, utcnow
from bot.settings import settings
from routing.cases import add_details

__all__ = [
    "alert_was_sent_to",
    "alerts_for_counters",
    "confirm_sighting",
    "forward_sighting",
    "record_sighting",
]

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
    distance = sighting_distance_m(session, alert, sighting)
    case_event(session, alert, "sighting", channel, now, sighting_id=sighting.id, group_id=sighting.group_id,
               where=where_label, when=when_text, seen_at=seen_at.isoformat() if seen_at else None,
               has_photo=photo_ref is not None, conversation_id=conversation_id,
               distance_m=round(distance) if distance is not None else None)
    case = session.get(Case, alert.case_id) if alert.case_id is not None else None
    if case is not None:
        # Pushed to the desk at once, like any update of the case (its delivery targets, the console).
        add_details(session, case, _desk_summary(session, alert, sighting, where_label, when_text, distance),
                    source=channel, now=now)
    session.flush()
    log.info("sighting %s recorded for alert %s (group %s)", sighting.id, alert.id, sighting.group_id)
    return sighting


def _desk_summary(session: Session, alert: Alert, sighting: Sighting, where_label: str, when_text: str | None,
                  distance: float | None) -> str:
    """The sighting as the alert desk reads it in its inbox: grouped, placed, timed, and what to do next."""
    in_group = session.scalar(select(func.count()).select_from(Sighting).where(
        Sighting.alert_id == alert.id, Sighting.group_id == sighting.group_id)) or 1
    moment = sighting.seen_at or sighting.created_at
    lines = [
        f"目撃情報 #{sighting.id}（お知らせ {alert.id}・まとめ #{sighting.group_id}：同じ町・時間帯で{in_group}件目）",
        f"場所: {where_label}" + (f"（{sighting_place(session, sighting)}）" if sighting.town_id else ""),
        f"時刻: {moment.astimezone(settings.tz):%m/%d %H:%M}" + (f"（「{when_text}」）" if when_text else ""),
        "最後に見かけた地点から: " + (f"約{distance / 1000:.1f} km" if distance is not None else "不明"),
    ]
    if sighting.photo_ref:
        lines.append("写真あり")
    lines.append(f"確認・家族へ・警察へ: {settings.public_base_url.rstrip('/')}/staff/alerts/{alert.id}"
                 f"（または tsunagu alert sighting confirm {sighting.id} ／ forward {sighting.id} --to family|police）")
    return "\n".join(lines)


def confirm_sighting(session: Session, sighting: Sighting, *, by: str, now: datetime | None = None) -> None:
    """The desk confirms a sighting: the next widening says the person was last seen there and then.

    Args:
        session: the caller's session.
        sighting: the sighting.
        by: the staff member.
        now: the current time (aware); defaults to now.

    Raises:
        AlertError: when the alert has ended.
    """
    now = now or utcnow()
    alert = _open_alert(session, sighting)
    sighting.confirmed_at, sighting.confirmed_by = now, by
    case_event(session, alert, "sighting_confirmed", by, now, sighting_id=sighting.id)
    session.flush()


def forward_sighting(session: Session, sighting: Sighting, target: str, *, by: str,
                     now: datetime | None = None) -> int:
    """The desk forwards a sighting in one step: to the family's chat, or to the police.

    The family linked to the alert (``alerts.lifecycle.link_family``) get it in their chat
    through the outbox; the police by e-mail at ``settings.alert_police_email`` when one is
    set — the desk always gets the printable summary as well (``render_forwarded_sighting``).

    Args:
        session: the caller's session.
        sighting: the sighting.
        target: ``family`` or ``police``.
        by: the staff member.
        now: the current time (aware); defaults to now.

    Returns:
        The number of messages queued (0: nobody to send it to; wake the fan-out otherwise).

    Raises:
        AlertError: when the alert has ended.
        ValueError: for another target.
    """
    now = now or utcnow()
    alert = _open_alert(session, sighting)
    queued = enqueue_forward(session, sighting, target, now=now)
    if target == "family":
        sighting.forwarded_family_at = now
    else:
        sighting.forwarded_police_at = now
    case_event(session, alert, "sighting_forwarded", by, now, sighting_id=sighting.id, to=target, queued=queued)
    session.flush()
    return queued


def _open_alert(session: Session, sighting: Sighting) -> Alert:
    alert = session.get(Alert, sighting.alert_id)
    if alert is None or alert.status not in (AlertStatus.pending, AlertStatus.active):
        raise AlertError(f"the alert of sighting {sighting.id} has ended")
    return alert


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
