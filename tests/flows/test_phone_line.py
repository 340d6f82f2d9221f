"""What a caller can always do on the phone line (flows.conversation.PhoneLineFlow and
finish_phone_turn, issue 16): again, a moment, 119/110 again, the same keys in every menu, no
accidental hang-up, the question after a task, English by 8 — asserted by the responses each
turn chose and what the conversation kept, on the real engine and database."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.engine import ConversationEngine
from bot.messages import TurnResult
from flows.conversation import ACKNOWLEDGEMENTS, GOODBYE_WORDS, REPEAT_WORDS, WAIT_WORDS
from intents.normalize import fold_for_matching
from tests.bot.conftest import Resident
from tests.flows.conftest import cases, effects, left, said

KEYED = {"input": "dtmf"}


def _caller(engine: ConversationEngine, number: str = "+81312345678") -> Resident:
    caller = Resident(engine, channel="voice", user_id=number)
    caller.send(event="call_start")
    return caller


def _press(caller: Resident, key: str) -> TurnResult:
    return caller.send(key, metadata=KEYED)


def _speak(caller: Resident, words: str, confidence: float = 0.9) -> TurnResult:
    return caller.send(words, metadata={"input": "speech", "confidence": confidence})


def test_star_and_moo_ichido_say_the_last_turn_again_with_its_question(engine: ConversationEngine) -> None:
    caller = _caller(engine)
    _press(caller, "1")
    _speak(caller, "母の介護のことで")
    answer = _speak(caller, "北区柳町")
    if "utter_counter" not in said(answer):
        answer = _press(caller, "1")  # the place read back: yes
    assert "utter_counter" in said(answer)
    again = _speak(caller, "もう一度 言ってください")
    assert said(again) == said(answer), "the counter, its number and the question, again"
    assert [r.text for r in _press(caller, "*").replies] == [r.text for r in answer.replies]
    no_call_back = _press(caller, "2")
    assert said(no_call_back)[-1] == "utter_phone_anything_else", "asked once, with its keys"
    assert "utter_anything_else" not in said(no_call_back)


def test_wait_repeats_the_question_slowly_and_keeps_the_report(engine: ConversationEngine, db_url: str) -> None:
    caller = _caller(engine)
    _press(caller, "2")
    asked = left(db_url, caller)
    question = said(caller.last)[-1]
    waited = _speak(caller, "ちょっと待ってください、メモします")
    # What the asking turn told, then its question, after a pause and slowly.
    assert said(waited)[0] == "utter_phone_wait" and said(waited)[-1] == question
    assert [reply.slow for reply in waited.replies] == [False] + [True] * (len(waited.replies) - 1)
    assert left(db_url, caller) == asked


def test_nine_in_a_form_says_the_numbers_and_the_question_again(engine: ConversationEngine, db_url: str) -> None:
    caller = _caller(engine)
    _press(caller, "3")
    question = said(caller.last)[-1]
    before = left(db_url, caller)
    nine = _press(caller, "9")
    assert said(nine)[0] == "utter_emergency_numbers" and said(nine)[-1] == question and nine.replies[0].urgent
    assert effects(nine) == [("emergency_guidance", {"service": "119"})]
    assert left(db_url, caller) == before, "nothing the caller said is lost"


def test_a_key_no_menu_offers_is_said_to_be_so(engine: ConversationEngine, db_url: str) -> None:
    caller = _caller(engine)
    turn = _press(caller, "6")
    assert said(turn) == ["utter_key_not_on_menu", "utter_menu"]
    _press(caller, "2")
    _speak(caller, "新聞がたまっています")
    consent_or_place = said(caller.last)[-1]
    assert said(_press(caller, "7"))[::2][:1] == ["utter_key_not_on_menu"] or consent_or_place == "utter_ask_where"


def test_a_task_done_asks_anything_else_and_only_no_ends_the_call(engine: ConversationEngine, db_url: str) -> None:
    caller = _caller(engine)
    cancelled = _speak(caller, "やめます")
    assert said(cancelled)[-1] == "utter_phone_anything_else" and not cancelled.replies[-1].end
    assert [c.digit for c in cancelled.replies[-1].choices] == ["1", "2"]
    assert said(_press(caller, "1")) == ["utter_menu"], "1: the main menu again"
    _speak(caller, "わかりました")
    bye = _press(caller, "2")
    assert said(bye) == ["utter_goodbye"] and bye.replies[0].end


def test_thanks_and_okay_are_acknowledged_goodbye_ends(engine: ConversationEngine) -> None:
    for number, words in enumerate(("ありがとうございます", "はい、わかりました", "そうです", "結構です", "okay",
                                    "thank you", "どうも")):
        caller = _caller(engine, f"+8131234560{number}")
        turn = _speak(caller, words)
        assert not any(reply.end for reply in turn.replies), words
        assert said(turn)[-1] == "utter_phone_anything_else", words
    # At 「他にご用件は」 a no — or, anywhere outside a form, an explicit goodbye — ends the call.
    assert said(_speak(caller, "いいえ")) == ["utter_goodbye"] and caller.last.replies[0].end
    again = _caller(engine, "+81312345679")
    assert said(_speak(again, "はい、さようなら")) == ["utter_goodbye"] and again.last.replies[0].end


def test_chat_channels_keep_their_goodbye(engine: ConversationEngine) -> None:
    resident = Resident(engine, channel="line", user_id="U-bye")
    resident.send("こんにちは")
    assert said(resident.send("ありがとうございました")) == ["utter_goodbye"]


def test_silence_after_119_says_the_guidance_again(engine: ConversationEngine) -> None:
    caller = _caller(engine)
    guidance = _speak(caller, "父が 息を して いない")
    assert said(guidance)[0] == "utter_emergency_119" and said(guidance)[-1] == "utter_phone_anything_else"
    again = caller.send(event="silence")
    assert said(again) == said(guidance) and again.replies[0].urgent


def test_silence_repeats_twice_then_closes_with_how_to_call_again(engine: ConversationEngine) -> None:
    caller = _caller(engine)
    assert said(caller.send(event="silence")) == ["utter_menu"]
    assert said(caller.send(event="silence")) == ["utter_menu"]
    closing = caller.send(event="silence")
    assert said(closing) == ["utter_silence_goodbye"] and closing.replies[0].end


def test_an_unsure_menu_choice_is_asked_again_once(engine: ConversationEngine, db_url: str) -> None:
    caller = _caller(engine)
    unsure = _speak(caller, "近所の方が心配", confidence=0.2)
    assert said(unsure) == ["utter_not_sure_heard", "utter_menu"]
    assert left(db_url, caller).flow is None
    _speak(caller, "近所の方が心配", confidence=0.2)
    assert left(db_url, caller).flow == "report_worry", "once: then the answer is taken"
    # A sure answer is taken at once.
    sure = _caller(engine, "+81312345677")
    _speak(sure, "近所の方が心配", confidence=0.8)
    assert left(db_url, sure).flow == "report_worry"


def test_eight_opens_the_language_menu_and_a_language_switches_the_call(engine: ConversationEngine) -> None:
    caller = _caller(engine)
    languages = _press(caller, "8")
    assert languages.language == "ja" and said(languages) == ["utter_language_menu"]
    offered = {(c.digit, c.language) for c in languages.replies[-1].choices}
    # Nepali has no voice on Twilio: a Nepali caller is offered English.
    assert {("2", "en"), ("4", "ko")} <= offered and not any(language == "ne" for _, language in offered)
    english = _press(caller, "2")
    assert english.language == "en" and said(english) == ["utter_menu"]
    to_languages = english.replies[-1].choices[-1]
    assert (to_languages.digit, to_languages.language) == ("8", "en"), "the way to the language menu, in English"
    assert _press(caller, "2").language == "en", "a key keeps the call's language"
    _speak(caller, "cancel")
    if said(caller.last)[-1] == "utter_phone_anything_else":
        _press(caller, "1")  # yes, something else: the main menu again
    assert said(_press(caller, "8")) == ["utter_language_menu"]
    back = _press(caller, "1")
    assert back.language == "ja"
    assert _speak(caller, "English please").language == "en", "or named in words"


def test_the_start_menu_lists_signing_up_and_pre_registration_on_every_channel(engine: ConversationEngine,
                                                                             db_url: str) -> None:
    for channel in ("line", "telegram", "webchat"):
        resident = Resident(engine, channel=channel, user_id=f"{channel}-menu")
        payloads = [c.payload for c in resident.send(event="follow").replies[-1].choices]
        assert {"intent:register_helper", "intent:register_person"} <= set(payloads), channel
    caller = _caller(engine)
    assert left(db_url, caller).flow is None
    _press(caller, "4")
    assert left(db_url, caller).flow == "register_helper"
    assert not cases(db_url)


@pytest.mark.parametrize(("words", "kind"), [
    ("もう一度", "repeat"), ("もう一回 お願いします", "repeat"), ("すみません、もう一度言ってください", "repeat"),
    ("say that again please", "repeat"), ("ちょっと待って", "wait"), ("ちょっと待ってください、メモします", "wait"),
    ("メモしますので待ってください", "wait"), ("wait a moment", "wait"), ("さようなら", "goodbye"),
    ("切ります", "goodbye"), ("もう大丈夫です、ありがとう", "goodbye"), ("goodbye", "goodbye"),
    ("わかりました", "thanks"), ("そうです", "thanks"), ("結構です", "thanks"), ("ありがとう", "thanks"),
    ("okay", "thanks"), ("thank you", "thanks"),
    # The same words inside what a caller tells are none of these.
    ("もう一度探しに行きます", None), ("待ってたけど来なかった", None), ("ありがとうって言われた", None),
    ("さようならも言わずに出て行った", None),
])
def test_the_phone_words_are_whole_messages(words: str, kind: str | None) -> None:
    plain = fold_for_matching(words)
    matched = [name for name, pattern in (("repeat", REPEAT_WORDS), ("wait", WAIT_WORDS), ("goodbye", GOODBYE_WORDS),
                                          ("thanks", ACKNOWLEDGEMENTS)) if pattern.match(plain)]
    assert matched == ([kind] if kind else [])


def test_a_person_asked_for_with_the_recognisers_spaces_mid_report(engine: ConversationEngine, db_url: str) -> None:
    caller = _caller(engine)
    _press(caller, "2")
    _speak(caller, "職員の 方と 話したい")
    assert left(db_url, caller).flow == "talk_to_human"


def test_a_call_with_staff_longer_than_the_conversation_ends_when_it_ends(engine: ConversationEngine,
                                                                          db_url: str) -> None:
    caller = _caller(engine)
    caller.now += timedelta(hours=2)  # the conversation timed out while the caller talked with staff
    ended = caller.send(event="dial_ended", metadata={"dial_status": "completed"})
    assert said(ended) == ["utter_goodbye"] and ended.replies[0].end
