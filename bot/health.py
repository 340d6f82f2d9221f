"""Readiness for a load balancer and an operator (``GET /readyz``): can this process serve
residents, and is work piling up behind it?

``/healthz`` only says the process answers; ``/readyz`` also reaches the database and, when
one is configured, Redis, and counts what waits to be sent: alert messages still queued
(and how many of them are already due) and case deliveries not yet sent or given up. A
balancer takes a process out of rotation on 503; an operator alerts on the ages and counts.
No personal data: counts and ages only.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime

import redis
from sqlalchemy import func, or_, select, text
from sqlalchemy.exc import SQLAlchemyError

from bot.db import session_scope
from bot.models import Delivery, OutboxItem
from bot.models.base import utcnow
from bot.models.alerts import OutboxState
from bot.models.cases import DeliveryState

__all__ = ["Readiness", "check_readiness"]

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
