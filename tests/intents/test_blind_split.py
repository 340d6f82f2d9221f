"""The blind split (intents/data/blind) stays apart from the data the classifier was built and tuned on.

It was written from TAXONOMY.md and DESIGN.md alone (issue 12); a blind message that
also appears, after normalisation, in the training data or the old evaluation split
would make its figures flatter the classifier. The other splits are read here only
in code: a failure names the blind message, never prints the other files.
"""

from __future__ import annotations

import re

import pytest

from bot.taxonomy import INTENTS, TOPICS
from intents.data import DATA_DIR, SPLITS, Example, data_files, load_examples, load_split
from intents.normalize import fold_for_matching, normalize

BLIND_DIR = DATA_DIR / "blind"
# Messages labelled with a TAXONOMY intent the code vocabulary does not have yet.
NEW_LANGUAGES = ("zh-hans", "zh-hant", "ko", "vi", "tl", "pt", "ne", "es")
_SPACES_RE = re.compile(r"\s+")


def _key(text: str) -> str:
    """Normalised, case- and punctuation-folded, without spaces: 「母が 倒れた。」 = 「母が倒れた」."""
    return _SPACES_RE.sub("", fold_for_matching(normalize(text)))


SEALED_DIR = DATA_DIR / "sealed"


def _sealed() -> list[Example]:
    """Batches written blind and kept unscored (intents/data/sealed/README.md)."""
    return [e for path in sorted(SEALED_DIR.rglob("*.yml")) for e in load_examples(path)]


def _blind_texts() -> list[str]:
    """The blind split's messages and the sealed batches': none may leak either way."""
    return [e.text for e in load_split("blind")] + [e.text for e in _sealed()]


@pytest.fixture(scope="module")
def blind() -> list[Example]:
    return load_split("blind")


@pytest.mark.parametrize("split", [s for s in SPLITS if s != "blind"])
def test_no_blind_message_appears_in_another_split(split: str) -> None:
    other = {_key(e.text) for path in data_files(split) for e in load_examples(path)}  # type: ignore[arg-type]
    assert other, f"the {split} split is empty: nothing to compare with"
    leaked = [text for text in _blind_texts() if _key(text) in other]
    assert leaked == []


def test_blind_messages_are_unique() -> None:
    keys = [_key(text) for text in _blind_texts()]
    assert sorted(k for k in set(keys) if keys.count(k) > 1) == []


def test_the_key_folds_what_normalisation_folds() -> None:
    # Guards the comparison itself: a key that kept spaces or punctuation would miss leaks.
    assert _key("あのー 母が 倒れた。") == _key("母が倒れた")
    assert _key("My dad collapsed!") == _key("my dad collapsed")
    assert _key("母が倒れた") != _key("父が倒れた")


def test_blind_split_covers_the_brief(blind: list[Example]) -> None:
    assert len(blind) >= 350
    assert {e.intent for e in blind} == set(INTENTS)
    assert {e.topic for e in blind if e.topic} == set(TOPICS)
    assert sum(e.intent == "emergency" or e.safety == "crisis" for e in blind) >= 80
    assert sum(e.safety == "hard_negative" for e in blind) >= 60
    for language in NEW_LANGUAGES:
        rows = [e for e in blind if e.language == language]
        assert len(rows) >= 12, language
        covered = {e.intent for e in rows} | {e.topic for e in rows if e.topic} | {e.safety for e in rows}
        assert {"emergency", "crisis", "report_worry", "report_missing", "elderly", "child", "money",
                "disability"} <= covered, language


def test_safety_marks_agree_with_labels(blind: list[Example]) -> None:
    # Crisis is suicidal thinking (ask_where/mental); a hard negative is never an emergency.
    assert {(e.intent, e.topic) for e in blind if e.safety == "crisis"} == {("ask_where", "mental")}
    assert [e.text for e in blind if e.safety == "hard_negative" and e.intent == "emergency"] == []


def test_sealed_batches_are_no_split_and_follow_the_vocabulary() -> None:
    sealed = _sealed()
    # Kept out of every split, so no `tsunagu eval` scores them before they are unsealed.
    assert all(SEALED_DIR not in path.parents for split in SPLITS for path in data_files(split))
    assert {e.intent for e in sealed} <= set(INTENTS) and {e.topic for e in sealed if e.topic} <= set(TOPICS)
