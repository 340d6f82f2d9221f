"""The effects dispatcher: which background work each committed effect starts, and nothing before the commit."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot import effects
from bot.db import session_scope
from bot.messages import Effect, EffectKind
from bot.models import Cooperator, CooperatorEndpoint
from tests.bot.conftest import Resident


class Calls:
    """Records the background work the dispatcher asked for."""

    def __init__(self) -> None:
        self.deliveries: list[str | None] = []
        self.kicks = 0

    def schedule_delivery(self, *, url: str | None = None) -> None:
        self.deliveries.append(url)

    def kick(self) -> None:
        self.kicks += 1


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    recorded = Calls()
    monkeypatch.setattr(effects, "schedule_delivery", recorded.schedule_delivery)
    monkeypatch.setattr("alerts.fanout.runner.kick", recorded.kick)
    return recorded


def test_new_and_linked_cases_are_delivered_once_per_turn(calls: Calls) -> None:
    effects.run_effects([Effect(EffectKind.case_created, {"case_id": 1}),
                         Effect(EffectKind.case_linked, {"case_id": 2})], url="sqlite:///x.db")
    assert calls.deliveries == ["sqlite:///x.db"] and calls.kicks == 0


def test_queued_alert_messages_wake_the_fan_out(calls: Calls) -> None:
    effects.run_effects([Effect(EffectKind.alert_created, {"alert_id": 1}),
                         Effect(EffectKind.alert_queued, {"alert_id": 1, "queued": 3})], url="sqlite:///x.db")
    assert calls.kicks == 1 and calls.deliveries == []


def test_effects_that_start_nothing(calls: Calls) -> None:
    effects.run_effects([Effect(EffectKind.handoff), Effect(EffectKind.crisis_guidance),
                         Effect(EffectKind.sighting_recorded)], url="sqlite:///x.db")
    assert calls.kicks == 0 and calls.deliveries == []


def test_resuming_starts_deliveries_and_the_fan_out(calls: Calls) -> None:
    effects.resume_pending_work("sqlite:///x.db")
    assert calls.deliveries == ["sqlite:///x.db"] and calls.kicks == 1


def test_a_case_made_in_a_turn_is_delivered_after_the_commit(resident: Resident, calls: Calls, db_url: str) -> None:
    resident.send("母の介護のことで相談したい")
    resident.send("北区柳町")
    assert calls.deliveries == []
    resident.send("はい")  # the callback the counter offers
    turn = resident.send("09012345678")
    assert EffectKind.case_created in {effect.kind for effect in turn.effects}
    assert calls.deliveries == [db_url]


def test_unfollow_switches_off_only_that_chat(db_url: str) -> None:
    with session_scope(db_url) as session:
        session.add(Cooperator(town_id="kita-2-2", endpoints=[
            CooperatorEndpoint(channel="line", address="U-left"),
            CooperatorEndpoint(channel="line", address="U-stays"),
            CooperatorEndpoint(channel="email", address="left@example.org", priority=1)]))
    effects.run_effects([Effect(EffectKind.contact_unfollowed, {"channel": "line", "address": "U-left"})],
                        url=db_url)
    with session_scope(db_url) as session:
        active = {e.address: e.active for e in session.scalars(select(CooperatorEndpoint))}
    assert active == {"U-left": False, "U-stays": True, "left@example.org": True}
