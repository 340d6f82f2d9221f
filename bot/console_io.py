"""What every `tsunagu` command shares: the two consoles, tables, times, failing with a message, a database session.

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
from datetime import datetime
from typing import NoReturn

import typer
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from bot.db import session_scope
from bot.settings import settings

__all__ = ["database_session", "err", "fail", "local_time", "out", "table"]

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


def table(title: str | None, columns: Iterable[str], *, whole: Iterable[str] = ()) -> Table:
    """An empty table with these column headers, for :data:`out`, readable at 80 columns.

    Args:
        title: the table's title, if any.
        columns: the column headers.
        whole: the columns never broken nor cut (ids, phone numbers: staff copy them);
            the others wrap, breaking a long word rather than cutting it off.
    """
    kept = set(whole)
    result = Table(title=title)
    for column in columns:
        if column in kept:
            result.add_column(column, no_wrap=True)
        else:
            # A header is not broken: the cells below it are.
            result.add_column(column, overflow="fold", min_width=cell_len(column))
    return result


def local_time(moment: datetime | None) -> str:
    """A stored (UTC) time in the city's zone, with the zone named: ``2026-11-24 10:00 JST``; "" for none."""
    if moment is None:
        return ""
    return moment.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M %Z")
