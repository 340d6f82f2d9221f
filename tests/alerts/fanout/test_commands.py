"""`tsunagu fanout process / progress` and `tsunagu worker` (added by alerts.fanout.commands.register)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from bot.settings import settings
from alerts.fanout.commands import dramatiq_argv, register
from alerts.texts import RESPONSES
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


def test_a_worker_started_on_its_own_refuses_a_domain_without_an_alert_text(tmp_path: Path) -> None:
    domain = yaml.safe_load(settings.domain_path.read_text(encoding="utf-8"))
    missing = RESPONSES[0]
    del domain["responses"][missing]
    edited = tmp_path / "domain.yml"
    edited.write_text(yaml.safe_dump(domain, allow_unicode=True), encoding="utf-8")
    env = {**os.environ, "TSUNAGU_REDIS_URL": "redis://127.0.0.1:6379/15", "TSUNAGU_DOMAIN_PATH": str(edited)}
    result = subprocess.run([sys.executable, "-c", "import alerts.fanout.worker"], capture_output=True, text=True,
                            env=env, timeout=120, check=False)
    assert result.returncode != 0 and "DomainError" in result.stderr and missing in result.stderr
    env["TSUNAGU_DOMAIN_PATH"] = str(settings.domain_path)
    # The unedited domain passes the same check (importing the worker connects to nothing yet).
    check = subprocess.run([sys.executable, "-c", "import alerts.fanout.worker"], capture_output=True, text=True,
                           env=env, timeout=120, check=False)
    assert check.returncode == 0, check.stderr
