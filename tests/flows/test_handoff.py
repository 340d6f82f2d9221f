"""talk_to_human, whole conversations: in opening hours the resident gets the counter's number
(the phone line dials it); after hours they leave a message that becomes a ``callback`` case.
From any flow, the counter just named is the one connected.
"""

from __future__ import annotations

from bot.engine import ConversationEngine
from bot.messages import Handoff
from bot.models import CaseKind
from tests.bot.conftest import OPEN_HOURS, Resident
from tests.flows.conftest import Left, cases, effects, left, said

EVENING = OPEN_HOURS.replace(hour=21)


def test_in_opening_hours_the_wards_general_counter_is_given(resident: Resident, db_url: str) -> None:
    ward = resident.send("職員と話したい")
    assert said(ward) == ["utter_ask_ward"] and ward.replies[0].request_location
    assert left(db_url, resident) == Left("talk_to_human", "ward", {})
    turn = resident.send("北区")
    assert said(turn) == ["utter_handoff_open"]
    assert turn.replies[0].handoff == Handoff("sougou-kita", "北区総合相談窓口（重層的支援）", "06-0000-1007", True)
    assert turn.replies[0].end
    assert effects(turn) == [("handoff", {"counter_id": "sougou-kita"})]
    assert left(db_url, resident) == Left(None, None, {})
    assert not cases(db_url)


def test_after_hours_on_the_phone_keypad_a_recorded_message(engine: ConversationEngine, db_url: str) -> None:
    caller = Resident(engine, channel="voice", user_id="+81312345678", now=EVENING)
    caller.send(event="call_start")
    assert said(caller.send("0")) == ["utter_ask_ward"], "0 = a person, as on the phone menu"
    closed = caller.send("3")
    assert said(closed) == ["utter_handoff_closed"] and closed.replies[0].record
    assert closed.replies[0].handoff == Handoff("sougou-minami", "南区総合相談窓口（重層的支援）", "06-0000-1025", False)
    kept = left(db_url, caller)
    assert (kept.step, kept.slots["counter_id"], kept.slots["topic"]) == ("message", "sougou-minami", "complex")
    assert not cases(db_url)

    done = caller.send(event="recording", media_ref="https://api.twilio.example/recordings/RE1")
    assert said(done) == ["utter_message_received"]
    [case] = cases(db_url)
    assert effects(done) == [("case_created", {"case_id": case.id, "case_kind": "callback", "counter_id": "sougou-minami",
                                              "town_id": None, "urgent": False, "fields": {"contact": "phone"}})]
    assert (case.kind, case.counter_id, case.topic, case.ward) == (CaseKind.callback, "sougou-minami", "complex",
                                                                   "minami")
    assert case.details == {"message": None, "recording_url": "https://api.twilio.example/recordings/RE1",
                            "callback_phone": "+81312345678"}
    assert case.callback_consent
    assert left(db_url, caller) == Left(None, None, {})


def test_kansai_dialect_after_hours_a_written_message(engine: ConversationEngine, db_url: str) -> None:
    resident = Resident(engine, now=EVENING)
    assert said(resident.send("だれか人と話させて")) == ["utter_ask_ward"]
    assert said(resident.send("みなみく")) == ["utter_handoff_closed"]
    assert said(resident.send("介護の申請のことで折り返しお願いします")) == ["utter_message_received"]
    [case] = cases(db_url)
    assert (case.kind, case.counter_id) == (CaseKind.callback, "sougou-minami")
    assert case.details == {"message": "介護の申請のことで折り返しお願いします", "recording_url": None}


def test_english_mid_flow_connects_the_counter_just_named(engine: ConversationEngine, db_url: str) -> None:
    resident = Resident(engine, language="en")
    resident.send("I can't pay my rent this month")
    resident.send("Minami-ku")
    turn = resident.send("I want to talk to a person")
    assert said(turn) == ["utter_handoff_open"]
    assert turn.replies[0].handoff == Handoff("kurashi-minami", "南区くらしの相談窓口（自立相談支援機関）",
                                              "06-0000-1024", True)
    assert effects(turn) == [("handoff", {"counter_id": "kurashi-minami"})]


def test_after_hours_mid_flow_the_message_goes_to_the_counter_just_named(engine: ConversationEngine,
                                                                         db_url: str) -> None:
    resident = Resident(engine, now=EVENING)
    resident.send("母の介護のことで相談したい")
    resident.send("北区柳町")
    turn = resident.send("0")
    assert said(turn) == ["utter_handoff_closed"]
    assert left(db_url, resident).slots["counter_id"] == "houkatsu-kita-2"
    resident.send("明日電話ください 090-1111-2222")
    [case] = cases(db_url)
    assert (case.kind, case.counter_id, case.town_id, case.topic) == (CaseKind.callback, "houkatsu-kita-2",
                                                                      "kita-2-2", "elderly")


def test_an_emergency_while_leaving_a_message_comes_first_and_the_message_waits(engine: ConversationEngine,
                                                                                db_url: str) -> None:
    resident = Resident(engine, now=EVENING)
    resident.send("職員と話したい")
    resident.send("中央区")
    before = left(db_url, resident)
    turn = resident.send("いま隣の家が火事です")
    assert said(turn) == ["utter_emergency_fire", "utter_after_emergency_resume"]
    assert effects(turn) == [("emergency_guidance", {"service": "119"})]
    assert left(db_url, resident) == before
    assert not cases(db_url), "the emergency is not taken as the message"
    assert said(resident.send("落ち着いたら電話がほしいです")) == ["utter_message_received"]
    [case] = cases(db_url)
    assert case.counter_id == "sougou-chuo"
