"""Backend for cities that already run Rasa: ``POST {rasa_url}/model/parse``.

Rasa answers with its documented NLU parse result::

    {"text": "...",
     "intent": {"name": "ask_where", "confidence": 0.93,
                "full_retrieval_intent_name": "ask_where/elderly"},
     "entities": [...],
     "intent_ranking": [{"name": "ask_where", "confidence": 0.93}, ...],
     "response_selector": {"ask_where": {"response": {"intent_response_key": "ask_where/elderly",
                                                      "confidence": 0.88, ...},
                                         "ranking": [{"intent_response_key": "ask_where/elderly",
                                                      "confidence": 0.88}, ...]}}}

The training data in ``intents/data`` uses Rasa retrieval intents
(``ask_where/<topic>``), so a ResponseSelector trained on it yields the topic
ranking; without one, a retrieval name in the intent itself is used. The
safety layer runs first here too. If the server cannot be reached the message
is returned as an unconfident ``out_of_scope`` (the flow asks again or offers
a human) — unless the safety layer fired, which needs no server.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import httpx

from bot.taxonomy import INTENTS, TOPICS
from intents.classification import Classification, IntentClassifier, compose
from intents.safety import detect_safety

__all__ = ["RasaClassifier", "parse_rasa_response"]

logger = logging.getLogger(__name__)


def _split(name: str) -> tuple[str, str | None]:
    intent, _, topic = name.partition("/")
    return intent, topic or None


def _topic_scores(payload: Mapping[str, Any]) -> dict[str, float]:
    scores: dict[str, float] = {}
    selectors = payload.get("response_selector") or {}
    for key in ("ask_where", "default"):
        selector = selectors.get(key) if isinstance(selectors, Mapping) else None
        if not isinstance(selector, Mapping):
            continue
        for item in selector.get("ranking") or []:
            intent, topic = _split(str(item.get("intent_response_key") or ""))
            if intent == "ask_where" and topic in TOPICS:
                scores[topic] = max(scores.get(topic, 0.0), float(item.get("confidence") or 0.0))
        if scores:
            return scores
    # No ResponseSelector: a model trained with ask_where/<topic> as plain intents.
    for item in payload.get("intent_ranking") or []:
        intent, topic = _split(str(item.get("name") or ""))
        if intent == "ask_where" and topic in TOPICS:
            scores[topic] = scores.get(topic, 0.0) + float(item.get("confidence") or 0.0)
    if not scores:
        intent_block = payload.get("intent") or {}
        intent, topic = _split(str(intent_block.get("full_retrieval_intent_name") or intent_block.get("name") or ""))
        if intent == "ask_where" and topic in TOPICS:
            scores[topic] = float(intent_block.get("confidence") or 0.0)
    return scores


def parse_rasa_response(payload: Mapping[str, Any], text: str) -> Classification:
    """Map a Rasa ``/model/parse`` result to a Classification (safety layer first).

    Intents outside TAXONOMY.md count as ``out_of_scope``; when Rasa's own
    decision is one of them (its FallbackClassifier's ``nlu_fallback``) the
    answer is ``out_of_scope`` with the other intents as choices. Retrieval
    names (``ask_where/dv``) count as ``ask_where``.

    Args:
        payload: the parsed JSON answer.
        text: the message that was sent (for the safety layer).

    Returns:
        The classification.
    """
    intents: dict[str, float] = {}
    for item in [payload.get("intent") or {}, *(payload.get("intent_ranking") or [])]:
        name = str(item.get("name") or "")
        if not name:
            continue
        intent = _split(name)[0]
        intent = intent if intent in INTENTS else "out_of_scope"
        intents[intent] = max(intents.get(intent, 0.0), float(item.get("confidence") or 0.0))
    result = compose(detect_safety(text), intents or {"out_of_scope": 0.0}, _topic_scores(payload))
    top = payload.get("intent") or {}
    if top.get("name") and _split(str(top["name"]))[0] not in INTENTS and result.safety is None:
        # Rasa's own fallback decided "not sure": keep that decision, offer the rest as choices.
        others = sorted(((k, round(v, 4)) for k, v in intents.items() if k != "out_of_scope"), key=lambda kv: -kv[1])
        return replace(
            result,
            intent="out_of_scope",
            topic=None,
            topics=(),
            confidence=round(float(top.get("confidence") or 0.0), 4),
            alternatives=tuple(others[:3]),
        )
    return result


class RasaClassifier(IntentClassifier):
    """Classify with a running Rasa server.

    Args:
        url: the server's base URL, e.g. ``http://localhost:5005``.
        timeout: seconds per request.
        token: Rasa's ``--auth-token``, sent as the ``token`` query parameter.
        client: an httpx client to reuse (one is created otherwise).
    """

    def __init__(
        self, url: str, *, timeout: float = 5.0, token: str | None = None, client: httpx.Client | None = None
    ) -> None:
        self._endpoint = url.rstrip("/") + "/model/parse"
        self._params = {"token": token} if token else {}
        self._client = client or httpx.Client(timeout=timeout)

    def classify_many(self, texts: Sequence[str]) -> list[Classification]:
        """One ``/model/parse`` request per message, in order."""
        return [self._classify_one(text) for text in texts]

    def _classify_one(self, text: str) -> Classification:
        try:
            response = self._client.post(self._endpoint, json={"text": text}, params=self._params)
            response.raise_for_status()
            payload = response.json()
        except (httpx.HTTPError, ValueError) as error:
            logger.warning("Rasa server unavailable at %s: %s", self._endpoint, type(error).__name__)
            return compose(detect_safety(text), {"out_of_scope": 0.0}, None)
        return parse_rasa_response(payload, text)
