"""The routing commands as a city's IT officer uses them, and the `tsunagu route` JSON-lines contract."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
from rich.cells import cell_len
from shapely.geometry import shape
from sqlalchemy import select
from typer.testing import CliRunner

from bot.console_io import local_time, out
from bot.db import session_scope
from bot.models import Case, CaseKind, CaseStatus, Delivery, DeliveryState
from bot.settings import BUNDLED_DIRECTORY, settings
from intents.classifier import get_classifier
from routing.areas import resolve_town_id
from routing.cases import add_details, open_case
from routing.commands import register, route_text
from routing.snapshot import get_directory
from tests.routing.conftest import SampleCity

runner = CliRunner()


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def test_directory_import_reports_progress(cli: typer.Typer, db_url: str) -> None:
    result = runner.invoke(cli, ["directory", "import", str(BUNDLED_DIRECTORY)])
    assert result.exit_code == 0, result.output
    assert "services: 75 rows" in result.stderr and "towns: 24 rows" in result.stderr


def test_directory_import_error_names_file_line_column(cli: typer.Typer, db_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "city"
    shutil.copytree(BUNDLED_DIRECTORY, folder)
    schedules = folder / "schedules.csv"
    schedules.write_text(schedules.read_text(encoding="utf-8").replace("09:00", "9時", 1), encoding="utf-8")
    result = runner.invoke(cli, ["directory", "import", str(folder)])
    assert result.exit_code == 1
    assert "schedules.csv, line 2, column 'opens_at'" in result.stderr


def test_directory_show(cli: typer.Typer, db_url: str) -> None:
    result = runner.invoke(cli, ["directory", "show"], env={"COLUMNS": "250"})
    assert result.exit_code == 0
    assert "mimamori-kita" in result.stdout and "06-0000-1003" in result.stdout and "24時間" in result.stdout


def test_cases_targets_and_deliver(cli: typer.Typer, db_url: str, tmp_path: Path, city: SampleCity) -> None:
    with session_scope(db_url) as session:
        area = resolve_town_id(session, city.towns[0]["town_id"])
        case, _ = open_case(session, kind=CaseKind.worry, topic="watch", counter_id="mimamori-kita", area=area,
                            details={"noticed": "郵便物がたまっている"}, reason="test", channel="console",
                            language="ja")
        case_id, due_at = case.id, case.first_contact_due
    listed = runner.invoke(cli, ["cases", "list", "--counter", "mimamori-kita"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0 and f"│ {case_id} " in listed.stdout
    due = local_time(due_at)
    assert due.endswith(" JST") and due in listed.stdout
    assert runner.invoke(cli, ["cases", "overdue"]).exit_code == 0
    assert runner.invoke(cli, ["cases", "ack", str(case_id), "--actor", "sato"]).exit_code == 0
    assert runner.invoke(cli, ["cases", "contact", str(case_id)]).exit_code == 0
    refused = runner.invoke(cli, ["cases", "ack", str(case_id)])
    assert refused.exit_code == 1 and "cannot go from contacted to acknowledged" in refused.stderr
    assert runner.invoke(cli, ["cases", "close", str(case_id), "--reason", "訪問し無事を確認"]).exit_code == 0
    assert runner.invoke(cli, ["cases", "close", "999999", "--reason", "x"]).exit_code == 1

    targets = tmp_path / "delivery_targets.csv"
    targets.write_text("counter_id,method,address,secret\nmimamori-kita,console,,\n", encoding="utf-8")
    assert runner.invoke(cli, ["targets", "import", str(targets)]).exit_code == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("counter_id,method,address,secret\nmimamori-kita,pigeon,,\n", encoding="utf-8")
    failed = runner.invoke(cli, ["targets", "import", str(bad)])
    assert failed.exit_code == 1 and "bad.csv, line 2, column 'method'" in failed.stderr

    delivered = runner.invoke(cli, ["deliver"])
    assert delivered.exit_code == 0 and "sent 1" in delivered.stderr
    shown = runner.invoke(cli, ["targets", "list"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0 and "mimamori-kita" in shown.stdout and "console" in shown.stdout
    with session_scope(db_url) as session:
        assert session.get(Case, case_id).status == CaseStatus.closed
        assert set(session.scalars(select(Delivery.state))) == {DeliveryState.sent}


def test_tables_at_80_columns_wrap_but_keep_ids_and_phones_whole(
    cli: typer.Typer, db_url: str, city: SampleCity, monkeypatch: pytest.MonkeyPatch
) -> None:
    with session_scope(db_url) as session:
        area = resolve_town_id(session, city.towns[0]["town_id"])
        case, _ = open_case(session, kind=CaseKind.worry, topic="watch", counter_id="mimamori-kita", area=area,
                            details={"noticed": "郵便物がたまっている"}, reason="test", channel="console",
                            language="ja")
        case_id = case.id
        services = list(get_directory(session).services.values())
    monkeypatch.setattr(out, "width", 80)  # the console read COLUMNS when it was imported
    shown = runner.invoke(cli, ["directory", "show"])
    assert shown.exit_code == 0
    assert max(cell_len(line) for line in shown.stdout.splitlines()) <= 80
    for service in services:
        assert service.id in shown.stdout and (service.phone or "") in shown.stdout
    for command in (["cases", "list"], ["cases", "overdue"], ["targets", "list"]):
        listed = runner.invoke(cli, command)
        assert listed.exit_code == 0, listed.output
        assert max(cell_len(line) for line in listed.stdout.splitlines()) <= 80
    cases = runner.invoke(cli, ["cases", "list"]).stdout
    assert "mimamori-kita" in cases and f"│ {case_id} " in cases


def test_cases_show_one_case_in_full_and_nothing_else(
    cli: typer.Typer, db_url: str, city: SampleCity, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(out, "width", 80)
    with session_scope(db_url) as session:
        area = resolve_town_id(session, city.towns[0]["town_id"])
        case, _ = open_case(session, kind=CaseKind.worry, topic="watch", counter_id="mimamori-kita", area=area,
                            details={"noticed": "郵便物がたまっている", "since": "3日前から"},
                            reason="routing-internals", channel="console", language="vi",
                            reporter_contact_id=None, callback_consent=False)
        case_id, created, due = case.id, case.created_at, case.first_contact_due
        add_details(session, case, "夜も電気がついていない", source="line", now=created)
    assert runner.invoke(cli, ["cases", "ack", str(case_id), "--actor", "sato"]).exit_code == 0
    shown = runner.invoke(cli, ["cases", "show", str(case_id)])
    assert shown.exit_code == 0, shown.output
    assert "language: vi" in shown.stdout, "the language to call back in"
    for fact in ("worry", "watch", "acknowledged", "mimamori-kita", city.towns[0]["town_id"], local_time(created),
                 local_time(due), "郵便物がたまっている", "3日前から", "created", "sato",
                 "夜も電気がついていない"):  # what a later message added, in the history
        assert fact in shown.stdout, fact
    assert "routing-internals" not in shown.stdout
    missing = runner.invoke(cli, ["cases", "show", "999999"])
    assert missing.exit_code == 1 and "999999" in missing.stderr and "Traceback" not in missing.output


# --------------------------------------------------------------------------- route


@dataclass(frozen=True)
class FakeSignal:
    kind: str
    service: str | None
    matched: str = ""


@dataclass(frozen=True)
class FakeClassification:
    intent: str
    topic: str | None
    confidence: float = 0.9
    safety: FakeSignal | None = None


class FakeClassifier:
    """Answers fixed classifications, so the wiring of safety signals can be tested alone."""

    def __init__(self, answers: dict[str, FakeClassification]) -> None:
        self.answers = answers

    def classify(self, text: str) -> FakeClassification:
        return self.answers[text]


def test_route_wiring_of_safety_signals(db_url: str) -> None:
    answers = {
        "倒れて動かない": FakeClassification("emergency", None, safety=FakeSignal("emergency", "119")),
        "包丁を持った人がいる": FakeClassification("emergency", None, safety=FakeSignal("emergency", "110")),
        "北区柳町に住んでいて死にたい": FakeClassification("ask_where", "money", safety=FakeSignal("crisis", None)),
        "死にたい": FakeClassification("ask_where", None, safety=FakeSignal("crisis", None)),
        "北区柳町の隣の家の人を見かけない": FakeClassification("report_worry", None),
    }
    classifier = FakeClassifier(answers)
    with session_scope(db_url) as session:
        results = {text: route_text(session, classifier, text) for text in answers}
    assert results["倒れて動かない"]["counter_id"] == "tel-119"
    assert results["包丁を持った人がいる"]["counter_id"] == "tel-110"
    crisis_known = results["北区柳町に住んでいて死にたい"]
    assert (crisis_known["intent"], crisis_known["topic"], crisis_known["counter_id"]) == (
        "ask_where", "mental", "seishin-kita")
    crisis_unknown = results["死にたい"]
    assert crisis_unknown["counter_id"] is None and "0120-279-338" in crisis_unknown["reason"]
    worry = results["北区柳町の隣の家の人を見かけない"]
    assert (worry["topic"], worry["counter_id"], worry["area"]["ward"]) == ("watch", "mimamori-kita", "kita")


@pytest.mark.slow
def test_route_jsonl_contract(sqlite_url: str, city: SampleCity) -> None:
    """Real classifier, real place extraction, a real process: one JSON line per input line, in order."""
    get_classifier()  # the subprocess reuses the model trained for this test run
    izumi = next(t for t in city.towns if t["town"] == "泉町")
    inside = shape(city.polygons[izumi["town_id"]]).representative_point()
    asahi = next(t for t in city.towns if t["town"] == "旭町")
    honmachi = next(t for t in city.towns if t["town"] == "本町")
    lines = [
        json.dumps({"text": "北区旭町に住む母の介護のことで相談したい"}, ensure_ascii=False),
        json.dumps({"text": "母の介護のことで相談したいです", "latitude": inside.y, "longitude": inside.x},
                   ensure_ascii=False),
        json.dumps({"text": "夫から毎日のように殴られています"}, ensure_ascii=False),
        "",
        "this is not json",
        json.dumps({"text": "隣のおばあさんを最近見かけない。新聞がたまっている。中央区本町です"}, ensure_ascii=False),
        json.dumps({"text": "あさひに住んでいますが家賃が払えません"}, ensure_ascii=False),
    ]
    env = {**os.environ, "TSUNAGU_DATABASE_URL": sqlite_url, "TSUNAGU_DATA_DIR": str(settings.data_dir)}
    result = subprocess.run([sys.executable, "-m", "bot", "route"], input="\n".join(lines) + "\n",
                            capture_output=True, text=True, env=env, timeout=240, check=False)
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(answers) == 6, "one line per non-blank input line, nothing else on stdout"
    for answer in answers:
        assert set(answer) == {"intent", "topic", "area", "counter_id", "reason"}
    care, care_by_location, dv, bad, worry, ambiguous = answers
    assert (care["intent"], care["topic"], care["counter_id"]) == (
        "ask_where", "elderly", city.expected_counter("elderly", asahi))
    assert care["area"] == {"town_id": asahi["town_id"], "sphere": asahi["sphere"], "ward": "kita"}
    assert care_by_location["counter_id"] == city.expected_counter("elderly", izumi)
    assert care_by_location["area"]["town_id"] == izumi["town_id"]
    assert (dv["topic"], dv["counter_id"]) == ("dv", city.expected_counter("dv", asahi))
    assert bad["counter_id"] is None and "bad input line" in bad["reason"]
    assert (worry["intent"], worry["topic"], worry["counter_id"]) == (
        "report_worry", "watch", "mimamori-chuo")
    assert worry["area"]["town_id"] == honmachi["town_id"]
    assert (ambiguous["topic"], ambiguous["area"], ambiguous["counter_id"]) == ("money", None, None)
    assert "depends on the town" in ambiguous["reason"]
