"""Readiness for a load balancer and an operator (``GET /readyz``): can this process serve
residents, and is work piling up behind it?

``/healthz`` only says the process answers; ``/readyz`` also reaches the database and, when
one is configured, Redis, and counts what waits to be sent: alert messages still queued
(and how many of them are already due) and case deliveries not yet sent or given up. A
balancer takes a process out of rotation on 503; an operator alerts on the ages and counts.
No personal data: counts only. :class:`DatabaseCollector` gives the same database counts to
Prometheus (``GET /metrics``), read when scraped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime

import redis
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, or_, select, text
from sqlalchemy.exc import SQLAlchemyError

from bot.db import session_scope
from bot.models import Case, Delivery, InboxEvent, InboxState, OutboxItem
from bot.models.base import utcnow
from bot.models.alerts import OutboxState
from bot.models.cases import DeliveryState

__all__ = ["DatabaseCollector", "Readiness", "check_readiness"]

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 1.0  # seconds: a readiness probe must answer well within the balancer's timeout


@dataclass(frozen=True)
class Readiness:
    """What ``/readyz`` reports; ``redis`` is None when no Redis is configured."""

    database: bool
    redis: bool | None
    outbox_queued: int | None = None
    outbox_due: int | None = None
    deliveries_waiting: int | None = None
    deliveries_failed: int | None = None

    @property
    def ready(self) -> bool:
        return self.database and self.redis is not False

    def as_dict(self) -> dict[str, object]:
        return {"ready": self.ready, **asdict(self)}


def _redis_answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=PROBE_TIMEOUT, socket_timeout=PROBE_TIMEOUT)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def check_readiness(database_url: str, redis_url: str | None, now: datetime | None = None) -> Readiness:
    """Reach the database and Redis and count the queues.

    Args:
        database_url: The database the process serves from.
        redis_url: The configured Redis, or None.
        now: The time that decides which queued messages are due (default: now, UTC).
    """
    redis_ok = None if not redis_url else _redis_answers(redis_url)
    now = now or utcnow()
    try:
        with session_scope(database_url) as session:
            session.execute(text("SELECT 1"))
            queued = session.scalar(select(func.count(OutboxItem.id)).where(OutboxItem.state == OutboxState.queued))
            # Due and still queued: a sender should be taking these now (a growing number means none is).
            due = session.scalar(select(func.count(OutboxItem.id)).where(
                OutboxItem.state == OutboxState.queued,
                or_(OutboxItem.next_attempt_at.is_(None), OutboxItem.next_attempt_at <= now)))
            waiting = session.scalar(select(func.count(Delivery.id)).where(
                Delivery.state.in_((DeliveryState.unprocessed, DeliveryState.processing))))
            failed = session.scalar(select(func.count(Delivery.id)).where(Delivery.state == DeliveryState.failed))
    except SQLAlchemyError as error:
        # The error's class only: a driver's message can carry the connection string.
        log.warning("readiness: the database cannot be reached (%s)", type(error).__name__)
        return Readiness(database=False, redis=redis_ok)
    return Readiness(
        database=True,
        redis=redis_ok,
        outbox_queued=queued,
        outbox_due=due,
        deliveries_waiting=waiting,
        deliveries_failed=failed,
    )


class DatabaseCollector(Collector):
    """Prometheus gauges read from the database at scrape time: cases by kind and status, alert
    messages by channel and state, case deliveries by state, and the webhook events not yet
    answered with the age of the oldest (turn workers that are not running show here first)."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    def collect(self) -> Iterator[GaugeMetricFamily]:
        cases = GaugeMetricFamily("tsunagu_cases", "Cases by kind and status.", labels=["kind", "status"])
        outbox = GaugeMetricFamily("tsunagu_outbox_messages", "Alert messages by channel and state.",
                                   labels=["channel", "state"])
        deliveries = GaugeMetricFamily("tsunagu_case_deliveries", "Case deliveries to counters by state.",
                                       labels=["state"])
        inbox = GaugeMetricFamily("tsunagu_inbox_unanswered", "Webhook events stored and not yet answered.",
                                  labels=["channel", "state"])
        waiting = GaugeMetricFamily("tsunagu_inbox_oldest_unanswered_seconds",
                                    "How long the oldest unanswered webhook event has waited (0: none).",
                                    labels=["channel"])
        try:
            with session_scope(self.database_url) as session:
                for kind, case_status, number in session.execute(
                        select(Case.kind, Case.status, func.count(Case.id)).group_by(Case.kind, Case.status)):
                    cases.add_metric([_value(kind), _value(case_status)], number)
                for channel, state, number in session.execute(
                        select(OutboxItem.channel, OutboxItem.state, func.count(OutboxItem.id))
                        .group_by(OutboxItem.channel, OutboxItem.state)):
                    outbox.add_metric([channel, _value(state)], number)
                for state, number in session.execute(
                        select(Delivery.state, func.count(Delivery.id)).group_by(Delivery.state)):
                    deliveries.add_metric([_value(state)], number)
                unanswered = InboxEvent.state.in_((InboxState.pending, InboxState.processing))
                for channel, state, number in session.execute(
                        select(InboxEvent.channel, InboxEvent.state, func.count(InboxEvent.id))
                        .where(unanswered).group_by(InboxEvent.channel, InboxEvent.state)):
                    inbox.add_metric([channel, _value(state)], number)
                now = utcnow()
                for channel, oldest in session.execute(
                        select(InboxEvent.channel, func.min(InboxEvent.received_at))
                        .where(unanswered).group_by(InboxEvent.channel)):
                    waiting.add_metric([channel], max(0.0, (now - oldest).total_seconds()))
        except SQLAlchemyError as error:
            log.warning("metrics: the database cannot be reached (%s)", type(error).__name__)
            return
        yield from (cases, outbox, deliveries, inbox, waiting)


def _value(member: object) -> str:
    return str(getattr(member, "value", member))
