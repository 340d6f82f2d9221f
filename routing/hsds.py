"""A city's counter directory as Open Referral HSDS-style CSV tables: their columns, and
reading them with every file, row and column checked.

A directory is a folder in the shape of ``bot/sample_city`` (organizations, services,
locations, addresses, phones, schedules, service areas, taxonomy terms, attributes,
services_at_location, towns + towns.geojson). ``read_directory`` names the exact spot
of any bad value (file, line, column); ``routing.directory`` writes what passed.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.models import (
    Address,
    Attribute,
    Base,
    Location,
    Organization,
    Phone,
    Schedule,
    Service,
    ServiceArea,
    ServiceAtLocation,
    TaxonomyTerm,
    Town,
)
from routing.community import KIND_PREFIX, KINDS, MONTH_WEEKS_RE

__all__ = ["TABLES", "DirectoryError", "Table", "read_directory", "ward_code_of"]

WEEKDAYS = {"MO", "TU", "WE", "TH", "FR", "SA", "SU"}
TIME_RE = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$")
POSTAL_RE = re.compile(r"^\d{3}-\d{4}$")


class DirectoryError(ValueError):
    """A directory that cannot be imported, naming the file, row (CSV line) and column."""

    def __init__(self, file: str, row: int | None, column: str | None, problem: str) -> None:
        self.file, self.row, self.column, self.problem = file, row, column, problem
        where = file
        if row is not None:
            where += f", line {row}"
        if column is not None:
            where += f", column '{column}'"
        super().__init__(f"{where}: {problem}")


def _text(value: str) -> str:
    return value.strip()


def _required(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value.strip()


def _latitude(value: str) -> float:
    number = float(value)
    if not -90 <= number <= 90:
        raise ValueError(f"latitude {number} is outside -90..90")
    return number


def _longitude(value: str) -> float:
    number = float(value)
    if not -180 <= number <= 180:
        raise ValueError(f"longitude {number} is outside -180..180")
    return number


def _optional_float(parse: Callable[[str], float]) -> Callable[[str], float | None]:
    return lambda value: parse(value) if value.strip() else None


def _time(value: str) -> str:
    if not TIME_RE.match(value.strip()):
        raise ValueError(f"'{value}' is not a time HH:MM (00:00-24:00)")
    return value.strip()


def _byday(value: str) -> str:
    days = [day.strip() for day in value.split(",") if day.strip()]
    unknown = [day for day in days if day not in WEEKDAYS]
    if not days or unknown:
        raise ValueError(f"'{value}' must be a comma-separated list of MO,TU,WE,TH,FR,SA,SU")
    return ",".join(days)


def _optional_hours(value: str) -> int | None:
    if not value.strip():
        return None
    hours = int(value)
    if hours <= 0:
        raise ValueError(f"first_contact_hours must be a positive number of hours, not {hours}")
    return hours


def _postal(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    if value.strip() and len(digits) != 7:
        raise ValueError(f"'{value}' is not a 7-digit postal code")
    return f"{digits[:3]}-{digits[3:]}" if digits else ""


@dataclass(frozen=True)
class Column:
    name: str
    parse: Callable[[str], Any] = _text
    attribute: str | None = None
    optional: bool = False  # the column itself may be absent from the file


@dataclass(frozen=True)
class Table:
    file: str
    model: type[Base]
    columns: tuple[Column, ...]
    # (column, referenced file) pairs checked after every file is read
    references: tuple[tuple[str, str], ...] = ()
    # Keep the row order of the file in a ``position`` column (the city's own order).
    ordered: bool = False


TABLES: tuple[Table, ...] = (
    Table("organizations.csv", Organization, (Column("id", _required), Column("name", _required), Column("description"))),
    Table(
        "services.csv",
        Service,
        (
            Column("id", _required),
            Column("organization_id", _required),
            Column("name", _required),
            Column("description"),
            Column("status", _required),
            Column("languages", optional=True),
            Column("first_contact_hours", _optional_hours, optional=True),
        ),
        references=(("organization_id", "organizations.csv"),),
        ordered=True,
    ),
    Table(
        "locations.csv",
        Location,
        (
            Column("id", _required),
            Column("name", _required),
            Column("latitude", _optional_float(_latitude)),
            Column("longitude", _optional_float(_longitude)),
        ),
    ),
    Table(
        "addresses.csv",
        Address,
        (
            Column("id", _required),
            Column("location_id", _required),
            Column("address_1", _required),
            Column("city"),
            Column("state_province", optional=True),
            Column("postal_code", _postal),
            Column("country", optional=True),
        ),
        references=(("location_id", "locations.csv"),),
    ),
    Table(
        "services_at_location.csv",
        ServiceAtLocation,
        (Column("id", _required), Column("service_id", _required), Column("location_id", _required)),
        references=(("service_id", "services.csv"), ("location_id", "locations.csv")),
    ),
    Table(
        "phones.csv",
        Phone,
        (
            Column("id", _required),
            Column("service_id", _required),
            Column("number", _required),
            Column("type", optional=True),
            Column("language", optional=True),
        ),
        references=(("service_id", "services.csv"),),
    ),
    Table(
        "schedules.csv",
        Schedule,
        (
            Column("id", _required),
            Column("service_id", _required),
            Column("freq", _required),
            Column("byday", _byday),
            Column("opens_at", _time),
            Column("closes_at", _time),
            Column("notes", optional=True),
        ),
        references=(("service_id", "services.csv"),),
    ),
    Table(
        "service_areas.csv",
        ServiceArea,
        (Column("id", _required), Column("service_id", _required), Column("name"), Column("area_code", _required)),
        references=(("service_id", "services.csv"),),
    ),
    Table(
        "taxonomy_terms.csv",
        TaxonomyTerm,
        (Column("id", _required), Column("code", _required), Column("name", _required), Column("taxonomy")),
    ),
    Table(
        "attributes.csv",
        Attribute,
        (
            Column("id", _required),
            Column("link_id", _required),
            Column("link_type", _required),
            Column("taxonomy_term_id", _required),
        ),
        references=(("link_id", "services.csv"), ("taxonomy_term_id", "taxonomy_terms.csv")),
    ),
    Table(
        "towns.csv",
        Town,
        (
            Column("town_id", _required),
            Column("ward", _required),
            Column("town", _required),
            Column("sphere", _required),
            Column("postal_code", _postal),
            Column("latitude", _latitude),
            Column("longitude", _longitude),
            Column("ward_kana", optional=True),
            Column("town_kana", optional=True),
            Column("ward_romaji", optional=True),
            Column("town_romaji", optional=True),
        ),
        ordered=True,
    ),
)


def ward_code_of(sphere: str) -> str:
    """Care area ``kita-1`` belongs to ward ``kita``: the directory's area codes say so."""
    return sphere.rsplit("-", 1)[0] if "-" in sphere else sphere


def _read_table(folder: Path, table: Table) -> list[dict[str, Any]]:
    path = folder / table.file
    if not path.is_file():
        raise DirectoryError(table.file, None, None, "file is missing")
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            for column in table.columns:
                if column.name not in header and not column.optional:
                    raise DirectoryError(table.file, 1, column.name, "column is missing from the header")
            rows: list[dict[str, Any]] = []
            seen: dict[str, int] = {}
            for raw in reader:
                line = reader.line_num
                if None in raw:
                    raise DirectoryError(table.file, line, None, "row has more fields than the header")
                record: dict[str, Any] = {}
                for column in table.columns:
                    value = raw.get(column.name)
                    if value is None:
                        if column.optional:
                            continue
                        raise DirectoryError(table.file, line, column.name, "row has fewer fields than the header")
                    try:
                        parsed = column.parse(value)
                    except ValueError as error:
                        raise DirectoryError(table.file, line, column.name, str(error)) from None
                    limit = _length_limit(table, column)
                    if isinstance(parsed, str) and limit is not None and len(parsed) > limit:
                        raise DirectoryError(table.file, line, column.name,
                                             f"{len(parsed)} characters; at most {limit} fit")
                    record[column.attribute or column.name] = parsed
                key = str(record[table.columns[0].name])
                if key in seen:
                    raise DirectoryError(
                        table.file, line, table.columns[0].name, f"duplicate id '{key}' (first on line {seen[key]})"
                    )
                seen[key] = line
                record["_line"] = line
                rows.append(record)
    except UnicodeDecodeError as error:
        raise DirectoryError(table.file, None, None, f"not UTF-8 text ({error.reason})") from None
    except csv.Error as error:
        # e.g. a field longer than the csv module's limit, or a NUL byte; the reader has not yet
        # counted the line it was reading.
        raise DirectoryError(table.file, reader.line_num + 1, None, f"not a readable CSV row ({error})") from None
    return rows


def _length_limit(table: Table, column: Column) -> int | None:
    """The most characters the database column behind ``column`` holds (None: unlimited)."""
    model_column = table.model.__table__.columns.get(column.attribute or column.name)
    return getattr(model_column.type, "length", None) if model_column is not None else None


def _read_polygons(folder: Path, town_ids: set[str]) -> dict[str, dict[str, Any]]:
    path = folder / "towns.geojson"
    if not path.is_file():
        return {}
    try:
        collection = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise DirectoryError("towns.geojson", None, None, f"not UTF-8 text ({error.reason})") from None
    except json.JSONDecodeError as error:
        raise DirectoryError("towns.geojson", error.lineno, None, f"invalid JSON: {error.msg}") from None
    features = collection.get("features") if isinstance(collection, dict) else None
    if not isinstance(features, list):
        raise DirectoryError("towns.geojson", None, None, "not a GeoJSON FeatureCollection (no \"features\" list)")
    polygons: dict[str, dict[str, Any]] = {}
    for index, feature in enumerate(features):
        if not isinstance(feature, dict):
            raise DirectoryError("towns.geojson", None, None, f"feature {index}: not a GeoJSON Feature object")
        properties, geometry = feature.get("properties"), feature.get("geometry")
        town_id = properties.get("town_id") if isinstance(properties, dict) else None
        geometry = geometry if isinstance(geometry, dict) else {}
        if town_id not in town_ids:
            raise DirectoryError("towns.geojson", None, "town_id", f"feature {index}: unknown town_id '{town_id}'")
        if geometry.get("type") not in {"Polygon", "MultiPolygon"}:
            raise DirectoryError("towns.geojson", None, "geometry", f"feature {index}: not a Polygon/MultiPolygon")
        polygons[town_id] = geometry
    return polygons


def _check_area_codes(tables: dict[str, list[dict[str, Any]]]) -> None:
    """Every service area must name a town, a care area, a ward, ``city`` or ``japan``."""
    known = {"city", "japan"}
    for town in tables["towns.csv"]:
        known.update((town["town_id"], town["sphere"], town["ward_code"]))
    for row in tables["service_areas.csv"]:
        if row["area_code"] not in known:
            raise DirectoryError(
                "service_areas.csv",
                row["_line"],
                "area_code",
                f"'{row['area_code']}' is not a town_id, care area (sphere) or ward of towns.csv, 'city' or 'japan'",
            )


def _check_community_places(tables: dict[str, list[dict[str, Any]]]) -> None:
    """A community place (a service with a ``community:<kind>`` term, ``routing.community``)
    needs one known kind, a location with coordinates (the walking time is measured from it)
    and a schedule; a monthly schedule names its weeks in ``notes`` (「第2・第4」)."""
    codes = {row["id"]: row["code"] for row in tables["taxonomy_terms.csv"]}
    kinds: dict[str, list[dict[str, Any]]] = {}
    for row in tables["attributes.csv"]:
        code = codes[row["taxonomy_term_id"]]
        if row["link_type"] == "service" and code.startswith(KIND_PREFIX):
            if code.removeprefix(KIND_PREFIX) not in KINDS:
                raise DirectoryError("attributes.csv", row["_line"], "taxonomy_term_id",
                                     f"'{code}' is not a community kind ({', '.join(KINDS)})")
            kinds.setdefault(row["link_id"], []).append(row)
    located = {row["id"] for row in tables["locations.csv"]
               if row["latitude"] is not None and row["longitude"] is not None}
    with_place = {row["service_id"] for row in tables["services_at_location.csv"] if row["location_id"] in located}
    scheduled = {row["service_id"] for row in tables["schedules.csv"]}
    for service_id, rows in kinds.items():
        line = rows[-1]["_line"]
        if len(rows) > 1:
            raise DirectoryError("attributes.csv", line, "taxonomy_term_id",
                                 f"community place '{service_id}' has more than one community kind")
        if service_id not in with_place:
            raise DirectoryError("services_at_location.csv", None, "location_id",
                                 f"community place '{service_id}' has no location with latitude and longitude")
        if service_id not in scheduled:
            raise DirectoryError("schedules.csv", None, "service_id", f"community place '{service_id}' has no schedule")
    for row in tables["schedules.csv"]:
        if row["service_id"] not in kinds:
            continue
        if row["freq"] not in ("WEEKLY", "MONTHLY"):
            raise DirectoryError("schedules.csv", row["_line"], "freq", f"'{row['freq']}' must be WEEKLY or MONTHLY")
        if row["freq"] == "MONTHLY" and not MONTH_WEEKS_RE.search(row.get("notes") or ""):
            raise DirectoryError("schedules.csv", row["_line"], "notes",
                                 "a MONTHLY schedule names its weeks of the month, e.g. 第2・第4")


def read_directory(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """Read and validate every table of a directory folder.

    Args:
        folder: a folder of HSDS-style CSV files plus ``towns.geojson``.

    Returns:
        The validated rows of each file, keyed by file name.

    Raises:
        DirectoryError: naming the file, line and column of the first problem.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DirectoryError(str(folder), None, None, "directory folder not found")
    tables = {table.file: _read_table(folder, table) for table in TABLES}
    ids = {file: {str(row[next(iter(row))]) for row in rows} for file, rows in tables.items()}
    for table in TABLES:
        for column, target in table.references:
            for row in tables[table.file]:
                if row[column] not in ids[target]:
                    raise DirectoryError(
                        table.file, row["_line"], column, f"'{row[column]}' does not exist in {target}"
                    )
    polygons = _read_polygons(folder, ids["towns.csv"])
    for row in tables["towns.csv"]:
        row["ward_code"] = ward_code_of(row["sphere"])
        row["geometry"] = polygons.get(row["town_id"])
    _check_area_codes(tables)
    _check_community_places(tables)
    for table in TABLES:
        if table.ordered:
            for position, row in enumerate(tables[table.file]):
                row["position"] = position
    return tables
