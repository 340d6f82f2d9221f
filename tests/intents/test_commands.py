"""`tsunagu train`, `eval` and `classify` as a city's IT officer runs them."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from bot.settings import BUNDLED_DIRECTORY, settings
from bot.taxonomy import INTENTS, TOPICS
from intents.backends import Encoder
from intents.classifier import LocalClassifier, get_classifier
from intents.commands import classify_stream, register
from intents.data import STYLES, Example, load_split
from intents.model import Progress, TrainedModel, TrainReport
from intents.places import Gazetteer

OUTPUT_KEYS = {"text", "intent", "topic", "confidence", "place"}


def sample_gazetteer() -> Gazetteer:
    """The sample city's towns, as the directory in a database would give them."""
    return Gazetteer.from_csv(BUNDLED_DIRECTORY / "towns.csv")


def no_database() -> Gazetteer:
    raise ConnectionError("no directory database")


@pytest.fixture
def cli() -> typer.Typer:
    """The intents commands on an app of their own; the directory comes from the sample CSV."""
    app = typer.Typer()
    register(app, load_gazetteer=sample_gazetteer)

    @app.callback()
    def main() -> None:
        """Keep train/eval/classify as subcommands."""

    return app


def test_classify_writes_one_json_line_per_input_line_in_order(cli: typer.Typer) -> None:
    lines = [
        {"text": "えーと あの 母が いなくなって 北区旭町です"},
        {"text": "隣の人が倒れて動かない", "latitude": 34.7275, "longitude": 135.53},
        {"text": "How do I apply for welfare? I live in Minami-ku"},
        {"text": "あさひ に すんでいます。 かいご の そうだん"},
    ]
    stdin = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    result = CliRunner().invoke(cli, ["classify"], input=stdin)
    assert result.exit_code == 0, result.output
    outputs = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["text"] for o in outputs] == [line["text"] for line in lines]
    for output in outputs:
        assert set(output) == OUTPUT_KEYS
        assert output["intent"] in INTENTS and (output["topic"] is None or output["topic"] in TOPICS)
        assert 0.0 <= output["confidence"] <= 1.0
    assert outputs[0]["intent"] == "report_missing" and outputs[0]["place"]["town_ids"] == ["kita-2-4"]
    assert outputs[1]["intent"] == "emergency" and outputs[1]["place"]["latitude"] == 34.7275
    assert outputs[2]["place"]["ward"] == "南区" and outputs[2]["place"]["town_ids"] == []
    assert set(outputs[3]["place"]["town_ids"]) == {"kita-2-4", "minami-1-2"}


def test_bad_lines_get_an_error_line_and_do_not_stop_the_stream(cli: typer.Typer) -> None:
    lines = ['{"text": "こんにちは"}', "not json", '{"text": 5}', "", '["a list"]', '{"message": "no text"}']
    stdin = "\n".join([*lines, '{"text": "ありがとう"}']) + "\n"
    result = CliRunner().invoke(cli, ["classify"], input=stdin)
    assert result.exit_code == 0, result.output
    outputs = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(outputs) == 7
    assert [("error" in o) for o in outputs] == [False, True, True, True, True, True, False]
    assert outputs[0]["intent"] == "greet" and outputs[-1]["intent"] == "goodbye"


def test_classify_stream_accepts_a_last_line_without_newline() -> None:
    out = io.StringIO()
    lines = io.StringIO('{"text": "配信を停止して"}\n{"text": "協力者をやめたい"}')
    failures = classify_stream(lines, out, sample_gazetteer)
    assert failures == 0 and len(out.getvalue().splitlines()) == 2


def test_classify_stream_falls_back_to_the_bundled_towns_without_a_database() -> None:
    out = io.StringIO()
    failures = classify_stream(io.StringIO('{"text": "北区旭町に住んでいます"}\n'), out, no_database)
    assert failures == 0 and json.loads(out.getvalue())["place"]["town_ids"] == ["kita-2-4"]


def test_eval_prints_the_tables(cli: typer.Typer) -> None:
    result = CliRunner().invoke(cli, ["eval", "--errors"])
    assert result.exit_code == 0, result.output
    for heading in ("intent macro-F1", "emergency recall", "topic accuracy", "Per intent", "Confusion"):
        assert heading in result.stdout, heading
    for name in (*INTENTS, *STYLES):
        assert name in result.stdout, name


def test_train_reports_where_and_how_long(cli: typer.Typer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[tuple[Path | None, bool]] = []

    def fake_train(out_dir: Path | None = None, progress: bool = True) -> TrainReport:
        calls.append((out_dir, progress))
        return TrainReport(1219, 522, 12.3, 0.91, 0.9, {}, {}, 0.4, "hash", str(tmp_path / "classifier.joblib"))

    monkeypatch.setattr("intents.classifier.train_model", fake_train)
    result = CliRunner().invoke(cli, ["train", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert calls == [(tmp_path, True)]
    assert "12.3 s" in result.stdout and "classifier.joblib" in result.stdout


def test_classify_trains_on_first_use_and_keeps_stdout_clean(
    cli: typer.Typer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A fresh data dir: the model is trained first (progress on stderr), stdout holds only JSON lines.

    The fit itself is the run's model handed back after the progress reports (training is
    proved in tests/intents/test_backends.py on a small split): this test is about the command.
    """
    shared = get_classifier()
    assert isinstance(shared, LocalClassifier)
    fitted: list[int] = []

    def fit_model(
        examples: list[Example], encoder: Encoder, data_hash: str, progress: Progress | None
    ) -> TrainedModel:
        fitted.append(len(examples))
        assert progress is not None, "training on first use shows its progress"
        for stage, fraction in (("encoding", 0.0), ("intent head", 0.5), ("done", 1.0)):
            progress(stage, fraction)
        return shared.model

    monkeypatch.setattr("intents.classifier.fit_model", fit_model)
    # The shared model's embeddings, as a data edit keeps them: encoding the whole train split
    # again would be most of this test's time, and is not what it is about.
    for cache in settings.model_dir.glob("embeddings.*.npz"):
        (tmp_path / "model").mkdir(exist_ok=True)
        shutil.copy(cache, tmp_path / "model" / cache.name)
    monkeypatch.setattr(settings, "data_dir", tmp_path)
    get_classifier.cache_clear()  # type: ignore[attr-defined]
    try:
        result = CliRunner().invoke(cli, ["classify"], input='{"text": "家賃が払えない"}\n{"text": "火事です"}\n')
    finally:
        get_classifier.cache_clear()  # type: ignore[attr-defined]
    assert result.exit_code == 0, result.output
    assert fitted == [len(load_split("train"))]
    outputs = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(o["intent"], o["topic"]) for o in outputs] == [("ask_where", "money"), ("emergency", None)]
    assert (tmp_path / "model" / "classifier.joblib").exists()
