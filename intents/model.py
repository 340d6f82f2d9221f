"""Training, calibration and persistence of the local intent and topic heads.

Both heads are multinomial logistic regressions over the same kinds of
features (:mod:`intents.features` plus a sentence embedding from
:mod:`intents.backends`). Hyperparameters are chosen by stratified
cross-validation on the TRAIN split only; the evaluation split is never read
here. Probabilities are calibrated by temperature scaling fitted on the
out-of-fold scores of the chosen configuration.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from itertools import product
from pathlib import Path

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold

from intents.backends import Encoder
from intents.data import COMPLEX_TOPIC, Example
from intents.features import FeatureBuilder
from intents.normalize import normalize

__all__ = [
    "MODEL_FILE",
    "MODEL_VERSION",
    "Head",
    "TrainReport",
    "TrainedModel",
    "complex_topic",
    "fit_model",
    "load_model",
    "read_model_meta",
    "save_model",
]

logger = logging.getLogger(__name__)

MODEL_VERSION = "1"
MODEL_FILE = "classifier.joblib"
META_FILE = "classifier.json"

# Small grids: the data has ~1,000 examples and training must stay under two
# minutes on two cores. Lookup weights below ~0.3 waste the tables; above ~0.7
# they override the n-grams.
_C_GRID = (30.0, 100.0, 300.0)
_LOOKUP_WEIGHT_GRID = (0.35, 0.5, 0.7)
_COMPLEX_GRID = (0.2, 0.25, 0.3, 0.35, 0.4)
_TEMPERATURES = np.exp(np.linspace(np.log(0.2), np.log(5.0), 61))
_FOLDS = 5
_SEED = 0

Progress = Callable[[str, float], None]
"""Called with a stage description and the fraction of training done (0..1)."""


@dataclass
class Head:
    """One calibrated linear classifier with its feature builder."""

    features: FeatureBuilder
    model: LogisticRegression
    temperature: float

    @property
    def labels(self) -> list[str]:
        """Class names in column order."""
        return [str(c) for c in self.model.classes_]

    def predict_proba(self, texts: Sequence[str], embeddings: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities, one row per normalised text."""
        scores = self.model.decision_function(self.features.transform(texts, embeddings))
        return _softmax(np.atleast_2d(scores) / self.temperature)


@dataclass
class TrainReport:
    """What training did, for the CLI and the saved model's metadata.

    The cross-validation figures are out-of-fold scores on the train split,
    the only honest estimate available before ``tsunagu eval``.
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


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def complex_topic(probabilities: dict[str, float], threshold: float) -> bool:
    """Decide whether a household has several problems at once.

    Args:
        probabilities: topic → calibrated probability.
        threshold: how strong each of two non-complex topics must be.

    Returns:
        True when ``complex`` is the top topic or two or more other topics
        reach the threshold (e.g. elderly care AND money trouble).
    """
    if probabilities and max(probabilities, key=probabilities.__getitem__) == COMPLEX_TOPIC:
        return True
    strong = [t for t, p in probabilities.items() if t != COMPLEX_TOPIC and p >= threshold]
    return len(strong) >= 2


def _new_lr(c: float) -> LogisticRegression:
    # Balanced weights: ask_where has ~5x the examples of the other intents.
    return LogisticRegression(C=c, max_iter=5000, class_weight="balanced")


def _fit_temperature(scores: np.ndarray, labels: np.ndarray, classes: np.ndarray) -> float:
    index = {c: i for i, c in enumerate(classes)}
    truth = np.array([index[label] for label in labels])
    best, best_nll = 1.0, np.inf
    for temperature in _TEMPERATURES:
        probabilities = _softmax(scores / temperature)
        nll = -np.mean(np.log(probabilities[np.arange(len(truth)), truth] + 1e-12))
        if nll < best_nll:
            best, best_nll = float(temperature), nll
    return best


def _tune_head(
    texts: list[str],
    embeddings: np.ndarray,
    labels: np.ndarray,
    metric: Callable[[np.ndarray, np.ndarray], float],
    report: Callable[[float], None],
) -> tuple[Head, dict[str, float], float, np.ndarray]:
    """Grid-search C and the lookup weight by CV, calibrate, refit on all data.

    Returns:
        The fitted head, its parameters, its CV score and the calibrated
        out-of-fold probabilities (for choosing the complex threshold).
    """
    folds = list(StratifiedKFold(_FOLDS, shuffle=True, random_state=_SEED).split(texts, labels))
    grid = list(product(_LOOKUP_WEIGHT_GRID, _C_GRID))
    classes = np.array(sorted(set(labels)))
    best: tuple[float, float, float, np.ndarray] | None = None
    done, total = 0, len(folds) * len(grid) + 1
    results: dict[tuple[float, float], np.ndarray] = {cfg: np.zeros((len(texts), len(classes))) for cfg in grid}
    for fold_train, fold_test in folds:
        train_texts = [texts[i] for i in fold_train]
        test_texts = [texts[i] for i in fold_test]
        # The vocabularies depend on the fold only; the weight only scales a block.
        builder = FeatureBuilder().fit(train_texts)
        for lookup_weight in _LOOKUP_WEIGHT_GRID:
            builder.lookup_weight = lookup_weight
            train_x = builder.transform(train_texts, embeddings[fold_train])
            test_x = builder.transform(test_texts, embeddings[fold_test])
            for c in _C_GRID:
                model = _new_lr(c).fit(train_x, labels[fold_train])
                # A fold may miss a rare class; place its columns by name.
                block = np.full((len(fold_test), len(classes)), -1e9)
                block[:, np.searchsorted(classes, model.classes_)] = model.decision_function(test_x)
                results[(lookup_weight, c)][fold_test] = block
                done += 1
                report(done / total)
    for (lookup_weight, c), scores in results.items():
        score = metric(labels, classes[scores.argmax(axis=1)])
        if best is None or score > best[0] + 1e-9:
            best = (score, lookup_weight, c, scores)
    assert best is not None
    score, lookup_weight, c, oof_scores = best
    temperature = _fit_temperature(oof_scores, labels, classes)
    builder = FeatureBuilder(lookup_weight=lookup_weight).fit(texts)
    model = _new_lr(c).fit(builder.transform(texts, embeddings), labels)
    report(1.0)
    params = {"C": c, "lookup_weight": lookup_weight}
    return Head(builder, model, temperature), params, score, _softmax(oof_scores / temperature)


def _choose_complex_threshold(probabilities: np.ndarray, classes: list[str], labels: np.ndarray) -> float:
    best_threshold, best_accuracy = _COMPLEX_GRID[-1], -1.0
    # Highest threshold first so ties keep the most conservative rule.
    for threshold in sorted(_COMPLEX_GRID, reverse=True):
        predicted = []
        for row in probabilities:
            scores = dict(zip(classes, row))
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
        ValueError: no ask_where examples with topics, or too few examples per class.
    """
    started = time.perf_counter()
    notify = progress or (lambda _stage, _fraction: None)
    texts = [normalize(e.text) for e in examples]
    notify("encoding", 0.0)
    batches = [texts[i : i + 64] for i in range(0, len(texts), 64)]
    vectors = []
    for number, batch in enumerate(batches, 1):
        vectors.append(encoder.encode(batch))
        notify("encoding", 0.2 * number / len(batches))
    embeddings = np.vstack(vectors) if vectors else np.zeros((0, 1), dtype=np.float32)

    intents = np.array([e.intent for e in examples])
    intent_head, intent_params, intent_score, _ = _tune_head(
        texts,
        embeddings,
        intents,
        lambda y, p: float(f1_score(y, p, average="macro")),
        lambda f: notify("intent head", 0.2 + 0.55 * f),
    )

    topic_rows = np.array([i for i, e in enumerate(examples) if e.intent == "ask_where" and e.topic])
    if len(topic_rows) == 0:
        raise ValueError("no ask_where/<topic> examples in the training data")
    topics = np.array([examples[i].topic for i in topic_rows])
    topic_head, topic_params, topic_score, topic_oof = _tune_head(
        [texts[i] for i in topic_rows],
        embeddings[topic_rows],
        topics,
        lambda y, p: float(accuracy_score(y, p)),
        lambda f: notify("topic head", 0.75 + 0.25 * f),
    )
    threshold = _choose_complex_threshold(topic_oof, sorted(set(topics)), topics)

    styles: dict[str, int] = {}
    for e in examples:
        styles[e.style] = styles.get(e.style, 0) + 1
    report = TrainReport(
        examples=len(examples),
        topic_examples=len(topic_rows),
        seconds=round(time.perf_counter() - started, 2),
        intent_cv_macro_f1=round(intent_score, 4),
        topic_cv_accuracy=round(topic_score, 4),
        intent_params=intent_params,
        topic_params=topic_params,
        complex_threshold=threshold,
        data_hash=data_hash,
        styles=styles,
    )
    notify("done", 1.0)
    return TrainedModel(intent_head, topic_head, threshold, data_hash, encoder.identity, report)


def save_model(model: TrainedModel, directory: Path) -> Path:
    """Write the model atomically (several workers may train at once).

    Args:
        model: the trained model.
        directory: usually ``settings.model_dir``.

    Returns:
        The path of the saved model file.
    """
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / MODEL_FILE
    model.report.path = str(target)
    payload = {"version": MODEL_VERSION, "model": model}
    with tempfile.NamedTemporaryFile(dir=directory, suffix=".tmp", delete=False) as handle:
        joblib.dump(payload, handle)
    os.replace(handle.name, target)
    meta = {"version": MODEL_VERSION, "data_hash": model.data_hash, "encoder": model.encoder, **asdict(model.report)}
    with tempfile.NamedTemporaryFile("w", dir=directory, suffix=".tmp", delete=False, encoding="utf-8") as handle:
        json.dump(meta, handle, ensure_ascii=False, indent=2)
    os.replace(handle.name, directory / META_FILE)
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
