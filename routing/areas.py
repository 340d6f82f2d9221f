"""Area resolution: a place a resident mentioned → town → care area (日常生活圏域) → ward.

Sources, most explicit first: town names (kanji, kana or romaji, already matched
to town ids by ``intents.places.extract_place``), postal codes, and coordinates
(point-in-polygon on the town polygons; outside every polygon but within
``NEAR_KM`` of one, the nearest town with a confidence below 1). Readings can
collide (北区 旭町 / 南区 朝日町 are both "あさひ"): then the answer is
``ambiguous`` with the candidates to ask between — never a silent guess.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.orm import Session

from intents.places import Place
from routing.readers import reads_kanji, reads_romaji
from routing.snapshot import Directory, TownOption, get_directory

__all__ = [
    "NEAR_KM",
    "OUTSIDE",
    "AreaResolution",
    "TownOption",
    "resolve_area",
    "resolve_town_id",
    "resolve_ward_code",
    "town_name",
    "town_romaji",
    "ward_name",
    "ward_options",
]

AreaStatus = Literal["resolved", "ambiguous", "ward_only", "outside", "none"]

# A point farther than this from every town is outside the city. Closer points are
# matched to the nearest town, with confidence falling linearly to 0 at this distance.
NEAR_KM = 3.0
# Even a point a few metres outside the polygons is a guess: keep it visibly below 1.
NEAREST_MAX_CONFIDENCE = 0.9
# 旭町 (あさひまち) and 朝日町 (あさひちょう) share the stem あさひ.
_TOWN_SUFFIX_RE = re.compile(r"(?:まち|ちょう|町)$")


@dataclass(frozen=True)
class AreaResolution:
    """Where a place is, as far as the directory can tell.

    Attributes:
        status: ``resolved`` (one town), ``ambiguous`` (ask between ``candidates``),
            ``ward_only`` (the ward is known; ``candidates`` are its towns), ``outside``
            (not in the city) or ``none`` (nothing usable).
        town: the town when resolved.
        ward_code: the ward's code ("kita") when resolved or ward_only.
        ward: the ward's display name ("北区").
        candidates: the towns to choose between.
        method: how it was resolved: ``name``, ``postal``, ``polygon``, ``nearest`` or "".
        confidence: 1.0 for name, postal and polygon; lower for the nearest-town fallback.
    """

    status: AreaStatus
    town: TownOption | None = None
    ward_code: str | None = None
    ward: str | None = None
    candidates: tuple[TownOption, ...] = ()
    method: str = ""
    confidence: float = 0.0

    @property
    def sphere(self) -> str | None:
        """The care area (日常生活圏域) of the resolved town."""
        return self.town.sphere if self.town else None

    def to_dict(self) -> dict[str, Any] | None:
        """Ids for ``tsunagu route`` and conversation slots; None when nothing is resolved.

        Returns:
            ``{"town_id", "sphere", "ward"}`` (ward as its code); town and sphere are None
            when only the ward is known.
        """
        if self.status == "resolved" and self.town is not None:
            return {"town_id": self.town.town_id, "sphere": self.town.sphere, "ward": self.town.ward_code}
        if self.status == "ward_only":
            return {"town_id": None, "sphere": None, "ward": self.ward_code}
        return None


NOTHING = AreaResolution(status="none")
OUTSIDE = AreaResolution(status="outside")


def _resolved(town: TownOption, method: str, confidence: float = 1.0) -> AreaResolution:
    return AreaResolution(
        status="resolved",
        town=town,
        ward_code=town.ward_code,
        ward=town.ward,
        candidates=(town,),
        method=method,
        confidence=confidence,
    )


def _ambiguous(directory: Directory, town_ids: Sequence[str], method: str) -> AreaResolution:
    if len(town_ids) == 1:
        return _resolved(directory.towns[town_ids[0]].option, method)
    return AreaResolution(
        status="ambiguous",
        candidates=tuple(directory.towns[town_id].option for town_id in town_ids),
        method=method,
    )


def _ward_only(directory: Directory, ward_code: str) -> AreaResolution:
    return AreaResolution(
        status="ward_only",
        ward_code=ward_code,
        ward=directory.wards[ward_code],
        candidates=directory.towns_by_ward[ward_code],
        method="name",
        confidence=1.0,
    )


def _postal(code: str | None) -> str | None:
    if not code:
        return None
    digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", code))
    return f"{digits[:3]}-{digits[3:]}" if len(digits) == 7 else None


def _stem(kana: str) -> str:
    return _TOWN_SUFFIX_RE.sub("", kana)


def _by_point(directory: Directory, latitude: float, longitude: float) -> AreaResolution:
    found = directory.town_at(latitude, longitude)
    if found is None:
        return NOTHING
    town_id, km = found
    if km == 0.0:
        return _resolved(directory.towns[town_id].option, "polygon")
    if km >= NEAR_KM:
        return OUTSIDE
    confidence = round(NEAREST_MAX_CONFIDENCE * (1.0 - km / NEAR_KM), 3)
    return _resolved(directory.towns[town_id].option, "nearest", confidence)


def _by_names(
    directory: Directory,
    town_ids: list[str],
    ward_code: str | None,
    postal: str | None,
    point: tuple[float, float] | None,
    method: str = "name",
) -> AreaResolution:
    if ward_code is not None:
        in_ward = [town_id for town_id in town_ids if directory.towns[town_id].option.ward_code == ward_code]
        if not in_ward:
            # "南区の旭町": 旭町 is in 北区, but 南区 has 朝日町 that sounds the same.
            stems = {_stem(directory.towns[town_id].town_kana) for town_id in town_ids} - {""}
            sound_alikes = [
                option.town_id
                for option in directory.towns_by_ward[ward_code]
                if _stem(directory.towns[option.town_id].town_kana) in stems
            ]
            return AreaResolution(
                status="ambiguous",
                candidates=tuple(directory.towns[t].option for t in [*town_ids, *sound_alikes]),
                method=method,
            )
        town_ids = in_ward
    if len(town_ids) > 1 and postal is not None:
        same_code = [town_id for town_id in town_ids if directory.towns[town_id].postal_code == postal]
        if same_code:
            town_ids = same_code
    if len(town_ids) > 1 and point is not None:
        found = directory.town_at(*point)
        if found is not None and found[1] == 0.0 and found[0] in town_ids:
            return _resolved(directory.towns[found[0]].option, "polygon")
    if len(town_ids) == 1 and postal is not None and directory.towns[town_ids[0]].postal_code == postal:
        return _resolved(directory.towns[town_ids[0]].option, "postal")
    return _ambiguous(directory, town_ids, method)


def resolve_area(session: Session, place: Place | None) -> AreaResolution:
    """Resolve an extracted place against the directory.

    Town names win over a postal code, which wins over coordinates (on a phone, the
    device's position is the reporter's, not necessarily the person's). Weaker clues
    only narrow an ambiguous stronger one.

    Args:
        session: a session on the database holding the directory.
        place: what ``intents.places.extract_place`` found, or None.

    Returns:
        The resolution; ``status == "none"`` when the place says nothing usable.
    """
    if place is None:
        return NOTHING
    directory = get_directory(session)
    town_ids = list(dict.fromkeys(t for t in place.town_ids if t in directory.towns))
    ward_code = directory.ward_code_for(place.ward)
    postal = _postal(place.postal_code)
    point = (
        (place.latitude, place.longitude) if place.latitude is not None and place.longitude is not None else None
    )
    if town_ids:
        return _by_names(directory, town_ids, ward_code, postal, point)
    if postal is not None:
        by_code = list(directory.towns_by_postal.get(postal, ()))
        if ward_code is not None:
            by_code = [t for t in by_code if directory.towns[t].option.ward_code == ward_code] or by_code
        if by_code:
            return _by_names(directory, by_code, None, postal, point, "postal")
        if ward_code is None and point is None and postal[:3] not in directory.postal_prefixes:
            return OUTSIDE
    if point is not None:
        located = _by_point(directory, *point)
        # A ward said in words outranks a position in another ward.
        if ward_code is not None and located.ward_code != ward_code:
            return _ward_only(directory, ward_code)
        return located
    if ward_code is not None:
        return _ward_only(directory, ward_code)
    return NOTHING


def resolve_town_id(session: Session, town_id: str) -> AreaResolution:
    """The resolution for a town the resident picked from candidates (unknown id → none).

    Args:
        session: a session on the database holding the directory.
        town_id: a town id from ``AreaResolution.candidates``.

    Returns:
        A resolved area, or ``none`` when the id is not in the directory.
    """
    record = get_directory(session).towns.get(town_id)
    return _resolved(record.option, "name") if record else NOTHING


def resolve_ward_code(session: Session, ward_code: str) -> AreaResolution:
    """The resolution for a ward the resident picked (unknown code → none).

    Args:
        session: a session on the database holding the directory.
        ward_code: a code from ``ward_options``.

    Returns:
        A ``ward_only`` area whose candidates are the ward's towns, or ``none``.
    """
    directory = get_directory(session)
    return _ward_only(directory, ward_code) if ward_code in directory.wards else NOTHING


def ward_options(session: Session, language: str = "ja") -> list[tuple[str, str]]:
    """The wards in the city's order, for a "which ward?" question.

    Args:
        session: a session on the database holding the directory.
        language: a Latin-script language names them in romaji (Kita-ku), as towns.csv reads them.

    Returns:
        ``[(ward_code, ward name), ...]``.
    """
    return [(code, ward_name(session, code, language)) for code in get_directory(session).wards]


def ward_name(session: Session, ward_code: str, language: str = "ja") -> str:
    """A ward's name for a resident: kanji, towns.csv's romaji for a Latin-script reader
    (:func:`routing.readers.reads_romaji`), both for other readers (the kanji when it has none).

    Args:
        session: a session on the database holding the directory.
        ward_code: the ward's code ("kita").
        language: the conversation language.

    Returns:
        "北区", "Kita-ku" or "北区 (Kita-ku)"; the code itself when the ward is unknown.
    """
    directory = get_directory(session)
    kanji = directory.wards.get(ward_code, ward_code)
    if reads_kanji(language):
        return kanji
    return _for_reader(kanji, _ward_romaji(directory, ward_code), language)


def _ward_romaji(directory: Directory, ward_code: str) -> str | None:
    return next((record.ward_romaji for record in directory.towns.values()
                 if record.option.ward_code == ward_code and record.ward_romaji), None)


def _for_reader(kanji: str, romaji: str | None, language: str) -> str:
    """Romaji for a Latin-script reader; for one who reads neither kanji nor Latin names (ko, ne),
    the kanji of the signs and letters with the romaji as its reading (「北区 (Kita-ku)」)."""
    if not romaji:
        return kanji
    return romaji if reads_romaji(language) else f"{kanji} ({romaji})"


def town_name(session: Session, town: TownOption, language: str = "ja", *, with_ward: bool = False) -> str:
    """A town's name for a resident (a button title): as :func:`ward_name` names wards.

    Args:
        session: a session on the database holding the directory.
        town: the town.
        language: the conversation language.
        with_ward: prefix the ward ("南区 朝日町" / "Minami-ku Asahicho"), to tell sound-alikes apart.

    Returns:
        The name; the kanji when the directory has no romaji for it.
    """
    name = town.town
    if not reads_kanji(language):
        read = get_directory(session).gazetteer.by_id.get(town.town_id)
        name = _for_reader(name, read.town_romaji if read else None, language)
    return f"{ward_name(session, town.ward_code, language)} {name}" if with_ward else name


def town_romaji(session: Session, town: TownOption) -> str | None:
    """A town with its ward in towns.csv's romaji ("Kita-ku Asahimachi"), as the signs read;
    None when the directory has no romaji for either."""
    directory = get_directory(session)
    read = directory.gazetteer.by_id.get(town.town_id)
    ward = _ward_romaji(directory, town.ward_code)
    if read is None or not read.town_romaji or not ward:
        return None
    return f"{ward} {read.town_romaji}"
