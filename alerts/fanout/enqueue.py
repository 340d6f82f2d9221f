"""Missing-person alert fan-out: who gets an alert, in which order, and starting the senders.

``alerts.alerts`` decides *when* an alert goes out (approve, widen, found, cancel);
this module turns that into outbox rows and wakes the workers that send them:

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
* :func:`kick`, called after the caller commits, starts the senders: in the embedded
  default a background thread of this process (``alerts.fanout.runner``); with
  ``settings.redis_url`` a Dramatiq message per channel for ``tsunagu worker``
  (``alerts.fanout.worker``).

How rows are claimed, leased, retried and recorded is in ``alerts.fanout.outbox``;
the per-channel senders (LINE multicast, Telegram, SMTP, Twilio SMS) in
``alerts.fanout.senders``. docs/alerts.md explains the whole for operators.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import CursorResult, func, select, text, update
from sqlalchemy.orm import Session

from bot.models import Alert, Cooperator, CooperatorEndpoint, OutboxItem, OutboxState, Town, utcnow
from bot.settings import settings
from alerts.fanout.outbox import ALERT_KINDS, configured_channels, count_rows, insert_ignore, queue_notices

if TYPE_CHECKING:
    from dramatiq.brokers.redis import RedisBroker

__all__ = [
    "ACTOR_NAME",
    "QUEUE_NAME",
    "UNKNOWN_DISTANCE_M",
    "cancel_pending",
    "distance_m",
    "enqueue_alert",
    "enqueue_found",
    "enqueue_notice",
    "kick",
    "progress",
    "redis_broker",
    "wait",
]

log = logging.getLogger(__name__)

QUEUE_NAME = "fanout"
ACTOR_NAME = "fanout_process_channel"
"""The Dramatiq queue and actor of ``alerts.fanout.worker`` (messages are built here too)."""

UNKNOWN_DISTANCE_M = 1e9
"""Distance given to a cooperator with no known town: last in line, and outside any radius."""

_EARTH_RADIUS_M = 6_371_008.8
_ANALYZE_AFTER_ROWS = 10_000


def distance_m(origin: tuple[float, float], point: tuple[float, float]) -> float:
    """Great-circle (haversine) distance in metres between two (latitude, longitude) points."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*origin, *point))
    a = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _alert_point(towns: dict[str, tuple[float, float]], alert: Alert) -> tuple[float, float] | None:
    if alert.latitude is not None and alert.longitude is not None:
        return alert.latitude, alert.longitude
    return towns.get(alert.town_id or "")


def enqueue_alert(session: Session, alert: Alert, *, kind: str = "alert", now: datetime | None = None) -> int:
    """Queue the alert for every active cooperator within its radius, nearest first.

    Runs in the caller's transaction; call :func:`kick` after committing.

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
    session.flush()
    towns = {town_id: (lat, lon)
             for town_id, lat, lon in session.execute(select(Town.town_id, Town.latitude, Town.longitude))}
    origin = _alert_point(towns, alert)
    if origin is None:
        log.warning("alert %s has no point or town: sending to every cooperator", alert.id)
    limit = alert.radius_km * 1000 if origin is not None and alert.radius_km is not None else None
    already = set(session.scalars(
        select(OutboxItem.cooperator_id).where(OutboxItem.alert_id == alert.id, OutboxItem.kind.in_(ALERT_KINDS))
    ))
    preferred = (
        select(Cooperator.id, Cooperator.latitude, Cooperator.longitude, Cooperator.town_id,
               CooperatorEndpoint.channel, CooperatorEndpoint.address)
        .join(CooperatorEndpoint, CooperatorEndpoint.cooperator_id == Cooperator.id)
        .where(Cooperator.active.is_(True), CooperatorEndpoint.active.is_(True),
               CooperatorEndpoint.channel.in_(configured_channels()))
        .order_by(Cooperator.id, CooperatorEndpoint.priority, CooperatorEndpoint.id)
    )
    rows = []
    previous = None
    for cooperator_id, lat, lon, town_id, channel, address in session.execute(preferred):
        if cooperator_id == previous:  # a less preferred endpoint of the same cooperator
            continue
        previous = cooperator_id
        if cooperator_id in already:
            continue
        point = (lat, lon) if lat is not None and lon is not None else towns.get(town_id or "")
        distance = distance_m(origin, point) if origin is not None and point is not None else UNKNOWN_DISTANCE_M
        if limit is not None and distance > limit:
            continue
        rows.append({
            "alert_id": alert.id, "cooperator_id": cooperator_id, "kind": kind, "channel": channel,
            "address": address, "distance_m": round(distance, 1), "state": OutboxState.queued,
            "fail_count": 0, "next_attempt_at": now,
        })
    before = count_rows(session, alert.id)
    insert_ignore(session, rows)
    added = count_rows(session, alert.id) - before
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


# --------------------------------------------------------------------------- starting the senders


@lru_cache(maxsize=4)
def redis_broker(url: str, namespace: str) -> RedisBroker:
    """The Dramatiq broker of the fan-out queue on ``url``, keys under ``<namespace>:dramatiq``."""
    import redis
    from dramatiq.brokers.redis import RedisBroker

    # Short timeouts: a kick must not hang a web request when Redis is down.
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    broker = RedisBroker(client=client, namespace=f"{namespace}:dramatiq")
    broker.declare_queue(QUEUE_NAME)
    return broker


def kick() -> None:
    """Start sending what the outbox holds; call after committing. Never waits for the sends.

    Embedded default (no ``settings.redis_url``): wakes this process's background
    sender thread. With Redis: enqueues one Dramatiq message per configured channel for
    the ``tsunagu worker`` processes; if Redis cannot be reached the error is logged and
    the rows stay queued for the next kick or worker start.
    """
    if not settings.redis_url:
        from alerts.fanout.runner import embedded_runner

        embedded_runner(settings.database_url).wake()
        return
    from dramatiq import Message

    try:
        broker = redis_broker(settings.redis_url, settings.fanout_namespace)
        for channel in configured_channels():
            broker.enqueue(
                Message(queue_name=QUEUE_NAME, actor_name=ACTOR_NAME, args=(channel,), kwargs={}, options={})
            )
    except Exception:  # noqa: BLE001 - the outbox is durable; a lost kick only delays
        log.exception("fan-out: could not reach Redis to start the workers")


def wait(timeout: float | None = None) -> bool:
    """Block until the embedded sender has nothing left to do (every row sent, failed or cancelled).

    For commands that queue an alert and then exit, and for tests. With Redis the
    workers do the sending and this returns at once.

    Args:
        timeout: seconds to wait at most; None waits as long as it takes.

    Returns:
        True when the embedded sender is idle, False on timeout.
    """
    if settings.redis_url:
        return True
    from alerts.fanout.runner import embedded_runner

    return embedded_runner(settings.database_url).wait(timeout)
