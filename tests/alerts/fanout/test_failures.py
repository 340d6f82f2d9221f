"""Rate-limit storms, blocked users, and the end of an alert (found → cancel + thank the alerted)."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from sqlalchemy import select, update

from bot.db import session_scope
from bot.domain import load_domain
from bot.models import Alert, CooperatorEndpoint, OutboxItem, OutboxState, utcnow
from alerts import lifecycle
from alerts.fanout import enqueue as fanout, runner
from alerts.fanout.items import Batch, Item, Outcome, Status
from alerts.fanout.outbox import record
from tests.fakes.telegram import retry_after_body
from tests.alerts.fanout.conftest import City, Fakes, address, enqueue, make_alert, outbox_states, seed


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_429_storm_slows_the_broadcast_but_loses_nothing(fanout_env, fakes: Fakes, city: City, db_url: str) -> None:
    mix = ["line"] * 200 + ["telegram"] * 200 + ["email"] * 200 + ["sms"] * 20
    cooperators = [[(channel, address(channel, number))] for number, channel in enumerate(mix)]
    seed(db_url, city, cooperators)
    alert_id = make_alert(db_url, city, next(iter(city.towns)))
    enqueue(db_url, alert_id)
    # More refusals in a row than a sender retries by itself: the rest is queued again.
    fakes.line.fail_next("/v2/bot/message/multicast", 429, {"message": "The API rate limit has been exceeded."},
                         headers={"Retry-After": "1"}, count=6)
    fakes.telegram.fail_next("/sendMessage", 429, retry_after_body(1), count=60)
    fakes.twilio.fail_next("/Messages.json", 429, {"code": 20429, "message": "Too Many Requests", "status": 429},
                           count=8)
    fakes.smtp.fail_next(2)

    started = time.monotonic()
    runner.kick()
    assert runner.wait(90)
    assert time.monotonic() - started > 1.0  # it did wait

    received = fakes.deliveries()
    counts = Counter((channel, where) for channel, addresses in received.items() for where in addresses)
    assert counts == Counter(endpoint for wanted in cooperators for endpoint in wanted)
    assert outbox_states(db_url, alert_id) == {"queued": 0, "sending": 0, "sent": len(mix), "failed": 0, "cancelled": 0}
    with session_scope(db_url) as session:
        assert session.scalar(select(OutboxItem.fail_count).order_by(OutboxItem.fail_count.desc()).limit(1)) == 0
    refused = {path: sum(1 for r in fake.requests if r.path.endswith(path) and r.status == 429)
               for fake, path in ((fakes.line, "/multicast"), (fakes.telegram, "/sendMessage"),
                                  (fakes.twilio, "/Messages.json"))}
    assert refused == {"/multicast": 6, "/sendMessage": 60, "/Messages.json": 8}


def test_blocked_and_unknown_users_are_deactivated_and_reached_on_their_next_endpoint(
    fanout_env, fakes: Fakes, city: City, db_url: str
) -> None:
    town = next(iter(city.towns))
    blocked_then_mail, unknown_then_telegram, blocked_only = seed(db_url, city, [
        [("telegram", address("telegram", 1)), ("email", address("email", 1))],
        [("line", address("line", 2)), ("telegram", address("telegram", 2))],
        [("telegram", address("telegram", 3))],
    ], towns=[town] * 3)
    others = seed(db_url, city, [[("line", address("line", n))] for n in range(10, 20)], towns=[town] * 10)
    fakes.telegram.blocked |= {address("telegram", 1), address("telegram", 3)}
    fakes.line.unknown_users.add(address("line", 2))
    alert_id = make_alert(db_url, city, town)
    enqueue(db_url, alert_id)

    runner.kick()
    assert runner.wait(30)

    received = fakes.deliveries()
    assert received["email"] == [address("email", 1)]
    assert received["telegram"] == [address("telegram", 2)]
    assert sorted(received["line"]) == sorted(helper.endpoints[0][1] for helper in others)
    with session_scope(db_url) as session:
        inactive = set(session.scalars(select(CooperatorEndpoint.address).where(CooperatorEndpoint.active.is_(False))))
        assert inactive == {address("telegram", 1), address("line", 2), address("telegram", 3)}
        failed = session.execute(
            select(OutboxItem.cooperator_id, OutboxItem.last_failure_reason)
            .where(OutboxItem.state == OutboxState.failed)
        ).all()
    assert [cooperator for cooperator, _ in failed] == [blocked_only.id]
    assert "blocked" in failed[0][1]
    assert outbox_states(db_url, alert_id)["sent"] == 12

    # The next alert goes straight to the endpoints that still work.
    second = make_alert(db_url, city, town)
    enqueue(db_url, second)
    with session_scope(db_url) as session:
        channels = dict(session.execute(
            select(OutboxItem.cooperator_id, OutboxItem.channel).where(OutboxItem.alert_id == second)
        ).all())
    assert channels[blocked_then_mail.id] == "email" and channels[unknown_then_telegram.id] == "telegram"
    assert blocked_only.id not in channels


def test_found_cancels_what_is_queued_and_thanks_only_those_who_were_sent_the_alert(
    fanout_env, fakes: Fakes, city: City, db_url: str
) -> None:
    mix = ["line", "telegram", "email"] * 20
    helpers = seed(db_url, city, [[(channel, address(channel, n))] for n, channel in enumerate(mix)])
    alert_id = make_alert(db_url, city, next(iter(city.towns)))
    enqueue(db_url, alert_id)
    # The nearest 20 were sent, the next 5 are in flight, the other 35 still queued.
    with session_scope(db_url) as session:
        rows = list(session.scalars(select(OutboxItem).order_by(OutboxItem.distance_m, OutboxItem.id)))
        sent, flying = rows[:20], rows[20:25]
        lease = utcnow()
        for row in sent:
            row.state, row.sent_at = OutboxState.sent, utcnow()
        for row in flying:
            row.state, row.claimed_at = OutboxState.sending, lease
        sent_to = {row.cooperator_id for row in sent}
        on_telegram = sum(1 for row in sent if row.channel == "telegram")  # their alert is deleted too
        flying_items = [Item(row.id, alert_id, row.cooperator_id, "alert", row.address, row.distance_m, 0, "ja")
                        for row in flying if row.channel == "email"]
        flying_rest = [(row.id, row.cooperator_id) for row in flying if row.channel != "email"]

    with session_scope(db_url) as session:
        queued = lifecycle.found(session, session.get(Alert, alert_id), by="staff1")
    assert queued == 20 + on_telegram
    assert outbox_states(db_url, alert_id) == {"queued": 20 + on_telegram, "sending": 5, "sent": 20, "failed": 0,
                                               "cancelled": 35}

    # An alert that was in flight and then delivered gets its thank-you as well.
    with session_scope(db_url) as session:
        record(session, Batch("email", lease, flying_items), [(item, Outcome(Status.sent)) for item in flying_items],
               now=utcnow())
        session.execute(update(OutboxItem).where(OutboxItem.id.in_([row_id for row_id, _ in flying_rest]))
                        .values(state=OutboxState.failed))
    thanked = sent_to | {item.cooperator_id for item in flying_items}
    with session_scope(db_url) as session:
        found_rows = set(session.scalars(
            select(OutboxItem.cooperator_id).where(OutboxItem.alert_id == alert_id, OutboxItem.kind == "found")
        ))
        assert fanout.enqueue_found(session, session.get(Alert, alert_id)) == 0  # idempotent
    assert found_rows == thanked

    runner.kick()
    assert runner.wait(30)
    endpoint = {helper.id: helper.endpoints[0] for helper in helpers}
    received = fakes.deliveries()
    delivered = Counter((channel, where) for channel, addresses in received.items() for where in addresses)
    assert delivered == Counter(endpoint[cooperator] for cooperator in thanked)
    texts = [call.body["messages"][0]["text"] for call in fakes.line.calls("/multicast")]
    assert texts and set(texts) == {load_domain().text("utter_alert_found", "ja", alert_id=alert_id)}
    assert all("紺のジャンパー" not in body for _, _, body in fakes.smtp.messages)
