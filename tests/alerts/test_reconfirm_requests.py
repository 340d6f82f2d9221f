"""The yearly re-confirmation request: queued once per cycle for each due cooperator as an outbox
row of its own kind, and sent by the fan-out like an alert message — in their language, on their
preferred endpoint (the next one if that is gone), after their quiet hours (against the fake LINE
API and SMTP server of tests/fakes)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from alerts.cooperators import EndpointSpec, queue_reconfirm_requests, reconfirm, register_cooperator
from alerts.fanout import senders as fanout_senders
from alerts.fanout.items import configured_channels
from alerts.fanout.outbox import next_due
from alerts.fanout.runner import process_outbox
from bot.db import session_scope
from bot.domain import load_domain
from bot.housekeeping import run_due_jobs
from bot.models import Cooperator
from bot.settings import settings
from tests.alerts.conftest import MORNING, TOKYO, Kicks
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


def _send(db_url: str, at: datetime) -> None:
    """Play the fan-out at ``at``: passes until nothing is due then (a request moved to the next
    endpoint is sent by the following pass)."""
    for _ in range(3):
        process_outbox(clock=lambda: at)
        with session_scope(db_url) as session:
            due = next_due(session, configured_channels(), now=at)
        if due is None or due > at:
            return


def _ask(db_url: str, at: datetime) -> int:
    """One housekeeping run at ``at``: queue the due requests and send them; how many were queued."""
    with session_scope(db_url) as session:
        queued = queue_reconfirm_requests(session, at)
    _send(db_url, at)
    return queued


def _requested_at(db_url: str, cooperator_id: int) -> datetime | None:
    with session_scope(db_url) as session:
        return session.get(Cooperator, cooperator_id).reconfirm_requested_at


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_due_cooperators_are_asked_once_in_their_language(db_url: str, line: FakeLineAPI, smtp: FakeSMTP) -> None:
    with session_scope(db_url) as session:
        due_line = _register(session, [EndpointSpec("line", "U-due")]).id
        due_mail = _register(session, [EndpointSpec("email", "due@example.jp")], language="en").id
        not_yet = _register(session, [EndpointSpec("line", "U-later")], now=MORNING + timedelta(days=10)).id
        # Stopped by staff: the endpoint itself is still active.
        _register(session, [EndpointSpec("line", "U-left")]).active = False
    asked_at = MORNING + YEAR + timedelta(hours=1)

    assert _ask(db_url, asked_at) == 2
    assert _line_texts(line, "U-due") == [_request_text("ja")]
    assert [(to, body.strip()) for to, _, body in smtp.messages] == [("due@example.jp", _request_text("en"))]
    assert _line_texts(line, "U-later") == [], "not due yet"
    assert _line_texts(line, "U-left") == [], "inactive"
    assert _requested_at(db_url, due_line) == asked_at
    assert _requested_at(db_url, due_mail) == asked_at
    assert _requested_at(db_url, not_yet) is None

    assert _ask(db_url, asked_at + timedelta(days=1)) == 0, "already asked this cycle"
    assert _line_texts(line, "U-due") == [_request_text("ja")]
    assert len(smtp.messages) == 1


def test_a_waiting_request_is_not_queued_twice(db_url: str, line: FakeLineAPI) -> None:
    with session_scope(db_url) as session:
        _register(session, [EndpointSpec("line", "U-waits")])
    due = MORNING + YEAR
    with session_scope(db_url) as session:
        assert queue_reconfirm_requests(session, due) == 1
    with session_scope(db_url) as session:
        assert queue_reconfirm_requests(session, due + timedelta(minutes=1)) == 0, "one is already queued"
    _send(db_url, due + timedelta(minutes=1))
    assert _line_texts(line, "U-waits") == [_request_text("ja")]


def test_renewal_starts_a_new_cycle_that_is_asked_again(db_url: str, line: FakeLineAPI) -> None:
    with session_scope(db_url) as session:
        cooperator_id = _register(session, [EndpointSpec("line", "U-renews")]).id
    assert _ask(db_url, MORNING + YEAR) == 1
    renewed_at = MORNING + YEAR + timedelta(days=2)
    with session_scope(db_url) as session:
        reconfirm(session.get(Cooperator, cooperator_id), renewed_at)
    assert _ask(db_url, renewed_at + timedelta(days=1)) == 0, "renewed: not due"
    assert _ask(db_url, renewed_at + YEAR) == 1, "next year's cycle"
    assert _line_texts(line, "U-renews") == [_request_text("ja")] * 2


def test_quiet_hours_put_the_request_off(db_url: str, line: FakeLineAPI) -> None:
    with session_scope(db_url) as session:
        cooperator_id = _register(session, [EndpointSpec("line", "U-sleeps")], quiet_hours=("22:00", "07:00")).id
    night = (MORNING + YEAR).astimezone(TOKYO).replace(hour=23)
    assert _ask(db_url, night) == 1
    assert _line_texts(line, "U-sleeps") == []
    assert _requested_at(db_url, cooperator_id) is None
    assert _ask(db_url, night + timedelta(hours=8, minutes=30)) == 0, "the waiting request is sent, no new one"
    assert _line_texts(line, "U-sleeps") == [_request_text("ja")]


def test_a_blocked_endpoint_hands_the_request_to_the_next_one(
    db_url: str, line: FakeLineAPI, smtp: FakeSMTP
) -> None:
    with session_scope(db_url) as session:
        cooperator_id = _register(session, [EndpointSpec("line", "U-blocked"), EndpointSpec("email", "b@example.jp")]).id
    line.unknown_users.add("U-blocked")
    due = MORNING + YEAR
    assert _ask(db_url, due) == 1
    with session_scope(db_url) as session:
        cooperator = session.get(Cooperator, cooperator_id)
        assert [(e.channel, e.active) for e in cooperator.endpoints] == [("line", False), ("email", True)]
        assert cooperator.reconfirm_requested_at == due
    assert _line_texts(line, "U-blocked") == []
    assert [to for to, _, _ in smtp.messages] == ["b@example.jp"]


def test_a_request_that_failed_for_good_is_queued_again_next_run(
    db_url: str, smtp: FakeSMTP, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "fanout_max_attempts", 1)
    with session_scope(db_url) as session:
        cooperator_id = _register(session, [EndpointSpec("email", "c@example.jp")]).id
    due = MORNING + YEAR
    monkeypatch.setattr(settings, "smtp_port", _closed_port())  # the mail server is down
    assert _ask(db_url, due) == 1
    assert smtp.messages == [] and _requested_at(db_url, cooperator_id) is None

    monkeypatch.setattr(settings, "smtp_port", smtp.port)
    assert _ask(db_url, due + timedelta(minutes=1)) == 1
    assert [to for to, _, _ in smtp.messages] == ["c@example.jp"]
    assert _requested_at(db_url, cooperator_id) == due + timedelta(minutes=1)


def test_housekeeping_queues_the_requests_and_wakes_the_fan_out(
    db_url: str, line: FakeLineAPI, kicks: Kicks
) -> None:
    with session_scope(db_url) as session:
        _register(session, [EndpointSpec("line", "U-housekeeping")])
    assert run_due_jobs(db_url, MORNING + YEAR)["reconfirmation requests"] == 1
    assert kicks.calls == 1, "the fan-out is woken after the commit"
    _send(db_url, MORNING + YEAR)
    assert _line_texts(line, "U-housekeeping") == [_request_text("ja")]
