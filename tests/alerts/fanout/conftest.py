"""Fixtures for the fan-out tests: fake LINE / Telegram / Twilio / SMTP servers, settings pointing
at them (with high rate limits unless a test is about limits), cooperators spread over the
sample city, and an alert to send."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import redis
from sqlalchemy import insert, select, update

from bot.db import session_scope
from bot.models import Alert, AlertStatus, Cooperator, CooperatorEndpoint, OutboxItem, OutboxState, Town, utcnow
from bot.settings import settings
from alerts.fanout import enqueue as fanout, senders as fanout_senders
from alerts.fanout.runner import embedded_runner
from tests.fakes.line import FakeLineAPI
from tests.fakes.smtp import FakeSMTP
from tests.fakes.telegram import FakeTelegramAPI
from tests.fakes.twilio import FakeTwilioAPI

LINE_TOKEN = "line-access-token-for-fanout-tests"
TELEGRAM_TOKEN = "123456:telegram-token-for-fanout-tests"
TWILIO_SID = "AC" + "1" * 32
TWILIO_TOKEN = "twilio-auth-token-for-fanout-tests"
TWILIO_FROM = "+815012345678"
REDIS_URL = os.environ.get("TSUNAGU_TEST_REDIS", "redis://127.0.0.1:6379/0")
# Far above what the tests send, so only the tests about limits wait for a bucket.
FAST_LIMITS = {"line.multicast": 1000.0, "telegram.global": 5000.0, "telegram.chat": 100.0,
               "email.send": 5000.0, "sms.send": 1000.0}


@dataclass
class Fakes:
    line: FakeLineAPI
    telegram: FakeTelegramAPI
    smtp: FakeSMTP
    twilio: FakeTwilioAPI

    def deliveries(self) -> dict[str, list[str]]:
        """Accepted messages per channel, addresses in arrival order (SMS: the To numbers)."""
        return {
            "line": [address for _, address in self.line.deliveries],
            "telegram": [address for _, address in self.telegram.deliveries],
            "email": [address for _, address in self.smtp.deliveries],
            "sms": [call.body["To"] for call in self.twilio.calls("/Messages.json")],
        }

    def release(self) -> None:
        for fake in (self.line, self.telegram, self.smtp):
            fake.release()


# tests/alerts/conftest.py stops the fan-out from being woken and configures channels for
# the lifecycle tests; these tests run the real fan-out against fake platforms instead.
@pytest.fixture(autouse=True)
def kicks() -> None:
    """The real wake-up stays in place here."""


@pytest.fixture(autouse=True)
def alert_channels() -> None:
    """Channels come from ``fanout_env`` here."""


@pytest.fixture
def fakes() -> Iterator[Fakes]:
    with FakeLineAPI(LINE_TOKEN) as line, FakeTelegramAPI(TELEGRAM_TOKEN) as telegram, \
            FakeSMTP() as smtp, FakeTwilioAPI(TWILIO_SID, TWILIO_TOKEN) as twilio:
        found = Fakes(line, telegram, smtp, twilio)
        yield found
        found.release()


@pytest.fixture
def fanout_env(db_url: str, fakes: Fakes, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Settings for the fakes (this process), and the same as TSUNAGU_* variables for workers.

    At the end, whatever is left is cancelled and the embedded sender is let go.
    """
    values: dict[str, Any] = {
        "database_url": db_url,
        "redis_url": None,
        "line_channel_access_token": LINE_TOKEN,
        "line_api_host": fakes.line.url,
        "telegram_bot_token": TELEGRAM_TOKEN,
        "telegram_base_url": fakes.telegram.base_url,
        "smtp_host": "127.0.0.1",
        "smtp_port": fakes.smtp.port,
        "smtp_from": "alerts@aoba.example.jp",
        "twilio_account_sid": TWILIO_SID,
        "twilio_auth_token": TWILIO_TOKEN,
        "twilio_from_number": TWILIO_FROM,
        "twilio_api_base_url": fakes.twilio.url,
        "fanout_rate_limits": dict(FAST_LIMITS),
        "fanout_lease_seconds": 60.0,
        "fanout_retry_seconds": 0.2,
        "fanout_max_retry_seconds": 1.0,
        "fanout_namespace": f"tsunagu-test-{uuid.uuid4().hex[:10]}",
    }
    for name, value in values.items():
        monkeypatch.setattr(settings, name, value)
    fanout_senders._memory_limiter.cache_clear()
    yield {f"TSUNAGU_{name.upper()}": _env(value) for name, value in values.items() if value is not None}
    with session_scope(db_url) as session:
        session.execute(
            update(OutboxItem).where(OutboxItem.state.in_((OutboxState.queued, OutboxState.sending)))
            .values(state=OutboxState.cancelled)
        )
    runner = embedded_runner(db_url)
    runner.wake()
    assert runner.wait(30), "the embedded sender did not stop"
    fanout_senders._memory_limiter.cache_clear()


def _env(value: Any) -> str:
    return json.dumps(value) if isinstance(value, dict) else str(value)


@pytest.fixture
def redis_namespace(fanout_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Switch to Redis (a namespace of its own); its keys are deleted afterwards."""
    monkeypatch.setattr(settings, "redis_url", REDIS_URL)
    fanout_env["TSUNAGU_REDIS_URL"] = REDIS_URL
    namespace = settings.fanout_namespace
    yield namespace
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


# --------------------------------------------------------------------------- data


@dataclass
class Helper:
    """One seeded cooperator: id, town, distance from the alert, endpoints by preference."""

    id: int
    town_id: str
    endpoints: list[tuple[str, str]]
    distance_m: float = 0.0
    language: str = "ja"


@dataclass
class City:
    """Towns (id → centroid) of the sample city, and what was seeded into it."""

    towns: dict[str, tuple[float, float]]
    helpers: list[Helper] = field(default_factory=list)

    def by_address(self) -> dict[tuple[str, str], Helper]:
        return {endpoint: helper for helper in self.helpers for endpoint in helper.endpoints}


def address(channel: str, number: int) -> str:
    """A well-formed address of each channel for cooperator ``number``."""
    return {
        "line": f"U{number:032x}",
        "telegram": str(100_000_000 + number),
        "email": f"helper{number}@example.jp",
        "sms": f"+8190{number:08d}",
    }[channel]


@pytest.fixture
def city(db_url: str) -> City:
    with session_scope(db_url) as session:
        towns = {town_id: (lat, lon) for town_id, lat, lon in
                 session.execute(select(Town.town_id, Town.latitude, Town.longitude).order_by(Town.position))}
    return City(towns)


def seed(url: str, city: City, endpoints: list[list[tuple[str, str]]], *, languages: list[str] | None = None,
         towns: list[str] | None = None) -> list[Helper]:
    """Add one active cooperator per entry of ``endpoints`` (preferred first), spread over the towns."""
    town_ids = towns or list(city.towns)
    rows = []
    for index in range(len(endpoints)):
        town_id = town_ids[(len(city.helpers) + index) % len(town_ids)]
        lat, lon = city.towns[town_id]
        rows.append({"town_id": town_id, "latitude": lat, "longitude": lon,
                     "language": (languages or ["ja"])[index % len(languages or ["ja"])], "active": True,
                     "consented_at": utcnow()})
    with session_scope(url) as session:
        ids = list(session.scalars(insert(Cooperator).returning(Cooperator.id, sort_by_parameter_order=True), rows))
        session.execute(insert(CooperatorEndpoint), [
            {"cooperator_id": cooperator_id, "channel": channel, "address": where, "priority": priority, "active": True}
            for cooperator_id, wanted in zip(ids, endpoints, strict=True) for priority, (channel, where) in enumerate(wanted)
        ])
    added = [Helper(cooperator_id, row["town_id"], list(wanted), language=row["language"])
             for cooperator_id, row, wanted in zip(ids, rows, endpoints, strict=True)]
    city.helpers.extend(added)
    return added


def make_alert(url: str, city: City, town_id: str, *, radius_km: float | None = None) -> int:
    """An approved (active) alert last seen at the centroid of ``town_id``; distances filled in."""
    lat, lon = city.towns[town_id]
    with session_scope(url) as session:
        alert = Alert(status=AlertStatus.active, town_id=town_id, latitude=lat, longitude=lon, radius_km=radius_km,
                      description="80代の男性、身長160cmくらい", clothing="紺のジャンパー", approved_by="test",
                      approved_at=utcnow(), last_seen_at=utcnow() - timedelta(hours=1))
        session.add(alert)
        session.flush()
        alert_id = alert.id
    for helper in city.helpers:
        helper.distance_m = fanout.distance_m((lat, lon), city.towns[helper.town_id])
    return alert_id


def enqueue(url: str, alert_id: int, kind: str = "alert") -> int:
    with session_scope(url) as session:
        return fanout.enqueue_alert(session, session.get(Alert, alert_id), kind=kind)


def outbox_states(url: str, alert_id: int) -> dict[str, int]:
    with session_scope(url) as session:
        return fanout.progress(session, alert_id)


def assert_nearest_first(distances: list[float], window: int) -> None:
    """Arrival order is by distance, allowing ``window`` messages in flight at once to swap."""
    ranked = sorted(distances)
    for position, distance in enumerate(distances):
        low = ranked[max(0, position - window)]
        high = ranked[min(len(ranked) - 1, position + window)]
        assert low <= distance <= high, (position, distance, low, high)
