"""What a missing report's words say about the person (flows.features): the clothing told unasked."""

from __future__ import annotations

import pytest

from flows.features import worn_in


@pytest.mark.parametrize(("text", "worn"), [
    ("うちのおかんがおらへんねん。認知症やねん。緑のカーディガン着て朝出てったきり帰ってけえへん", "緑のカーディガン"),
    ("母が紺のジャンパーを着て、白い運動靴を履いて出かけました", "紺のジャンパー、白い運動靴"),
    ("もしもし 母が 赤い セーター 着て 出ていったきり", "赤いセーター"),
    ("My mother went out wearing a green cardigan and black shoes and she has not come back",
     "a green cardigan and black shoes"),
    # No verb of wearing, or nothing worn before it: nothing is taken.
    ("認知症の父が朝から帰ってこない", None),
    ("父が帰ってきて着替えた", None),
    ("着の身着のまま出て行った", None),
    ("He left in a hurry", None),
])
def test_what_is_worn_is_read_from_a_verb_of_wearing(text: str, worn: str | None) -> None:
    assert worn_in(text) == worn
