"""Delivering cases to counters: claim, send through the target's method, record, retry.

Each ``Delivery`` row is one case event for one target and moves
``unprocessed → processing → sent``, or back to ``unprocessed`` with its fail count
raised, until it has failed ``MAX_ATTEMPTS`` times and stays ``failed`` (visible
to staff). Claims, the lease and the back-off are ``bot.workqueue``'s, shared with
the alert outbox: the back-off lives in the claim query, as in FixMyStreet (a first
retry after 5 minutes, then one every 30 minutes); a retry only touches the
targets that failed; two workers never send the same row; a row left
``processing`` by a crashed worker is taken again after ``LEASE``. The deliveries of
one claimed batch share their connections (one SMTP connection per batch).

``schedule_delivery`` is what runs after a commit that created or linked a case: in
the embedded default it wakes a background thread (the resident's reply never waits
for SMTP); with ``delivery_mode = "worker"`` it does nothing and ``tsunagu deliver``
(cron) or a worker process runs the passes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import ColumnElement, Table, and_, func, or_, select
from sqlalchemy.orm import Session

from bot import db
from bot.models import Delivery, DeliveryState, utcnow
from bot.settings import settings
from bot.workqueue import Backoff, claim_due, embedded_runner, lease_expired
from routing.methods import METHODS, Connections, DeliveryFailure, build_message
from routing.snapshot import get_directory

__all__ = ["FIRST_RETRY", "LATER_RETRY", "MAX_ATTEMPTS", "DeliveryRun", "deliver_pending", "schedule_delivery"]

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


@dataclass(frozen=True)
class DeliveryRun:
    """What one pass did."""

    claimed: int = 0
    sent: int = 0
    retrying: int = 0  # failed this time, will be retried after the back-off
    failed: int = 0  # failed for good (max attempts, or a target of another counter)
    waiting: int = 0  # rows left for a later pass (in back-off)


def _due(now: datetime) -> ColumnElement[bool]:
    """Rows a worker may take now: the back-off is here, in the query."""
    rows = _DELIVERIES.c
    return or_(
        and_(rows.state == DeliveryState.unprocessed, BACKOFF.due(rows.fail_count, rows.last_attempt_at, now)),
        and_(rows.state == DeliveryState.processing, lease_expired(rows.last_attempt_at, now, LEASE)),
    )


def _claim(session: Session, now: datetime) -> list[int]:
    ids = claim_due(session, _DELIVERIES, _due(now), order_by=[_DELIVERIES.c.id], limit=BATCH,
                    values={"state": DeliveryState.processing, "last_attempt_at": now})
    session.commit()
    return sorted(ids)


def _area_label(session: Session, town_id: str | None, ward_code: str | None) -> str | None:
    directory = get_directory(session)
    if town_id and town_id in directory.towns:
        option = directory.towns[town_id].option
        return f"{option.ward} {option.town}"
    return directory.wards.get(ward_code or "")


def _attempt(session: Session, delivery_id: int, now: datetime, connections: Connections) -> str:
    """Send one claimed delivery and record the outcome; returns sent, retrying or failed."""
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        return "failed"
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
        delivery.fail_count += 1
        delivery.last_failure_reason = str(error)[:2000] or type(error).__name__
        give_up = permanent or delivery.fail_count >= MAX_ATTEMPTS
        delivery.state = DeliveryState.failed if give_up else DeliveryState.unprocessed
        log.warning(
            "delivery %s (case %s, %s target %s) failed, attempt %s%s: %s",
            delivery.id, case.id, target.method, target.id, delivery.fail_count,
            " — giving up" if give_up else "", delivery.last_failure_reason,
        )
        session.commit()
        return "failed" if give_up else "retrying"
    delivery.state = DeliveryState.sent
    delivery.sent_at = now
    log.info("delivery %s (case %s) sent via %s target %s", delivery.id, case.id, target.method, target.id)
    session.commit()
    return "sent"


def deliver_pending(session_factory: Callable[[], Session], now: datetime | None = None) -> DeliveryRun:
    """Run one delivery pass: every delivery that is due now is claimed and sent once.

    Args:
        session_factory: makes sessions on the database (e.g. ``bot.db.session_factory()``).
        now: the time of the pass (aware); tests move it forward instead of sleeping.

    Returns:
        Counts of what happened.
    """
    now = now or utcnow()
    outcomes = {"sent": 0, "retrying": 0, "failed": 0}
    claimed = 0
    while True:
        with session_factory() as session:
            ids = _claim(session, now)
        if not ids:
            break
        claimed += len(ids)
        with closing(Connections()) as connections:
            for delivery_id in ids:
                with session_factory() as session:
                    outcomes[_attempt(session, delivery_id, now, connections)] += 1
    with session_factory() as session:
        waiting = session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.state == DeliveryState.unprocessed)
        )
    return DeliveryRun(claimed=claimed, waiting=waiting or 0, **outcomes)


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
