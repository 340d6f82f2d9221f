"""Scores of a classifier on labelled examples (the evaluation and blind splits).

Used by ``tsunagu eval``, the threshold test and the baseline benchmark. The
evaluation and blind splits are only ever scored here, never used to fit or tune.

Besides the intent and topic scores, the report counts *alarms*: a prediction of
``emergency`` or an emergency / crisis safety signal, i.e. the answers that put
119/110 or a crisis line first. A welfare signal (ask the police to check on a
neighbour) is the designed answer to a worry report and is not counted as an alarm.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from bot.taxonomy import INTENTS
from intents.classification import Classification, IntentClassifier
from intents.data import ALL_STYLES, Example

__all__ = ["EvalReport", "GroupScore", "IntentScore", "evaluate", "is_alarm", "score_predictions"]

ALARM_SIGNALS = frozenset({"emergency", "crisis"})


@dataclass(frozen=True)
class IntentScore:
    """Precision, recall and F1 of one intent."""

    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class GroupScore:
    """The safety and understanding figures of one language or one style.

    Attributes:
        examples: messages in the group.
        macro_f1: intent macro-F1 over the intents present in the group.
        topic_accuracy: among the group's ask_where messages recognised as
            ask_where, share with the right topic (0.0 when there are none).
        topic_examples: ask_where messages in the group.
        alarm_recall: share of emergency and crisis messages answered with an alarm.
        alarm_examples: emergency and crisis messages in the group.
        false_alarm_rate: share of the other messages answered with an alarm.
        false_alarm_examples: the other messages in the group.
    """

    examples: int
    macro_f1: float
    topic_accuracy: float
    topic_examples: int
    alarm_recall: float
    alarm_examples: int
    false_alarm_rate: float
    false_alarm_examples: int


@dataclass
class EvalReport:
    """Everything ``tsunagu eval`` prints.

    Attributes:
        examples: number of examples scored.
        accuracy: intent accuracy.
        macro_f1: unweighted mean F1 over the intents present in the data.
        per_intent: per-intent precision / recall / F1.
        labels: row/column order of ``confusion``.
        confusion: confusion[i][j] = examples of labels[i] predicted as labels[j].
        style_accuracy: intent accuracy per style.
        topic_accuracy: among ask_where examples recognised as ask_where,
            share with the right topic — the topic is judged where the intent
            was right, as Rasa scores its response selector (intent misses
            already count in the intent scores).
        topic_accuracy_end_to_end: among all ask_where examples, share with
            the right intent AND topic.
        topic_examples: number of ask_where examples.
        emergency_recall: share of emergency examples answered with emergency.
        emergency_examples: number of emergency examples.
        confident_share: share of predictions the flow would act on without asking.
        errors: (text, expected, predicted) for every intent or topic miss.
        by_language: figures per message language.
        by_style: figures per style.
        overall: the same figures over every message.
        hard_negative_false_alarm_rate: share of the messages marked
            ``hard_negative`` (sound dangerous, are not) answered with an alarm.
        hard_negative_examples: number of those messages.
    """

    examples: int
    accuracy: float
    macro_f1: float
    per_intent: dict[str, IntentScore]
    labels: list[str]
    confusion: list[list[int]]
    style_accuracy: dict[str, float]
    topic_accuracy: float
    topic_accuracy_end_to_end: float
    topic_examples: int
    emergency_recall: float
    emergency_examples: int
    confident_share: float
    errors: list[tuple[str, str, str]] = field(default_factory=list)
    by_language: dict[str, GroupScore] = field(default_factory=dict)
    by_style: dict[str, GroupScore] = field(default_factory=dict)
    overall: GroupScore | None = None
    hard_negative_false_alarm_rate: float = 0.0
    hard_negative_examples: int = 0


def is_alarm(prediction: Classification) -> bool:
    """True when the answer puts 119/110 or a crisis line first (emergency intent or signal)."""
    return prediction.intent == "emergency" or (
        prediction.safety is not None and prediction.safety.kind in ALARM_SIGNALS
    )


def _needs_alarm(example: Example) -> bool:
    return example.intent == "emergency" or example.safety == "crisis"


def _share(hits: int, total: int) -> float:
    return round(hits / total, 4) if total else 0.0


def _macro_f1(truth: Sequence[str], predicted: Sequence[str]) -> float:
    present = [i for i in INTENTS if i in set(truth)]
    if not present:
        return 0.0
    _, _, f1, _ = precision_recall_fscore_support(truth, predicted, labels=present, zero_division=0)
    return round(float(sum(f1) / len(present)), 4)


def _group_score(rows: Sequence[tuple[Example, Classification]]) -> GroupScore:
    topic_rows = [(e, p) for e, p in rows if e.intent == "ask_where" and e.topic]
    recognised = [(e, p) for e, p in topic_rows if p.intent == "ask_where"]
    urgent = [p for e, p in rows if _needs_alarm(e)]
    other = [p for e, p in rows if not _needs_alarm(e)]
    return GroupScore(
        examples=len(rows),
        macro_f1=_macro_f1([e.intent for e, _ in rows], [p.intent for _, p in rows]),
        topic_accuracy=_share(sum(p.topic == e.topic for e, p in recognised), len(recognised)),
        topic_examples=len(topic_rows),
        alarm_recall=_share(sum(map(is_alarm, urgent)), len(urgent)),
        alarm_examples=len(urgent),
        false_alarm_rate=_share(sum(map(is_alarm, other)), len(other)),
        false_alarm_examples=len(other),
    )


def _groups(
    examples: Sequence[Example], predictions: Sequence[Classification], key: str, order: Sequence[str]
) -> dict[str, GroupScore]:
    """Scores per value of ``key`` ("language" or "style"), known values first in ``order``."""
    rows = list(zip(examples, predictions, strict=True))
    values = {getattr(e, key) for e in examples}
    ordered = [v for v in order if v in values] + sorted(values - set(order))
    return {value: _group_score([(e, p) for e, p in rows if getattr(e, key) == value]) for value in ordered}


def _label(intent: str, topic: str | None) -> str:
    return f"{intent}/{topic}" if topic else intent


def score_predictions(examples: Sequence[Example], predictions: Sequence[Classification]) -> EvalReport:
    """Score classifications against their labelled examples.

    Args:
        examples: labelled examples.
        predictions: one classification per example, same order.

    Returns:
        The report.
    """
    truth = [e.intent for e in examples]
    predicted = [p.intent for p in predictions]
    labels = [i for i in INTENTS if i in set(truth) | set(predicted)]
    present = [i for i in INTENTS if i in set(truth)]
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=present, zero_division=0
    )
    per_intent = {
        label: IntentScore(round(float(p), 4), round(float(r), 4), round(float(f), 4), int(s))
        for label, p, r, f, s in zip(present, precision, recall, f1, support, strict=True)
    }
    style_accuracy = {}
    for style in ALL_STYLES:
        rows = [i for i, e in enumerate(examples) if e.style == style]
        if rows:
            style_accuracy[style] = round(sum(truth[i] == predicted[i] for i in rows) / len(rows), 4)
    topic_rows = [i for i, e in enumerate(examples) if e.intent == "ask_where" and e.topic]
    recognised = [i for i in topic_rows if predictions[i].intent == "ask_where"]
    topic_hits = sum(predictions[i].topic == examples[i].topic for i in recognised)
    emergency_rows = [i for i, e in enumerate(examples) if e.intent == "emergency"]
    errors = [
        (e.text, _label(e.intent, e.topic), _label(p.intent, p.topic))
        for e, p in zip(examples, predictions, strict=True)
        if e.intent != p.intent or (e.topic and e.topic != p.topic)
    ]
    hard_negatives = [e for e in examples if e.safety == "hard_negative"]
    n = len(examples)
    return EvalReport(
        examples=n,
        accuracy=round(sum(t == p for t, p in zip(truth, predicted, strict=True)) / n, 4) if n else 0.0,
        macro_f1=round(float(sum(s.f1 for s in per_intent.values()) / len(per_intent)), 4) if per_intent else 0.0,
        per_intent=per_intent,
        labels=labels,
        confusion=confusion_matrix(truth, predicted, labels=labels).tolist() if n else [],
        style_accuracy=style_accuracy,
        topic_accuracy=round(topic_hits / len(recognised), 4) if recognised else 0.0,
        topic_accuracy_end_to_end=round(topic_hits / len(topic_rows), 4) if topic_rows else 0.0,
        topic_examples=len(topic_rows),
        emergency_recall=(
            round(sum(predictions[i].intent == "emergency" for i in emergency_rows) / len(emergency_rows), 4)
            if emergency_rows
            else 0.0
        ),
        emergency_examples=len(emergency_rows),
        confident_share=round(sum(p.is_confident for p in predictions) / n, 4) if n else 0.0,
        errors=errors,
        by_language=_groups(examples, predictions, "language", ("ja", "en")),
        by_style=_groups(examples, predictions, "style", ALL_STYLES),
        overall=_group_score(list(zip(examples, predictions, strict=True))),
        hard_negative_false_alarm_rate=_share(
            sum(is_alarm(p) for e, p in zip(examples, predictions, strict=True) if e.safety == "hard_negative"),
            len(hard_negatives),
        ),
        hard_negative_examples=len(hard_negatives),
    )


def evaluate(classifier: IntentClassifier, examples: Sequence[Example]) -> EvalReport:
    """Classify labelled examples and score the result.

    Args:
        classifier: any backend.
        examples: usually ``load_split("eval")`` or ``load_split("blind")``.

    Returns:
        The report.
    """
    predictions = classifier.classify_many([e.text for e in examples])
    return score_predictions(examples, predictions)
