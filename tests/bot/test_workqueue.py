"""bot.workqueue: the back-off as a wait and as a query, claims, lease renewals and heartbeats, the
background runner and the sweeper.

Case delivery (tests/routing/test_delivery.py) and the alert outbox (tests/alerts/fanout/) test
the same pieces on both database engines with real rows; these pin the pieces themselves.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, create_engine, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot import workqueue
from bot.models import utcnow
from bot.workqueue import Backoff, Heartbeat, Runner, Sweeper, claim_due, lease_token, renew_claims

NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
FIVE_THEN_THIRTY = Backoff(first=timedelta(minutes=5), factor=6.0, most=timedelta(minutes=30))
DOUBLING = Backoff(first=timedelta(seconds=2), factor=2.0, most=timedelta(seconds=60))

metadata = MetaData()
jobs = Table(
    "jobs", metadata,
    Column("id", Integer, primary_key=True),
    Column("state", String(16)),
    Column("fail_count", Integer),
    Column("last_attempt_at", DateTime(timezone=True)),
)


@pytest.fixture
def engine() -> Iterator[Engine]:
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def test_delays_grow_to_their_ceiling() -> None:
    assert [FIVE_THEN_THIRTY.delay(n) for n in range(4)] == [timedelta(minutes=m) for m in (5, 5, 30, 30)]
    assert [DOUBLING.delay(n).total_seconds() for n in range(1, 8)] == [2, 4, 8, 16, 32, 60, 60]
    assert DOUBLING.delay(10_000) == timedelta(seconds=60), "no overflow however often a row failed"


def test_the_back_off_as_a_query_matches_the_delays(engine: Engine) -> None:
    rows = [  # (fail count, minutes since the last attempt)
        (0, None), (1, 4), (1, 5), (2, 29), (2, 30), (7, 31),
    ]
    with Session(engine) as session:
        session.execute(insert(jobs), [
            {"id": number, "state": "queued", "fail_count": fails,
             "last_attempt_at": None if ago is None else NOW - timedelta(minutes=ago)}
            for number, (fails, ago) in enumerate(rows, start=1)
        ])
        due = FIVE_THEN_THIRTY.due(jobs.c.fail_count, jobs.c.last_attempt_at, NOW)
        assert sorted(session.scalars(select(jobs.c.id).where(due))) == [1, 3, 5, 6]


def test_a_claim_takes_due_rows_once(engine: Engine) -> None:
    with Session(engine) as session:
        session.execute(insert(jobs), [{"id": n, "state": "queued", "fail_count": 0} for n in range(1, 6)])
        queued = jobs.c.state == "queued"
        first = claim_due(session, jobs, queued, order_by=[jobs.c.id], limit=3, values={"state": "taken"})
        second = claim_due(session, jobs, queued, order_by=[jobs.c.id], limit=3, values={"state": "taken"})
        third = claim_due(session, jobs, queued, order_by=[jobs.c.id], limit=3, values={"state": "taken"})
    assert (sorted(first), sorted(second), third) == ([1, 2, 3], [4, 5], [])


def test_lease_tokens_of_one_moment_differ() -> None:
    tokens = [lease_token(NOW) for _ in range(3)]
    assert len(set(tokens)) == 3 and tokens == sorted(tokens)
    assert lease_token(NOW + timedelta(days=1)) == NOW + timedelta(days=1), "a later moment is taken as it is"


def test_the_runner_runs_while_work_is_left_and_then_stops() -> None:
    answers = [utcnow() - timedelta(seconds=1), None]  # something due at once, then nothing left
    calls: list[str] = []

    def job(url: str) -> datetime | None:
        calls.append(url)
        return answers.pop(0)

    runner = Runner("test-job", "sqlite://", job)
    assert runner.wait(0), "idle before the first wake"
    runner.wake()
    assert runner.wait(10)
    assert calls == ["sqlite://", "sqlite://"]


def test_a_wake_cuts_the_sleep_short() -> None:
    ran = threading.Event()
    answers = [utcnow() + timedelta(days=1), None]  # the next row is due tomorrow; a wake comes first

    def job(url: str) -> datetime | None:
        ran.set()
        return answers.pop(0)

    runner = Runner("test-wake", "sqlite://", job)
    runner.wake()
    assert ran.wait(10)
    assert not runner.wait(0), "sleeping until tomorrow's row"
    runner.wake()
    assert runner.wait(10)
    assert answers == []


def test_a_failing_pass_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workqueue, "MAX_SLEEP_SECONDS", 0.01)
    outcomes: list[Exception | None] = [RuntimeError("database away"), None]

    def job(url: str) -> datetime | None:
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome
        return None

    runner = Runner("test-retry", "sqlite://", job)
    runner.wake()
    assert runner.wait(10)
    assert outcomes == []


def test_one_runner_per_job_and_database() -> None:
    def job(url: str) -> datetime | None:
        return None

    first = workqueue.embedded_runner("test-registry", "sqlite:///a.db", job)
    assert workqueue.embedded_runner("test-registry", "sqlite:///a.db", job) is first
    assert workqueue.embedded_runner("test-registry", "sqlite:///b.db", job) is not first
    assert workqueue.embedded_runner("other-job", "sqlite:///a.db", job) is not first


leased = Table(
    "leased", metadata,
    Column("id", Integer, primary_key=True),
    Column("state", String(16)),
    Column("claimed_at", DateTime(timezone=True)),
)


def test_a_renewal_moves_only_the_rows_still_held_to_a_fresh_token(engine: Engine) -> None:
    old = lease_token(NOW)
    with Session(engine) as session:
        session.execute(insert(leased), [{"id": n, "state": "taken", "claimed_at": old} for n in (1, 2, 3)])
        taken_back = lease_token(NOW + timedelta(minutes=11))  # another worker took row 3 after the lease
        session.execute(leased.update().where(leased.c.id == 3).values(claimed_at=taken_back))
        session.execute(leased.update().where(leased.c.id == 2).values(state="sent"))  # already recorded
        fresh, still = renew_claims(session, leased, [1, 2, 3], column="claimed_at", token=old,
                                    now=NOW + timedelta(minutes=3), held=leased.c.state == "taken")
        rows = {row_id: at for row_id, at in session.execute(select(leased.c.id, leased.c.claimed_at))}
    assert still == [1] and fresh > old
    assert rows[1] == fresh.replace(tzinfo=None) and rows[3] == taken_back.replace(tzinfo=None)


def test_a_heartbeat_is_due_every_third_of_the_lease_by_the_workers_clock() -> None:
    now = [NOW]
    heartbeat = Heartbeat(timedelta(minutes=9), lambda: now[0])
    now[0] += timedelta(minutes=2, seconds=59)
    assert not heartbeat.due()
    now[0] += timedelta(seconds=1)
    assert heartbeat.due()
    heartbeat.beaten()
    assert not heartbeat.due()


def test_a_sweeper_runs_every_sweep_each_interval_and_survives_a_failing_one() -> None:
    swept: list[str] = []
    done = threading.Event()

    def failing() -> None:
        swept.append("failing")
        raise RuntimeError("the database is down")

    def counting() -> None:
        swept.append("counting")
        if swept.count("counting") >= 3:
            done.set()

    sweeper = Sweeper("test-sweeper", [failing, counting], interval=0.01).start()
    try:
        assert done.wait(10), "the sweeper stopped after a failing sweep"
    finally:
        sweeper.stop(10)
    assert swept[:4] == ["failing", "counting", "failing", "counting"]
    settled = len(swept)
    sweeper.sweep_once()  # stopped: only the explicit sweep runs
    assert len(swept) == settled + 2
