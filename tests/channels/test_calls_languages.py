"""Whole calls in the residents' languages: key 8 on the main menu opens the language menu, each
language said in its own voice; the chosen one is the call's from then on (its texts, its voice,
its recogniser), and 9, 0 and * keep their meaning. Nepali has no Twilio voice: a Nepali caller
is offered English. Asserted on the TwiML's ``voice`` and ``language`` attributes and the
responses' names, never on a city's wording.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from bot.settings import Settings
from channels.voice import RECOGNITION_TAGS, voices
from tests.channels.conftest import channel_settings
from tests.channels.voice_sim import HANG_UP, Call, CallSimulator, Turn, phone_line, press, say_in

LANGUAGE_KEY = "8"  # the main menu's key for the language menu (docs/phone.md)
VOICES = voices(Settings(_env_file=None))  # type: ignore[call-arg]
# A Korean caller asks where to talk about their mother's care.
KOREAN_CARE = "어머니 간병 때문에 상담하고 싶어요"
# A phone number spelt digit by digit, groups apart ("0 6, 0 0 0 0, 1 0 0 2").
SPELT_NUMBER = re.compile(r"0 \d(?: \d)*(?:, \d(?: \d)*){1,2}")


@pytest.fixture
async def line(engine_db: str) -> AsyncIterator[CallSimulator]:
    async with phone_line(channel_settings(engine_db)) as simulator:
        yield simulator


async def menu_keys(line: CallSimulator) -> dict[str, str]:
    """The key of each language on the language menu, by the ``<Say language>`` it is offered in."""
    call = await line.call([press(LANGUAGE_KEY), HANG_UP])
    keys: dict[str, str] = {}
    for heard in call.turns[1].heard:
        found = re.search(r"[0-9]", heard.text)
        if found:
            keys.setdefault(heard.language, found.group())
    return keys


def gather_language(turn: Turn) -> str | None:
    gather = turn.gather()
    return gather.attrib.get("language") if gather is not None else None


def all_in(call: Call, turns: list[Turn], tag: str, voice: str) -> None:
    for turn in turns:
        for heard in turn.heard:
            assert (heard.language, heard.voice) == (tag, voice), f"{heard.text!r}:\n" + call.transcript()


async def test_the_language_menu_says_each_language_in_its_own_voice(line: CallSimulator) -> None:
    call = await line.call([press(LANGUAGE_KEY), HANG_UP])
    menu = call.turns[1]
    assert menu.responses == ["utter_language_menu"] and menu.language == "ja", call.transcript()
    offered = {(heard.language, heard.voice) for heard in menu.heard if re.search(r"[0-9]", heard.text)}
    expected = {(tag, VOICES[language]) for language, tag in
                (("ja", "ja-JP"), ("en", "en-US"), ("zh", "cmn-CN"), ("ko", "ko-KR"), ("vi", "vi-VN"),
                 ("tl", "fil-PH"), ("pt", "pt-BR"), ("es", "es-US"))}
    assert offered == expected, call.transcript()
    assert menu.gather() is not None and menu.gather().attrib["numDigits"] == "1"


async def test_korean_by_8_then_its_key_says_the_menu_in_korean_with_the_korean_voice(line: CallSimulator) -> None:
    key = (await menu_keys(line))["ko-KR"]
    call = await line.call([press(LANGUAGE_KEY), press(key), HANG_UP])
    chosen = call.turns[2]
    assert chosen.language == "ko" and chosen.responses == ["utter_menu"], call.transcript()
    assert gather_language(chosen) == RECOGNITION_TAGS["ko"] == "ko-KR"
    all_in(call, [chosen], "ko-KR", VOICES["ko"])
    assert all(re.search(r"[\uac00-\ud7a3]", heard.text) for heard in chosen.heard), "Korean texts"


async def test_a_korean_caller_asks_for_a_counter_in_korean_and_hears_its_number(line: CallSimulator) -> None:
    key = (await menu_keys(line))["ko-KR"]
    # 1 상담할 곳 → in Korean speech what it is about → the ward (1 북구) and town (1) by keys.
    call = await line.call([press(LANGUAGE_KEY), press(key), say_in("ko-KR", KOREAN_CARE),
                            press("1"), press("1"), press("1"), HANG_UP])
    assert "utter_counter" in call.responses, call.transcript()
    told = next(turn for turn in call.turns if "utter_counter" in turn.responses)
    assert told.language == "ko"
    all_in(call, call.turns[2:], "ko-KR", VOICES["ko"])
    assert any(SPELT_NUMBER.search(heard.text) for heard in told.heard), \
        "the counter's number digit by digit:\n" + call.transcript()


async def test_the_korean_voice_is_given_no_kana(line: CallSimulator) -> None:
    key = (await menu_keys(line))["ko-KR"]
    call = await line.call([press(LANGUAGE_KEY), press(key), say_in("ko-KR", KOREAN_CARE),
                            press("1"), press("1"), press("1"), HANG_UP])
    assert not any(re.search(r"[\u3040-\u30ff]", heard.text) for turn in call.turns[2:] for heard in turn.heard), \
        "no kana for the Korean voice"


async def test_9_mid_call_in_vietnamese_gives_the_emergency_numbers_in_vietnamese(line: CallSimulator) -> None:
    key = (await menu_keys(line))["vi-VN"]
    call = await line.call([press(LANGUAGE_KEY), press(key), press("2"), press("9"), HANG_UP])
    nine = call.turn_of("9")
    assert nine.responses[0] == "utter_emergency_numbers" and nine.language == "vi", call.transcript()
    assert "emergency_guidance" in [effect["kind"] for effect in nine.effects]
    all_in(call, call.turns[2:], "vi-VN", VOICES["vi"])
    assert gather_language(nine) == "vi-VN", "the question again, still in Vietnamese"
    assert any("1 1 9" in heard.text for heard in nine.heard), "119 as it is dialled:\n" + call.transcript()


async def test_0_and_star_keep_their_meaning_on_the_language_menu(line: CallSimulator) -> None:
    call = await line.call([press(LANGUAGE_KEY), press("*"), HANG_UP])
    assert call.turns[2].responses[-1] == "utter_language_menu", call.transcript()
    call = await line.call([press(LANGUAGE_KEY), press("0"), HANG_UP])
    assert call.turns[2].flow == "talk_to_human", call.transcript()


async def test_a_nepali_caller_is_offered_english_not_a_nepali_voice(line: CallSimulator) -> None:
    """No Twilio voice speaks Nepali: the language menu has no Nepali, English is its key 2."""
    keys = await menu_keys(line)
    assert not any(tag.startswith("ne") for tag in keys) and "ne" not in VOICES and "ne" not in RECOGNITION_TAGS
    call = await line.call([press(LANGUAGE_KEY), press(keys["en-US"]), HANG_UP])
    assert call.turns[2].language == "en" and gather_language(call.turns[2]) == "en-US", call.transcript()
    all_in(call, call.turns[2:], "en-US", VOICES["en"])


async def test_back_to_japanese_from_another_language(line: CallSimulator) -> None:
    keys = await menu_keys(line)
    call = await line.call([press(LANGUAGE_KEY), press(keys["pt-BR"]), press(LANGUAGE_KEY),
                            press(keys["ja-JP"]), HANG_UP])
    portuguese, languages, japanese = call.turns[2], call.turns[3], call.turns[4]
    assert portuguese.language == "pt" and gather_language(portuguese) == "pt-BR", call.transcript()
    # The way to the language menu is said in the call's language.
    assert {heard.language for heard in portuguese.heard} == {"pt-BR"}
    assert languages.responses == ["utter_language_menu"] and gather_language(languages) == "pt-BR"
    assert japanese.language == "ja" and gather_language(japanese) == "ja-JP"
