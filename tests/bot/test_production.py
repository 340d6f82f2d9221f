"""Production means production: unfit settings are refused by the commands that serve residents,
and the production app does not publish its schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import bot.app
from bot.app import create_app
from bot.cli import app as cli
from bot.production import MIN_SECRET_LENGTH, production_problems
from bot.settings import Settings, settings


def fit_for_production(tmp_path: Path, **overrides: object) -> Settings:
    """Settings a city could really run on (a directory of its own, PostgreSQL, Redis, https)."""
    city = tmp_path / "city"
    city.mkdir(exist_ok=True)
    values: dict[str, object] = {
        "environment": "production",
        "database_url": "postgresql+psycopg://tsunagu@db.internal/tsunagu",
        "directory_path": city,
        "secret_key": "k" * MIN_SECRET_LENGTH,
        "redis_url": "redis://redis.internal:6379/0",
        "public_base_url": "https://tsunagu.city.example.lg.jp",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def test_development_defaults_have_no_production_problems() -> None:
    assert production_problems(Settings(environment="development")) == []
    assert production_problems(Settings(environment="test")) == []


def test_every_laptop_default_is_named_with_the_variable_to_change() -> None:
    problems = " ".join(production_problems(Settings(environment="production")))
    for variable in ("TSUNAGU_DATABASE_URL", "TSUNAGU_DIRECTORY_PATH", "TSUNAGU_SECRET_KEY",
                     "TSUNAGU_REDIS_URL", "TSUNAGU_PUBLIC_BASE_URL"):
        assert variable in problems


def test_fit_settings_pass(tmp_path: Path) -> None:
    assert production_problems(fit_for_production(tmp_path)) == []


@pytest.mark.parametrize("secret", ["x", "k" * (MIN_SECRET_LENGTH - 1), "change-me-in-production"])
def test_a_short_or_default_secret_is_refused(tmp_path: Path, secret: str) -> None:
    problems = production_problems(fit_for_production(tmp_path, secret_key=secret))
    assert len(problems) == 1 and "TSUNAGU_SECRET_KEY" in problems[0]


def test_a_short_sensor_secret_is_refused_and_none_turns_sensors_off(tmp_path: Path) -> None:
    problems = production_problems(fit_for_production(tmp_path, sensor_secret="s" * (MIN_SECRET_LENGTH - 1)))
    assert len(problems) == 1 and "TSUNAGU_SENSOR_SECRET" in problems[0]
    assert production_problems(fit_for_production(tmp_path, sensor_secret="s" * MIN_SECRET_LENGTH)) == []
    assert production_problems(fit_for_production(tmp_path, sensor_secret="")) == []


def test_a_channel_configured_in_part_is_a_problem_not_a_silent_omission(tmp_path: Path) -> None:
    problems = production_problems(fit_for_production(tmp_path, line_channel_access_token="token"))
    assert len(problems) == 1 and "TSUNAGU_LINE_CHANNEL_SECRET" in problems[0]
    complete = fit_for_production(tmp_path, line_channel_access_token="token", line_channel_secret="secret")
    assert production_problems(complete) == []


@pytest.mark.parametrize("command", ["serve", "deliver", "worker"])
def test_serving_commands_refuse_to_start_in_production_on_laptop_defaults(
    command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[tuple[str, int]] = []
    monkeypatch.setattr(bot.app, "serve", lambda host, port: started.append((host, port)))
    monkeypatch.setattr(settings, "environment", "production")
    result = CliRunner().invoke(cli, [command])
    assert result.exit_code == 1
    assert "TSUNAGU_SECRET_KEY" in result.output
    assert started == []


def test_serve_starts_in_production_on_fit_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[tuple[str, int]] = []
    monkeypatch.setattr(bot.app, "serve", lambda host, port: started.append((host, port)))
    for name, value in fit_for_production(tmp_path).model_dump().items():
        monkeypatch.setattr(settings, name, value)
    result = CliRunner().invoke(cli, ["serve", "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert started == [("127.0.0.1", 8123)]


def test_help_works_whatever_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "environment", "production")
    assert CliRunner().invoke(cli, ["serve", "--help"]).exit_code == 0


def test_the_schema_is_published_in_development_only(tmp_path: Path) -> None:
    def schema_status(environment: str) -> int:
        app = create_app(Settings(environment=environment), init_database=False, handler=lambda message: None,
                         channel_names=[])
        return TestClient(app).get("/openapi.json").status_code

    assert schema_status("development") == 200
    assert schema_status("production") == 404
