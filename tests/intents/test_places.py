"""Place extraction over every town of the sample city, in every script, plus the hard cases."""

from __future__ import annotations

import csv
from pathlib import Path
from types import SimpleNamespace

import pytest

from bot.settings import BUNDLED_DIRECTORY
from intents.normalize import katakana_to_hiragana
from intents.places import Gazetteer, extract_place

TOWNS_CSV = BUNDLED_DIRECTORY / "towns.csv"
ROWS = list(csv.DictReader(TOWNS_CSV.open(encoding="utf-8")))


def _katakana(hiragana: str) -> str:
    return "".join(chr(ord(c) + 0x60) if "ぁ" <= c <= "ゖ" else c for c in hiragana)


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return Gazetteer.from_csv(TOWNS_CSV)


def _towns(text: str, gazetteer: Gazetteer) -> tuple[str, ...]:
    place = extract_place(text, gazetteer)
    assert place is not None, text
    return place.town_ids


def test_the_sample_city_has_the_towns_the_tests_expect() -> None:
    assert len(ROWS) == 24 and {r["ward"] for r in ROWS} == {"北区", "中央区", "南区"}


@pytest.mark.parametrize("row", ROWS, ids=[r["town_id"] for r in ROWS])
def test_every_town_by_kanji_with_its_ward(row: dict[str, str], gazetteer: Gazetteer) -> None:
    place = extract_place(f"{row['ward']}{row['town']}に住んでいます", gazetteer)
    assert place is not None
    assert place.town_ids == (row["town_id"],)
    assert place.ward == row["ward"]


@pytest.mark.parametrize("row", ROWS, ids=[r["town_id"] for r in ROWS])
def test_every_town_by_kanji_alone(row: dict[str, str], gazetteer: Gazetteer) -> None:
    assert _towns(f"{row['town']}の者です", gazetteer) == (row["town_id"],)


@pytest.mark.parametrize("row", ROWS, ids=[r["town_id"] for r in ROWS])
def test_every_town_by_hiragana_and_katakana(row: dict[str, str], gazetteer: Gazetteer) -> None:
    # A reading other towns share only in the suffix (あさひまち / あさひちょう) names them all.
    alikes = tuple(r["town_id"] for r in ROWS if r["town_kana"][:3] == row["town_kana"][:3] == "あさひ") or (
        row["town_id"],)
    assert _towns(f"{row['town_kana']} に すんでいます", gazetteer) == alikes
    assert _towns(f"{_katakana(row['town_kana'])}デス", gazetteer) == alikes


@pytest.mark.parametrize("row", ROWS, ids=[r["town_id"] for r in ROWS])
def test_every_town_by_ward_and_town_reading_as_a_phone_transcript(row: dict[str, str], gazetteer: Gazetteer) -> None:
    spaced = " ".join(row["ward_kana"]) + " の " + row["town_kana"]
    place = extract_place(spaced, gazetteer)
    assert place is not None and place.town_ids == (row["town_id"],) and place.ward == row["ward"]


@pytest.mark.parametrize("row", ROWS, ids=[r["town_id"] for r in ROWS])
def test_every_town_by_romaji(row: dict[str, str], gazetteer: Gazetteer) -> None:
    assert _towns(f"I live in {row['town_romaji']}, {row['ward_romaji']}.", gazetteer) == (row["town_id"],)
    assert row["town_id"] in _towns(f"near {row['town_romaji'].upper()}", gazetteer)


@pytest.mark.parametrize("row", ROWS, ids=[r["town_id"] for r in ROWS])
def test_every_town_by_postal_code_in_every_form(row: dict[str, str], gazetteer: Gazetteer) -> None:
    code = row["postal_code"]
    digits = code.replace("-", "")
    full_width = code.translate(str.maketrans("0123456789-", "０１２３４５６７８９－"))
    for text in (f"〒{code}", f"郵便番号は{digits}です", f"〒{full_width}", f"{code[:3]}−{code[4:]}", digits):
        place = extract_place(text, gazetteer)
        assert place is not None and place.postal_code == code, text
        assert place.town_ids == (row["town_id"],), text


@pytest.mark.parametrize(
    ("text", "town_id"),
    [
        ("Hommachi", "chuo-1-1"),
        ("Honmachi", "chuo-1-1"),
        ("Ootemachi", "chuo-1-4"),
        ("Ohtemachi", "chuo-1-4"),
        ("Ōtemachi", "chuo-1-4"),
        ("Kita-ku Asahi-machi", "kita-2-4"),
        ("asahi machi, kita ward", "kita-2-4"),
        ("Wakaba-chou", "kita-1-2"),
        ("Kotobuki-chō", "chuo-2-1"),
        ("Sakura-ga-oka", "kita-1-3"),
    ],
)
def test_romaji_spelling_variants(text: str, town_id: str, gazetteer: Gazetteer) -> None:
    assert _towns(text, gazetteer) == (town_id,)


@pytest.mark.parametrize("text", ["Kita-ku", "Kita ward", "kita ku", "KITA WARD"])
def test_romaji_ward_names(text: str, gazetteer: Gazetteer) -> None:
    place = extract_place(text, gazetteer)
    assert place is not None and place.ward == "北区" and place.town_ids == ()


@pytest.mark.parametrize(
    ("text", "town_id", "ward", "detail"),
    [
        # As Korean spells Japanese: plain consonants at a word's start, aspirated inside.
        ("기타구 아사히마치 2초메", "kita-2-4", "北区", "2丁目"),
        ("기타쿠 마쓰바라초", "kita-2-1", "北区", None),
        ("주오구 고토부키쵸 2쵸메에 살아요", "chuo-2-1", "中央区", "2丁目"),
        ("추오구 혼마치에 살아요", "chuo-1-1", "中央区", None),
        ("미나미구 이즈미초", "minami-2-2", "南区", None),
        ("미나미쿠 스미요시조", "minami-2-1", "南区", None),
        ("다카사고초 근처입니다", "minami-1-4", "南区", None),
        ("오테마치", "chuo-1-4", "中央区", None),
        ("사쿠라가오카", "kita-1-3", "北区", None),
    ],
)
def test_a_korean_reader_writes_the_place_in_hangul(
    text: str, town_id: str, ward: str, detail: str | None, gazetteer: Gazetteer
) -> None:
    place = extract_place(text, gazetteer)
    assert place is not None and place.town_ids == (town_id,) and place.ward == ward and place.detail == detail


@pytest.mark.parametrize(("text", "matched"), [
    ("기타구 아사히마치 2초메예요", "기타구 아사히마치 2초메"),
    ("Kita-ku Asahimachi 2-chome, near the park", "Kita-ku Asahimachi 2-chome"),
])
def test_what_was_found_is_quoted_as_written(text: str, matched: str, gazetteer: Gazetteer) -> None:
    # What the words say besides the place (a spot for searchers) is what is left without these.
    place = extract_place(text, gazetteer)
    assert place is not None and place.matched == matched


@pytest.mark.parametrize("text", ["옆집 할머니가 며칠째 안 보여요", "어머니 요양 상담을 하고 싶어요", "감사합니다"])
def test_korean_words_name_no_place(text: str, gazetteer: Gazetteer) -> None:
    assert extract_place(text, gazetteer) is None


def test_kanji_variants_of_ke(gazetteer: Gazetteer) -> None:
    for written in ("桜ケ丘", "桜ヶ丘", "桜が丘", "さくらがおか"):
        assert _towns(written, gazetteer) == ("kita-1-3",), written


@pytest.mark.parametrize(("text", "town_id"), [
    ("我住在南區泉町", "minami-2-2"), ("北區櫻ケ丘", "kita-1-3"), ("北区樱ケ丘", "kita-1-3"), ("青叶台", "kita-1-1"),
    ("北區綠町", "kita-1-4"), ("荣町", "kita-2-3"), ("中央區壽町", "chuo-2-1"), ("濱町", "chuo-2-4"), ("稻荷町", "minami-2-4")])
def test_a_chinese_reader_writes_the_town_in_traditional_or_simplified_characters(
        text: str, town_id: str, gazetteer: Gazetteer) -> None:
    assert _towns(text, gazetteer) == (town_id,)


def test_a_bare_shared_reading_is_ambiguous_and_both_towns_are_offered(gazetteer: Gazetteer) -> None:
    place = extract_place("あさひ に すんでいます", gazetteer)
    assert place is not None
    assert set(place.town_ids) == {"kita-2-4", "minami-1-2"}
    assert place.ward is None
    assert set(_towns("I live in Asahi", gazetteer)) == {"kita-2-4", "minami-1-2"}


@pytest.mark.parametrize(
    ("text", "town_id"),
    [
        ("きたく あさひまち", "kita-2-4"),
        ("南区の あさひまち", "minami-1-2"),
        ("北区のあさひ", "kita-2-4"),
        ("南区のあさひです", "minami-1-2"),
        ("みなみく の あさひ", "minami-1-2"),
        ("あさひ、〒000-0118", "minami-1-2"),
        ("Asahi, Minami-ku", "minami-1-2"),
    ],
)
def test_the_reading_suffix_a_ward_or_a_postal_code_resolves_it(text: str, town_id: str, gazetteer: Gazetteer) -> None:
    assert _towns(text, gazetteer) == (town_id,)


def test_ward_only(gazetteer: Gazetteer) -> None:
    for text, ward in (("南区です", "南区"), ("中央区に住んでいる", "中央区"), ("ちゅうおうく です", "中央区")):
        place = extract_place(text, gazetteer)
        assert place is not None and place.town_ids == () and place.ward == ward, text


def test_substrings_do_not_confuse_ward_and_town(gazetteer: Gazetteer) -> None:
    place = extract_place("南区南町", gazetteer)
    assert place is not None and place.town_ids == ("minami-1-1",) and place.ward == "南区"
    assert _towns("本町", gazetteer) == ("chuo-1-1",)
    assert _towns("元町", gazetteer) == ("chuo-1-3",)


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("北区旭町2丁目3-4", "2丁目3-4"),
        ("旭町２丁目３番４号", "2丁目3-4"),
        ("旭町二丁目", "2丁目"),
        ("旭町の1丁目", "1丁目"),
        ("旭町2-3-4", "2丁目3-4"),
        ("旭町2ー3ー4", "2丁目3-4"),
        ("旭町12番地", "12番地"),
        ("2-3-4 Asahimachi Kita-ku", "2丁目3-4"),
        ("Asahimachi 2-chome, Kita-ku", "2丁目"),
    ],
)
def test_chome_and_banchi(text: str, detail: str, gazetteer: Gazetteer) -> None:
    place = extract_place(text, gazetteer)
    assert place is not None and place.town_ids == ("kita-2-4",) and place.detail == detail


@pytest.mark.parametrize(
    "text",
    [
        "息子が帰宅しない",  # きたく is also 帰宅
        "むすこ が きたく しません",
        "朝日新聞を読んだ",  # あさひ inside another word
        "みどりいろの服",
        "電話は090-1234-5678です",  # not a postal code
        "借金が1000000円ある",  # a bare 7-digit amount
        "明日の天気は？",
    ],
)
def test_no_place_in_words_that_merely_contain_a_reading(text: str, gazetteer: Gazetteer) -> None:
    assert extract_place(text, gazetteer) is None


def test_an_unknown_postal_code_is_kept_without_towns(gazetteer: Gazetteer) -> None:
    place = extract_place("〒123-4567", gazetteer)
    assert place is not None and place.postal_code == "123-4567" and place.town_ids == ()


def test_coordinates_pass_through(gazetteer: Gazetteer) -> None:
    place = extract_place("ここです", gazetteer, latitude=34.7275, longitude=135.53)
    assert place is not None
    assert (place.latitude, place.longitude) == (34.7275, 135.53) and place.town_ids == ()
    both = extract_place("旭町です", gazetteer, latitude=34.7, longitude=135.5)
    assert both is not None and both.town_ids == ("kita-2-4",) and both.latitude == 34.7


def test_to_dict_is_json_ready(gazetteer: Gazetteer) -> None:
    place = extract_place("北区旭町2丁目", gazetteer)
    assert place is not None
    assert place.to_dict() == {
        "town_ids": ["kita-2-4"], "ward": "北区", "postal_code": None, "latitude": None,
        "longitude": None, "detail": "2丁目", "matched": "北区 旭町", "confirm": None,
    }  # fmt: skip


def test_from_towns_accepts_objects_and_dicts() -> None:
    objects = [SimpleNamespace(**{**r, "latitude": float(r["latitude"])}) for r in ROWS]
    for towns in (objects, ROWS):
        gazetteer = Gazetteer.from_towns(towns)
        assert _towns("旭町", gazetteer) == ("kita-2-4",)


def test_another_city_works_from_its_own_table(tmp_path: Path) -> None:
    path = tmp_path / "towns.csv"
    header = "town_id,ward,town,sphere,postal_code,latitude,longitude,ward_kana,town_kana,ward_romaji,town_romaji\n"
    row = "x-1,東区,大通,x,999-0001,43.0,141.3,ひがしく,おおどおり,Higashi-ku,Odori\n"
    path.write_text(header + row, encoding="utf-8")
    gazetteer = Gazetteer.from_csv(path)
    assert _towns("東区大通", gazetteer) == ("x-1",)
    assert _towns(katakana_to_hiragana("オオドオリ"), gazetteer) == ("x-1",)
    assert _towns("Oodoori", gazetteer) == ("x-1",)
    assert extract_place("旭町", gazetteer) is None


# Issue 12 item 5 / issue 16 failure 1: phone homophones and the ward said.
@pytest.mark.parametrize("text", ["あさひまち", "あさひちょう", "アサヒマチ", "Asahimachi", "Asahicho", "asahi-machi"])
def test_readings_differing_only_in_the_suffix_are_ambiguous(text: str, gazetteer: Gazetteer) -> None:
    place = extract_place(text, gazetteer)
    assert place is not None and set(place.town_ids) == {"kita-2-4", "minami-1-2"} and place.ward is None


@pytest.mark.parametrize(("text", "town_id", "ward"), [
    ("えーと 南区の あさひまちの 公園 あたり", "minami-1-2", "南区"),
    ("みなみく の あさひまち", "minami-1-2", "南区"),
    ("Asahimachi, Minami-ku", "minami-1-2", "南区"),
    ("きたく の あさひちょう", "kita-2-4", "北区"),
])
def test_the_ward_said_decides_between_sound_alikes_and_asks_for_a_read_back(
        text: str, town_id: str, ward: str, gazetteer: Gazetteer) -> None:
    place = extract_place(text, gazetteer)
    assert place is not None and (place.town_ids, place.ward, place.confirm) == ((town_id,), ward, "reading")


@pytest.mark.parametrize("text", ["南区の旭町", "南区 旭町の公園"])
def test_a_ward_that_is_not_the_town_s_is_kept_not_overridden(text: str, gazetteer: Gazetteer) -> None:
    place = extract_place(text, gazetteer)
    assert place is not None and (place.town_ids, place.ward, place.confirm) == (("kita-2-4",), "南区", "ward_conflict")


@pytest.mark.parametrize(("text", "town_id"), [("やなぎちょう", "kita-2-2"), ("やなぎ ちょう です", "kita-2-2"),
                                               ("Yanagicho", "kita-2-2"), ("ほんちょう", "chuo-1-1"),
                                               ("すみよしまち", "minami-2-1")])
def test_a_town_said_with_its_other_suffix_is_found_to_be_confirmed(text: str, town_id: str,
                                                                    gazetteer: Gazetteer) -> None:
    place = extract_place(text, gazetteer)
    assert place is not None and (place.town_ids, place.confirm) == ((town_id,), "other_reading")


def test_a_town_s_own_unshared_reading_or_kanji_needs_no_confirmation(gazetteer: Gazetteer) -> None:
    for text in ("やなぎまち", "北区柳町", "旭町", "Yanagimachi"):
        place = extract_place(text, gazetteer)
        assert place is not None and place.confirm is None, text
