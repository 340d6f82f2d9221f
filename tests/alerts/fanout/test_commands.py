"""`tsunagu fanout process / progress` and `tsunagu worker` (added by alerts.fanout.commands.register)."""

from __future__ import annotations

import sys

import pytest
import typer
from typer.testing import CliRunner

from bot.settings import settings
from alerts.fanout.commands import dramatiq_argv, register
from tests.alerts.fanout.conftest import City, Fakes, address, enqueue, make_alert, seed


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def test_process_sends_what_is_due_and_progress_counts_it(
    app: typer.Typer, fanout_env, fakes: Fakes, city: City, db_url: str
) -> None:
    seed(db_url, city, [[("email", address("email", n))] for n in range(3)] + [[("line", address("line", 9))]])
    alert_id = make_alert(db_url, city, next(iter(city.towns)))
    enqueue(db_url, alert_id)

    result = CliRunner().invoke(app, ["fanout", "process"])
    assert result.exit_code == 0, result.output
    assert "line: sent 1" in result.output and "email: sent 3" in result.output and "sms: nothing due" in result.output
    assert len(fakes.smtp.deliveries) == 3

    result = CliRunner().invoke(app, ["fanout", "progress", str(alert_id)])
    assert result.output.split() == ["queued", "0", "sending", "0", "sent", "4", "failed", "0", "cancelled", "0"]


def test_worker_needs_redis_and_runs_the_fanout_module_under_dramatiq(
    app: typer.Typer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "redis_url", None)
    result = CliRunner().invoke(app, ["worker"])
    assert result.exit_code == 2 and "TSUNAGU_REDIS_URL" in result.output
    assert dramatiq_argv(2, 4) == [sys.executable, "-m", "dramatiq", "alerts.fanout.worker",
                                   "--processes", "2", "--threads", "4"]
