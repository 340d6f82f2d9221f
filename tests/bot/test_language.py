"""Residents' languages: each message's language is detected, and a resident in danger gets
the 119/110/crisis guidance in their own language first (issue 12)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.domain import EASY, LANGUAGES, TRANSLATIONS_DIR, load_domain
from bot.settings import DEFAULT_DOMAIN
from bot.engine import ConversationEngine, detect_language
from tests.bot.conftest import Resident

SAFETY_FIRST = ("utter_emergency_119", "utter_emergency_110", "utter_emergency_fire", "utter_emergency_gas",
                "utter_emergency_attempt", "utter_welfare_check")


@pytest.mark.parametrize(("text", "language"), [
    ("남편이 지금 저를 때리고 있어요", "ko"),
    ("एक जना बुढा मान्छे लडे, सास फेरेको छैन", "ne"),
    ("Có ông cụ bị ngã, ông ấy không thở nữa", "vi"),
    ("厨房着火了！", "zh"),
    ("請問區役所在哪裡", "zh-Hant"),
    ("他沒有呼吸了", "zh-Hant"),
    ("Meu marido está me batendo agora", "pt"),
    ("Mi hija no respira", "es"),
    ("Binubugbog ako ng asawa ko ngayon", "tl"),
    # Tagalog borrowing English words is still Tagalog.
    ("Ang number ko po ay 090-2300-0105", "tl"),
    ("Naka-gray na jacket po siya", "tl"),
    # Romanized Nepali, as typed on a phone, is Nepali, not Tagalog or English.
    ("mero buwa bihana dekhi ghar farkinu bhayena", "ne"),
    ("hajur malai kaigo ko barema sodhnu cha", "ne"),
    ("bihana 8 baje tira", "ne"),
    ("Ang ama ko po ay nawawala", "tl"),
    # Japanese stays Japanese, even written in kanji only, and English stays English.
    ("我老公正在打我", "zh"),
    ("火事", "ja"),
    ("我が家", "ja"),
    ("救急車", "ja"),
    ("介護保険申請", "ja"),
    ("人が倒れている", "ja"),
    ("I can't pay my rent this month", "en"),
    ("My grandfather has 認知症 and lives in 南区 泉町", "en"),
    # Romaji names and phrases are not Tagalog or Portuguese.
    ("Kita-ku Yanagimachi 3-chome", "en"),
    ("Where is the chiiki houkatsu center?", "en"),
    ("arigatou gozaimashita", "en"),
    ("OK", None),
    # A code is no language: the conversation's stays (a partner's invitation code, a room).
    ("PT-R5CU-ASTN", None),
    ("203B", None),
    ("my code is PT-R5CU-ASTN", "en"),
])
def test_each_message_language_is_detected(text: str, language: str | None) -> None:
    assert detect_language(text) == language


@pytest.mark.parametrize(("text", "language", "response"), [
    ("남편이 지금 저를 때리고 있어요", "ko", "utter_emergency_110"),
    ("할아버지가 쓰러지셨는데 숨을 안 쉬어요", "ko", "utter_emergency_119"),
    ("Có ông cụ bị ngã, ông ấy không thở nữa", "vi", "utter_emergency_119"),
    ("Nhà bên cạnh đang bốc cháy", "vi", "utter_emergency_fire"),
    ("एक जना मान्छेले चक्कु देखाएर धम्की दिइरहेको छ", "ne", "utter_emergency_110"),
    ("एक जना बुढा मान्छे लडे, सास फेरेको छैन", "ne", "utter_emergency_119"),
    ("厨房着火了！", "zh", "utter_emergency_fire"),
    ("廚房著火了！", "zh-Hant", "utter_emergency_fire"),
    ("Meu marido está me batendo agora", "pt", "utter_emergency_110"),
    ("Huele a gas en toda la casa", "es", "utter_emergency_gas"),
    ("Hindi na humihinga ang anak ko", "tl", "utter_emergency_119"),
])
def test_an_emergency_gets_guidance_in_the_residents_language_first(
        engine: ConversationEngine, text: str, language: str, response: str) -> None:
    turn = Resident(engine, user_id=f"resident-{language}-{response}", language="ja").send(text)
    first = turn.replies[0]
    assert turn.language == language
    assert first.urgent and first.response == response
    assert first.text == engine.domain.text(response, language) != engine.domain.text(response, "ja")


@pytest.mark.parametrize("text", ["火事", "人が倒れている"])
def test_japanese_written_in_kanji_gets_japanese_guidance(engine: ConversationEngine, text: str) -> None:
    turn = Resident(engine, user_id=f"resident-ja-{text}", language="en").send(text)
    assert turn.language == "ja" and turn.replies[0].urgent
    assert turn.replies[0].text == engine.domain.text(turn.replies[0].response, "ja")


def test_crisis_lines_in_korean(engine: ConversationEngine) -> None:
    turn = Resident(engine, user_id="resident-ko-crisis").send("그냥 죽고 싶어요")
    first = turn.replies[0]
    assert turn.language == "ko" and first.urgent and first.response == "utter_crisis"
    korean = engine.domain.text("utter_crisis", "ko", hotlines="{hotlines}")
    before, after = korean.split("{hotlines}")
    assert first.text.startswith(before) and first.text.endswith(after)


def test_every_safety_response_speaks_the_seven_languages() -> None:
    domain = load_domain()
    for response in (*SAFETY_FIRST, "utter_crisis", "utter_after_emergency_resume", "utter_after_crisis_resume",
                     "utter_emergency_numbers"):
        japanese = domain.text(response, "ja", hotlines="")
        for language in ("zh", "zh-Hant", "ko", "vi", "tl", "pt", "ne", "es"):
            assert domain.text(response, language, hotlines="") not in (japanese, domain.text(response, "en", hotlines="")), \
                (response, language)


def _domain_without(tmp_path: Path, language: str) -> Path:
    """A city's domain that has not translated ``language`` (its responses/ file removed)."""
    shutil.copy(DEFAULT_DOMAIN, tmp_path / "domain.yml")
    shutil.copytree(DEFAULT_DOMAIN.parent / TRANSLATIONS_DIR, tmp_path / TRANSLATIONS_DIR,
                    ignore=shutil.ignore_patterns(f"{language}.yml"))
    return tmp_path / "domain.yml"


def test_an_untranslated_language_gets_easy_japanese_and_english(tmp_path: Path) -> None:
    assert LANGUAGES == ("ja", "en"), "only Japanese and English are required of every response"
    domain = load_domain(_domain_without(tmp_path, "ne"))
    menu = domain.text("utter_menu", "ne")
    assert domain.text("utter_menu", "ja", None, register=EASY) in menu and domain.text("utter_menu", "en") in menu
    # Shipped: every language has its own.
    shipped = load_domain()
    for language in ("zh", "zh-Hant", "ko", "vi", "tl", "pt", "ne", "es"):
        assert shipped.text("utter_menu", language) not in (shipped.text("utter_menu", "ja"),
                                                            shipped.text("utter_menu", "en")), language


def test_the_resident_is_told_once_that_replies_are_not_in_their_language(
        tmp_path: Path, engine: ConversationEngine) -> None:
    engine.domain = load_domain(_domain_without(tmp_path, "ne"))
    resident = Resident(engine)
    first = [reply.response for reply in resident.send("मलाई आमाको हेरचाहको बारेमा सल्लाह चाहियो").replies]
    assert first.count("utter_untranslated_notice") == 1 and resident.last.language == "ne"
    second = [reply.response for reply in resident.send("उत्तर कुरा").replies]
    assert "utter_untranslated_notice" not in second


def test_a_translated_language_gets_no_notice(engine: ConversationEngine) -> None:
    resident = Resident(engine)
    replies = [reply.response for reply in resident.send("मलाई आमाको हेरचाहको बारेमा सल्लाह चाहियो").replies]
    assert "utter_untranslated_notice" not in replies and resident.last.language == "ne"


def test_easy_japanese_is_answered_in_easy_japanese_until_the_resident_writes_otherwise(
        engine: ConversationEngine) -> None:
    domain = engine.domain
    resident = Resident(engine)
    easy_turn = resident.send("こどもが うまれます。どこで そうだん できますか")
    texts = {reply.response: reply.text for reply in easy_turn.replies}
    asked = easy_turn.replies[-1]
    assert asked.text == domain.text(asked.response, "ja", None, register=EASY, **_values(resident, asked.response))
    assert asked.text != domain.text(asked.response, "ja", None, **_values(resident, asked.response))
    # A short answer says nothing about the register: still easy.
    resident.send("やめる")
    standard_turn = resident.send("母の介護保険の申請について相談したいです")
    asked = standard_turn.replies[-1]
    assert asked.text == domain.text(asked.response, "ja", None, **_values(resident, asked.response)), texts


def test_asking_for_easy_japanese_switches_the_replies(engine: ConversationEngine) -> None:
    resident = Resident(engine)
    resident.send("やさしい にほんご で おねがいします")
    turn = resident.send("ははの かいごの ことで そうだん したい")
    asked = turn.replies[-1]
    assert asked.text == engine.domain.text(asked.response, "ja", None, register=EASY,
                                            **_values(resident, asked.response))


def _values(resident: Resident, response: str) -> dict[str, str]:
    # The questions compared here have no placeholders; a response with some is not comparable.
    assert not resident.engine.domain.placeholders(response), response
    return {}


def test_the_language_detector_loads_only_when_needed() -> None:
    probe = ("import sys, bot.engine\n"
             "print('lingua' in sys.modules)\n"
             "bot.engine.detect_language('Meu marido está me batendo agora')\n"
             "print('lingua' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True"]


@pytest.mark.parametrize(("first", "place", "language"), [
    ("Tôi muốn hỏi về chăm sóc cho mẹ tôi", "Minami-ku Asahicho 3-chome", "vi"),
    ("Gusto kong magtanong tungkol sa pag-aalaga sa nanay ko", "Kita-ku po", "tl"),
    ("Quero pedir ajuda para cuidar da minha mãe", "Moro em Chuo-ku", "pt"),
    ("我想咨询一下我妈妈的护理问题", "北区", "zh"),
    ("我想諮詢一下我媽媽的照護問題", "柳町", "zh-Hant"),
    ("어머니 돌봄 때문에 상담하고 싶어요", "北区", "ko"),
    # 「不是」「好的」 are written alike in both Chinese scripts: the resident's script stays.
    ("我想諮詢一下我媽媽的照護問題", "不是", "zh-Hant"),
    ("我想咨询一下我妈妈的护理问题", "好的", "zh"),
])
def test_a_place_in_romaji_or_kanji_keeps_the_residents_language(
        engine: ConversationEngine, first: str, place: str, language: str) -> None:
    resident = Resident(engine)
    assert resident.send(first).language == language
    assert resident.send(place).language == language


def test_a_romanized_nepali_report_is_answered_in_nepali_to_the_end(engine: ConversationEngine) -> None:
    resident = Resident(engine)
    assert resident.send("mero buwa bihana dekhi ghar farkinu bhayena, unlai dementia cha").language == "ne"
    # A place with one Nepali word, a time, clothes: each keeps the conversation's language.
    for answer in ("Chuo-ku Honmachi station najik", "bihana 8 baje tira", "kalo jacket ra khairo pant"):
        assert resident.send(answer).language == "ne", answer
    assert resident.send("Sorry, can you answer in English please?").language == "en"


def test_english_and_japanese_still_switch(engine: ConversationEngine) -> None:
    resident = Resident(engine)
    assert resident.send("Tôi muốn hỏi về chăm sóc cho mẹ tôi").language == "vi"
    assert resident.send("Sorry, could you answer in English please?").language == "en"
    assert resident.send("母の介護のことで相談したいです").language == "ja"
