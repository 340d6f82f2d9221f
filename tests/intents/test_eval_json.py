"""`tsunagu eval --json PATH --calibration PATH`: the figures as JSON (no message text) and the
reliability diagram, with a stand-in classifier that has a safety model (no training)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from intents.classification import Classification, IntentClassifier
from intents.commands import register
from intents.data import load_split
from intents.places import Gazetteer


class _Unsure(IntentClassifier):
    """Says greet to everything with middling confidence and asks the safety question on every
    third message: some urgent messages are caught, none with an alarm."""

    def classify_many(self, texts: Sequence[str]) -> list[Classification]:
        return [
            Classification("greet", None, (), 0.6, None, (), 0.4 if i % 3 == 0 else 0.1, "ask" if i % 3 == 0 else None)
            for i, _ in enumerate(texts)
        ]


def _no_gazetteer() -> Gazetteer:
    raise AssertionError("eval needs no directory")


@pytest.fixture
def written(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[dict, Path]:
    monkeypatch.setattr("intents.classifier.get_classifier", _Unsure)
    app = typer.Typer()
    register(app, load_gazetteer=_no_gazetteer)
    figures, diagram = tmp_path / "out" / "eval.json", tmp_path / "calibration.svg"
    result = CliRunner().invoke(app, ["eval", "--json", str(figures), "--calibration", str(diagram)])
    assert result.exit_code == 0, result.output
    return json.loads(figures.read_text(encoding="utf-8")), diagram


def test_the_json_holds_the_figures_per_group_and_the_targets(written: tuple[dict, Path]) -> None:
    document, _ = written
    examples = load_split("eval")
    assert document["split"] == "eval" and document["examples"] == len(examples)
    overall = document["overall"]
    assert overall["alarm_recall"] == 0.0  # never an alarm, only questions
    assert 0.0 < overall["caught_recall"] < 1.0
    assert overall["question_rate"] == pytest.approx(sum(i % 3 == 0 for i in range(len(examples))) / len(examples),
                                                     abs=1e-4)
    assert {"ja", "en"} <= set(document["by_language"]) and "safety" in document["by_set"]
    assert document["targets"]["overall.caught_recall"]["met"] is False
    assert document["targets"]["language.ja.macro_f1"]["target"] == 0.95
    assert document["urgency_calibration"]["count"] == len(examples)
    assert sum(b["count"] for b in document["intent_calibration"]["bins"]) == len(examples)


def test_the_json_holds_no_message_text(written: tuple[dict, Path]) -> None:
    document, _ = written
    serialised = json.dumps(document, ensure_ascii=False)
    assert "errors" not in document
    # Long enough that a text cannot be mistaken for an intent or language name.
    assert not any(e.text in serialised for e in load_split("eval") if len(e.text) >= 8)


def test_the_reliability_diagram_is_an_svg_with_both_panels(written: tuple[dict, Path]) -> None:
    _, diagram = written
    root = ElementTree.fromstring(diagram.read_text(encoding="utf-8"))
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = " ".join(element.text or "" for element in root.iter("{http://www.w3.org/2000/svg}text"))
    assert "Intent confidence" in texts and "Urgency" in texts
    assert texts.count("ECE") == 2
