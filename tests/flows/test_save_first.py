"""Save first, ask later (issue 16, item 1): a report about a person is a case from its first answer.

A family that hangs up to call 110 — as the first reply tells them to — or a neighbour who
stops answering half-way leaves a case staff can act on: marked incomplete, with the
caller's number or the chat contact, urgent for a missing person. Completing the form turns
the same case into the complete one, never a second case; a worry report reaches its counter
once, when complete; a missing person's reaches the desk as soon as its ward is known.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from bot.db import session_scope
from bot.engine import ConversationEngine
from bot.models import CaseEvent, CaseKind, Delivery
from tests.bot.conftest import Resident
from tests.flows.conftest import cases, effects, said

CALLER = "+81312345678"


def _deliveries(db_url: str) -> list[tuple[int, str]]:
    """(case id, event kind) of every delivery queued, in order."""
    with session_scope(db_url) as session:
        rows = session.execute(select(Delivery.case_id, CaseEvent.kind).join(CaseEvent, Delivery.case_event_id == CaseEvent.id)
                               .order_by(Delivery.id))
        return [(case_id, kind) for case_id, kind in rows]


def test_a_family_that_hangs_up_after_pressing_3_leaves_an_urgent_case_with_its_number(
        engine: ConversationEngine, db_url: str) -> None:
    caller = Resident(engine, channel="voice", user_id=CALLER)
    caller.send(event="call_start")
    caller.send("3")
    [pressed] = cases(db_url)
    assert (pressed.kind, pressed.urgent, pressed.details["callback_phone"]) == (CaseKind.missing, True, "0312345678")
    caller.send("えーと 父が 帰って こないんです")
    # ... and the caller hangs up to phone 110.
    [case] = cases(db_url)
    assert case.id == pressed.id, "updated with every answer, never a second case"
    assert case.details["incomplete"] and case.details["who"] == "父が 帰って こないんです", "without 「えーと」"
    assert case.first_contact_due - case.created_at == timedelta(hours=1), "urgent, not the counter's 24 h"
    assert case.counter_id == "" and not _deliveries(db_url), "no ward yet: listed to staff, sent nowhere"


def test_a_missing_report_reaches_the_desk_once_its_ward_is_known_and_completes_the_same_case(
        resident: Resident, db_url: str) -> None:
    resident.send("認知症の父が朝から帰ってこない")
    placed = resident.send("中央区本町")
    [draft] = cases(db_url)
    assert [kind for kind, _ in effects(placed)] == ["case_updated"], "the desk is woken at once"
    assert (draft.counter_id, draft.town_id, draft.details["incomplete"] is not None) == ("mimamori-chuo", "chuo-1-1", True)
    assert _deliveries(db_url) == [(draft.id, "created")]
    resident.send("今朝8時ごろ")
    assert _deliveries(db_url) == [(draft.id, "created")], "later answers update the case without a delivery each"
    resident.send("紺色のジャンパー")
    done = resident.send("090-3333-4444")
    [case] = cases(db_url)
    assert case.id == draft.id and "incomplete" not in case.details and case.details["clothing"] == "紺色のジャンパー"
    assert ("case_created", case.id) in [(kind, data.get("case_id")) for kind, data in effects(done)]
    assert _deliveries(db_url) == [(case.id, "created"), (case.id, "report_completed")]


def test_a_worry_report_left_half_way_on_chat_keeps_the_contact_and_is_sent_once_complete(
        resident: Resident, db_url: str) -> None:
    resident.send("向かいのおじいさんの家、郵便受けに新聞がたまっている")
    resident.send("南区朝日町3丁目")
    [draft] = cases(db_url)
    assert draft.details["incomplete"] and draft.details["where"] == "南区 朝日町 3丁目"
    assert draft.reporter_contact_id is not None, "a chat left half-way can still be answered"
    assert draft.counter_id == "mimamori-minami" and not _deliveries(db_url), "a worry is sent once, complete"
    resident.send("3日前から")
    resident.send("いいえ")
    resident.send("はい")
    [case] = cases(db_url)
    assert case.id == draft.id and "incomplete" not in case.details
    assert case.reporter_contact_id is None, "no call-back wanted: the contact is not kept"
    assert _deliveries(db_url) == [(case.id, "created")]


def test_a_cancelled_worry_report_leaves_no_case(resident: Resident, db_url: str) -> None:
    resident.send("隣のおばあさんを最近見かけない")
    resident.send("北区柳町2丁目")
    resident.send("一週間前から")
    resident.send("いいえ")
    assert said(resident.send("2")) == ["utter_cancelled"]
    assert not cases(db_url)


def test_a_repeat_report_s_draft_joins_the_household_s_open_case(engine: ConversationEngine, db_url: str) -> None:
    for user in ("first", "second"):
        neighbour = Resident(engine, user_id=user)
        neighbour.send("隣のおばあさんを最近見かけない")
        neighbour.send("北区柳町2丁目3番")
        neighbour.send("一週間前から")
        neighbour.send("いいえ")
        last = neighbour.send("はい")
    [case] = cases(db_url)
    assert [kind for kind, _ in effects(last)] == ["case_linked"] and case.report_count == 2
    assert _deliveries(db_url) == [(case.id, "created"), (case.id, "repeat_report")]


def test_asking_for_a_person_mid_report_keeps_the_report(engine: ConversationEngine, db_url: str) -> None:
    resident = Resident(engine, now=datetime(2026, 12, 1, 21, 0, tzinfo=timezone(timedelta(hours=9))))
    resident.send("認知症の母がいなくなりました")
    resident.send("北区柳町")
    person = resident.send("職員と話したい")
    [case] = cases(db_url)
    assert case.details["incomplete"] and case.details["who"] == "認知症の母" and case.town_id == "kita-2-2"
    assert _deliveries(db_url) == [(case.id, "created")], "the desk has it, incomplete"
    assert "utter_ask_ward" not in said(person), "the report's ward is the person's"
    resident.send("2")  # a reply here, after hours
    [_, message] = cases(db_url)
    assert message.details["report_case_id"] == case.id, "the message for staff refers to the report"


def test_dont_know_twice_for_the_last_seen_place_goes_on_flagged(engine: ConversationEngine, db_url: str) -> None:
    """「わからない」 never loops and never ends the report: the second one goes on with what it has."""
    caller = Resident(engine, channel="voice", user_id=CALLER)
    caller.send(event="call_start")
    caller.send("3")
    caller.send("父が 帰って こないんです")
    assert said(caller.send("わからない")) == ["utter_ask_landmark"]
    assert said(caller.send("わからないです")) == ["utter_ask_last_seen_when"], "the second わからない: go on"
    caller.send("朝 から")
    caller.send("あの 青い ジャンパー です")
    done = caller.send("1")  # yes to the description read back
    assert "utter_missing_created" in said(done)
    [case] = cases(db_url)
    assert (case.details["place_unknown"], case.counter_id, case.urgent) == (True, "", True)
    assert case.details["clothing"] == "青い ジャンパー です", "without 「あの」"
    assert "incomplete" not in case.details


def test_the_spot_said_with_the_place_is_kept_for_the_desk(engine: ConversationEngine, db_url: str) -> None:
    caller = Resident(engine, channel="voice", user_id=CALLER)
    caller.send(event="call_start")
    caller.send("えーと 父が 帰って こないんです")
    assert said(caller.send("えーと 南区の あさひまちの スーパーの 前 あたり")) == ["utter_place_read_back"]
    assert "朝日町" in caller.last.replies[-1].text, "the ward said decides between the sound-alikes"
    caller.send("1")
    [case] = cases(db_url)
    assert (case.town_id, case.counter_id) == ("minami-1-2", "mimamori-minami"), "never 北区 旭町"
    assert case.details["landmark"] == "スーパーの 前 あたり"
    assert not case.details["first_report"].startswith("えーと")


def test_a_number_said_on_the_phone_is_read_back_digit_by_digit(engine: ConversationEngine, db_url: str) -> None:
    """A withheld caller gives a number: read back before it is used, 2 asks it again."""
    caller = Resident(engine, channel="voice", user_id="anonymous")
    caller.send(event="call_start")
    caller.send("うちの 母 が いなく なりました")
    caller.send("中央区 本町")
    caller.send("1")
    caller.send("けさ")
    assert said(caller.send("茶色い セーター")) == ["utter_ask_callback_phone"]
    assert said(caller.send("090 1111 2222")) == ["utter_phone_read_back"]
    assert "0 9 0 1 1 1 1 2 2 2 2" in caller.last.replies[-1].text
    assert said(caller.send("2", metadata={"input": "dtmf"})) == ["utter_ask_callback_phone"], "no: asked again"
    caller.send("090 1111 3333")
    assert said(caller.send("1", metadata={"input": "dtmf"})) == ["utter_description_read_back"]
    assert "茶色い セーター" in caller.last.replies[-1].text and "母" in caller.last.replies[-1].text
    assert said(caller.send("2", metadata={"input": "dtmf"})) == ["utter_ask_clothing_and_appearance"], "asked again"
    caller.send("80歳 くらい 白髪 茶色い セーター")
    done = caller.send("1", metadata={"input": "dtmf"})
    assert "utter_missing_created" in said(done)
    [case] = cases(db_url)
    assert case.details["callback_phone"] == "09011113333"


def test_a_caller_who_hangs_up_at_the_place_read_back_leaves_the_place_said(engine: ConversationEngine,
                                                                          db_url: str) -> None:
    caller = Resident(engine, channel="voice", user_id=CALLER)
    caller.send(event="call_start")
    caller.send("隣の おばあさんを 三日も 見かけないんです")
    assert said(caller.send("北区柳町")) == ["utter_place_read_back"]
    # ... and the caller hangs up.
    [case] = cases(db_url)
    assert (case.town_id, case.counter_id, case.details["where"]) == ("kita-2-2", "mimamori-kita", "北区 柳町")
    assert case.details["place_unconfirmed"] and case.details["callback_phone"] == "0312345678"


def test_a_caller_who_told_another_number_and_hangs_up_leaves_that_number(engine: ConversationEngine,
                                                                       db_url: str) -> None:
    caller = Resident(engine, channel="voice", user_id=CALLER)
    caller.send(event="call_start")
    caller.send("隣の おばあさんを 三日も 見かけないんです")
    assert said(caller.send("携帯の番号は 090 1234 5678 です"))[0] == "utter_detail_noted"
    caller.send("北区柳町")
    # ... and the caller hangs up: staff call the mobile they were given, not the landline.
    [case] = cases(db_url)
    assert case.details["incomplete"] and case.details["callback_phone"] == "09012345678"
