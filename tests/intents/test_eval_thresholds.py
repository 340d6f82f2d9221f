"""The bar of issue 4 on the evaluation split (never used for training or tuning).

The model is the one trained once for the whole test run (tests/conftest.py's
data dir); scoring the evaluation split takes about two seconds. Emergency recall
must be perfect; intent macro-F1 and topic accuracy must meet the issue's targets;
and no style of writing may lag far behind, since residents use all of them.
"""

from __future__ import annotations

import pytest

from intents.classifier import get_classifier
from intents.commands import TARGET_EMERGENCY_RECALL, TARGET_MACRO_F1, TARGET_TOPIC_ACCURACY
from intents.data import load_split
from intents.evaluate import EvalReport, evaluate


@pytest.fixture(scope="module")
def report() -> EvalReport:
    return evaluate(get_classifier(), load_split("eval"))


def test_every_emergency_of_the_evaluation_split_is_answered_as_one(report: EvalReport) -> None:
    assert report.emergency_examples > 0
    assert report.emergency_recall >= TARGET_EMERGENCY_RECALL


def test_intent_macro_f1_meets_the_target(report: EvalReport) -> None:
    assert report.macro_f1 >= TARGET_MACRO_F1, report.per_intent


def test_topic_accuracy_meets_the_target(report: EvalReport) -> None:
    assert report.topic_examples > 0
    assert report.topic_accuracy >= TARGET_TOPIC_ACCURACY


def test_every_style_is_understood(report: EvalReport) -> None:
    """No style may lag far behind: the hidden test set has all of them."""
    assert min(report.style_accuracy.values()) >= 0.9, report.style_accuracy
