"""Property-based tests (hypothesis) of the parsers every resident's message meets: whatever
text arrives, they answer without raising, and what they must find they find (issue 15, item 4)."""

from __future__ import annotations

import csv

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.logsafe import REDACTED, redact
from bot.settings import BUNDLED_DIRECTORY
from intents.normalize import fold_for_matching, kanji_number, normalize
from intents.places import Gazetteer, extract_place
from intents.safety import detect_safety

GAZETTEER = Gazetteer.from_csv(BUNDLED_DIRECTORY / "towns.csv")
with (BUNDLED_DIRECTORY / "towns.csv").open(encoding="utf-8-sig", newline="") as handle:
    TOWNS = [(row["town_id"], row["ward"], row["town"]) for row in csv.DictReader(handle)]

# Anything a keyboard, a phone's speech recogniser or a bad client can produce, bar lone
# surrogates (the channels clean those first: tests/channels/test_bad_characters.py).
ANY_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=300)
# Filler with no letters, kana or kanji in it: it cannot name a place or a number by itself.
FILLER = st.text(st.sampled_from(" 、。！？…・ー()「」 \n"), max_size=8)
DIGITS = "〇一二三四五六七八九"


def kanji(number: int) -> str:
    """How a resident writes 0..99999 in kanji (二千十五, 三万二百)."""
    if number == 0:
        return "〇"
    out = ""
    for value, unit in ((10000, "万"), (1000, "千"), (100, "百"), (10, "十")):
        count, number = divmod(number, value)
        if count:
            out += ("" if count == 1 and unit != "万" else kanji(count)) + unit
    return out + (DIGITS[number] if number else "")


@given(ANY_TEXT)
@settings(max_examples=300, deadline=None)
def test_normalising_never_fails(text: str) -> None:
    assert isinstance(normalize(text), str)
    folded = fold_for_matching(text)
    assert folded == folded.strip() and fold_for_matching(folded) == folded


@given(ANY_TEXT)
@settings(max_examples=300, deadline=None)
def test_the_safety_lexicon_reads_any_text(text: str) -> None:
    detect_safety(text)


@given(ANY_TEXT)
@settings(max_examples=300, deadline=None)
def test_place_extraction_reads_any_text(text: str) -> None:
    place = extract_place(text, GAZETTEER)
    assert place is None or all(town in {town_id for town_id, _, _ in TOWNS} for town in place.town_ids)


@given(st.sampled_from(TOWNS), FILLER, FILLER)
@settings(max_examples=200, deadline=None)
def test_a_town_written_with_its_ward_is_found_whatever_surrounds_it(
    town: tuple[str, str, str], before: str, after: str
) -> None:
    town_id, ward, name = town
    place = extract_place(f"{before}{ward}{name}{after}", GAZETTEER)
    assert place is not None and place.town_ids == (town_id,)


@given(st.integers(min_value=0, max_value=99_999))
def test_kanji_numbers_read_back(number: int) -> None:
    assert kanji_number(kanji(number)) == number


@given(st.sampled_from(["070", "080", "090"]), st.integers(0, 9999), st.integers(0, 9999),
       st.sampled_from(["-", "", " "]), FILLER, FILLER)
def test_a_mobile_number_is_masked_wherever_it_stands(
    prefix: str, middle: int, last: int, separator: str, before: str, after: str
) -> None:
    number = f"{prefix}{separator}{middle:04d}{separator}{last:04d}"
    line = redact(f"{before}電話は{number}です{after}")
    assert number not in line and REDACTED in line
