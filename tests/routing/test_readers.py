"""What each language's readers are shown of the Japanese directory (routing.readers)."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from bot.db import session_scope
from routing.areas import town_name, ward_name
from routing.readers import reads_japanese, reads_kanji, reads_romaji
from routing.snapshot import TownOption, get_directory

LANGUAGES = ("ja", "en", "zh", "zh-Hant", "ko", "vi", "tl", "pt", "ne", "es")


def test_who_reads_what() -> None:
    assert [language for language in LANGUAGES if reads_japanese(language)] == ["ja"]
    assert [language for language in LANGUAGES if reads_kanji(language)] == ["ja", "zh", "zh-Hant"]
    assert [language for language in LANGUAGES if reads_romaji(language)] == ["en", "vi", "tl", "pt", "es"]


@pytest.mark.parametrize("language", ["vi", "tl", "pt", "es"])
def test_latin_script_readers_get_the_romaji_of_wards_and_towns(db_url: str, language: str) -> None:
    with session_scope(db_url) as session:
        assert ward_name(session, "kita", language) == ward_name(session, "kita", "en") == "Kita-ku"
        town = _town(session, "南区", "朝日町")
        assert town_name(session, town, language, with_ward=True) == "Minami-ku Asahicho"


@pytest.mark.parametrize("language", ["ja", "zh", "zh-Hant"])
def test_kanji_readers_get_the_kanji_on_the_signs(db_url: str, language: str) -> None:
    with session_scope(db_url) as session:
        assert ward_name(session, "kita", language) == "北区"
        assert town_name(session, _town(session, "南区", "朝日町"), language) == "朝日町"


@pytest.mark.parametrize("language", ["ko", "ne"])
def test_other_readers_get_the_kanji_on_the_signs_with_its_romaji(db_url: str, language: str) -> None:
    with session_scope(db_url) as session:
        assert ward_name(session, "kita", language) == "北区 (Kita-ku)"
        town = _town(session, "南区", "朝日町")
        assert town_name(session, town, language, with_ward=True) == "南区 (Minami-ku) 朝日町 (Asahicho)"


def _town(session: Session, ward: str, town: str) -> TownOption:
    return next(record.option for record in get_directory(session).towns.values()
                if (record.option.ward, record.option.town) == (ward, town))
