"""The Redis broker of the fan-out's Dramatiq workers (``tsunagu worker``), and the kick that starts them.

Used only where ``settings.redis_url`` is set: the embedded default sends in a thread
of the web process instead (``alerts.fanout.runner``).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import redis
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker

__all__ = ["ACTOR_NAME", "QUEUE_NAME", "redis_broker", "start_workers"]

QUEUE_NAME = "fanout"
ACTOR_NAME = "fanout_process_channel"
"""The Dramatiq queue and actor of ``alerts.fanout.worker`` (messages are built here too)."""


@lru_cache(maxsize=4)
def redis_broker(url: str, namespace: str) -> RedisBroker:
    """The Dramatiq broker of the fan-out queue on ``url``, keys under ``<namespace>:dramatiq``."""
    # Short timeouts: a kick must not hang a web request when Redis is down.
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    broker = RedisBroker(client=client, namespace=f"{namespace}:dramatiq")
    broker.declare_queue(QUEUE_NAME)
    return broker


def start_workers(url: str, namespace: str, channels: Iterable[str]) -> None:
    """Enqueue one message per channel, so the workers send what that channel has due.

    Raises:
        redis.RedisError: when Redis cannot be reached.
    """
    broker = redis_broker(url, namespace)
    for channel in channels:
        broker.enqueue(Message(queue_name=QUEUE_NAME, actor_name=ACTOR_NAME, args=(channel,), kwargs={}, options={}))
