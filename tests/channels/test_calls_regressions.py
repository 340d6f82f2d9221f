"""Issue 16's numbered failures, each replayed as a whole phone call (the call simulator,
``tests/channels/voice_sim.py``, in-process): the caller the issue describes, what the app
must now do. A call the app does not pass yet is marked :func:`~tests.channels.voice_sim.not_landed`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import time_machine
from sqlalchemy import select

from bot.db import session_scope
from bot.models import Alert, CaseKind
from bot.settings import settings
from flows.conversation import SAFETY_RESPONSES
from tests.channels.conftest import cases, channel_settings
from tests.channels.voice_sim import (
    CALLER_NATIONAL,
    HANG_UP,
    SATURDAY_NIGHT,
    SILENCE,
    TUESDAY_MORNING,
    WITHHELD,
    Call,
    CallSimulator,
    Choose,
    DialOutcome,
    ReadBack,
    phone_line,
    press,
    say,
)

UNSUBSCRIBE = {"utter_unsubscribed", "utter_unsubscribe_not_registered"}
# The 119/110 guidance: the safety layer's, and the 9 key's (utter_emergency_numbers).
EMERGENCY = set(SAFETY_RESPONSES) - {"utter_after_emergency_resume", "utter_crisis", "utter_welfare_check"} \
    | {"utter_emergency_numbers"}
# A worry report up to its last question, spoken: the place answered with 北区柳町.
WORRY_UNTIL_CONSENT = [say("隣の おばあさんを 最近 見かけないんです"), say("北区柳町2丁目"), ReadBack("柳町"),
                       say("三日前から")]


@pytest.fixture
async def line(engine_db: str) -> AsyncIterator[CallSimulator]:
    async with phone_line(channel_settings(engine_db)) as simulator:
        yield simulator


def prompt_of(call: Call, index: int) -> list[str]:
    """What the caller heard in turn ``index``."""
    return [h.text for h in call.turns[index].heard]


# --------------------------------------------------------------------------- 1. wrong ward, no read-back


async def test_1_a_missing_person_in_the_ward_said_is_not_moved_to_the_town_that_sounds_alike(
    line: CallSimulator, engine_db: str
) -> None:
    call = await line.call([
        press("3"), say("えーと 父です 80歳です"), ReadBack("80"),
        say("えーと 南区の あさひまちの 公園 あたり"),
        ReadBack("朝日町"), say("きょうの 朝"), say("青い ジャンパー"), ReadBack("ジャンパー"),
    ])
    place_turn = call.turn_of("えーと 南区の あさひまちの 公園 あたり")
    assert any("南区" in text for text in (h.text for h in place_turn.heard)), \
        "the place is read back (or the ward's towns offered) before going on:\n" + call.transcript()
    [case] = cases(engine_db)
    assert case.ward == "minami" and case.town_id != "kita-2-4" and case.counter_id == "mimamori-minami"
    with session_scope(engine_db) as session:
        alert = session.scalars(select(Alert)).one()
    assert alert.ward == "minami"


async def test_1_a_worry_report_in_the_ward_said_stays_in_that_ward(line: CallSimulator, engine_db: str) -> None:
    # 「南区の旭町」: 旭町 is in 北区; the app may ask which town, and the caller picks 南区's.
    call = await line.call([say("隣の おじいさんを 見かけないんです"), say("南区の旭町"), Choose("南区"), ReadBack("南区"),
                            say("先週から"), press("2"), press("1")])
    [case] = cases(engine_db)
    assert case.ward == "minami" and case.counter_id == "mimamori-minami", call.transcript()


# --------------------------------------------------------------------------- 2. the missing report is lost


async def test_2_a_family_that_hangs_up_to_call_110_leaves_an_urgent_case(line: CallSimulator, engine_db: str) -> None:
    call = await line.call([press("3"), say("父が 帰って こないんです 82歳です"), HANG_UP])
    [case] = cases(engine_db)
    assert case.kind == CaseKind.missing and case.urgent, call.transcript()
    assert CALLER_NATIONAL in str(case.details), "staff can call the family back"
    assert (case.first_contact_due - case.created_at).total_seconds() <= settings.urgent_first_contact_hours * 3600


async def test_2_dont_know_the_last_seen_place_moves_on(line: CallSimulator, engine_db: str) -> None:
    call = await line.call([press("3"), say("母です 78歳 小柄です"), ReadBack("78"), say("わからない"),
                            say("わからないです"), say("きのうの 夜"), say("灰色の セーター"), ReadBack("セーター")])
    asked_where = [turn for turn in call.turns if "utter_ask_last_seen_where" in turn.responses]
    assert len(asked_where) <= 2, call.transcript()
    [case] = cases(engine_db)
    assert case.kind == CaseKind.missing


async def test_2_zero_mid_missing_report_keeps_the_report(line: CallSimulator, engine_db: str) -> None:
    with time_machine.travel(TUESDAY_MORNING, tick=True):
        call = await line.call([press("3"), say("父です 80歳です"), ReadBack("80"), press("0"), say("南区")])
    assert call.dialled or "talk_to_human" in [turn.flow for turn in call.turns], call.transcript()
    [case] = cases(engine_db)
    assert case.kind == CaseKind.missing


async def test_2_the_alert_drops_fillers_and_keeps_the_landmark(line: CallSimulator, engine_db: str) -> None:
    call = await line.call([press("3"), say("えーと 父です 80歳です"), ReadBack("80"),
                            say("南区朝日町の スーパーの 前"), ReadBack("朝日町"), say("きょうの 朝"),
                            say("あのう 青い ジャンパーです"), ReadBack("ジャンパー")])
    [case] = cases(engine_db)
    details = str(case.details)
    assert "えーと" not in details and "あのう" not in details, details + call.transcript()
    assert "スーパー" in str(case.details.get("last_seen_where") or details)


# --------------------------------------------------------------------------- 3. 119 lost or never repeated


async def test_3_a_retried_119_turn_says_119_again(line: CallSimulator) -> None:
    call = await line.call([say("人が 倒れて 動かない", retried=True)])
    turn = call.turns[1]
    assert not turn.retry_differed, "Twilio's retry gets the first answer"
    assert "119" in " ".join(h.text for h in turn.heard)


async def test_3_retried_answers_mid_report_are_taken_once(line: CallSimulator, engine_db: str) -> None:
    call = await line.call([say("隣の おばあさんを 最近 見かけないんです", retried=True), say("南区泉町", retried=True),
                            ReadBack("泉町", press("1", retried=True)), say("先週から", retried=True),
                            press("2", retried=True), press("1", retried=True)])
    assert not any(turn.retry_differed for turn in call.turns), call.transcript()
    [case] = cases(engine_db)
    assert case.town_id == "minami-2-2" and case.report_count == 1


async def test_3_the_greeting_says_119_and_110(line: CallSimulator) -> None:
    call = await line.call([HANG_UP])
    greeting = " ".join(prompt_of(call, 0))
    assert "119" in greeting and "110" in greeting


async def test_3_silence_after_119_repeats_the_guidance_not_the_menu(line: CallSimulator) -> None:
    call = await line.call([say("父が 息を して いない"), SILENCE])
    assert call.turns[1].responses[0] in EMERGENCY, call.transcript()
    assert set(call.turns[2].responses) & EMERGENCY, "the guidance again, not the menu"


async def test_3_nine_in_the_main_menu_says_119_and_110(line: CallSimulator) -> None:
    call = await line.call([press("9")])
    heard = " ".join(prompt_of(call, 1))
    assert "119" in heard and "110" in heard and not call.hung_up, call.transcript()


async def test_3_nine_in_a_town_menu_is_the_emergency_guidance(line: CallSimulator) -> None:
    call = await line.call([press("2"), press("1"), press("1"), press("9")])
    assert set(call.turns[-1].responses) & EMERGENCY, call.transcript()


# --------------------------------------------------------------------------- 4. ordinary replies hang up


@pytest.mark.parametrize("reply", ["わかりました", "そうです", "結構です", "ありがとう", "okay", "thank you"])
async def test_4_an_acknowledgement_at_the_main_menu_does_not_hang_up(line: CallSimulator, reply: str) -> None:
    call = await line.call([say(reply)])
    assert not call.hung_up and call.ended_by == "script", call.transcript()


async def test_4_star_at_the_main_menu_repeats_it(line: CallSimulator) -> None:
    call = await line.call([press("*")])
    assert not call.hung_up and "utter_menu" in call.turns[1].responses, call.transcript()


async def test_4_an_explicit_goodbye_ends_the_call(line: CallSimulator) -> None:
    call = await line.call([say("さようなら"), say("もう 切ります")])
    assert call.hung_up and "utter_goodbye" in call.responses, call.transcript()


# --------------------------------------------------------------------------- 5. keypad-only worry report


async def test_5_a_keypad_only_worry_report_has_usable_content(line: CallSimulator, engine_db: str) -> None:
    # 2 近所の方が心配 → a menu of observations (1 …) → ward 1 北区 → town 2 若葉町 → since → no call back → send
    call = await line.call([press("2"), press("1"), press("1"), press("2"), ReadBack("若葉町"), press("1"),
                            press("2"), press("1")])
    [case] = cases(engine_db)
    assert case.town_id == "kita-1-2", call.transcript()
    noticed = str(case.details.get("noticed", ""))
    assert noticed and not noticed.isdigit(), "what was noticed is words staff can read, not a key"
    assert not str(case.details.get("since_when", "x")).isdigit()


# --------------------------------------------------------------------------- 6. nothing can be repeated


async def test_6_the_counter_s_number_is_said_again_on_request(line: CallSimulator) -> None:
    call = await line.call([say("母の 介護の ことで 相談したい"), say("北区若葉町"), ReadBack("若葉町"), say("もう一度 言ってください")])
    assert "utter_counter" in call.responses
    again = call.turn_of("もう一度 言ってください")
    assert "utter_counter" in again.responses and not set(again.responses) & UNSUBSCRIBE, call.transcript()


async def test_6_wait_i_am_writing_it_down_repeats_slowly(line: CallSimulator) -> None:
    call = await line.call([say("母の 介護の ことで 相談したい"), say("北区若葉町"), ReadBack("若葉町"), say("ちょっと 待って メモします"),
                            SILENCE])
    turn = call.turn_of("ちょっと 待って メモします")
    assert not set(turn.responses) & UNSUBSCRIBE and "cooperator_unsubscribed" not in call.effect_kinds()
    assert "utter_counter" in turn.responses or "Pause" in turn.verbs(), call.transcript()
    assert not call.hung_up


async def test_6_star_repeats_the_question_in_a_report(line: CallSimulator) -> None:
    call = await line.call([press("2"), press("*")])
    assert call.turns[2].responses and call.turns[2].responses[-1] == call.turns[1].responses[-1], call.transcript()


async def test_6_asking_again_in_words_repeats_the_question(line: CallSimulator) -> None:
    call = await line.call([press("1"), say("もう一度 言ってください")])
    assert call.turns[2].responses == call.turns[1].responses == ["utter_ask_topic"], call.transcript()


# --------------------------------------------------------------------------- 7. keys change meaning


async def test_7_after_a_report_the_main_menu_s_keys_are_the_same(line: CallSimulator) -> None:
    # Report sent, then 「他にご用件は」: 1 (yes), and 3 is a missing person as at the start.
    call = await line.call([*WORRY_UNTIL_CONSENT, press("2"), press("1"), press("1"), press("3")])
    last = call.turns[-1]
    assert last.flow == "report_missing" and "utter_missing_intro" in last.responses, call.transcript()


async def test_7_zero_in_the_consent_question_reaches_a_person(line: CallSimulator) -> None:
    with time_machine.travel(TUESDAY_MORNING, tick=True):
        call = await line.call([*WORRY_UNTIL_CONSENT, press("0"), say("北区")])
    assert call.dialled or any(turn.flow == "talk_to_human" for turn in call.turns), call.transcript()


async def test_7_an_invalid_key_is_not_called_a_misheard_word(line: CallSimulator) -> None:
    call = await line.call([press("7")])
    turn = call.turns[1]
    assert "utter_clarify" not in turn.responses and "utter_menu" in turn.responses, call.transcript()


async def test_7_zero_at_the_main_menu_reaches_a_person(line: CallSimulator) -> None:
    with time_machine.travel(TUESDAY_MORNING, tick=True):
        call = await line.call([press("0"), press("1")])
    assert call.dialled, call.transcript()


# --------------------------------------------------------------------------- 8. no English
# (the English calls are in test_calls.py)


async def test_8_unrecognised_speech_at_the_greeting_hears_the_english_key(line: CallSimulator) -> None:
    call = await line.call([SILENCE])
    heard = " ".join(prompt_of(call, 1))
    assert "English" in heard, call.transcript()


# --------------------------------------------------------------------------- 9. also


async def test_9_this_phone_number_is_the_call_back_number(line: CallSimulator, engine_db: str) -> None:
    # The app may read the caller's number back (1 = yes) or ask for one: 「この電話番号に」.
    call = await line.call([*WORRY_UNTIL_CONSENT, press("1"), ReadBack("1111"),
                            ReadBack("電話番号", say("この電話番号に お願いします"), any_prompt=True), press("1")])
    [case] = cases(engine_db)
    assert case.callback_consent and case.details.get("callback_phone") == CALLER_NATIONAL, call.transcript()


async def test_9_a_withheld_number_is_asked_for_in_a_report(line: CallSimulator, engine_db: str) -> None:
    call = await line.call([*WORRY_UNTIL_CONSENT, press("1"), say("090 5555 6666"), ReadBack("6666"), press("1")],
                           caller=WITHHELD)
    [case] = cases(engine_db)
    assert "call:" not in str(case.details) and case.details.get("callback_phone") == "09055556666", call.transcript()


async def test_9_a_withheld_number_leaving_a_message_is_asked_for_its_number(
    line: CallSimulator, engine_db: str
) -> None:
    with time_machine.travel(SATURDAY_NIGHT, tick=True):
        call = await line.call([press("0"), say("南区"), ReadBack("電話番号", say("090 5555 6666"), any_prompt=True),
                                say("母の 介護の ことで ご相談です"), ReadBack("6666"), say("090 5555 6666"), HANG_UP],
                               caller=WITHHELD)
    [case] = cases(engine_db)
    assert "call:" not in str(case.details), call.transcript()
    assert case.details.get("callback_phone") == "09055556666"


async def test_9_silence_does_not_repeat_the_menu_forever(line: CallSimulator) -> None:
    call = await line.call([SILENCE] * 8)
    assert call.hung_up and call.ended_by == "app", call.transcript()
    assert len(call.turns) <= 6, "a silent line ends after a few prompts, with a goodbye"


async def test_9_a_finished_report_asks_whether_there_is_anything_else(line: CallSimulator) -> None:
    call = await line.call([*WORRY_UNTIL_CONSENT, press("2"), press("1")])
    assert {"utter_anything_else", "utter_phone_anything_else"} & set(call.turns[-1].responses), call.transcript()


async def test_9_an_empty_recording_is_asked_again_not_the_end_of_the_call(line: CallSimulator, engine_db: str) -> None:
    with time_machine.travel(SATURDAY_NIGHT, tick=True):
        call = await line.call([press("0"), say("南区"), SILENCE, say("母の 介護の ことで ご相談です")])
    records = [turn for turn in call.turns if "Record" in turn.verbs()]
    assert len(records) == 2 and records[0].verbs()[-1] == "Redirect", "Twilio goes on after an empty recording:\n" \
        + call.transcript()
    [case] = cases(engine_db)
    assert case.kind == CaseKind.callback and "recording_url" in case.details
    assert case.details.get("callback_phone") == CALLER_NATIONAL


async def test_9_a_busy_counter_line_offers_a_call_back_to_this_number(line: CallSimulator, engine_db: str) -> None:
    with time_machine.travel(TUESDAY_MORNING, tick=True):
        call = await line.call([press("0"), say("南区"), DialOutcome("busy"), press("2"),
                                ReadBack("電話番号", press("1"), any_prompt=True)])
    dial_turn = next(turn for turn in call.turns if "Dial" in turn.verbs())
    assert dial_turn.twiml.find("Dial").attrib.get("action"), call.transcript()
    [case] = cases(engine_db)
    assert case.kind == CaseKind.callback and case.counter_id == "sougou-minami", call.transcript()
    assert case.details.get("callback_phone") == CALLER_NATIONAL


async def test_9_an_unanswered_counter_line_takes_a_message(line: CallSimulator, engine_db: str) -> None:
    with time_machine.travel(TUESDAY_MORNING, tick=True):
        call = await line.call([press("0"), say("北区"), DialOutcome("no-answer"), press("1"),
                                say("父の 介護保険の ことで 折り返し ください")])
    [case] = cases(engine_db)
    assert case.kind == CaseKind.callback and "recording_url" in case.details, call.transcript()


async def test_9_an_urgent_missing_case_is_due_within_the_urgent_hours(line: CallSimulator, engine_db: str) -> None:
    await line.call([press("3"), say("父です 80歳です"), ReadBack("80"), say("南区泉町"), ReadBack("泉町"),
                     say("きょうの 朝"), say("青い ジャンパー"), ReadBack("ジャンパー")])
    [case] = cases(engine_db)
    hours = (case.first_contact_due - case.created_at).total_seconds() / 3600
    assert case.urgent and hours <= settings.urgent_first_contact_hours < 24


async def test_9_free_text_questions_wait_for_a_slow_answer_and_carry_the_city_s_names(line: CallSimulator) -> None:
    call = await line.call([press("3"), HANG_UP])
    gather = call.turns[1].gather()
    assert gather is not None and gather.attrib["speechTimeout"] != "auto", "a pause on 「えーと…」 must not cut the answer"
    assert "朝日町" in gather.attrib.get("hints", ""), call.transcript()


async def test_9_a_low_confidence_place_is_confirmed_or_asked_again_before_it_is_used(line: CallSimulator) -> None:
    call = await line.call([say("隣の おばあさんを 見かけないんです"), say("南区朝日町", confidence=0.32)])
    turn = call.turn_of("南区朝日町")
    heard = " ".join(h.text for h in turn.heard)
    read_back = turn.gather() is not None and turn.gather().attrib.get("numDigits") == "1" and "朝日町" in heard
    asked_again = turn.responses[-1:] == call.turns[1].responses[-1:]
    assert read_back or asked_again, call.transcript()
    assert "utter_ask_since_when" not in turn.responses, "the place is not used unconfirmed"
