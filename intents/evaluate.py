"""Scores of a classifier on labelled examples (the evaluation split).

Used by ``tsunagu eval``, the threshold test and the baseline benchmark. The
evaluation split is only ever scored here, never used to fit or tune.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from bot.taxonomy import INTENTS
from intents.classification import Classification, IntentClassifier
from intents.data import STYLES, Example

__all__ = ["EvalReport", "IntentScore", "evaluate", "score_predictions"]


@dataclass(frozen=True)
class IntentScore:
    """Precision, recall and F1 of one intent."""

    precision: float
    recall: float
    f1: float
    support: int


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
    for style in STYLES:
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
    )


def evaluate(classifier: IntentClassifier, examples: Sequence[Example]) -> EvalReport:
    """Classify labelled examples and score the result.

    Args:
        classifier: any backend.
        examples: usually ``load_split("eval")``.

    Returns:
        The report.
    """
    predictions = classifier.classify_many([e.text for e in examples])
    return score_predictions(examples, predictions)
