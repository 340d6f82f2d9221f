"""Safety layer that runs before any model: emergency signs and suicidal ideation.

The reviewed lexicon lives in ``intents/safety_lexicon.yml`` (each group says
why it is there). A message that matches an ``emergency`` entry gets 119/110
guidance before anything else; one that matches a ``crisis`` entry gets crisis
lines, whatever the classifier says. Negative patterns ("死ぬほど疲れた",
"火事のニュース", "might have collapsed") are masked out of the text first, so
they cannot fire an entry but do not hide a real sign elsewhere in the message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, NamedTuple

import yaml

from intents.normalize import katakana_to_hiragana, normalize

__all__ = ["LEXICON_PATH", "SafetyLexicon", "SafetyMatter", "SafetySignal", "detect_safety", "safety_matter"]

LEXICON_PATH = Path(__file__).resolve().parent / "safety_lexicon.yml"

_MASK = "□"
_SPACES_RE = re.compile(r"\s+")


@dataclass(frozen=True)
class SafetySignal:
    """A sign that the resident needs emergency or crisis guidance first.

    Attributes:
        kind: "emergency" (call 119/110 now) or "crisis" (suicidal ideation:
            crisis lines, and 119 if in danger).
        service: "119" (fire, medical) or "110" (weapon, violence, intruder)
            for an emergency; None for a crisis.
        matched: the lexicon pattern that fired, for audit. It may quote the
            resident's words, so never log it at INFO level.
    """

    kind: Literal["emergency", "crisis"]
    service: Literal["119", "110"] | None
    matched: str


@dataclass(frozen=True)
class _Entry:
    kind: Literal["emergency", "crisis"]
    service: Literal["119", "110"] | None
    source: str
    regex: re.Pattern[str]
    japanese: bool


def _ja_view(text: str) -> str:
    # Japanese patterns ignore the spaces that phone transcripts and
    # やさしい日本語 put between phrases, and kana script.
    return katakana_to_hiragana(_SPACES_RE.sub("", normalize(text).lower()))


def _en_view(text: str) -> str:
    return normalize(text).lower()


def _compile(pattern: str, japanese: bool) -> re.Pattern[str]:
    if japanese:
        return re.compile(katakana_to_hiragana(pattern))
    return re.compile(pattern, re.IGNORECASE)


class SafetyLexicon:
    """Compiled emergency, crisis and negative patterns.

    Args:
        document: the parsed YAML lexicon (see ``safety_lexicon.yml``).

    Raises:
        ValueError: a group lacks a reason, a service is not 119/110, or a
            pattern does not compile.
    """

    def __init__(self, document: dict[str, Any]) -> None:
        self._negatives_ja: list[re.Pattern[str]] = []
        self._negatives_en: list[re.Pattern[str]] = []
        self._entries: list[_Entry] = []
        for group in document.get("negatives") or []:
            self._require_reason(group, "negatives")
            self._negatives_ja += [_compile(p, True) for p in group.get("ja") or []]
            self._negatives_en += [_compile(p, False) for p in group.get("en") or []]
        for kind in ("emergency", "crisis"):
            for group in document.get(kind) or []:
                self._require_reason(group, kind)
                service = group.get("service") if kind == "emergency" else None
                if kind == "emergency" and service not in ("119", "110"):
                    raise ValueError(f"emergency group {group['why']!r}: service must be '119' or '110'")
                for japanese, key in ((True, "ja"), (False, "en")):
                    for pattern in group.get(key) or []:
                        self._entries.append(_Entry(kind, service, pattern, _compile(pattern, japanese), japanese))

    @staticmethod
    def _require_reason(group: dict[str, Any], section: str) -> None:
        if not str(group.get("why") or "").strip():
            raise ValueError(f"every {section} group in the safety lexicon needs a 'why'")

    @classmethod
    def from_yaml(cls, path: Path = LEXICON_PATH) -> "SafetyLexicon":
        """Load and compile a lexicon file.

        Args:
            path: the YAML lexicon; the reviewed default if omitted.

        Returns:
            The compiled lexicon.
        """
        return cls(yaml.safe_load(path.read_text(encoding="utf-8")) or {})

    @property
    def patterns(self) -> list[str]:
        """Every positive pattern as written in the lexicon (for tests and review)."""
        return [entry.source for entry in self._entries]

    @staticmethod
    def _mask(text: str, negatives: Iterable[re.Pattern[str]]) -> str:
        for negative in negatives:
            text = negative.sub(lambda m: _MASK * len(m.group(0)), text)
        return text

    def detect(self, text: str) -> SafetySignal | None:
        """Check one message.

        Emergency outranks crisis (an attempt under way needs 119, not only a
        helpline). Among emergency matches a 110 group wins: with a weapon or
        an attacker present the police come first and bring an ambulance.

        Args:
            text: the raw message.

        Returns:
            The signal, or None when nothing in the lexicon fires.
        """
        ja = self._mask(_ja_view(text), self._negatives_ja)
        en = self._mask(_en_view(text), self._negatives_en)
        fired = [e for e in self._entries if e.regex.search(ja if e.japanese else en)]
        if not fired:
            return None
        emergencies = [e for e in fired if e.kind == "emergency"]
        if emergencies:
            chosen = next((e for e in emergencies if e.service == "110"), emergencies[0])
        else:
            chosen = fired[0]
        return SafetySignal(kind=chosen.kind, service=chosen.service, matched=chosen.source)


@lru_cache(maxsize=1)
def default_lexicon() -> SafetyLexicon:
    """The reviewed lexicon shipped with tsunagu, compiled once per process."""
    return SafetyLexicon.from_yaml(LEXICON_PATH)


def detect_safety(text: str) -> SafetySignal | None:
    """Look for emergency signs or suicidal ideation in a message, before any model.

    Args:
        text: the raw message in any style (standard, Kansai, phone transcript,
            やさしい日本語, English).

    Returns:
        A SafetySignal when the flow must give 119/110 or crisis guidance
        first, else None.
    """
    return default_lexicon().detect(text)


class SafetyMatter(NamedTuple):
    """The intent (and topic) a safety signal stands for."""

    intent: str
    topic: str | None


def safety_matter(signal: SafetySignal) -> SafetyMatter:
    """What a safety signal means for routing; the one place that decides it.

    An emergency sign is the ``emergency`` intent (119/110). Suicidal ideation is
    ``ask_where`` with topic ``mental``: the ward's こころの相談, given together with
    the crisis lines.

    Args:
        signal: the result of :func:`detect_safety`.

    Returns:
        The intent and topic the message is handled as.
    """
    if signal.kind == "emergency":
        return SafetyMatter("emergency", None)
    return SafetyMatter("ask_where", "mental")
