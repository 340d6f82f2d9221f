"""The alert commands as staff use them until a console exists: decisions, CAP, housekeeping, cooperators."""

from __future__ import annotations

from datetime import timedelta

import pytest
import typer
from sqlalchemy import select
from typer.testing import CliRunner

from alerts.commands import register
from alerts.cooperators import EndpointSpec, register_cooperator
from alerts.lifecycle import create_from_case
from bot.cli import after_commit, due_jobs
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
    assert "1 messages queued" in approved.stdout and kicks.calls == 1
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
