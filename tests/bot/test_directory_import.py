"""Importing a city's HSDS-style CSV directory: complete when good, precise and atomic when broken."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.db import session_scope
from bot.models import Service, Town
from bot.settings import BUNDLED_DIRECTORY, settings
from routing.directory import import_directory
from routing.hsds import DirectoryError


@pytest.fixture
def city(tmp_path: Path) -> Iterator[Path]:
    """A copy of the sample city to edit and import.

    A test's SQLite file is its own, but the PostgreSQL schema is shared by the run: a city
    imported there is replaced by the sample city again, or the tests after it would
    find, say, no community places.
    """
    folder = tmp_path / "city"
    shutil.copytree(BUNDLED_DIRECTORY, folder)
    yield folder
    if settings.database_url.startswith("postgresql"):
        with session_scope(settings.database_url) as session:
            import_directory(session, BUNDLED_DIRECTORY)


def edit_file(path: Path, old: str, new: str) -> None:
    """Change one place of a copied city's table (the test fails if the text is not there)."""
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _counts(db_url: str) -> tuple[int, int]:
    with session_scope(db_url) as session:
        return (session.scalar(select(func.count()).select_from(Service)) or 0,
                session.scalar(select(func.count()).select_from(Town)) or 0)


def test_sample_city_imports_completely(db_url: str, city: Path) -> None:
    edit_file(city / "services.csv", "北区見守り相談室,", "北区見守り相談室（改）,")
    with session_scope(db_url) as session:
        summary = import_directory(session, city)
    assert summary.counts["services"] == 39 + 36 and summary.counts["towns"] == 24  # counters + community places
    with session_scope(db_url) as session:
        assert session.get(Service, "mimamori-kita").name == "北区見守り相談室（改）"
        town = session.get(Town, "minami-1-2")
        assert town.town_kana == "あさひちょう" and town.ward_code == "minami"
        assert town.geometry["type"] == "Polygon"


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        ("locations.csv", "34.73500,135.48000", "134.73500,135.48000", "locations.csv, line 2, column 'latitude'"),
        ("schedules.csv", "09:00,17:30", "9時,17:30", "schedules.csv, line 2, column 'opens_at'"),
        ("schedules.csv", '"MO,TU,WE,TH,FR"', '"MO,TU,XX"', "column 'byday'"),
        ("phones.csv", "ph-kikan-kita,kikan-kita,", "ph-kikan-kita,kikan-nowhere,", "'kikan-nowhere' does not exist in services.csv"),
        ("services.csv", "kikan-kita,org-kita", "houkatsu-kita-1,org-kita", "duplicate id 'houkatsu-kita-1'"),
        ("towns.csv", "000-0106", "000-01", "towns.csv, line 7, column 'postal_code'"),
        ("organizations.csv", "id,name,description", "id,title,description", "column 'name': column is missing"),
    ],
)
def test_broken_directory_names_file_line_column_and_changes_nothing(
    db_url: str, city: Path, file: str, old: str, new: str, message: str
) -> None:
    before = _counts(db_url)
    edit_file(city / file, old, new)
    with pytest.raises(DirectoryError) as raised:
        with session_scope(db_url) as session:
            import_directory(session, city)
    assert message in str(raised.value)
    assert _counts(db_url) == before, "the old directory must stay intact"


def test_missing_file_is_named(db_url: str, city: Path) -> None:
    (city / "phones.csv").unlink()
    with pytest.raises(DirectoryError, match="phones.csv: file is missing"):
        with session_scope(db_url) as session:
            import_directory(session, city)


def test_polygon_for_unknown_town_is_refused(db_url: str, city: Path) -> None:
    edit_file(city / "towns.geojson", '"town_id": "kita-1-1"', '"town_id": "kita-9-9"')
    with pytest.raises(DirectoryError, match="towns.geojson.*kita-9-9"):
        with session_scope(db_url) as session:
            import_directory(session, city)


def _import_refused(db_url: str, city: Path) -> str:
    before = _counts(db_url)
    with pytest.raises(DirectoryError) as raised:
        with session_scope(db_url) as session:
            import_directory(session, city)
    assert _counts(db_url) == before, "the old directory must stay intact"
    return str(raised.value)


@pytest.mark.parametrize(("geojson", "message"), [
    ("[]", "not a GeoJSON FeatureCollection"),
    ('{"type": "FeatureCollection", "features": ["kita-1-1"]}', "feature 0: not a GeoJSON Feature"),
    ('{"type": "FeatureCollection", "features": [{"properties": "kita-1-1", "geometry": []}]}',
     "feature 0: unknown town_id"),
])
def test_a_geojson_of_the_wrong_shape_is_named_not_a_traceback(
    db_url: str, city: Path, geojson: str, message: str
) -> None:
    (city / "towns.geojson").write_text(geojson, encoding="utf-8")
    assert message in _import_refused(db_url, city)


def test_a_shift_jis_geojson_is_named(db_url: str, city: Path) -> None:
    geojson = city / "towns.geojson"
    geojson.write_bytes(geojson.read_text(encoding="utf-8").replace("kita-1-1", "北区").encode("shift_jis",
                                                                                              errors="ignore"))
    assert "towns.geojson: not UTF-8 text" in _import_refused(db_url, city)


def test_a_field_beyond_the_csv_limit_names_file_and_line(db_url: str, city: Path) -> None:
    edit_file(city / "organizations.csv", "id,name,description\n", "id,name,description\norg-long,長い," + "あ" * 200_000 + "\n")
    assert "organizations.csv, line 2" in _import_refused(db_url, city)


def test_an_id_too_long_for_the_database_names_file_line_and_column(db_url: str, city: Path) -> None:
    edit_file(city / "organizations.csv", "id,name,description\n", "id,name,description\n" + "o" * 300 + ",長い,\n")
    message = _import_refused(db_url, city)
    assert "organizations.csv, line 2, column 'id'" in message and "at most" in message
