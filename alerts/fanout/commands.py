"""Commands of the alert fan-out: ``tsunagu worker`` and ``tsunagu fanout process / progress``, and
the outbox's part in ``tsunagu deliver --failed / --retry-failed`` (:func:`outbox_failures`)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from sqlalchemy.orm import Session

from alerts.fanout.enqueue import progress
from alerts.fanout.outbox import failed_rows, retry_failed
from bot.console_io import database_session
from bot.production import refuse_unfit_production
from bot.settings import settings
from bot.supervise import supervise
from routing.commands import FailedQueue, FailedRow
from routing.directory import prepare_database

__all__ = ["dramatiq_argv", "outbox_failures", "register"]


def dramatiq_argv(processes: int, threads: int) -> list[str]:
    """The command line that runs the fan-out's Dramatiq workers with this Python."""
    return [sys.executable, "-m", "dramatiq", "alerts.fanout.worker",
            "--processes", str(processes), "--threads", str(threads)]


def _failed_messages(session: Session) -> list[FailedRow]:
    return [(str(row.id), f"alert {row.alert_id} {row.kind}" if row.alert_id else row.kind, row.channel,
             row.fail_count, row.reason) for row in failed_rows(session)]


def _send_outbox() -> None:
    # Platform SDKs (LINE, Telegram, Twilio) load only when this command sends.
    from alerts.fanout.runner import process_outbox

    process_outbox()


def outbox_failures() -> FailedQueue:
    """The alert outbox's rows that failed for good, for ``tsunagu deliver --failed / --retry-failed``."""
    return FailedQueue("alert messages", _failed_messages, retry_failed, _send_outbox)


def register(app: typer.Typer) -> None:
    """Add ``worker`` and the ``fanout`` group to the ``tsunagu`` command line."""
    fanout = typer.Typer(help="Missing-person alert fan-out: send the outbox, show progress.", no_args_is_help=True)

    @app.command()
    def worker(
        processes: Annotated[int, typer.Option("--processes", "-p", min=1, help="Worker processes.")] = 2,
        threads: Annotated[int, typer.Option("--threads", "-t", min=1, help="Threads per process.")] = 4,
    ) -> None:
        """Run the alert fan-out workers (Dramatiq on TSUNAGU_REDIS_URL) until stopped."""
        refuse_unfit_production()
        if not settings.redis_url:
            typer.echo("tsunagu worker needs TSUNAGU_REDIS_URL. Without Redis, `tsunagu serve` sends alerts "
                       "itself and `tsunagu fanout process` sends what is due once.", err=True)
            raise typer.Exit(2)
        # Dramatiq ends all its workers when one is killed: started again at once (bot.supervise).
        raise typer.Exit(supervise(dramatiq_argv(processes, threads)))

    @fanout.command("process")
    def process(
        seconds: Annotated[float | None, typer.Option(help="Stop taking new batches after this long.")] = None,
    ) -> None:
        """Send the alert messages that are due now, in this process, then exit."""
        # Platform SDKs (LINE, Telegram, Twilio) load only when this command sends.
        from alerts.fanout.runner import process_outbox

        prepare_database()
        for channel, counts in process_outbox(seconds=seconds).items():
            summary = ", ".join(f"{what} {number}" for what, number in sorted(counts.items())) or "nothing due"
            typer.echo(f"{channel}: {summary}")

    @fanout.command("progress")
    def show_progress(alert_id: Annotated[int, typer.Argument(help="The alert's number.")]) -> None:
        """How many of an alert's messages are queued, sending, sent, failed or cancelled."""
        with database_session() as session:
            counts = progress(session, alert_id)
        typer.echo("  ".join(f"{state} {number}" for state, number in counts.items()))

    app.add_typer(fanout, name="fanout")
