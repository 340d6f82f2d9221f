"""Training, calibration and persistence of the local heads: intent, topic and urgency.

All three heads are logistic regressions over ONE feature row per message
(:mod:`intents.features` plus a sentence embedding from :mod:`intents.backends`):
the message is analysed once, and the heads' coefficients sit side by side in one
weight matrix, so classifying is a gather of a few hundred rows plus one dense
product with the embedding.

* The intent head is trained on *fine* labels — every intent, with
  ``ask_where`` split into its ten topics — and an intent's probability is the
  sum over its fine labels. "Where do I ask?" messages about care, debt or
  abuse share little wording; one linear boundary around all of them fits
  worse than ten (macro-F1 +1.3 points in grouped cross-validation on the
  train split, repeated over four seeds).
* The topic head is trained on the ``ask_where`` examples only.
* The urgency head (:mod:`intents.urgency`) is binary: an emergency or a crisis
  against everything else; its thresholds are chosen for recall.

Hyperparameters are chosen by cross-validation on the TRAIN split only; the
evaluation split is never read here. The data holds the same message written
in several styles, so near-duplicates ("siblings": same label and very similar
embedding or kana reading) are kept in one fold — otherwise the scores reward
memorising translations. One set of folds serves all heads (each fold's feature
matrices are built once). Probabilities are calibrated by temperature scaling
fitted on the out-of-fold scores of the chosen configuration.

scikit-learn is imported only to train: loading a saved model reads plain
arrays and dictionaries.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bot.taxonomy import COMPLEX_TOPIC
from intents.backends import Encoder
from intents.classification import UrgencyThresholds, complex_topic
from intents.data import Example
from intents.features import Analysis, FeatureBuilder, LookupTables, TrainingRows, analyse, reading
from intents.logistic import fit_multinomial
from intents.normalize import normalize
from intents.safety import detect_safety
from intents.urgency import (
    URGENCY_GRID,
    fit_urgency,
    select_config,
    sigmoid,
    urgency_targets,
)
from intents.urgency import fold_scores as urgency_fold_scores

__all__ = [
    "MODEL_FILE",
    "MODEL_VERSION",
    "Head",
    "Prediction",
    "Progress",
    "TrainReport",
    "TrainedModel",
    "UrgencyHead",
    "fit_model",
    "load_model",
    "read_model_meta",
    "save_model",
]

logger = logging.getLogger(__name__)

MODEL_VERSION = "8"
# The name is kept so existing deployments and scripts find the file; its content is a
# plain pickle of arrays and dictionaries (no scikit-learn objects to rebuild).
MODEL_FILE = "classifier.joblib"
META_FILE = "classifier.json"

# Tiny grids: training must stay near a minute on two cores with ~6,500
# examples. A study with grouped CV repeated over four seeds on the train split
# (C 30-300, lookup weight 0.35-0.7) put every best setting inside C 100-300 and
# weight 0.5-0.7, and both heads then chose C 100 and weight 0.5; each further
# grid point costs a full set of fold fits, so the folds now serve calibration,
# the thresholds and the reported scores. Widen these on a bigger machine.
_C_GRID = (100.0,)
_LOOKUP_WEIGHT_GRID = (0.5,)
_COMPLEX_GRID = (0.2, 0.25, 0.3, 0.35, 0.4)
_TEMPERATURES = np.exp(np.linspace(np.log(0.2), np.log(5.0), 61))
# Three folds, not five: on two quiet cores 77 s instead of 111 s of fitting on 6,500
# examples, with out-of-fold scores and thresholds within a point (measured 2026-11-30).
_FOLDS = 3
# The intent head leaves out n-grams of fewer than three training messages: ~75% of the
# vocabulary but 15% of the values, whose weights mostly memorised their messages. Its fits
# then have four times fewer coefficients (L-BFGS's own cost is per coefficient) and took
# half the time, and its out-of-fold macro-F1 went 0.842 → 0.854 (two messages: 0.850;
# five: 0.852). The topic head leaves out n-grams of one message only: its fits took half
# the time (training on 10,244 examples 64.7 → 58.3 s) with the same topic accuracy on the
# evaluation split (0.942) and out of fold (0.832 → 0.834), measured 2026-12-01.
_MIN_DOCUMENTS = {"intent": 3, "topic": 2}
_SEED = 0
_JOBS = min(2, os.cpu_count() or 1)
# Sibling thresholds: same-label pairs above these similarities are the same
# message in another style (measured on the train split: different-label
# pairs rarely exceed 0.7 embedding / 0.4 reading similarity).
_SIBLING_EMBEDDING = 0.75
_SIBLING_READING = 0.5

Progress = Callable[[str, float], None]
"""Called with a stage description and the fraction of training done (0..1)."""


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def _collapse_matrix(fine: Sequence[str], output_of: Mapping[str, str], labels: Sequence[str]) -> np.ndarray:
    """Fine label → reported label as a 0/1 matrix (probabilities @ it sums the fine labels)."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(fine), len(labels)), dtype=np.float64)
    for row, name in enumerate(fine):
        matrix[row, index[output_of.get(str(name), str(name))]] = 1.0
    return matrix


@dataclass
class Head:
    """One calibrated multinomial head: its columns of the model's shared scores.

    Attributes:
        classes: fine labels, in column order.
        start: first column of the head in the shared score matrix.
        temperature: calibration temperature for the decision scores.
        output_of: fine label → reported label (e.g. ``ask_where/dv`` →
            ``ask_where``); labels missing here are reported as themselves.
    """

    classes: list[str]
    start: int
    temperature: float
    output_of: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.labels: list[str] = sorted({self.output_of.get(c, c) for c in self.classes})
        self._collapse = _collapse_matrix(self.classes, self.output_of, self.labels)

    def probabilities(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of the reported labels (columns: :attr:`labels`) from shared scores."""
        block = scores[:, self.start : self.start + len(self.classes)].astype(np.float64)
        return _softmax(block / self.temperature) @ self._collapse


@dataclass
class UrgencyHead:
    """The calibrated binary safety head: one column of the shared scores and its operating point."""

    column: int
    temperature: float
    thresholds: UrgencyThresholds

    def probabilities(self, scores: np.ndarray) -> np.ndarray:
        """Probability of an emergency or a crisis, one per row."""
        return sigmoid(scores[:, self.column] / self.temperature)


@dataclass
class TrainReport:
    """What training did, for the CLI and the saved model's metadata.

    The cross-validation figures are out-of-fold scores on the train split
    (siblings kept together), the only honest estimate before ``tsunagu eval``.
    ``urgency`` holds the safety head's parameters, thresholds and their
    out-of-fold recall, question rate and alarm rates (:class:`intents.urgency.OperatingPoint`).
    """

    examples: int
    topic_examples: int
    seconds: float
    intent_cv_macro_f1: float
    topic_cv_accuracy: float
    intent_params: dict[str, float]
    topic_params: dict[str, float]
    complex_threshold: float
    data_hash: str
    path: str = ""
    styles: dict[str, int] = field(default_factory=dict)
    urgency: dict[str, Any] = field(default_factory=dict)
    stages: dict[str, float] = field(default_factory=dict)


@dataclass
class Prediction:
    """The heads' outputs for a batch: intent and topic probabilities (columns: the heads' labels), urgency."""

    intent: np.ndarray
    topic: np.ndarray
    urgency: np.ndarray


@dataclass
class TrainedModel:
    """Everything needed to classify, as saved to disk.

    Attributes:
        features: the shared feature builder.
        weights: (features, outputs) coefficients of every head, side by side.
        bias: (outputs,) intercepts.
        intent: the intent head's columns and calibration.
        topic: the topic head's.
        urgency: the urgency head's.
    """

    features: FeatureBuilder
    weights: np.ndarray
    bias: np.ndarray
    intent: Head
    topic: Head
    urgency: UrgencyHead
    complex_threshold: float
    data_hash: str
    encoder: str
    report: TrainReport

    def scores(self, texts: Sequence[str], embeddings: np.ndarray) -> np.ndarray:
        """Decision scores of every head's columns, one row per normalised text."""
        width = self.features.sparse_width
        out = np.asarray(embeddings, dtype=np.float32) @ self.weights[width:] + self.bias
        for row, text in enumerate(texts):
            columns, values = self.features.sparse_row(analyse(text, self.features.lookups))
            if len(columns):
                out[row] += values @ self.weights[columns]
        return out

    def predict(self, texts: Sequence[str], embeddings: np.ndarray) -> Prediction:
        """All three heads' calibrated outputs for normalised texts and their embeddings."""
        scores = self.scores(texts, embeddings)
        return Prediction(
            self.intent.probabilities(scores), self.topic.probabilities(scores), self.urgency.probabilities(scores)
        )


# --------------------------------------------------------------------------- training


def _sibling_groups(texts: Sequence[str], embeddings: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Union-find over same-label pairs that are the same message in another style."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    readings = TfidfVectorizer(analyzer="char", ngram_range=(2, 3)).fit_transform([reading(t) for t in texts])
    parent = list(range(len(texts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    # Only same-label pairs can be siblings: label by label keeps the matrices small
    # (the whole 6,500 x 6,500 similarity would take ~0.5 GB).
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        similar = embeddings[rows] @ embeddings[rows].T >= _SIBLING_EMBEDDING
        similar |= (readings[rows] @ readings[rows].T).toarray() >= _SIBLING_READING
        for i, j in zip(*np.nonzero(np.triu(similar, 1)), strict=True):
            parent[root(int(rows[i]))] = root(int(rows[j]))
    return np.array([root(i) for i in range(len(texts))])


def _fit_temperature(scores: np.ndarray, labels: np.ndarray, classes: np.ndarray) -> float:
    truth = np.searchsorted(classes, labels)
    best, best_nll = 1.0, np.inf
    for temperature in _TEMPERATURES:
        probabilities = _softmax(scores / temperature)
        nll = float(-np.mean(np.log(probabilities[np.arange(len(truth)), truth] + 1e-12)))
        if nll < best_nll:
            best, best_nll = float(temperature), nll
    return best


def _scale_lookups(x: Any, lookups: slice, weight: float) -> Any:
    from scipy import sparse

    scale = np.ones(x.shape[1], dtype=np.float32)
    scale[lookups] = weight
    return (x @ sparse.diags(scale)).tocsr()


def _kept_columns(x: Any, lookups: slice, min_documents: int) -> np.ndarray:
    """The columns a head fits on: every n-gram found in ``min_documents`` training rows or more,
    every lookup and embedding column."""
    kept = np.bincount(x.indices, minlength=x.shape[1]) >= min_documents
    kept[lookups.start :] = True
    return np.flatnonzero(kept)


def _multinomial_fold(
    x_train: Any, y_train: np.ndarray, x_test: Any, lookups: slice, classes: np.ndarray, min_documents: int = 1
) -> dict[tuple[float, float], np.ndarray]:
    """Held-out decision scores (columns: ``classes``) of every grid point for one head and fold."""
    scores: dict[tuple[float, float], np.ndarray] = {}
    kept = _kept_columns(x_train, lookups, min_documents)
    for weight in _LOOKUP_WEIGHT_GRID:
        train_x = _scale_lookups(x_train, lookups, weight)[:, kept]
        test_x = _scale_lookups(x_test, lookups, weight)[:, kept]
        fit = None
        # Increasing C, each fit starting from the last: it starts near its optimum.
        for c in sorted(_C_GRID):
            fit = fit_multinomial(train_x, y_train, c, _embedding_width(x_train, lookups), fit and fit.start())
            block = np.full((x_test.shape[0], len(classes)), -1e9)
            # A fold may miss a rare class; its columns are placed by name.
            block[:, np.searchsorted(classes, fit.classes)] = fit.decision(test_x)
            scores[(weight, c)] = block
    return scores


def _embedding_width(x: Any, lookups: slice) -> int:
    """The embedding block's width: the columns after the lookups (every row fills them)."""
    return int(x.shape[1] - lookups.stop)


@dataclass
class _Job:
    """One fit run in a worker process: a fold's fits for one head (held-out scores of every grid
    point), or a final fit on all rows for one grid point (``fold`` None)."""

    head: str
    fold: int | None
    x_train: Any
    y_train: np.ndarray
    lookups: slice  # where the lookup block sits in this job's rows
    x_test: Any = None
    extra: Any = None
    params: Any = None

    @property
    def rows(self) -> int:
        return int(self.x_train.shape[0])


def _run_job(job: _Job, classes: Mapping[str, np.ndarray]) -> tuple[str, int | None, Any, Any]:
    # Only what names the job travels back with its result, not its matrices.
    result = _final_fit(job) if job.fold is None else _fold_scores(job, classes)
    return job.head, job.fold, job.params, result


def _fold_scores(job: _Job, classes: Mapping[str, np.ndarray]) -> Any:
    if job.head == "urgency":
        return urgency_fold_scores(job.x_train, job.y_train, job.extra, job.x_test)
    return _multinomial_fold(
        job.x_train, job.y_train, job.x_test, job.lookups, classes[job.head], _MIN_DOCUMENTS[job.head]
    )


def _final_fit(job: _Job) -> Any:
    if job.head == "urgency":
        return fit_urgency(job.x_train, job.y_train, job.extra, job.params)
    c, lookup_weight = job.params
    kept = _kept_columns(job.x_train, job.lookups, _MIN_DOCUMENTS[job.head])
    x = _scale_lookups(job.x_train, job.lookups, lookup_weight)[:, kept]
    fit = fit_multinomial(x, job.y_train, c, _embedding_width(job.x_train, job.lookups))
    # The shared row has every column: the ones this head left out weigh nothing.
    coef = np.zeros((job.x_train.shape[1], fit.coef.shape[1]))
    coef[kept] = fit.coef
    # The lookup weight scaled the training columns; folded into the coefficients the
    # shared row keeps plain 0/1 hits.
    coef[job.lookups] *= lookup_weight
    return coef, fit.intercept, np.array([str(c) for c in fit.classes])


def _choose_complex_threshold(probabilities: np.ndarray, classes: list[str], labels: np.ndarray) -> float:
    from sklearn.metrics import accuracy_score

    best_threshold, best_accuracy = _COMPLEX_GRID[-1], -1.0
    # Highest threshold first so ties keep the most conservative rule.
    for threshold in sorted(_COMPLEX_GRID, reverse=True):
        predicted = []
        for row in probabilities:
            scores = dict(zip(classes, row, strict=True))
            predicted.append(COMPLEX_TOPIC if complex_topic(scores, threshold) else max(scores, key=scores.__getitem__))
        accuracy = accuracy_score(labels, predicted)
        if accuracy > best_accuracy + 1e-9:
            best_threshold, best_accuracy = threshold, accuracy
    return best_threshold


@dataclass
class _Choice:
    params: dict[str, float]
    score: float
    temperature: float
    oof: np.ndarray  # calibrated out-of-fold probabilities of the reported labels


def _choose(
    oof: Mapping[tuple[float, float], np.ndarray],
    fine: np.ndarray,
    classes: np.ndarray,
    output_of: Mapping[str, str],
    metric: Callable[[np.ndarray, np.ndarray], float],
) -> _Choice:
    """The grid point with the best out-of-fold metric (smaller C on ties), calibrated."""
    outputs = sorted({output_of.get(c, c) for c in classes})
    collapse = _collapse_matrix(classes, output_of, outputs)
    reported = np.array([output_of.get(c, c) for c in fine])
    scored = []
    for (weight, c), scores in oof.items():
        predicted = np.array(outputs)[(_softmax(scores) @ collapse).argmax(axis=1)]
        scored.append((metric(reported, predicted), -c, weight, c))
    score, _, weight, c = max(scored)
    temperature = _fit_temperature(oof[(weight, c)], fine, classes)
    probabilities = _softmax(oof[(weight, c)] / temperature) @ collapse
    return _Choice({"C": c, "lookup_weight": weight}, score, temperature, probabilities)


def _encode(texts: Sequence[str], encoder: Encoder, notify: Progress) -> np.ndarray:
    vectors = []
    for start in range(0, len(texts), 256):
        vectors.append(encoder.encode(texts[start : start + 256]))
        notify("encoding", 0.2 * min(1.0, (start + 256) / len(texts)))
    return np.vstack(vectors) if vectors else np.zeros((0, 512), dtype=np.float32)


def _lexicon_alarm_group(text: str) -> str:
    """The lexicon group that answers the message with an alarm itself ("" when none does)."""
    signal = detect_safety(text)
    return signal.group if signal is not None and signal.kind in ("emergency", "crisis") else ""


def fit_model(
    examples: Sequence[Example],
    encoder: Encoder,
    data_hash: str,
    progress: Progress | None = None,
) -> TrainedModel:
    """Train the intent, topic and urgency heads on training examples.

    Args:
        examples: the TRAIN split (never the evaluation split).
        encoder: the sentence encoder of the chosen backend.
        data_hash: fingerprint stored with the model (see :func:`intents.data.data_hash`).
        progress: optional callback for a progress bar.

    Returns:
        The trained, calibrated model.

    Raises:
        ValueError: no ask_where examples with topics, or no emergency/crisis example.
    """
    import joblib
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import StratifiedGroupKFold

    started = time.perf_counter()
    stages: dict[str, float] = {}

    def stage_done(name: str) -> None:
        stages[name] = round(time.perf_counter() - started - sum(stages.values()), 2)

    notify = progress or (lambda _stage, _fraction: None)
    texts = [normalize(e.text) for e in examples]
    notify("encoding", 0.0)
    embeddings = _encode(texts, encoder, notify)
    stage_done("encoding")

    notify("reading and n-grams", 0.2)
    lookups = LookupTables.from_yaml()
    analyses: list[Analysis] = [analyse(t, lookups) for t in texts]
    stage_done("analysis")

    topic_rows = np.array([i for i, e in enumerate(examples) if e.intent == "ask_where" and e.topic], dtype=np.int64)
    if len(topic_rows) == 0:
        raise ValueError("no ask_where/<topic> examples in the training data")
    fine = np.array([f"{e.intent}/{e.topic}" if e.intent == "ask_where" and e.topic else e.intent for e in examples])
    topic_of = np.array([e.topic or "" for e in examples])
    topics = topic_of[topic_rows]
    positive, hard_negative = urgency_targets([e.intent for e in examples], [e.safety for e in examples])
    if not positive.any():
        raise ValueError("no emergency or crisis examples in the training data (the urgency head needs them)")
    is_topic = np.zeros(len(examples), dtype=bool)
    is_topic[topic_rows] = True
    classes = {"intent": np.array(sorted(set(fine))), "topic": np.array(sorted(set(topics)))}

    notify("grouping siblings", 0.25)
    # The safety mark is part of the label: a crisis and its calm sibling are not one message.
    group_labels = np.array([f"{f}|{e.safety or ''}" for f, e in zip(fine, examples, strict=True)])
    groups = _sibling_groups(texts, embeddings, group_labels)
    folds = list(StratifiedGroupKFold(_FOLDS, shuffle=True, random_state=_SEED).split(texts, fine, groups))
    stage_done("siblings")

    jobs: list[_Job] = []
    training_rows = TrainingRows(analyses, lookups)
    for number, (train, test) in enumerate(folds):
        notify("fold features", 0.3 + 0.05 * number / len(folds))
        fold = training_rows.fold(train)
        # Each fold has its own vocabulary, so its lookup block sits elsewhere.
        columns = fold.builder.lookup_columns()
        x_train, x_test = fold.matrix(train, embeddings[train]), fold.matrix(test, embeddings[test])
        topic_train, topic_test = is_topic[train], is_topic[test]
        jobs.append(_Job("intent", number, x_train, fine[train], columns, x_test))
        jobs.append(_Job("topic", number, x_train[topic_train], topic_of[train][topic_train], columns,
                         x_test[topic_test]))
        jobs.append(_Job("urgency", number, x_train, positive[train], columns, x_test, hard_negative[train]))
    # The final fits need only the grid point the folds choose: every point's fit runs beside
    # the folds (one point for intent and topic, two for urgency), so both cores stay busy
    # to the end instead of waiting for the biggest fit alone.
    everything = np.arange(len(examples))
    final = training_rows.fold(everything)
    builder, x = final.builder, final.matrix(everything, embeddings)
    columns = builder.lookup_columns()
    grid = [(c, weight) for weight in _LOOKUP_WEIGHT_GRID for c in _C_GRID]
    jobs += [_Job("intent", None, x, fine, columns, params=point) for point in grid]
    jobs += [_Job("topic", None, x[topic_rows], topics, columns, params=point) for point in grid]
    jobs += [_Job("urgency", None, x, positive, columns, extra=hard_negative, params=config) for config in URGENCY_GRID]
    stage_done("fold features")

    # Biggest first (the intent head has the most classes, then the most rows).
    jobs.sort(key=lambda job: (("intent", "urgency", "topic").index(job.head), -job.rows))
    oof: dict[str, dict[Any, np.ndarray]] = {"intent": {}, "topic": {}, "urgency": {}}
    fits: dict[tuple[str, Any], Any] = {}
    done = 0
    parallel = joblib.Parallel(n_jobs=_JOBS, backend="loky", return_as="generator_unordered")
    # The lexicon reads every message (~4 s); beside the fits it fills the cores' idle moments
    # instead of running alone after them.
    with ThreadPoolExecutor(1) as side:
        alarm_groups = side.submit(lambda: [_lexicon_alarm_group(e.text) for e in examples])
        for head, fold, params, result in parallel(joblib.delayed(_run_job)(job, classes) for job in jobs):
            done += 1
            notify(f"fitting ({done}/{len(jobs)} fits)", 0.35 + 0.6 * done / len(jobs))
            if fold is None:
                fits[(head, params)] = result
                continue
            rows = folds[fold][1]
            if head == "topic":
                rows = rows[is_topic[rows]]
            for config, block in result.items():
                size = (len(texts),) if head == "urgency" else (len(texts), len(classes[head]))
                target = oof[head].setdefault(config, np.full(size, -1e9))
                target[rows] = block
    stage_done("fitting")

    intent = _choose(
        oof["intent"], fine, classes["intent"], {label: label.split("/")[0] for label in classes["intent"]},
        lambda y, p: float(f1_score(y, p, average="macro")),
    )
    topic_oof = {config: scores[topic_rows] for config, scores in oof["topic"].items()}
    topic = _choose(topic_oof, topics, classes["topic"], {}, lambda y, p: float(accuracy_score(y, p)))
    # What the lexicon answers itself is never asked about: the model covers the rest.
    urgency = select_config(oof["urgency"], positive, hard_negative, groups=alarm_groups.result())
    threshold = _choose_complex_threshold(topic.oof, list(classes["topic"]), topics)
    logger.info("urgency head: %s", urgency.point.figures())
    finals = {
        "intent": fits[("intent", (intent.params["C"], intent.params["lookup_weight"]))],
        "topic": fits[("topic", (topic.params["C"], topic.params["lookup_weight"]))],
        "urgency": fits[("urgency", urgency.config)],
    }
    intent_coef, intent_bias, intent_classes = finals["intent"]
    topic_coef, topic_bias, topic_classes_final = finals["topic"]
    urgency_coef, urgency_bias = finals["urgency"]
    weights = np.column_stack([intent_coef, topic_coef, urgency_coef]).astype(np.float32)
    bias = np.concatenate([intent_bias, topic_bias, [urgency_bias]]).astype(np.float32)
    intent_head = Head(list(intent_classes), 0, intent.temperature, {c: c.split("/")[0] for c in intent_classes})
    topic_head = Head(list(topic_classes_final), len(intent_classes), topic.temperature, {})
    urgency_head = UrgencyHead(weights.shape[1] - 1, urgency.temperature, urgency.point.thresholds)

    styles: dict[str, int] = {}
    for e in examples:
        styles[e.style] = styles.get(e.style, 0) + 1
    report = TrainReport(
        examples=len(examples),
        topic_examples=len(topic_rows),
        seconds=round(time.perf_counter() - started, 2),
        intent_cv_macro_f1=round(intent.score, 4),
        topic_cv_accuracy=round(topic.score, 4),
        intent_params=intent.params,
        topic_params=topic.params,
        complex_threshold=threshold,
        data_hash=data_hash,
        styles=styles,
        urgency={
            "C": urgency.config.c,
            "hard_negative_weight": urgency.config.hard_negative_weight,
            "temperature": round(urgency.temperature, 4),
            **urgency.point.figures(),
        },
        stages=stages,
    )
    notify("done", 1.0)
    return TrainedModel(
        builder, weights, bias, intent_head, topic_head, urgency_head, threshold, data_hash, encoder.identity, report
    )


# --------------------------------------------------------------------------- persistence


def _write_atomically(directory: Path, name: str, write: Callable[[Any], None], mode: str) -> Path:
    # Several workers may train at once: readers must never see half a file.
    encoding = None if "b" in mode else "utf-8"
    with tempfile.NamedTemporaryFile(mode, dir=directory, suffix=".tmp", delete=False, encoding=encoding) as handle:
        write(handle)
    os.chmod(handle.name, 0o644)
    os.replace(handle.name, directory / name)
    return directory / name


def save_model(model: TrainedModel, directory: Path) -> Path:
    """Write the model and its metadata atomically.

    Args:
        model: the trained model.
        directory: usually ``settings.model_dir``.

    Returns:
        The path of the saved model file.
    """
    directory.mkdir(parents=True, exist_ok=True)
    model.report.path = str(directory / MODEL_FILE)
    payload = {"version": MODEL_VERSION, "model": model}
    target = _write_atomically(
        directory, MODEL_FILE, lambda h: pickle.dump(payload, h, protocol=pickle.HIGHEST_PROTOCOL), "wb"
    )
    meta = {"version": MODEL_VERSION, "data_hash": model.data_hash, "encoder": model.encoder, **asdict(model.report)}
    _write_atomically(directory, META_FILE, lambda h: json.dump(meta, h, ensure_ascii=False, indent=2), "w")
    return target


def read_model_meta(directory: Path) -> dict | None:
    """The saved model's metadata (hash, report), or None if there is no model."""
    try:
        return json.loads((directory / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def load_model(directory: Path) -> TrainedModel | None:
    """Load a saved model, or None when there is none or it is from another version."""
    path = directory / MODEL_FILE
    if not path.exists():
        return None
    try:
        with path.open("rb") as handle:
            payload = pickle.load(handle)  # noqa: S301 - our own file, written by save_model
    except Exception:  # noqa: BLE001 - a truncated or foreign file means "retrain"
        logger.warning("could not read the saved classifier at %s; it will be retrained", path)
        return None
    if not isinstance(payload, dict) or payload.get("version") != MODEL_VERSION:
        return None
    return payload["model"]
