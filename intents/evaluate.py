"""Scores of a classifier on labelled examples (the evaluation and blind splits), and its calibration.

Used by ``tsunagu eval``, the threshold test and the baseline benchmark. The
evaluation and blind splits are only ever scored here, never used to fit or tune.

What a message gets, as the engine decides it (``bot.engine``, ``_safety_first``),
is its *safety answer* (:func:`safety_answer`):

1. a safety-lexicon signal decides first: an ``emergency`` or ``crisis`` signal is an
   **alarm** (119/110 or the crisis lines before anything else) — unless the safety
   model rates it below its veto (``Classification.safety_doubted``: a danger word out of
   its situation), then it is the **safety question**; a ``welfare`` signal
   (ask the police to check on a neighbour) is the designed answer to a worry report,
   neither an alarm nor the question;
2. otherwise the safety model's band: ``"alarm"`` is an **alarm**; ``"ask"`` is the
   **safety question** 「今、命に関わる状況ですか？」 (a yes gives the guidance). The
   question comes before any flow, so an ``emergency`` intent in the ask band is asked;
3. otherwise an ``emergency`` intent (the model's, without a band) is an **alarm**.

An *urgent* message is one labelled ``emergency`` or marked ``safety: crisis``. It is
**caught** when it gets an alarm or the safety question; *caught recall* is the share
of urgent messages caught (the target, 1.00) and *alarm-only recall* the share given
an alarm without asking. On the other messages, the *false-alarm rate* is the share
given an alarm; the *safety-question rate* is reported over all messages and over the
non-urgent ones; the *hard-negative false-alarm rate* is the false-alarm rate on the
messages marked ``safety: hard_negative`` (sound dangerous, are not).

Calibration: :func:`reliability` bins a confidence (the intent's, or the urgency
probability) and compares each bin's mean confidence with how often it was right;
ECE is the count-weighted mean gap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from bot.taxonomy import INTENTS
from intents.classification import Classification, IntentClassifier
from intents.data import ALL_STYLES, Example

__all__ = [
    "ALARM_SIGNALS",
    "BASE_LANGUAGES",
    "CALIBRATION_BINS",
    "TARGET_BASE_MACRO_F1",
    "TARGET_CAUGHT_RECALL",
    "TARGET_NEW_LANGUAGE_MACRO_F1",
    "Bin",
    "EvalReport",
    "GroupScore",
    "IntentScore",
    "Reliability",
    "SafetyAnswer",
    "evaluate",
    "figures",
    "is_alarm",
    "language_name",
    "macro_f1_target",
    "reliability",
    "safety_answer",
    "score_predictions",
]

ALARM_SIGNALS = frozenset({"emergency", "crisis"})

# Issue 12's bar on the blind split, checked per language.
BASE_LANGUAGES = ("ja", "en")
TARGET_BASE_MACRO_F1 = 0.95
TARGET_NEW_LANGUAGE_MACRO_F1 = 0.90
TARGET_CAUGHT_RECALL = 1.0

CALIBRATION_BINS = 10

# One name per language in the tables: the training files say zh, the blind split zh-hans.
_LANGUAGE_NAMES = {"zh-hans": "zh", "zh-cn": "zh"}

SafetyAnswer = Literal["alarm", "question"]


@dataclass(frozen=True)
class IntentScore:
    """Precision, recall and F1 of one intent."""

    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class GroupScore:
    """The understanding and safety figures of one group (a language, a style, a file set, all).

    Attributes:
        examples: messages in the group.
        accuracy: intent accuracy.
        macro_f1: intent macro-F1 over the intents present in the group.
        topic_accuracy: among the group's ask_where messages recognised as
            ask_where, share with the right topic (0.0 when there are none).
        topic_examples: ask_where messages in the group.
        alarm_examples: urgent messages (emergency or crisis) in the group.
        caught_recall: share of them given an alarm or the safety question.
        alarm_recall: share of them given an alarm without asking.
        false_alarm_examples: the other (non-urgent) messages in the group.
        false_alarm_rate: share of the non-urgent messages given an alarm.
        question_rate: share of ALL the group's messages given the safety question.
        question_rate_non_urgent: share of the non-urgent messages given it.
        hard_negative_examples: messages marked ``hard_negative`` in the group.
        hard_negative_false_alarm_rate: share of them given an alarm.
        hard_negative_question_rate: share of them given the safety question.
    """

    examples: int
    accuracy: float
    macro_f1: float
    topic_accuracy: float
    topic_examples: int
    alarm_examples: int
    caught_recall: float
    alarm_recall: float
    false_alarm_examples: int
    false_alarm_rate: float
    question_rate: float
    question_rate_non_urgent: float
    hard_negative_examples: int
    hard_negative_false_alarm_rate: float
    hard_negative_question_rate: float


@dataclass(frozen=True)
class Bin:
    """One confidence bin of a reliability diagram.

    Attributes:
        low: lower edge (inclusive).
        high: upper edge (exclusive, but 1.0 belongs to the last bin).
        count: predictions in the bin.
        confidence: their mean confidence (0.0 when empty).
        accuracy: share of them that were right (0.0 when empty).
    """

    low: float
    high: float
    count: int
    confidence: float
    accuracy: float


@dataclass(frozen=True)
class Reliability:
    """A reliability diagram's data: equal-width bins over [0, 1] and the expected calibration error.

    Attributes:
        bins: the bins, lowest first.
        ece: sum over bins of (count / total) * |accuracy - confidence|.
        count: predictions binned.
    """

    bins: tuple[Bin, ...]
    ece: float
    count: int


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
        emergency_recall: share of emergency examples answered with the emergency intent.
        emergency_examples: number of emergency examples.
        confident_share: share of predictions the flow would act on without asking.
        errors: (text, expected, predicted) for every intent or topic miss.
        by_language: figures per message language (one name per language, see
            :func:`language_name`).
        by_style: figures per style.
        by_set: figures per kind of data file: ``intents``, ``topics``, ``safety``.
        overall: the same figures over every message.
        hard_negative_false_alarm_rate: share of the messages marked
            ``hard_negative`` (sound dangerous, are not) given an alarm.
        hard_negative_examples: number of those messages.
        intent_calibration: reliability of the intent confidence (right intent or not).
        urgency_calibration: reliability of the urgency probability (urgent or not), over
            the messages that have one; None when the classifier has no safety model.
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
    by_set: dict[str, GroupScore] = field(default_factory=dict)
    overall: GroupScore | None = None
    hard_negative_false_alarm_rate: float = 0.0
    hard_negative_examples: int = 0
    intent_calibration: Reliability | None = None
    urgency_calibration: Reliability | None = None


def language_name(language: str) -> str:
    """The one name a language has in the tables (``zh-hans`` → ``zh``)."""
    return _LANGUAGE_NAMES.get(language, language)


def macro_f1_target(language: str) -> float:
    """Issue 12's intent macro-F1 target for a language: 0.95 for ja and en, 0.90 for the others."""
    return TARGET_BASE_MACRO_F1 if language_name(language) in BASE_LANGUAGES else TARGET_NEW_LANGUAGE_MACRO_F1


def safety_answer(prediction: Classification) -> SafetyAnswer | None:
    """What the engine answers first: an alarm, the safety question, or neither (module docstring)."""
    if prediction.safety is not None:
        if prediction.safety.kind not in ALARM_SIGNALS:
            return None
        # A sign the safety model doubts is asked about (bot.engine), not answered at once.
        return "question" if prediction.safety_doubted else "alarm"
    if prediction.urgency_band is not None:
        return "alarm" if prediction.urgency_band == "alarm" else "question"
    return "alarm" if prediction.intent == "emergency" else None


def is_alarm(prediction: Classification) -> bool:
    """True when the answer puts 119/110 or a crisis line first, without asking."""
    return safety_answer(prediction) == "alarm"


def _is_question(prediction: Classification) -> bool:
    return safety_answer(prediction) == "question"


def _is_caught(prediction: Classification) -> bool:
    return safety_answer(prediction) is not None


def _is_urgent(example: Example) -> bool:
    return example.intent == "emergency" or example.safety == "crisis"


def _share(hits: int, total: int) -> float:
    return round(hits / total, 4) if total else 0.0


def _rate(predictions: Sequence[Classification], test: Callable[[Classification], bool]) -> float:
    return _share(sum(map(test, predictions)), len(predictions))


def _macro_f1(truth: Sequence[str], predicted: Sequence[str]) -> float:
    present = [i for i in INTENTS if i in set(truth)]
    if not present:
        return 0.0
    _, _, f1, _ = precision_recall_fscore_support(truth, predicted, labels=present, zero_division=0)
    return round(float(sum(f1) / len(present)), 4)


def _group_score(rows: Sequence[tuple[Example, Classification]]) -> GroupScore:
    topic_rows = [(e, p) for e, p in rows if e.intent == "ask_where" and e.topic]
    recognised = [(e, p) for e, p in topic_rows if p.intent == "ask_where"]
    urgent = [p for e, p in rows if _is_urgent(e)]
    other = [p for e, p in rows if not _is_urgent(e)]
    hard = [p for e, p in rows if e.safety == "hard_negative"]
    predictions = [p for _, p in rows]
    return GroupScore(
        examples=len(rows),
        accuracy=_share(sum(e.intent == p.intent for e, p in rows), len(rows)),
        macro_f1=_macro_f1([e.intent for e, _ in rows], [p.intent for _, p in rows]),
        topic_accuracy=_share(sum(p.topic == e.topic for e, p in recognised), len(recognised)),
        topic_examples=len(topic_rows),
        alarm_examples=len(urgent),
        caught_recall=_rate(urgent, _is_caught),
        alarm_recall=_rate(urgent, is_alarm),
        false_alarm_examples=len(other),
        false_alarm_rate=_rate(other, is_alarm),
        question_rate=_rate(predictions, _is_question),
        question_rate_non_urgent=_rate(other, _is_question),
        hard_negative_examples=len(hard),
        hard_negative_false_alarm_rate=_rate(hard, is_alarm),
        hard_negative_question_rate=_rate(hard, _is_question),
    )


def _file_set(example: Example) -> str:
    # intents_*.yml, topics_*.yml, safety_*.yml (intents.data names every file so).
    return example.source.partition("_")[0]


def _groups(
    rows: Sequence[tuple[Example, Classification]], key: Callable[[Example], str], order: Sequence[str]
) -> dict[str, GroupScore]:
    """Scores per value of ``key``, known values first in ``order``, the others sorted."""
    grouped: dict[str, list[tuple[Example, Classification]]] = {}
    for example, prediction in rows:
        grouped.setdefault(key(example), []).append((example, prediction))
    ordered = [v for v in order if v in grouped] + sorted(set(grouped) - set(order))
    return {value: _group_score(grouped[value]) for value in ordered}


def reliability(confidences: Sequence[float], outcomes: Sequence[bool], bins: int = CALIBRATION_BINS) -> Reliability:
    """Bin confidences into equal-width bins over [0, 1] and measure the calibration error.

    Args:
        confidences: predicted probabilities, each in [0, 1].
        outcomes: whether each prediction came true (right intent; an urgent message).
        bins: number of bins.

    Returns:
        The bins (empty ones included, so diagrams line up) and the ECE.
    """
    if len(confidences) != len(outcomes):
        raise ValueError("one outcome per confidence")
    members: list[list[tuple[float, bool]]] = [[] for _ in range(bins)]
    for confidence, outcome in zip(confidences, outcomes, strict=True):
        # 1.0 (a lexicon decision) belongs to the last bin, not to a bin of its own.
        members[min(int(confidence * bins), bins - 1)].append((confidence, outcome))
    total = len(confidences)
    result, ece = [], 0.0
    for index, content in enumerate(members):
        count = len(content)
        mean_confidence = sum(c for c, _ in content) / count if count else 0.0
        accuracy = sum(o for _, o in content) / count if count else 0.0
        ece += count / total * abs(accuracy - mean_confidence) if total else 0.0
        result.append(Bin(round(index / bins, 4), round((index + 1) / bins, 4), count,
                          round(mean_confidence, 4), round(accuracy, 4)))
    return Reliability(tuple(result), round(ece, 4), total)


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
    rows = list(zip(examples, predictions, strict=True))
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
        indices = [i for i, e in enumerate(examples) if e.style == style]
        if indices:
            style_accuracy[style] = round(sum(truth[i] == predicted[i] for i in indices) / len(indices), 4)
    topic_rows = [i for i, e in enumerate(examples) if e.intent == "ask_where" and e.topic]
    recognised = [i for i in topic_rows if predictions[i].intent == "ask_where"]
    topic_hits = sum(predictions[i].topic == examples[i].topic for i in recognised)
    emergency_rows = [i for i, e in enumerate(examples) if e.intent == "emergency"]
    errors = [
        (e.text, _label(e.intent, e.topic), _label(p.intent, p.topic))
        for e, p in rows
        if e.intent != p.intent or (e.topic and e.topic != p.topic)
    ]
    overall = _group_score(rows)
    # Messages the model never saw (nothing left after normalisation) carry no urgency.
    urgencies = [(p.urgency, _is_urgent(e)) for e, p in rows if p.urgency is not None]
    n = len(examples)
    return EvalReport(
        examples=n,
        accuracy=overall.accuracy,
        macro_f1=round(float(sum(s.f1 for s in per_intent.values()) / len(per_intent)), 4) if per_intent else 0.0,
        per_intent=per_intent,
        labels=labels,
        confusion=confusion_matrix(truth, predicted, labels=labels).tolist() if n else [],
        style_accuracy=style_accuracy,
        topic_accuracy=_share(topic_hits, len(recognised)),
        topic_accuracy_end_to_end=_share(topic_hits, len(topic_rows)),
        topic_examples=len(topic_rows),
        emergency_recall=_share(sum(predictions[i].intent == "emergency" for i in emergency_rows), len(emergency_rows)),
        emergency_examples=len(emergency_rows),
        confident_share=_rate(predictions, lambda p: p.is_confident),
        errors=errors,
        by_language=_groups(rows, lambda e: language_name(e.language), BASE_LANGUAGES),
        by_style=_groups(rows, lambda e: e.style, ALL_STYLES),
        by_set=_groups(rows, _file_set, ("intents", "topics", "safety")),
        overall=overall,
        hard_negative_false_alarm_rate=overall.hard_negative_false_alarm_rate,
        hard_negative_examples=overall.hard_negative_examples,
        intent_calibration=reliability([p.confidence for p in predictions], [e.intent == p.intent for e, p in rows]),
        urgency_calibration=(
            reliability([u for u, _ in urgencies], [urgent for _, urgent in urgencies]) if urgencies else None
        ),
    )


def figures(report: EvalReport) -> dict[str, Any]:
    """The report as plain JSON-able data, without any message text (``errors`` is left out),
    so the figures of the blind split can be quoted without showing its messages."""
    data = asdict(report)
    data.pop("errors")
    return data


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
