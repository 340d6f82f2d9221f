"""``tsunagu demo``: an empty embedded database gets accounts of each role, cases, alerts and sightings."""

from __future__ import annotations

import re

import pytest
import typer
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from bot.console.auth import verify_password
from bot.console.dashboard_figures import build_dashboard
from bot.console.demo import register
from bot.db import get_engine
from bot.models import Alert, AlertStatus, Case, CaseKind, CaseStatus, Sighting, StaffUser
from bot.models.staff import Role
from bot.settings import settings
from routing.cases import overdue_cases
from routing.riskmap import latest_computation, ranked_towns
from routing.snapshot import get_directory


def demo_cli(served: list[tuple[str, int]]) -> typer.Typer:
    app = typer.Typer()
    register(app, serve=lambda host, port: served.append((host, port)))

    # A second command keeps Typer from folding the app into its only command.
    @app.command()
    def other() -> None:
        """Nothing."""

    return app


@pytest.mark.slow
def test_demo_seeds_once_with_working_passwords_and_a_story_the_dashboard_tells(sqlite_url: str) -> None:
    served: list[tuple[str, int]] = []
    app = demo_cli(served)
    result = CliRunner().invoke(app, ["demo", "--serve", "--port", "8123"])
    assert result.exit_code == 0, result.output
    printed = dict(re.findall(r"^\s+(demo-[\w-]+)\s+\w+\s+(\S+)\s+counters:", result.output, re.MULTILINE))
    assert served == [("127.0.0.1", 8123)]
    assert "http://127.0.0.1:8123/staff" in result.output

    with Session(get_engine(sqlite_url)) as session:
        users = {user.username: user for user in session.scalars(select(StaffUser))}
        assert {user.role for user in users.values()} == set(Role)
        assert set(printed) == set(users)
        for username, password in printed.items():
            assert verify_password(users[username], password), username
        assert users["demo-counter"].counter_ids != users["demo-counter-2"].counter_ids

        worry = list(session.scalars(select(Case).where(Case.kind == CaseKind.worry)))
        assert len({case.counter_id for case in worry}) >= 3
        assert len({case.town_id for case in worry}) >= 8
        assert sum(case.contacted_at is not None for case in worry) >= 20
        assert any(case.status == CaseStatus.new for case in worry)
        assert overdue_cases(session)
        assert session.scalar(select(func.count(Case.id)).where(Case.kind == CaseKind.consult)) >= 5
        alerts = {alert.status for alert in session.scalars(select(Alert))}
        assert alerts == {AlertStatus.found, AlertStatus.active, AlertStatus.pending}
        assert session.scalar(select(func.count(Sighting.id))) == 2
        # Each counter sees its own cases; the desk the alerts' counters.
        desk = users["demo-desk"]
        missing = session.scalars(select(Case.counter_id).where(Case.kind == CaseKind.missing)).all()
        assert set(missing) <= set(desk.counter_ids)

        board = build_dashboard(session, get_directory(session), weeks=8)
        first, last = board.by_week[0], board.by_week[-2]
        assert first.counted and last.counted
        assert first.median_hours > 24 > last.median_hours
        assert board.median_hours_to_found is not None
        assert board.tables["failures"].rows
        computation = latest_computation(session)
        assert computation is not None, "the risk map is there to open"
        assert len(ranked_towns(session, computation)) == len(get_directory(session).towns)

    again = CliRunner().invoke(app, ["demo"])
    assert again.exit_code == 1
    assert "already" in again.output
    with Session(get_engine(sqlite_url)) as session:
        assert session.scalar(select(func.count(StaffUser.id))) == len(users)


def test_demo_refuses_production(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "environment", "production")
    result = CliRunner().invoke(demo_cli([]), ["demo"])
    assert result.exit_code == 1
    assert "production" in result.output
    with Session(get_engine(sqlite_url)) as session:
        assert session.scalar(select(func.count(Case.id))) == 0


def test_demo_refuses_a_database_with_data(sqlite_url: str) -> None:
    with Session(get_engine(sqlite_url)) as session:
        session.add(StaffUser(username="someone", token_hash="x" * 64))
        session.commit()
    served: list[tuple[str, int]] = []
    result = CliRunner().invoke(demo_cli(served), ["demo", "--serve"])
    assert result.exit_code == 1
    assert "empty database" in result.output
    assert served == []
    with Session(get_engine(sqlite_url)) as session:
        assert session.scalar(select(func.count(Case.id))) == 0
