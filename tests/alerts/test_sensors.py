"""The sensor registry and the 安否確認 workflow (alerts.sensors), on SQLite and PostgreSQL.

The clock is the test's: every event carries its ``received_at``, housekeeping gets its ``now``.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from alerts.sensors import (
    SensorError,
    active_device_key,
    answer_check,
    device_key,
    escalate_overdue,
    new_event_id,
    receive,
    register_device,
    register_household,
    render_check_message,
    sensor_report,
)
from bot.cli import app as cli
from bot.db import session_scope
from bot.domain import load_domain
from bot.housekeeping import run_due_jobs
from bot.models import Case, CaseStatus, OutboxItem
from bot.models.sensors import CheckStatus, SafetyCheck, SensorEvent, SensorHousehold
from bot.settings import settings
from channels.sensors import SensorReport, Verdict
from routing.cases import transition
from tests.alerts.conftest import MORNING

TOWN = "kita-1-2"  # 北区 若葉町
FAMILY = ("line", "U-family-1", "ja")


@pytest.fixture(autouse=True)
def sensor_secret(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(settings, "sensor_secret", "test-sensor-secret-0123456789")
    monkeypatch.setattr(settings, "sensor_check_wait_minutes", 60)
    return settings.sensor_secret


def household(session: Session, reference: str = "H-0001", *, devices: tuple[tuple[str, str], ...] = (
        ("meter-1", "smart_meter"), ("motion-1", "motion"), ("button-1", "call_button")),
        contacts: tuple[tuple[str, str, str], ...] = (FAMILY,), threshold_hours: int | None = None) -> SensorHousehold:
    """A household of 若葉町 with a meter, a motion sensor and a call button, and one family contact on LINE."""
    home = register_household(session, reference=reference, town_id=TOWN, consent_by="family", contacts=contacts,
                              now=MORNING)
    for device_id, device_type in devices:
        register_device(session, home, device_id=device_id, device_type=device_type, threshold_hours=threshold_hours)
    return home


def report(device_id: str, event: str, at: datetime, event_id: str | None = None, **details: object) -> SensorReport:
    return SensorReport(device_id, event_id or new_event_id(), event, at, at, dict(details))


def ingest(url: str, sensor: SensorReport) -> Verdict:
    with session_scope(url) as session:
        return receive(session, sensor).verdict


def checks(url: str) -> list[SafetyCheck]:
    with session_scope(url) as session:
        return list(session.scalars(select(SafetyCheck).order_by(SafetyCheck.id)))


def hub_cases(url: str) -> list[Case]:
    with session_scope(url) as session:
        return list(session.scalars(select(Case).order_by(Case.id)))


def family_rows(url: str) -> list[tuple[str, str, str]]:
    with session_scope(url) as session:
        rows = session.scalars(select(OutboxItem).order_by(OutboxItem.id))
        return [(row.kind, row.channel, row.address) for row in rows]


# --------------------------------------------------------------------------- registry


def test_a_device_key_is_derived_never_stored(db_url: str) -> None:
    with session_scope(db_url) as session:
        home = household(session)
        _, key = register_device(session, home, device_id="meter-2", device_type="smart_meter")
    assert key == device_key("meter-2", 1)
    assert key != device_key("meter-2", 2)  # a new key_version is a new key
    with session_scope(db_url) as session:
        stored = session.execute(select(SensorEvent)).all()
    assert stored == []


@pytest.mark.parametrize(("change", "message"), [
    ({"town_id": "nowhere"}, "unknown town"),
    ({"consent_by": "neighbour"}, "consent_by"),
    ({"contacts": [("fax", "03-1234", "ja")]}, "family contact"),
    ({"contacts": []}, "at least one"),
    ({"person_id": 4242}, "pre-registered person"),
])
def test_the_registry_refuses_what_it_cannot_act_on(db_url: str, change: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"reference": "H-9", "town_id": TOWN, "consent_by": "person", "contacts": [FAMILY]}
    with session_scope(db_url) as session, pytest.raises(SensorError, match=message):
        register_household(session, **{**arguments, **change})  # type: ignore[arg-type]


def test_a_device_id_is_registered_once(db_url: str) -> None:
    with session_scope(db_url) as session:
        home = household(session)
        with pytest.raises(SensorError, match="registered already"):
            register_device(session, home, device_id="meter-1", device_type="smart_meter")


# --------------------------------------------------------------------------- rules and workflow


def test_inactivity_asks_the_family_through_the_outbox(db_url: str) -> None:
    with session_scope(db_url) as session:
        household(session)
    assert ingest(db_url, report("meter-1", "no_power_use", MORNING, hours=14)) is Verdict.accepted
    [check] = checks(db_url)
    assert (check.trigger, check.status, check.started_at) == ("no_power_use", CheckStatus.pending, MORNING)
    assert check.escalate_at == MORNING + timedelta(minutes=60)
    assert family_rows(db_url) == [(f"check:{check.id}", "line", "U-family-1")]
    assert hub_cases(db_url) == []  # the family is asked first


def test_the_question_names_the_town_and_offers_both_answers(db_url: str) -> None:
    with session_scope(db_url) as session:
        household(session)
    ingest(db_url, report("motion-1", "no_motion", MORNING, hours=13))
    [check] = checks(db_url)
    with session_scope(db_url) as session:
        text, choices = render_check_message(session, load_domain(), "check", check.id, "ja")
    assert "若葉町" in text
    assert [choice.payload for choice in choices] == [f"check:confirmed:{check.id}", f"check:unreachable:{check.id}"]


def test_inactivity_below_the_devices_threshold_starts_nothing(db_url: str) -> None:
    with session_scope(db_url) as session:
        household(session, threshold_hours=24)
    assert ingest(db_url, report("meter-1", "no_power_use", MORNING, hours=14)) is Verdict.accepted
    assert checks(db_url) == []
    with session_scope(db_url) as session:
        assert session.scalars(select(SensorEvent.outcome)).all() == ["below_threshold"]


def test_a_second_event_of_the_household_joins_the_open_check(db_url: str) -> None:
    with session_scope(db_url) as session:
        household(session)
    ingest(db_url, report("meter-1", "no_power_use", MORNING, hours=14))
    ingest(db_url, report("motion-1", "no_motion", MORNING + timedelta(minutes=5), hours=14))
    assert len(checks(db_url)) == 1
    assert len(family_rows(db_url)) == 1


def test_no_answer_escalates_to_the_hub_after_the_wait(db_url: str) -> None:
    with session_scope(db_url) as session:
        household(session)
    ingest(db_url, report("meter-1", "no_power_use", MORNING, hours=14))
    with session_scope(db_url) as session:
        assert escalate_overdue(session, MORNING + timedelta(minutes=59)) == []
    report_run = run_due_jobs(db_url, now=MORNING + timedelta(minutes=60))
    assert report_run["safety checks escalated"] == 1
    [check] = checks(db_url)
    [case] = hub_cases(db_url)
    assert (check.status, check.escalation, check.escalated_at) == (
        CheckStatus.escalated, "no_answer", MORNING + timedelta(minutes=60))
    assert check.case_id == case.id
    assert (case.kind.value, case.urgent, case.town_id, case.counter_id) == ("worry", True, TOWN, "mimamori-kita")
    assert case.details["source"] == "sensor"
    # Housekeeping again: nothing more.
    assert run_due_jobs(db_url, now=MORNING + timedelta(minutes=61))["safety checks escalated"] == 0


def test_the_call_button_opens_an_urgent_case_and_sends_119_guidance(db_url: str) -> None:
    with session_scope(db_url) as session:
        household(session)
    assert ingest(db_url, report("button-1", "call_button", MORNING)) is Verdict.accepted
    [check] = checks(db_url)
    [case] = hub_cases(db_url)
    assert (check.status, check.escalation, check.escalated_at, check.case_id) == (
        CheckStatus.escalated, "call_button", MORNING, case.id)
    assert (case.urgent, case.details["source"], case.counter_id) == (True, "sensor", "mimamori-kita")
    assert family_rows(db_url) == [(f"sos:{check.id}", "line", "U-family-1")]
    with session_scope(db_url) as session:
        text, _ = render_check_message(session, load_domain(), "sos", check.id, "ja")
    assert "119" in text and str(case.id) in text


def test_an_offline_device_gives_the_hub_one_quiet_notice(db_url: str) -> None:
    with session_scope(db_url) as session:
        household(session)
    ingest(db_url, report("motion-1", "offline", MORNING))
    ingest(db_url, report("motion-1", "offline", MORNING + timedelta(hours=1)))
    [check] = checks(db_url)
    [case] = hub_cases(db_url)
    assert (check.status, case.urgent, case.details["source"]) == (CheckStatus.notice, False, "sensor")
    assert family_rows(db_url) == []


def test_an_event_a_device_type_does_not_report_is_rejected(db_url: str) -> None:
    with session_scope(db_url) as session:
        household(session)
    assert ingest(db_url, report("motion-1", "call_button", MORNING)) is Verdict.rejected
    assert checks(db_url) == []


def test_the_same_event_id_twice_is_a_replay(db_url: str) -> None:
    with session_scope(db_url) as session:
        household(session)
    assert ingest(db_url, report("button-1", "call_button", MORNING, event_id="e-1")) is Verdict.accepted
    assert ingest(db_url, report("button-1", "call_button", MORNING, event_id="e-1")) is Verdict.replay
    assert len(hub_cases(db_url)) == 1


def test_the_report_counts_confirmations_and_their_times(db_url: str) -> None:
    with session_scope(db_url) as session:
        household(session, "H-1", devices=(("meter-a", "smart_meter"),))
        household(session, "H-2", devices=(("meter-b", "smart_meter"),), contacts=(("telegram", "4242", "en"),))
    ingest(db_url, report("meter-a", "no_power_use", MORNING, hours=20))
    ingest(db_url, report("meter-b", "no_power_use", MORNING, hours=20))
    first, second = checks(db_url)
    with session_scope(db_url) as session:
        answer_check(session, session.get(SafetyCheck, first.id), "confirmed", contact_id=None,
                     now=MORNING + timedelta(minutes=12))
    run_due_jobs(db_url, now=MORNING + timedelta(minutes=60))
    with session_scope(db_url) as session:
        case = session.get(Case, checks(db_url)[1].case_id)
        transition(session, case, CaseStatus.contacted, actor="hub", now=MORNING + timedelta(hours=3))
    with session_scope(db_url) as session:
        figures = sensor_report(session)
    assert figures["checks"] == 2
    assert figures["confirmed_by_family"] == 1
    assert figures["first_contact_by_hub"] == 1
    assert figures["confirmation_rate"] == 1.0
    assert figures["minutes_to_family_confirmation"] == {"median": 12.0, "p90": 12.0}
    assert figures["minutes_to_hub_first_contact"] == {"median": 180.0, "p90": 180.0}
    assert second.id != first.id


# --------------------------------------------------------------------------- the commands


def test_the_commands_register_simulate_and_report(db_url: str) -> None:
    runner = CliRunner()
    registered = runner.invoke(cli, ["sensors", "register", "H-77", "--town", TOWN, "--consent", "person",
                                     "--contact", "telegram:5150:en", "--device", "m-77:smart_meter:8"])
    assert registered.exit_code == 0, registered.output
    assert f"m-77\tkey {device_key('m-77', 1).hex()}" in registered.output
    assert runner.invoke(cli, ["sensors", "register", "H-77", "--device", "x:toaster"]).exit_code == 1
    assert "m-77" in runner.invoke(cli, ["sensors", "list"]).output
    simulated = runner.invoke(cli, ["sensors", "simulate", "--devices", "3", "--events", "3"])
    assert simulated.exit_code == 0, simulated.output
    assert "202: 3" in simulated.output
    figures = json.loads(runner.invoke(cli, ["sensors", "report", "--json"]).output)
    assert figures["checks"] == 3
    assert figures["by_trigger"] == {"no_power_use": 1, "no_motion": 1, "call_button": 1}
    assert figures["escalated_to_hub"] == 1  # the call button
    assert runner.invoke(cli, ["sensors", "disable", "m-77"]).exit_code == 0
    with session_scope(db_url) as session:
        assert active_device_key(session, "m-77") is None


def test_events_are_kept_no_longer_than_messages_and_checks_stay(db_url: str) -> None:
    with session_scope(db_url) as session:
        household(session)
    ingest(db_url, report("meter-1", "no_power_use", MORNING, hours=14))
    later = MORNING + timedelta(days=settings.message_retention_days, minutes=1)
    assert run_due_jobs(db_url, now=later)["sensor events purged"] == 1
    with session_scope(db_url) as session:
        assert session.scalars(select(SensorEvent.id)).all() == []
    assert len(checks(db_url)) == 1


def test_a_quiet_spell_the_family_confirmed_is_not_asked_about_again(db_url: str) -> None:
    with session_scope(db_url) as session:
        household(session)
    ingest(db_url, report("meter-1", "no_power_use", MORNING, hours=14))
    with session_scope(db_url) as session:
        answer_check(session, session.get(SafetyCheck, checks(db_url)[0].id), "confirmed", contact_id=None,
                     now=MORNING + timedelta(minutes=10))
    # An hour later the meter reports the same spell, now 15 hours long: already confirmed.
    ingest(db_url, report("meter-1", "no_power_use", MORNING + timedelta(hours=1), hours=15))
    assert len(checks(db_url)) == 1
    # A new spell, begun after the confirmation, is asked about.
    ingest(db_url, report("meter-1", "no_power_use", MORNING + timedelta(hours=14), hours=13))
    assert [check.status for check in checks(db_url)] == [CheckStatus.confirmed, CheckStatus.pending]
