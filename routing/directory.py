"""The counter directory in the database: import a city's HSDS tables in one transaction,
seed an empty database at start-up, and the gazetteer of the loaded directory.

``import_directory`` reads the folder with every check of ``routing.hsds`` first; only a
directory that passes them all replaces the old one.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.db import migrate, session_scope
from bot.models import DirectoryImport, Service
from bot.settings import settings
from intents.places import Gazetteer
from routing.hsds import TABLES, read_directory
from routing.snapshot import forget_session_directory, get_directory

__all__ = ["ImportSummary", "import_directory", "load_gazetteer", "prepare_database", "seed_directory"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImportSummary:
    """How many rows of each table were imported."""

    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def import_directory(
    session: Session, folder: Path, progress: Callable[[str, int], None] | None = None
) -> ImportSummary:
    """Replace the directory in the database with the validated tables in ``folder``.

    Runs inside the caller's transaction: a failure anywhere leaves the old directory
    intact. Records a ``DirectoryImport`` whose new token makes every process drop its
    cached copy of the old directory.

    Args:
        session: the caller's session; the caller commits.
        folder: the directory folder.
        progress: called with (table name, rows) after each table is written.

    Returns:
        How many rows of each table were imported.

    Raises:
        DirectoryError: naming the file, line and column of the first problem.
    """
    tables = read_directory(folder)
    # Children before parents, so foreign keys hold while deleting.
    for table in reversed(TABLES):
        session.execute(delete(table.model))
    session.flush()
    counts: dict[str, int] = {}
    for table in TABLES:
        rows = [{key: value for key, value in row.items() if key != "_line"} for row in tables[table.file]]
        session.add_all(table.model(**row) for row in rows)
        session.flush()
        name = table.file.removesuffix(".csv")
        counts[name] = len(rows)
        if progress is not None:
            progress(name, len(rows))
    session.add(DirectoryImport(token=uuid.uuid4().hex, source=str(Path(folder).resolve()), counts=counts))
    session.flush()
    forget_session_directory(session)
    return ImportSummary(counts)


def seed_directory(session: Session, folder: Path) -> ImportSummary | None:
    """Import ``folder`` when the database holds no directory yet (the start-up step's seeding).

    Args:
        session: the caller's session; the caller commits.
        folder: the directory to import into an empty database.

    Returns:
        What was imported, or None when a directory was already loaded.
    """
    if session.scalar(select(Service.id).limit(1)) is not None:
        return None
    log.info("empty directory: importing %s", folder)
    return import_directory(session, folder)


def prepare_database(url: str | None = None, folder: Path | None = None) -> None:
    """The start-up step of every process: bring the schema up to date, then import the
    directory if none is loaded yet.

    Args:
        url: the database (the configured one, read at call time, by default).
        folder: the directory to seed an empty database with (the configured one by default).
    """
    url = url or settings.database_url
    migrate(url)
    with session_scope(url) as session:
        seed_directory(session, folder or settings.directory_path)


def load_gazetteer(session: Session) -> Gazetteer:
    """The place gazetteer of the directory loaded in the database (part of its snapshot).

    Args:
        session: a session on the database.

    Returns:
        The gazetteer ``intents.places.extract_place`` matches residents' words against.
    """
    return get_directory(session).gazetteer
