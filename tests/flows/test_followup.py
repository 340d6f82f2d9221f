"""case_followup, whole conversations: what a resident says after a report is added to its case.

A later detail becomes a ``details_added`` event delivered to the counter (``case_updated``);
a question, another place, another matter, a button or real danger words are not details.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.db import session_scope
from bot.messages import TurnResult
from bot.models import Case, CaseEvent, CaseStatus, Delivery
from routing.cases import transition
from tests.bot.conftest import Resident
from tests.flows.conftest import cases, effects, left, said


def _worry_case(resident: Resident, place: str = "北区柳町2丁目3番") -> int:
    """A worry report from the first message to its case (created or linked); the case id."""
    resident.send("隣のおばあさんを最近見かけない")
    resident.send(place)
    resident.send("3日前から")
    resident.send("いいえ")
    done = resident.send("はい")
    assert said(done)[-1] == "utter_worry_if_danger"
    return effects(done)[0][1]["case_id"]


def _added(db_url: str, case_id: int) -> list[tuple[dict[str, object], int]]:
    """The case's details_added events: their details and how many deliveries each queued."""
    with session_scope(db_url) as session:
        events = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id,
                                                         CaseEvent.kind == "details_added").order_by(CaseEvent.id))
        return [(event.details, len(session.scalars(select(Delivery).where(Delivery.case_event_id == event.id)).all()))
                for event in events]


def _not_added(turn: TurnResult) -> bool:
    return "utter_case_details_added" not in said(turn) and all(kind != "case_updated" for kind, _ in effects(turn))


def test_a_later_detail_is_added_to_the_worry_case_and_delivered(resident: Resident, db_url: str) -> None:
    case_id = _worry_case(resident)
    turn = resident.send("そういえば、夜も電気がついていませんでした")
    assert said(turn) == ["utter_case_details_added"]
    [(kind, data)] = effects(turn)
    assert kind == "case_updated" and data["case_id"] == case_id and data["case_kind"] == "worry"
    assert data["fields"]["observation"] == "隣のおばあさんを最近見かけない"
    assert _added(db_url, case_id) == [({"details": {"added": "そういえば、夜も電気がついていませんでした"},
                                         "channel": resident.channel}, 1)]
    assert left(db_url, resident).flow == "case_followup", "more details may follow"
    assert said(resident.send("洗濯物も干したままです")) == ["utter_case_details_added"]
    assert len(_added(db_url, case_id)) == 2


def test_a_yes_a_digit_or_another_place_is_not_a_detail(resident: Resident, db_url: str) -> None:
    for text in ("はい", "2"):
        case_id = _worry_case(resident)
        assert _not_added(resident.send(text)), text
        assert not _added(db_url, case_id), text
        resident.send("やめる")
    case_id = _worry_case(resident)
    another = resident.send("南区朝日町の向かいのおじいさんも最近見かけない")
    assert _not_added(another)
    assert said(another)[0] == "utter_worry_intro", "another household: a new report"
    assert not _added(db_url, case_id)


@pytest.mark.parametrize(("question", "call_back"), [
    ("Who will contact me?", "はい"), ("いつ連絡もらえますか？", "いいえ"), ("写真も送ったほうがいいですか？", "はい"),
])
def test_a_question_about_the_report_is_added_to_it_as_a_question(resident: Resident, db_url: str, question: str,
                                                                   call_back: str) -> None:
    resident.send("隣のおばあさんを最近見かけない")
    resident.send("北区柳町2丁目")
    resident.send("3日前から")
    resident.send(call_back)
    if call_back == "はい":
        resident.send("090-1111-2222")
    resident.send("はい")
    [case] = cases(db_url)
    turn = resident.send(question)
    assert said(turn) == ["utter_case_question_noted" if call_back == "はい" else "utter_case_question_no_call_back"]
    assert _added(db_url, case.id) == [({"details": {"questions": question}, "channel": resident.channel}, 1)]
    assert effects(turn)[0][0] == "case_updated"


def test_a_question_that_names_another_matter_is_a_new_request(resident: Resident, db_url: str) -> None:
    case_id = _worry_case(resident)
    turn = resident.send("母の介護保険の申請はどこに相談すればいいですか？")
    assert _not_added(turn) and not _added(db_url, case_id)
    assert left(db_url, resident).flow == "ask_where"


def test_a_description_after_the_missing_report_is_a_detail_not_an_emergency(resident: Resident,
                                                                          db_url: str) -> None:
    resident.send("認知症の父が朝から帰ってこない")
    resident.send("80歳の男性です")
    resident.send("中央区本町")
    resident.send("今朝8時ごろ")
    resident.send("紺色のジャンパー")
    resident.send("090-3333-4444")
    [case] = cases(db_url)
    case_id = case.id
    turn = resident.send("85歳の男じゃ。背は低うて、腰が曲がっとる")
    # (Said while the alert's feature questions are open: the next one follows.)
    assert said(turn)[0] == "utter_case_details_added"
    assert [kind for kind, _ in effects(turn)] == ["case_updated"]
    assert _added(db_url, case_id)[0][0]["details"] == {"added": "85歳の男じゃ。背は低うて、腰が曲がっとる"}


def test_danger_words_get_119_first_and_the_case_is_told(resident: Resident, db_url: str) -> None:
    """Found with `tsunagu chat`: 「窓からのぞいたら、じいちゃんが倒れてる」 after the report got 119 —
    and the counter that holds the case never heard of it."""
    case_id = _worry_case(resident)
    turn = resident.send("いま見に行ったら中で倒れている")
    assert said(turn) == ["utter_emergency_119", "utter_case_details_added"], "119 first, then the case is told"
    assert turn.replies[0].urgent
    assert [kind for kind, _ in effects(turn)] == ["emergency_guidance", "case_updated"]
    assert left(db_url, resident).flow is None, "no question is open: following ends"
    [(added, deliveries)] = _added(db_url, case_id)
    assert added["details"] == {"added": "いま見に行ったら中で倒れている", "guidance": "119番"}
    assert deliveries == 1, "delivered to the counter as an update"


def test_a_welfare_sign_after_the_report_is_advised_and_told_to_the_case(resident: Resident, db_url: str) -> None:
    case_id = _worry_case(resident)
    turn = resident.send("何日も姿を見ていないし、部屋から変なにおいがしてきました")
    assert said(turn) == ["utter_welfare_check", "utter_case_details_added"]
    [(added, _)] = _added(db_url, case_id)
    assert added["details"] == {"added": "何日も姿を見ていないし、部屋から変なにおいがしてきました",
                                "guidance": "110番（安否確認）"}


def test_the_reporters_own_crisis_is_not_told_to_the_case(resident: Resident, db_url: str) -> None:
    case_id = _worry_case(resident)
    assert said(resident.send("もう死にたい"))[0] == "utter_crisis"
    assert not _added(db_url, case_id), "the neighbour's case needs nothing of the reporter's health"


def test_a_closed_case_takes_no_more_details(resident: Resident, db_url: str) -> None:
    case_id = _worry_case(resident)
    with session_scope(db_url) as session:
        transition(session, session.get(Case, case_id), CaseStatus.closed, actor="staff", reason="会えた")
    turn = resident.send("そういえば、夜も電気がついていませんでした")
    assert _not_added(turn)
    assert not _added(db_url, case_id)


def test_a_quiet_conversation_after_a_report_starts_afresh_without_a_restart_notice(
        resident: Resident, db_url: str) -> None:
    # Nothing was being asked: "we were in the middle of something" would be wrong.
    _worry_case(resident)
    resident.now += timedelta(hours=3)
    assert said(resident.send("こんにちは")) == ["utter_greet", "utter_menu"]
    assert left(db_url, resident).flow is None
