"""Delivering cases to counters: claim, send through the target's method, record, retry.

Each ``Delivery`` row is one case event for one target and moves
``unprocessed → processing → sent``, or back to ``unprocessed`` with its fail count
raised, until it has failed ``MAX_ATTEMPTS`` times and stays ``failed`` (visible
to staff). Claims, the lease and the back-off are ``bot.workqueue``'s, shared with
the alert outbox: the back-off lives in the claim query, as in FixMyStreet (a first
retry after 5 minutes, then one every 30 minutes); a retry only touches the
targets that failed; two workers never send the same row. Each claim holds its rows
under a lease token of its own (``claimed_at``, the time of that claim, not of the
pass) and renews it every third of ``LEASE`` while it works through them, so a long
pass keeps its rows and a row left ``processing`` by a killed worker is taken again
once its lease runs out; every write-back is guarded by the token. The deliveries of
one claimed batch share their connections (one SMTP connection per batch).

Deliveries that failed for good are listed by :func:`failed_deliveries` (the staff
API, ``tsunagu deliver --failed``) and sent again by :func:`retry_failed`
(``tsunagu deliver --retry-failed``).

``schedule_delivery`` is what runs after a commit that created or linked a case: in
the embedded default it wakes a background thread (the resident's reply never waits
for SMTP); with ``delivery_mode = "worker"`` it does nothing and ``tsunagu deliver``
(cron) or a worker process runs the passes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Table, and_, func, or_, select, update
from sqlalchemy.orm import Session

from bot import db
from bot.models import Delivery, DeliveryState, DeliveryTarget, utcnow
from bot.settings import settings
from bot.workqueue import Backoff, Heartbeat, claim_due, embedded_runner, lease_expired, lease_token, renew_claims
from routing.methods import METHODS, Connections, DeliveryFailure, build_message
from routing.snapshot import get_directory

__all__ = [
    "FIRST_RETRY",
    "LATER_RETRY",
    "LEASE",
    "MAX_ATTEMPTS",
    "RESEND_COMMAND",
    "DeliveryRun",
    "FailedDelivery",
    "deliver_pending",
    "failed_deliveries",
    "retry_failed",
    "schedule_delivery",
]

log = logging.getLogger(__name__)

FIRST_RETRY = timedelta(minutes=5)
LATER_RETRY = timedelta(minutes=30)
# 5 minutes, then 30 (5 × 6, at most 30) every time after.
BACKOFF = Backoff(first=FIRST_RETRY, factor=6.0, most=LATER_RETRY)
LEASE = timedelta(minutes=10)
# 5 min + 8 × 30 min: a target that is down for over four hours is shown as failed.
MAX_ATTEMPTS = 10
BATCH = 50
# While deliveries wait for their retry, the background thread looks again this often.
RETRY_POLL = timedelta(seconds=60)
_DELIVERIES = cast(Table, Delivery.__table__)
RESEND_COMMAND = "tsunagu deliver --retry-failed"

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class DeliveryRun:
    """What one pass did."""

    claimed: int = 0
    sent: int = 0
    retrying: int = 0  # failed this time, will be retried after the back-off
    failed: int = 0  # failed for good (max attempts, or a target of another counter)
    waiting: int = 0  # rows left for a later pass (in back-off)
    lost: int = 0  # claimed, then taken back by another worker after this one's lease ran out


@dataclass(frozen=True)
class FailedDelivery:
    """A delivery that failed for good: what it was, where to, and why."""

    id: int
    case_id: int
    counter_id: str
    method: str
    address: str
    fail_count: int
    last_attempt_at: datetime | None
    reason: str | None


def _due(now: datetime) -> ColumnElement[bool]:
    """Rows a worker may take now: the back-off is here, in the query; a lease that ran out."""
    rows = _DELIVERIES.c
    return or_(
        and_(rows.state == DeliveryState.unprocessed, BACKOFF.due(rows.fail_count, rows.last_attempt_at, now)),
        # A row claimed before leases had tokens has none: its worker is long gone.
        and_(rows.state == DeliveryState.processing,
             or_(rows.claimed_at.is_(None), lease_expired(rows.claimed_at, now, LEASE))),
    )


def _held(token: datetime) -> ColumnElement[bool]:
    """The rows still held under ``token`` (not taken back by another worker)."""
    return and_(_DELIVERIES.c.state == DeliveryState.processing, _DELIVERIES.c.claimed_at == token)


def _claim(session: Session, now: datetime) -> tuple[datetime, list[int]]:
    """Take a batch under a lease token of this claim's own; commits."""
    token = lease_token(now)
    ids = claim_due(session, _DELIVERIES, _due(now), order_by=[_DELIVERIES.c.id], limit=BATCH,
                    values={"state": DeliveryState.processing, "claimed_at": token})
    session.commit()
    return token, sorted(ids)


def _area_label(session: Session, town_id: str | None, ward_code: str | None) -> str | None:
    directory = get_directory(session)
    if town_id and town_id in directory.towns:
        option = directory.towns[town_id].option
        return f"{option.ward} {option.town}"
    return directory.wards.get(ward_code or "")


def _attempt(session: Session, delivery_id: int, token: datetime, clock: Clock, connections: Connections) -> str:
    """Send one claimed delivery and record the outcome; returns sent, retrying, failed or lost."""
    delivery = session.get(Delivery, delivery_id)
    if delivery is None or delivery.state != DeliveryState.processing or delivery.claimed_at != token:
        return "lost"  # another worker took it back: it is theirs to send
    case, target = delivery.case, delivery.target
    permanent = False
    try:
        if target.counter_id != case.counter_id:
            # Never: a counter must not receive another counter's case.
            permanent = True
            raise DeliveryFailure(f"target {target.id} belongs to {target.counter_id}, case is for {case.counter_id}")
        if not target.active:
            permanent = True
            raise DeliveryFailure(f"target {target.id} was deactivated")
        method = METHODS.get(target.method)
        if method is None:
            permanent = True
            raise DeliveryFailure(f"unknown delivery method '{target.method}'")
        directory = get_directory(session)
        service = directory.services.get(case.counter_id)
        message = build_message(
            delivery_id=delivery.id,
            case=case,
            event=delivery.event,
            counter_name=service.name if service else case.counter_id,
            area_label=_area_label(session, case.town_id, case.ward),
        )
        method(target, message, connections)
    except Exception as error:  # noqa: BLE001 - any plug-in failure is a failed attempt, not a crashed pass
        fails = delivery.fail_count + 1
        reason = str(error)[:2000] or type(error).__name__
        give_up = permanent or fails >= MAX_ATTEMPTS
        log.warning(
            "delivery %s (case %s, %s target %s) failed, attempt %s%s: %s",
            delivery.id, case.id, target.method, target.id, fails, " — giving up" if give_up else "", reason,
        )
        _write_back(session, delivery_id, token, state=DeliveryState.failed if give_up else DeliveryState.unprocessed,
                    fail_count=fails, last_failure_reason=reason, last_attempt_at=clock())
        return "failed" if give_up else "retrying"
    log.info("delivery %s (case %s) sent via %s target %s", delivery.id, case.id, target.method, target.id)
    now = clock()
    _write_back(session, delivery_id, token, state=DeliveryState.sent, sent_at=now, last_attempt_at=now)
    return "sent"


def _write_back(session: Session, delivery_id: int, token: datetime, **values: object) -> None:
    """Record an attempt, only while the row is still held under ``token``; commits."""
    # End the read that preceded the send: SQLite refuses a reader's write once another
    # connection has committed meanwhile.
    session.rollback()
    session.execute(
        update(_DELIVERIES).where(_DELIVERIES.c.id == delivery_id, _held(token)).values(claimed_at=None, **values)
    )
    session.commit()


def deliver_pending(
    session_factory: Callable[[], Session], now: datetime | None = None, *, clock: Clock | None = None
) -> DeliveryRun:
    """Run one delivery pass: every delivery that is due is claimed and sent once.

    Each batch is claimed under a lease token of its own, renewed every third of
    ``LEASE`` (by ``clock``) while its deliveries are sent one after the other.

    Args:
        session_factory: makes sessions on the database (e.g. ``bot.db.session_factory()``).
        now: a fixed time for the whole pass (aware), for tests that move time in steps.
        clock: what time it is at each claim, renewal and record (tests move it); the
            real clock by default.

    Returns:
        Counts of what happened.
    """
    if clock is None:
        clock = (lambda: now) if now is not None else utcnow
    outcomes = {"sent": 0, "retrying": 0, "failed": 0, "lost": 0}
    claimed = 0
    while True:
        with session_factory() as session:
            token, ids = _claim(session, clock())
        if not ids:
            break
        claimed += len(ids)
        heartbeat = Heartbeat(LEASE, clock)
        pending = list(ids)
        with closing(Connections()) as connections:
            while pending:
                if heartbeat.due():
                    with session_factory() as session:
                        token, still = renew_claims(session, _DELIVERIES, pending, column="claimed_at", token=token,
                                                    now=clock(), held=_DELIVERIES.c.state == DeliveryState.processing)
                        session.commit()
                    heartbeat.beaten()
                    outcomes["lost"] += len(pending) - len(still)
                    kept = set(still)
                    pending = [delivery_id for delivery_id in pending if delivery_id in kept]
                    continue
                with session_factory() as session:
                    outcomes[_attempt(session, pending.pop(0), token, clock, connections)] += 1
    with session_factory() as session:
        waiting = session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.state == DeliveryState.unprocessed)
        )
    if outcomes["lost"]:
        log.warning("delivery: %d claimed rows were taken back by another worker", outcomes["lost"])
    return DeliveryRun(claimed=claimed, waiting=waiting or 0, **outcomes)


def failed_deliveries(session: Session, counter_ids: Sequence[str] | None = None) -> list[FailedDelivery]:
    """The deliveries that failed for good, newest first.

    Args:
        session: a session.
        counter_ids: only the deliveries of these counters' cases (a staff member's); all when None.

    Returns:
        One entry per failed delivery.
    """
    query = (
        select(Delivery.id, Delivery.case_id, DeliveryTarget.counter_id, DeliveryTarget.method, DeliveryTarget.address,
               Delivery.fail_count, Delivery.last_attempt_at, Delivery.last_failure_reason)
        .join(DeliveryTarget, DeliveryTarget.id == Delivery.target_id)
        .where(Delivery.state == DeliveryState.failed)
        .order_by(Delivery.id.desc())
    )
    if counter_ids is not None:
        query = query.where(DeliveryTarget.counter_id.in_(list(counter_ids)))
    return [FailedDelivery(*row) for row in session.execute(query)]


def retry_failed(session: Session, ids: Sequence[int] | None = None) -> int:
    """Queue failed deliveries again with a fresh count of attempts (does not commit).

    A target that was deactivated or belongs to another counter fails again at once.

    Args:
        session: a session.
        ids: only these deliveries; every failed one when None.

    Returns:
        How many were queued again.
    """
    statement = update(_DELIVERIES).where(_DELIVERIES.c.state == DeliveryState.failed)
    if ids is not None:
        statement = statement.where(_DELIVERIES.c.id.in_(list(ids)))
    result = session.execute(statement.values(state=DeliveryState.unprocessed, fail_count=0, claimed_at=None))
    return cast(CursorResult[Any], result).rowcount


def _background_pass(url: str) -> datetime | None:
    """One pass of the embedded thread; while deliveries wait for a retry, look again in a minute."""
    result = deliver_pending(db.session_factory(url))
    return utcnow() + RETRY_POLL if result.waiting else None


def schedule_delivery(*, url: str | None = None) -> None:
    """Ask for a delivery pass soon, without waiting for it.

    Embedded default (``delivery_mode = "thread"``): wakes a background thread for
    the database. ``delivery_mode = "worker"``: a no-op, deliveries are run by
    ``tsunagu deliver`` from cron or a worker process.

    Args:
        url: the database URL; the configured one when None.
    """
    if settings.delivery_mode != "thread":
        return
    embedded_runner("delivery", url or settings.database_url, _background_pass).wake()
