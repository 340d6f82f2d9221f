"""Running the fan-out: one pass over the outbox, the embedded background sender, and the kick.

A pass runs one :class:`ChannelWorker` per channel side by side in one event loop:
each claims a batch (nearest first), sends it group by group (one text per alert,
kind and language) while renewing the batch's lease (``bot.workqueue.Heartbeat``),
records the outcomes, and goes on until nothing of its channel is due or the pass's
time is up. Outcomes of channels without an idempotency key (Telegram, e-mail, SMS)
are recorded one by one before the next send; LINE's every ``RECORD_SECONDS``.
Database work runs in threads so that one channel's commit never stalls another
channel's sends. A ``withdraw`` group is handed to the sender's ``withdraw`` with the
message ids stored when the alert was sent.

:func:`kick`, called after a commit that queued rows, starts the senders: in the
embedded default (no Redis) a ``bot.workqueue.Runner`` thread of this process that
runs passes while rows are left and sleeps until the next retry or lease expiry; with
``settings.redis_url`` one Dramatiq message per channel for ``alerts.fanout.worker``,
which runs the same pass inside its actors. A kick is only a hint: :func:`sweep`,
which the sweepers of ``serve`` and ``tsunagu worker`` run every
``settings.queue_sweep_seconds``, kicks again whenever rows are due, so an alert
approved while Redis was unreachable is sent once it is back.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from alerts.fanout.items import WITHDRAW_KIND, Batch, Item, Outcome, Status, configured_channels
from alerts.fanout.outbox import claim, message_ids, next_due, record, renew
from alerts.fanout.photos import publish_photo
from alerts.fanout.senders import SENDERS, Sender, make_limiter
from alerts.texts import ALERT_KINDS, AlertMessage, render_outbox_message
from bot import workqueue
from bot.workqueue import Heartbeat
from bot.db import session_factory
from bot.domain import load_domain
from bot.models import utcnow
from bot.settings import Settings, settings
from channels.ratelimit import RedisRateLimiter

__all__ = ["ChannelWorker", "embedded_runner", "kick", "process_outbox", "run_pass", "sweep", "wait"]

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

# The embedded sender waits at least this long after a pass that found nothing it
# could take (rows locked by another process).
IDLE_SLEEP_SECONDS = 1.0
# Outcomes of a batch being sent are written at least this often.
RECORD_SECONDS = 0.1


class LeaseLost(Exception):
    """Another worker took the batch back (this one was too slow to renew): stop sending it."""


class _Texts:
    """The messages of one pass (text, 「見かけた」 button, photo), rendered once per (alert, kind, language,
    channel): e-mail and SMS, which show no button, may have their own wording (domain.yml ``channel:``).
    An alert's photo is copied to its public address (``alerts.media``) once, before any channel renders it."""

    def __init__(self, sessions: sessionmaker[Session], config: Settings) -> None:
        self._sessions = sessions
        self._config = config
        self._cache: dict[tuple[int | None, str, str, str], AlertMessage] = {}
        self._photos: dict[int, asyncio.Task[None]] = {}

    async def get(self, alert_id: int | None, kind: str, language: str, channel: str) -> AlertMessage:
        key = (alert_id, kind, language, channel)
        if key not in self._cache:
            if alert_id is not None and kind in ALERT_KINDS:
                if alert_id not in self._photos:
                    self._photos[alert_id] = asyncio.ensure_future(
                        publish_photo(self._sessions, alert_id, self._config))
                await self._photos[alert_id]
            self._cache[key] = await asyncio.to_thread(self._render, *key)
        return self._cache[key]

    def _render(self, alert_id: int | None, kind: str, language: str, channel: str) -> AlertMessage:
        with self._sessions() as session:
            return render_outbox_message(session, load_domain(self._config.domain_path), alert_id, kind, language,
                                         channel=channel)


class ChannelWorker:
    """Claims, sends and records the batches of one channel."""

    def __init__(
        self, sender: Sender, sessions: sessionmaker[Session], texts: _Texts, config: Settings, clock: Clock = utcnow
    ) -> None:
        self.sender = sender
        self.channel = sender.channel
        self._sessions = sessions
        self._texts = texts
        self._config = config
        self._clock = clock

    async def drain(self, deadline: float) -> Counter[str]:
        """Send batches until nothing of the channel is due or ``time.monotonic()`` passes ``deadline``.

        Returns:
            Counts of outcomes (sent, later, retry, hold, gone, failed).
        """
        counts: Counter[str] = Counter()
        while time.monotonic() < deadline:
            batch = await asyncio.to_thread(self._claim)
            if batch is None:
                break
            if batch.items:  # else everything claimed was screened out (quiet hours, unsubscribed)
                counts.update(await self._send(batch))
        return counts

    def _claim(self) -> Batch | None:
        with self._sessions() as session:
            return claim(session, self.channel, self.sender.batch_size, now=self._clock(), config=self._config)

    def _record(self, batch: Batch, results: list[tuple[Item, Outcome]]) -> Counter[str]:
        with self._sessions() as session:
            return record(session, batch, results, now=self._clock(), config=self._config)

    def _renew(self, batch: Batch, items: list[Item]) -> None:
        with self._sessions() as session:
            renew(session, batch, items, now=self._clock())

    def _message_ids(self, items: list[Item]) -> dict[int, list[str]]:
        with self._sessions() as session:
            return message_ids(session, items)

    async def _send(self, batch: Batch) -> Counter[str]:
        """Send a batch group by group while a bookkeeper records outcomes and renews the lease.

        A channel without an idempotency key has each outcome written before its next
        send, so a worker that dies re-sends at most the one message it had in flight;
        LINE's outcomes (a multicast's worth at once, repeated safely under its retry key)
        are written within ``RECORD_SECONDS``. Writing and renewing take turns (a lock):
        both use the batch's lease token, which a renewal changes.
        """
        known: list[tuple[Item, Outcome]] = []
        reported: set[int] = set()
        recorded: set[int] = set()
        finished = asyncio.Event()
        turn = asyncio.Lock()
        counts: Counter[str] = Counter()

        async def write() -> None:
            async with turn:
                if known:
                    results = known[:]
                    del known[:]
                    counts.update(await asyncio.to_thread(self._record, batch, results))
                    recorded.update(item.id for item, _ in results)

        async def report(item: Item, outcome: Outcome) -> None:
            reported.add(item.id)
            known.append((item, outcome))
            if not self.sender.idempotent:
                await write()
            if counts["lost"]:
                raise LeaseLost(batch.channel)

        async def bookkeeper() -> None:
            heartbeat = Heartbeat(timedelta(seconds=self._config.fanout_lease_seconds), self._clock)
            while True:
                last_round = finished.is_set()
                await write()
                if last_round:
                    return
                if heartbeat.due():
                    async with turn:
                        # Every row not written yet, reported meanwhile or not, moves to the new token.
                        pending = [item for item in batch.items if item.id not in recorded]
                        await asyncio.to_thread(self._renew, batch, pending)
                    heartbeat.beaten()
                try:
                    await asyncio.wait_for(finished.wait(), RECORD_SECONDS)
                except TimeoutError:
                    pass

        keeper = asyncio.create_task(bookkeeper())
        try:
            for (alert_id, kind, language), items in batch.groups().items():
                try:
                    if kind == WITHDRAW_KIND:
                        sent = await asyncio.to_thread(self._message_ids, items)
                        await self.sender.withdraw(items, sent, report)
                    else:
                        await self.sender.send(items, await self._texts.get(alert_id, kind, language, self.channel),
                                               language, report)
                except LeaseLost:
                    log.warning("%s: the batch was taken back by another worker; stopped sending it", self.channel)
                    break
                except Exception as exc:  # noqa: BLE001 - a failed group is retried, the pass goes on
                    log.exception("%s: sending %d %s messages (alert %s) failed",
                                  self.channel, len(items), kind, alert_id)
                    for item in items:
                        if item.id not in reported:
                            await report(item, Outcome(Status.retry, type(exc).__name__))
        finally:
            finished.set()
            await keeper
        return counts


async def run_pass(
    channels: Sequence[str] | None = None,
    *,
    seconds: float | None = None,
    config: Settings | None = None,
    clock: Clock = utcnow,
) -> dict[str, Counter[str]]:
    """Send what is due on ``channels`` (default: all configured) until done or ``seconds`` pass.

    Args:
        channels: channel names; the configured ones by default.
        seconds: stop claiming new batches after this long; None runs until nothing is due.
        config: settings (database, channels, limits); the process's by default.
        clock: what time it is for claims, quiet hours and records (tests move it).

    Returns:
        Outcome counts per channel; a channel whose pass broke off has an ``error`` count.
    """
    config = config or settings
    channels = list(channels or configured_channels(config))
    sessions = session_factory(config.database_url)
    limiter = make_limiter(config)
    texts = _Texts(sessions, config)
    senders = [SENDERS[channel](config, limiter) for channel in channels]
    deadline = time.monotonic() + (math.inf if seconds is None else seconds)
    try:
        results = await asyncio.gather(
            *(ChannelWorker(sender, sessions, texts, config, clock).drain(deadline) for sender in senders),
            return_exceptions=True,
        )
    finally:
        for sender in senders:
            try:
                await sender.close()
            except Exception:  # noqa: BLE001 - closing must not hide the pass's result
                log.warning("%s: closing the sender failed", sender.channel, exc_info=True)
        if isinstance(limiter, RedisRateLimiter):
            await limiter.close()
    counts: dict[str, Counter[str]] = {}
    for channel, result in zip(channels, results, strict=True):
        if isinstance(result, BaseException):
            log.error("%s: fan-out pass broke off", channel, exc_info=result)
            result = Counter(error=1)
        counts[channel] = result
    return counts


def process_outbox(
    channels: Sequence[str] | None = None,
    *,
    seconds: float | None = None,
    config: Settings | None = None,
    clock: Clock = utcnow,
) -> dict[str, Counter[str]]:
    """:func:`run_pass` in a new event loop, for threads, commands and Dramatiq actors."""
    return asyncio.run(run_pass(channels, seconds=seconds, config=config, clock=clock))


# --------------------------------------------------------------------------- starting the senders


def _embedded_pass(url: str) -> datetime | None:
    """One pass of the embedded sender over the database at ``url``; when to look again."""
    config = settings.model_copy(update={"database_url": url})
    counts = process_outbox(config=config)
    progressed = any(number for channel in counts.values() for what, number in channel.items() if what != "error")
    with session_factory(url)() as session:
        due = next_due(session, configured_channels(config), now=utcnow(), config=config)
    if due is not None and not progressed:
        # Nothing it could take (rows locked by another process): do not spin.
        due = max(due, utcnow() + timedelta(seconds=IDLE_SLEEP_SECONDS))
    return due


def embedded_runner(url: str) -> workqueue.Runner:
    """The embedded sender of the database at ``url`` (one per database and process)."""
    return workqueue.embedded_runner("fanout", url, _embedded_pass)


def kick(url: str | None = None) -> None:
    """Start sending what the outbox holds; call after committing. Never waits for the sends.

    Embedded default (no ``settings.redis_url``): wakes this process's background
    sender thread. With Redis: enqueues one Dramatiq message per configured channel for
    the ``tsunagu worker`` processes; if Redis cannot be reached the error is logged and
    the rows stay queued for the next sweep (:func:`sweep`).

    Args:
        url: the database whose outbox to send (embedded sender); the configured one by default.
    """
    if not settings.redis_url:
        embedded_runner(url or settings.database_url).wake()
        return
    from alerts.fanout import broker  # why: Dramatiq and Redis load only where TSUNAGU_REDIS_URL is set

    try:
        broker.start_workers(settings.redis_url, settings.fanout_namespace, configured_channels())
    except Exception:  # noqa: BLE001 - the outbox is durable; a lost kick only delays
        log.exception("fan-out: could not reach Redis to start the workers")


def sweep(url: str | None = None) -> bool:
    """Kick the senders if any outbox row of ``url`` is due now, whatever became of its kick.

    Run every ``settings.queue_sweep_seconds`` by the sweepers of ``serve`` and ``tsunagu
    worker`` (``bot.workqueue.Sweeper``).

    Args:
        url: the database; the configured one by default.

    Returns:
        True when rows were due (and a kick was tried).
    """
    url = url or settings.database_url
    now = utcnow()
    with session_factory(url)() as session:
        due = next_due(session, configured_channels(), now=now)
    if due is None or due > now:
        return False
    kick(url)
    return True


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
    return embedded_runner(settings.database_url).wait(timeout)
