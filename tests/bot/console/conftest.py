"""Fixtures for the staff console: staff accounts with a known password, a client logged in
through the login form, and the same login for a Playwright page.

``staff_client(role=Role.counter, counters=["mimamori-chuo"])`` is a ``TestClient`` of the real
app (no channels) logged in as a new staff member; its requests carry the session's CSRF
token as the ``X-CSRF-Token`` header, so a test posts forms as the browser would
(``client.post(url, data={...})``). ``client.account`` says who it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import count
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import bot.console.auth
from bot.app import create_app
from bot.console.auth import CSRF_HEADER, LoginThrottle, set_password
from bot.db import session_scope
from bot.models.staff import Role
from bot.staff_api import FailedAttempts, create_staff_user

PASSWORD = "a long enough passphrase"
DEFAULT_COUNTERS = {Role.counter: ("mimamori-chuo",), Role.alert_desk: ("mimamori-chuo",),
                    Role.manager: (), Role.admin: ()}
_numbers = count(1)
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')


@dataclass(frozen=True)
class StaffAccount:
    """A staff member made for a test, with the password to log in."""

    id: int
    username: str
    password: str
    role: Role
    counters: tuple[str, ...]
    api_token: str


@pytest.fixture(autouse=True)
def fresh_login_throttle(monkeypatch: pytest.MonkeyPatch) -> LoginThrottle:
    """Each test starts with no failed logins counted (the throttle lives as long as the process)."""
    throttle = LoginThrottle(by_address=FailedAttempts(limit=20, window_seconds=900),
                             by_username=FailedAttempts(limit=5, window_seconds=900))
    monkeypatch.setattr(bot.console.auth, "login_throttle", throttle)
    return throttle


@pytest.fixture
def console_app(db_url: str) -> FastAPI:
    """The real app on the test database, without channels or an engine of its own."""
    return create_app(init_database=False, handler=lambda message: None, channel_names=[])


@pytest.fixture
def staff_account(db_url: str) -> Callable[..., StaffAccount]:
    """Make a staff member: ``staff_account(role=Role.manager, counters=[...], username=..., password=...)``."""

    def make(role: Role = Role.counter, counters: Sequence[str] | None = None, *, username: str | None = None,
             password: str = PASSWORD) -> StaffAccount:
        chosen = tuple(DEFAULT_COUNTERS[role] if counters is None else counters)
        name = username or f"{role.value.replace('_', '')}{next(_numbers)}"
        with session_scope(db_url) as session:
            user, token = create_staff_user(session, name, chosen, role=role)
            set_password(user, password)
            session.flush()
            return StaffAccount(user.id, name, password, role, chosen, token)

    return make


def csrf_of(html: str) -> str:
    """The CSRF token a console page carries (in its ``<meta name="csrf-token">``)."""
    found = _CSRF_META.search(html)
    assert found is not None, "the page has no CSRF token"
    return found.group(1)


def log_in_client(client: TestClient, username: str, password: str, *, next_path: str = "/staff/account") -> Any:
    """Log ``client`` in through the form as a browser does; returns the answer to the login POST."""
    form = client.get("/staff/login")
    return client.post("/staff/login", data={"username": username, "password": password,
                                             "csrf_token": csrf_of(form.text), "next": next_path},
                       follow_redirects=False)


@pytest.fixture
def staff_client(console_app: FastAPI, staff_account: Callable[..., StaffAccount]) -> Callable[..., TestClient]:
    """A client logged in as a new staff member: ``staff_client(role=Role.counter, counters=[...])``."""

    def make(role: Role = Role.counter, counters: Sequence[str] | None = None, *,
             username: str | None = None) -> TestClient:
        account = staff_account(role, counters, username=username)
        client = TestClient(console_app)
        answer = log_in_client(client, account.username, account.password)
        assert answer.status_code == 303, answer.text
        client.headers[CSRF_HEADER] = csrf_of(client.get("/staff/account").text)
        client.account = account  # type: ignore[attr-defined]
        return client

    return make


async def log_in(page: Any, base_url: str, username: str, password: str = PASSWORD) -> None:
    """Log a Playwright page in through the login form (it lands on the user's first page)."""
    await page.goto(f"{base_url}/staff/login")
    await page.locator("#username").fill(username)
    await page.locator("#password").fill(password)
    await page.locator("form.stack button[type=submit]").click()
    await page.wait_for_url(re.compile(r".*/staff/(?!login).*"))
