"""What every `tsunagu` command shares: the two consoles, failing with a message, a database session.

Command modules (``routing.commands``, ``alerts.commands``, ``intents.commands`` …) sit
in several packages; this core module gives them one way to talk to the terminal —
results on stdout, progress and errors on stderr, so a command's output can be piped —
and one way to reach the database the settings name at call time (tests point the
settings at a database of their own). Bringing that database up to date needs the
directory (``routing``), so it is ``routing.directory.prepare_database``, not here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from bot.db import session_scope
from bot.settings import settings

__all__ = ["database_session", "err", "fail", "out", "table"]

out = Console()
"""Results: tables and listings (stdout)."""
err = Console(stderr=True)
"""Progress, confirmations and errors (stderr), so stdout stays the command's result."""


def fail(message: str) -> NoReturn:
    """Print ``error: message`` on stderr and end the command with exit code 1."""
    err.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code=1)


@contextmanager
def database_session() -> Iterator[Session]:
    """A session on the database the settings name now, committed on success, rolled back on error."""
    with session_scope(settings.database_url) as session:
        yield session


def table(title: str | None, columns: Iterable[str]) -> Table:
    """An empty table with these column headers, for :data:`out`."""
    result = Table(title=title)
    for column in columns:
        result.add_column(column)
    return result
