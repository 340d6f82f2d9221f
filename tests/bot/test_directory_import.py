"""Importing a city's HSDS-style CSV directory: complete when good, precise and atomic when broken."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.db import session_scope
from bot.models import Service, Town
from bot.settings import BUNDLED_DIRECTORY
from routing.directory import import_directory
from routing.hsds import DirectoryError


@pytest.fixture
def city(tmp_path: Path) -> Path:
    folder = tmp_path / "city"
    shutil.copytree(BUNDLED_DIRECTORY, folder)
    return folder


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _counts(db_url: str) -> tuple[int, int]:
    with session_scope(db_url) as session:
        return (session.scalar(select(func.count()).select_from(Service)) or 0,
                session.scalar(select(func.count()).select_from(Town)) or 0)


def test_sample_city_imports_completely(db_url: str, city: Path) -> None:
    _edit(city / "services.csv", "北区見守り相談室,", "北区見守り相談室（改）,")
    with session_scope(db_url) as session:
        summary = import_directory(session, city)
    assert summary.counts["services"] == 39 and summary.counts["towns"] == 24
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
    _edit(city / file, old, new)
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
    _edit(city / "towns.geojson", '"town_id": "kita-1-1"', '"town_id": "kita-9-9"')
    with pytest.raises(DirectoryError, match="towns.geojson.*kita-9-9"):
        with session_scope(db_url) as session:
            import_directory(session, city)
