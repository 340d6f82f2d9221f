"""family_to_desk (issue 17 item 1): while their alert runs, what a family writes outside any
flow reaches the alert desk as an update of the case — never a second report or a ward question."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.db import session_scope
from bot.engine import ConversationEngine
from bot.models import Alert, Case, CaseEvent, Contact, Delivery
from bot.settings import settings
from alerts.lifecycle import cancel, create_from_case, link_family
from tests.alerts.conftest import missing_case
from tests.bot.conftest import Resident
from tests.flows.conftest import cases, effects, said


@pytest.fixture(autouse=True)
def no_delivery_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deliveries stay rows for the test to read: no background thread outlives the test."""
    monkeypatch.setattr(settings, "delivery_mode", "worker")


def _alert_of(db_url: str, channel: str, user_id: str) -> int:
    """A pending alert reported by this chat (so linked to it as the reporting family)."""
    with session_scope(db_url) as session:
        family = Contact(channel=channel, channel_user_id=user_id)
        session.add(family)
        session.flush()
        case = missing_case(session, "minami-1-2", counter_id="mimamori-minami")
        case.reporter_contact_id = family.id
        return create_from_case(session, case).id


def _updates(db_url: str) -> list[CaseEvent]:
    with session_scope(db_url) as session:
        return list(session.scalars(select(CaseEvent).where(CaseEvent.kind == "details_added")))


@pytest.mark.parametrize(("words", "language"), [("警察にも相談しました。まだ見つかっていません", "ja"),
                                                 ("担当の方と話したいです", "ja"),
                                                 ("We told the police too, she is still missing", "en")])
def test_a_familys_words_reach_the_desk(engine: ConversationEngine, db_url: str, words: str, language: str) -> None:
    alert_id = _alert_of(db_url, "line", "U-family")
    family = Resident(engine, channel="line", user_id="U-family")
    turn = family.send(words)
    assert said(turn) == ["utter_family_desk_noted"] and turn.language == language
    [(kind, facts)] = effects(turn)
    [update] = _updates(db_url)
    assert kind == "case_updated" and facts["case_id"] == update.case_id
    assert update.details["details"] == {"added": words}
    with session_scope(db_url) as session:
        assert session.scalars(select(Delivery).where(Delivery.case_event_id == update.id)).all(), "to the desk"
        assert session.scalars(select(Alert.id)).all() == [alert_id], "no second report"
    assert len(cases(db_url)) == 1


def test_someone_the_desk_named_reaches_it_too_and_only_while_the_alert_runs(engine: ConversationEngine,
                                                                             db_url: str) -> None:
    alert_id = _alert_of(db_url, "line", "U-family")
    with session_scope(db_url) as session:
        link_family(session, session.get(Alert, alert_id), channel="telegram", user_id="4242", by="desk")
    son = Resident(engine, channel="telegram", user_id="4242")
    assert said(son.send("母がよく行く公園は駅の北側です")) == ["utter_family_desk_noted"]
    with session_scope(db_url) as session:
        cancel(session, session.get(Alert, alert_id), by="desk")
        case_id = session.scalars(select(Case.id)).one()
    later = son.send("母がよく行く公園は駅の北側です")
    assert "utter_family_desk_noted" not in said(later), "the alert has ended"
    assert [event.case_id for event in _updates(db_url)] == [case_id]


def test_a_stranger_is_not_taken_for_a_family(engine: ConversationEngine, db_url: str) -> None:
    _alert_of(db_url, "line", "U-family")
    stranger = Resident(engine, channel="line", user_id="U-someone")
    assert "utter_family_desk_noted" not in said(stranger.send("警察にも相談しました"))
    assert _updates(db_url) == []


def test_someone_the_desk_named_ends_the_alert_by_saying_found(engine: ConversationEngine, db_url: str) -> None:
    alert_id = _alert_of(db_url, "line", "U-family")
    with session_scope(db_url) as session:
        link_family(session, session.get(Alert, alert_id), channel="telegram", user_id="4242", by="desk")
    son = Resident(engine, channel="telegram", user_id="4242")
    found = son.send("母が見つかりました")
    assert said(found) == ["utter_family_found_alert_withdrawn"]
    assert ("alert_ended", {"alert_id": alert_id, "case_id": effects(found)[0][1]["case_id"],
                            "status": "cancelled"}) == effects(found)[0]
