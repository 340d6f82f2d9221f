"""The alert commands as staff use them until a console exists: decisions, CAP, housekeeping, cooperators."""

from __future__ import annotations

from datetime import timedelta

import pytest
import typer
from rich.cells import cell_len
from sqlalchemy import select
from typer.testing import CliRunner

from alerts.commands import register
from alerts.cooperators import EndpointSpec, register_cooperator
from alerts.lifecycle import create_from_case
from bot.cli import after_commit, due_jobs
from bot.console_io import out
from bot.db import session_scope
from bot.models import Alert, AlertStatus, CaseEvent, Contact, OutboxItem, OutboxState, Sighting, utcnow
from bot.settings import settings
from tests.alerts.conftest import Kicks, add_cooperator, missing_case

runner = CliRunner()


@pytest.fixture(autouse=True)
def first_stage_as_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first stage keeps its configured 1 km unless a test is about its growth."""
    monkeypatch.setattr(settings, "alert_min_first_stage", 0)


@pytest.fixture
def cli() -> typer.Typer:
    """The alert commands wired as ``bot/cli.py`` wires them."""
    app = typer.Typer()
    register(app, after_commit=after_commit, due_jobs=due_jobs)
    return app


@pytest.fixture
def alert_id(db_url: str) -> int:
    with session_scope(db_url) as session:
        add_cooperator(session, "chuo-1-1")
        return create_from_case(session, missing_case(session)).id


def test_approve_widen_found_from_the_command_line(cli: typer.Typer, db_url: str, alert_id: int, kicks: Kicks) -> None:
    assert "pending" in runner.invoke(cli, ["alert", "list"]).stdout
    approved = runner.invoke(cli, ["alert", "approve", str(alert_id), "--by", "sato"])
    assert approved.exit_code == 0, approved.output
    assert "1 cooperators reached within 1 km" in approved.stdout and kicks.calls == 1
    assert "warning" not in approved.stderr
    assert runner.invoke(cli, ["alert", "approve", str(alert_id), "--by", "sato"]).exit_code == 1
    shown = runner.invoke(cli, ["alert", "show", str(alert_id)])
    assert '"approved_by": "sato"' in shown.stdout and '"queued": 1' in shown.stdout
    assert runner.invoke(cli, ["alert", "widen", str(alert_id)]).exit_code == 0
    assert runner.invoke(cli, ["alert", "found", str(alert_id), "--by", "sato"]).exit_code == 0
    with session_scope(db_url) as session:
        alert = session.get(Alert, alert_id)
        assert alert.status == AlertStatus.found and alert.stage == 1
        assert session.scalars(select(OutboxItem.kind)).all() == ["alert"], "nothing was sent, so no thanks"
    assert runner.invoke(cli, ["alert", "show", "999"]).exit_code == 1


def test_approve_warns_when_no_cooperator_is_reached(cli: typer.Typer, db_url: str, kicks: Kicks) -> None:
    with session_scope(db_url) as session:
        nobody = create_from_case(session, missing_case(session)).id
    alone = runner.invoke(cli, ["alert", "approve", str(nobody), "--by", "sato"])
    assert alone.exit_code == 0 and "0 cooperators reached" in alone.stdout
    assert "no cooperators are registered" in alone.stderr
    with session_scope(db_url) as session:
        far_away = add_cooperator(session, "kita-1-1")
        far_away.latitude, far_away.longitude = 35.9, 136.9  # tens of km from the last-seen place
        far = create_from_case(session, missing_case(session)).id
    distant = runner.invoke(cli, ["alert", "approve", str(far), "--by", "sato"])
    assert distant.exit_code == 0 and "0 cooperators reached within 1 km" in distant.stdout
    assert "none of the 1 registered cooperators" in distant.stderr and f"alert widen {far}" in distant.stderr


def test_alert_list_at_80_columns_keeps_ids_whole(cli: typer.Typer, alert_id: int,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(out, "width", 80)  # the console read COLUMNS when it was imported
    listed = runner.invoke(cli, ["alert", "list"])
    assert listed.exit_code == 0 and max(cell_len(line) for line in listed.stdout.splitlines()) <= 80
    header = listed.stdout.splitlines()[1]
    # Every column is there, none cropped off the right edge.
    assert [cell.strip() for cell in header.split("┃")[1:-1]] == [
        "id", "status", "case", "last seen", "km", "approved", "queued", "sent", "failed"]
    [row] = [line for line in listed.stdout.splitlines() if "pending" in line]
    assert row.split("│")[1].strip() == str(alert_id)


def test_cancel_and_cap(cli: typer.Typer, alert_id: int) -> None:
    cap = runner.invoke(cli, ["alert", "cap", str(alert_id)])
    assert cap.exit_code == 0 and "<msgType>Alert</msgType>" in cap.stdout and "中央区 本町" in cap.stdout
    assert runner.invoke(cli, ["alert", "cap", str(alert_id), "--type", "Bogus"]).exit_code == 1
    assert runner.invoke(cli, ["alert", "cap", str(alert_id), "--type", "Cancel"]).exit_code == 1, "never issued"
    assert runner.invoke(cli, ["alert", "approve", str(alert_id), "--by", "sato"]).exit_code == 0
    assert runner.invoke(cli, ["alert", "cancel", str(alert_id)]).exit_code == 0
    assert "<msgType>Cancel</msgType>" in runner.invoke(cli, ["alert", "cap", str(alert_id)]).stdout
    assert "<msgType>Alert</msgType>" in runner.invoke(cli, ["alert", "cap", str(alert_id), "--type", "Alert"]).stdout


def test_tick_widens_what_is_due(cli: typer.Typer, db_url: str, alert_id: int) -> None:
    with session_scope(db_url) as session:
        alert = session.get(Alert, alert_id)
        alert.status, alert.approved_at = AlertStatus.active, utcnow() - timedelta(hours=1)
        alert.next_widen_at = utcnow() - timedelta(minutes=1)
    result = runner.invoke(cli, ["alert", "tick"])
    assert result.exit_code == 0 and "widened: 1" in result.stdout
    with session_scope(db_url) as session:
        assert session.get(Alert, alert_id).stage == 1


def test_helper_reconfirm_due_lists_and_lapses(cli: typer.Typer, db_url: str) -> None:
    with session_scope(db_url) as session:
        old = utcnow() - timedelta(days=500)
        register_cooperator(session, endpoints=[EndpointSpec("line", "U-old")], town_id="kita-1-1", latitude=34.7275,
                            longitude=135.47, quiet_hours=None, language="ja", now=old)
    listed = runner.invoke(cli, ["helper", "reconfirm-due"])
    assert listed.exit_code == 0 and "due: 1" in listed.stdout
    lapsed = runner.invoke(cli, ["helper", "reconfirm-due", "--lapse"])
    assert "lapsed: 1" in lapsed.stdout
    assert "due: 0" in runner.invoke(cli, ["helper", "reconfirm-due"]).stdout


# --------------------------------------------------------------------------- issue 17: reach, channels, sightings


def test_approval_reaches_enough_cooperators_and_says_how_many(cli: typer.Typer, db_url: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "alert_min_first_stage", 2)
    with session_scope(db_url) as session:
        add_cooperator(session, "chuo-1-1")
        add_cooperator(session, "chuo-1-3")  # 元町, about 1.7 km away
        alert_id = create_from_case(session, missing_case(session)).id
    approved = runner.invoke(cli, ["alert", "approve", str(alert_id), "--by", "sato"])
    assert approved.exit_code == 0 and "2 cooperators reached within 1.7 km" in approved.stdout


def test_approval_refuses_to_skip_cooperators_on_unconfigured_channels(cli: typer.Typer, db_url: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    with session_scope(db_url) as session:
        add_cooperator(session, "chuo-1-1", channel="line")
        add_cooperator(session, "chuo-1-1", channel="telegram", address="31337")
        alert_id = create_from_case(session, missing_case(session)).id
    monkeypatch.setattr(settings, "line_channel_access_token", "")
    monkeypatch.setattr(settings, "telegram_bot_token", "")
    refused = runner.invoke(cli, ["alert", "approve", str(alert_id), "--by", "sato"])
    assert refused.exit_code == 1 and "2 cooperators" in refused.stderr and "--force" in refused.stderr
    with session_scope(db_url) as session:
        assert session.get(Alert, alert_id).status == AlertStatus.pending, "nothing approved"
    forced = runner.invoke(cli, ["alert", "approve", str(alert_id), "--by", "sato", "--force"])
    assert forced.exit_code == 0 and "0 cooperators reached" in forced.stdout and "warning" in forced.stderr


def test_widen_does_not_wait_for_messages_due_later(cli: typer.Typer, db_url: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    with session_scope(db_url) as session:
        add_cooperator(session, "chuo-1-1")
        night_owl = add_cooperator(session, "chuo-1-3")  # 1.7 km: reached by the widening
        alert_id = create_from_case(session, missing_case(session)).id
    assert runner.invoke(cli, ["alert", "approve", str(alert_id), "--by", "sato"]).exit_code == 0
    waits: list[float | None] = []

    def sender_sleeping_until_morning(timeout: float | None = None) -> bool:
        """The embedded sender as it is with a row held for the morning: sends what is due, never idle."""
        waits.append(timeout)
        assert len(waits) < 20, "the command is still waiting for a row due hours later"
        with session_scope(db_url) as session:
            for row in session.scalars(select(OutboxItem).where(OutboxItem.state == OutboxState.queued)):
                if row.cooperator_id == night_owl.id:
                    row.next_attempt_at = utcnow() + timedelta(hours=2)  # opted out of night alerts
                else:
                    row.state = OutboxState.sent
        return False

    monkeypatch.setattr("alerts.fanout.runner.wait", sender_sleeping_until_morning)
    widened = runner.invoke(cli, ["alert", "widen", str(alert_id)])
    assert widened.exit_code == 0 and "1 messages queued" in widened.stdout
    assert "1 messages are due later" in widened.stderr and waits


def test_family_and_sightings_from_the_command_line(cli: typer.Typer, db_url: str, kicks: Kicks,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    with session_scope(db_url) as session:
        add_cooperator(session, "chuo-1-1")
        alert = create_from_case(session, missing_case(session))
        sighting = Sighting(alert_id=alert.id, town_id="chuo-1-3", seen_at=utcnow(), text="駅の東口")
        session.add(sighting)
        session.flush()
        alert_id, sighting_id = alert.id, sighting.id
    assert runner.invoke(cli, ["alert", "approve", str(alert_id), "--by", "sato"]).exit_code == 0
    linked = runner.invoke(cli, ["alert", "family", str(alert_id), "--channel", "line", "--user-id", "U-son"])
    assert linked.exit_code == 0, linked.output
    assert runner.invoke(cli, ["alert", "family", str(alert_id), "--channel", "fax", "--user-id", "1"]).exit_code == 1

    assert runner.invoke(cli, ["alert", "sighting", "confirm", str(sighting_id), "--by", "sato"]).exit_code == 0
    to_family = runner.invoke(cli, ["alert", "sighting", "forward", str(sighting_id), "--to", "family"])
    assert to_family.exit_code == 0 and "1 messages queued" in to_family.stdout
    to_police = runner.invoke(cli, ["alert", "sighting", "forward", str(sighting_id), "--to", "police"])
    assert to_police.exit_code == 0 and "0 messages queued" in to_police.stdout
    assert "TSUNAGU_ALERT_POLICE_EMAIL" in to_police.stderr and "駅の東口" in to_police.stdout, "the printable summary"
    monkeypatch.setattr(settings, "alert_police_email", "seian@police.example.jp")
    assert "1 messages queued" in runner.invoke(cli, ["alert", "sighting", "forward", str(sighting_id),
                                                      "--to", "police"]).stdout
    assert runner.invoke(cli, ["alert", "sighting", "forward", "999", "--to", "family"]).exit_code == 1
    with session_scope(db_url) as session:
        son = session.scalars(select(Contact).where(Contact.channel_user_id == "U-son")).one()
        rows = session.scalars(select(OutboxItem).where(OutboxItem.sighting_id == sighting_id)
                               .order_by(OutboxItem.id)).all()
        assert [(row.channel, row.address, row.contact_id) for row in rows] == [
            ("line", "U-son", son.id), ("email", "seian@police.example.jp", None)]
        kinds = session.scalars(select(CaseEvent.kind).where(CaseEvent.case_id == session.get(
            Alert, alert_id).case_id)).all()
        assert {"alert_family_linked", "sighting_confirmed", "sighting_forwarded"} <= set(kinds)
        assert session.get(Sighting, sighting_id).forwarded_family_at is not None
