"""talk_to_human, whole conversations: in opening hours the resident gets the counter's number
(the phone line dials it); after hours they leave a message that becomes a ``callback`` case,
and in writing they are asked first how staff can reach them. Later words are added to that
case. From any flow, the counter just named is the one connected.
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

    done = caller.send(event="recording", media_ref="https://api.twilio.example/recordings/RE1",
                       metadata={"recording_duration": 9})
    # No hang-up after the task: 「他にご用件はありますか」 (issue 16).
    assert said(done) == ["utter_message_received", "utter_handoff_will_call", "utter_phone_anything_else"]
    assert not any(reply.end for reply in done.replies)
    [case] = cases(db_url)
    assert effects(done) == [("case_created", {"case_id": case.id, "case_kind": "callback", "counter_id": "sougou-minami",
                                              "town_id": None, "urgent": False, "fields": {"contact": "phone"}})]
    assert (case.kind, case.counter_id, case.topic, case.ward) == (CaseKind.callback, "sougou-minami", "complex",
                                                                   "minami")
    # The caller's number as national digits, the way a typed number is kept.
    assert case.details == {"message": None, "recording_url": "https://api.twilio.example/recordings/RE1",
                            "callback_phone": "0312345678", "contact": "phone"}
    assert case.callback_consent
    assert left(db_url, caller) == Left("case_followup", None, {"case_id": case.id,
                                                                "intents": ["talk_to_human", "ask_where", "report_worry"]})
    assert said(caller.send("2")) == ["utter_goodbye"] and caller.last.replies[0].end


def test_kansai_dialect_after_hours_a_written_message(engine: ConversationEngine, db_url: str) -> None:
    resident = Resident(engine, now=EVENING)
    assert said(resident.send("だれか人と話させて")) == ["utter_ask_ward"]
    assert said(resident.send("みなみく")) == ["utter_handoff_closed", "utter_ask_handoff_contact"]
    # The matter written before the contact is kept, and the contact is asked again.
    assert said(resident.send("介護の申請のことで折り返しお願いします")) == ["utter_ask_handoff_contact"]
    assert not cases(db_url), "no contact promised before it is known"
    done = resident.send("けいたいは ０８０ー１２３４ー５６７８ やで")
    assert said(done) == ["utter_message_received", "utter_handoff_will_call"]
    [case] = cases(db_url)
    assert (case.kind, case.counter_id, case.callback_consent) == (CaseKind.callback, "sougou-minami", True)
    assert case.details == {"message": "介護の申請のことで折り返しお願いします", "contact": "phone",
                            "callback_phone": "08012345678"}


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
    assert said(turn) == ["utter_handoff_closed", "utter_ask_handoff_contact"]
    assert left(db_url, resident).slots["counter_id"] == "houkatsu-kita-2"
    assert said(resident.send("090-1111-2222")) == ["utter_message_received", "utter_handoff_will_call"]
    [case] = cases(db_url)
    assert case.details["callback_phone"] == "09011112222"
    assert (case.kind, case.counter_id, case.town_id, case.topic) == (CaseKind.callback, "houkatsu-kita-2",
                                                                      "kita-2-2", "elderly")


def test_an_emergency_while_leaving_a_message_comes_first_and_the_message_waits(engine: ConversationEngine,
                                                                                db_url: str) -> None:
    resident = Resident(engine, now=EVENING)
    resident.send("職員と話したい")
    resident.send("中央区")
    before = left(db_url, resident)
    turn = resident.send("いま隣の家が火事です")
    assert said(turn) == ["utter_emergency_fire", "utter_after_emergency_resume", "utter_ask_handoff_contact"]
    assert effects(turn) == [("emergency_guidance", {"service": "119"})]
    assert left(db_url, resident) == before
    assert not cases(db_url), "the emergency is not taken as the message"
    assert said(resident.send("落ち着いたら、明日以降に相談させてください")) == ["utter_ask_handoff_contact"]
    assert said(resident.send("06-1234-5678")) == ["utter_message_received", "utter_handoff_will_call"]
    [case] = cases(db_url)
    assert case.counter_id == "sougou-chuo"


# ---------------------------------------------------------------- out of hours: how staff can reach the resident


def test_failure_7_web_chat_out_of_hours_asks_for_a_contact_and_keeps_the_number_on_the_case(
        engine: ConversationEngine, db_url: str) -> None:
    """Issue 11, failure 7: no contact was asked, and the number that followed was answered
    with the consumer centre. (Counters are by ward, so the ward is asked first.)"""
    resident = Resident(engine, channel="webchat", user_id="web-7", now=EVENING)
    assert said(resident.send("職員と話したい")) == ["utter_ask_ward"]
    closed = resident.send("北区")
    assert said(closed) == ["utter_handoff_closed", "utter_ask_handoff_contact"]
    assert [c.payload for c in closed.replies[-1].choices] == ["phone", "channel", "none"]
    assert not cases(db_url), "no contact is promised before the resident says how"
    number = resident.send("電話番号は090-1234-0000です")
    assert said(number) == ["utter_message_received", "utter_handoff_will_call"]
    [case] = cases(db_url)
    assert (case.kind, case.counter_id, case.callback_consent) == (CaseKind.callback, "sougou-kita", True)
    assert case.details == {"message": None, "contact": "phone", "callback_phone": "09012340000"}
    assert effects(number) == [("case_created", {"case_id": case.id, "case_kind": "callback",
                                                 "counter_id": "sougou-kita", "town_id": None, "urgent": False,
                                                 "fields": {"contact": "phone"}})]
    # Later words in the same conversation are added to that case, not read as a new request.
    for later in ("障害者手帳の更新のことで相談したいです", "平日の午前中なら電話に出られます"):
        more = resident.send(later)
        assert said(more) == ["utter_case_details_added"], later
        assert [(kind, data["case_id"]) for kind, data in effects(more)] == [("case_updated", case.id)], later
    assert len(cases(db_url)) == 1


def test_the_number_given_when_the_ward_is_asked_is_kept(engine: ConversationEngine, db_url: str) -> None:
    resident = Resident(engine, channel="webchat", user_id="web-9", now=EVENING)
    resident.send("職員と話したい")
    assert said(resident.send("電話番号は090-1234-0000です")) == ["utter_ask_ward"]
    assert not cases(db_url)
    done = resident.send("南区です")
    assert said(done) == ["utter_handoff_closed", "utter_message_received", "utter_handoff_will_call"]
    [case] = cases(db_url)
    assert (case.counter_id, case.details["callback_phone"]) == ("sougou-minami", "09012340000")


def test_the_ward_in_the_first_message_and_the_matter_with_the_number(engine: ConversationEngine,
                                                                      db_url: str) -> None:
    resident = Resident(engine, channel="webchat", user_id="web-8", now=EVENING)
    assert said(resident.send("中央区の者ですが、人と話したいんですけど")) == ["utter_handoff_closed",
                                                                             "utter_ask_handoff_contact"]
    done = resident.send("生活保護の申請について聞きたいです。連絡は 06-0000-9999 にお願いします")
    assert said(done) == ["utter_message_received", "utter_handoff_will_call"]
    [case] = cases(db_url)
    assert case.counter_id == "sougou-chuo"
    assert case.details["callback_phone"] == "0600009999" and "生活保護" in case.details["message"]


def test_a_reply_in_this_chat_in_words_or_by_the_button(engine: ConversationEngine, db_url: str) -> None:
    written = Resident(engine, channel="line", user_id="U-handoff", now=EVENING)
    written.send("担当の人と話したい")
    written.send("南区")
    done = written.send("電話はちょっと苦手なので、ここに返事をもらえますか")
    assert said(done) == ["utter_message_received", "utter_handoff_will_reply_here"]
    [case] = cases(db_url)
    assert case.callback_consent and case.reporter_contact_id is not None
    assert case.details == {"message": None, "contact": "channel"}
    assert effects(done)[0][1]["fields"] == {"contact": "channel"}
    button = Resident(engine, channel="telegram", user_id="T-handoff", now=EVENING)
    button.send("職員に代わってください")
    button.send("北区")
    assert said(button.send(postback="channel")) == ["utter_message_received", "utter_handoff_will_reply_here"]


def test_the_phone_button_then_a_bad_number_then_a_good_one(engine: ConversationEngine, db_url: str) -> None:
    resident = Resident(engine, channel="line", user_id="U-handoff-2", now=EVENING)
    resident.send("職員に代わってください")
    resident.send("北区")
    assert said(resident.send("1")) == ["utter_ask_callback_phone"], "the phone button, by its number"
    assert said(resident.send("1234")) == ["utter_bad_phone", "utter_ask_callback_phone"]
    assert not cases(db_url)
    assert said(resident.send("０９０−５５５５−６６６６")) == ["utter_message_received", "utter_handoff_will_call"]
    [case] = cases(db_url)
    assert case.details["callback_phone"] == "09055556666"


def test_english_out_of_hours_no_contact_wanted(engine: ConversationEngine, db_url: str) -> None:
    resident = Resident(engine, channel="webchat", user_id="web-en", language="en", now=EVENING)
    resident.send("I'd like to speak to a person")
    resident.send("Kita-ku")
    done = resident.send("I don't need a reply, just letting you know")
    assert said(done) == ["utter_message_received", "utter_handoff_no_contact"]
    [case] = cases(db_url)
    assert not case.callback_consent and case.details["contact"] == "none"
    assert effects(done)[0][1]["fields"] == {"contact": None}
    more = resident.send("The ramp at the ward office entrance is broken")
    assert [kind for kind, _ in effects(more)] == ["case_updated"]


def test_a_person_asked_for_in_many_words_from_inside_a_report(engine: ConversationEngine, db_url: str) -> None:
    for words in ("やっぱり職員の方と直接話したいです", "どなたか人とお話しできませんでしょうか", "can I speak with a person"):
        resident = Resident(engine, user_id=words)
        resident.send("隣のおばあさんを最近見かけない")
        assert said(resident.send(words)) == ["utter_ask_ward"], words
        assert left(db_url, resident).flow == "talk_to_human", words
