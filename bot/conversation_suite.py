"""The conversation suite: whole resident conversations with the effects they must have,
replayed through the conversation engine and scored by class and by style.

A suite is a directory of YAML files (``tests/conversations/*.yml``, the format is
docs/conversation-suite.md). Each conversation is a list of resident messages and
expectations written in the conversation contract's stable names
(docs/conversation-contract.md): effect kinds and their data, response names, the flow.
Every turn is turned into the contract's JSON object by the same function as
``tsunagu chat --script --jsonl`` (:func:`bot.messages.turn_record`), and the
expectations are checked against those objects, never against wording.

The runner takes the engine's ``handle`` from its caller (``bot.cli``, tests): it
builds no engine and imports no channel. Each conversation runs at its own stated
instant (``InboundMessage.received_at``), so opening hours do not depend on the clock.
"""

from __future__ import annotations

import math
import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.markup import escape

from bot.console_io import table
from bot.domain import RESIDENT_LANGUAGES
from bot.messages import InboundMessage, TurnResult, turn_record
from bot.yaml_files import load_yaml

__all__ = [
    "CLASSES",
    "DEFAULT_AT",
    "LANGUAGES",
    "NEW_RESIDENT",
    "STYLES",
    "Check",
    "Conversation",
    "ConversationResult",
    "Handler",
    "SuiteError",
    "SuiteReport",
    "TurnSpec",
    "TARGET_EMERGENCY",
    "TARGET_RATE",
    "load_suite",
    "parse_conversations",
    "print_report",
    "run_conversation",
    "run_suite",
]

Handler = Callable[[InboundMessage], TurnResult]
"""The engine's entry point (``ConversationEngine.handle``)."""

# What a conversation is about (issue 11's classes of whole conversations).
CLASSES = (
    "where_to_ask",  # the one right counter for a resident's own problem
    "worry_report",  # a worry about a neighbour, from the first message to the case
    "missing_report",  # a family reports a missing relative
    "emergency",  # 119/110 or the crisis lines, at the start or in the middle of a flow
    "risk_signs",  # smell, no answer at the door, lights on for days: guidance before questions
    "ways_out",  # cancel, start again, corrections, "found", never mind
    "places",  # a place at the right precision: ward only, わからない, outside the city
    "linking",  # a repeat report joins a case only for the same household
    "handoff",  # a person, in and out of hours, with a way to follow up
    "answer_stays",  # after an answer, a bare place refines it and never switches the topic
    "language",  # the language of each message decides the language of the replies
)
# How the resident writes, in whatever language (the language is ``language``, not a style).
STYLES = (
    "standard", "casual", "kansai", "dialect", "elderly", "phone", "easy", "english", "mixed",
)  # fmt: skip
# The expected language of the replies: one of the residents' languages for the whole
# conversation, or per turn only (each turn's ``language`` expectation).
LANGUAGES = (*RESIDENT_LANGUAGES, "per_turn")
# Languages whose readers read Latin letters, not kanji: every button of theirs is in romaji.
LATIN_SCRIPT = frozenset({"en", "vi", "tl", "pt", "es"})

TOKYO = ZoneInfo("Asia/Tokyo")
# A Tuesday morning: every counter of the sample city is open.
DEFAULT_AT = datetime(2026, 12, 1, 10, 0, tzinfo=TOKYO)
# The time between two messages of a conversation (well under any conversation timeout).
TURN_GAP = timedelta(seconds=20)
# A line of ``turns`` that starts a new resident (a new contact) in the same conversation.
NEW_RESIDENT = "---"
_LOCATION = re.compile(r"^@\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*$")
_LATIN = re.compile(r"[A-Za-z]")

# The bar of issue 11: the suite passes at least 95 % overall and every emergency expectation holds.
TARGET_RATE = 0.95
TARGET_EMERGENCY = 1.0

# The safety layer's effects: an expectation of one of them is an emergency expectation.
SAFETY_KINDS = frozenset({"emergency_guidance", "crisis_guidance"})
# Prefixes of the response names of safety guidance (checked by ``guidance_first``): 119/110,
# the crisis lines, a welfare check. Built, not written out, because they are prefixes, not
# names: tests/bot/test_domain.py checks every quoted utter_* literal is a response.
GUIDANCE_PREFIXES = tuple(f"utter_{kind}" for kind in ("emergency", "crisis", "welfare"))

_CONVERSATION_KEYS = frozenset({"id", "class", "style", "language", "turns", "expect", "at", "channel", "hint",
                                "note"})
_DEFAULT_KEYS = frozenset({"class", "style", "language", "at", "channel", "hint"})
_CONVERSATION_EXPECT = frozenset({"effects", "no_effects", "responses", "no_responses", "flow", "allow_repeats"})
_TURN_EXPECT = frozenset({"effects", "no_effects", "responses", "no_responses", "flow", "language",
                          "guidance_first"})
_TURN_KEYS = frozenset({"say", "expect"})
_OPERATORS = frozenset({"present", "contains", "not"})


class SuiteError(ValueError):
    """A suite file that cannot be run as written (names the file and the conversation)."""


@dataclass(frozen=True)
class TurnSpec:
    """One line of a conversation: a message (or ``---``) and what that turn must do."""

    text: str
    expect: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Conversation:
    """A whole conversation of the suite and what it must do."""

    id: str
    klass: str
    style: str
    language: str
    turns: tuple[TurnSpec, ...]
    expect: Mapping[str, Any]
    at: datetime = DEFAULT_AT
    channel: str = "console"
    # The channel's language hint sent with every message (a browser's or an app's locale).
    hint: str | None = None
    source: str = ""
    # A regression of a filed issue rather than a blind conversation (the file says so).
    regression: str | None = None


@dataclass(frozen=True)
class Check:
    """One expectation, checked: what was expected, whether it held, and what happened instead."""

    expectation: str
    passed: bool
    detail: str = ""
    # An expectation that the safety layer gives 119/110 or the crisis lines.
    emergency: bool = False


@dataclass
class ConversationResult:
    """A conversation as it ran: the contract's turn objects and every expectation checked."""

    conversation: Conversation
    records: list[dict[str, Any]]
    checks: list[Check]

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [check for check in self.checks if not check.passed]


@dataclass
class SuiteReport:
    """The suite's results and its figures."""

    results: list[ConversationResult]

    @property
    def total(self) -> int:
        return len(self.results)

    @property
    def passed(self) -> int:
        return sum(result.passed for result in self.results)

    @property
    def rate(self) -> float:
        return self.passed / self.total if self.total else 0.0

    def by(self, attribute: str) -> dict[str, tuple[int, int]]:
        """(passed, total) per value of a conversation attribute (``klass``, ``style`` or ``language``), in
        suite order."""
        tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for result in self.results:
            counts = tally[getattr(result.conversation, attribute)]
            counts[0] += result.passed
            counts[1] += 1
        return {name: (passed, total) for name, (passed, total) in tally.items()}

    @property
    def emergency(self) -> tuple[int, int]:
        """(held, total) of the emergency expectations of every conversation."""
        checks = [check for result in self.results for check in result.checks if check.emergency]
        return sum(check.passed for check in checks), len(checks)

    @property
    def failed(self) -> list[ConversationResult]:
        return [result for result in self.results if not result.passed]


# --------------------------------------------------------------------------- loading


def load_suite(directory: Path) -> list[Conversation]:
    """Every conversation of the ``*.yml`` files in ``directory``, files in name order.

    Raises:
        SuiteError: a file is malformed, a name is unknown or an id is used twice.
    """
    files = sorted(Path(directory).glob("*.yml"))
    if not files:
        raise SuiteError(f"no *.yml conversation files in {directory}")
    conversations: list[Conversation] = []
    for path in files:
        conversations.extend(parse_conversations(path.read_text(encoding="utf-8"), source=path.name))
    seen: set[str] = set()
    for conversation in conversations:
        if conversation.id in seen:
            raise SuiteError(f"{conversation.source}: conversation id {conversation.id!r} is used twice")
        seen.add(conversation.id)
    return conversations


def parse_conversations(text: str, *, source: str = "<suite>") -> list[Conversation]:
    """The conversations of one suite file's YAML text (see docs/conversation-suite.md)."""
    document = load_yaml(text)
    if not isinstance(document, Mapping) or not isinstance(document.get("conversations"), list):
        raise SuiteError(f"{source}: a suite file is a mapping with a 'conversations' list")
    unknown = set(document) - {"conversations", "defaults", "regression"}
    if unknown:
        raise SuiteError(f"{source}: unknown top-level keys {sorted(unknown)}")
    defaults = document.get("defaults") or {}
    if not isinstance(defaults, Mapping) or set(defaults) - _DEFAULT_KEYS:
        raise SuiteError(f"{source}: 'defaults' may set only {sorted(_DEFAULT_KEYS)}")
    regression = document.get("regression")
    return [_conversation({**defaults, **item} if isinstance(item, Mapping) else item, source,
                          str(regression) if regression else None)
            for item in document["conversations"]]


def _conversation(item: Any, source: str, regression: str | None) -> Conversation:
    if not isinstance(item, Mapping) or not item.get("id"):
        raise SuiteError(f"{source}: every conversation is a mapping with an 'id'")
    where = f"{source}: {item['id']}"
    unknown = set(item) - _CONVERSATION_KEYS
    if unknown:
        raise SuiteError(f"{where}: unknown keys {sorted(unknown)}")
    for key, allowed in (("class", CLASSES), ("style", STYLES), ("language", LANGUAGES)):
        if item.get(key) not in allowed:
            raise SuiteError(f"{where}: {key} must be one of {', '.join(allowed)} (got {item.get(key)!r})")
    turns = item.get("turns")
    if not isinstance(turns, list) or not turns:
        raise SuiteError(f"{where}: 'turns' is a non-empty list")
    expect = item.get("expect") or {}
    _check_expect(expect, _CONVERSATION_EXPECT, where)
    hint = item.get("hint")
    if hint is not None and hint not in RESIDENT_LANGUAGES:
        raise SuiteError(f"{where}: hint must be one of {', '.join(RESIDENT_LANGUAGES)} (got {hint!r})")
    return Conversation(
        id=str(item["id"]), klass=item["class"], style=item["style"], language=item["language"],
        turns=tuple(_turn(turn, where) for turn in turns), expect=expect, at=_instant(item.get("at"), where),
        channel=str(item.get("channel") or "console"), hint=hint, source=source, regression=regression,
    )


def _turn(turn: Any, where: str) -> TurnSpec:
    if isinstance(turn, str | int | float) and not isinstance(turn, bool):
        return TurnSpec(str(turn))
    if not isinstance(turn, Mapping) or "say" not in turn or set(turn) - _TURN_KEYS:
        raise SuiteError(f"{where}: a turn is a message, or a mapping with 'say' and 'expect'")
    expect = turn.get("expect") or {}
    _check_expect(expect, _TURN_EXPECT, where)
    if "language" in expect and expect["language"] not in RESIDENT_LANGUAGES:
        raise SuiteError(f"{where}: a turn's language must be one of {', '.join(RESIDENT_LANGUAGES)} "
                         f"(got {expect['language']!r})")
    text = str(turn["say"])
    if text == NEW_RESIDENT and expect:
        raise SuiteError(f"{where}: a {NEW_RESIDENT} line has no expectations")
    return TurnSpec(text, expect)


def _check_expect(expect: Any, allowed: frozenset[str], where: str) -> None:
    if not isinstance(expect, Mapping) or set(expect) - allowed:
        raise SuiteError(f"{where}: expectations may name only {sorted(allowed)} (got {expect!r})")
    for key in ("effects", "no_effects"):
        for effect in expect.get(key) or []:
            if not isinstance(effect, Mapping) or not effect.get("kind"):
                raise SuiteError(f"{where}: every expected effect is a mapping with a 'kind'")
    for key in ("responses", "no_responses"):
        names = expect.get(key)
        if names is not None and (not isinstance(names, list) or not all(_names_ok(name, key) for name in names)):
            raise SuiteError(f"{where}: {key} is a list of response names (in responses, a list is any of them)")


def _names_ok(name: Any, key: str) -> bool:
    if isinstance(name, list):
        return key == "responses" and bool(name) and all(isinstance(item, str) for item in name)
    return isinstance(name, str)


def _instant(value: Any, where: str) -> datetime:
    if value is None:
        return DEFAULT_AT
    try:
        instant = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        raise SuiteError(f"{where}: 'at' is an ISO 8601 time with its offset, e.g. 2026-12-01T10:00+09:00") from None
    if instant.tzinfo is None:
        raise SuiteError(f"{where}: 'at' needs its offset (+09:00)")
    return instant


# --------------------------------------------------------------------------- running


def run_suite(handle: Handler, conversations: Iterable[Conversation]) -> SuiteReport:
    """Run every conversation through ``handle`` (one database, each resident a new contact)."""
    run_id = uuid.uuid4().hex[:8]
    return SuiteReport([run_conversation(handle, conversation, number=number, run_id=run_id)
                        for number, conversation in enumerate(conversations, start=1)])


def run_conversation(handle: Handler, conversation: Conversation, *, number: int = 1,
                     run_id: str | None = None) -> ConversationResult:
    """Send the conversation's messages to ``handle`` at its stated time and check its expectations.

    Args:
        handle: the engine's entry point.
        conversation: what to send and what must happen.
        number: the conversation's number in the contract's turn objects.
        run_id: makes the residents' ids unique on a database that already holds a run.
    """
    run_id = run_id or uuid.uuid4().hex[:8]
    resident = 1
    now = conversation.at
    records: list[dict[str, Any]] = []
    checks: list[Check] = []
    for spec in conversation.turns:
        if spec.text == NEW_RESIDENT:
            resident += 1
            continue
        now += TURN_GAP
        user_id = _user_id(conversation, run_id, resident)
        message = _message(conversation, spec.text, user_id, f"{user_id}:{len(records) + 1}", now)
        record = turn_record(number, len(records) + 1, spec.text, handle(message))
        records.append(record)
        checks.extend(_turn_checks(spec.expect, record))
    checks.extend(_conversation_checks(conversation, records))
    return ConversationResult(conversation, records, checks)


def _user_id(conversation: Conversation, run_id: str, resident: int) -> str:
    if conversation.channel == "voice":
        # The phone line's user id is the caller's number (E.164); a fictional mobile number per resident.
        digits = int(uuid.uuid5(uuid.NAMESPACE_URL, f"{run_id}/{conversation.id}/{resident}").hex[:8], 16) % 10**8
        return f"+8190{digits:08d}"
    return f"suite-{run_id}-{conversation.id}-{resident}"


def _message(conversation: Conversation, text: str, user_id: str, event_id: str, now: datetime) -> InboundMessage:
    location = _LOCATION.match(text)
    common: dict[str, Any] = {"channel": conversation.channel, "user_id": user_id, "event_id": event_id,
                              "received_at": now, "language": conversation.hint}
    if location:
        return InboundMessage(latitude=float(location.group(1)), longitude=float(location.group(2)), **common)
    return InboundMessage(text=text, **common)


# --------------------------------------------------------------------------- checking


def _turn_checks(expect: Mapping[str, Any], record: dict[str, Any]) -> list[Check]:
    where = f"turn {record['turn']}"
    checks = _effect_checks(expect, record["effects"], where)
    checks += _response_checks(expect, [reply["response"] for reply in record["replies"]], where)
    if "flow" in expect:
        checks.append(_flow_check(expect["flow"], record["flow"], where))
    if "language" in expect:
        checks.append(_language_check(expect["language"], [record], where))
    if expect.get("guidance_first"):
        checks.append(_guidance_first(record, where))
    return checks


def _conversation_checks(conversation: Conversation, records: list[dict[str, Any]]) -> list[Check]:
    expect = conversation.expect
    effects = [effect for record in records for effect in record["effects"]]
    responses = [reply["response"] for record in records for reply in record["replies"]]
    checks = _effect_checks(expect, effects, "conversation")
    checks += _response_checks(expect, responses, "conversation")
    if "flow" in expect:
        checks.append(_flow_check(expect["flow"], records[-1]["flow"], "at the end"))
    if conversation.language != "per_turn":
        checks.append(_language_check(conversation.language, records, "every turn"))
    if not expect.get("allow_repeats"):
        checks.append(_no_loop(records))
    return checks


def _effect_checks(expect: Mapping[str, Any], effects: list[dict[str, Any]], where: str) -> list[Check]:
    checks = []
    for wanted in expect.get("effects") or []:
        pattern = {key: value for key, value in wanted.items() if key != "times"}
        found = sum(_matches(pattern, effect) for effect in effects)
        times = wanted.get("times")
        passed = found == times if times is not None else found > 0
        label = f"{where}: effect {_describe(pattern)}" + (f" exactly {times} time(s)" if times is not None else "")
        checks.append(Check(label, passed, "" if passed else f"found {found} in {_summary(effects)}",
                            emergency=wanted["kind"] in SAFETY_KINDS))
    for unwanted in expect.get("no_effects") or []:
        hits = [effect for effect in effects if _matches(unwanted, effect)]
        checks.append(Check(f"{where}: no effect {_describe(unwanted)}", not hits,
                            "" if not hits else f"got {_summary(hits)}"))
    return checks


def _response_checks(expect: Mapping[str, Any], responses: list[str | None], where: str) -> list[Check]:
    checks = []
    for wanted in expect.get("responses") or []:
        # A list: any one of these responses (the same thing said under either name).
        options = wanted if isinstance(wanted, list) else [wanted]
        said = any(name in responses for name in options)
        label = " or ".join(options)
        checks.append(Check(f"{where}: response {label}", said, "" if said else f"said {_names(responses)}"))
    for name in expect.get("no_responses") or []:
        checks.append(Check(f"{where}: no response {name}", name not in responses,
                            "" if name not in responses else f"said {_names(responses)}"))
    return checks


def _flow_check(expected: Any, actual: Any, where: str) -> Check:
    passed = _matches(expected, actual)
    return Check(f"{where}: flow {expected!r}", passed, "" if passed else f"flow is {actual!r}")


def _language_check(language: str, records: Sequence[dict[str, Any]], where: str) -> Check:
    """The turns' language is ``language``; in a Latin-script language every button has Latin
    letters (wards and towns in romaji, not kanji)."""
    wrong = [record["turn"] for record in records if record["language"] != language]
    kanji_buttons = [choice for record in records for reply in record["replies"] for choice in reply["choices"]
                     if language in LATIN_SCRIPT and not _LATIN.search(choice)]
    passed = not wrong and not kanji_buttons
    detail = "" if passed else (f"language differs at turns {wrong}" if wrong else f"buttons {kanji_buttons[:4]}")
    return Check(f"{where}: replies in {language}", passed, detail)


def _guidance_first(record: dict[str, Any], where: str) -> Check:
    """Safety guidance in this turn, and said before anything else (no question comes first)."""
    guided = any(effect["kind"] in SAFETY_KINDS for effect in record["effects"])
    first = record["replies"][0]["response"] if record["replies"] else None
    passed = guided and bool(first) and str(first).startswith(GUIDANCE_PREFIXES)
    return Check(f"{where}: safety guidance before anything else", passed,
                 "" if passed else f"effects {_summary(record['effects'])}, first reply {first}", emergency=True)


def _no_loop(records: list[dict[str, Any]]) -> Check:
    """Never the same question a third time: no last reply repeated in three turns running."""
    lasts = [(record["replies"][-1]["response"], record["replies"][-1]["text"]) if record["replies"] else None
             for record in records]
    for index in range(2, len(lasts)):
        if lasts[index] is not None and lasts[index] == lasts[index - 1] == lasts[index - 2]:
            return Check("the same question is never asked three times running", False,
                         f"{lasts[index][0]} at turns {index - 1}-{index + 1}")
    return Check("the same question is never asked three times running", True)


def _matches(expected: Any, actual: Any) -> bool:
    """Whether ``actual`` (a value of a turn object) satisfies ``expected`` (a suite file's value).

    A mapping matches a mapping holding at least its keys, each matching; ``{present: true}``,
    ``{contains: words}`` and ``{not: value}`` are operators; a list is "any of"; ``null`` is
    null; other scalars compare as text (``119`` matches ``"119"``), booleans as booleans.
    """
    if isinstance(expected, Mapping):
        if len(expected) == 1 and next(iter(expected)) in _OPERATORS:
            return _operator(next(iter(expected)), next(iter(expected.values())), actual)
        return isinstance(actual, Mapping) and all(
            key in actual and _matches(value, actual[key]) for key, value in expected.items())
    if isinstance(expected, list):
        return any(_matches(option, actual) for option in expected)
    if expected is None:
        return actual is None
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    return actual is not None and str(expected) == str(actual)


def _operator(name: str, operand: Any, actual: Any) -> bool:
    if name == "present":
        return bool(operand) == (actual not in (None, "", [], {}))
    if name == "contains":
        return isinstance(actual, str) and str(operand).casefold() in actual.casefold()
    return not _matches(operand, actual)


def _describe(pattern: Mapping[str, Any]) -> str:
    rest = ", ".join(f"{key}={value}" for key, value in pattern.items() if key != "kind")
    return f"{pattern['kind']}({rest})" if rest else str(pattern["kind"])


def _summary(effects: Iterable[Mapping[str, Any]]) -> str:
    """Effects in a line: kind and the data a reader needs (never the resident's words)."""
    shown = []
    for effect in effects:
        keys = ("service", "case_kind", "counter_id", "topic", "town_id")
        data = ", ".join(f"{key}={effect[key]}" for key in keys if key in effect)
        shown.append(f"{effect.get('kind')}({data})" if data else str(effect.get("kind")))
    return "[" + ", ".join(shown) + "]"


def _names(responses: Iterable[str | None]) -> str:
    return "[" + ", ".join(str(name) for name in responses) + "]"


# --------------------------------------------------------------------------- printing


def print_report(report: SuiteReport, console: Console) -> None:
    """The figures: overall and emergency rates against the bar, by class, style and language, then every
    failure."""
    held, checked = report.emergency
    summary = table(f"Conversation suite: {report.total} conversations", ("measure", "passed", "rate", "target", ""))
    emergency_rate = held / checked if checked else 1.0
    for name, passed, total, rate, target in (
        ("conversations", report.passed, report.total, report.rate, TARGET_RATE),
        ("emergency expectations", held, checked, emergency_rate, TARGET_EMERGENCY),
    ):
        verdict = "[green]ok[/]" if rate >= target else "[red]below target[/]"
        # Rounded down: 208/219 (94.98 %) must not read as the 95.0 % it misses.
        summary.add_row(name, f"{passed}/{total}", f"{math.floor(rate * 1000) / 10:.1f}%", f"{target:.0%}", verdict)
    console.print(summary)
    for title, attribute in (("By class", "klass"), ("By style", "style"), ("By language", "language")):
        figures = table(title, (title.removeprefix("By "), "passed", "rate"))
        for name, (passed, total) in report.by(attribute).items():
            figures.add_row(name, f"{passed}/{total}", f"{passed / total:.0%}")
        console.print(figures)
    if report.failed:
        failures = table(f"Failed conversations ({len(report.failed)})", ("id", "class", "style", "first failure"),
                         whole=("id",))
        for result in report.failed:
            first = result.failures[0]
            more = f" (+{len(result.failures) - 1} more)" if len(result.failures) > 1 else ""
            # Escaped: the effects in a detail are in [brackets], which rich reads as markup.
            failures.add_row(result.conversation.id, result.conversation.klass, result.conversation.style,
                             escape(f"{first.expectation}: {first.detail}{more}"))
        console.print(failures)
