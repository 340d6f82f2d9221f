"""What a classification is and how one is decided, whatever the backend: light to import.

:class:`Classification` is what flows and the engine read; :func:`compose` applies the
safety and decision rules to a backend's scores, so every backend (the local heads in
:mod:`intents.classifier`, a Rasa server in :mod:`intents.rasa`) gives the same shape;
:class:`IntentClassifier` is the interface they implement. Nothing here loads a model
or an ML library, so the engine and flows may import it freely.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from bot.taxonomy import COMPLEX_TOPIC
from intents.safety import SafetySignal, safety_matter

__all__ = [
    "CONFIDENCE_THRESHOLD",
    "DEFAULT_COMPLEX_THRESHOLD",
    "MODEL_EMERGENCY_THRESHOLD",
    "TOPIC_CONFIDENCE_THRESHOLD",
    "Classification",
    "IntentClassifier",
    "UrgencyThresholds",
    "complex_topic",
    "compose",
]

CONFIDENCE_THRESHOLD = 0.5
"""Below this calibrated probability the flow asks a clarifying question."""
TOPIC_CONFIDENCE_THRESHOLD = 0.4
"""An ask_where whose best topic is weaker than this asks which counter is meant."""
GOODBYE_CONFIDENCE = 0.8
"""A goodbye ends the conversation: weaker than this, it is asked about (a worry in a language
the encoder does not cover read as goodbye at 0.56, and the resident was seen off)."""
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
class UrgencyThresholds:
    """The safety model's operating point, chosen for recall on its training data.

    Attributes:
        ask: from this probability on, the resident is asked whether a life is in
            danger now (the safety question) rather than the model guessing silently.
        alarm: from this probability on, 119/110 guidance is given without asking.
        veto: below this probability a sign of the safety lexicon is asked about instead
            of answered at once (「火事のドラマ」, a past 救急車): the lowest the model gave
            any emergency or crisis of its training data that the lexicon caught.
        group_vetoes: the same, learned for one lexicon group (by its reason) from the
            emergencies and crises that group itself caught, where it caught enough of them:
            「救急車に乗るとき保険証はいりますか」 is judged against the true 救急車 messages, not
            against the hardest collapse the data holds (:mod:`intents.urgency`).
    """

    ask: float
    alarm: float
    veto: float = 0.0
    group_vetoes: tuple[tuple[str, float], ...] = ()

    def veto_for(self, group: str) -> float:
        """The veto of a lexicon group: its own where it was learned, else the overall one."""
        return dict(self.group_vetoes).get(group, self.veto)

    def band(self, urgency: float | None) -> Literal["alarm", "ask"] | None:
        """Which band a probability falls in (None: below the question)."""
        if urgency is None or urgency < self.ask:
            return None
        return "alarm" if urgency >= self.alarm else "ask"


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
        urgency: the safety model's probability that a life is in danger now or that
            the resident is in a suicidal crisis (None: a backend without one).
        urgency_band: where ``urgency`` falls: "alarm" (guidance without asking),
            "ask" (the safety question), None (neither).
        safety_doubted: the lexicon's emergency or crisis sign is one the safety model
            rates below its veto: the resident is asked before 119/110.
    """

    intent: str
    topic: str | None
    topics: tuple[tuple[str, float], ...]
    confidence: float
    safety: SafetySignal | None
    alternatives: tuple[tuple[str, float], ...]
    urgency: float | None = None
    urgency_band: Literal["alarm", "ask"] | None = None
    safety_doubted: bool = False

    def without_model_emergency(self) -> "Classification":
        """This classification with the model's ``emergency`` set aside (the resident said
        no to the safety question); a safety-lexicon emergency stays."""
        if self.intent != "emergency" or self.safety is not None or not self.alternatives:
            return self
        demoted = self.ruling_out("emergency")
        return replace(demoted, alternatives=(*demoted.alternatives, ("emergency", self.confidence)))

    def ruling_out(self, intent: str) -> "Classification":
        """This classification with ``intent`` set aside (the resident said that is not what
        they meant: 「いえ、母は家にいます」 to a missing report); the next intent in its place."""
        if self.intent != intent:
            return self
        readings = list(self.alternatives)
        if readings and readings[0][0] == "emergency" and readings[0][1] < MODEL_EMERGENCY_THRESHOLD \
                and self.safety is None:
            # Nor here does the intent head alone say emergency when it is unsure (compose's rule):
            # the next reading, or none (a clarifying question), comes first.
            readings = [readings[1], readings[0], *readings[2:]] if len(readings) > 1 else [
                ("out_of_scope", 0.0), *readings]
        (best, confidence), *rest = readings or [("out_of_scope", 0.0)]
        return replace(self, intent=best, confidence=confidence, alternatives=tuple(rest))

    def read_as(self, intent: str, instead: str) -> Classification:
        """This classification with ``intent`` read as ``instead``: its probability joins
        that of ``instead`` (the words show it is that matter: a neighbour who is standing
        outside now is no missing person, and what the model weighed as a missing report is a
        worry about her). Without ``instead`` among the readings, ``intent`` is only set aside."""
        readings = dict(((self.intent, self.confidence), *self.alternatives))
        if intent not in readings or instead not in readings:
            return self.ruling_out(intent)
        readings[instead] = min(1.0, readings[instead] + readings.pop(intent))
        (best, confidence), *rest = sorted(readings.items(), key=lambda pair: -pair[1])
        topic = self.topic if best == self.intent else None
        return replace(self, intent=best, confidence=confidence, alternatives=tuple(rest), topic=topic,
                       topics=self.topics if topic else ())

    def preferring(self, intent: str) -> Classification:
        """This classification with ``intent``, one of its alternatives, first: the resident's
        words decided between it and the model's choice. Its confidence is the two together:
        the model was that sure it was one or the other."""
        alternative = dict(self.alternatives).get(intent)
        if alternative is None or self.intent == intent:
            return self
        rest = tuple(pair for pair in self.alternatives if pair[0] != intent)
        return replace(self, intent=intent, topic=None, topics=(), confidence=min(1.0, self.confidence + alternative),
                       alternatives=((self.intent, self.confidence), *rest))

    @property
    def is_confident(self) -> bool:
        """False → ask a clarifying question with choices instead of guessing.

        Safety signals are always acted on; ``out_of_scope`` and weak
        predictions are not, nor an ``ask_where`` whose counter is unclear, nor a
        goodbye below :data:`GOODBYE_CONFIDENCE`.
        """
        if self.safety is not None:
            return True
        if self.intent == "out_of_scope" or self.confidence < CONFIDENCE_THRESHOLD:
            return False
        if self.intent == "goodbye":
            return self.confidence >= GOODBYE_CONFIDENCE
        if self.intent == "ask_where":
            if self.topic == COMPLEX_TOPIC:
                return True
            return bool(self.topics) and self.topics[0][1] >= TOPIC_CONFIDENCE_THRESHOLD
        return True


def complex_topic(probabilities: Mapping[str, float], threshold: float) -> bool:
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


def _ranked(scores: Mapping[str, float]) -> list[tuple[str, float]]:
    return sorted(((k, round(float(v), 4)) for k, v in scores.items()), key=lambda kv: -kv[1])


def compose(
    safety: SafetySignal | None,
    intent_scores: Mapping[str, float],
    topic_scores: Mapping[str, float] | None,
    complex_threshold: float = DEFAULT_COMPLEX_THRESHOLD,
    urgency: float | None = None,
    thresholds: UrgencyThresholds | None = None,
) -> Classification:
    """Combine the safety signal with a backend's scores into a Classification.

    Rules: an emergency sign (lexicon) or an ``emergency`` prediction with
    probability >= MODEL_EMERGENCY_THRESHOLD gives ``emergency``; any other
    safety signal gives the matter :func:`intents.safety.safety_matter` names
    (suicidal ideation: ``ask_where`` / ``mental``, crisis lines from the signal)
    unless the model says emergency; otherwise the most likely intent wins.

    Args:
        safety: result of :func:`intents.safety.detect_safety`.
        intent_scores: intent → probability.
        topic_scores: topic → probability (only read for ask_where).
        complex_threshold: strength two non-complex topics need for ``complex``.
        urgency: the safety model's probability of an emergency or a crisis, if the
            backend has one.
        thresholds: its operating point (required with ``urgency``).

    Returns:
        The classification.
    """
    ranking = _ranked(intent_scores) or [("out_of_scope", 0.0)]
    band = thresholds.band(urgency) if thresholds is not None else None
    # The intent head alone does not say emergency when it is unsure, nor against the safety
    # model (trained on hard negatives: a frail person's description, a TV drama).
    doubted = ranking[0][1] < MODEL_EMERGENCY_THRESHOLD or (thresholds is not None and band is None)
    if ranking[0][0] == "emergency" and doubted and len(ranking) > 1:
        ranking = [ranking[1], ranking[0], *ranking[2:]]
    intent, confidence = ranking[0]
    matter = safety_matter(safety) if safety is not None else None
    if matter is not None and (matter.intent == "emergency" or intent != "emergency"):
        intent, confidence = matter.intent, 1.0
    alternatives = tuple((k, v) for k, v in ranking if k != intent and v >= _MIN_ALTERNATIVE)[:_ALTERNATIVES]

    # The safety layer's topic, when its matter is the one decided.
    safety_topic = matter.topic if matter is not None and matter.intent == intent else None
    topic: str | None = None
    topics: tuple[tuple[str, float], ...] = ()
    if intent == "ask_where" and topic_scores:
        topics = tuple(_ranked(topic_scores))
        if safety_topic is not None:
            topic = safety_topic
        elif complex_topic(dict(topic_scores), complex_threshold):
            topic = COMPLEX_TOPIC
        else:
            topic = topics[0][0]
    elif safety_topic is not None:
        topic = safety_topic
    doubted = (safety is not None and safety.kind in ("emergency", "crisis") and thresholds is not None
               and urgency is not None and urgency < thresholds.veto_for(safety.group))
    return Classification(intent, topic, topics, round(float(confidence), 4), safety, alternatives,
                          None if urgency is None else round(float(urgency), 4), band, doubted)


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
