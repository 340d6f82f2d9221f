"""domain.yml: load it once, validate it at start-up, and render responses.

The file is in Rasa 3.x domain format. Languages are Rasa conditional response
variations on the ``language`` slot; the variation without a condition is Japanese.
Japanese and English are required; a resident's other language (zh, zh-Hant, ko, vi,
tl, pt, ne, es) falls back to English or Japanese where a response is not translated yet.
A ``channel:`` variation (``voice``) is preferred on that channel. Validation runs
a JSON schema first, then the sanity checks Rasa's ``Domain.from_yaml`` teaches:
duplicate keys, intents matching the taxonomy, form slots that exist, and every
response the code asks for present in both languages — so a missing sentence is an
error at start-up, not at 3 a.m. This core module cannot see the flows or the alert
network: ``bot.responses`` collects the names they send, and the composition roots
(``bot.app``, ``bot.cli``) pass them to :meth:`Domain.check_required`.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from bot.settings import settings
from bot.taxonomy import INTENTS

__all__ = ["Domain", "DomainError", "load_domain", "parse_domain"]

LANGUAGES = ("ja", "en")
"""Every response the code uses exists in these languages (checked at start-up)."""
# Residents' languages with only some responses translated (the safety guidance first):
# a response without their variation falls back to one they are more likely to read,
# English for these (what they got before their language was detected), simplified
# Chinese for traditional; Japanese for any other (Chinese and Korean readers: kanji,
# and what they got before).
FALLBACKS: dict[str, str] = {language: "en" for language in ("pt", "es", "tl", "vi", "ne")} | {"zh-Hant": "zh"}

_VARIATION = {
    "type": "object",
    "required": ["text"],
    "properties": {
        "text": {"type": "string", "minLength": 1},
        "channel": {"type": "string"},
        "condition": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["type", "name", "value"],
                "properties": {"type": {"const": "slot"}, "name": {"type": "string"}},
            },
        },
    },
}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["version", "intents", "responses"],
    "properties": {
        "version": {"type": "string"},
        "intents": {"type": "array", "items": {"type": "string"}},
        "entities": {"type": "array", "items": {"type": "string"}},
        "slots": {"type": "object", "additionalProperties": {"type": "object", "required": ["type"]}},
        "forms": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["required_slots"],
                "properties": {"required_slots": {"type": "array", "items": {"type": "string"}}},
            },
        },
        "responses": {
            "type": "object",
            "additionalProperties": {"type": "array", "minItems": 1, "items": _VARIATION},
        },
    },
}


class DomainError(ValueError):
    """domain.yml is unusable; the message says what and where."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML silently keeps the last of two equal keys; a domain must not."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise DomainError(f"duplicate key '{key}' at line {key_node.start_mark.line + 1}")
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


@dataclass(frozen=True)
class _Variation:
    text: str
    language: str
    channel: str | None


class Domain:
    """The validated domain: intents, slots, forms and the responses in each language."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.intents: tuple[str, ...] = tuple(data["intents"])
        self.slots: dict[str, Any] = dict(data.get("slots") or {})
        self.forms: dict[str, list[str]] = {
            name: list(form["required_slots"]) for name, form in (data.get("forms") or {}).items()
        }
        self._responses: dict[str, list[_Variation]] = {}
        for name, variations in data["responses"].items():
            parsed = []
            for variation in variations:
                language = "ja"
                for condition in variation.get("condition") or []:
                    if condition["name"] == "language":
                        language = str(condition["value"])
                parsed.append(_Variation(variation["text"], language, variation.get("channel")))
            self._responses[name] = parsed

    @property
    def response_names(self) -> frozenset[str]:
        return frozenset(self._responses)

    def placeholders(self, name: str) -> set[str]:
        return {
            field
            for variation in self._responses[name]
            for _, field, _, _ in string.Formatter().parse(variation.text)
            if field
        }

    def text(self, response: str, language: str = "ja", channel: str | None = None, /, **values: Any) -> str:
        """Render ``response`` in ``language`` (else its ``FALLBACKS``, else Japanese),
        preferring the ``channel`` variation."""
        variations = self._responses[response]
        in_language: list[_Variation] = []
        for candidate in (language, FALLBACKS.get(language, "ja"), "ja"):
            in_language = [v for v in variations if v.language == candidate]
            if in_language:
                break
        chosen = next((v for v in in_language if channel and v.channel == channel), None) or next(
            (v for v in in_language if v.channel is None), in_language[0]
        )
        return chosen.text.format_map(values) if values or "{" in chosen.text else chosen.text

    def check_required(self, required: Iterable[str]) -> None:
        """Fail unless every response the code needs exists in every language."""
        problems = []
        for name in sorted(set(required)):
            if name not in self._responses:
                problems.append(f"response '{name}' is used by the code but missing from domain.yml")
                continue
            languages = {v.language for v in self._responses[name] if v.channel is None}
            for language in LANGUAGES:
                if language not in languages:
                    problems.append(f"response '{name}' has no '{language}' variation (without a channel)")
        if problems:
            raise DomainError("; ".join(problems))


def parse_domain(text: str, source: str = "domain.yml") -> Domain:
    """Parse and validate domain text (schema, then sanity checks)."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        raise DomainError(f"{source}: not valid YAML: {error}") from None
    except DomainError as error:
        raise DomainError(f"{source}: {error}") from None
    try:
        jsonschema.validate(data, SCHEMA)
    except jsonschema.ValidationError as error:
        path = "/".join(str(part) for part in error.absolute_path) or "(top level)"
        raise DomainError(f"{source}: {path}: {error.message}") from None
    unknown = [intent for intent in data["intents"] if intent not in INTENTS]
    missing = [intent for intent in INTENTS if intent not in data["intents"]]
    if unknown or missing:
        raise DomainError(f"{source}: intents must be the taxonomy's; unknown {unknown}, missing {missing}")
    slots = set(data.get("slots") or {})
    for form, spec in (data.get("forms") or {}).items():
        undefined = [slot for slot in spec["required_slots"] if slot not in slots]
        if undefined:
            raise DomainError(f"{source}: form '{form}' requires undefined slots {undefined}")
    return Domain(data)


@lru_cache(maxsize=4)
def load_domain(path: Path | None = None) -> Domain:
    """Load domain.yml once per process."""
    path = Path(path or settings.domain_path)
    if not path.is_file():
        raise DomainError(f"{path}: file not found")
    return parse_domain(path.read_text(encoding="utf-8"), str(path))
