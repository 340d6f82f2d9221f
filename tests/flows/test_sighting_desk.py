"""A sighting reaches the alert desk at once (issue 17 item 2): delivered to the case's targets
like any update of the case, with its group and its distance from the last-seen point."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.db import session_scope
from bot.engine import ConversationEngine
from bot.models import CaseEvent, Delivery, DeliveryTarget, Sighting
from bot.settings import settings
from tests.bot.conftest import Resident
from tests.flows.conftest import effects, said
from tests.flows.test_sighting import NEAR_HONMACHI, _active_alert


@pytest.fixture(autouse=True)
def no_delivery_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deliveries stay rows for the test to read: no background thread outlives the test."""
    monkeypatch.setattr(settings, "delivery_mode", "worker")


def test_a_sighting_is_delivered_to_the_desk_at_once(engine: ConversationEngine, db_url: str) -> None:
    alert_id = _active_alert(db_url, "U-coop-1")
    with session_scope(db_url) as session:
        session.add(DeliveryTarget(counter_id="mimamori-chuo", method="email", address="desk@aoba.example.jp"))
    cooperator = Resident(engine, channel="line", user_id="U-coop-1")
    cooperator.send(postback=f"sighting:{alert_id}")
    cooperator.send(**NEAR_HONMACHI)
    cooperator.send("いま")
    done = cooperator.send("ありません")
    assert said(done) == ["utter_sighting_recorded"]
    [(kind, facts)] = [effect for effect in effects(done) if effect[0] == "case_updated"]
    with session_scope(db_url) as session:
        sighting = session.scalars(select(Sighting)).one()
        noted = session.scalars(select(CaseEvent).where(CaseEvent.kind == "sighting")).one()
        update = session.scalars(select(CaseEvent).where(CaseEvent.kind == "details_added")).one()
        assert facts["case_id"] == noted.case_id == update.case_id
        assert noted.details["sighting_id"] == sighting.id and noted.details["group_id"] == sighting.id
        assert 0 < noted.details["distance_m"] < 1000, "the distance from the last-seen point (本町's centroid)"
        delivered = session.scalars(select(Delivery).where(Delivery.case_event_id == update.id)).all()
        methods = {session.get(DeliveryTarget, delivery.target_id).method for delivery in delivered}
        assert methods == {"email", "console"}, "every target of the desk's counter, and its console"
