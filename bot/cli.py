"""The `tsunagu` command line: chat in a terminal, serve webhooks, train and evaluate the
classifier, route messages, manage the directory and cases, purge old personal data."""

from __future__ import annotations

import logging
from contextlib import nullcontext
import sys
import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bot.settings import settings

app = typer.Typer(
    name="tsunagu",
    help="つなぐ — the chat-and-voice front door of a city's welfare services.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,
)


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more (never message text).")] = False) -> None:
    """つなぐ (tsunagu): residents ask on LINE, Telegram, the phone or the web; tsunagu finds the
    right counter, takes worry reports and missing-person reports, and delivers them."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs request URLs at INFO, and a Telegram URL carries the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)


@app.command()
def chat(
    lang: Annotated[str, typer.Option("--lang", help="Conversation language: ja or en.")] = "ja",
    script: Annotated[Path | None, typer.Option("--script", exists=True, dir_okay=False,
                                                 help="Read one message per line from FILE and print the replies.")] = None,
) -> None:
    """Talk to tsunagu in this terminal (the console channel), as a resident would."""
    if lang not in ("ja", "en"):
        raise typer.BadParameter("--lang must be ja or en")
    from bot.engine import conversation_engine
    from channels.console import ConsoleChannel

    console = Console(highlight=False)
    getting_ready = console.status("準備しています… / Getting ready…") if script is None else nullcontext()
    with getting_ready:
        engine = conversation_engine()
        from intents import get_classifier

        get_classifier()
    channel = ConsoleChannel(engine.handle, console, user_id=f"console-{uuid.uuid4().hex[:12]}", language=lang)
    if script is None:
        console.print("[dim]終了するには /quit と入力してください。 Type /quit to leave.[/]")
        channel.open()
        channel.run_interactive()
    else:
        lines = script.read_text(encoding="utf-8").splitlines()
        channel.run_script(lines, echo=lambda line: console.print(f"> {line}", style="bold green", markup=False))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Run the web app: channel webhooks (/webhooks/…), web chat (/chat) and the staff API."""
    from bot.app import serve as serve_app

    serve_app(host, port)


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema and import the directory if it is empty."""
    from bot.db import init_db

    init_db()
    typer.echo(f"database ready: {settings.database_url}")


@app.command()
def purge() -> None:
    """Delete personal data past its retention period (message texts, ended alerts)."""
    from bot.db import init_db, session_scope
    from bot.privacy import purge_expired

    init_db()
    with session_scope() as session:
        report = purge_expired(session)
    for what, number in report.items():
        typer.echo(f"{what}: {number}")


def _register_subcommands() -> None:
    from intents.commands import register as register_intents
    from alerts.commands import register as register_alerts
    from routing.commands import register as register_routing
    from alerts.fanout.commands import register as register_fanout

    register_intents(app)
    register_routing(app)
    register_alerts(app)
    register_fanout(app)


_register_subcommands()
