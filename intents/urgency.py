"""The safety model's urgency head: training, calibration and its operating point (arrays in, head out).

The head is a binary logistic regression over the same features as the intent head
(:mod:`intents.model` builds them once per fold and hands the matrices here). A
*positive* is an example whose intent is ``emergency`` or whose safety mark is
``crisis``; everything else is negative, and the ``hard_negative`` examples
(sound dangerous, are not) may be weighted up.

The operating point is chosen on OUT-OF-FOLD probabilities of the train split, for
what the safety lexicon leaves to the model (it answers its own signs first: a
message it catches is never asked about):

* ``ask`` (the bot asks whether a life is in danger now): the largest threshold
  keeping recall 1.00 of the positives the lexicon misses — unless more than
  :data:`MAX_QUESTION_RATE` of the ordinary examples the lexicon leaves alone (neither
  positive nor hard negative) would then be asked, in which case the threshold at which
  exactly that share is asked (recall below 1.00 on the training data, reported). A
  question on every other message would teach residents to answer "no" without reading
  it; half of the ordinary messages were over a recall-1.00 threshold when this was
  measured. Hard negatives are left out of that share: they sound dangerous by design,
  asking about them is what the question is for; counted in (a fifth of the training
  data), they moved the threshold up when 94 more were written (2026-12-01: out-of-fold
  ask 0.315 → 0.344, and the evaluation split's emergencies and crises caught 0.980 →
  0.965; left out, ask 0.308);
* ``alarm`` (119/110 guidance without asking): the smallest threshold at which at
  most :data:`MAX_HARD_NEGATIVE_ALARMS` of the hard negatives cross it, and never
  below ``ask``. Without hard negatives every non-positive example stands in
  for them;
* ``veto`` (a lexicon sign asked about rather than answered at once): the lowest
  probability of any positive the lexicon catches, so no such training example
  loses its immediate guidance; what falls below it is a word out of its
  situation (「火事のドラマ」), and gets the safety question;
* a veto per lexicon group (``group_vetoes``), the same rule among the positives that
  group itself caught, where it caught at least :data:`MIN_GROUP_POSITIVES`; never above
  ``ask`` (a sign the model would ask about on its own is answered at once). One
  overall minimum made every sign hostage to the hardest positive of any: a chemical
  leak with two workers fainted, scored 0.001, let 「救急車に乗るとき保険証はいりますか」
  through as a 119 (measured 2026-12-01, 6 % of the lexicon's hard negatives vetoed
  instead of 19 %).

Nothing here reads files or texts, so it is tested on synthetic scores.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from intents.classification import UrgencyThresholds

__all__ = [
    "MAX_HARD_NEGATIVE_ALARMS",
    "MAX_QUESTION_RATE",
    "MIN_GROUP_POSITIVES",
    "URGENCY_GRID",
    "OperatingPoint",
    "UrgencyConfig",
    "UrgencySelection",
    "choose_thresholds",
    "fit_urgency",
    "fold_scores",
    "select_config",
    "sigmoid",
    "urgency_targets",
]

MAX_QUESTION_RATE = 0.075
"""At most this share of the ordinary examples the lexicon leaves alone is asked. Raised from
0.05 on 2026-12-01, when a blind batch nobody had steered by showed one urgent message in
twelve going neither to 119/110 nor to the question: issue 12 puts recall first. Real traffic
sees fewer questions: a place, a time or a menu answer inside a form is never asked about.
10 % was tried on 2026-12-01 (night) and taken back: a batch written before it caught nothing
more, and 「隣の家の新聞がたまってる」, a worry report's commonest opening, was asked first."""
MAX_HARD_NEGATIVE_ALARMS = 0.02
"""At most this share of hard negatives may get 119/110 guidance without a question."""
MIN_GROUP_POSITIVES = 5
"""A lexicon group learns its own veto from at least this many positives it caught."""

_TEMPERATURES = np.exp(np.linspace(np.log(0.2), np.log(5.0), 61))


@dataclass(frozen=True, order=True)
class UrgencyConfig:
    """One grid point: regularisation and the weight of hard negatives in the loss."""

    c: float
    hard_negative_weight: float


# Hard negatives are a few percent of the data: weighting them up is what lets the
# head separate "fell yesterday, fine now" from "fell and cannot get up".
URGENCY_GRID: tuple[UrgencyConfig, ...] = (UrgencyConfig(30.0, 1.0), UrgencyConfig(30.0, 3.0))


@dataclass(frozen=True)
class OperatingPoint:
    """Thresholds and what they give on the out-of-fold probabilities.

    Attributes:
        ask: see the module docstring.
        alarm: see the module docstring.
        ask_recall: share of positives caught by the lexicon or at or above ``ask``.
        question_rate: share of the ordinary examples (neither positive nor hard
            negative) the lexicon leaves alone at or above ``ask`` (asked the safety question).
        alarm_recall: share of positives at or above ``alarm``.
        alarm_rate: share of non-positive examples at or above ``alarm``.
        hard_negative_alarm_rate: share of hard negatives at or above ``alarm``
            (None without hard negatives).
        positives: number of positives.
        negatives: number of non-positive examples.
        hard_negatives: number of hard negatives.
        vetoed_hard_negatives: share of the hard negatives the lexicon alarms on that
            the veto turns into a question (None: none alarmed).
        group_vetoes: (lexicon group, veto) pairs learned per group.
    """

    ask: float
    alarm: float
    veto: float
    ask_recall: float
    question_rate: float
    alarm_recall: float
    alarm_rate: float
    hard_negative_alarm_rate: float | None
    positives: int
    negatives: int
    hard_negatives: int
    vetoed_hard_negatives: float | None = None
    group_vetoes: tuple[tuple[str, float], ...] = ()

    @property
    def thresholds(self) -> UrgencyThresholds:
        """The thresholds :func:`intents.classification.compose` takes."""
        return UrgencyThresholds(ask=self.ask, alarm=self.alarm, veto=self.veto, group_vetoes=self.group_vetoes)

    def figures(self) -> dict[str, Any]:
        """Rounded, JSON-ready figures for the report and the saved model's metadata."""
        figures = {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()
                   if k != "group_vetoes"}
        return {**figures, "group_vetoes": len(self.group_vetoes)}


@dataclass(frozen=True)
class UrgencySelection:
    """The chosen configuration, its calibration and its operating point on out-of-fold scores."""

    config: UrgencyConfig
    temperature: float
    point: OperatingPoint
    oof: np.ndarray  # calibrated out-of-fold probabilities


def urgency_targets(
    intents: Sequence[str], safety_marks: Sequence[str | None]
) -> tuple[np.ndarray, np.ndarray]:
    """Positives (emergency or crisis) and hard negatives, as boolean arrays."""
    marks = np.array([m or "" for m in safety_marks])
    positive = (np.array(intents) == "emergency") | (marks == "crisis")
    return positive, (marks == "hard_negative") & ~positive


def sigmoid(scores: np.ndarray) -> np.ndarray:
    """Numerically safe logistic function."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(scores, dtype=np.float64)))


def _share(mask: np.ndarray) -> float:
    return float(mask.mean()) if mask.size else 0.0


def _largest_keeping(positive_scores: np.ndarray, recall: float) -> float:
    """The largest threshold with at least ``recall`` of the positives at or above it."""
    ranked = np.sort(positive_scores)[::-1]
    # 1e-9 absorbs float noise in recall * n (0.99 * 100 is 98.99999...).
    needed = max(1, math.ceil(recall * len(ranked) - 1e-9))
    return float(ranked[needed - 1])


def choose_thresholds(
    probabilities: np.ndarray, positive: np.ndarray, hard_negative: np.ndarray,
    caught: np.ndarray | None = None, groups: Sequence[str] | None = None,
) -> OperatingPoint:
    """Choose ``ask``, ``alarm`` and the vetoes on out-of-fold probabilities (rules in the module docstring).

    Args:
        probabilities: calibrated out-of-fold urgency probabilities.
        positive: True for emergencies and crises.
        hard_negative: True for hard negatives (never positive).
        caught: True where the safety lexicon answers the message itself (None: where
            ``groups`` names a group, else nowhere).
        groups: the lexicon group that caught each row ("" where none; None: no group vetoes).

    Returns:
        The operating point and its figures.

    Raises:
        ValueError: no positive example.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    hard_negative = np.asarray(hard_negative, dtype=bool) & ~positive
    if not positive.any():
        raise ValueError("the urgency head needs positive examples (emergency or crisis)")
    negative = ~positive
    if caught is None and groups is not None:
        caught = np.array([bool(group) for group in groups])
    left = ~np.asarray(caught, dtype=bool) if caught is not None else np.ones_like(positive)
    missed = p[positive & left]
    ask = _largest_keeping(missed, 1.0) if missed.size else 1.0
    # Ordinary messages only: hard negatives sound dangerous by design, and asking about them
    # is the question doing its work; counted in, they used up the cap on the safety data alone.
    asked_ordinary = p[negative & left & ~hard_negative]
    if _share(asked_ordinary >= ask) > MAX_QUESTION_RATE:
        allowed = math.floor(MAX_QUESTION_RATE * len(asked_ordinary) + 1e-9)
        ask = float(np.nextafter(np.sort(asked_ordinary)[::-1][allowed], np.inf))
    reference = p[hard_negative] if hard_negative.any() else p[negative]
    allowed = math.floor(MAX_HARD_NEGATIVE_ALARMS * len(reference) + 1e-9)
    if allowed >= len(reference):
        alarm = 0.0
    else:
        # Just above the (allowed+1)-th highest: exactly `allowed` (or fewer, on ties) cross it.
        alarm = float(np.nextafter(np.sort(reference)[::-1][allowed], np.inf))
    alarm = max(alarm, ask)
    caught_mask = ~left
    caught_positives = p[positive & caught_mask]
    veto = float(caught_positives.min()) if caught_positives.size else 0.0
    group_vetoes = _group_vetoes(p, positive & caught_mask, groups, cap=ask) if groups is not None else ()
    by_group = dict(group_vetoes)
    row_veto = (np.array([by_group.get(group, veto) for group in groups]) if groups is not None
                else np.full(len(p), veto))
    lexicon_false = hard_negative & caught_mask
    return OperatingPoint(
        ask=ask,
        alarm=alarm,
        veto=veto,
        ask_recall=_share((p[positive] >= ask) | ~left[positive]),
        question_rate=_share(asked_ordinary >= ask),
        alarm_recall=_share(p[positive] >= alarm),
        alarm_rate=_share(p[negative] >= alarm),
        hard_negative_alarm_rate=_share(p[hard_negative] >= alarm) if hard_negative.any() else None,
        positives=int(positive.sum()),
        negatives=int(negative.sum()),
        hard_negatives=int(hard_negative.sum()),
        vetoed_hard_negatives=_share(p[lexicon_false] < row_veto[lexicon_false]) if lexicon_false.any() else None,
        group_vetoes=group_vetoes,
    )


def _group_vetoes(p: np.ndarray, caught_positive: np.ndarray, groups: Sequence[str],
                  cap: float) -> tuple[tuple[str, float], ...]:
    """Each lexicon group's veto: the lowest probability among the positives it caught (enough of them), capped."""
    names = np.array(groups, dtype=object)
    vetoes = []
    for group in sorted({str(name) for name in names[caught_positive]} - {""}):
        scores = p[caught_positive & (names == group)]
        if scores.size >= MIN_GROUP_POSITIVES:
            vetoes.append((group, round(float(min(scores.min(), cap)), 6)))
    return tuple(vetoes)


def _sample_weights(positive: np.ndarray, hard_negative: np.ndarray, hard_negative_weight: float) -> np.ndarray:
    # Balanced classes (positives are ~5% of the data), then hard negatives weighted up.
    n = len(positive)
    n_positive = max(1, int(positive.sum()))
    weights = np.where(positive, n / (2 * n_positive), n / (2 * max(1, n - n_positive)))
    return weights * np.where(hard_negative, hard_negative_weight, 1.0)


def _new_lr(c: float) -> Any:
    # scikit-learn loads only for training: a worker that just classifies never imports it.
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=5000)


def fold_scores(
    train_x: Any,
    positive: np.ndarray,
    hard_negative: np.ndarray,
    test_x: Any,
    grid: Sequence[UrgencyConfig] = URGENCY_GRID,
) -> dict[UrgencyConfig, np.ndarray]:
    """Decision scores on one fold's held-out rows for every grid point.

    Args:
        train_x: the fold's training feature matrix (sparse or dense).
        positive: targets of the training rows.
        hard_negative: hard-negative marks of the training rows.
        test_x: the held-out feature matrix.
        grid: configurations to fit.

    Returns:
        Config → decision scores of the held-out rows.
    """
    scores: dict[UrgencyConfig, np.ndarray] = {}
    for config in grid:
        model = _new_lr(config.c).fit(
            train_x, positive, sample_weight=_sample_weights(positive, hard_negative, config.hard_negative_weight)
        )
        scores[config] = model.decision_function(test_x)
    return scores


def _fit_temperature(scores: np.ndarray, positive: np.ndarray) -> float:
    best, best_nll = 1.0, np.inf
    for temperature in _TEMPERATURES:
        p = np.clip(sigmoid(scores / temperature), 1e-12, 1 - 1e-12)
        nll = float(-np.mean(np.where(positive, np.log(p), np.log(1 - p))))
        if nll < best_nll:
            best, best_nll = float(temperature), nll
    return best


def select_config(
    oof_scores: Mapping[UrgencyConfig, np.ndarray], positive: np.ndarray, hard_negative: np.ndarray,
    caught: np.ndarray | None = None, groups: Sequence[str] | None = None,
) -> UrgencySelection:
    """Pick the grid point whose calibrated out-of-fold probabilities give the best operating point.

    Best: the highest recall at ``ask``, then the most positives alarmed without a
    question minus the share of non-positive examples asked, then the smaller C and
    the smaller hard-negative weight (the simpler model on ties).

    Args:
        oof_scores: config → out-of-fold decision scores of every training row.
        positive: targets.
        hard_negative: hard-negative marks.
        caught: where the safety lexicon answers the message itself.
        groups: the lexicon group that caught each row ("" where none).

    Returns:
        The selection, with its temperature and operating point.
    """
    ranked = []
    for config, scores in oof_scores.items():
        temperature = _fit_temperature(scores, positive)
        probabilities = sigmoid(scores / temperature)
        point = choose_thresholds(probabilities, positive, hard_negative, caught, groups)
        key = (point.ask_recall, round(point.alarm_recall - point.question_rate, 6), -config.c,
               -config.hard_negative_weight)
        ranked.append((key, UrgencySelection(config, temperature, point, probabilities)))
    return max(ranked, key=lambda pair: pair[0])[1]


def fit_urgency(x: Any, positive: np.ndarray, hard_negative: np.ndarray, config: UrgencyConfig) -> tuple[np.ndarray, float]:
    """Fit the final head on all training rows.

    Returns:
        The coefficient vector (one per feature) and the intercept.
    """
    model = _new_lr(config.c).fit(
        x, positive, sample_weight=_sample_weights(positive, hard_negative, config.hard_negative_weight)
    )
    return np.asarray(model.coef_[0], dtype=np.float64), float(model.intercept_[0])
