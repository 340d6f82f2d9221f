"""The yearly re-confirmation request: sent once per cycle to each due cooperator, in their
language, on their preferred endpoint, outside quiet hours, through the fan-out's senders
(against the fake LINE API and SMTP server of tests/fakes)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from bot.db import session_scope
from bot.domain import load_domain
from bot.housekeeping import run_due_jobs
from bot.models import Cooperator
from bot.settings import settings
from alerts.fanout import senders as fanout_senders
from alerts.cooperators import (
    EndpointSpec,
    reconfirm,
    register_cooperator,
    send_reconfirm_requests,
)
from tests.alerts.conftest import MORNING, TOKYO
from tests.fakes.line import FakeLineAPI
from tests.fakes.smtp import FakeSMTP

LINE_TOKEN = "line-access-token-for-reconfirm-tests"
YEAR = timedelta(days=365)


@pytest.fixture
def line(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLineAPI]:
    """The fake LINE API, with the settings pointing at it."""
    with FakeLineAPI(LINE_TOKEN) as api:
        monkeypatch.setattr(settings, "line_channel_access_token", LINE_TOKEN)
        monkeypatch.setattr(settings, "line_api_host", api.url)
        fanout_senders._memory_limiter.cache_clear()
        yield api
    fanout_senders._memory_limiter.cache_clear()


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSMTP]:
    """The fake SMTP server, with the settings pointing at it."""
    with FakeSMTP() as server:
        monkeypatch.setattr(settings, "smtp_host", "127.0.0.1")
        monkeypatch.setattr(settings, "smtp_port", server.port)
        yield server


@pytest.fixture(autouse=True)
def year(monkeypatch: pytest.MonkeyPatch) -> None:
    """The period and grace the tests (and the request's text) count with."""
    monkeypatch.setattr(settings, "cooperator_reconfirm_days", 365)
    monkeypatch.setattr(settings, "cooperator_reconfirm_grace_days", 30)


def _register(session: Session, endpoints: list[EndpointSpec], *, now: datetime = MORNING, language: str = "ja",
              quiet_hours: tuple[str, str] | None = None) -> Cooperator:
    return register_cooperator(session, endpoints=endpoints, town_id="chuo-1-1", latitude=35.0, longitude=139.0,
                               quiet_hours=quiet_hours, language=language, now=now)


def _request_text(language: str) -> str:
    return load_domain(settings.domain_path).text("utter_helper_reconfirm_request", language, days=30)


def _line_texts(line: FakeLineAPI, user_id: str) -> list[str]:
    return [message["text"] for message in line.messages_to(user_id)]


def test_due_cooperators_are_asked_once_in_their_language(db_url: str, line: FakeLineAPI, smtp: FakeSMTP) -> None:
    with session_scope(db_url) as session:
        due_line = _register(session, [EndpointSpec("line", "U-due")]).id
        due_mail = _register(session, [EndpointSpec("email", "due@example.jp")], language="en").id
        not_yet = _register(session, [EndpointSpec("line", "U-later")], now=MORNING + timedelta(days=10)).id
        # Stopped by staff: the endpoint itself is still active.
        _register(session, [EndpointSpec("line", "U-left")]).active = False
    asked_at = MORNING + YEAR + timedelta(hours=1)

    with session_scope(db_url) as session:
        assert send_reconfirm_requests(session, asked_at) == 2
    assert _line_texts(line, "U-due") == [_request_text("ja")]
    assert [(to, body.strip()) for to, _, body in smtp.messages] == [("due@example.jp", _request_text("en"))]
    assert _line_texts(line, "U-later") == [], "not due yet"
    assert _line_texts(line, "U-left") == [], "inactive"
    with session_scope(db_url) as session:
        assert session.get(Cooperator, due_line).reconfirm_requested_at == asked_at
        assert session.get(Cooperator, due_mail).reconfirm_requested_at == asked_at
        assert session.get(Cooperator, not_yet).reconfirm_requested_at is None

    with session_scope(db_url) as session:
        assert send_reconfirm_requests(session, asked_at + timedelta(days=1)) == 0, "already asked this cycle"
    assert _line_texts(line, "U-due") == [_request_text("ja")]
    assert len(smtp.messages) == 1


def test_renewal_starts_a_new_cycle_that_is_asked_again(db_url: str, line: FakeLineAPI) -> None:
    with session_scope(db_url) as session:
        cooperator_id = _register(session, [EndpointSpec("line", "U-renews")]).id
    with session_scope(db_url) as session:
        assert send_reconfirm_requests(session, MORNING + YEAR) == 1
    renewed_at = MORNING + YEAR + timedelta(days=2)
    with session_scope(db_url) as session:
        reconfirm(session.get(Cooperator, cooperator_id), renewed_at)
    with session_scope(db_url) as session:
        assert send_reconfirm_requests(session, renewed_at + timedelta(days=1)) == 0, "renewed: not due"
        assert send_reconfirm_requests(session, renewed_at + YEAR) == 1, "next year's cycle"
    assert _line_texts(line, "U-renews") == [_request_text("ja")] * 2


def test_quiet_hours_put_the_request_off(db_url: str, line: FakeLineAPI) -> None:
    with session_scope(db_url) as session:
        _register(session, [EndpointSpec("line", "U-sleeps")], quiet_hours=("22:00", "07:00"))
    night = (MORNING + YEAR).astimezone(TOKYO).replace(hour=23)
    with session_scope(db_url) as session:
        assert send_reconfirm_requests(session, night) == 0
    assert _line_texts(line, "U-sleeps") == []
    with session_scope(db_url) as session:
        assert send_reconfirm_requests(session, night + timedelta(hours=8, minutes=30)) == 1
    assert _line_texts(line, "U-sleeps") == [_request_text("ja")]


def test_failed_request_is_retried_next_run_on_the_next_endpoint(
    db_url: str, line: FakeLineAPI, smtp: FakeSMTP
) -> None:
    with session_scope(db_url) as session:
        cooperator_id = _register(session, [EndpointSpec("line", "U-blocked"), EndpointSpec("email", "b@example.jp")]).id
    line.unknown_users.add("U-blocked")
    due = MORNING + YEAR
    with session_scope(db_url) as session:
        assert send_reconfirm_requests(session, due) == 0
    with session_scope(db_url) as session:
        cooperator = session.get(Cooperator, cooperator_id)
        assert cooperator.reconfirm_requested_at is None
        assert [(e.channel, e.active) for e in cooperator.endpoints] == [("line", False), ("email", True)]
    assert smtp.messages == []

    with session_scope(db_url) as session:
        assert send_reconfirm_requests(session, due + timedelta(minutes=1)) == 1
    assert [to for to, _, _ in smtp.messages] == ["b@example.jp"]


def test_housekeeping_sends_the_requests(db_url: str, line: FakeLineAPI) -> None:
    with session_scope(db_url) as session:
        _register(session, [EndpointSpec("line", "U-housekeeping")])
    assert run_due_jobs(db_url, MORNING + YEAR)["reconfirmation requests"] == 1
    assert _line_texts(line, "U-housekeeping") == [_request_text("ja")]
