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
from bot.models import Alert, AlertStatus, OutboxItem, utcnow
from tests.alerts.conftest import Kicks, add_cooperator, missing_case

runner = CliRunner()


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
    assert runner.invoke(cli, ["alert", "cancel", str(alert_id)]).exit_code == 0
    assert "<msgType>Cancel</msgType>" in runner.invoke(cli, ["alert", "cap", str(alert_id)]).stdout


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
