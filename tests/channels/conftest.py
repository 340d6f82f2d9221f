"""Fixtures for channel tests: fake platform APIs on loopback, channel settings pointing at
them, and the FastAPI app (real engine, real SQLite database) driven through httpx."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import select

from bot.app import create_app
from bot.db import session_scope
from bot.models import Case, Contact, Message
from bot.settings import Settings, settings
from channels import ratelimit
from tests.fakes.line import FakeLineAPI, LineEvents
from tests.fakes.telegram import FakeTelegramAPI, TelegramUpdates
from tests.fakes.twilio import FakeTwilioAPI

LINE_SECRET = "line-channel-secret-for-tests"
LINE_TOKEN = "line-access-token-for-tests"
TELEGRAM_TOKEN = "123456:telegram-token-for-tests"
TELEGRAM_SECRET = "telegram-secret-token-for-tests"
TWILIO_SID = "AC" + "0" * 32
TWILIO_TOKEN = "twilio-auth-token-for-tests"
# What Twilio calls; the app itself is reached at http://testserver (a proxy in between).
PUBLIC_BASE_URL = "https://tsunagu.city.example.jp"


@pytest.fixture
def line_api() -> Iterator[FakeLineAPI]:
    with FakeLineAPI(LINE_TOKEN) as api:
        yield api


@pytest.fixture
def telegram_api() -> Iterator[FakeTelegramAPI]:
    with FakeTelegramAPI(TELEGRAM_TOKEN) as api:
        yield api


@pytest.fixture
def twilio_api() -> Iterator[FakeTwilioAPI]:
    with FakeTwilioAPI(TWILIO_SID, TWILIO_TOKEN) as api:
        yield api


@pytest.fixture
def line_events(line_api: FakeLineAPI) -> LineEvents:
    return LineEvents(line_api, LINE_SECRET)


@pytest.fixture
def telegram_updates() -> TelegramUpdates:
    return TelegramUpdates()


@pytest.fixture(autouse=True)
def fresh_rate_limiter() -> Iterator[None]:
    """A new process-wide limiter for each test."""
    ratelimit.rate_limiter.cache_clear()
    yield
    ratelimit.rate_limiter.cache_clear()


@pytest.fixture
def engine_db(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh copy of the seeded SQLite database, for the engine the app builds on it.

    Conversations in tests run faster than people type, so the per-chat Telegram bucket
    is widened; tests/channels/test_ratelimit.py checks the real numbers.
    """
    monkeypatch.setitem(ratelimit.LIMITS, "telegram.chat", ratelimit.Limit(rate=100.0, burst=100))
    return sqlite_url


def channel_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings with every channel configured (APIs pointing nowhere unless overridden)."""
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": database_url,
        "data_dir": settings.data_dir,
        "public_base_url": PUBLIC_BASE_URL,
        "line_channel_secret": LINE_SECRET,
        "line_channel_access_token": LINE_TOKEN,
        "line_api_host": "http://127.0.0.1:9",
        "telegram_bot_token": TELEGRAM_TOKEN,
        "telegram_secret_token": TELEGRAM_SECRET,
        "telegram_base_url": "http://127.0.0.1:9/bot",
        "twilio_account_sid": TWILIO_SID,
        "twilio_auth_token": TWILIO_TOKEN,
        "twilio_from_number": "+815012345678",
        "twilio_api_base_url": "http://127.0.0.1:9",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def open_client(app_settings: Settings, channel_names: list[str]) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running, reached through httpx's ASGI transport."""
    app = create_app(app_settings, channel_names=channel_names)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


async def drain(client: httpx.AsyncClient, name: str) -> None:
    """Wait until the channel has processed everything it acknowledged."""
    await client.app.state.channels[name].tasks.drain()  # type: ignore[attr-defined]


def stored(database_url: str) -> dict[str, int]:
    """How many contacts, messages and cases the database holds."""
    with session_scope(database_url) as session:
        return {
            "contacts": len(session.scalars(select(Contact.id)).all()),
            "messages": len(session.scalars(select(Message.id)).all()),
            "cases": len(session.scalars(select(Case.id)).all()),
        }


def cases(database_url: str) -> list[Case]:
    with session_scope(database_url) as session:
        return list(session.scalars(select(Case).order_by(Case.id)))


@contextmanager
def served_on_loopback(app: FastAPI) -> Iterator[str]:
    """``app`` served by uvicorn on a random loopback port (its lifespan run); yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    # Start-up loads the classifier, training it first when the training data changed.
    for _ in range(6000):
        if server.started or not thread.is_alive():
            break
        threading.Event().wait(0.05)
    assert server.started, "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
