"""Fixtures for routing tests: a session on each real database, the sample city read straight
from its CSV files (expectations come from the data, not from the code under test), places."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from bot.db import session_scope
from bot.settings import BUNDLED_DIRECTORY

TOKYO = ZoneInfo("Asia/Tokyo")
# Tuesday 2026-11-24 10:00 JST: an ordinary working morning.
WORKDAY_MORNING = datetime(2026, 11, 24, 10, 0, tzinfo=TOKYO)


def read_csv(name: str) -> list[dict[str, str]]:
    with (BUNDLED_DIRECTORY / name).open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


@dataclass(frozen=True)
class SampleCity:
    """The sample city as its files say, for deriving expected answers."""

    towns: list[dict[str, str]]
    polygons: dict[str, dict[str, Any]]
    topics: dict[str, set[str]]  # service id -> topics
    areas: dict[str, set[str]]  # service id -> area codes
    phones: dict[str, str]

    def ward_of(self, sphere: str) -> str:
        return sphere.rsplit("-", 1)[0]

    def expected_counter(self, topic: str, town: dict[str, str]) -> str | None:
        """The most specific local service with the topic covering the town (care area > ward > city)."""
        for code in (town["town_id"], town["sphere"], self.ward_of(town["sphere"]), "city"):
            matching = sorted(s for s, topics in self.topics.items() if topic in topics and code in self.areas[s])
            if matching:
                assert len(matching) == 1, f"sample city has two {topic} services for {code}"
                return matching[0]
        return None

    def national_lines(self, topic: str) -> set[str]:
        return {s for s, topics in self.topics.items() if topic in topics and "japan" in self.areas[s]}

    def wards(self) -> list[str]:
        return list(dict.fromkeys(self.ward_of(town["sphere"]) for town in self.towns))


@pytest.fixture(scope="session")
def city() -> SampleCity:
    topics: dict[str, set[str]] = {}
    for row in read_csv("attributes.csv"):
        topics.setdefault(row["link_id"], set()).add(row["taxonomy_term_id"])
    areas: dict[str, set[str]] = {}
    for row in read_csv("service_areas.csv"):
        areas.setdefault(row["service_id"], set()).add(row["area_code"])
    geojson = json.loads((BUNDLED_DIRECTORY / "towns.geojson").read_text(encoding="utf-8"))
    polygons = {f["properties"]["town_id"]: f["geometry"] for f in geojson["features"]}
    phones = {row["service_id"]: row["number"] for row in read_csv("phones.csv")}
    return SampleCity(read_csv("towns.csv"), polygons, topics, areas, phones)


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    with session_scope(db_url) as session:
        yield session


def place(**fields: Any) -> Any:
    """A place as intents.places.extract_place returns it."""
    from intents.places import Place

    values = {"town_ids": (), "ward": None, "postal_code": None, "latitude": None, "longitude": None,
              "detail": None, "matched": ""}
    values.update(fields)
    return Place(**values)


@pytest.fixture
def fresh_sqlite(tmp_path: Path) -> str:
    """An empty, migrated SQLite database of its own (for importing other directories)."""
    from bot.db import migrate

    url = f"sqlite:///{tmp_path / 'own.db'}"
    migrate(url)
    return url
