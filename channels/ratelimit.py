"""Outgoing rate limits of every channel, in one place.

Each platform limits how fast a bot may send. The limits live in :data:`LIMITS`, keyed
by a rule name; a sender asks the process-wide :func:`rate_limiter` for a token of each
rule that applies (``"telegram.global"`` and ``"telegram.chat"`` with the chat id, say)
before every request, and :func:`send_with_backoff` wraps a request so that a 429 /
``RetryAfter`` answer pauses the rule for everybody and retries with back-off.

Two limiters implement the same token bucket:

* :class:`MemoryRateLimiter` — the embedded default, for one process;
* :class:`RedisRateLimiter` — the bucket lives in Redis (``settings.redis_url``), so
  several web processes and alert workers share one budget per channel.

Sources of the numbers: Telegram Bot FAQ ("avoid sending more than one message per
second in a particular chat", "not more than about 30 messages per second" overall);
LINE Messaging API reference, rate limits per channel (multicast 200 requests/s,
narrowcast and broadcast 60 requests/hour, other endpoints such as reply and push
2,000 requests/s); Twilio queues SMS at each sender's own throughput, so the Messages
API budget here only keeps a fan-out from flooding the REST API.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

from bot.settings import settings

__all__ = [
    "LIMITS",
    "Limit",
    "MemoryRateLimiter",
    "RateLimiter",
    "RedisRateLimiter",
    "rate_limiter",
    "send_with_backoff",
]

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Limit:
    """A token bucket: ``rate`` requests per second on average, bursts up to ``burst``."""

    rate: float
    burst: int


LIMITS: dict[str, Limit] = {
    "telegram.global": Limit(rate=30.0, burst=30),
    # One message per second per chat; Telegram tolerates a short burst (a reply of
    # two or three bubbles) but not a steady stream.
    "telegram.chat": Limit(rate=1.0, burst=3),
    "line.reply": Limit(rate=2000.0, burst=2000),
    "line.push": Limit(rate=2000.0, burst=2000),
    "line.multicast": Limit(rate=200.0, burst=200),
    "sms.send": Limit(rate=10.0, burst=10),
}


class RateLimiter(ABC):
    """Waits until a request may be sent under every rule that applies to it."""

    def __init__(self, limits: dict[str, Limit] | None = None) -> None:
        self.limits = dict(LIMITS if limits is None else limits)

    async def acquire(self, rule: str, key: str = "") -> None:
        """Wait for one token of ``rule`` (for ``key``, e.g. a chat id), then take it.

        Args:
            rule: A name from :data:`LIMITS`.
            key: Narrows the rule to one chat or recipient; empty for a channel-wide rule.
        """
        limit = self.limits[rule]
        while (wait := await self._reserve(rule, key, limit)) > 0:
            await asyncio.sleep(wait)

    @abstractmethod
    async def pause(self, rule: str, key: str, seconds: float) -> None:
        """Stop every sender of ``rule``/``key`` for ``seconds`` (the platform said 429)."""

    @abstractmethod
    async def _reserve(self, rule: str, key: str, limit: Limit) -> float:
        """Take a token and return 0, or return the seconds to wait before trying again."""

    async def close(self) -> None:
        """Release connections (nothing to do for the in-memory limiter)."""


class MemoryRateLimiter(RateLimiter):
    """Token buckets in this process's memory; safe to share between threads and loops."""

    _MAX_BUCKETS = 10_000

    def __init__(self, limits: dict[str, Limit] | None = None) -> None:
        super().__init__(limits)
        self._lock = threading.Lock()
        # (rule, key) -> [tokens, last refill (monotonic), paused until (monotonic)]
        self._buckets: dict[tuple[str, str], list[float]] = {}

    async def pause(self, rule: str, key: str, seconds: float) -> None:
        with self._lock:
            bucket = self._bucket(rule, key, self.limits[rule], time.monotonic())
            bucket[2] = max(bucket[2], time.monotonic() + seconds)

    async def _reserve(self, rule: str, key: str, limit: Limit) -> float:
        now = time.monotonic()
        with self._lock:
            bucket = self._bucket(rule, key, limit, now)
            if bucket[2] > now:
                return bucket[2] - now
            bucket[0] = min(limit.burst, bucket[0] + (now - bucket[1]) * limit.rate)
            bucket[1] = now
            if bucket[0] >= 1:
                bucket[0] -= 1
                return 0.0
            return (1 - bucket[0]) / limit.rate

    def _bucket(self, rule: str, key: str, limit: Limit, now: float) -> list[float]:
        bucket = self._buckets.get((rule, key))
        if bucket is None:
            if len(self._buckets) >= self._MAX_BUCKETS:
                self._forget_idle(now)
            bucket = self._buckets[(rule, key)] = [float(limit.burst), now, 0.0]
        return bucket

    def _forget_idle(self, now: float) -> None:
        """Drop buckets that have refilled completely: they hold no information."""
        for (rule, key), (tokens, updated, paused) in list(self._buckets.items()):
            limit = self.limits[rule]
            if paused <= now and tokens + (now - updated) * limit.rate >= limit.burst:
                del self._buckets[(rule, key)]


# KEYS[1] bucket hash, KEYS[2] pause key; ARGV rate, burst. Uses the Redis server clock
# so every worker sees the same time. Returns the seconds to wait ("0" = token taken).
_RESERVE_SCRIPT = """
local pause_ms = redis.call('PTTL', KEYS[2])
if pause_ms > 0 then return tostring(pause_ms / 1000) end
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""


class RedisRateLimiter(RateLimiter):
    """Token buckets in Redis, shared by every process that uses the same Redis."""

    def __init__(self, url: str, limits: dict[str, Limit] | None = None, prefix: str = "tsunagu:rl") -> None:
        # Optional backend: the Redis client loads only where TSUNAGU_REDIS_URL is set.
        from redis.asyncio import Redis

        super().__init__(limits)
        self._redis = Redis.from_url(url)
        self._script = self._redis.register_script(_RESERVE_SCRIPT)
        self._prefix = prefix

    def _keys(self, rule: str, key: str) -> list[str]:
        base = f"{self._prefix}:{rule}:{key}"
        return [base, base + ":pause"]

    async def pause(self, rule: str, key: str, seconds: float) -> None:
        await self._redis.set(self._keys(rule, key)[1], "1", px=max(1, int(seconds * 1000)))

    async def _reserve(self, rule: str, key: str, limit: Limit) -> float:
        wait = await self._script(keys=self._keys(rule, key), args=[limit.rate, limit.burst])
        return float(wait)

    async def close(self) -> None:
        await self._redis.aclose()


@lru_cache(maxsize=1)
def rate_limiter() -> RateLimiter:
    """The process-wide limiter: Redis-backed when ``settings.redis_url`` is set."""
    if settings.redis_url:
        return RedisRateLimiter(settings.redis_url)
    return MemoryRateLimiter()


async def send_with_backoff(
    call: Callable[[], Awaitable[T]],
    *,
    limiter: RateLimiter,
    rules: Sequence[tuple[str, str]],
    retry_delay: Callable[[BaseException], float | None],
    attempts: int = 5,
    base_delay: float = 1.0,
    max_delay: float = 60.0,
) -> T:
    """Send one request under ``rules``; on a retryable error, pause the rules and retry.

    Args:
        call: Makes the request (called again for each attempt).
        limiter: Where the tokens come from.
        rules: ``(rule, key)`` pairs to acquire before each attempt, the broadest first.
            After a 429 the last (most specific) rule is paused for everybody.
        retry_delay: Classifies an error: ``None`` means do not retry (re-raise), ``0``
            retry after exponential back-off with jitter, a positive number retry after
            exactly that many seconds (the platform's Retry-After).
        attempts: Attempts in all, the first included.
        base_delay: First back-off delay in seconds; doubles with each attempt.
        max_delay: Upper bound of one back-off delay.

    Returns:
        Whatever ``call`` returned.

    Raises:
        Exception: The last error, when it is not retryable or attempts ran out.
    """
    for attempt in range(1, attempts + 1):
        for rule, key in rules:
            await limiter.acquire(rule, key)
        try:
            return await call()
        except Exception as exc:
            delay = retry_delay(exc)
            if delay is None or attempt == attempts:
                raise
            if delay <= 0:
                delay = min(max_delay, base_delay * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
            rule, key = rules[-1]
            log.warning("%s: %s; retrying in %.1f s (attempt %d)", rule, type(exc).__name__, delay, attempt)
            await limiter.pause(rule, key, delay)
    raise AssertionError("unreachable")  # pragma: no cover
