"""Delivering cases to counters: claim, send through the target's method, record, retry.

Each ``Delivery`` row is one case event for one target and moves
``unprocessed → processing → sent``, or back to ``unprocessed`` with its fail count
raised, until it has failed ``MAX_ATTEMPTS`` times and stays ``failed`` (visible
to staff). The back-off lives in the claim query, as in FixMyStreet: a first
retry after 5 minutes, then one every 30 minutes; a retry only touches the
targets that failed. Workers claim rows with ``SELECT … FOR UPDATE SKIP LOCKED``
on PostgreSQL and with a conditional ``UPDATE`` on SQLite, so two workers never
send the same row; a row left ``processing`` by a crashed worker is taken again
after ``LEASE``.

``schedule_delivery`` is what the engine calls after committing a turn that
created or linked a case: in the embedded default it wakes a background thread
(the resident's reply never waits for SMTP); with ``delivery_mode = "worker"``
it does nothing and ``tsunagu deliver`` (cron) or a worker process runs the passes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session

from bot.models import Delivery, DeliveryState, utcnow
from bot.settings import settings
from routing.methods import METHODS, DeliveryFailure, build_message
from routing.snapshot import get_directory

__all__ = ["FIRST_RETRY", "LATER_RETRY", "MAX_ATTEMPTS", "DeliveryRun", "deliver_pending", "schedule_delivery"]

log = logging.getLogger(__name__)

FIRST_RETRY = timedelta(minutes=5)
LATER_RETRY = timedelta(minutes=30)
LEASE = timedelta(minutes=10)
# 5 min + 8 × 30 min: a target that is down for over four hours is shown as failed.
MAX_ATTEMPTS = 10
BATCH = 50
RETRY_POLL_SECONDS = 60.0


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
    return or_(
        and_(
            Delivery.state == DeliveryState.unprocessed,
            or_(
                Delivery.fail_count == 0,
                and_(Delivery.fail_count == 1, Delivery.last_attempt_at <= now - FIRST_RETRY),
                and_(Delivery.fail_count >= 2, Delivery.last_attempt_at <= now - LATER_RETRY),
            ),
        ),
        and_(Delivery.state == DeliveryState.processing, Delivery.last_attempt_at <= now - LEASE),
    )


def _claim(session: Session, now: datetime) -> list[int]:
    claim = {"state": DeliveryState.processing, "last_attempt_at": now}
    candidates = select(Delivery.id).where(_due(now)).order_by(Delivery.id).limit(BATCH)
    if session.get_bind().dialect.name == "postgresql":
        ids = list(session.scalars(candidates.with_for_update(skip_locked=True)))
        if ids:
            session.execute(
                update(Delivery).where(Delivery.id.in_(ids)).values(**claim).execution_options(synchronize_session=False)
            )
    else:
        # SQLite has one writer at a time: a row is ours if it was still due when we updated it.
        ids = [
            delivery_id
            for delivery_id in session.scalars(candidates)
            if session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id, _due(now))
                .values(**claim)
                .execution_options(synchronize_session=False)
            ).rowcount
            == 1
        ]
    session.commit()
    return ids


def _area_label(session: Session, town_id: str | None, ward_code: str | None) -> str | None:
    directory = get_directory(session)
    if town_id and town_id in directory.towns:
        option = directory.towns[town_id].option
        return f"{option.ward} {option.town}"
    return directory.wards.get(ward_code or "")


def _attempt(session: Session, delivery_id: int, now: datetime) -> str:
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
        method(target, message)
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
        for delivery_id in ids:
            with session_factory() as session:
                outcomes[_attempt(session, delivery_id, now)] += 1
    with session_factory() as session:
        waiting = session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.state == DeliveryState.unprocessed)
        )
    return DeliveryRun(claimed=claimed, waiting=waiting or 0, **outcomes)


class _Worker(threading.Thread):
    """The embedded background sender: a pass when woken, and every minute while retries wait."""

    def __init__(self, url: str) -> None:
        super().__init__(name="tsunagu-delivery", daemon=True)
        self.url = url
        self.wake = threading.Event()

    def run(self) -> None:
        from bot.db import session_factory

        timeout: float | None = None
        while True:
            self.wake.wait(timeout)
            self.wake.clear()
            try:
                result = deliver_pending(session_factory(self.url))
            except Exception:
                log.exception("delivery pass failed")
                timeout = RETRY_POLL_SECONDS
                continue
            timeout = RETRY_POLL_SECONDS if result.waiting else None


_workers: dict[str, _Worker] = {}
_workers_lock = threading.Lock()


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
    url = url or settings.database_url
    with _workers_lock:
        worker = _workers.get(url)
        if worker is None or not worker.is_alive():
            worker = _workers[url] = _Worker(url)
            worker.start()
    worker.wake.set()
