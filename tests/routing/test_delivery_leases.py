"""Case delivery under long passes and killed workers: per-claim leases with heartbeats.

Time is a fake clock that the slow receiver moves on a minute per delivery, so a pass
takes far longer than the ten-minute lease without the test waiting for it.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.db import session_factory, session_scope
from bot.models import Delivery, DeliveryState, DeliveryTarget
from routing import delivery
from routing.delivery import LEASE, deliver_pending
from tests.fakes.webhook import FakeWebhookReceiver
from tests.routing.conftest import WORKDAY_MORNING, SampleCity
from tests.routing.test_delivery import SECRET, _add_targets, _worry_case, webhook  # noqa: F401 - fixture

T0 = WORKDAY_MORNING


class FakeClock:
    """A clock shared by the passes and the receiver; only the receiver moves it."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, step: timedelta) -> None:
        with self._lock:
            self._now += step


def _webhook_cases(db_url: str, city: SampleCity, endpoint: str, count: int) -> list[int]:
    _add_targets(db_url, DeliveryTarget(counter_id="mimamori-kita", method="webhook", address=endpoint, secret=SECRET))
    return [_worry_case(db_url, city, detail=f"1-{n}") for n in range(1, count + 1)]


def test_a_long_pass_keeps_its_claims_and_a_second_pass_sends_nothing_twice(
    db_url: str, city: SampleCity, webhook: FakeWebhookReceiver  # noqa: F811 - the fixture
) -> None:
    cases = _webhook_cases(db_url, city, webhook.endpoint, 100)
    clock = FakeClock(T0)
    factory = session_factory(db_url)
    second: list[threading.Thread] = []
    received = 0

    def slow_receiver(payload: dict[str, Any]) -> None:
        nonlocal received
        received += 1
        clock.advance(timedelta(minutes=1))  # a receiver that takes a minute per case
        if received == 15:  # a quarter of an hour into the first pass, a second one starts
            second.append(threading.Thread(target=deliver_pending, args=(factory,), kwargs={"clock": clock}))
            second[0].start()

    webhook.on_receive = slow_receiver
    first = threading.Thread(target=deliver_pending, args=(factory,), kwargs={"clock": clock})
    first.start()
    first.join()
    second[0].join()
    assert clock() - T0 > 2 * LEASE, "the passes outlived the lease many times over"
    arrivals = Counter(call.body["case"]["id"] for call in webhook.accepted)
    assert sorted(arrivals) == cases
    assert set(arrivals.values()) == {1}, "a case was delivered twice"
    with session_scope(db_url) as session:
        assert set(session.scalars(select(Delivery.state))) == {DeliveryState.sent}


def test_a_killed_workers_claims_come_back_after_the_lease_and_not_before(
    db_url: str, city: SampleCity, webhook: FakeWebhookReceiver  # noqa: F811 - the fixture
) -> None:
    cases = _webhook_cases(db_url, city, webhook.endpoint, 3)
    with session_scope(db_url) as session:
        _, taken = delivery._claim(session, T0)  # a worker claims, then is killed before sending
    assert len(taken) >= 3
    factory = session_factory(db_url)
    early = deliver_pending(factory, now=T0 + LEASE - timedelta(seconds=1))
    assert early.claimed == 0 and webhook.attempts == 0, "a live lease was taken"
    late = deliver_pending(factory, now=T0 + LEASE)
    assert late.sent == late.claimed == len(taken)
    assert sorted(call.body["case"]["id"] for call in webhook.accepted) == cases


def test_a_worker_that_lost_its_lease_does_not_overwrite_the_new_holder(
    db_url: str, city: SampleCity, webhook: FakeWebhookReceiver  # noqa: F811 - the fixture
) -> None:
    _webhook_cases(db_url, city, webhook.endpoint, 1)
    with session_scope(db_url) as session:
        old_token, ids = delivery._claim(session, T0)
    with session_scope(db_url) as session:
        new_token, again = delivery._claim(session, T0 + LEASE)  # taken back after the lease
    assert sorted(again) == sorted(ids) and new_token != old_token
    with session_scope(db_url) as session:
        outcome = delivery._attempt(session, ids[0], old_token, lambda: T0 + LEASE, delivery.Connections())
    assert outcome == "lost" and webhook.attempts == 0
    with session_scope(db_url) as session:
        row = session.get(Delivery, ids[0])
        assert row.state == DeliveryState.processing and row.claimed_at == new_token
