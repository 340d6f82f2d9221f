"""Quiet hours and missing-person alerts (issue 17 item 4): an alert and its notices reach a
cooperator in their quiet hours unless they opted out of night alerts; other messages wait."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from bot.db import session_scope
from bot.models import Cooperator, CooperatorEndpoint, OutboxItem, OutboxState, utcnow
from bot.settings import settings
from alerts.fanout import enqueue as fanout
from alerts.fanout.outbox import claim
from tests.alerts.fanout.conftest import City, address, enqueue, make_alert, seed


def test_an_alert_ignores_quiet_hours_unless_the_cooperator_opted_out_of_night_alerts(
    fanout_env, city: City, db_url: str
) -> None:
    town = next(iter(city.towns))
    awake, sleeper = seed(db_url, city, [[("email", address("email", 1))], [("email", address("email", 2))]],
                          towns=[town, town])
    alert_id = make_alert(db_url, city, town)
    enqueue(db_url, alert_id)
    now = utcnow()
    local = now.astimezone(settings.tz)
    start, end = (local - timedelta(hours=1)).strftime("%H:%M"), (local + timedelta(hours=1)).strftime("%H:%M")
    with session_scope(db_url) as session:
        session.execute(update(Cooperator).values(quiet_start=start, quiet_end=end))
        session.execute(update(Cooperator).where(Cooperator.id == sleeper.id).values(night_alerts=False))
        endpoint = session.scalars(select(CooperatorEndpoint).where(CooperatorEndpoint.cooperator_id == awake.id)).one()
        fanout.enqueue_requests(session, [endpoint], now=now)  # a re-confirmation request is not urgent

    with session_scope(db_url) as session:
        batch = claim(session, "email", 10, now=now)
    assert [(item.cooperator_id, item.kind) for item in batch.items] == [(awake.id, "alert")]
    with session_scope(db_url) as session:
        rows = {(row.cooperator_id, row.kind): row for row in session.scalars(select(OutboxItem))}
        held = rows[(sleeper.id, "alert")]
        assert held.state == OutboxState.queued and held.next_attempt_at > now, "opted out: held until morning"
        request = rows[(awake.id, "reconfirm")]
        assert request.state == OutboxState.queued and request.next_attempt_at > now
