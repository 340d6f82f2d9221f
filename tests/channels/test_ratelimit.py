"""Token buckets (in memory and in Redis), pauses after a 429, and the back-off wrapper."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from channels.ratelimit import LIMITS, Limit, MemoryRateLimiter, RateLimiter, RedisRateLimiter, send_with_backoff

REDIS_URL = "redis://127.0.0.1:6379/15"
FAST = {"test": Limit(rate=20.0, burst=2)}


def test_platform_limits() -> None:
    assert LIMITS["telegram.chat"].rate == 1.0
    assert LIMITS["telegram.global"].rate == 30.0
    assert LIMITS["line.multicast"].rate == 200.0
    assert LIMITS["line.push"].rate == LIMITS["line.reply"].rate == 2000.0


@pytest.fixture(params=["memory", "redis"])
async def limiter_pair(request: pytest.FixtureRequest) -> AsyncIterator[tuple[RateLimiter, RateLimiter]]:
    """Two limiters as two worker processes would have them."""
    if request.param == "memory":
        shared = MemoryRateLimiter(FAST)
        yield shared, shared
        return
    prefix = f"tsunagu-test:{uuid.uuid4().hex}"
    first, second = RedisRateLimiter(REDIS_URL, FAST, prefix), RedisRateLimiter(REDIS_URL, FAST, prefix)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def timed(limiter: RateLimiter, count: int, key: str = "") -> float:
    start = time.monotonic()
    for _ in range(count):
        await limiter.acquire("test", key)
    return time.monotonic() - start


async def test_bucket_allows_a_burst_then_the_rate(limiter_pair: tuple[RateLimiter, RateLimiter]) -> None:
    limiter, _ = limiter_pair
    assert await timed(limiter, 2) < 0.04, "the burst goes at once"
    elapsed = await timed(limiter, 4)
    assert 0.15 <= elapsed < 0.6, f"4 more at 20/s take ~0.2 s, took {elapsed:.3f}"


async def test_keys_have_separate_buckets(limiter_pair: tuple[RateLimiter, RateLimiter]) -> None:
    limiter, _ = limiter_pair
    await timed(limiter, 2, "chat-1")
    assert await timed(limiter, 2, "chat-2") < 0.04


async def test_workers_share_one_budget(limiter_pair: tuple[RateLimiter, RateLimiter]) -> None:
    first, second = limiter_pair
    start = time.monotonic()
    await asyncio.gather(timed(first, 3, "chat"), timed(second, 3, "chat"))
    assert time.monotonic() - start >= 0.15, "6 tokens at burst 2 + 20/s need ~0.2 s between two workers"


async def test_a_pause_stops_every_worker(limiter_pair: tuple[RateLimiter, RateLimiter]) -> None:
    first, second = limiter_pair
    await first.pause("test", "chat", 0.3)
    assert await timed(second, 1, "chat") >= 0.25


class Flaky(Exception):
    pass


async def test_backoff_retries_retryable_errors_then_succeeds() -> None:
    limiter = MemoryRateLimiter(FAST)
    attempts = []

    async def call() -> str:
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            raise Flaky
        return "sent"

    result = await send_with_backoff(call, limiter=limiter, rules=[("test", "")],
                                     retry_delay=lambda exc: 0.05 if isinstance(exc, Flaky) else None)
    assert result == "sent" and len(attempts) == 3
    assert attempts[2] - attempts[1] >= 0.04, "waited the Retry-After"


async def test_backoff_gives_up_after_the_last_attempt_and_never_retries_other_errors() -> None:
    limiter = MemoryRateLimiter(FAST)
    calls = 0

    async def always_flaky() -> None:
        nonlocal calls
        calls += 1
        raise Flaky

    with pytest.raises(Flaky):
        await send_with_backoff(always_flaky, limiter=limiter, rules=[("test", "")], retry_delay=lambda exc: 0.01,
                                attempts=3)
    assert calls == 3

    async def broken() -> None:
        raise ValueError("bad request")

    with pytest.raises(ValueError):
        await send_with_backoff(broken, limiter=limiter, rules=[("test", "")], retry_delay=lambda exc: None)
