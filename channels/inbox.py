"""The durable inbox: a webhook event is committed before the platform gets its 2xx, then
processed from the table, in order per resident, whatever happens to the process.

Webhook side: a :class:`DurableChannel` verifies the request, then :meth:`DurableChannel.acknowledge`
commits every event it will process (raw, exactly as verified) in one transaction and only
then answers 200. A repeated event id is a duplicate and stored once. When the database
cannot take the events the answer is 503, and the platform delivers them again (LINE and
Telegram both redeliver on a 5xx): nothing is acknowledged that is not stored. Webhooks that
arrive while a commit is in flight share the next one (group commit).

Processing side: :class:`Inbox` runs on the app's event loop. In the embedded default
(``turn_mode = "serve"``) the process that stored the events processes them: the residents
whose events were just stored are processed at once. With ``turn_mode = "worker"`` the web
processes only store (their acknowledgements never wait behind a turn for the CPU) and
``tsunagu turns`` processes run the turns: on PostgreSQL the storing transaction sends the
residents with ``NOTIFY`` (delivered only if it commits) and the turn workers ``LISTEN``; on
SQLite they look every ``POLL_SECONDS``. Either way, at start-up and every ``SWEEP_SECONDS``
an inbox that processes looks for events nobody is processing (left by a killed process, a failed attempt due again, a
lost wake-up). A resident's events go one at a time in arrival order: an event is claimed
only when every earlier event of that resident is finished, with ``bot.workqueue``'s
``SKIP LOCKED`` claims (no two processes take the same row), under a lease renewed while the event
is processed (``renew_claims``). A killed process leaves its row claimed; once the lease
runs out, any process takes it again, and the event id keeps the turn from running twice.
An event's record and the claim of its resident's next one share a transaction.
(Arrival order is the order the rows were committed in: two events of one resident that
reach two processes in the same instant have no order to keep.)

A second attempt may find that the engine already committed the turn (the process died
before it answered): the engine reports a duplicate, and the resident is answered with the
replies stored for that event (their words; buttons are not stored). A turn cut short
leaves nothing (the engine's transaction, SAVEPOINTs included, is rolled back whole, on
SQLite too: ``bot.db``), so it simply runs again. A failed attempt is
retried with back-off (``BACKOFF``); after ``MAX_ATTEMPTS`` the row is ``failed`` and logged.

Privacy: the raw event is personal data and is never logged. Its payload is erased once the
event is processed; finished rows are deleted after ``message_retention_days``
(``bot.privacy.purge_expired``, run by housekeeping).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import anyio
from fastapi import Response
from prometheus_client import Counter
from sqlalchemy import (
    Connection,
    Update,
    and_,
    bindparam,
    create_engine,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from bot.db import get_engine, session_scope
from bot.messages import InboundMessage, Reply, TurnResult
from bot.metrics import REGISTRY
from bot.models import InboxEvent, InboxState, Message, MessageDirection, utcnow
from bot.models.conversations import STAFF_MESSAGE_KIND
from bot.workqueue import Backoff, lease_token, renew_claims
from channels.base import InputChannel

__all__ = ["ANSWERS", "Answer", "ClaimedEvent", "DurableChannel", "Inbox", "InboxRole", "NewEvent"]

log = logging.getLogger(__name__)

# A claimed event's lease, renewed every third of it while the event is processed: a
# killed process's events are taken again this long after its last renewal.
LEASE = timedelta(seconds=30)
# A failed attempt (the engine raised, the platform refused) waits, then is tried again.
BACKOFF = Backoff(first=timedelta(seconds=2), factor=2.0, most=timedelta(minutes=1))
MAX_ATTEMPTS = 10
# How often the inbox looks for events nobody is processing.
SWEEP_SECONDS = 5.0
# Residents taken up by one sweep; the rest wait for the next.
SWEEP_BATCH = 200
# A turn worker on SQLite (no NOTIFY) looks for stored events this often.
POLL_SECONDS = 0.2
# The PostgreSQL notification channel that wakes turn workers; its payload names the residents
# (JSON [[channel, resident], ...]) or is empty (look for everything due), and is only a hint.
WAKE_CHANNEL = "tsunagu_inbox"
# NOTIFY payloads must stay under 8000 bytes: a longer list is sent as "look for everything".
WAKE_PAYLOAD_BYTES = 7000
# How long the listener waits for a notification before it checks whether it should stop.
LISTEN_TIMEOUT = 1.0
# Events one process holds at a time. Turns run one after another anyway (one engine
# thread per channel); claiming more would only hold them under leases, and a killed
# process's events wait for their lease to run out.
IN_FLIGHT = 4

ANSWERS = Counter(
    "tsunagu_inbox_answers", "Webhook events finished, by channel and how they were answered "
    "(reply, push: too late for the reply token or refused, send, none) or failed (given up).",
    ["channel", "answer"], registry=REGISTRY,
)

_EVENTS = InboxEvent.__table__
_UNFINISHED = (InboxState.pending, InboxState.processing)


class Answer(StrEnum):
    """How an event was answered (``InboxEvent.answered_with``; pushes instead of replies are counted)."""

    reply = "reply"  # LINE: with the event's reply token
    push = "push"  # LINE: pushed (the token was too old, refused, or the event redelivered)
    send = "send"  # a channel without reply tokens (Telegram sendMessage)
    none = "none"  # nothing to say (an unfollow, a duplicate, an ignored event)


@dataclass(frozen=True)
class NewEvent:
    """A verified event a webhook hands to the inbox."""

    event_id: str
    resident: str  # the platform's id of the chat or user: their events go in order
    payload: dict[str, Any]


@dataclass
class ClaimedEvent:
    """An event taken for processing; ``token`` is the claim's lease (renewed while it runs)."""

    id: int
    channel: str
    event_id: str
    resident: str
    payload: dict[str, Any]
    received_at: datetime
    attempts: int
    token: datetime

    @property
    def resumed(self) -> bool:
        """An earlier attempt was made: the turn may have run, the answer may have gone."""
        return self.attempts > 1


class DurableChannel(InputChannel):
    """A webhook channel whose events go through the inbox before they are processed.

    Subclasses turn a stored payload back into a message (:meth:`inbound`) and answer the
    engine's result on the platform (:meth:`answer`); their webhook verifies the request and
    returns :meth:`acknowledge`.
    """

    inbox: Inbox | None = None

    @abstractmethod
    def inbound(self, event: ClaimedEvent) -> InboundMessage | None:
        """The message for a stored event, or None when tsunagu ignores it."""

    @abstractmethod
    async def answer(self, event: ClaimedEvent, message: InboundMessage, result: TurnResult) -> Answer:
        """Send ``result.replies`` for ``event``; how it was answered."""

    async def acknowledge(self, events: Sequence[NewEvent]) -> Response:
        """Commit ``events``, then 200; 503 (the platform retries) when the database cannot take them."""
        if self.inbox is None:
            raise RuntimeError(f"{self.name()}: no inbox (bot.app registers one)")
        if events:
            try:
                await self.inbox.store(self, events)
            except SQLAlchemyError as error:
                # The error's class only: its message may quote the statement's parameters.
                log.warning("%s: events not stored (%s); answered 503 so the platform retries",
                            self.name(), type(error).__name__)
                return Response("database unavailable", status_code=503)
        return Response(status_code=200)


class InboxRole(StrEnum):
    """What an inbox does in its process (``turn_mode``)."""

    store_and_process = "store_and_process"  # `serve` in the embedded default
    store = "store"  # `serve` beside turn workers: stores, and wakes them
    process = "process"  # `tsunagu turns`: processes what the web processes stored

    @property
    def processes(self) -> bool:
        return self is not InboxRole.store


class Inbox:
    """Stores webhook events and processes them from the database (one per app and database).

    Args:
        url: the database holding the inbox, the conversations and the messages.
        role: whether this process stores, processes, or both.
    """

    def __init__(self, url: str, role: InboxRole = InboxRole.store_and_process) -> None:
        self.url = url
        self.role = role
        self._channels: dict[str, DurableChannel] = {}
        self._sweeping: asyncio.Task[None] | None = None
        self._listening: threading.Thread | None = None
        self._stop_listening = threading.Event()
        # Set when a wake-up could not name its residents: the sweep looks for everything due.
        self._look_again = asyncio.Event()
        self._slots = asyncio.Semaphore(IN_FLIGHT)
        # Residents being processed here, and whether more of their events were stored
        # since: one drain per resident, however many webhooks and sweeps name them.
        self._draining: dict[tuple[str, str], bool] = {}
        # Webhooks' events waiting for the next group commit, and the task committing them.
        self._to_store: list[tuple[str, Sequence[NewEvent], asyncio.Future[None]]] = []
        self._storing: asyncio.Task[None] | None = None

    def register(self, channel: DurableChannel) -> None:
        """Process ``channel``'s events here (the channel stores them through this inbox)."""
        channel.inbox = self
        self._channels[channel.name()] = channel

    async def start(self) -> None:
        """Sweep now and every ``SWEEP_SECONDS``: what a killed process left is taken up. A turn
        worker also listens for the web processes' wake-ups (PostgreSQL) or polls (SQLite)."""
        if not self._channels or not self.role.processes or self._sweeping is not None:
            return
        interval = SWEEP_SECONDS
        if self.role is InboxRole.process:
            if get_engine(self.url).dialect.name == "postgresql":
                self._stop_listening.clear()
                self._listening = threading.Thread(target=self._listen, args=(asyncio.get_running_loop(),),
                                                   name="inbox-listen", daemon=True)
                self._listening.start()
            else:
                interval = POLL_SECONDS
        self._sweeping = asyncio.create_task(self._sweep_forever(interval))

    async def stop(self) -> None:
        """Stop sweeping and listening (the channels' shutdown waits for the events being processed)."""
        if self._sweeping is not None:
            self._sweeping.cancel()
            await asyncio.gather(self._sweeping, return_exceptions=True)
            self._sweeping = None
        if self._listening is not None:
            self._stop_listening.set()
            await anyio.to_thread.run_sync(self._listening.join)
            self._listening = None

    # ------------------------------------------------------------------ storing
    async def store(self, channel: DurableChannel, events: Sequence[NewEvent]) -> None:
        """Commit ``events`` (a known event id is skipped), then start processing them.

        Webhooks arriving while a commit is in flight wait for the next one, all together in
        one transaction (group commit): each is answered only once its own events are
        committed, and at 400 requests a second the commits do not queue up one by one.

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the database could not take them; nothing is stored.
        """
        committed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._to_store.append((channel.name(), events, committed))
        if self._storing is None:
            self._storing = asyncio.create_task(self._store_waiting())
        await committed

    async def _store_waiting(self) -> None:
        """Commit what webhooks handed over, a batch per transaction, until nothing waits."""
        try:
            while self._to_store:
                batch, self._to_store = self._to_store, []
                try:
                    residents = await anyio.to_thread.run_sync(self.insert_batch, [(c, e) for c, e, _ in batch])
                    outcomes: list[BaseException | None] = [None] * len(batch)
                except SQLAlchemyError as error:
                    if len(batch) == 1:
                        residents, outcomes = [], [error]
                    else:
                        # One webhook's bad row must not refuse the others: each alone.
                        residents, outcomes = await self._store_one_by_one(batch)
                if self.role.processes:
                    for channel, resident in dict.fromkeys(residents):
                        self._submit(self._channels[channel], resident)
                for (_, _, committed), outcome in zip(batch, outcomes, strict=True):
                    if committed.done():  # the request was given up meanwhile
                        continue
                    if outcome is None:
                        committed.set_result(None)
                    else:
                        committed.set_exception(outcome)
        finally:
            self._storing = None

    async def _store_one_by_one(
        self, batch: list[tuple[str, Sequence[NewEvent], asyncio.Future[None]]]
    ) -> tuple[list[tuple[str, str]], list[BaseException | None]]:
        residents: list[tuple[str, str]] = []
        outcomes: list[BaseException | None] = []
        for channel, events, _ in batch:
            try:
                residents += await anyio.to_thread.run_sync(self.insert_batch, [(channel, events)])
                outcomes.append(None)
            except SQLAlchemyError as error:
                outcomes.append(error)
        return residents, outcomes

    def insert(self, channel: str, events: Sequence[NewEvent]) -> list[str]:
        """Commit ``events`` of ``channel`` (a known event id is skipped); the residents of the new ones."""
        return [resident for _, resident in self.insert_batch([(channel, events)])]

    def insert_batch(self, batch: Sequence[tuple[str, Sequence[NewEvent]]]) -> list[tuple[str, str]]:
        """Commit the events of every (channel, events) in one transaction (a known event id is
        skipped); the (channel, resident) of each new one, in arrival order."""
        now = utcnow()
        rows = [{"channel": channel, "event_id": event.event_id, "resident": event.resident,
                 "payload": event.payload, "state": InboxState.pending, "attempts": 0, "received_at": now}
                for channel, events in batch for event in events]
        if not rows:
            return []
        with get_engine(self.url).begin() as connection:
            on_postgresql = connection.dialect.name == "postgresql"
            insert = postgresql.insert if on_postgresql else sqlite.insert
            statement = (insert(_EVENTS).values(rows)
                         .on_conflict_do_nothing(index_elements=["channel", "event_id"])
                         .returning(_EVENTS.c.id, _EVENTS.c.channel, _EVENTS.c.resident))
            # In arrival order, whatever order RETURNING gave them in.
            residents = [(channel, resident) for _, channel, resident in sorted(connection.execute(statement))]
            if residents and on_postgresql and not self.role.processes:
                # Sent by PostgreSQL only if this transaction commits: a turn worker is never
                # woken for an event it cannot see yet.
                connection.execute(select(func.pg_notify(WAKE_CHANNEL, _wake_payload(residents))))
        return residents

    # ------------------------------------------------------------------ processing
    def _submit(self, channel: DurableChannel, resident: str) -> None:
        key = (channel.name(), resident)
        if key in self._draining:
            self._draining[key] = True  # its drain looks again before it ends
            return
        self._draining[key] = False
        channel.tasks.submit(resident, self._drain_resident(channel, resident))

    async def sweep(self) -> int:
        """Start processing every resident with an event due and nobody on it; returns how many."""
        due = await anyio.to_thread.run_sync(self._due_residents)
        for channel_name, resident in due:
            self._submit(self._channels[channel_name], resident)
        return len(due)

    async def _sweep_forever(self, interval: float) -> None:
        while True:
            self._look_again.clear()
            try:
                await self.sweep()
            except Exception:  # noqa: BLE001 - the database may be down: look again later
                log.exception("inbox: sweep failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._look_again.wait(), interval)

    def _wake(self, payload: str) -> None:
        """A web process committed events (a turn worker's notification): process their residents."""
        try:
            named = [(str(channel), str(resident)) for channel, resident in json.loads(payload)]
        except (ValueError, TypeError):  # too many to name, or not ours: look for everything due
            self._look_again.set()
            return
        for channel_name, resident in named:
            channel = self._channels.get(channel_name)
            if channel is not None:
                self._submit(channel, resident)

    def _listen(self, loop: asyncio.AbstractEventLoop) -> None:
        """A turn worker's thread on PostgreSQL: each notification wakes the inbox on ``loop``.

        After every (re)connection the inbox sweeps: what was stored while nobody listened is
        taken up then, not at the next periodic sweep.
        """
        listener_engine = create_engine(self.url, poolclass=NullPool)  # its own connection, held for good
        try:
            while not self._stop_listening.is_set():
                try:
                    with listener_engine.connect() as connection:
                        connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                            f"LISTEN {WAKE_CHANNEL}")
                        loop.call_soon_threadsafe(self._look_again.set)
                        listener = connection.connection.driver_connection
                        while not self._stop_listening.is_set():
                            for notice in listener.notifies(timeout=LISTEN_TIMEOUT):
                                loop.call_soon_threadsafe(self._wake, notice.payload)
                except Exception as error:  # noqa: BLE001 - the database went away: sweeps go on
                    log.warning("inbox: not listening for wake-ups (%s); trying again", type(error).__name__)
                    self._stop_listening.wait(SWEEP_SECONDS)
        finally:
            listener_engine.dispose()

    def _due_residents(self) -> list[tuple[str, str]]:
        with get_engine(self.url).connect() as connection:
            due = connection.execute(_STATEMENTS.sweep, {"channels": list(self._channels), **_due_values(utcnow())})
            return list(dict.fromkeys((channel, resident) for channel, resident in due))

    async def _drain_resident(self, channel: DurableChannel, resident: str) -> None:
        """Process the resident's events in order while the next one can be claimed."""
        key = (channel.name(), resident)
        try:
            async with self._slots:
                event = await anyio.to_thread.run_sync(self.claim_next, channel.name(), resident)
                while True:
                    if event is None:
                        if not self._draining[key]:
                            return
                        self._draining[key] = False  # stored while we looked: look again
                        event = await anyio.to_thread.run_sync(self.claim_next, channel.name(), resident)
                        continue
                    answer = await self._process(channel, event)
                    if answer is None:
                        return  # it waits for its back-off; the events after it wait with it
                    # The record of this one and the claim of the next in one transaction.
                    event = await anyio.to_thread.run_sync(self.finish_and_claim_next, event, answer)
        finally:
            del self._draining[key]

    def claim_next(self, channel: str, resident: str) -> ClaimedEvent | None:
        """Claim the resident's earliest unfinished event if it is due (not another worker's)."""
        with get_engine(self.url).begin() as connection:
            return _claim(connection, channel, resident)

    def finish_and_claim_next(self, event: ClaimedEvent, answer: Answer) -> ClaimedEvent | None:
        """:meth:`finish` ``event`` and :meth:`claim_next` of its resident, in one transaction."""
        with get_engine(self.url).begin() as connection:
            self._record(connection, event, answer)
            return _claim(connection, event.channel, event.resident)

    async def _process(self, channel: DurableChannel, event: ClaimedEvent) -> Answer | None:
        """One claimed event: the turn and the answer (its record is the caller's); None when it
        failed, and then it is given back for another attempt."""
        heartbeat = asyncio.create_task(self._keep_lease(event))
        try:
            answer = await self._turn_and_answer(channel, event)
        except Exception:  # noqa: BLE001 - the event is tried again after its back-off
            log.exception("inbox: %s event %d failed (attempt %d)", event.channel, event.id, event.attempts)
            answer = None
        finally:
            heartbeat.cancel()
            # A renewal in flight finishes first (a thread is not interrupted): the token is current.
            await asyncio.gather(heartbeat, return_exceptions=True)
        if answer is None:
            await anyio.to_thread.run_sync(self.release, event)
        return answer

    async def _turn_and_answer(self, channel: DurableChannel, event: ClaimedEvent) -> Answer:
        message = channel.inbound(event)
        if message is None:
            return Answer.none
        # The turn happens when the resident wrote, however late it is processed.
        message = replace(message, received_at=event.received_at)
        result = await channel.handle(message)
        if result.duplicate and event.resumed:
            # An earlier attempt ran the turn and died before answering: say what it said.
            replies = await anyio.to_thread.run_sync(self.replies_of, event.channel, event.event_id)
            result = replace(result, replies=replies, duplicate=False)
        if result.duplicate or not result.replies:
            return Answer.none
        return await channel.answer(event, message, result)

    async def _keep_lease(self, event: ClaimedEvent) -> None:
        while True:
            await asyncio.sleep((LEASE / 3).total_seconds())
            await anyio.to_thread.run_sync(self._renew, event)

    def _renew(self, event: ClaimedEvent) -> None:
        with session_scope(self.url) as session:
            fresh, held = renew_claims(session, _EVENTS, [event.id], column="claimed_at", token=event.token,
                                       now=utcnow(), held=_EVENTS.c.state == InboxState.processing)
        if held:
            event.token = fresh
        else:
            log.warning("inbox: %s event %d: lease lost to another worker", event.channel, event.id)

    def finish(self, event: ClaimedEvent, answer: Answer) -> bool:
        """Record ``event`` as answered and erase its payload; False if the claim was lost meanwhile."""
        with get_engine(self.url).begin() as connection:
            return self._record(connection, event, answer)

    @staticmethod
    def _record(connection: Connection, event: ClaimedEvent, answer: Answer) -> bool:
        done = connection.execute(
            _STATEMENTS.finish, {"row_id": event.id, "token": event.token, "processed_at": utcnow(),
                                 "answered_with": answer.value}).rowcount
        if not done:
            log.warning("inbox: %s event %d answered after its lease ran out", event.channel, event.id)
            return False
        ANSWERS.labels(event.channel, answer.value).inc()
        if answer is Answer.push:
            log.info("inbox: %s event %d answered by push (attempt %d)", event.channel, event.id, event.attempts)
        return True

    def release(self, event: ClaimedEvent) -> None:
        """Give a failed attempt back: due again after its back-off, or ``failed`` after the last one."""
        state = InboxState.failed if event.attempts >= MAX_ATTEMPTS else InboxState.pending
        with session_scope(self.url) as session:
            session.execute(
                update(InboxEvent)
                .where(InboxEvent.id == event.id, InboxEvent.claimed_at == event.token,
                       InboxEvent.state == InboxState.processing)
                .values(state=state, claimed_at=utcnow())
            )
        if state is InboxState.failed:
            ANSWERS.labels(event.channel, "failed").inc()
            log.error("inbox: %s event %d failed %d times: given up", event.channel, event.id, event.attempts)

    def replies_of(self, channel: str, event_id: str) -> list[Reply]:
        """What the engine said in the turn of ``event_id``: the outbound messages stored after it."""
        with session_scope(self.url) as session:
            return _stored_replies(session, channel, event_id)


class _Statements:
    """The inbox's statements, built once: building the due condition took SQLAlchemy longer
    than it takes the database to claim a row. The times are bound at each execution
    (:func:`_due_values`)."""

    def __init__(self) -> None:
        # Due: the first unfinished event of its resident, and either waiting (past its back-off)
        # or claimed by a worker whose lease ran out.
        earlier = _EVENTS.alias("earlier")
        first_of_resident = ~exists().where(
            earlier.c.channel == _EVENTS.c.channel, earlier.c.resident == _EVENTS.c.resident,
            earlier.c.id < _EVENTS.c.id, earlier.c.state.in_(_UNFINISHED))
        backoff, self.backoff_values = BACKOFF.bound_due(_EVENTS.c.attempts, _EVENTS.c.claimed_at, "retry_after")
        waiting = and_(_EVENTS.c.state == InboxState.pending, backoff)
        abandoned = and_(_EVENTS.c.state == InboxState.processing,
                         _EVENTS.c.claimed_at <= bindparam("lease_before", type_=_EVENTS.c.claimed_at.type))
        due = and_(first_of_resident, or_(waiting, abandoned))
        self.sweep = (select(_EVENTS.c.channel, _EVENTS.c.resident)
                      .where(_EVENTS.c.channel.in_(bindparam("channels", expanding=True)), due)
                      .order_by(_EVENTS.c.id).limit(SWEEP_BATCH))
        candidate = (select(_EVENTS.c.id)
                     .where(_EVENTS.c.channel == bindparam("claim_channel"),
                            _EVENTS.c.resident == bindparam("claim_resident"), due)
                     .order_by(_EVENTS.c.id).limit(1)
                     .correlate(None))  # a row of its own, not the updated one
        taken = {"state": InboxState.processing, "claimed_at": bindparam("token", type_=_EVENTS.c.claimed_at.type),
                 "attempts": _EVENTS.c.attempts + 1}
        returned = (_EVENTS.c.id, _EVENTS.c.channel, _EVENTS.c.event_id, _EVENTS.c.resident, _EVENTS.c.payload,
                    _EVENTS.c.received_at, _EVENTS.c.attempts)
        # PostgreSQL: the row locked and skipped by the others (a scalar subquery runs once).
        # SQLite has one writer at a time: the row is ours if it was still due when updated.
        self.claim: dict[str, Update] = {
            "postgresql": update(_EVENTS).where(
                _EVENTS.c.id == candidate.with_for_update(skip_locked=True).scalar_subquery())
            .values(taken).returning(*returned),
            "sqlite": update(_EVENTS).where(_EVENTS.c.id.in_(candidate.scalar_subquery()), due)
            .values(taken).returning(*returned),
        }
        self.finish = (update(_EVENTS)
                       .where(_EVENTS.c.id == bindparam("row_id"),
                              _EVENTS.c.claimed_at == bindparam("token", type_=_EVENTS.c.claimed_at.type),
                              _EVENTS.c.state == InboxState.processing)
                       .values(state=InboxState.done, payload=None,
                               processed_at=bindparam("processed_at", type_=_EVENTS.c.processed_at.type),
                               answered_with=bindparam("answered_with")))


_STATEMENTS = _Statements()


def _wake_payload(residents: Sequence[tuple[str, str]]) -> str:
    payload = json.dumps(list(dict.fromkeys(residents)), separators=(",", ":"))
    return payload if len(payload.encode()) <= WAKE_PAYLOAD_BYTES else ""


def _due_values(now: datetime) -> dict[str, datetime]:
    """The times the due condition is evaluated at (``LEASE`` read now: tests shorten it)."""
    return {**_STATEMENTS.backoff_values(now), "lease_before": now - LEASE}


def _claim(connection: Connection, channel: str, resident: str) -> ClaimedEvent | None:
    now = utcnow()
    token = lease_token(now)
    row = connection.execute(_STATEMENTS.claim[connection.dialect.name],
                             {"claim_channel": channel, "claim_resident": resident, "token": token,
                              **_due_values(now)}).first()
    if row is None:
        return None
    return ClaimedEvent(id=row.id, channel=row.channel, event_id=row.event_id, resident=row.resident,
                        payload=row.payload or {}, received_at=row.received_at, attempts=row.attempts, token=token)


def _stored_replies(session: Session, channel: str, event_id: str) -> list[Reply]:
    inbound = session.scalars(
        select(Message).where(Message.channel == channel, Message.channel_event_id == event_id)).first()
    if inbound is None:
        return []
    of_contact = and_(Message.contact_id == inbound.contact_id, Message.id > inbound.id)
    next_inbound = (select(func.min(Message.id))
                    .where(of_contact, Message.direction == MessageDirection.inbound).scalar_subquery())
    texts = session.scalars(
        select(Message.text)
        # A staff member's message written meanwhile is not part of the turn (it went out on its own).
        .where(of_contact, Message.direction == MessageDirection.outbound, Message.kind != STAFF_MESSAGE_KIND,
               or_(next_inbound.is_(None), Message.id < next_inbound))
        .order_by(Message.id))
    return [Reply(text=text) for text in texts if text]
