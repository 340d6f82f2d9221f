"""``/readyz`` reaches the database and Redis for real and counts what waits to be sent."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from bot.app import create_app
from bot.db import session_scope
from bot.health import check_readiness
from bot.models import Cooperator, OutboxItem
from bot.models.alerts import OutboxState
from bot.models.base import utcnow
from bot.settings import Settings

REDIS_URL = "redis://127.0.0.1:6379/0"
NOBODY_LISTENS = "redis://127.0.0.1:1/0"


def queue_messages(url: str, due: int, later: int) -> None:
    now = utcnow()
    with session_scope(url) as session:
        cooperator = Cooperator(town_id=None)
        session.add(cooperator)
        session.flush()
        for number in range(due + later):
            session.add(OutboxItem(cooperator_id=cooperator.id, channel="telegram", address=str(number),
                                   state=OutboxState.queued,
                                   next_attempt_at=None if number < due else now + timedelta(minutes=5)))


def test_ready_with_the_database_and_redis_and_the_queue_counted(db_url: str) -> None:
    queue_messages(db_url, due=2, later=1)
    readiness = check_readiness(db_url, REDIS_URL)
    assert readiness.ready
    assert (readiness.database, readiness.redis) == (True, True)
    assert (readiness.outbox_queued, readiness.outbox_due) == (3, 2)
    assert (readiness.deliveries_waiting, readiness.deliveries_failed) == (0, 0)


def test_not_ready_when_redis_is_configured_but_unreachable(sqlite_url: str) -> None:
    readiness = check_readiness(sqlite_url, NOBODY_LISTENS)
    assert readiness.database and readiness.redis is False
    assert not readiness.ready


def test_ready_without_redis_when_none_is_configured(sqlite_url: str) -> None:
    readiness = check_readiness(sqlite_url, None)
    assert readiness.ready and readiness.redis is None


def test_readyz_answers_503_when_the_database_cannot_be_reached(tmp_path: Path) -> None:
    unreachable = f"sqlite:///{tmp_path / 'no-such-directory' / 'tsunagu.db'}"
    app = create_app(Settings(database_url=unreachable), init_database=False, handler=lambda message: None,
                     channel_names=[])
    response = TestClient(app).get("/readyz")
    assert response.status_code == 503
    assert response.json()["database"] is False


def test_readyz_answers_200_when_everything_answers(sqlite_url: str) -> None:
    app = create_app(Settings(database_url=sqlite_url, redis_url=REDIS_URL), init_database=False,
                     handler=lambda message: None, channel_names=[])
    response = TestClient(app).get("/readyz")
    assert response.status_code == 200
    assert response.json()["ready"] is True
