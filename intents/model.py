"""Training, calibration and persistence of the local intent and topic heads.

Both heads are multinomial logistic regressions over the same kinds of
features (:mod:`intents.features` plus a sentence embedding from
:mod:`intents.backends`).

* The intent head is trained on *fine* labels — every intent, with
  ``ask_where`` split into its ten topics — and an intent's probability is the
  sum over its fine labels. "Where do I ask?" messages about care, debt or
  abuse share little wording; one linear boundary around all of them fits
  worse than ten (macro-F1 +1.3 points in grouped cross-validation on the
  train split, repeated over four seeds).
* The topic head is trained on the ``ask_where`` examples only.

Hyperparameters are chosen by cross-validation on the TRAIN split only; the
evaluation split is never read here. The data holds the same message written
in several styles, so near-duplicates ("siblings": same label and very similar
embedding or kana reading) are kept in one fold — otherwise the scores reward
memorising translations. Probabilities are calibrated by temperature scaling
fitted on the out-of-fold scores of the chosen configuration.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedGroupKFold

from bot.taxonomy import COMPLEX_TOPIC
from intents.backends import Encoder
from intents.classification import complex_topic
from intents.data import Example
from intents.features import FeatureBuilder, reading
from intents.normalize import normalize

__all__ = [
    "MODEL_FILE",
    "MODEL_VERSION",
    "Head",
    "Progress",
    "TrainReport",
    "TrainedModel",
    "fit_model",
    "load_model",
    "read_model_meta",
    "save_model",
]

logger = logging.getLogger(__name__)

MODEL_VERSION = "2"
MODEL_FILE = "classifier.joblib"
META_FILE = "classifier.json"

# Small grids: training must stay under two minutes on two cores. A study
# with grouped CV repeated over four seeds on the train split (C 30-300,
# lookup weight 0.35-0.7) put every best setting inside this square.
_C_GRID = (100.0, 300.0)
_LOOKUP_WEIGHT_GRID = (0.5, 0.7)
_COMPLEX_GRID = (0.2, 0.25, 0.3, 0.35, 0.4)
_TEMPERATURES = np.exp(np.linspace(np.log(0.2), np.log(5.0), 61))
_FOLDS = 5
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


@dataclass
class Head:
    """One calibrated linear classifier with its feature builder.

    Attributes:
        features: the fitted feature builder.
        model: the logistic regression over fine labels.
        temperature: calibration temperature for the decision scores.
        output_of: fine label → reported label (e.g. ``ask_where/dv`` →
            ``ask_where``); labels missing here are reported as themselves.
    """

    features: FeatureBuilder
    model: LogisticRegression
    temperature: float
    output_of: dict[str, str] = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        """Reported labels, in the column order of :meth:`predict_proba`."""
        return sorted({self.output_of.get(str(c), str(c)) for c in self.model.classes_})

    def predict_proba(self, texts: Sequence[str], embeddings: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of the reported labels, one row per normalised text."""
        scores = np.atleast_2d(self.model.decision_function(self.features.transform(texts, embeddings)))
        return _collapse(_softmax(scores / self.temperature), list(self.model.classes_), self.output_of, self.labels)


def _collapse(
    probabilities: np.ndarray, fine: Sequence[str] | np.ndarray, output_of: Mapping[str, str], labels: Sequence[str]
) -> np.ndarray:
    index = {label: i for i, label in enumerate(labels)}
    out = np.zeros((probabilities.shape[0], len(labels)), dtype=np.float64)
    for column, name in enumerate(fine):
        out[:, index[output_of.get(str(name), str(name))]] += probabilities[:, column]
    return out


@dataclass
class TrainReport:
    """What training did, for the CLI and the saved model's metadata.

    The cross-validation figures are out-of-fold scores on the train split
    (siblings kept together), the only honest estimate before ``tsunagu eval``.
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


@dataclass
class TrainedModel:
    """Everything needed to classify, as saved to disk."""

    intent: Head
    topic: Head
    complex_threshold: float
    data_hash: str
    encoder: str
    report: TrainReport


def _sibling_groups(texts: Sequence[str], embeddings: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Union-find over same-label pairs that are the same message in another style."""
    readings = TfidfVectorizer(analyzer="char", ngram_range=(2, 3)).fit_transform([reading(t) for t in texts])
    similar = embeddings @ embeddings.T >= _SIBLING_EMBEDDING
    similar |= (readings @ readings.T).toarray() >= _SIBLING_READING
    parent = list(range(len(texts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(similar & (labels[:, None] == labels[None, :]), 1)), strict=True):
        parent[root(int(i))] = root(int(j))
    return np.array([root(i) for i in range(len(texts))])


def _new_lr(c: float) -> LogisticRegression:
    # Balanced weights: ask_where has ~5x the examples of the other intents.
    return LogisticRegression(C=c, max_iter=5000, class_weight="balanced")


def _fit_temperature(scores: np.ndarray, labels: np.ndarray, classes: np.ndarray) -> float:
    truth = np.searchsorted(classes, labels)
    best, best_nll = 1.0, np.inf
    for temperature in _TEMPERATURES:
        probabilities = _softmax(scores / temperature)
        nll = float(-np.mean(np.log(probabilities[np.arange(len(truth)), truth] + 1e-12)))
        if nll < best_nll:
            best, best_nll = float(temperature), nll
    return best


@dataclass
class _Tuned:
    head: Head
    params: dict[str, float]
    score: float
    oof: np.ndarray  # calibrated out-of-fold probabilities of the reported labels


def _fold_scores(
    texts: list[str],
    embeddings: np.ndarray,
    fine: np.ndarray,
    classes: np.ndarray,
    fold_train: np.ndarray,
    fold_test: np.ndarray,
) -> tuple[np.ndarray, dict[tuple[float, float], np.ndarray]]:
    """Out-of-fold decision scores of every grid configuration for one fold."""
    train_texts = [texts[i] for i in fold_train]
    test_texts = [texts[i] for i in fold_test]
    # The vocabularies depend on the fold only; the weight only scales a block.
    builder = FeatureBuilder().fit(train_texts)
    scores: dict[tuple[float, float], np.ndarray] = {}
    columns = np.arange(len(classes))
    for weight in _LOOKUP_WEIGHT_GRID:
        builder.lookup_weight = weight
        train_x = builder.transform(train_texts, embeddings[fold_train])
        test_x = builder.transform(test_texts, embeddings[fold_test])
        # Increasing C with a warm start: each fit starts near its optimum.
        model = LogisticRegression(max_iter=5000, class_weight="balanced", warm_start=True)
        for c in sorted(_C_GRID):
            model.set_params(C=c).fit(train_x, fine[fold_train])
            # A fold may miss a rare class; its columns are placed by name.
            columns = np.searchsorted(classes, model.classes_)
            scores[(weight, c)] = model.decision_function(test_x)
    return columns, scores


def _tune_head(
    texts: list[str],
    embeddings: np.ndarray,
    fine: np.ndarray,
    output_of: dict[str, str],
    metric: Callable[[np.ndarray, np.ndarray], float],
    report: Callable[[float], None],
) -> _Tuned:
    """Grid-search C and the lookup weight by grouped CV, calibrate, refit on all data."""
    classes = np.array(sorted(set(fine)))
    outputs = sorted({output_of.get(c, c) for c in classes})
    reported = np.array([output_of.get(c, c) for c in fine])
    groups = _sibling_groups(texts, embeddings, fine)
    folds = list(StratifiedGroupKFold(_FOLDS, shuffle=True, random_state=_SEED).split(texts, fine, groups))
    # Folds run in parallel: training must stay under two minutes on two cores.
    fold_results = []
    for result in joblib.Parallel(n_jobs=_JOBS, backend="loky", return_as="generator")(
        joblib.delayed(_fold_scores)(texts, embeddings, fine, classes, fold_train, fold_test)
        for fold_train, fold_test in folds
    ):
        fold_results.append(result)
        report(0.9 * len(fold_results) / len(folds))
    results = {cfg: np.full((len(texts), len(classes)), -1e9) for cfg in fold_results[0][1]}
    for (_, fold_test), (columns, scores) in zip(folds, fold_results, strict=True):
        for cfg, block in scores.items():
            results[cfg][np.ix_(fold_test, columns)] = block
    scored = []
    for (weight, c), scores in results.items():
        predicted = np.array(outputs)[_collapse(_softmax(scores), classes, output_of, outputs).argmax(axis=1)]
        scored.append((metric(reported, predicted), -c, weight, c))
    score, _, weight, c = max(scored)
    temperature = _fit_temperature(results[(weight, c)], fine, classes)
    builder = FeatureBuilder(lookup_weight=weight).fit(texts)
    model = _new_lr(c).fit(builder.transform(texts, embeddings), fine)
    report(1.0)
    oof = _collapse(_softmax(results[(weight, c)] / temperature), classes, output_of, outputs)
    return _Tuned(Head(builder, model, temperature, dict(output_of)), {"C": c, "lookup_weight": weight}, score, oof)


def _choose_complex_threshold(probabilities: np.ndarray, classes: list[str], labels: np.ndarray) -> float:
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


def fit_model(
    examples: Sequence[Example],
    encoder: Encoder,
    data_hash: str,
    progress: Progress | None = None,
) -> TrainedModel:
    """Train both heads on training examples.

    Args:
        examples: the TRAIN split (never the evaluation split).
        encoder: the sentence encoder of the chosen backend.
        data_hash: fingerprint stored with the model (see :func:`intents.data.data_hash`).
        progress: optional callback for a progress bar.

    Returns:
        The trained, calibrated model.

    Raises:
        ValueError: no ask_where examples with topics.
    """
    started = time.perf_counter()
    notify = progress or (lambda _stage, _fraction: None)
    texts = [normalize(e.text) for e in examples]
    notify("encoding", 0.0)
    vectors = []
    for start in range(0, len(texts), 64):
        vectors.append(encoder.encode(texts[start : start + 64]))
        notify("encoding", 0.15 * min(1.0, (start + 64) / len(texts)))
    embeddings = np.vstack(vectors)

    topic_rows = np.array([i for i, e in enumerate(examples) if e.intent == "ask_where" and e.topic])
    if len(topic_rows) == 0:
        raise ValueError("no ask_where/<topic> examples in the training data")
    fine = np.array([f"{e.intent}/{e.topic}" if e.intent == "ask_where" and e.topic else e.intent for e in examples])
    intent = _tune_head(
        texts,
        embeddings,
        fine,
        {label: label.split("/")[0] for label in set(fine)},
        lambda y, p: float(f1_score(y, p, average="macro")),
        lambda f: notify("intent head", 0.15 + 0.6 * f),
    )
    topics = np.array([examples[i].topic for i in topic_rows])
    topic = _tune_head(
        [texts[i] for i in topic_rows],
        embeddings[topic_rows],
        topics,
        {},
        lambda y, p: float(accuracy_score(y, p)),
        lambda f: notify("topic head", 0.75 + 0.25 * f),
    )
    threshold = _choose_complex_threshold(topic.oof, topic.head.labels, topics)

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
    )
    notify("done", 1.0)
    return TrainedModel(intent.head, topic.head, threshold, data_hash, encoder.identity, report)


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
    target = _write_atomically(
        directory, MODEL_FILE, lambda h: joblib.dump({"version": MODEL_VERSION, "model": model}, h), "wb"
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
        payload = joblib.load(path)
    except Exception:  # noqa: BLE001 - a truncated or foreign file means "retrain"
        logger.warning("could not read the saved classifier at %s; it will be retrained", path)
        return None
    if not isinstance(payload, dict) or payload.get("version") != MODEL_VERSION:
        return None
    return payload["model"]
