"""The risk map page of the staff console (SQLite and PostgreSQL): the map with a legend and every
town, the ranked table with small counts hidden, the CSV export (audited), and who may see it."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from datetime import datetime, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.db import session_scope
from bot.models.console import AuditEntry
from bot.models.staff import Role
from bot.settings import BUNDLED_DIRECTORY, settings
from routing.riskmap import compute_risk, import_stats

NOW = datetime(2026, 11, 24, 1, 0, tzinfo=timezone.utc)
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def computed(db_url: str) -> int:
    """The sample city's statistics imported and scored; the number of towns."""
    with session_scope(db_url) as session:
        towns = import_stats(session, BUNDLED_DIRECTORY / "town_stats.csv", NOW)
        compute_risk(session, NOW)
    return towns


def sample_towns() -> set[str]:
    with (BUNDLED_DIRECTORY / "towns.csv").open(encoding="utf-8-sig", newline="") as handle:
        return {row["town_id"] for row in csv.DictReader(handle)}


def hidden_lone_deaths() -> set[str]:
    """The sample towns whose lone deaths are a count the map must hide (1 to k-1)."""
    k = settings.risk_map_k_anonymity
    with (BUNDLED_DIRECTORY / "town_stats.csv").open(encoding="utf-8-sig", newline="") as handle:
        return {row["town_id"] for row in csv.DictReader(handle) if 0 < int(row["lone_deaths"]) < k}


@pytest.mark.parametrize("role", [Role.manager, Role.admin, Role.alert_desk])
def test_the_page_shows_the_map_and_the_ranked_table(
    computed: int, staff_client: Callable[..., TestClient], role: Role
) -> None:
    answer = staff_client(role=role).get("/staff/risk-map")
    assert answer.status_code == 200
    html = answer.text
    start, end = html.index("<svg"), html.index("</svg>") + len("</svg>")
    svg = ElementTree.fromstring(html[start:end])
    assert {path.get("data-town") for path in svg.iter(f"{SVG}path") if path.get("data-town")} == sample_towns()
    assert any(group.get("class") == "tsunagu-map-legend" for group in svg.iter(f"{SVG}g"))

    rows = html.split('<tbody>', 1)[1].split("</tbody>", 1)[0].split("<tr ")[1:]
    assert len(rows) == computed
    assert rows[0].startswith('data-town="chuo-2-1"'), "the sample city's riskiest town first"
    k = settings.risk_map_k_anonymity
    for row in rows:
        town_id = row.split('"')[1]
        cell = row.split('data-indicator="lone_deaths">', 1)[1].split("</td>", 1)[0]
        if town_id in hidden_lone_deaths():
            assert cell.strip() == f"&lt;{k}", town_id
        else:
            assert "&lt;" not in cell, town_id


def test_counter_staff_do_not_see_the_map(computed: int, staff_client: Callable[..., TestClient]) -> None:
    client = staff_client(role=Role.counter)
    assert client.get("/staff/risk-map").status_code == 403
    assert client.get("/staff/risk-map.csv").status_code == 403


def test_logged_out_the_page_asks_to_log_in(computed: int, console_app: object) -> None:
    answer = TestClient(console_app).get("/staff/risk-map", follow_redirects=False)  # type: ignore[arg-type]
    assert answer.status_code in (303, 401) and "/staff/login" in answer.headers.get("location", "/staff/login")


def test_without_a_computation_the_page_says_how_to_make_one(db_url: str,
                                                             staff_client: Callable[..., TestClient]) -> None:
    client = staff_client(role=Role.manager)
    answer = client.get("/staff/risk-map")
    assert answer.status_code == 200 and 'data-testid="no-risk-map"' in answer.text
    assert client.get("/staff/risk-map.csv").status_code == 404


def test_the_csv_export_is_the_ranked_table_and_is_audited(
    db_url: str, computed: int, staff_client: Callable[..., TestClient]
) -> None:
    client = staff_client(role=Role.manager)
    answer = client.get("/staff/risk-map.csv")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert answer.text.startswith("\ufeff")
    table = list(csv.DictReader(io.StringIO(answer.text.removeprefix("\ufeff"))))
    assert {row["town_id"] for row in table} == sample_towns()
    assert [int(row["rank"]) for row in table] == sorted(int(row["rank"]) for row in table)
    k = settings.risk_map_k_anonymity
    for row in table:
        if row["town_id"] in hidden_lone_deaths():
            assert (row["lone_deaths_count"], row["lone_deaths_value"]) == (f"<{k}", "")
    with session_scope(db_url) as session:
        entries = list(session.scalars(select(AuditEntry).where(AuditEntry.object_type == "risk_map")))
    assert [entry.action for entry in entries] == ["export"]


def test_the_page_in_english(computed: int, staff_client: Callable[..., TestClient]) -> None:
    answer = staff_client(role=Role.manager).get("/staff/risk-map?lang=en")
    assert answer.status_code == 200
    assert '<html lang="en">' in answer.text and 'href="/staff/risk-map.csv"' in answer.text
