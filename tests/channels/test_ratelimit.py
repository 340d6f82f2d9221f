"""Token buckets (in memory and in Redis), pauses after a 429, and the back-off wrapper."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from channels.ratelimit import LIMITS, Limit, MemoryRateLimiter, RateLimiter, RedisRateLimiter, send_with_backoff

REDIS_URL = "redis://127.0.0.1:6379/15"
# "slow": once its burst is spent the next token is 100 s away, so time-outs far from both
# "at once" and "100 s" show whether a call had to wait, however busy the machine is.
FAST = {"test": Limit(rate=20.0, burst=2), "slow": Limit(rate=0.01, burst=2)}
STILL_WAITING = 0.2  # seconds; a call not done by then is waiting for the next "slow" token
AT_ONCE = 30.0  # seconds; a token that is there comes well within this


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


async def timed(limiter: RateLimiter, count: int, key: str = "", rule: str = "test") -> float:
    start = time.monotonic()
    for _ in range(count):
        await limiter.acquire(rule, key)
    return time.monotonic() - start


async def waits(limiter: RateLimiter, key: str = "", rule: str = "slow") -> bool:
    """Whether one more token of ``rule`` is still out of reach after STILL_WAITING seconds."""
    try:
        await asyncio.wait_for(limiter.acquire(rule, key), STILL_WAITING)
    except TimeoutError:
        return True
    return False


async def gets_a_token(limiter: RateLimiter, key: str = "", rule: str = "slow") -> bool:
    """Whether a token of ``rule`` comes without waiting for the rate."""
    try:
        await asyncio.wait_for(limiter.acquire(rule, key), AT_ONCE)
    except TimeoutError:
        return False
    return True


async def test_bucket_allows_a_burst_then_the_rate(limiter_pair: tuple[RateLimiter, RateLimiter]) -> None:
    limiter, _ = limiter_pair
    assert await gets_a_token(limiter) and await gets_a_token(limiter), "the burst goes at once"
    assert await waits(limiter), "then the next token waits for the rate"
    await timed(limiter, 2)
    assert await timed(limiter, 4) >= 0.15, "4 more at 20/s take ~0.2 s"


async def test_keys_have_separate_buckets(limiter_pair: tuple[RateLimiter, RateLimiter]) -> None:
    limiter, _ = limiter_pair
    await timed(limiter, 2, "chat-1", "slow")
    assert await gets_a_token(limiter, "chat-2") and await gets_a_token(limiter, "chat-2")


async def test_workers_share_one_budget(limiter_pair: tuple[RateLimiter, RateLimiter]) -> None:
    first, second = limiter_pair
    await timed(first, 2, "chat", "slow")
    assert await waits(second, "chat"), "the first worker spent the burst of both"


async def test_a_pause_stops_every_worker(limiter_pair: tuple[RateLimiter, RateLimiter]) -> None:
    first, second = limiter_pair
    await first.pause("test", "chat", 100.0)
    assert await waits(second, "chat", "test")


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
