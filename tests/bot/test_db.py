"""The schema the migrations build is the schema the models describe, on both engines."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bot.db import get_engine
from bot.models import Base


def test_migrations_build_exactly_the_models_tables(db_url: str) -> None:
    with get_engine(db_url).connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
