"""``tsunagu alert text show|set``: the desk reads and edits the public text before approval."""

from __future__ import annotations

from datetime import datetime

import pytest
import typer
from sqlalchemy import select
from typer.testing import CliRunner

from alerts.commands import register
from alerts.lifecycle import create_from_case
from alerts.text_commands import register as register_text
from alerts.texts import clean_fields
from bot.cli import after_commit, app as tsunagu_app, due_jobs
from bot.db import session_scope
from bot.domain import load_domain
from bot.models import Alert, AlertStatus, CaseEvent
from bot.settings import settings
from tests.alerts.conftest import missing_case

runner = CliRunner()


@pytest.fixture
def cli() -> typer.Typer:
    """The alert commands with the text commands, wired as ``bot/cli.py`` wires them."""
    app = typer.Typer()
    register(app, after_commit=after_commit, due_jobs=due_jobs)
    register_text(app)
    return app


@pytest.fixture
def alert_id(db_url: str, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(settings, "database_url", db_url)
    with session_scope(db_url) as session:
        alert = create_from_case(session, missing_case(session))
        alert.public_fields = clean_fields({"sex": "female", "age": 78, "name": "山田花子", "diagnosis": "認知症"})
        return alert.id


def test_show_prints_the_text_as_cooperators_receive_it(cli: typer.Typer, alert_id: int) -> None:
    shown = runner.invoke(cli, ["alert", "text", "show", str(alert_id)])
    assert shown.exit_code == 0, shown.output
    assert '"sex": "female"' in shown.stdout and '"share_name_condition_photo": false' in shown.stdout
    domain = load_domain()
    assert domain.text("utter_feature_sex_female", "en") in shown.stdout
    body = shown.stdout.split("--- ja ---", 1)[1]
    assert "山田花子" not in body and "認知症" not in body, "without consent the name stays in the staff fields"


def test_set_edits_fields_time_and_consent_and_notes_it_on_the_case(cli: typer.Typer, db_url: str,
                                                                   alert_id: int) -> None:
    edited = runner.invoke(cli, ["alert", "text", "set", str(alert_id), "height=150_160", "clothing=紺のジャンパー",
                                 "--unset", "age", "--seen", "2026-11-30 03:00", "--share", "--by", "sato"])
    assert edited.exit_code == 0, edited.output
    with session_scope(db_url) as session:
        alert = session.get(Alert, alert_id)
        assert alert.public_fields == {"sex": "female", "height": "150_160", "clothing": "紺のジャンパー",
                                       "name": "山田花子", "diagnosis": "認知症"}
        assert alert.last_seen_at == datetime(2026, 11, 30, 3, 0, tzinfo=settings.tz)
        assert alert.share_identity is True
        [event] = session.scalars(select(CaseEvent).where(CaseEvent.kind == "alert_text_edited")).all()
        assert (event.actor, event.details["fields"]) == ("sato", ["age", "clothing", "height", "last_seen_at",
                                                                   "share_identity"])
    assert "山田花子" in edited.stdout.split("--- ja ---", 1)[1], "with consent the name goes out"


@pytest.mark.parametrize("arguments", [["height=tall"], ["colour=red"], ["sex"], ["--seen", "3時ごろ"]])
def test_set_refuses_what_is_not_a_field_value(cli: typer.Typer, db_url: str, alert_id: int,
                                               arguments: list[str]) -> None:
    refused = runner.invoke(cli, ["alert", "text", "set", str(alert_id), *arguments])
    assert refused.exit_code == 1
    with session_scope(db_url) as session:
        assert session.get(Alert, alert_id).public_fields == {"sex": "female", "age": 78, "name": "山田花子",
                                                              "diagnosis": "認知症"}


def test_an_ended_alert_cannot_be_edited(cli: typer.Typer, db_url: str, alert_id: int) -> None:
    with session_scope(db_url) as session:
        session.get(Alert, alert_id).status = AlertStatus.found
    assert runner.invoke(cli, ["alert", "text", "set", str(alert_id), "sex=male"]).exit_code == 1
    assert runner.invoke(cli, ["alert", "text", "show", "999"]).exit_code == 1


def test_the_tsunagu_command_has_the_text_group() -> None:
    assert "text" in runner.invoke(tsunagu_app, ["alert", "--help"]).stdout
