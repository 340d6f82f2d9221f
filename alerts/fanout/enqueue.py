"""Missing-person alert fan-out: who gets a message, in which order — written as outbox rows.

``alerts.lifecycle`` decides *when* an alert goes out (approve, widen, found, cancel)
and ``alerts.cooperators`` when a cooperator is asked to re-confirm; this module turns
that into outbox rows, in the caller's transaction. The caller commits, then wakes the
senders (``alerts.fanout.runner.kick``).

* :func:`enqueue_alert` writes one ``OutboxItem`` per active cooperator — not per
  endpoint: a cooperator on LINE and e-mail is reached once, on the preferred (lowest
  ``priority``) active endpoint of a configured channel, and on the next one only if
  that endpoint turns out to be blocked. Rows carry the distance from the last-seen
  point to the cooperator's town centroid (haversine), and workers send nearest first.
  A widening (``kind="update"``) adds only cooperators who have no alert yet. The
  unique key (alert, cooperator, kind) makes every call idempotent.
* :func:`enqueue_found` cancels what is still queued and thanks only those who were
  sent the alert; :func:`cancel_pending` just stops; :func:`progress` counts rows by
  state for the staff console.
* :func:`first_stage_radius` grows the first stage until it reaches enough cooperators;
  :func:`unreachable_within` counts those an approval would skip for want of a
  configured channel.
* :func:`enqueue_forward` queues a sighting the desk forwards to the family's chat or
  the police's e-mail address (rows without a cooperator, ahead of every alert message).
* :func:`enqueue_requests` queues re-confirmation requests, behind every alert message.

How rows are claimed, leased, retried and recorded is in ``alerts.fanout.outbox``;
the per-channel senders (LINE multicast, Telegram, SMTP, Twilio SMS) in
``alerts.fanout.senders``. docs/alerts.md explains the whole for operators.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from alerts.fanout.items import ALERT_KINDS, CHANNELS, RECONFIRM_KIND, configured_channels, forward_kind
from bot.models import (
    Alert,
    AlertFamily,
    Contact,
    Cooperator,
    CooperatorEndpoint,
    OutboxItem,
    OutboxState,
    Sighting,
    Town,
    utcnow,
)
from bot.settings import settings

__all__ = [
    "UNKNOWN_DISTANCE_M",
    "cancel_pending",
    "distance_m",
    "enqueue_alert",
    "enqueue_forward",
    "enqueue_found",
    "enqueue_notice",
    "enqueue_requests",
    "first_stage_radius",
    "progress",
    "queue_notices",
    "sighting_distance_m",
    "unreachable_within",
    "waiting_later",
]

log = logging.getLogger(__name__)

UNKNOWN_DISTANCE_M = 1e9
"""Distance given to a cooperator with no known town: last in line, and outside any radius."""

REQUEST_DISTANCE_M = 2 * UNKNOWN_DISTANCE_M
"""The place of a re-confirmation request in the queue: it is never urgent, so behind every alert message."""

_EARTH_RADIUS_M = 6_371_008.8
_ANALYZE_AFTER_ROWS = 10_000
_OUTBOX = cast(Table, OutboxItem.__table__)


def distance_m(origin: tuple[float, float], point: tuple[float, float]) -> float:
    """Great-circle (haversine) distance in metres between two (latitude, longitude) points."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*origin, *point))
    a = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _alert_point(towns: dict[str, tuple[float, float]], alert: Alert) -> tuple[float, float] | None:
    if alert.latitude is not None and alert.longitude is not None:
        return alert.latitude, alert.longitude
    return towns.get(alert.town_id or "")


@dataclass(frozen=True)
class Candidate:
    """An active cooperator not yet alerted, on their preferred reachable endpoint, and how far away."""

    cooperator_id: int
    channel: str
    address: str
    distance_m: float


def _candidates(session: Session, alert: Alert, channels: Sequence[str]) -> tuple[bool, list[Candidate]]:
    """Every active cooperator without an alert or update of ``alert`` yet, once each, on their
    preferred active endpoint among ``channels``, nearest first (no radius applied); and
    whether the alert has a point to measure from at all."""
    session.flush()
    towns = {town_id: (lat, lon)
             for town_id, lat, lon in session.execute(select(Town.town_id, Town.latitude, Town.longitude))}
    origin = _alert_point(towns, alert)
    already = set(session.scalars(
        select(OutboxItem.cooperator_id).where(OutboxItem.alert_id == alert.id, OutboxItem.kind.in_(ALERT_KINDS))
    ))
    preferred = (
        select(Cooperator.id, Cooperator.latitude, Cooperator.longitude, Cooperator.town_id,
               CooperatorEndpoint.channel, CooperatorEndpoint.address)
        .join(CooperatorEndpoint, CooperatorEndpoint.cooperator_id == Cooperator.id)
        .where(Cooperator.active.is_(True), CooperatorEndpoint.active.is_(True),
               CooperatorEndpoint.channel.in_(list(channels)))
        .order_by(Cooperator.id, CooperatorEndpoint.priority, CooperatorEndpoint.id)
    )
    found: list[Candidate] = []
    previous = None
    for cooperator_id, lat, lon, town_id, channel, address in session.execute(preferred):
        if cooperator_id == previous:  # a less preferred endpoint of the same cooperator
            continue
        previous = cooperator_id
        if cooperator_id in already:
            continue
        point = (lat, lon) if lat is not None and lon is not None else towns.get(town_id or "")
        distance = distance_m(origin, point) if origin is not None and point is not None else UNKNOWN_DISTANCE_M
        found.append(Candidate(cooperator_id, channel, address, distance))
    return origin is not None, sorted(found, key=lambda candidate: (candidate.distance_m, candidate.cooperator_id))


def _within(located: tuple[bool, list[Candidate]], radius_km: float | None) -> list[Candidate]:
    """The candidates inside the radius; everyone for the whole city or an alert with no point."""
    has_origin, candidates = located
    if radius_km is None or not has_origin:
        return candidates
    return [candidate for candidate in candidates if candidate.distance_m <= radius_km * 1000]


def first_stage_radius(session: Session, alert: Alert, *, start_km: float | None, minimum: int,
                       most_km: float) -> float | None:
    """The first stage's radius: ``start_km``, grown until it holds ``minimum`` reachable
    cooperators, but never beyond ``most_km`` (an alert must reach people from the first minute).

    Args:
        session: the caller's session.
        alert: the alert about to be approved.
        start_km: the configured first radius; None (the whole city) is kept.
        minimum: how many cooperators the first stage should reach.
        most_km: the furthest the first stage may grow to.

    Returns:
        The radius in km (rounded up to 0.1 km), or None for the whole city.
    """
    if start_km is None:
        return None
    has_origin, everyone = _candidates(session, alert, configured_channels())
    candidates = [c for c in everyone if c.distance_m < UNKNOWN_DISTANCE_M]
    if not has_origin or minimum <= 0 or len(_within((True, candidates), start_km)) >= minimum \
            or start_km >= most_km:
        return start_km
    if len(candidates) < minimum:
        return most_km
    needed_km = math.ceil(candidates[minimum - 1].distance_m / 100) / 10
    return min(max(start_km, needed_km), most_km)


def unreachable_within(session: Session, alert: Alert, radius_km: float | None) -> int:
    """How many cooperators within ``radius_km`` of the alert can be reached only on channels that
    are not configured (e.g. LINE users while no LINE token is set): an approval would skip them."""
    every = {c.cooperator_id for c in _within(_candidates(session, alert, CHANNELS), radius_km)}
    reachable = {c.cooperator_id for c in _within(_candidates(session, alert, configured_channels()), radius_km)}
    return len(every - reachable)


def waiting_later(session: Session, alert_id: int, *, now: datetime) -> int:
    """How many of the alert's queued rows are due only later (a retry, a cooperator's night opt-out)."""
    return session.scalar(
        select(func.count()).select_from(OutboxItem)
        .where(OutboxItem.alert_id == alert_id, OutboxItem.state == OutboxState.queued,
               OutboxItem.next_attempt_at > now)
    ) or 0


def enqueue_alert(session: Session, alert: Alert, *, kind: str = "alert", now: datetime | None = None) -> int:
    """Queue the alert for every active cooperator within its radius, nearest first.

    Runs in the caller's transaction; wake the senders after committing.

    Args:
        session: the caller's session.
        alert: the alert (flushed, so it has an id); ``radius_km`` None means everyone.
            Distances are measured from its point, else from its town's centroid; an
            alert with neither goes to everyone.
        kind: ``alert`` for the first broadcast, ``update`` for a widening; both skip
            cooperators who already have either.
        now: the current time (aware); rows are due from then.

    Returns:
        The number of rows added (0 when run again).

    Raises:
        ValueError: for another ``kind``.
    """
    if kind not in ALERT_KINDS:
        raise ValueError(f"enqueue_alert queues {ALERT_KINDS}, not {kind!r}")
    now = now or utcnow()
    located = _candidates(session, alert, configured_channels())
    if not located[0]:
        log.warning("alert %s has no point or town: sending to every cooperator", alert.id)
    chosen = _within(located, alert.radius_km)
    rows = [{
        "alert_id": alert.id, "cooperator_id": candidate.cooperator_id, "kind": kind, "channel": candidate.channel,
        "address": candidate.address, "distance_m": round(candidate.distance_m, 1), "state": OutboxState.queued,
        "fail_count": 0, "next_attempt_at": now,
    } for candidate in chosen]
    before = _count_rows(session, alert.id)
    _insert_ignore(session, rows)
    added = _count_rows(session, alert.id) - before
    if added >= _ANALYZE_AFTER_ROWS and session.get_bind().dialect.name == "postgresql":
        # Fresh statistics before the workers' first claims: planned with a stale row
        # count (autovacuum comes a minute later), each claim takes several times longer.
        session.execute(text("ANALYZE outbox"))
    log.info("alert %s: %d %s messages queued", alert.id, added, kind)
    return added


def enqueue_notice(session: Session, alert: Alert, kind: str, *, now: datetime | None = None) -> int:
    """Queue a ``found`` or ``cancelled`` notice to each cooperator whose alert or update was sent.

    In-flight messages (``sending``) are waited for, so one delivered after this call
    still gets its notice (see ``alerts.fanout.outbox.record``).

    Args:
        session: the caller's session, in which the alert's status is already ended.
        alert: the alert.
        kind: ``found`` or ``cancelled``.
        now: the current time (aware).

    Returns:
        The number of notices queued.
    """
    now = now or utcnow()
    if session.get_bind().dialect.name == "postgresql":
        # Wait for workers recording these rows: once they commit, they see the ended alert.
        session.execute(
            select(OutboxItem.id)
            .where(OutboxItem.alert_id == alert.id, OutboxItem.state == OutboxState.sending)
            .with_for_update()
        ).all()
    added = queue_notices(session, alert.id, kind, now=now)
    log.info("alert %s: %d %s notices queued", alert.id, added, kind)
    return added


def enqueue_found(session: Session, alert: Alert, *, now: datetime | None = None) -> int:
    """The person was found: cancel queued messages, thank those who were sent the alert.

    Args:
        session: the caller's session (the alert's status set to found in it).
        alert: the alert.
        now: the current time (aware).

    Returns:
        The number of ``found`` messages queued.
    """
    cancel_pending(session, alert.id)
    return enqueue_notice(session, alert, "found", now=now)


def cancel_pending(session: Session, alert_id: int) -> int:
    """Cancel the alert's ``alert`` and ``update`` messages still queued (in-flight ones finish).

    ``found`` and ``cancelled`` notices are left alone, so calling this again after an
    alert has ended never stops its closing notices.

    Args:
        session: the caller's session.
        alert_id: the alert.

    Returns:
        The number of rows cancelled.
    """
    result = cast(CursorResult[Any], session.execute(
        update(OutboxItem)
        .where(OutboxItem.alert_id == alert_id, OutboxItem.kind.in_(ALERT_KINDS),
               OutboxItem.state == OutboxState.queued)
        .values(state=OutboxState.cancelled)
        .execution_options(synchronize_session=False)
    ))
    if result.rowcount:
        log.info("alert %s: %d queued messages cancelled", alert_id, result.rowcount)
    return result.rowcount


def progress(session: Session, alert_id: int) -> dict[str, int]:
    """How far an alert's messages have got, for the staff console.

    Args:
        session: a session.
        alert_id: the alert.

    Returns:
        Counts for every state: queued, sending, sent, failed, cancelled (zeros included).
    """
    counts = dict.fromkeys((state.value for state in OutboxState), 0)
    for state, number in session.execute(
        select(OutboxItem.state, func.count()).where(OutboxItem.alert_id == alert_id).group_by(OutboxItem.state)
    ):
        counts[OutboxState(state).value] = number
    return counts


# --------------------------------------------------------------------------- writing rows


def _insert_ignore(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert outbox rows in bulk, skipping any whose (alert, cooperator, kind) exists.

    ``INSERT … ON CONFLICT DO NOTHING`` on PostgreSQL, ``INSERT OR IGNORE`` on SQLite,
    executed as one executemany.
    """
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        statement: Any = pg_insert(_OUTBOX).on_conflict_do_nothing(
            index_elements=["alert_id", "cooperator_id", "kind"]
        )
    elif dialect == "sqlite":
        statement = insert(_OUTBOX).prefix_with("OR IGNORE")
    else:
        raise NotImplementedError(f"outbox bulk insert is written for PostgreSQL and SQLite, not {dialect}")
    session.execute(statement, rows)


def _count_rows(session: Session, alert_id: int) -> int:
    """How many outbox rows an alert has (to report how many an insert added)."""
    return session.scalar(select(func.count()).select_from(OutboxItem).where(OutboxItem.alert_id == alert_id)) or 0


def queue_notices(
    session: Session, alert_id: int, kind: str, *, cooperator_ids: Iterable[int] | None = None, now: datetime
) -> int:
    """Queue a ``kind`` notice to cooperators whose alert or update was sent, on the same endpoint.

    Args:
        session: the caller's session.
        alert_id: the alert.
        kind: ``found`` or ``cancelled`` (rendered by ``alerts.texts.render_message``).
        cooperator_ids: only these cooperators (default: all who were sent the alert).
        now: the current time (aware); the notices are due from then.

    Returns:
        The number of rows added (a cooperator who already has one gets none).
    """
    query = (
        select(OutboxItem.cooperator_id, OutboxItem.channel, OutboxItem.address, OutboxItem.distance_m)
        .where(OutboxItem.alert_id == alert_id, OutboxItem.kind.in_(ALERT_KINDS), OutboxItem.state == OutboxState.sent)
        .order_by(OutboxItem.distance_m, OutboxItem.id)
    )
    rows: dict[int, dict[str, Any]] = {}
    wanted = None if cooperator_ids is None else set(cooperator_ids)
    for cooperator_id, channel, address, distance in session.execute(query):
        if (wanted is None or cooperator_id in wanted) and cooperator_id not in rows:
            rows[cooperator_id] = {
                "alert_id": alert_id, "cooperator_id": cooperator_id, "kind": kind, "channel": channel,
                "address": address, "distance_m": distance, "state": OutboxState.queued,
                "fail_count": 0, "next_attempt_at": now,
            }
    before = _count_rows(session, alert_id)
    _insert_ignore(session, list(rows.values()))
    return _count_rows(session, alert_id) - before


def enqueue_forward(session: Session, sighting: Sighting, target: str, *, now: datetime | None = None) -> int:
    """Queue a sighting the desk forwards: to each linked family member's chat, or to the police.

    The family is reached on the channel they wrote on (only LINE, Telegram or SMS, and only
    if configured); the police at ``settings.alert_police_email``. A recipient who already
    has this sighting gets it once.

    Args:
        session: the caller's session.
        sighting: the sighting (of an alert).
        target: ``family`` or ``police``.
        now: the current time (aware); the rows are due from then.

    Returns:
        The number of rows queued (0: nobody to send it to).
    """
    now = now or utcnow()
    kind = forward_kind(target, sighting.id)
    channels = configured_channels()
    recipients: list[tuple[int | None, str, str]] = []
    if target == "family":
        recipients = [(contact_id, channel, address) for contact_id, channel, address in session.execute(
            select(Contact.id, Contact.channel, Contact.channel_user_id)
            .join(AlertFamily, AlertFamily.contact_id == Contact.id)
            .where(AlertFamily.alert_id == sighting.alert_id, Contact.active.is_(True))
            .order_by(AlertFamily.id)
        ) if channel in channels and channel != "email"]
    elif settings.alert_police_email and "email" in channels:
        recipients = [(None, "email", settings.alert_police_email)]
    already = set(session.execute(
        select(OutboxItem.channel, OutboxItem.address).where(OutboxItem.alert_id == sighting.alert_id,
                                                           OutboxItem.kind == kind)
    ).all())
    rows = [{"alert_id": sighting.alert_id, "cooperator_id": None, "contact_id": contact_id,
             "sighting_id": sighting.id, "kind": kind, "channel": channel, "address": address,
             # Before every cooperator's message: the family and the police are waiting for it.
             "distance_m": -1.0, "state": OutboxState.queued, "fail_count": 0, "next_attempt_at": now}
            for contact_id, channel, address in recipients if (channel, address) not in already]
    if rows:
        session.execute(insert(_OUTBOX), rows)
    log.info("alert %s: sighting %s forwarded to %s (%d messages)", sighting.alert_id, sighting.id, target, len(rows))
    return len(rows)


def sighting_distance_m(session: Session, alert: Alert, sighting: Sighting) -> float | None:
    """How far a sighting is from the alert's last-seen point (its position, else its town's centroid)."""
    towns = {town_id: (lat, lon) for town_id, lat, lon in session.execute(
        select(Town.town_id, Town.latitude, Town.longitude).where(Town.town_id.in_([t for t in (
            alert.town_id, sighting.town_id) if t])))}
    origin = _alert_point(towns, alert)
    if sighting.latitude is not None and sighting.longitude is not None:
        point: tuple[float, float] | None = (sighting.latitude, sighting.longitude)
    else:
        point = towns.get(sighting.town_id or "")
    return distance_m(origin, point) if origin is not None and point is not None else None


def enqueue_requests(session: Session, endpoints: Iterable[CooperatorEndpoint], *, now: datetime) -> int:
    """Queue a re-confirmation request to each cooperator on the given endpoint.

    The caller chooses whom to ask (``alerts.cooperators.queue_reconfirm_requests``);
    if the endpoint turns out to be blocked, the request moves to the cooperator's next
    one like any outbox row.

    Args:
        session: the caller's session.
        endpoints: one endpoint per cooperator to ask.
        now: the current time (aware); the requests are due from then.

    Returns:
        The number of requests queued.
    """
    rows = [{"alert_id": None, "cooperator_id": endpoint.cooperator_id, "kind": RECONFIRM_KIND,
             "channel": endpoint.channel, "address": endpoint.address, "distance_m": REQUEST_DISTANCE_M,
             "state": OutboxState.queued, "fail_count": 0, "next_attempt_at": now} for endpoint in endpoints]
    if rows:
        session.execute(insert(_OUTBOX), rows)
    return len(rows)
