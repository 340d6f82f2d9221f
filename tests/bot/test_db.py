"""The schema the migrations build is the schema the models describe, on both engines; SQLite's
transactions hold their savepoints."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.orm import Session

from bot.db import get_engine, make_engine
from bot.models import Base


def test_migrations_build_exactly_the_models_tables(db_url: str) -> None:
    with get_engine(db_url).connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_a_released_savepoint_is_undone_with_its_transaction_on_sqlite(tmp_path: Path) -> None:
    # The engine keeps a turn's contact and inbound message in SAVEPOINTs: a turn that fails
    # after them must leave nothing behind, or its event counts as handled with nothing said.
    engine = make_engine(f"sqlite:///{tmp_path / 'savepoints.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE kept (x INTEGER)"))
    with Session(engine) as session:
        with session.begin_nested():
            session.execute(text("INSERT INTO kept VALUES (1)"))
        session.rollback()
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM kept")).scalar() == 0
