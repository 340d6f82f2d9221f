"""Who gets a row, on which endpoint, in which order; what a claim sends, defers or cancels."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update

from bot.db import session_scope
from bot.models import Alert, Cooperator, CooperatorEndpoint, OutboxItem, OutboxState, utcnow
from bot.settings import settings
from alerts.fanout import enqueue as fanout
from alerts.fanout.items import Outcome, Status, quiet_until
from alerts.fanout.outbox import claim, next_due, record
from tests.alerts.fanout.conftest import City, address, enqueue, make_alert, outbox_states, seed

TOKYO_OFFSET = timezone(timedelta(hours=9))


def _rows(url: str, alert_id: int) -> list[tuple[int, str, str, str, float]]:
    with session_scope(url) as session:
        return [tuple(row) for row in session.execute(
            select(OutboxItem.cooperator_id, OutboxItem.kind, OutboxItem.channel, OutboxItem.address,
                   OutboxItem.distance_m)
            .where(OutboxItem.alert_id == alert_id).order_by(OutboxItem.distance_m, OutboxItem.id)
        )]


def test_one_row_per_cooperator_on_the_preferred_reachable_endpoint_within_the_radius(
    fanout_env, city: City, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "twilio_account_sid", "")  # SMS is not configured in this city
    towns = list(city.towns)
    # Four per town: LINE then e-mail; Telegram (deactivated) then e-mail; SMS then e-mail; LINE only.
    helpers = seed(db_url, city, [
        endpoints for number in range(len(towns)) for endpoints in (
            [("line", address("line", 4 * number)), ("email", address("email", 4 * number))],
            [("telegram", address("telegram", 4 * number + 1)), ("email", address("email", 4 * number + 1))],
            [("sms", address("sms", 4 * number + 2)), ("email", address("email", 4 * number + 2))],
            [("line", address("line", 4 * number + 3))],
        )
    ], towns=[town for town in towns for _ in range(4)])
    gone = [helper for helper in helpers if helper.endpoints[0][0] == "telegram"]
    retired = helpers[3]  # unsubscribed
    nowhere = seed(db_url, city, [[("email", "nowhere@example.jp")]])[0]  # a cooperator without a town
    with session_scope(db_url) as session:
        session.execute(update(CooperatorEndpoint).where(CooperatorEndpoint.channel == "telegram").values(active=False))
        session.execute(update(Cooperator).where(Cooperator.id == retired.id).values(active=False))
        session.execute(update(Cooperator).where(Cooperator.id == nowhere.id)
                        .values(town_id=None, latitude=None, longitude=None))
    alert_id = make_alert(db_url, city, towns[5], radius_km=2.0)

    added = enqueue(db_url, alert_id)
    rows = _rows(db_url, alert_id)
    inside = [h for h in helpers if h.distance_m <= 2000 and h is not retired]
    assert added == len(rows) == len(inside) > 0
    assert [distance for *_, distance in rows] == sorted(distance for *_, distance in rows)
    expected = {}
    for helper in inside:
        channel, where = helper.endpoints[0]
        if helper in gone or channel == "sms":  # inactive or unconfigured: the next endpoint
            channel, where = helper.endpoints[1]
        expected[helper.id] = ("alert", channel, where, pytest.approx(helper.distance_m, abs=0.1))
    assert {cooperator: tuple(rest) for cooperator, *rest in rows} == expected
    assert enqueue(db_url, alert_id) == 0  # idempotent

    # Widening to the whole city adds "update" rows only for those not alerted yet,
    # the cooperator of unknown town last.
    with session_scope(db_url) as session:
        session.get(Alert, alert_id).radius_km = None
    widened = enqueue(db_url, alert_id, kind="update")
    rows = _rows(db_url, alert_id)
    updates = [row for row in rows if row[1] == "update"]
    assert widened == len(updates) == len(helpers) + 1 - 1 - len(inside)
    assert not {row[0] for row in updates} & set(expected)
    assert updates[-1][0] == nowhere.id and updates[-1][4] == fanout.UNKNOWN_DISTANCE_M
    assert enqueue(db_url, alert_id, kind="update") == 0
    with pytest.raises(ValueError):
        enqueue(db_url, alert_id, kind="found")

    assert outbox_states(db_url, alert_id) == {"queued": len(rows), "sending": 0, "sent": 0, "failed": 0,
                                               "cancelled": 0}
    with session_scope(db_url) as session:
        assert fanout.cancel_pending(session, alert_id) == len(rows)
    assert outbox_states(db_url, alert_id)["cancelled"] == len(rows)


def test_a_claim_defers_quiet_hours_cancels_the_unsubscribed_and_moves_off_dead_endpoints(
    fanout_env, city: City, db_url: str
) -> None:
    sleeper, leaver, mover, ready = seed(db_url, city, [
        [("email", address("email", 1))],
        [("email", address("email", 2))],
        [("email", address("email", 3)), ("telegram", address("telegram", 3))],
        [("email", address("email", 4))],
    ], towns=[next(iter(city.towns))] * 4)
    alert_id = make_alert(db_url, city, next(iter(city.towns)))
    enqueue(db_url, alert_id)
    now = utcnow()
    local = now.astimezone(settings.tz)
    start, end = (local - timedelta(hours=1)).strftime("%H:%M"), (local + timedelta(hours=1)).strftime("%H:%M")
    with session_scope(db_url) as session:
        # Opted out of night alerts: only then do quiet hours hold a missing-person alert.
        session.execute(update(Cooperator).where(Cooperator.id == sleeper.id)
                        .values(quiet_start=start, quiet_end=end, night_alerts=False))
        session.execute(update(Cooperator).where(Cooperator.id == leaver.id).values(active=False))
        session.execute(update(CooperatorEndpoint).where(CooperatorEndpoint.address == address("email", 3))
                        .values(active=False))

    with session_scope(db_url) as session:
        batch = claim(session, "email", 10, now=now)
    assert [item.cooperator_id for item in batch.items] == [ready.id]
    with session_scope(db_url) as session:
        rows = {row.cooperator_id: row for row in session.scalars(select(OutboxItem))}
        assert rows[sleeper.id].state == OutboxState.queued
        assert abs(rows[sleeper.id].next_attempt_at - (now + timedelta(hours=1))) < timedelta(minutes=1)
        assert rows[leaver.id].state == OutboxState.cancelled
        assert (rows[mover.id].state, rows[mover.id].channel) == (OutboxState.queued, "telegram")

    # The claimed row is ours until recorded; unrecorded, it is taken back once its lease ends.
    with session_scope(db_url) as session:
        assert claim(session, "email", 10, now=now) is None
        assert next_due(session, ["email"], now=now) == batch.lease + timedelta(seconds=settings.fanout_lease_seconds)
        later = now + timedelta(seconds=settings.fanout_lease_seconds + 1)
        again = claim(session, "email", 10, now=later)
    assert [item.id for item in again.items] == [item.id for item in batch.items]
    # The first worker, back from the dead, can no longer record anything: its lease is gone.
    with session_scope(db_url) as session:
        record(session, batch, [(batch.items[0], Outcome(Status.sent))], now=later)
    assert outbox_states(db_url, alert_id)["sending"] == 1
    with session_scope(db_url) as session:
        record(session, again, [(again.items[0], Outcome(Status.retry, "SMTP 554"))], now=later)
        row = session.get(OutboxItem, again.items[0].id)
        assert (row.state, row.fail_count, row.last_failure_reason) == (OutboxState.queued, 1, "SMTP 554")
        assert row.next_attempt_at == later + timedelta(seconds=settings.fanout_retry_seconds)


@pytest.mark.parametrize(("now", "start", "end", "until"), [
    ("23:30", "22:00", "07:00", "07:00+1"),
    ("06:59", "22:00", "07:00", "07:00"),
    ("07:00", "22:00", "07:00", None),
    ("12:00", "12:00", "13:30", "13:30"),
    ("21:59", "22:00", "07:00", None),
    ("10:00", None, None, None),
])
def test_quiet_hours_may_cross_midnight(now: str, start: str | None, end: str | None, until: str | None) -> None:
    day = datetime(2026, 11, 24, tzinfo=TOKYO_OFFSET)
    hours, minutes = map(int, now.split(":"))
    moment = day.replace(hour=hours, minute=minutes)
    result = quiet_until(moment, start, end)
    if until is None:
        assert result is None
    else:
        clock, _, plus = until.partition("+")
        hours, minutes = map(int, clock.split(":"))
        expected = day.replace(hour=hours, minute=minutes) + timedelta(days=int(plus or 0))
        assert result == expected
