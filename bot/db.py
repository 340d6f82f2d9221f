"""Database engine, sessions and schema migrations (seeding the directory is ``routing.directory.prepare_database``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from bot.settings import settings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL and foreign keys so it behaves like the real thing.

    Parameters are hidden from SQL logs and error messages: they hold what residents wrote.
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "savepoint")
        def _begin_before_savepoint(connection, _name) -> None:  # type: ignore[no-untyped-def]
            # The driver begins a transaction only before a write, not before a SAVEPOINT, so
            # releasing one committed at once: the engine's contact and inbound message survived a
            # turn that then failed (an acknowledged event counted as handled, nothing said). Begin
            # first; IMMEDIATE takes the write lock now (waiting up to the timeout for another
            # writer) rather than failing later when the transaction's first read is stale. Only
            # here: a delivery pass reads, sends over the network, then writes, and must not hold
            # the lock while it waits for a counter's mail server.
            dbapi_connection = connection.connection.dbapi_connection
            if not dbapi_connection.in_transaction:
                dbapi_connection.execute("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, hide_parameters=True)


def get_engine(url: str | None = None) -> Engine:
    """The shared engine for ``url`` (the configured database when None)."""
    # Resolve before the cache: a changed settings.database_url must get its own engine.
    return _engine_for(url or settings.database_url)


@lru_cache(maxsize=8)
def _engine_for(url: str) -> Engine:
    return make_engine(url)


def dispose_engine(url: str) -> None:
    """Close the shared engine of ``url`` (before its database is dropped) and forget the engines."""
    _engine_for(url).dispose()
    _engine_for.cache_clear()
    _sessions_for.cache_clear()


def session_factory(url: str | None = None) -> sessionmaker[Session]:
    """The shared session maker of ``url``'s engine (the configured database when None)."""
    return _sessions_for(get_engine(url))


@lru_cache(maxsize=8)
def _sessions_for(engine: Engine) -> sessionmaker[Session]:
    # One per engine, not one per unit of work: a sessionmaker defines a Session subclass whose
    # event dispatch is set up anew, which cost more CPU than a short transaction's SQL (profiled
    # with benchmarks/webhook_load.py: the inbox's claim and finish, a webhook's insert).
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    session = session_factory(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def migrate(url: str | None = None) -> None:
    """Bring the schema to the newest migration (idempotent)."""
    # alembic (with mako and pygments, ~0.13 s) loads only when migrating, not on every CLI start.
    from alembic import command
    from alembic.config import Config

    url = url or settings.database_url
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    with get_engine(url).begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
