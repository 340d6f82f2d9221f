"""A sighting the desk forwards (issue 17 item 2): to the linked family's chats and the police's
e-mail address, as outbox rows without a cooperator, ahead of every alert message, sent by the
ordinary senders and rendered from domain.yml."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.db import session_scope
from bot.domain import load_domain
from bot.models import Alert, AlertFamily, Contact, OutboxItem, OutboxState, Sighting, utcnow
from bot.settings import settings
from alerts.fanout import enqueue as fanout, runner
from alerts.fanout.items import forward_kind, parse_forward_kind
from alerts.texts import distance_label, render_message
from tests.alerts.fanout.conftest import City, Fakes, address, enqueue, make_alert, seed


def _sighting_with_family(db_url: str, city: City) -> tuple[int, int]:
    """An active alert in the first town, its family on LINE and Telegram, and a sighting one town away."""
    towns = list(city.towns)
    alert_id = make_alert(db_url, city, towns[0], radius_km=1.0)
    with session_scope(db_url) as session:
        for channel, user in (("line", address("line", 900)), ("telegram", address("telegram", 900))):
            contact = Contact(channel=channel, channel_user_id=user)
            session.add(contact)
            session.flush()
            session.add(AlertFamily(alert_id=alert_id, contact_id=contact.id, role="reporter"))
        sighting = Sighting(alert_id=alert_id, town_id=towns[1], seen_at=utcnow() - timedelta(minutes=5))
        session.add(sighting)
        session.flush()
        return alert_id, sighting.id


def test_forwarded_to_the_family_and_the_police(fanout_env, fakes: Fakes, city: City, db_url: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    seed(db_url, city, [[("line", address("line", 1))]], towns=[next(iter(city.towns))])
    alert_id, sighting_id = _sighting_with_family(db_url, city)
    enqueue(db_url, alert_id)
    with session_scope(db_url) as session:
        sighting = session.get(Sighting, sighting_id)
        assert fanout.enqueue_forward(session, sighting, "family") == 2
        assert fanout.enqueue_forward(session, sighting, "family") == 0, "each family member once"
        assert fanout.enqueue_forward(session, sighting, "police") == 0, "no police address configured"
    monkeypatch.setattr(settings, "alert_police_email", "seian@police.example.jp")
    with session_scope(db_url) as session:
        assert fanout.enqueue_forward(session, session.get(Sighting, sighting_id), "police") == 1
        rows = session.scalars(select(OutboxItem).where(OutboxItem.sighting_id == sighting_id)
                               .order_by(OutboxItem.id)).all()
        assert [(row.channel, row.cooperator_id, row.kind) for row in rows] == [
            ("line", None, forward_kind("family", sighting_id)), ("telegram", None, forward_kind("family", sighting_id)),
            ("email", None, forward_kind("police", sighting_id))]
        assert all(row.distance_m < 0 for row in rows), "ahead of every cooperator's message"
        assert parse_forward_kind(rows[0].kind) == ("family", sighting_id)

    runner.kick()
    assert runner.wait(30)
    received = fakes.deliveries()
    assert address("line", 900) in received["line"] and address("telegram", 900) in received["telegram"]
    assert received["email"] == ["seian@police.example.jp"]
    with session_scope(db_url) as session:
        states = {row.kind: row.state for row in session.scalars(
            select(OutboxItem).where(OutboxItem.sighting_id == sighting_id))}
        assert set(states.values()) == {OutboxState.sent}
        alert = session.get(Alert, alert_id)
        sighting = session.get(Sighting, sighting_id)
        family_text = render_message(session, load_domain(), alert_id, forward_kind("family", sighting_id), "ja")
        distance = fanout.sighting_distance_m(session, alert, sighting)
    assert distance is not None and distance > 0
    assert [message["text"] for message in fakes.line.messages_to(address("line", 900))] == [family_text]
    assert [message["text"] for message in fakes.telegram.sent_to(int(address("telegram", 900)))] == [family_text]
    assert distance_label(distance, load_domain(), "ja") in family_text


def test_a_family_chat_on_an_unconfigured_channel_gets_nothing(fanout_env, city: City, db_url: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    alert_id, sighting_id = _sighting_with_family(db_url, city)
    monkeypatch.setattr(settings, "telegram_bot_token", "")
    with session_scope(db_url) as session:
        assert fanout.enqueue_forward(session, session.get(Sighting, sighting_id), "family") == 1
        with pytest.raises(ValueError):
            fanout.enqueue_forward(session, session.get(Sighting, sighting_id), "press")
