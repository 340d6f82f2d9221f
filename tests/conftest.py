"""Shared fixtures: real SQLite files and a real PostgreSQL schema, one trained model per run,
a guard that fails any test trying to reach a non-loopback address, and one terminal width."""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import create_engine, text

from bot.settings import settings

TERMINAL_COLUMNS = "200"
POSTGRES_URL = os.environ.get("TSUNAGU_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

# Tables holding conversation and case state; emptied between tests (the directory stays).
STATE_TABLES = (
    "sightings", "outbox", "alerts", "registered_persons", "cooperator_endpoints", "cooperators",
    "staff_users", "deliveries", "delivery_targets", "case_events", "cases", "messages", "conversations", "contacts",
    "inbox_events",
    "audit_entries", "staff_sessions",
    "sensor_events", "safety_checks", "sensor_devices", "sensor_family_contacts", "sensor_households",
    "partner_reports", "partner_reporters", "partner_invitations", "partners",
    "town_risk_scores", "risk_computations", "town_stats",
)


# --------------------------------------------------------------------------- terminal width


def pytest_configure(config: pytest.Config) -> None:
    """Rich output (CLI tables, error panels, chat transcripts) at one width, whatever the terminal.

    Rich prefers COLUMNS to the terminal's size. It is set before any test module is imported
    (some create their console at import), and subprocesses inherit it.
    """
    environment = pytest.MonkeyPatch()
    environment.setenv("COLUMNS", TERMINAL_COLUMNS)
    config.add_cleanup(environment.undo)


# --------------------------------------------------------------------------- no network


_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: object) -> object:
    if isinstance(address, tuple) and address:
        host = address[0]
        try:
            ip = ipaddress.ip_address(socket.gethostbyname(host) if not _is_ip(host) else host)
        except (socket.gaierror, ValueError):
            raise RuntimeError(f"test tried to reach {host!r}: tests must not use the network") from None
        if not ip.is_loopback:
            raise RuntimeError(f"test tried to reach {host!r}: tests must not use the network")
    return _real_connect(self, address)  # type: ignore[arg-type]


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)


# Staff passwords in tests: argon2id still, at the lowest cost (a hash at the library's
# recommended cost takes ~0.1 s, and most console tests make an account and log in).
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(autouse=True)
def cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    auth = sys.modules.get("bot.console.auth")
    if auth is not None:
        monkeypatch.setattr(auth, "_hasher", CHEAP_HASHER)


@pytest.fixture(autouse=True)
def fresh_staff_throttle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no wrong staff tokens counted: the throttle lives as long as the
    process, and one test's deliberate wrong tokens must not lock the next test out."""
    staff_api = sys.modules.get("bot.staff_api")
    if staff_api is not None:
        monkeypatch.setattr(staff_api, "failed_attempts", staff_api.FailedAttempts())


# --------------------------------------------------------------------------- model


@pytest.fixture(scope="session", autouse=True)
def model_dir() -> Path:
    """One data dir, and so one trained model, for the whole run and the runs after it.

    The model carries the hash of the training data, lookups, encoder and model version:
    it is reused while that hash matches and retrained in place (written atomically) when
    it does not, so only the first run on a machine, or the first after the data changed,
    pays for training. ``TSUNAGU_TEST_DATA_DIR`` chooses another place.
    """
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tsunagu" / "test-data"
    data_dir = Path(os.environ.get("TSUNAGU_TEST_DATA_DIR") or default)
    data_dir.mkdir(parents=True, exist_ok=True)
    settings.data_dir = data_dir
    return data_dir


# --------------------------------------------------------------------------- databases


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file with the sample city imported, copied for each test."""
    from routing.directory import prepare_database

    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    prepare_database(f"sqlite:///{path}")
    from bot.db import get_engine

    get_engine(f"sqlite:///{path}").dispose()
    return path


@pytest.fixture(scope="session")
def postgres_schema() -> Iterator[str]:
    """A private schema in the test database, migrated and seeded once per run."""
    from routing.directory import prepare_database

    schema = f"t_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as error:  # noqa: BLE001 - turn a missing server into a clear failure
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_URL}: {error}")
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    prepare_database(url)
    yield url
    from bot.db import get_engine

    get_engine(url).dispose()
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A database with the sample city loaded and no conversations or cases, on both engines.

    The app's settings point at it for the test, so code that opens its own sessions
    (engine, deliveries, commands) uses the same database.
    """
    if request.param == "sqlite":
        path = tmp_path / "tsunagu.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_schema")
        _empty_state_tables(url)
    monkeypatch.setattr(settings, "database_url", url)
    yield url
    if request.param == "sqlite":
        from bot.db import get_engine

        get_engine(url).dispose()


def _empty_state_tables(url: str) -> None:
    """TRUNCATE the state tables, again if PostgreSQL chose it as a deadlock's victim: a
    background thread of the previous test (a delivery pass, the inbox) may still be
    finishing a transaction on the same tables, which PostgreSQL says to retry."""
    from psycopg.errors import DeadlockDetected
    from sqlalchemy.exc import OperationalError

    from bot.db import get_engine

    attempts = 5
    for attempt in range(attempts):
        try:
            with get_engine(url).begin() as connection:
                connection.execute(text(f"TRUNCATE {', '.join(STATE_TABLES)} RESTART IDENTITY CASCADE"))
            return
        except OperationalError as error:
            if not isinstance(error.orig, DeadlockDetected) or attempt == attempts - 1:
                raise
            # Let the other transaction finish first: retried at once, it can deadlock again.
            time.sleep(0.1 * 2**attempt)


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Only SQLite, for tests about the embedded default itself."""
    path = tmp_path / "tsunagu.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    monkeypatch.setattr(settings, "database_url", url)
    return url
