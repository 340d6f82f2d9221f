"""domain.yml: load it once, validate it at start-up, and render responses.

The file is in Rasa 3.x domain format. Languages are Rasa conditional response
variations on the ``language`` slot; the variation without a condition is Japanese.
The residents' other languages (zh, zh-Hant, ko, vi, tl, pt, ne, es) and やさしい日本語
(a variation conditioned on the ``register`` slot being ``easy``) live in the
``responses/`` folder beside domain.yml, one file per language in the same format,
merged variation by variation, so a city edits or adds one language without touching
the others. Japanese and English are required; a response not translated into a
resident's language is given in やさしい日本語 and English (the engine says so once).
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
from bot.yaml_files import SafeLoader

__all__ = ["Domain", "DomainError", "load_domain", "parse_domain"]

LANGUAGES = ("ja", "en")
"""Every response the code uses exists in these languages (checked at start-up)."""
RESIDENT_LANGUAGES = ("ja", "en", "zh", "zh-Hant", "ko", "vi", "tl", "pt", "ne", "es")
"""The languages tsunagu detects and ships translations for (``responses/``)."""
EASY = "easy"
"""The ``register`` slot value of やさしい日本語 variations."""
TRANSLATIONS_DIR = "responses"
"""The folder beside domain.yml holding one response file per language."""
# A traditional-Chinese reader reads simplified better than the fallback of last resort.
FALLBACKS: dict[str, str] = {"zh-Hant": "zh"}
# Said between the two halves of an untranslated response.
_UNTRANSLATED_JOIN = "\n\n"

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


class _UniqueKeyLoader(SafeLoader):
    """PyYAML silently keeps the last of two equal keys; a domain must not."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise DomainError(f"duplicate key '{key}' at line {key_node.start_mark.line + 1}")
        seen.add(key)
    return SafeLoader.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


@dataclass(frozen=True)
class _Variation:
    text: str
    language: str
    channel: str | None
    register: str | None


def _variations(variations: Iterable[Mapping[str, Any]]) -> list[_Variation]:
    parsed = []
    for variation in variations:
        conditions = {str(c["name"]): str(c["value"]) for c in variation.get("condition") or []}
        parsed.append(_Variation(variation["text"], conditions.get("language", "ja"), variation.get("channel"),
                                 conditions.get("register")))
    return parsed


class Domain:
    """The validated domain: intents, slots, forms and the responses in each language."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.intents: tuple[str, ...] = tuple(data["intents"])
        self.slots: dict[str, Any] = dict(data.get("slots") or {})
        self.forms: dict[str, list[str]] = {
            name: list(form["required_slots"]) for name, form in (data.get("forms") or {}).items()
        }
        self._responses: dict[str, list[_Variation]] = {
            name: _variations(variations) for name, variations in data["responses"].items()
        }
        self._names_by_text: dict[str, dict[str, str]] = {}  # language → text → response, built on demand

    def add_translations(self, responses: Mapping[str, Any], source: str) -> None:
        """Merge a ``responses/`` file's variations; a name domain.yml lacks, a variation
        given twice or a placeholder the Japanese text does not have is an error."""
        problems = []
        for name, variations in responses.items():
            if name not in self._responses:
                problems.append(f"'{name}' is not a response of domain.yml")
                continue
            known = {(v.language, v.channel, v.register) for v in self._responses[name]}
            allowed = self.placeholders(name, language="ja")
            for variation in _variations(variations):
                if (variation.language, variation.channel, variation.register) in known:
                    problems.append(f"'{name}' has its {variation.language} variation twice")
                extra = _fields(variation.text) - allowed
                if extra:
                    problems.append(f"'{name}' ({variation.language}) uses {sorted(extra)}, unknown to its Japanese text")
                self._responses[name].append(variation)
        self._names_by_text.clear()
        if problems:
            raise DomainError(f"{source}: " + "; ".join(problems))

    @property
    def response_names(self) -> frozenset[str]:
        return frozenset(self._responses)

    def name_of(self, text: str, language: str) -> str | None:
        """The response whose ``language`` variation is ``text`` word for word (a button's title),
        None when none is (a place name, a text with values filled in)."""
        if language not in self._names_by_text:
            names: dict[str, str] = {}
            for name, variations in sorted(self._responses.items()):
                for variation in variations:
                    if variation.language == language and "{" not in variation.text:
                        names.setdefault(variation.text, name)
            self._names_by_text[language] = names
        return self._names_by_text[language].get(text)

    def placeholders(self, name: str, language: str | None = None) -> set[str]:
        """The {fields} of a response's variations (of one language if given)."""
        return {
            field
            for variation in self._responses[name]
            if language is None or variation.language == language
            for field in _fields(variation.text)
        }

    def translated(self, response: str, language: str) -> bool:
        """Whether ``response`` can be given in ``language`` (or the language it falls back to)."""
        languages = {v.language for v in self._responses[response]}
        return language in languages or FALLBACKS.get(language) in languages

    def languages(self, response: str) -> frozenset[str]:
        """The languages ``response`` has a variation in."""
        return frozenset(v.language for v in self._responses[response])

    def text(self, response: str, language: str = "ja", channel: str | None = None, /, *,
             register: str | None = None, **values: Any) -> str:
        """Render ``response`` in ``language``, preferring the ``channel`` variation, then the
        ``register`` one (やさしい日本語). A language without a variation (nor a ``FALLBACKS``
        one) gets the Japanese in やさしい日本語 and the English, one after the other — except
        on the phone, where one voice reads one language: English."""
        variations = self._responses[response]
        for candidate in (language, FALLBACKS.get(language)):
            if candidate is not None and any(v.language == candidate for v in variations):
                return self._render(variations, candidate, channel, register, values)
        if language in ("ja", "en") or channel == "voice":
            return self._render(variations, "en" if language == "en" or channel == "voice" else "ja",
                                channel, register, values)
        return _UNTRANSLATED_JOIN.join((self._render(variations, "ja", channel, EASY, values),
                                        self._render(variations, "en", channel, None, values)))

    @staticmethod
    def _render(variations: list[_Variation], language: str, channel: str | None, register: str | None,
                values: Mapping[str, Any]) -> str:
        in_language = [v for v in variations if v.language == language] or [v for v in variations if v.language == "ja"]
        ranked = sorted(in_language, key=lambda v: (not (channel and v.channel == channel),
                                                    v.channel is not None and v.channel != channel,
                                                    v.register != register))
        chosen = ranked[0]
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


def _fields(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


def _load_yaml(text: str, source: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a safe loader's subclass
    except yaml.YAMLError as error:
        raise DomainError(f"{source}: not valid YAML: {error}") from None
    except DomainError as error:
        raise DomainError(f"{source}: {error}") from None
    try:
        jsonschema.validate(data, schema)
    except jsonschema.ValidationError as error:
        path = "/".join(str(part) for part in error.absolute_path) or "(top level)"
        raise DomainError(f"{source}: {path}: {error.message}") from None
    return data


TRANSLATION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["version", "responses"],
    "properties": {"version": {"type": "string"}, "responses": SCHEMA["properties"]["responses"]},
    "additionalProperties": False,
}


def parse_domain(text: str, source: str = "domain.yml") -> Domain:
    """Parse and validate domain text (schema, then sanity checks)."""
    data = _load_yaml(text, source, SCHEMA)
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
    """Load domain.yml and the translations beside it, once per process."""
    path = Path(path or settings.domain_path)
    if not path.is_file():
        raise DomainError(f"{path}: file not found")
    domain = parse_domain(path.read_text(encoding="utf-8"), str(path))
    for translation in sorted((path.parent / TRANSLATIONS_DIR).glob("*.yml")):
        data = _load_yaml(translation.read_text(encoding="utf-8"), str(translation), TRANSLATION_SCHEMA)
        domain.add_translations(data["responses"], str(translation))
    return domain
