"""Staff tokens can be replaced and refused by command, and wrong tokens are throttled and logged
(issue 15, item 3): the real CLI on a real SQLite file, the real app over ASGI."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import bot.staff_api
from bot.app import create_app
from bot.cli import app as cli
from bot.staff_api import FailedAttempts

COUNTER = "mimamori-chuo"


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


@pytest.fixture
def client(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setattr(bot.staff_api, "failed_attempts", FailedAttempts(limit=3, window_seconds=60))
    return TestClient(create_app(init_database=False, handler=lambda message: None, channel_names=[]))


def status_with(client: TestClient, token: str) -> int:
    return client.get("/api/staff/cases", headers={"Authorization": f"Bearer {token}"}).status_code


def test_a_replaced_token_stops_working_at_once(client: TestClient) -> None:
    old = run("staff", "add", "sato", "--counter", COUNTER).splitlines()[-1]
    assert status_with(client, old) == 200
    new = run("staff", "new-token", "sato").splitlines()[-1]
    assert new != old
    assert status_with(client, new) == 200
    assert status_with(client, old) == 401


def test_a_disabled_account_is_refused_until_enabled(client: TestClient) -> None:
    token = run("staff", "add", "sato", "--counter", COUNTER).splitlines()[-1]
    run("staff", "disable", "sato")
    assert status_with(client, token) == 401
    listing = run("staff", "list")
    assert "sato\tdisabled" in listing and token not in listing
    run("staff", "enable", "sato")
    assert status_with(client, token) == 200


def test_an_unknown_username_is_a_clear_error(sqlite_url: str) -> None:
    result = CliRunner().invoke(cli, ["staff", "disable", "nobody"])
    assert result.exit_code == 1
    assert "nobody" in result.output


def test_wrong_tokens_are_throttled_and_logged_without_the_token(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    token = run("staff", "add", "sato", "--counter", COUNTER).splitlines()[-1]
    with caplog.at_level(logging.WARNING, logger="bot.staff_api"):
        assert [status_with(client, f"guess-{n}") for n in range(3)] == [401, 401, 401]
    # The limit is reached: even the right token waits out the window from this address.
    assert status_with(client, token) == 429
    assert len(caplog.records) == 3
    assert all("guess-" not in record.getMessage() for record in caplog.records)
    assert "testclient" in caplog.records[-1].getMessage()


def test_failures_leave_the_window() -> None:
    now = [0.0]
    attempts = FailedAttempts(limit=2, window_seconds=60, clock=lambda: now[0])
    attempts.record("10.0.0.1")
    attempts.record("10.0.0.1")
    assert attempts.blocked("10.0.0.1") and not attempts.blocked("10.0.0.2")
    now[0] = 61.0
    assert not attempts.blocked("10.0.0.1")
