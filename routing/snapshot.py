"""A read-only, in-memory view of the loaded directory, built once per import.

Routing answers every resident message, so it must not walk thousands of rows per
turn. ``get_directory`` reads the token of the latest directory import (one tiny
query) and returns the matching ``Directory``: towns with their readings, postal
codes and prepared polygons, the place gazetteer residents' words are matched
against, active services with topics, areas, phones, address and opening hours, and
per-topic coverage maps computed on first use. A new import gets a new token, so
every process picks up the new directory at once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.models import (
    Address,
    Attribute,
    DirectoryImport,
    Location,
    Phone,
    Schedule,
    Service,
    ServiceArea,
    ServiceAtLocation,
    TaxonomyTerm,
    Town,
)
from intents.normalize import fold_for_matching
from intents.places import Gazetteer
from routing.hours import OpeningHours, parse_rule

if TYPE_CHECKING:
    from routing.geometry import TownGeometry

__all__ = [
    "CITY",
    "LEVEL_NAMES",
    "NATIONAL",
    "Coverage",
    "Directory",
    "ServiceRecord",
    "TownOption",
    "TownRecord",
    "forget_session_directory",
    "get_directory",
    "invalidate_directory_cache",
]

CITY = "city"
NATIONAL = "japan"
# Coverage levels, most specific first: a town-level service beats a care-area one,
# which beats a ward one, which beats a city-wide one.
LEVEL_NAMES = ("town", "care area", "ward", "city")
CACHE_SIZE = 4


@dataclass(frozen=True)
class TownOption:
    """A town as the flows show it: id, names, ward and care area (sphere)."""

    town_id: str
    town: str
    ward: str
    ward_code: str
    sphere: str


@dataclass(frozen=True)
class TownRecord:
    """Everything the router knows about one town."""

    option: TownOption
    postal_code: str
    latitude: float
    longitude: float
    town_kana: str
    ward_kana: str
    ward_romaji: str


@dataclass(frozen=True)
class ServiceRecord:
    """An active counter or hotline with what a resident needs to reach it."""

    id: str
    name: str
    position: int
    topics: frozenset[str]
    area_codes: tuple[str, ...]
    phone: str | None
    address: str | None
    postal_code: str | None
    hours: OpeningHours
    first_contact_hours: int | None

    @property
    def national(self) -> bool:
        return NATIONAL in self.area_codes


@dataclass(frozen=True)
class Coverage:
    """Which service answers a topic set in each town, and how specific that answer is."""

    by_town: dict[str, tuple[str, int, str]]  # town_id -> (service_id, level, area_code)
    by_ward: dict[str, frozenset[str | None]]  # ward_code -> distinct services of its towns
    everywhere: frozenset[str | None]


def _fold(text: str) -> str:
    return fold_for_matching(text).replace(" ", "")


@dataclass
class Directory:
    """The loaded directory; build with ``get_directory``."""

    token: str
    towns: dict[str, TownRecord]
    geometries: dict[str, dict[str, Any] | None]
    # The towns' names in every script, for ``intents.places.extract_place``.
    gazetteer: Gazetteer
    services: dict[str, ServiceRecord]
    _coverage: dict[tuple[frozenset[str], ...], Coverage] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ towns and wards
    @cached_property
    def wards(self) -> dict[str, str]:
        """Ward code -> ward name, in the directory's order."""
        wards: dict[str, str] = {}
        for record in self.towns.values():
            wards.setdefault(record.option.ward_code, record.option.ward)
        return wards

    @cached_property
    def towns_by_ward(self) -> dict[str, tuple[TownOption, ...]]:
        grouped: dict[str, list[TownOption]] = {}
        for record in self.towns.values():
            grouped.setdefault(record.option.ward_code, []).append(record.option)
        return {code: tuple(options) for code, options in grouped.items()}

    @cached_property
    def towns_by_postal(self) -> dict[str, tuple[str, ...]]:
        grouped: dict[str, list[str]] = {}
        for town_id, record in self.towns.items():
            if record.postal_code:
                grouped.setdefault(record.postal_code, []).append(town_id)
        return {code: tuple(ids) for code, ids in grouped.items()}

    @cached_property
    def postal_prefixes(self) -> frozenset[str]:
        """The 3-digit postal areas of the city: a code outside them is not the city's."""
        return frozenset(code[:3] for code in self.towns_by_postal)

    @cached_property
    def _ward_names(self) -> dict[str, str]:
        names: dict[str, str] = {}
        for record in self.towns.values():
            code = record.option.ward_code
            for name in (code, record.option.ward, record.ward_kana, record.ward_romaji):
                if name:
                    names.setdefault(_fold(name), code)
            # "Kita-ku" is also written "Kita ku", "Kitaku" or just "Kita".
            if record.ward_romaji:
                bare = _fold(record.ward_romaji).replace("-", "")
                names.setdefault(bare, code)
                names.setdefault(bare.removesuffix("ku"), code)
        return names

    def ward_code_for(self, name: str | None) -> str | None:
        """The ward code for a ward's name, code, kana or romaji; None when unknown."""
        if not name:
            return None
        return self._ward_names.get(_fold(name))

    # ------------------------------------------------------------------ geometry
    @cached_property
    def _geometry(self) -> TownGeometry | None:
        if not self.towns:
            return None
        # shapely (with numpy, ~0.1 s) loads only once a location is resolved: every CLI
        # start and every text-only process stays light.
        from routing.geometry import TownGeometry

        return TownGeometry.build(self.towns, self.geometries)

    def town_at(self, latitude: float, longitude: float) -> tuple[str, float] | None:
        """The town containing a point (distance 0) or else the nearest one, with its distance in km.

        Args:
            latitude: WGS84 latitude.
            longitude: WGS84 longitude.

        Returns:
            ``(town_id, km)``, or None for an empty directory. Points on a shared border
            go to the town first in the directory's order.
        """
        geometry = self._geometry
        return None if geometry is None else geometry.town_at(latitude, longitude)

    # ------------------------------------------------------------------ services
    @cached_property
    def _services_by_topic(self) -> dict[str, tuple[ServiceRecord, ...]]:
        grouped: dict[str, list[ServiceRecord]] = {}
        for service in self.services.values():
            for topic in service.topics:
                grouped.setdefault(topic, []).append(service)
        return {topic: tuple(sorted(items, key=lambda s: s.position)) for topic, items in grouped.items()}

    def services_for(self, topics: Iterable[str]) -> tuple[ServiceRecord, ...]:
        """Active services tagged with every topic in ``topics``, in directory order."""
        wanted = frozenset(topics)
        if not wanted:
            return ()
        first = min(wanted, key=lambda topic: len(self._services_by_topic.get(topic, ())))
        return tuple(s for s in self._services_by_topic.get(first, ()) if wanted <= s.topics)

    def coverage(self, topic_sets: tuple[frozenset[str], ...]) -> Coverage:
        """For each town, the most specific local service for the first topic set that has one.

        Args:
            topic_sets: alternatives in order of preference, e.g. ``({"watch", "missing"}, {"watch"})``.

        Returns:
            The coverage map (computed once per directory and topic sets).
        """
        cached = self._coverage.get(topic_sets)
        if cached is not None:
            return cached
        by_town: dict[str, tuple[str, int, str]] = {}
        for topics in topic_sets:
            by_code: dict[str, list[ServiceRecord]] = {}
            for service in self.services_for(topics):
                for code in service.area_codes:
                    if code != NATIONAL:
                        by_code.setdefault(code, []).append(service)
            for town_id, record in self.towns.items():
                if town_id in by_town:
                    continue
                option = record.option
                for level, code in enumerate((town_id, option.sphere, option.ward_code, CITY)):
                    if code in by_code:
                        by_town[town_id] = (by_code[code][0].id, level, code)
                        break
        by_ward: dict[str, set[str | None]] = {}
        for town_id, record in self.towns.items():
            by_ward.setdefault(record.option.ward_code, set()).add(by_town.get(town_id, (None,))[0])
        everywhere = frozenset(service for services in by_ward.values() for service in services)
        coverage = Coverage(by_town, {ward: frozenset(s) for ward, s in by_ward.items()}, everywhere)
        self._coverage[topic_sets] = coverage
        return coverage


def _load(session: Session, token: str) -> Directory:
    towns: dict[str, TownRecord] = {}
    geometries: dict[str, dict[str, Any] | None] = {}
    town_rows = list(session.scalars(select(Town).order_by(Town.position, Town.town_id)))
    for town in town_rows:
        towns[town.town_id] = TownRecord(
            option=TownOption(town.town_id, town.town, town.ward, town.ward_code, town.sphere),
            postal_code=town.postal_code,
            latitude=town.latitude,
            longitude=town.longitude,
            town_kana=town.town_kana,
            ward_kana=town.ward_kana,
            ward_romaji=town.ward_romaji,
        )
        geometries[town.town_id] = town.geometry

    topics: dict[str, set[str]] = {}
    for link_id, code in session.execute(
        select(Attribute.link_id, TaxonomyTerm.code)
        .join(TaxonomyTerm, TaxonomyTerm.id == Attribute.taxonomy_term_id)
        .where(Attribute.link_type == "service")
    ):
        topics.setdefault(link_id, set()).add(code)
    areas: dict[str, list[str]] = {}
    for service_id, code in session.execute(select(ServiceArea.service_id, ServiceArea.area_code).order_by(ServiceArea.id)):
        areas.setdefault(service_id, []).append(code)
    phones: dict[str, str] = {}
    for service_id, number in session.execute(select(Phone.service_id, Phone.number).order_by(Phone.id)):
        phones.setdefault(service_id, number)
    rules: dict[str, list[Any]] = {}
    for row in session.scalars(select(Schedule).order_by(Schedule.id)):
        rules.setdefault(row.service_id, []).append(parse_rule(row.byday, row.opens_at, row.closes_at))
    addresses: dict[str, tuple[str, str]] = {}
    for service_id, address in session.execute(
        select(ServiceAtLocation.service_id, Address)
        .join(Location, Location.id == ServiceAtLocation.location_id)
        .join(Address, Address.location_id == Location.id)
        .order_by(ServiceAtLocation.id, Address.id)
    ):
        addresses.setdefault(service_id, (f"{address.city}{address.address_1}", address.postal_code))

    services = {}
    for service in session.scalars(select(Service).where(Service.status == "active").order_by(Service.position, Service.id)):
        address, postal = addresses.get(service.id, (None, None))
        services[service.id] = ServiceRecord(
            id=service.id,
            name=service.name,
            position=service.position,
            topics=frozenset(topics.get(service.id, ())),
            area_codes=tuple(areas.get(service.id, ())),
            phone=phones.get(service.id),
            address=address,
            postal_code=postal or None,
            hours=OpeningHours(tuple(rules.get(service.id, ()))),
            first_contact_hours=service.first_contact_hours,
        )
    return Directory(token=token, towns=towns, geometries=geometries, gazetteer=Gazetteer.from_towns(town_rows),
                     services=services)


_CACHE: OrderedDict[str, Directory] = OrderedDict()
_LOCK = threading.Lock()
# Bumped by invalidate_directory_cache, so directories held by open transactions are dropped too.
_generation = 0
SESSION_KEY = "tsunagu.directory"


def get_directory(session: Session) -> Directory:
    """The in-memory directory for the database behind ``session`` (cached per import).

    Within one transaction the directory is looked up once (a turn calls this several
    times); a new transaction checks the import token again, one tiny query.

    Args:
        session: any session on the database.

    Returns:
        The directory of the latest import.
    """
    held = session.info.get(SESSION_KEY)
    if held is not None and held[0] is session.get_transaction() and held[1] == _generation:
        return held[2]
    token = session.scalar(select(DirectoryImport.token).order_by(DirectoryImport.id.desc()).limit(1))
    with _LOCK:
        directory = _CACHE.get(token) if token else None
        if directory is not None:
            _CACHE.move_to_end(token)
    if directory is None:
        directory = _load(session, token or "")
        # Without an import token (tables filled by other means) there is nothing to key a cache on.
        if token:
            with _LOCK:
                _CACHE[token] = directory
                while len(_CACHE) > CACHE_SIZE:
                    _CACHE.popitem(last=False)
    session.info[SESSION_KEY] = (session.get_transaction(), _generation, directory)
    return directory


def forget_session_directory(session: Session) -> None:
    """Make the next ``get_directory`` on this session look again (after an import in it)."""
    session.info.pop(SESSION_KEY, None)


def invalidate_directory_cache() -> None:
    """Forget every cached directory (after editing directory tables by hand)."""
    global _generation
    with _LOCK:
        _CACHE.clear()
        _generation += 1
