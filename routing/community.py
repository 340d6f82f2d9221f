"""Community places beside the counters: 通いの場, サロン, 認知症カフェ, 子ども食堂, 家事支援.

A city lists them in its HSDS directory like its counters — a service with a location
(coordinates), a schedule and a phone — tagged with three small vocabularies of
taxonomy terms (``taxonomy_terms.csv``):

* ``tsunagu-community``: the kind, ``community:<kind>`` with a kind of ``KINDS``;
* ``tsunagu-audience``: who it is for, ``audience:<who>`` (the term's name is shown);
* ``tsunagu-cost``: what it costs, ``cost:<band>`` (the term's name is shown).

A service with a ``community:`` term is a place, never a counter: it carries none of the
counters' topics, so ``routing.counters`` never picks it. ``nearest_places`` answers
"which fitting places are near this town?", with walking minutes from the distance.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.models import Attribute, Location, Phone, Schedule, Service, ServiceAtLocation, TaxonomyTerm
from routing.hours import DAY_CODES, join_days, weekday_names
from routing.readers import reads_japanese
from routing.snapshot import Directory, get_directory

__all__ = [
    "AUDIENCE_PREFIX",
    "COST_PREFIX",
    "KINDS",
    "KIND_PREFIX",
    "MONTH_WEEKS_RE",
    "GATHERING_KINDS",
    "CommunityPlace",
    "NearbyPlace",
    "PlaceSchedule",
    "community_places",
    "nearest_places",
    "walking_minutes",
]

KIND_PREFIX = "community:"
AUDIENCE_PREFIX = "audience:"
COST_PREFIX = "cost:"
# The kinds tsunagu can name to a resident (each has a label in domain.yml).
KINDS: tuple[str, ...] = ("salon", "kayoi", "dementia_cafe", "kodomo_shokudo", "kaji_shien")
# Places to go and meet people; 家事支援 comes to the home instead.
GATHERING_KINDS: tuple[str, ...] = ("salon", "kayoi")
# Straight-line distance becomes a walk along streets about 1.3 times as long, at 80 m a
# minute (the 不動産の表示に関する公正競争規約's walking speed, which residents know from
# 「駅徒歩5分」).
ROUTE_FACTOR = 1.3
METRES_PER_MINUTE = 80
EARTH_RADIUS_KM = 6371.0
# 「第2・第4」: which weeks of the month a monthly schedule meets.
MONTH_WEEKS_RE = re.compile(r"[1-5１-５]")


@dataclass(frozen=True)
class _ScheduleWords:
    """How one language says when a place meets (``{days}``, ``{weeks}`` filled in)."""

    day_list: str  # 月・木, Mon/Thu
    day_run: str  # 月〜金, Mon-Fri
    weekly: str
    monthly: str
    week: Callable[[int], str]  # one week of the month: 第2, 2nd
    weeks: str  # between weeks of the month
    clock_range: str
    schedules: str  # between a place's schedules


def _english_ordinal(number: int) -> str:
    return f"{number}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(number, 'th')}"


# A language not listed here reads the English.
_SCHEDULE_WORDS: dict[str, _ScheduleWords] = {
    "ja": _ScheduleWords("・", "〜", "毎週{days}曜", "毎月{weeks}{days}曜", lambda n: f"第{n}", "・", "〜", "、"),
    "en": _ScheduleWords("/", "-", "every {days}", "{weeks} {days} of the month", _english_ordinal, " & ", "-", "; "),
    "zh": _ScheduleWords("、", "至", "每{days}", "每月{weeks}{days}", lambda n: f"第{n}个", "、", "-", "；"),
    "zh-Hant": _ScheduleWords("、", "至", "每{days}", "每月{weeks}{days}", lambda n: f"第{n}個", "、", "-", "；"),
    "ko": _ScheduleWords("·", "~", "매주 {days}요일", "매월 {weeks} {days}요일", lambda n: f"제{n}", "·", "~", ", "),
    "vi": _ScheduleWords(", ", "-", "{days} hằng tuần", "{days} tuần thứ {weeks} của tháng", str, " và ", "-", "; "),
    "tl": _ScheduleWords("/", "-", "tuwing {days}", "ika-{weeks} na {days} ng buwan", str, " at ika-", "-", "; "),
    "pt": _ScheduleWords("/", "-", "todas as semanas, {days}", "{weeks} {days} do mês", lambda n: f"{n}º", " e ", "-", "; "),
    "es": _ScheduleWords("/", "-", "cada {days}", "{weeks} {days} del mes", lambda n: f"{n}.º", " y ", "-", "; "),
    "ne": _ScheduleWords(", ", "-", "हरेक {days}", "महिनाको {weeks} {days}", lambda n: f"{n} औं", " र ", "-", "; "),
}


def _schedule_words(language: str) -> _ScheduleWords:
    return _SCHEDULE_WORDS["ja"] if reads_japanese(language) else _SCHEDULE_WORDS.get(language, _SCHEDULE_WORDS["en"])


@dataclass(frozen=True)
class PlaceSchedule:
    """When a place meets: weekly on some days, or monthly on some weeks (「第2・第4土曜」)."""

    monthly: bool
    days: tuple[int, ...]  # 0 = Monday
    weeks: tuple[int, ...]  # weeks of the month, for a monthly schedule
    opens_at: str
    closes_at: str

    def describe(self, language: str) -> str:
        """「毎週火曜 10:00〜12:00」「毎月第2・第4土曜 11:30〜13:30」, "every Tue 10:00-12:00", in the
        resident's language."""
        words = _schedule_words(language)
        days = join_days(self.days, weekday_names(language), words.day_list, words.day_run)
        if self.monthly and self.weeks:
            weeks = words.weeks.join(words.week(week) for week in self.weeks)
            when = words.monthly.format(days=days, weeks=weeks)
        else:
            when = words.weekly.format(days=days)
        return f"{when} {self.opens_at}{words.clock_range}{self.closes_at}"


@dataclass(frozen=True)
class CommunityPlace:
    """One community place of the directory, with what a resident needs to go there."""

    id: str
    name: str
    kind: str
    audience: str  # the audience term's name (高齢者, 誰でも …); "" when not given
    cost: str  # the cost term's name (無料, 100円 …); "" when not given
    latitude: float
    longitude: float
    town_id: str | None  # the town the place lies in (or is nearest to)
    phone: str | None
    schedules: tuple[PlaceSchedule, ...]

    def schedule_text(self, language: str) -> str:
        """Every schedule of the place, joined (「毎週月・木曜 10:00〜11:00」)."""
        return _schedule_words(language).schedules.join(s.describe(language) for s in self.schedules)


@dataclass(frozen=True)
class NearbyPlace:
    """A place and how far it is to walk from the resident's town."""

    place: CommunityPlace
    km: float
    minutes: int


def walking_minutes(km: float) -> int:
    """Minutes on foot for a straight-line distance (at least one)."""
    return max(1, math.ceil(km * 1000 * ROUTE_FACTOR / METRES_PER_MINUTE))


def _distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine): exact enough for a walk across a city."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def _schedule(row: Schedule) -> PlaceSchedule:
    days = tuple(sorted(DAY_CODES.index(code.strip()) for code in row.byday.split(",") if code.strip()))
    weeks = tuple(sorted({int(w) for w in MONTH_WEEKS_RE.findall(row.notes or "")})) if row.freq == "MONTHLY" else ()
    return PlaceSchedule(row.freq == "MONTHLY", days, weeks, row.opens_at, row.closes_at)


def _load(session: Session, directory: Directory) -> tuple[CommunityPlace, ...]:
    terms: dict[str, dict[str, str]] = {}
    for link_id, code, name in session.execute(
        select(Attribute.link_id, TaxonomyTerm.code, TaxonomyTerm.name)
        .join(TaxonomyTerm, TaxonomyTerm.id == Attribute.taxonomy_term_id)
        .where(Attribute.link_type == "service")
        .order_by(Attribute.id)
    ):
        for prefix in (KIND_PREFIX, AUDIENCE_PREFIX, COST_PREFIX):
            if code.startswith(prefix):
                terms.setdefault(link_id, {}).setdefault(prefix, code.removeprefix(prefix) if prefix == KIND_PREFIX
                                                         else name)
    ids = [service_id for service_id, found in terms.items() if KIND_PREFIX in found]
    if not ids:
        return ()
    points: dict[str, tuple[float, float]] = {}
    for service_id, latitude, longitude in session.execute(
        select(ServiceAtLocation.service_id, Location.latitude, Location.longitude)
        .join(Location, Location.id == ServiceAtLocation.location_id)
        .where(ServiceAtLocation.service_id.in_(ids))
        .order_by(ServiceAtLocation.id)
    ):
        if latitude is not None and longitude is not None:
            points.setdefault(service_id, (latitude, longitude))
    phones: dict[str, str] = {}
    for service_id, number in session.execute(
        select(Phone.service_id, Phone.number).where(Phone.service_id.in_(ids)).order_by(Phone.id)
    ):
        phones.setdefault(service_id, number)
    schedules: dict[str, list[PlaceSchedule]] = {}
    for row in session.scalars(select(Schedule).where(Schedule.service_id.in_(ids)).order_by(Schedule.id)):
        schedules.setdefault(row.service_id, []).append(_schedule(row))
    places = []
    for service in session.scalars(
        select(Service).where(Service.id.in_(ids), Service.status == "active").order_by(Service.position, Service.id)
    ):
        point = points.get(service.id)
        if point is None:
            continue  # the import refuses this; a directory filled by other means may still hold one
        found = terms[service.id]
        town = directory.town_at(*point)
        places.append(CommunityPlace(
            id=service.id,
            name=service.name,
            kind=found[KIND_PREFIX],
            audience=found.get(AUDIENCE_PREFIX, ""),
            cost=found.get(COST_PREFIX, ""),
            latitude=point[0],
            longitude=point[1],
            town_id=town[0] if town else None,
            phone=phones.get(service.id),
            schedules=tuple(schedules.get(service.id, ())),
        ))
    return tuple(places)


_CACHE: dict[str, tuple[CommunityPlace, ...]] = {}
_LOCK = threading.Lock()
CACHE_SIZE = 4


def community_places(session: Session) -> tuple[CommunityPlace, ...]:
    """Every active community place of the loaded directory (cached per directory import)."""
    directory = get_directory(session)
    with _LOCK:
        cached = _CACHE.get(directory.token) if directory.token else None
    if cached is not None:
        return cached
    places = _load(session, directory)
    if directory.token:
        with _LOCK:
            _CACHE[directory.token] = places
            while len(_CACHE) > CACHE_SIZE:
                _CACHE.pop(next(iter(_CACHE)))
    return places


def nearest_places(session: Session, town_id: str, kinds: Collection[str] | None = None, *, limit: int = 3,
                   max_minutes: int | None = None) -> list[NearbyPlace]:
    """The community places of ``kinds`` nearest to a town, nearest first.

    Args:
        session: a session on the database.
        town_id: the resident's town (distances are from its centre point in towns.csv).
        kinds: the kinds that fit (``KINDS``); None: any kind.
        limit: at most this many places.
        max_minutes: leave out places further than this many minutes on foot.

    Returns:
        Up to ``limit`` places with their distance and walking minutes; ties keep the
        directory's order. Empty for an unknown town.
    """
    town = get_directory(session).towns.get(town_id)
    if town is None:
        return []
    found = []
    for place in community_places(session):
        if kinds is not None and place.kind not in kinds:
            continue
        km = _distance_km(town.latitude, town.longitude, place.latitude, place.longitude)
        minutes = walking_minutes(km)
        if max_minutes is None or minutes <= max_minutes:
            found.append(NearbyPlace(place, km, minutes))
    found.sort(key=lambda nearby: nearby.km)
    return found[:limit]
