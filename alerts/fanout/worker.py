"""Dramatiq entry point of the alert fan-out: ``tsunagu worker`` runs ``dramatiq alerts.fanout.worker``.

Importing this module configures the Redis broker from ``settings.redis_url`` (keys
under ``<fanout_namespace>:dramatiq``) and declares one actor. A message names a
channel; the actor sends that channel's due rows for at most
``fanout_slice_seconds`` (``alerts.fanout.runner.run_pass``), then, if rows are left
— due now, waiting for a retry, or leased by a worker that may have died — enqueues
its own follow-up for when they are due. Follow-ups for the same channel and second
are enqueued once (a ``SET NX`` key), so kicks do not multiply into endless chains.

A worker checks domain.yml for every alert text at import, and one that boots sends a kick, so work left behind by a stopped worker resumes.
Several workers may serve the same channel at once: claims never overlap (``SKIP
LOCKED`` / conditional update) and the rate limits live in Redis.

Each worker process also runs a sweeper (``bot.workqueue.Sweeper``, every
``settings.queue_sweep_seconds``): it kicks again whenever outbox rows are due, so rows
queued while Redis was unreachable (a lost kick) are sent once it is back, and with
``delivery_mode = "worker"`` it runs the case deliveries' passes too.
"""

from __future__ import annotations

import logging

import dramatiq
from dramatiq import Broker, Middleware, Worker

from alerts.fanout.broker import ACTOR_NAME, QUEUE_NAME, redis_broker
from alerts.fanout.outbox import next_due
from alerts.fanout.runner import kick, process_outbox, sweep
from alerts.texts import RESPONSES
from bot.db import session_factory, session_scope
from bot.domain import load_domain
from bot.logsafe import install_redaction
from bot.models import utcnow
from bot.settings import settings
from bot.workqueue import Sweep, Sweeper
from routing.delivery import deliver_pending

__all__ = ["broker", "process_channel", "sweeps"]

log = logging.getLogger(__name__)

# A slice may overrun by its last batch (a platform's Retry-After); Dramatiq must not kill it.
_TIME_LIMIT_MARGIN_SECONDS = 600


def sweeps() -> list[Sweep]:
    """What a worker process's sweeper does: kick the fan-out if rows are due; deliver cases
    when the web processes leave that to workers (``delivery_mode = "worker"``)."""
    jobs: list[Sweep] = [sweep]
    if settings.delivery_mode == "worker":
        jobs.append(lambda: deliver_pending(session_factory(settings.database_url)))
    return jobs


class _KickOnBoot(Middleware):
    """Resume whatever the outbox holds when a worker process starts, and sweep from then on."""

    def __init__(self) -> None:
        self._sweeper: Sweeper | None = None

    def after_worker_boot(self, broker: Broker, worker: Worker) -> None:
        kick()
        self._sweeper = Sweeper("fanout-sweeper", sweeps(), settings.queue_sweep_seconds).start()

    def before_worker_shutdown(self, broker: Broker, worker: Worker) -> None:
        if self._sweeper is not None:
            self._sweeper.stop()


if not settings.redis_url:
    raise RuntimeError("the fan-out workers need TSUNAGU_REDIS_URL; without Redis the web process sends alerts itself")
# A worker started as `dramatiq alerts.fanout.worker` skips the CLI's start-up check: a
# sentence missing from domain.yml must stop it here, not fail at the first send.
load_domain(settings.domain_path).check_required(set(RESPONSES))

# Dramatiq's command line logs at INFO, and httpx logs every request URL at INFO: for
# Telegram that URL holds the bot token. Whatever still reaches a handler is redacted.
logging.getLogger("httpx").setLevel(logging.WARNING)
install_redaction()

broker = redis_broker(settings.redis_url, settings.fanout_namespace)
broker.add_middleware(_KickOnBoot())
dramatiq.set_broker(broker)


@dramatiq.actor(
    actor_name=ACTOR_NAME,
    queue_name=QUEUE_NAME,
    broker=broker,
    max_retries=5,
    time_limit=int((settings.fanout_slice_seconds + _TIME_LIMIT_MARGIN_SECONDS) * 1000),
)
def process_channel(channel: str) -> None:
    """Send one channel's due rows for one slice, then schedule the follow-up."""
    counts = process_outbox([channel], seconds=settings.fanout_slice_seconds)[channel]
    if counts:
        log.info("%s: %s", channel, dict(counts))
    with session_scope() as session:
        due = next_due(session, [channel], now=utcnow())
    if due is None:
        return
    delay_ms = max(0, int((due - utcnow()).total_seconds() * 1000))
    key = f"{settings.fanout_namespace}:fanout:follow-up:{channel}:{int(due.timestamp())}"
    if broker.client.set(key, "1", nx=True, px=delay_ms + 10_000):
        process_channel.send_with_options(args=(channel,), delay=delay_ms or None)
