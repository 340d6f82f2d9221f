"""Counter choice: the one right counter for this problem in this place, and the lines to call.

``choose_counter`` is the single decision point (FixMyStreet's "report → body"): a
city can replace it by naming a function of the same signature in the setting
``counter_chooser`` (a dotted path ``package.module:function``). The default rules:

* ``ask_where`` + topic: the active local service tagged with the topic whose service
  area covers the place — a town-level area beats a care area (日常生活圏域), which
  beats a ward, which beats the whole city. National lines (area ``japan``) are never
  the counter, only hotlines.
* ``report_worry``: the ward's 見守り相談室 (topic ``watch``).
* ``report_missing``: the alert desk — a service tagged ``watch`` and ``missing`` if the
  directory has one, else the 見守り相談室 — with 110 and the police station as hotlines.
* ``emergency``: 119, or 110 when the safety layer says police.

When different places would get different counters and the place is not known well
enough, the choice has no counter and says what to ask (a town or a ward); when all
possible places agree (city-wide topics) no question is needed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Literal

from sqlalchemy.orm import Session

from bot.models import utcnow
from bot.settings import settings
from routing.areas import AreaResolution
from routing.hours import OpeningHours
from routing.snapshot import CITY, LEVEL_NAMES, Directory, ServiceRecord, get_directory

__all__ = [
    "ANY_MATTER_TOPIC",
    "INTENT_DESKS",
    "CounterChoice",
    "CounterInfo",
    "choose_counter",
    "counter_info",
    "default_choose_counter",
]

# Which services receive each intent, in order of preference; a service qualifies when
# it carries every topic of a set. ask_where and talk_to_human use the resident's topic.
INTENT_DESKS: dict[str, tuple[frozenset[str], ...]] = {
    "report_worry": (frozenset({"watch"}),),
    "report_missing": (frozenset({"watch", "missing"}), frozenset({"watch"})),
}
# The topic whose 24-hour and national lines are offered with each intent's desk.
INTENT_HOTLINE_TOPIC = {"report_worry": "watch", "report_missing": "missing"}
TOPIC_INTENTS = ("ask_where", "talk_to_human")
# 総合相談窓口 (重層的支援) takes any matter: where a human is asked for without a topic.
ANY_MATTER_TOPIC = "complex"


@dataclass(frozen=True)
class CounterInfo:
    """A counter or hotline as a resident is told about it, with its state at ``now``."""

    id: str
    name: str
    phone: str | None
    address: str | None
    postal_code: str | None
    opening_hours: OpeningHours
    open_now: bool
    next_opening: datetime | None
    is_24h: bool

    def hours(self, language: str) -> str:
        """The opening hours in the resident's language (:meth:`OpeningHours.describe`)."""
        return self.opening_hours.describe(language)


@dataclass(frozen=True)
class CounterChoice:
    """The outcome of counter choice.

    Attributes:
        counter: the one counter, or None when the place must be asked first (or none exists).
        needs_area: what to ask when the counter depends on the place: ``town`` or ``ward``.
        reason: why, in words and ids; recorded on the case.
        hotlines: matching 24-hour / national lines, open ones first.
    """

    counter: CounterInfo | None
    needs_area: Literal["town", "ward"] | None
    reason: str
    hotlines: tuple[CounterInfo, ...]


def counter_info(service: ServiceRecord, now: datetime) -> CounterInfo:
    """Describe a directory service for a resident at ``now``.

    Args:
        service: the service from the in-memory directory.
        now: an aware datetime.

    Returns:
        Contact details, opening hours, and whether it is open.
    """
    tz = settings.tz
    open_now = service.hours.is_open(now, tz)
    return CounterInfo(
        id=service.id,
        name=service.name,
        phone=service.phone,
        address=service.address,
        postal_code=service.postal_code,
        opening_hours=service.hours,
        open_now=open_now,
        next_opening=None if open_now else service.hours.next_opening(now, tz),
        is_24h=service.hours.is_24h,
    )


def _area_codes(area: AreaResolution | None) -> set[str]:
    """Local area codes that certainly cover the place (for 24-hour local lines)."""
    if area is None:
        return {CITY}
    if area.status == "resolved" and area.town is not None:
        return {area.town.town_id, area.town.sphere, area.town.ward_code, CITY}
    if area.status == "ward_only" and area.ward_code:
        return {area.ward_code, CITY}
    return set() if area.status == "outside" else {CITY}


def _hotlines(
    directory: Directory, topic: str | None, area: AreaResolution | None, exclude: str | None, now: datetime
) -> tuple[CounterInfo, ...]:
    if topic is None:
        return ()
    covering = _area_codes(area)
    lines = [
        service
        for service in directory.services_for((topic,))
        if service.id != exclude
        and (service.national or (service.hours.is_24h and covering.intersection(service.area_codes)))
    ]
    infos = {service.id: counter_info(service, now) for service in lines}
    lines.sort(key=lambda s: (not infos[s.id].open_now, not s.national, s.position))
    return tuple(infos[service.id] for service in lines)


def _describe_area(area: AreaResolution | None) -> str:
    if area is None or area.status == "none":
        return "place unknown"
    if area.status == "resolved" and area.town is not None:
        town = area.town
        how = f"by {area.method}" + (f", confidence {area.confidence:.2f}" if area.confidence < 1 else "")
        return f"{town.ward}{town.town} ({town.town_id}, care area {town.sphere}, {how})"
    if area.status == "ward_only":
        return f"{area.ward} (ward {area.ward_code}, town unknown)"
    if area.status == "ambiguous":
        return "ambiguous place (" + " / ".join(f"{c.ward}{c.town}" for c in area.candidates) + ")"
    return "outside the city"


def _emergency(directory: Directory, service_number: str | None, now: datetime) -> CounterChoice:
    wanted = service_number or "119"
    lines = directory.services_for(("emergency",))
    chosen = next((s for s in lines if s.phone == wanted), lines[0] if lines else None)
    if chosen is None:
        return CounterChoice(None, None, "emergency: the directory has no emergency line", ())
    others = tuple(counter_info(s, now) for s in lines if s.id != chosen.id)
    return CounterChoice(counter_info(chosen, now), None, f"emergency: call {chosen.phone} ({chosen.id})", others)


def default_choose_counter(
    session: Session,
    *,
    intent: str,
    topic: str | None,
    area: AreaResolution | None,
    now: datetime | None = None,
    emergency_service: str | None = None,
) -> CounterChoice:
    """The built-in counter choice rules (see the module docstring).

    Args:
        session: a session on the database holding the directory.
        intent: the resident's intent (TAXONOMY.md).
        topic: the topic for ``ask_where`` / ``talk_to_human``; ignored for intents with a fixed desk.
        area: the resolved place, or None when nothing is known yet.
        now: the moment for opening hours (aware); defaults to the current time.
        emergency_service: ``"110"`` to send an emergency to the police instead of 119.

    Returns:
        The choice with its reason and hotlines.
    """
    now = now or utcnow()
    directory = get_directory(session)
    if intent == "emergency":
        return _emergency(directory, emergency_service, now)
    if intent in INTENT_DESKS:
        topic_sets, hotline_topic = INTENT_DESKS[intent], INTENT_HOTLINE_TOPIC[intent]
        what = f"{intent} (desk: " + " else ".join("+".join(sorted(topics)) for topics in topic_sets) + ")"
    elif intent in TOPIC_INTENTS and (topic or intent == "talk_to_human"):
        hotline_topic = topic or ANY_MATTER_TOPIC
        topic_sets, what = (frozenset({hotline_topic}),), f"topic {hotline_topic}"
    else:
        reason = f"intent {intent} has no counter" if intent not in TOPIC_INTENTS else "the topic is not known yet"
        return CounterChoice(None, None, reason, ())
    where = _describe_area(area)

    if area is not None and area.status == "outside":
        hotlines = _hotlines(directory, hotline_topic, area, None, now)
        return CounterChoice(None, None, f"{what}: {where}; only national lines apply", hotlines)

    coverage = directory.coverage(topic_sets)
    if area is None or area.status == "none":
        possible = coverage.everywhere
    elif area.status == "resolved" and area.town is not None:
        possible = frozenset({coverage.by_town.get(area.town.town_id, (None,))[0]})
    elif area.status == "ward_only" and area.ward_code:
        possible = coverage.by_ward.get(area.ward_code, frozenset({None}))
    else:
        possible = frozenset(coverage.by_town.get(c.town_id, (None,))[0] for c in area.candidates)

    if len(possible) == 1 and None not in possible:
        service = directory.services[next(iter(possible))]
        # Any town this service answers for tells how specific the match is.
        if area is not None and area.town is not None:
            _, level, code = coverage.by_town[area.town.town_id]
        else:
            _, level, code = next(entry for entry in coverage.by_town.values() if entry[0] == service.id)
        scope = "the whole city" if level == LEVEL_NAMES.index("city") else f"{LEVEL_NAMES[level]} {code}"
        reason = f"{what}: {service.id} ({service.name}) serves {scope}; {where}"
        return CounterChoice(
            counter_info(service, now), None, reason, _hotlines(directory, hotline_topic, area, service.id, now)
        )
    hotlines = _hotlines(directory, hotline_topic, area, None, now)
    if not possible or possible == {None}:
        return CounterChoice(None, None, f"{what}: no local counter in the directory for {where}", hotlines)
    if area is None or area.status == "none":
        ward_decides = all(len(services) == 1 for services in coverage.by_ward.values())
        needs: Literal["town", "ward"] = "ward" if ward_decides else "town"
    else:
        needs = "town"
    counters = ", ".join(sorted(s for s in possible if s))
    return CounterChoice(None, needs, f"{what}: the counter depends on the {needs} ({counters}); {where}", hotlines)


Chooser = Callable[..., CounterChoice]


@lru_cache(maxsize=4)
def _load_chooser(path: str) -> Chooser:
    module_name, _, attribute = path.replace(":", ".").rpartition(".")
    chooser = getattr(importlib.import_module(module_name), attribute)
    if not callable(chooser):
        raise TypeError(f"counter_chooser '{path}' is not a function")
    return chooser


def choose_counter(
    session: Session,
    *,
    intent: str,
    topic: str | None,
    area: AreaResolution | None,
    now: datetime | None = None,
    emergency_service: str | None = None,
) -> CounterChoice:
    """Choose the counter for a resident's matter (the one decision a city may override).

    Args:
        session: a session on the database holding the directory.
        intent: the resident's intent (TAXONOMY.md).
        topic: the topic for ``ask_where`` / ``talk_to_human``.
        area: the resolved place, or None.
        now: the moment for opening hours (aware); defaults to the current time.
        emergency_service: ``"110"`` or ``"119"`` from the safety layer.

    Returns:
        The counter (or what to ask first), why, and the matching hotlines.
    """
    path = settings.counter_chooser
    chooser = _load_chooser(path) if path else default_choose_counter
    return chooser(session, intent=intent, topic=topic, area=area, now=now, emergency_service=emergency_service)
