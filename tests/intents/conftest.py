"""Fixtures of the intents tests: a fake Rasa server, a classifier of the test's own, and a
small training split for the tests that prove training itself works."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.settings import settings
from intents.classifier import get_classifier
from intents.data import Example, load_split
from tests.fakes.rasa import FakeRasa

# Every n-th example of each label is kept: all labels and styles stay, training takes seconds.
SMALL_SPLIT_STRIDE = 16


@pytest.fixture
def fake_rasa() -> Iterator[FakeRasa]:
    with FakeRasa() as server:
        yield server


@pytest.fixture
def isolated_classifier(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """get_classifier() under other settings (a data dir of its own), without disturbing the
    run's shared classifier; yields the monkeypatch for changing more settings."""
    monkeypatch.setattr(settings, "data_dir", tmp_path)
    get_classifier.cache_clear()  # type: ignore[attr-defined]
    yield monkeypatch
    get_classifier.cache_clear()  # type: ignore[attr-defined]


@pytest.fixture
def small_training_split(isolated_classifier: pytest.MonkeyPatch) -> list[Example]:
    """Training (into the isolated data dir) reads a sixteenth of the train split, every label kept.

    The model it gives is weaker than the real one, so it is only ever used by the test
    that asked for it.
    """
    by_label: dict[tuple[str, str | None], list[Example]] = {}
    for example in load_split("train"):
        by_label.setdefault((example.intent, example.topic), []).append(example)
    subset = [example for examples in by_label.values() for example in examples[::SMALL_SPLIT_STRIDE]]

    def train_split(split: str) -> list[Example]:
        assert split == "train", "training reads only the train split"
        return subset

    isolated_classifier.setattr("intents.classifier.load_split", train_split)
    return subset
