"""The isolation risk map on SQLite and PostgreSQL: statistics imported all or nothing, the
score's order on constructed towns (and the weights changing it), small counts suppressed,
the GeoJSON and SVG maps, and housekeeping recomputing on its schedule."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import time_machine
import typer
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from bot.console.maps import town_map_svg
from bot.db import session_scope
from bot.housekeeping import run_due_jobs
from bot.models import Alert, AlertStatus, Case, CaseKind
from bot.models.community import RiskComputation, TownRiskScore, TownStats
from bot.settings import BUNDLED_DIRECTORY, settings
from routing.riskmap import (
    INDICATORS,
    StatsError,
    compute_risk,
    import_stats,
    latest_computation,
    ranked_towns,
    ranking_csv,
    risk_geojson,
)
from routing.riskmap_commands import register
from tests.routing.conftest import SampleCity

NOW = datetime(2026, 11, 24, 1, 0, tzinfo=timezone.utc)
HEADER = ["town_id", "population", "aged_65_plus", "single_elderly_households", "care_certifications", "lone_deaths"]
# Three towns alike but for one thing each: the order must come from the numbers.
ALIKE = [1000, 300, 60, 50, 0]


def write_stats(path: Path, rows: Sequence[Sequence[object]], header: Sequence[str] = HEADER) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def imported(db_url: str, path: Path, now: datetime = NOW) -> None:
    with session_scope(db_url) as session:
        import_stats(session, path, now)


def scores(db_url: str, **options: object) -> dict[str, TownRiskScore]:
    with session_scope(db_url) as session:
        computation = compute_risk(session, NOW, **options)  # type: ignore[arg-type]
        session.expunge_all()
        return {row.town_id: row for row in computation.scores}


def add_case(session: Session, town_id: str, kind: CaseKind = CaseKind.worry, source: str | None = None,
             at: datetime = NOW - timedelta(days=30)) -> None:
    session.add(Case(kind=kind, topic="elderly", counter_id="c", town_id=town_id,
                     details={"source": source} if source else {}, created_at=at, last_report_at=at))


def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """The `tsunagu` root, without the domain check the real one runs first."""

    register(app, draw_map=town_map_svg)
    return app


# --------------------------------------------------------------------------- the score


def test_the_score_orders_towns_by_their_statistics_and_signals(db_url: str, tmp_path: Path) -> None:
    # kita-1-1 has the highest rates of everything, kita-1-3 the lowest; kita-1-2 and kita-1-4
    # have the same statistics, and kita-1-2's worry, partner and sensor reports lift it.
    write_stats(tmp_path / "stats.csv", [
        ["kita-1-1", 1000, 400, 200, 100, 10],
        ["kita-1-2", 1000, 300, 100, 60, 5],
        ["kita-1-3", 1000, 300, 50, 50, 0],
        ["kita-1-4", 1000, 300, 100, 60, 5],
    ])
    imported(db_url, tmp_path / "stats.csv")
    with session_scope(db_url) as session:
        for source in (None, "partner", "sensor") * 5:
            add_case(session, "kita-1-2", source=source)
        for source in (None, "partner", "sensor") * 8:
            add_case(session, "kita-1-1", source=source)
        # A missing-person case is no worry report.
        add_case(session, "kita-1-4", kind=CaseKind.missing)
        # Outside the window, or never sent: not counted.
        add_case(session, "kita-1-4", at=NOW - timedelta(days=settings.risk_map_window_days + 1))
        session.add(Alert(town_id="kita-1-4", status=AlertStatus.cancelled, created_at=NOW - timedelta(days=3)))
    result = scores(db_url)
    order = sorted(result, key=lambda town_id: result[town_id].rank)
    assert order == ["kita-1-1", "kita-1-2", "kita-1-4", "kita-1-3"]
    assert [result[town_id].rank for town_id in order] == [1, 2, 3, 4]
    assert result["kita-1-1"].score > result["kita-1-2"].score > result["kita-1-4"].score > result["kita-1-3"].score
    signals = result["kita-1-2"].indicators
    assert signals["worry_reports"] == {"count": 5, "value": round(5 * 1000 / 300, 1)}
    assert signals["partner_reports"]["count"] == 5 and signals["sensor_alerts"]["count"] == 5
    assert result["kita-1-1"].indicators["sensor_alerts"] == {"count": 8, "value": 20.0}
    assert result["kita-1-4"].indicators["worry_reports"]["count"] == 0
    assert result["kita-1-4"].indicators["missing_alerts"]["count"] == 0


def test_sent_missing_person_alerts_count_for_their_town(db_url: str, tmp_path: Path) -> None:
    write_stats(tmp_path / "stats.csv", [["kita-1-1", *ALIKE], ["kita-1-2", *ALIKE]])
    imported(db_url, tmp_path / "stats.csv")
    with session_scope(db_url) as session:
        for day in range(6):
            moment = NOW - timedelta(days=day + 1)
            session.add(Alert(town_id="kita-1-2", status=AlertStatus.found, created_at=moment, approved_at=moment))
    result = scores(db_url)
    assert result["kita-1-2"].indicators["missing_alerts"] == {"count": 6, "value": 20.0}
    assert result["kita-1-2"].rank == 1 and result["kita-1-1"].rank == 2


def test_the_weights_change_the_order(db_url: str, tmp_path: Path) -> None:
    # kita-1-1: many single elderly households; kita-1-2: many past lone deaths.
    write_stats(tmp_path / "stats.csv", [
        ["kita-1-1", 1000, 300, 150, 50, 5],
        ["kita-1-2", 1000, 300, 60, 50, 15],
    ])
    imported(db_url, tmp_path / "stats.csv")
    by_households = scores(db_url, weights={"single_elderly": 3.0, "lone_deaths": 1.0})
    assert by_households["kita-1-1"].rank == 1 and by_households["kita-1-2"].rank == 2
    by_deaths = scores(db_url, weights={"single_elderly": 1.0, "lone_deaths": 3.0})
    assert by_deaths["kita-1-2"].rank == 1 and by_deaths["kita-1-1"].rank == 2
    with session_scope(db_url) as session:
        stored = latest_computation(session)
        assert stored is not None and stored.weights["lone_deaths"] == 3.0 and stored.weights["aged_share"] == 0.0


@pytest.mark.parametrize("weights", [{"loneliness": 1.0}, {"lone_deaths": -1.0}, {"lone_deaths": 0.0}])
def test_weights_that_cannot_be_used_are_refused(db_url: str, tmp_path: Path, weights: dict[str, float]) -> None:
    imported(db_url, write_stats(tmp_path / "stats.csv", [["kita-1-1", *ALIKE]]))
    with pytest.raises(ValueError), session_scope(db_url) as session:
        compute_risk(session, NOW, weights=weights)


def test_equal_towns_share_a_rank(db_url: str, tmp_path: Path) -> None:
    write_stats(tmp_path / "stats.csv", [["kita-1-1", 1000, 300, 90, 50, 9], ["kita-1-2", *ALIKE],
                                         ["kita-1-3", *ALIKE]])
    imported(db_url, tmp_path / "stats.csv")
    result = scores(db_url)
    assert [result[town].rank for town in ("kita-1-1", "kita-1-2", "kita-1-3")] == [1, 2, 2]


# --------------------------------------------------------------------------- suppression


def test_counts_below_k_are_shown_as_less_than_k_and_tell_the_score_nothing(db_url: str, tmp_path: Path) -> None:
    k = settings.risk_map_k_anonymity
    # Alike but for past lone deaths: 1 and k-1 (both hidden), k (shown), 0 (shown).
    write_stats(tmp_path / "stats.csv", [
        ["kita-1-1", 1000, 300, 60, 50, 1],
        ["kita-1-2", 1000, 300, 60, 50, k - 1],
        ["kita-1-3", 1000, 300, 60, 50, k],
        ["kita-1-4", 1000, 300, 60, 50, 0],
    ])
    imported(db_url, tmp_path / "stats.csv")
    with session_scope(db_url) as session:
        for _ in range(2):
            add_case(session, "kita-1-3")
    result = scores(db_url)
    for town_id in ("kita-1-1", "kita-1-2"):
        assert result[town_id].indicators["lone_deaths"] == {"count": f"<{k}", "value": None}
    assert result["kita-1-3"].indicators["lone_deaths"] == {"count": k, "value": round(k * 1000 / 300, 1)}
    assert result["kita-1-4"].indicators["lone_deaths"] == {"count": 0, "value": 0.0}
    assert result["kita-1-3"].indicators["worry_reports"] == {"count": f"<{k}", "value": None}
    # 1 and k-1 lone deaths give the same score: the score cannot tell them apart either.
    assert result["kita-1-1"].score == result["kita-1-2"].score
    assert result["kita-1-4"].score < result["kita-1-1"].score

    with session_scope(db_url) as session:
        computation = latest_computation(session)
        assert computation is not None
        towns = ranked_towns(session, computation)
        geojson = json.dumps(risk_geojson(computation, towns), ensure_ascii=False)
        table = list(csv.DictReader(io.StringIO(ranking_csv(towns))))
    shown = {row["town_id"]: row for row in table}
    assert shown["kita-1-2"]["lone_deaths_count"] == f"<{k}" and shown["kita-1-2"]["lone_deaths_value"] == ""
    # No count from 1 to k-1 anywhere in the map.
    for feature in json.loads(geojson)["features"]:
        for name, shown_value in feature["properties"]["indicators"].items():
            count = shown_value if name == "population" else shown_value["count"]
            assert count == f"<{k}" or count == 0 or count >= k, (feature["id"], name)


def test_a_town_with_fewer_elders_than_k_is_left_unscored(db_url: str, tmp_path: Path) -> None:
    k = settings.risk_map_k_anonymity
    write_stats(tmp_path / "stats.csv", [["kita-1-1", *ALIKE], ["kita-1-2", 20, k - 1, 1, 1, 0]])
    imported(db_url, tmp_path / "stats.csv")
    assert set(scores(db_url)) == {"kita-1-1"}


def test_the_threshold_comes_from_the_settings(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "risk_map_k_anonymity", 12)
    write_stats(tmp_path / "stats.csv", [["kita-1-1", 1000, 300, 60, 50, 10]])
    imported(db_url, tmp_path / "stats.csv")
    assert scores(db_url)["kita-1-1"].indicators["lone_deaths"]["count"] == "<12"


# --------------------------------------------------------------------------- import


@pytest.mark.parametrize(("rows", "header", "line", "column"), [
    ([["kita-1-1", *ALIKE], ["nowhere-9", *ALIKE]], HEADER, 3, "town_id"),
    ([["kita-1-1", *ALIKE], ["kita-1-1", *ALIKE]], HEADER, 3, "town_id"),
    ([["kita-1-1", *ALIKE], ["kita-1-2", 1000, 300, 60, -1, 0]], HEADER, 3, "care_certifications"),
    ([["kita-1-1", 1000, "three hundred", 60, 50, 0]], HEADER, 2, "aged_65_plus"),
    ([["kita-1-1", 1000, 300, "", 50, 0]], HEADER, 2, "single_elderly_households"),
    ([["kita-1-1", 100, 300, 60, 50, 0]], HEADER, 2, "aged_65_plus"),
    ([["kita-1-1", 1000, 300, 60, 50, 301]], HEADER, 2, "lone_deaths"),
    ([["kita-1-1", 1000, 300, 60, 50]], HEADER[:-1], 1, "lone_deaths"),
])
def test_a_bad_statistics_file_names_row_and_column_and_changes_nothing(
    db_url: str, tmp_path: Path, rows: list[list[object]], header: list[str], line: int, column: str
) -> None:
    imported(db_url, write_stats(tmp_path / "good.csv", [["kita-2-1", 2000, 500, 100, 80, 6]]))
    bad = write_stats(tmp_path / "bad.csv", rows, header)
    with pytest.raises(StatsError) as raised, session_scope(db_url) as session:
        import_stats(session, bad, NOW + timedelta(days=1))
    assert (raised.value.row, raised.value.column) == (line, column)
    with session_scope(db_url) as session:
        assert list(session.scalars(select(TownStats.town_id))) == ["kita-2-1"]

    result = CliRunner().invoke(cli(), ["risk-map", "import-stats", str(bad)])
    assert result.exit_code == 1
    assert f"line {line}" in result.output and f"'{column}'" in result.output
    with session_scope(db_url) as session:
        assert list(session.scalars(select(TownStats.town_id))) == ["kita-2-1"]


def test_the_sample_citys_statistics_cover_every_town(db_url: str, city: SampleCity) -> None:
    result = CliRunner().invoke(cli(), ["risk-map", "import-stats", str(BUNDLED_DIRECTORY / "town_stats.csv")])
    assert result.exit_code == 0, result.output
    with session_scope(db_url) as session:
        assert set(session.scalars(select(TownStats.town_id))) == {town["town_id"] for town in city.towns}
        computation = latest_computation(session)
        assert computation is not None and len(computation.scores) == len(city.towns)


# --------------------------------------------------------------------------- the maps


def test_the_geojson_is_a_feature_collection_of_town_polygons(
    db_url: str, tmp_path: Path, city: SampleCity
) -> None:
    runner = CliRunner()
    assert runner.invoke(cli(), ["risk-map", "import-stats", str(BUNDLED_DIRECTORY / "town_stats.csv")]).exit_code == 0
    result = runner.invoke(cli(), ["risk-map", "--out", str(tmp_path / "map.geojson")])
    assert result.exit_code == 0, result.output
    collection = json.loads((tmp_path / "map.geojson").read_text(encoding="utf-8"))
    assert collection["type"] == "FeatureCollection"
    assert collection["weights"] == settings.risk_map_weights
    features = collection["features"]
    assert {feature["properties"]["town_id"] for feature in features} == {t["town_id"] for t in city.towns}
    ranks = []
    for feature in features:
        assert feature["type"] == "Feature"
        geometry = feature["geometry"]
        assert geometry == city.polygons[feature["properties"]["town_id"]]
        assert geometry["type"] in ("Polygon", "MultiPolygon")
        for ring in geometry["coordinates"] if geometry["type"] == "Polygon" else geometry["coordinates"][0]:
            assert len(ring) >= 4 and ring[0] == ring[-1]
            assert all(130 < lon < 140 and 30 < lat < 40 for lon, lat in ring)
        properties = feature["properties"]
        assert 0 <= properties["score"] <= 100
        assert set(properties["indicators"]) == {"population", *(i.name for i in INDICATORS)}
        ranks.append(properties["rank"])
    assert ranks == sorted(ranks) and ranks[0] == 1


def test_the_svg_map_has_every_town_coloured_by_score_and_a_legend(
    db_url: str, tmp_path: Path, city: SampleCity
) -> None:
    imported(db_url, BUNDLED_DIRECTORY / "town_stats.csv")
    result = CliRunner().invoke(cli(), ["risk-map", "--out", str(tmp_path / "map.svg")])
    assert result.exit_code == 0, result.output
    svg = ElementTree.fromstring((tmp_path / "map.svg").read_text(encoding="utf-8"))
    namespace = {"svg": "http://www.w3.org/2000/svg"}
    drawn = {element.get("data-town"): element for element in svg.iterfind(".//svg:path[@data-town]", namespace)}
    assert set(drawn) == {town["town_id"] for town in city.towns}
    with session_scope(db_url) as session:
        computation = latest_computation(session)
        assert computation is not None
        ordered = sorted(computation.scores, key=lambda row: row.score)
    # The riskiest town is drawn in a darker class than the least risky one.
    fills = [drawn[ordered[0].town_id].get("fill"), drawn[ordered[-1].town_id].get("fill")]
    assert fills[0] != fills[1]
    assert svg.find(".//svg:g[@class='tsunagu-map-legend']", namespace) is not None


def test_an_unknown_output_format_is_refused(db_url: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli(), ["risk-map", "--out", str(tmp_path / "map.png")])
    assert result.exit_code == 2 and not (tmp_path / "map.png").exists()


def test_without_statistics_the_map_asks_for_them(db_url: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli(), ["risk-map", "--out", str(tmp_path / "map.svg")])
    assert result.exit_code == 1 and "import-stats" in result.output


# --------------------------------------------------------------------------- housekeeping


def test_housekeeping_recomputes_on_its_schedule_and_after_a_new_import(db_url: str, tmp_path: Path) -> None:
    every = timedelta(days=settings.risk_map_recompute_days)
    assert every <= timedelta(days=91), "at least four times a year"

    def recomputed() -> int:
        return run_due_jobs(db_url)["risk map recomputed"]

    with time_machine.travel(NOW, tick=False):
        assert recomputed() == 0, "nothing to compute without statistics"
        imported(db_url, write_stats(tmp_path / "stats.csv", [["kita-1-1", *ALIKE], ["kita-1-2", *ALIKE]]), NOW)
        assert recomputed() == 1
        assert recomputed() == 0
    with time_machine.travel(NOW + every - timedelta(minutes=1), tick=False):
        assert recomputed() == 0
    with time_machine.travel(NOW + every, tick=False):
        with session_scope(db_url) as session:
            add_case(session, "kita-1-2", at=NOW + timedelta(days=1))
        assert recomputed() == 1
    later = NOW + every + timedelta(hours=1)
    with time_machine.travel(later, tick=False):
        imported(db_url, tmp_path / "stats.csv", later)
        assert recomputed() == 1, "new statistics are scored at the next run"
    with session_scope(db_url) as session:
        times = list(session.scalars(select(RiskComputation.computed_at).order_by(RiskComputation.computed_at)))
    assert times == [NOW, NOW + every, later]


def test_the_ranking_in_the_terminal_and_a_recomputation_on_request(db_url: str, tmp_path: Path) -> None:
    imported(db_url, write_stats(tmp_path / "stats.csv", [["kita-1-1", 1000, 300, 90, 50, 9], ["kita-1-2", *ALIKE]]))
    runner = CliRunner()
    listing = runner.invoke(cli(), ["risk-map"])
    assert listing.exit_code == 0, listing.output
    lines = [line for line in listing.output.splitlines() if "kita-1-" in line]
    assert "kita-1-1" in lines[0] and "kita-1-2" in lines[1]
    assert "no data" in listing.output, "towns without statistics are listed too"
    assert runner.invoke(cli(), ["risk-map", "--recompute", "--out", str(tmp_path / "r.csv")]).exit_code == 0
    with session_scope(db_url) as session:
        assert len(list(session.scalars(select(RiskComputation.id)))) == 2
