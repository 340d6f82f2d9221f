"""Running the fan-out: one pass over the outbox, and the embedded background sender.

A pass runs one :class:`ChannelWorker` per channel side by side in one event loop:
each claims a batch (nearest first), sends it group by group (one text per alert,
kind and language) while renewing the batch's lease, records the outcomes, and goes
on until nothing of its channel is due or the pass's time is up. Database work runs
in threads so that one channel's commit never stalls another channel's sends.

The embedded default (no Redis) runs passes in one daemon thread per database,
woken by ``alerts.fanout.enqueue.kick()``; between passes it sleeps until the next retry or
lease expiry is due, and it ends when no row is left queued or sending. With Redis,
``alerts.fanout.worker`` runs the same pass inside Dramatiq actors.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from bot.db import session_factory
from bot.domain import load_domain
from bot.models import Alert, utcnow
from bot.settings import Settings, settings
from channels.ratelimit import RedisRateLimiter
from alerts.fanout.outbox import Batch, Item, Outcome, Status, claim, configured_channels, next_due, record, renew
from alerts.fanout.senders import SENDERS, Sender, make_limiter

__all__ = ["ChannelWorker", "EmbeddedRunner", "embedded_runner", "process_outbox", "run_pass"]

log = logging.getLogger(__name__)

# The embedded sender looks again at least this often while rows wait for a retry, and
# waits at least this long after a pass that found nothing it could take (rows locked
# by another process).
MAX_SLEEP_SECONDS = 60.0
IDLE_SLEEP_SECONDS = 1.0
# Outcomes of a batch being sent are written at least this often.
RECORD_SECONDS = 0.1


class _Texts:
    """The message texts of one pass, rendered once per (alert, kind, language)."""

    def __init__(self, sessions: sessionmaker[Session], config: Settings) -> None:
        self._sessions = sessions
        self._config = config
        self._cache: dict[tuple[int, str, str], str] = {}

    async def get(self, alert_id: int, kind: str, language: str) -> str:
        key = (alert_id, kind, language)
        if key not in self._cache:
            self._cache[key] = await asyncio.to_thread(self._render, alert_id, kind, language)
        return self._cache[key]

    def _render(self, alert_id: int, kind: str, language: str) -> str:
        from alerts.alerts import render_alert_message

        with self._sessions() as session:
            alert = session.get(Alert, alert_id)
            if alert is None:
                raise LookupError(f"alert {alert_id} no longer exists")
            return render_alert_message(load_domain(self._config.domain_path), alert, kind, language)


class ChannelWorker:
    """Claims, sends and records the batches of one channel."""

    def __init__(self, sender: Sender, sessions: sessionmaker[Session], texts: _Texts, config: Settings) -> None:
        self.sender = sender
        self.channel = sender.channel
        self._sessions = sessions
        self._texts = texts
        self._config = config

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
            return claim(session, self.channel, self.sender.batch_size, now=utcnow(), config=self._config)

    def _record(self, batch: Batch, results: list[tuple[Item, Outcome]]) -> Counter[str]:
        with self._sessions() as session:
            return record(session, batch, results, now=utcnow(), config=self._config)

    def _renew(self, batch: Batch, items: list[Item]) -> None:
        with self._sessions() as session:
            renew(session, batch, items, now=utcnow())

    async def _send(self, batch: Batch) -> Counter[str]:
        """Send a batch group by group while a bookkeeper records outcomes and renews the lease.

        Outcomes are written within ``RECORD_SECONDS`` of being known, so a worker that
        dies re-sends (on Telegram, e-mail and SMS, which have no idempotency key) at
        most the messages of its last moments. Recording and renewing share one task:
        both use the batch's lease token, which a renewal changes.
        """
        known: list[tuple[Item, Outcome]] = []
        reported: set[int] = set()
        recorded: set[int] = set()
        finished = asyncio.Event()
        counts: Counter[str] = Counter()

        def report(item: Item, outcome: Outcome) -> None:
            reported.add(item.id)
            known.append((item, outcome))

        async def bookkeeper() -> None:
            renewed = time.monotonic()
            while True:
                last_round = finished.is_set()
                if known:
                    results = known[:]
                    del known[:]
                    counts.update(await asyncio.to_thread(self._record, batch, results))
                    recorded.update(item.id for item, _ in results)
                if last_round:
                    return
                if time.monotonic() - renewed >= self._config.fanout_lease_seconds / 3:
                    # Every row not written yet, reported meanwhile or not, moves to the new token.
                    pending = [item for item in batch.items if item.id not in recorded]
                    await asyncio.to_thread(self._renew, batch, pending)
                    renewed = time.monotonic()
                try:
                    await asyncio.wait_for(finished.wait(), RECORD_SECONDS)
                except TimeoutError:
                    pass

        keeper = asyncio.create_task(bookkeeper())
        try:
            for (alert_id, kind, language), items in batch.groups().items():
                try:
                    text = await self._texts.get(alert_id, kind, language)
                    await self.sender.send(items, text, language, report)
                except Exception as exc:  # noqa: BLE001 - a failed group is retried, the pass goes on
                    log.exception("%s: sending %d %s messages of alert %s failed",
                                  self.channel, len(items), kind, alert_id)
                    for item in items:
                        if item.id not in reported:
                            report(item, Outcome(Status.retry, type(exc).__name__))
        finally:
            finished.set()
            await keeper
        return counts


async def run_pass(
    channels: Sequence[str] | None = None, *, seconds: float | None = None, config: Settings | None = None
) -> dict[str, Counter[str]]:
    """Send what is due on ``channels`` (default: all configured) until done or ``seconds`` pass.

    Args:
        channels: channel names; the configured ones by default.
        seconds: stop claiming new batches after this long; None runs until nothing is due.
        config: settings (database, channels, limits); the process's by default.

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
            *(ChannelWorker(sender, sessions, texts, config).drain(deadline) for sender in senders),
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
    channels: Sequence[str] | None = None, *, seconds: float | None = None, config: Settings | None = None
) -> dict[str, Counter[str]]:
    """:func:`run_pass` in a new event loop, for threads, commands and Dramatiq actors."""
    return asyncio.run(run_pass(channels, seconds=seconds, config=config))


class EmbeddedRunner:
    """The in-process sender of one database: a daemon thread that runs passes while work is left."""

    def __init__(self, url: str) -> None:
        self.url = url
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
                self._thread = threading.Thread(target=self._run, name="tsunagu-fanout", daemon=True)
                self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the thread has ended (nothing queued or sending); False on timeout."""
        return self._idle.wait(timeout)

    def _run(self) -> None:
        config = settings.model_copy(update={"database_url": self.url})
        sessions = session_factory(self.url)
        while True:
            self._wake.clear()
            progressed = False
            try:
                counts = process_outbox(config=config)
                progressed = any(number for channel in counts.values()
                                 for what, number in channel.items() if what != "error")
                with sessions() as session:
                    due = next_due(session, configured_channels(config), now=utcnow(), config=config)
            except Exception:  # noqa: BLE001 - keep the sender alive; look again later
                log.exception("fan-out pass failed")
                due = utcnow() + timedelta(seconds=MAX_SLEEP_SECONDS)
            with self._lock:
                if due is None and not self._wake.is_set():
                    self._thread = None
                    self._idle.set()
                    return
            delay = 0.0 if due is None else (due - utcnow()).total_seconds()
            if not progressed:
                delay = max(delay, IDLE_SLEEP_SECONDS)
            if delay > 0:
                self._wake.wait(min(delay, MAX_SLEEP_SECONDS))


_runners: dict[str, EmbeddedRunner] = {}
_runners_lock = threading.Lock()


def embedded_runner(url: str) -> EmbeddedRunner:
    """The embedded sender of the database at ``url`` (one per database and process)."""
    with _runners_lock:
        runner = _runners.get(url)
        if runner is None:
            runner = _runners[url] = EmbeddedRunner(url)
        return runner
