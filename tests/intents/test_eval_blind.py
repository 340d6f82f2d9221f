"""`tsunagu eval --split blind|eval`: the figures per language and style (issue 12).

The command runs here with a stand-in classifier (no training): these tests check
that the figures are computed and printed for every language and style of the
blind split, that its messages are never shown, and what counts as an alarm; the
real figures come from the trained model (`tsunagu eval --split blind`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest
import typer
from typer.testing import CliRunner

from bot.console_io import out
from intents.classification import Classification, IntentClassifier
from intents.commands import register
from intents.data import Example, load_split
from intents.evaluate import language_name, score_predictions
from intents.places import Gazetteer
from intents.safety import SafetySignal


def _classification(intent: str, topic: str | None = None, safety: SafetySignal | None = None) -> Classification:
    return Classification(intent, topic, ((topic, 0.9),) if topic else (), 0.9, safety, ())


class _Alarmist(IntentClassifier):
    """Answers every message with an emergency: recall 1, false-alarm rate 1."""

    def classify_many(self, texts: Sequence[str]) -> list[Classification]:
        return [_classification("emergency") for _ in texts]


def _no_gazetteer() -> Gazetteer:
    raise AssertionError("eval needs no directory")


def _run(monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    monkeypatch.setattr("intents.classifier.get_classifier", _Alarmist)
    monkeypatch.setattr(out, "width", 200)  # wide enough that no header is cut
    app = typer.Typer()
    register(app, load_gazetteer=_no_gazetteer)
    result = CliRunner().invoke(app, ["eval", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_blind_split_prints_the_figures_per_language_and_style(monkeypatch: pytest.MonkeyPatch) -> None:
    output = _run(monkeypatch, "--split", "blind")
    blind = load_split("blind")
    assert "Blind split" in output
    for heading in ("Per language", "Per style", "intent macro-F1", "topic acc.", "emergency+crisis recall",
                    "alarm only", "safety-question rate", "false alarms", "false-alarm rate on hard negatives"):
        assert heading in output
    rows = {line.split("│")[1].strip() for line in output.splitlines() if line.count("│") >= 6}
    assert {language_name(e.language) for e in blind} | {e.style for e in blind} <= rows
    assert "zh-hans" not in rows


def test_blind_split_messages_are_never_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("intents.classifier.get_classifier", _Alarmist)
    app = typer.Typer()
    register(app, load_gazetteer=_no_gazetteer)
    result = CliRunner().invoke(app, ["eval", "--split", "blind", "--errors"])
    assert result.exit_code != 0
    assert "Misclassified" not in result.output


def test_default_eval_is_the_old_split_with_the_same_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    output = _run(monkeypatch)
    assert "Evaluation split" in output and "Blind split" not in output
    rows = {line.split("│")[1].strip() for line in output.splitlines() if line.count("│") >= 6}
    evaluation = load_split("eval")
    assert {language_name(e.language) for e in evaluation} | {e.style for e in evaluation} <= rows
    # The safety files of the split are a group of their own.
    assert {"intents", "topics", "safety"} <= rows


def test_unknown_split_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("intents.classifier.get_classifier", _Alarmist)
    app = typer.Typer()
    register(app, load_gazetteer=_no_gazetteer)
    assert CliRunner().invoke(app, ["eval", "--split", "train"]).exit_code != 0


def _example(intent: str, topic: str | None, language: str, safety: str | None = None) -> Example:
    return Example("text", intent, topic, "standard", "test.yml", language, safety)


def test_alarms_count_emergency_and_crisis_but_not_welfare_signals() -> None:
    crisis = SafetySignal("crisis", None, "m")
    welfare = SafetySignal("welfare", "110", "m")
    examples = [
        _example("emergency", None, "ko"),                          # missed: answered greet
        _example("ask_where", "mental", "ko", "crisis"),            # caught by the crisis signal
        _example("report_worry", None, "ko"),                       # welfare signal: not an alarm
        _example("report_missing", None, "ko", "hard_negative"),    # false alarm
        _example("ask_where", "money", "vi"),                       # right, no alarm
    ]
    predictions = [
        _classification("greet"),
        _classification("ask_where", "mental", crisis),
        _classification("report_worry", None, welfare),
        _classification("emergency"),
        _classification("ask_where", "money"),
    ]
    report = score_predictions(examples, predictions)
    korean, vietnamese = report.by_language["ko"], report.by_language["vi"]
    assert (korean.examples, korean.alarm_examples, korean.false_alarm_examples) == (4, 2, 2)
    assert (korean.alarm_recall, korean.false_alarm_rate) == (0.5, 0.5)
    assert (vietnamese.topic_accuracy, vietnamese.alarm_examples, vietnamese.false_alarm_rate) == (1.0, 0, 0.0)
    assert (report.hard_negative_examples, report.hard_negative_false_alarm_rate) == (1, 1.0)
    assert report.overall is not None and report.overall.examples == 5
    assert list(report.by_style) == ["standard"]


def test_a_batch_is_scored_alone(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    whole = tmp_path / "whole.json"
    alone = tmp_path / "alone.json"
    _run(monkeypatch, "--split", "blind", "--json", str(whole))
    output = _run(monkeypatch, "--split", "blind", "--batch", "batch3", "--json", str(alone))
    assert "batch3 alone" in output
    figures_whole, figures_alone = (json.loads(path.read_text(encoding="utf-8")) for path in (whole, alone))
    assert figures_alone["batch"] == "batch3" and figures_whole["batch"] is None
    assert figures_alone["examples"] == len(load_split("blind", batch="batch3")) < figures_whole["examples"]


def test_an_unknown_batch_is_refused_with_the_known_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("intents.classifier.get_classifier", _Alarmist)
    app = typer.Typer()
    register(app, load_gazetteer=_no_gazetteer)
    result = CliRunner().invoke(app, ["eval", "--split", "blind", "--batch", "batch9"])
    assert result.exit_code != 0
    assert "batch3" in result.output
