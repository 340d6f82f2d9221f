"""Safety layer that runs before any model: emergency signs, suicidal ideation, welfare risks.

The reviewed lexicon lives in ``intents/safety_lexicon.yml`` (each group says
why it is there). A message that matches an ``emergency`` entry gets 119/110
guidance before anything else; one that matches a ``crisis`` entry gets crisis
lines, whatever the classifier says; one that matches a ``welfare`` entry (a
strange smell from a neighbour's flat, no answer at the door for days) gets
"ask the police (110) to check on them; 119 if you see someone collapsed" and
then the worry report. Negative patterns ("死ぬほど疲れた", "火事のニュース",
"might have collapsed") are masked out of the text first, so they cannot fire an
entry but do not hide a real sign elsewhere in the message; a negative group may
name the kinds it masks (「倒れているかも」 is no emergency but is a welfare risk).

A lexicon pattern is a regular expression, or a list of them that must all be
found in the message, in any order (「新聞がたまっている」 and 「返事がない」).

Each group lists its patterns by language, and each language is matched against its own
view of the message (``VIEWS``): Japanese without spaces and with katakana as hiragana;
Chinese and Korean without spaces (chats often drop Korean spacing); English and Nepali
(Devanagari as is, romanised Nepali too) lower-cased with their spaces; Vietnamese,
Tagalog, Portuguese and Spanish with diacritics folded as well, since residents often type
them without (「khong tho」 is 「không thở」). Only Japanese goes through
``intents.normalize.normalize``: neologdn glues words of other scripts together.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, NamedTuple

from bot.yaml_files import load_yaml
from intents.normalize import fold_diacritics, katakana_to_hiragana, normalize

__all__ = ["LEXICON_PATH", "SafetyLexicon", "SafetyMatter", "SafetySignal", "detect_safety", "safety_matter"]

LEXICON_PATH = Path(__file__).resolve().parent / "safety_lexicon.yml"

_MASK = "□"
_SPACES_RE = re.compile(r"\s+")

Kind = Literal["emergency", "crisis", "welfare"]
# In order of precedence: a life in danger now, then suicidal ideation, then a risk to check on.
KINDS: tuple[Kind, ...] = ("emergency", "crisis", "welfare")


@dataclass(frozen=True)
class SafetySignal:
    """A sign that the resident needs emergency or crisis guidance first.

    Attributes:
        kind: "emergency" (call 119/110 now), "crisis" (suicidal ideation:
            crisis lines, and 119 if in danger) or "welfare" (someone may be
            lying inside: ask the police, 110, to check on them; 119 if they
            can be seen collapsed).
        service: "119" (fire, medical) or "110" (weapon, violence, intruder,
            a welfare check) for an emergency or a welfare risk; None for a crisis.
        matched: the lexicon pattern that fired, for audit. It may quote the
            resident's words, so never log it at INFO level.
        situation: the lexicon group's situation when the guidance depends on
            it ("fire": get out first; "gas"; "attempt": a suicide attempt), else None.
        group: the lexicon group that fired, by its reason (``why``): the safety model's
            veto is learned per group (:mod:`intents.urgency`).
    """

    kind: Kind
    service: Literal["119", "110"] | None
    matched: str
    situation: str | None = None
    group: str = ""


@dataclass(frozen=True)
class _Entry:
    kind: Kind
    service: Literal["119", "110"] | None
    situation: str | None
    group: str
    source: str
    # Every one must be found (a conjunction of signs); usually just one.
    regexes: tuple[re.Pattern[str], ...]
    view: str

    def search(self, text: str) -> bool:
        return all(regex.search(text) for regex in self.regexes)


@dataclass(frozen=True)
class _Negative:
    regex: re.Pattern[str]
    view: str
    masks: frozenset[str]


def _ja_view(text: str) -> str:
    # Japanese patterns ignore the spaces that phone transcripts and
    # やさしい日本語 put between phrases, and kana script.
    return katakana_to_hiragana(_SPACES_RE.sub("", normalize(text).lower()))


def _en_view(text: str) -> str:
    return normalize(text).lower()


def _plain_view(text: str) -> str:
    return _SPACES_RE.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


def _compact_view(text: str) -> str:
    return _SPACES_RE.sub("", unicodedata.normalize("NFKC", text).lower())


def _folded_view(text: str) -> str:
    return fold_diacritics(_plain_view(text))


_VIEW_FUNCTIONS: dict[str, Callable[[str], str]] = {
    "ja": _ja_view, "en": _en_view, "compact": _compact_view, "plain": _plain_view, "folded": _folded_view}
# The view of the message each language's patterns are matched against. Languages that
# share a view share its negatives too: 「incendio」 in a Spanish telenovela must not
# fire the Portuguese 「incendio」 either.
VIEWS: dict[str, str] = {
    "ja": "ja", "en": "en", "zh": "compact", "ko": "compact", "ne": "plain",
    "vi": "folded", "tl": "folded", "pt": "folded", "es": "folded",
}
# A view is read only when the message, so viewed, has its script: a Japanese message skips
# the Latin-script views, an English one the Japanese, Chinese and Korean views. Every
# Japanese pattern needs kana or kanji but two (119 and AED written in Latin letters), and
# every English one a Latin letter or a digit (checked by tests/intents/test_safety.py).
_LATIN = r"A-Za-z\u00c0-\u024f\u1e00-\u1eff"
_KANA_KANJI = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_VIEW_SCRIPTS: dict[str, re.Pattern[str]] = {
    "ja": re.compile(rf"[{_KANA_KANJI}]|119|aed"),
    "en": re.compile(r"[a-z0-9]"),
    "compact": re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]"),
    "plain": re.compile(rf"[\u0900-\u097f{_LATIN}]"),
    "folded": re.compile(rf"[{_LATIN}]"),
}
# How a pattern is made comparable with its view.
_PATTERN_FOLDS: dict[str, Callable[[str], str]] = {"ja": katakana_to_hiragana, "folded": fold_diacritics}


def _compile(pattern: str, view: str) -> re.Pattern[str]:
    return re.compile(_PATTERN_FOLDS.get(view, str)(pattern), re.IGNORECASE)


class SafetyLexicon:
    """Compiled emergency, crisis and negative patterns.

    Args:
        document: the parsed YAML lexicon (see ``safety_lexicon.yml``).

    Raises:
        ValueError: a group lacks a reason, a service is not 119/110, or a
            pattern does not compile.
    """

    def __init__(self, document: dict[str, Any]) -> None:
        self._negatives: list[_Negative] = []
        self._entries: list[_Entry] = []
        for group in document.get("negatives") or []:
            self._require_reason(group, "negatives")
            masks = frozenset(group.get("masks") or KINDS)
            if not masks <= set(KINDS):
                raise ValueError(f"negatives group {group['why']!r}: masks must name kinds among {KINDS}")
            for language, view in VIEWS.items():
                self._negatives += [_Negative(_compile(p, view), view, masks) for p in group.get(language) or []]
        for kind in KINDS:
            for group in document.get(kind) or []:
                self._require_reason(group, kind)
                service = group.get("service") if kind != "crisis" else None
                if kind != "crisis" and service not in ("119", "110"):
                    raise ValueError(f"{kind} group {group['why']!r}: service must be '119' or '110'")
                situation = group.get("situation")
                reason = " ".join(str(group["why"]).split())
                for language, view in VIEWS.items():
                    for pattern in group.get(language) or []:
                        parts = [pattern] if isinstance(pattern, str) else list(pattern)
                        source = pattern if isinstance(pattern, str) else " & ".join(parts)
                        regexes = tuple(_compile(part, view) for part in parts)
                        self._entries.append(_Entry(kind, service, situation, reason, source, regexes, view))
        # Grouped once by kind and view: a message is matched only against the patterns of the
        # views its script calls for (looping over every pattern cost ~0.6 ms a message).
        self._negatives_of = {(view, kind): [n.regex for n in self._negatives if n.view == view and kind in n.masks]
                              for view in _VIEW_FUNCTIONS for kind in KINDS}
        self._entries_of = {(view, kind): [(order, e) for order, e in enumerate(self._entries)
                                           if e.view == view and e.kind == kind]
                            for view in _VIEW_FUNCTIONS for kind in KINDS}

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
        return cls(load_yaml(path.read_text(encoding="utf-8")) or {})

    @property
    def patterns(self) -> list[str]:
        """Every positive pattern as written in the lexicon (for tests and review)."""
        return [entry.source for entry in self._entries]

    def _mask(self, text: str, view: str, kind: Kind) -> str:
        for negative in self._negatives_of[(view, kind)]:
            text = negative.sub(lambda m: _MASK * len(m.group(0)), text)
        return text

    def detect(self, text: str) -> SafetySignal | None:
        """Check one message.

        Emergency outranks crisis (an attempt under way needs 119, not only a
        helpline), and both outrank a welfare risk. Among emergency matches a
        110 group wins: with a weapon or an attacker present the police come
        first and bring an ambulance.

        Args:
            text: the raw message.

        Returns:
            The signal, or None when nothing in the lexicon fires.
        """
        views = {view: viewed for view, function in _VIEW_FUNCTIONS.items()
                 if _VIEW_SCRIPTS[view].search(viewed := function(text))}
        for kind in KINDS:
            # Each kind sees the text with its own negatives masked out, in each view.
            fired: list[tuple[int, _Entry]] = []
            for view, viewed in views.items():
                if entries := self._entries_of[(view, kind)]:
                    masked = self._mask(viewed, view, kind)
                    fired += [(order, entry) for order, entry in entries if entry.search(masked)]
            if fired:
                # In the lexicon's order across views, as written: the first group wins.
                in_order = [entry for _, entry in sorted(fired, key=lambda pair: pair[0])]
                chosen = next((e for e in in_order if e.service == "110"), in_order[0]) if kind == "emergency" else in_order[0]
                return SafetySignal(chosen.kind, chosen.service, chosen.source, chosen.situation, chosen.group)
        return None


@lru_cache(maxsize=1)
def default_lexicon() -> SafetyLexicon:
    """The reviewed lexicon shipped with tsunagu, compiled once per process."""
    return SafetyLexicon.from_yaml(LEXICON_PATH)


def detect_safety(text: str) -> SafetySignal | None:
    """Look for emergency signs, suicidal ideation or a welfare risk in a message, before any model.

    Args:
        text: the raw message in any style (standard, Kansai, phone transcript,
            やさしい日本語) and language (English, Chinese, Korean, Vietnamese,
            Tagalog, Portuguese, Nepali, Spanish).

    Returns:
        A SafetySignal when the flow must give 119/110, crisis or welfare-check
        guidance first, else None.
    """
    # A turn reads the same words twice (the engine's safety layer, then the classifier): the
    # last answer is kept, and only the last, so no message lingers here longer than a turn.
    global _last_detected
    last = _last_detected  # one read: another thread may replace it meanwhile
    if last is not None and last[0] == text:
        return last[1]
    signal = default_lexicon().detect(text)
    _last_detected = (text, signal)
    return signal


_last_detected: tuple[str, SafetySignal | None] | None = None


class SafetyMatter(NamedTuple):
    """The intent (and topic) a safety signal stands for."""

    intent: str
    topic: str | None


def safety_matter(signal: SafetySignal) -> SafetyMatter:
    """What a safety signal means for routing; the one place that decides it.

    An emergency sign is the ``emergency`` intent (119/110). Suicidal ideation is
    ``ask_where`` with topic ``mental``: the ward's こころの相談, given together with
    the crisis lines. A welfare risk is ``report_worry``: after the 110/119 advice the
    見守り相談室 hears of it too.

    Args:
        signal: the result of :func:`detect_safety`.

    Returns:
        The intent and topic the message is handled as.
    """
    if signal.kind == "emergency":
        return SafetyMatter("emergency", None)
    if signal.kind == "welfare":
        return SafetyMatter("report_worry", None)
    return SafetyMatter("ask_where", "mental")
