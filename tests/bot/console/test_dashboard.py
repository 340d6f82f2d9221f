"""The dashboard's figures on a seeded database: the first-contact KGI, cases, alerts, failures."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta, timezone

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.sensors import register_household
from bot.console.charts import first_contact_weeks_chart, hours_by_counter_chart, topics_chart
from bot.console.dashboard_figures import build_dashboard, percentile, week_start
from bot.db import get_engine
from bot.models import (
    Alert,
    AlertStatus,
    Case,
    CaseEvent,
    CaseKind,
    CaseStatus,
    Delivery,
    DeliveryState,
    DeliveryTarget,
    OutboxItem,
    OutboxState,
    Sighting,
)
from bot.models.console import AuditEntry
from bot.models.partners import PartnerReport
from bot.models.sensors import CheckStatus, SafetyCheck
from bot.models.staff import Role
from routing.partners import add_partner
from routing.snapshot import get_directory

# A Wednesday, 12:00 Japan time.
NOW = datetime(2026, 11, 25, 3, 0, tzinfo=timezone.utc)
COUNTER_A = "houkatsu-kita-1"
COUNTER_B = "houkatsu-kita-2"
CONTACT_HOURS = (1, 2, 3, 4, 5, 6, 7, 8, 30, 40)


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    with Session(get_engine(db_url)) as session:
        yield session


def add_case(session: Session, *, created: datetime, contact_after: float | None = None, kind: CaseKind = CaseKind.worry,
             counter: str = COUNTER_A, town: str | None = "kita-1-1", topic: str = "watch",
             status: CaseStatus | None = None, closed: bool = False, source: str | None = None) -> Case:
    contacted = created + timedelta(hours=contact_after) if contact_after is not None else None
    case = Case(
        kind=kind, topic=topic, counter_id=counter, town_id=town, created_at=created, last_report_at=created,
        first_contact_due=created + timedelta(hours=24), contacted_at=contacted,
        status=status or (CaseStatus.contacted if contacted else CaseStatus.closed if closed else CaseStatus.new),
        closed_at=created + timedelta(hours=1) if closed else None, details={"source": source} if source else {},
    )
    session.add(case)
    session.flush()
    return case


def test_percentile_is_linear_between_the_nearest_values() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.9) == 7.0
    assert percentile([1, 2, 3, 4], 0.5) == 2.5
    assert percentile(list(CONTACT_HOURS), 0.9) == pytest.approx(31.0)


def test_weeks_start_on_monday_in_japan_time() -> None:
    # Monday 2026-11-23 00:30 JST is Sunday 15:30 UTC: it belongs to the week of the 23rd.
    monday = datetime(2026, 11, 22, 15, 30, tzinfo=timezone.utc)
    assert week_start(monday).date().isoformat() == "2026-11-23"
    assert week_start(monday - timedelta(hours=1)).date().isoformat() == "2026-11-16"


def test_ten_contacted_worry_cases_give_known_median_p90_and_share(session: Session) -> None:
    start = week_start(NOW)
    for number, hours in enumerate(CONTACT_HOURS):
        add_case(session, created=start - timedelta(days=7) + timedelta(hours=number), contact_after=hours)
    # Not counted: a consult case, a worry case closed without contact, one younger than 24 h.
    add_case(session, created=start - timedelta(days=6), contact_after=100, kind=CaseKind.consult, topic="elderly")
    add_case(session, created=start - timedelta(days=6), closed=True)
    add_case(session, created=NOW - timedelta(hours=2))
    session.commit()

    board = build_dashboard(session, get_directory(session), now=NOW, weeks=4)

    last_week = board.by_week[-2]
    assert last_week.key == (start - timedelta(days=7)).date().isoformat()
    assert (last_week.counted, last_week.contacted, last_week.waiting) == (10, 10, 0)
    assert last_week.closed_without_contact == 1
    assert last_week.median_hours == pytest.approx(5.5)
    assert last_week.p90_hours == pytest.approx(31.0)
    assert last_week.within_target == pytest.approx(0.8)
    this_week = board.by_week[-1]
    assert (this_week.counted, this_week.waiting, this_week.median_hours) == (0, 1, None)
    assert [figure.counted for figure in board.by_week[:2]] == [0, 0]
    assert board.overall.counted == 10 and board.overall.waiting == 1
    row = board.tables["first_contact_weeks"].rows[-2]
    assert row[6:] == (5.5, 31.0, 80.0, 1)


def test_a_case_waiting_past_24_hours_counts_as_late_with_its_time_so_far(session: Session) -> None:
    add_case(session, created=NOW - timedelta(hours=50))
    add_case(session, created=NOW - timedelta(hours=60), contact_after=2)
    session.commit()

    overall = build_dashboard(session, get_directory(session), now=NOW, weeks=2).overall

    assert (overall.counted, overall.contacted, overall.late_waiting) == (2, 1, 1)
    assert overall.median_hours == pytest.approx(26.0)
    assert overall.within_target == pytest.approx(0.5)


def test_marking_a_waiting_case_contacted_changes_the_figure(session: Session) -> None:
    add_case(session, created=NOW - timedelta(hours=30), contact_after=30)
    waiting = add_case(session, created=NOW - timedelta(hours=3))
    session.commit()
    before = build_dashboard(session, get_directory(session), now=NOW).overall

    waiting.contacted_at, waiting.status = NOW, CaseStatus.contacted
    session.commit()
    after = build_dashboard(session, get_directory(session), now=NOW).overall

    assert (before.counted, before.within_target) == (1, 0.0)
    assert (after.counted, after.within_target, after.median_hours) == (2, 0.5, pytest.approx(16.5))


def test_by_counter_uses_the_counter_name_and_lists_the_slowest_first(session: Session) -> None:
    add_case(session, created=NOW - timedelta(days=2), contact_after=2, counter=COUNTER_A)
    add_case(session, created=NOW - timedelta(days=2), contact_after=40, counter=COUNTER_B)
    add_case(session, created=NOW - timedelta(days=2), contact_after=4, counter="")
    session.commit()
    directory = get_directory(session)

    by_counter = build_dashboard(session, directory, now=NOW).by_counter

    assert [figure.key for figure in by_counter] == [COUNTER_B, "", COUNTER_A]
    assert by_counter[0].label == directory.services[COUNTER_B].name
    assert by_counter[0].within_target == 0.0 and by_counter[2].within_target == 1.0


def test_cases_by_topic_and_town_and_the_open_cases_map(session: Session) -> None:
    add_case(session, created=NOW - timedelta(days=1), town="kita-1-1")
    add_case(session, created=NOW - timedelta(days=1), town="kita-1-1", source="partner")
    add_case(session, created=NOW - timedelta(days=1), town="kita-1-2", kind=CaseKind.consult, topic="money",
             closed=True)
    add_case(session, created=NOW - timedelta(days=1), town=None, topic="watch", source="sensor")
    # Older than the window: still open, so on the map, but not in the period's counts.
    add_case(session, created=NOW - timedelta(weeks=20), town="kita-1-2")
    session.commit()

    board = build_dashboard(session, get_directory(session), now=NOW, weeks=2)

    assert board.open_by_town == {"kita-1-1": 2, "kita-1-2": 1}
    topics = {row[0]: row for row in board.tables["topics"].rows}
    assert topics["watch"][2:] == (3, 3, 1, 1, 1)
    assert topics["money"][2:4] == (1, 0)
    assert topics["watch"][1] == "見守り・孤立・安否の気づき"
    towns = {row[0]: row for row in board.tables["towns"].rows}
    assert towns["kita-1-1"][3:] == (2, 2, 2)
    assert towns["kita-1-2"][3:] == (1, 0, 1)
    assert towns[""][3] == 1


def test_alerts_time_to_found_and_delivery_failures(session: Session) -> None:
    case = add_case(session, created=NOW - timedelta(hours=10), kind=CaseKind.missing, topic="missing",
                    status=CaseStatus.found)
    found = Alert(case_id=case.id, status=AlertStatus.found, ward="kita", created_at=NOW - timedelta(hours=10),
                  approved_at=NOW - timedelta(hours=9), ended_at=NOW - timedelta(hours=6))
    active = Alert(status=AlertStatus.active, created_at=NOW - timedelta(hours=2))
    session.add_all([found, active])
    session.flush()
    session.add_all([
        Sighting(alert_id=found.id, created_at=NOW - timedelta(hours=7)),
        Sighting(alert_id=found.id, created_at=NOW - timedelta(hours=6)),
        OutboxItem(alert_id=found.id, channel="line", address="U1", state=OutboxState.sent),
        OutboxItem(alert_id=found.id, channel="sms", address="+81", state=OutboxState.failed, fail_count=5),
        OutboxItem(alert_id=active.id, channel="sms", address="+82", state=OutboxState.queued, fail_count=1,
                   next_attempt_at=NOW),
    ])
    target = DeliveryTarget(counter_id=COUNTER_A, method="email", address="kita@example.org")
    event = CaseEvent(case_id=case.id, kind="created")
    session.add_all([target, event])
    session.flush()
    session.add(Delivery(case_id=case.id, case_event_id=event.id, target_id=target.id, state=DeliveryState.failed,
                         fail_count=4, last_attempt_at=NOW - timedelta(hours=1)))
    session.commit()

    board = build_dashboard(session, get_directory(session), now=NOW)

    assert board.median_hours_to_found == pytest.approx(4.0)
    alerts = {row[0]: row for row in board.tables["alerts"].rows}
    assert alerts[found.id][1] == "found" and alerts[found.id][7:] == (4.0, 2, 1, 1)
    assert alerts[active.id][7] == ""
    failures = set(board.tables["failures"].rows)
    assert ("case_delivery", COUNTER_A, "email", "failed", 1, "2026-11-25 11:00") in failures
    assert ("alert_outbox", "alert", "sms", "failed", 1, "") in failures
    assert ("alert_outbox", "alert", "sms", "queued", 1, "2026-11-25 12:00") in failures
    assert len(failures) == 3


# --------------------------------------------------------------------------- charts

URL = re.compile(r"""(?:https?:|file:|//)[^\s"'<>)]*""")
NAMESPACES = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}


def test_charts_are_accessible_svg_with_no_script_and_nothing_to_fetch(session: Session) -> None:
    for number, hours in enumerate(CONTACT_HOURS):
        add_case(session, created=NOW - timedelta(days=3, hours=number), contact_after=hours,
                 counter=COUNTER_A if number % 2 else COUNTER_B)
    session.commit()
    board = build_dashboard(session, get_directory(session), now=NOW)

    charts = {
        "weeks": first_contact_weeks_chart(board.by_week),
        "counters": hours_by_counter_chart(board.by_counter),
        "topics": topics_chart(board.tables["topics"]),
    }
    for name, svg in charts.items():
        root = ET.fromstring(str(svg))
        assert root.tag == "{http://www.w3.org/2000/svg}svg", name
        assert root.get("role") == "img" and root.get("aria-label"), name
        assert root.find("{http://www.w3.org/2000/svg}title") is not None, name
        assert root.find(".//{http://www.w3.org/2000/svg}script") is None, name
        assert "<!--" not in svg and "pygal.org" not in svg, name
        assert set(URL.findall(str(svg))) <= NAMESPACES, name
    # The values are printed on the chart (no tooltips without JavaScript): the week's median is there.
    assert "5.5" in "".join(ET.fromstring(str(charts["weeks"])).itertext())
    assert "24" in charts["weeks"] and "目標" in charts["weeks"]
    # Per counter: the share within 24 h beside each name, the 24 h line as the red major guide.
    counters = "".join(ET.fromstring(str(charts["counters"])).itertext())
    assert "（80%）" in counters
    assert "#c62828" in charts["counters"]


# --------------------------------------------------------------------------- the page and its CSV


@pytest.mark.parametrize("role", [Role.counter, Role.alert_desk])
def test_only_managers_and_admins_open_the_dashboard(staff_client: Callable[..., TestClient], role: Role) -> None:
    client = staff_client(role=role)
    assert client.get("/staff/dashboard", follow_redirects=False).status_code == 403
    assert client.get("/staff/dashboard/topics.csv", follow_redirects=False).status_code == 403


def test_not_logged_in_goes_to_the_login_page(console_app: FastAPI) -> None:
    answer = TestClient(console_app).get("/staff/dashboard", follow_redirects=False)
    assert answer.status_code in (302, 303, 307)
    assert "/staff/login" in answer.headers["location"]


@pytest.mark.parametrize("role", [Role.manager, Role.admin])
def test_the_page_shows_the_kgi_charts_and_map_with_nothing_to_fetch(
    staff_client: Callable[..., TestClient], session: Session, role: Role
) -> None:
    now = datetime.now(timezone.utc)
    for hours in (2, 4, 30):
        add_case(session, created=now - timedelta(hours=40), contact_after=hours, town="kita-1-2")
    add_case(session, created=now - timedelta(hours=1), town="kita-1-2")
    session.commit()
    client = staff_client(role=role)

    page = client.get("/staff/dashboard")

    assert page.status_code == 200
    html = page.text
    assert re.search(r'data-testid="kgi-median"[^>]*>\s*4\.0', html)
    assert re.search(r'data-testid="kgi-counted">3<', html)
    assert re.search(r'data-testid="kgi-waiting">1<', html)
    assert html.count("<svg") == 4
    assert 'data-town="kita-1-2"' in html
    assert "<script" not in html.split("</head>", 1)[1]  # only base.html's own htmx, in the head
    external = {url for url in URL.findall(html) if url not in NAMESPACES}
    assert external == set(), external
    for name in ("first_contact_weeks", "first_contact_counters", "topics", "towns", "alerts", "failures"):
        assert f'href="/staff/dashboard/{name}.csv?weeks=8"' in html


def test_every_table_downloads_as_csv_and_the_export_is_audited(
    staff_client: Callable[..., TestClient], session: Session
) -> None:
    now = datetime.now(timezone.utc)
    # The ten in one of the dashboard's weeks (Monday to Sunday in Tokyo) whatever day this runs:
    # run early on a Wednesday, two days back less a few hours crossed into the week before.
    created = now - timedelta(days=2)
    if week_start(created - timedelta(hours=len(CONTACT_HOURS))) != week_start(created):
        created = week_start(now) - timedelta(days=1)
    for number, hours in enumerate(CONTACT_HOURS):
        add_case(session, created=created - timedelta(hours=number), contact_after=hours)
    add_case(session, created=now - timedelta(days=1), town="kita-1-1", kind=CaseKind.consult, topic="=cmd")
    session.commit()
    client = staff_client(role=Role.manager)
    board = build_dashboard(session, get_directory(session))

    for name, table in board.tables.items():
        answer = client.get(f"/staff/dashboard/{name}.csv")
        assert answer.status_code == 200, name
        assert answer.headers["content-type"].startswith("text/csv")
        assert "attachment" in answer.headers["content-disposition"]
        text = answer.content.decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text)))
        assert tuple(rows[0]) == table.columns
        assert len(rows) - 1 == len(table.rows)
    weeks = list(csv.reader(io.StringIO(client.get("/staff/dashboard/first_contact_weeks.csv?weeks=2")
                                        .content.decode("utf-8-sig"))))
    assert len(weeks) == 3
    assert ["5.5", "31.0", "80.0", "0"] in [row[6:] for row in weeks]
    topics = client.get("/staff/dashboard/topics.csv").content.decode("utf-8-sig")
    assert "'=cmd" in topics and "\n=cmd" not in topics
    assert client.get("/staff/dashboard/nothing.csv").status_code == 404
    assert client.get("/staff/dashboard/topics.csv?weeks=0").status_code == 422

    session.expire_all()
    exports = session.scalars(select(AuditEntry.object_id).where(AuditEntry.action == "export",
                                                                 AuditEntry.object_type == "dashboard")).all()
    assert set(exports) == set(board.tables)


def test_an_empty_city_renders_in_english_with_no_figures(staff_client: Callable[..., TestClient]) -> None:
    client = staff_client(role=Role.admin)

    page = client.get("/staff/dashboard?lang=en&weeks=4")

    assert page.status_code == 200
    assert '<html lang="en">' in page.text
    assert re.search(r'data-testid="kgi-median"[^>]*>\s*–', page.text)
    assert re.search(r'data-testid="kgi-counted">0<', page.text)
    assert "Which cases count" in page.text and "Open cases" in page.text
    assert page.text.count('data-table="first_contact_weeks"') == 1
    assert client.get("/staff/dashboard?weeks=53").status_code == 422


def test_the_watch_network_partner_reports_and_safety_checks(session: Session) -> None:
    milk = add_partner(session, name="あおば牛乳", type="milk", wards=["kita", "chuo"], contact="011-000-0000",
                       agreement_date=date(2026, 4, 1))
    bank = add_partner(session, name="あおば信用金庫", type="bank", wards=["minami"], contact="011-000-0001",
                       agreement_date=date(2026, 4, 1))
    case = add_case(session, created=NOW - timedelta(days=2), source="partner")
    session.add_all([PartnerReport(case_id=case.id, partner_id=milk.id, ward="kita", what_seen="newspapers",
                                   created_at=NOW - timedelta(days=day)) for day in (2, 3)])
    household = register_household(session, reference="H-1", town_id="kita-1-1", consent_by="person",
                                   contacts=[("line", "U-family", "ja")], now=NOW)
    started = NOW - timedelta(days=1)
    session.add_all([
        SafetyCheck(household_id=household.id, trigger="no_motion", status=CheckStatus.confirmed, started_at=started,
                    confirmed_at=started + timedelta(minutes=30)),
        SafetyCheck(household_id=household.id, trigger="no_power_use", status=CheckStatus.pending,
                    started_at=started),
    ])
    session.commit()

    board = build_dashboard(session, get_directory(session), now=NOW)

    partners = {(row[0], row[3]): row[4] for row in board.tables["partners"].rows}
    assert partners == {(milk.id, "kita"): 2, (milk.id, "chuo"): 0, (bank.id, "minami"): 0}, \
        "per partner and ward, a quiet partner with 0"
    [checks] = board.tables["safety_checks"].rows
    columns = dict(zip(board.tables["safety_checks"].columns, checks, strict=True))
    assert (columns["checks"], columns["confirmed_by_family"], columns["waiting"]) == (2, 1, 1)
    assert columns["confirmation_rate"] == 50.0 and columns["median_minutes_family"] == 30.0
