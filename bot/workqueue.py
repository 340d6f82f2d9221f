"""Work kept as database rows: claiming due rows, leases, back-off, and the background runner.

Case delivery (``routing.delivery``) and the alert outbox (``alerts.fanout.outbox``) both
keep their work FixMyStreet style: each row has a state, a fail count and the time of
its last attempt, and workers take it with this module's pieces:

* :func:`claim_due` marks up to N due rows as taken, so that two workers (threads,
  processes, servers) never take the same row: ``SELECT … FOR UPDATE SKIP LOCKED`` on
  PostgreSQL, a conditional ``UPDATE`` on SQLite (one writer at a time).
* A *lease*: a taken row whose worker has not written back within the lease is due
  again (:func:`lease_expired`); :func:`lease_token` makes the claim times that tell
  one claim's rows from another's.
* :class:`Backoff`: how long a failed row waits before the next attempt, as a
  duration (for a row that stores when it is due) or as a query condition over the
  fail count and the last attempt (the back-off lives in the query).
* :func:`renew_claims` and :class:`Heartbeat`: a claim's lease is its own (each claim
  gets a fresh token when it is made, never the time a pass started), and a worker
  renews the lease of the rows it still holds every third of the lease, so a long pass
  keeps what it is working on while the rows of a killed worker come back once its
  lease runs out. Every write-back is guarded by the token: a worker that lost its
  lease cannot overwrite what another one did.
* :class:`Runner`: the embedded default's background thread, which runs passes of one
  job while work is left and sleeps until the job's next row is due.
* :class:`Sweeper`: a periodic thread (``serve`` and ``tsunagu worker``) that runs the
  queues' sweeps whatever happened to the wake-ups: a kick is only a hint.

This module knows no table: the callers pass their own columns and conditions.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, bindparam, or_, select, update
from sqlalchemy.orm import Session

from bot.models import utcnow

__all__ = [
    "Backoff",
    "Heartbeat",
    "Runner",
    "Sweep",
    "Sweeper",
    "claim_due",
    "embedded_runner",
    "lease_expired",
    "lease_token",
    "renew_claims",
]

log = logging.getLogger(__name__)

# The runner looks again at least this often while rows wait (a retry, a lease), and
# after a pass that failed.
MAX_SLEEP_SECONDS = 60.0
# Past this many failures the back-off has long reached its ceiling.
_MAX_GROWTH_STEPS = 64


@dataclass(frozen=True)
class Backoff:
    """The wait after the n-th failure: ``first``, then times ``factor`` each time, at most ``most``.

    ``Backoff(first=5 min, factor=6, most=30 min)`` retries after 5 minutes, then every
    30; ``Backoff(first=2 s, factor=2, most=300 s)`` doubles from 2 seconds to 5 minutes.
    """

    first: timedelta
    factor: float
    most: timedelta

    def delay(self, fail_count: int) -> timedelta:
        """The wait before the attempt after ``fail_count`` failures (``first`` for 0 or 1)."""
        steps = min(_MAX_GROWTH_STEPS, max(0, fail_count - 1))
        seconds = self.first.total_seconds() * self.factor**steps
        return timedelta(seconds=min(self.most.total_seconds(), seconds))

    def due(
        self, fail_count: ColumnElement[int], last_attempt: ColumnElement[datetime], now: datetime
    ) -> ColumnElement[bool]:
        """The back-off as a query condition: never failed, or waited long enough since the last attempt.

        One term per fail count until the wait reaches ``most``, then one for all the rest.

        Args:
            fail_count: the rows' fail count column.
            last_attempt: the rows' last attempt time column.
            now: the current time (aware).

        Returns:
            A condition true for the rows whose next attempt is due.
        """
        return or_(fail_count == 0, *(and_(fail_count >= failures if rest else fail_count == failures,
                                           last_attempt <= now - wait)
                                      for failures, wait, rest in self._steps()))

    def bound_due(
        self, fail_count: ColumnElement[int], last_attempt: ColumnElement[datetime], name: str
    ) -> tuple[ColumnElement[bool], Callable[[datetime], dict[str, datetime]]]:
        """:meth:`due` built once, its times as bound parameters (``name`` and the fail count).

        Building the condition costs more CPU than the database takes to evaluate it: a queue
        claimed hundreds of times a second (the inbox) builds it once and binds the times.

        Returns:
            The condition, and the parameter values that make it :meth:`due` at a given time.
        """
        steps = self._steps()
        condition = or_(fail_count == 0, *(
            and_(fail_count >= failures if rest else fail_count == failures,
                 last_attempt <= bindparam(f"{name}_{failures}", type_=last_attempt.type))
            for failures, _, rest in steps))

        def values(now: datetime) -> dict[str, datetime]:
            return {f"{name}_{failures}": now - wait for failures, wait, _ in steps}

        return condition, values

    def _steps(self) -> list[tuple[int, timedelta, bool]]:
        """(fail count, its wait, whether it stands for every count from there on), one per
        fail count until the wait reaches ``most``, then one for all the rest."""
        steps = []
        failures = 1
        while (wait := self.delay(failures)) < self.most and failures <= _MAX_GROWTH_STEPS:
            steps.append((failures, wait, False))
            failures += 1
        steps.append((failures, self.most, True))
        return steps


_token_lock = threading.Lock()
_last_token: datetime | None = None


def lease_token(now: datetime) -> datetime:
    """A claim time that tells this claim's rows apart: ``now``, moved on a microsecond if just used.

    Args:
        now: the current time (aware).

    Returns:
        ``now``, or a microsecond after the token this process handed out last.
    """
    global _last_token
    with _token_lock:
        # Only claims made within the same millisecond need telling apart; a "now" far
        # from the last one (tests moving the clock) is taken as it is.
        if _last_token is not None and now <= _last_token < now + timedelta(milliseconds=1):
            now = _last_token + timedelta(microseconds=1)
        _last_token = now
        return now


def lease_expired(claimed_at: ColumnElement[datetime], now: datetime, lease: timedelta) -> ColumnElement[bool]:
    """Rows claimed longer ago than ``lease``: their worker stopped, another may take them."""
    return claimed_at <= now - lease


def claim_due(
    session: Session,
    table: Table,
    due: ColumnElement[bool],
    *,
    order_by: Sequence[ColumnElement[Any]],
    limit: int,
    values: Mapping[str, Any],
) -> list[int]:
    """Take up to ``limit`` due rows of ``table`` (first in ``order_by``) by setting ``values`` on them.

    Does not commit. No row is taken by two callers at once, on either engine.

    Args:
        session: the worker's session.
        table: the table; its primary key column is ``id``.
        due: which rows may be taken now (state, back-off, expired lease).
        order_by: which due rows come first.
        limit: the most rows to take.
        values: what marks a row as taken (state, claim time).

    Returns:
        The ids of the rows taken, in no particular order.
    """
    candidates = select(table.c.id).where(due).order_by(*order_by).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        # Two statements: inside an UPDATE the planner may run a LIMIT … SKIP LOCKED
        # subquery more than once and take more rows than asked for.
        ids = list(session.scalars(candidates.with_for_update(skip_locked=True)))
        if ids:
            session.execute(update(table).where(table.c.id.in_(ids)).values(**values))
        return ids
    # SQLite has one writer at a time: a row is ours if it was still due when we updated it.
    statement = update(table).where(table.c.id.in_(candidates.scalar_subquery()), due).values(**values)
    return [row_id for (row_id,) in session.execute(statement.returning(table.c.id))]


def renew_claims(
    session: Session,
    table: Table,
    ids: Sequence[int],
    *,
    column: str,
    token: datetime,
    now: datetime,
    held: ColumnElement[bool],
) -> tuple[datetime, list[int]]:
    """Move the rows ``ids`` still held under ``token`` to a fresh token (a renewed lease).

    Does not commit.

    Args:
        session: the worker's session.
        table: the table; its primary key column is ``id``.
        ids: the rows the worker is still working on.
        column: the claim time column that holds the lease token.
        token: the worker's current token.
        now: the current time (aware).
        held: what else a held row satisfies (its state).

    Returns:
        The new token, and the ids that were still ours (the others were taken back).
    """
    fresh = lease_token(now)
    if not ids:
        return fresh, []
    statement = (
        update(table)
        .where(table.c.id.in_(list(ids)), table.c[column] == token, held)
        .values({column: fresh})
        .returning(table.c.id)
    )
    return fresh, [row_id for (row_id,) in session.execute(statement)]


class Heartbeat:
    """When a worker holding a lease should renew it: every third of the lease, by its clock.

    The clock is the worker's (tests move it); a renewal at every third of the lease
    leaves two thirds for one slow step (a send with its time-out) between beats.
    """

    def __init__(self, lease: timedelta, clock: Callable[[], datetime], started: datetime | None = None) -> None:
        self.every = lease / 3
        self._clock = clock
        self._last = started or clock()

    def due(self) -> bool:
        """True when the lease should be renewed now."""
        return self._clock() - self._last >= self.every

    def beaten(self) -> None:
        """Note that the lease was just renewed."""
        self._last = self._clock()


Job = Callable[[str], datetime | None]
"""One pass over a database's rows (given its URL); returns when the next row is due, or None."""


class Runner:
    """The embedded background worker of one job and database: a daemon thread that runs passes.

    :meth:`wake` starts the thread (or cuts its sleep short); after each pass it sleeps
    until the job's next row is due (at most ``MAX_SLEEP_SECONDS``), and it ends when
    the job reports nothing pending and nobody woke it meanwhile.
    """

    def __init__(self, name: str, url: str, job: Job) -> None:
        self.name = name
        self.url = url
        self._job = job
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        """Run a pass soon: start the thread, or interrupt its sleep."""
        with self._lock:
            self._wake.set()
            self._idle.clear()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=f"tsunagu-{self.name}", daemon=True)
                self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the thread has ended (nothing pending); False on timeout."""
        return self._idle.wait(timeout)

    def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                due = self._job(self.url)
            except Exception:  # noqa: BLE001 - keep the runner alive; look again later
                log.exception("%s pass failed", self.name)
                due = utcnow() + timedelta(seconds=MAX_SLEEP_SECONDS)
            with self._lock:
                if due is None and not self._wake.is_set():
                    self._thread = None
                    self._idle.set()
                    return
            delay = 0.0 if due is None else (due - utcnow()).total_seconds()
            if delay > 0:
                self._wake.wait(min(delay, MAX_SLEEP_SECONDS))


_runners: dict[tuple[str, str], Runner] = {}
_runners_lock = threading.Lock()


def embedded_runner(name: str, url: str, job: Job) -> Runner:
    """The runner of job ``name`` on the database at ``url`` (one per job, database and process).

    Args:
        name: the job's name (the thread is called ``tsunagu-<name>``).
        url: the database URL, handed to ``job``.
        job: one pass; the first caller's job is kept.

    Returns:
        The runner (not started: call :meth:`Runner.wake`).
    """
    with _runners_lock:
        runner = _runners.get((name, url))
        if runner is None:
            runner = _runners[(name, url)] = Runner(name, url, job)
        return runner


Sweep = Callable[[], object]
"""One look at a queue (e.g. "wake the sender if anything is due"); its result is ignored."""


class Sweeper:
    """A daemon thread that runs every sweep every ``interval`` seconds until stopped.

    The queues are rows in the database: whatever queued them kicks a worker after the
    commit, but a kick can be lost (Redis unreachable, a process killed between the
    commit and the kick, rows written by another process). The sweeper makes the kick a
    hint: anything queued is picked up within one interval. A failing sweep is logged
    and tried again at the next interval.
    """

    def __init__(self, name: str, sweeps: Sequence[Sweep], interval: float) -> None:
        self.name = name
        self.interval = interval
        self._sweeps = list(sweeps)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sweep_once(self) -> None:
        """Run every sweep now, in this thread (failures are logged, not raised)."""
        for sweep in self._sweeps:
            try:
                sweep()
            except Exception:  # noqa: BLE001 - one queue's failure must not stop the others' sweeps
                log.exception("%s: a sweep failed", self.name)

    def start(self) -> Sweeper:
        """Start the thread (once); returns self."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"tsunagu-{self.name}", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Stop the thread after its current sweep."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sweep_once()
