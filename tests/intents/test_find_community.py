"""find_community: the trained model tells a resident looking for a community place from one
looking for a counter, on phrasings written for this test (in neither split)."""

from __future__ import annotations

import pytest

from intents.classifier import get_classifier
from intents.data import load_split
from intents.normalize import normalize

HELD_OUT = [
    "このへんで高齢者が集まるサロンってありますか",  # standard
    "地域の子ども食堂に子どもを連れて行きたいです",
    "近所でやってる体操の会に入りたい",
    "オレンジカフェは何曜日にやっていますか",
    "近くに寄り合いできるとこあらへんかな",  # Kansai
    "えーと こども食堂 の 場所 を 知りたい です",  # phone
    "あつまって おはなし できる ところ を さがして います",  # やさしい日本語
    "Where is the nearest kodomo shokudo?",  # English
    "Is there a social club for seniors near Sumiyoshicho?",
]
# Near neighbours that are not community places: a counter, a worry about a neighbour, small talk.
NOT_COMMUNITY = [
    ("母の介護保険の申請はどこでできますか", "ask_where"),
    ("隣のおばあさんを一週間見かけません", "report_worry"),
    ("明日の天気を教えて", "out_of_scope"),
]


def test_the_held_out_phrasings_are_in_neither_split() -> None:
    written = {normalize(example.text) for split in ("train", "eval") for example in load_split(split)}  # type: ignore[arg-type]
    assert [text for text in HELD_OUT if normalize(text) in written] == []


@pytest.mark.parametrize("text", HELD_OUT)
def test_looking_for_a_community_place_is_find_community(text: str) -> None:
    result = get_classifier().classify(text)
    assert result.intent == "find_community", (text, result.intent, result.confidence)


@pytest.mark.parametrize(("text", "intent"), NOT_COMMUNITY)
def test_near_neighbours_keep_their_intent(text: str, intent: str) -> None:
    assert get_classifier().classify(text).intent == intent
