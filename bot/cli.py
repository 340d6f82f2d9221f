"""The `tsunagu` command line: chat in a terminal, serve webhooks, train and evaluate the
classifier, route messages, manage the directory, cases, alerts and staff, purge old data.

A composition root like ``bot/app.py``: it adds each package's commands
(``intents.commands``, ``routing.commands``, ``alerts.commands``,
``alerts.fanout.commands``) and hands them what lies above their package — the
directory's gazetteer to the classifier commands, the effects dispatcher and
housekeeping to the alert commands. Every command starts by checking domain.yml
against every response the code can send (``bot.responses``). ``--help`` loads no ML
library, no platform SDK and no web stack: those load when a command that needs them runs.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import select

from alerts.commands import register as register_alerts
from alerts.sensor_commands import register as register_sensors
from alerts.text_commands import register as register_alert_text
from alerts.fanout.commands import outbox_failures
from alerts.fanout.commands import register as register_fanout
from bot.console.demo import register as register_demo
from bot.console.maps import town_map_svg
from bot.console_io import database_session, err, fail, out
from bot.domain import load_domain
from bot.effects import run_effects
from bot.housekeeping import run_due_jobs
from bot.logsafe import install_redaction
from bot.messages import Effect
from bot.models import StaffUser
from bot.privacy import ResidentNotFound, erase_resident, purge_expired, resident_data
from bot.production import refuse_unfit_production
from bot.responses import check_domain
from bot.settings import settings
from intents.commands import register as register_intents
from intents.places import Gazetteer
from routing.commands import register as register_routing
from routing.directory import load_gazetteer, prepare_database
from routing.partner_commands import register as register_partners
from routing.riskmap_commands import register as register_risk_map

__all__ = ["app"]

app = typer.Typer(
    name="tsunagu",
    help="つなぐ — the chat-and-voice front door of a city's welfare services.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,
)
# Said before the classifier's first training, which takes a minute or two.
PREPARING = "準備しています（初回はモデルの学習に1〜2分かかります）… / Preparing the model (first run: a minute or two)…"
staff_app = typer.Typer(help="Staff accounts of the staff console (/staff) and API (/api/staff).", no_args_is_help=True)
resident_app = typer.Typer(help="A resident's data: disclosure (開示) and erasure on request.", no_args_is_help=True)
ChannelArgument = Annotated[str, typer.Argument(help="The channel: line, telegram, voice, webchat, console.")]
UserIdArgument = Annotated[str, typer.Argument(help="The channel's id of the resident (LINE user id, call:+81…).")]


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more (never message text).")] = False) -> None:
    """つなぐ (tsunagu): residents ask on LINE, Telegram, the phone or the web; tsunagu finds the
    right counter, takes worry reports and missing-person reports, and delivers them."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs request URLs at INFO, and a Telegram URL carries the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # Libraries log message content and personal data at DEBUG: mask it on the way out.
    install_redaction(json_lines=settings.log_format == "json")
    # A missing sentence fails here, not when a command (or its sender thread) sends it.
    check_domain(load_domain())


@app.command()
def chat(
    lang: Annotated[str, typer.Option("--lang", help="Default language, ja or en: each message's own words "
                                                         "decide its language (English is answered in English).")] = "ja",
    script: Annotated[Path | None, typer.Option("--script", exists=True, dir_okay=False,
                                                 help="Read one message per line from FILE and print the replies "
                                                      "(a line --- starts a new resident).")] = None,
    jsonl: Annotated[bool, typer.Option("--jsonl", help="With --script: print one JSON object per message "
                                                        "(docs/conversation-contract.md).")] = False,
) -> None:
    """Talk to tsunagu in this terminal (the console channel), as a resident would."""
    if lang not in ("ja", "en"):
        raise typer.BadParameter("--lang must be ja or en")
    if jsonl and script is None:
        raise typer.BadParameter("--jsonl needs --script FILE")
    # Heavy: the engine's wiring loads the classifier (scikit-learn), the channels the web stack.
    from bot.app import build_engine
    from channels.console import ConsoleChannel
    from intents.classifier import get_classifier
    from intents.model import read_model_meta

    # Replies are printed whole, never wrapped mid-sentence at the terminal's width:
    # a transcript reads the same in any window, piped or not.
    console = Console(highlight=False, soft_wrap=True)
    if settings.model_backend != "rasa" and read_model_meta(settings.model_dir) is None:
        # Said on stderr even when it is not a terminal (a script, CI): otherwise a minute of silence.
        err.print(PREPARING, highlight=False, soft_wrap=True)
    getting_ready = console.status("準備しています… / Getting ready…") if script is None else nullcontext()
    with getting_ready:
        prepare_database()
        engine = build_engine(settings.database_url)
        get_classifier()
    channel = ConsoleChannel(engine.handle, console, user_id=f"console-{uuid.uuid4().hex[:12]}", language=lang)
    if script is None:
        console.print("[dim]終了するには /quit と入力してください。 Type /quit to leave.[/]")
        channel.open()
        channel.run_interactive()
    elif jsonl:
        channel.run_script_jsonl(script.read_text(encoding="utf-8").splitlines(), write=typer.echo)
    else:
        lines = script.read_text(encoding="utf-8").splitlines()
        channel.run_script(lines, echo=lambda line: console.print(f"> {line}", style="bold green", markup=False))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Run the web app: channel webhooks (/webhooks/…), web chat (/chat) and the staff API."""
    refuse_unfit_production()
    # Heavy: the web app loads the classifier (scikit-learn) and the platform SDKs.
    from bot.app import serve as serve_app

    serve_app(host, port)


@app.command()
def turns() -> None:
    """Run residents' LINE and Telegram turns from the inbox (with TSUNAGU_TURN_MODE=worker, the web
    processes only store and acknowledge them); stops on SIGTERM after the turns under way."""
    refuse_unfit_production()
    from bot.app import turns as run_turns

    run_turns()


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema and import the directory if it is empty."""
    prepare_database()
    typer.echo(f"database ready: {settings.database_url}")


@app.command()
def purge() -> None:
    """Delete personal data past its retention period (messages, contacts, old cases, ended alerts)."""
    prepare_database()
    with database_session() as session:
        report = purge_expired(session)
    for what, number in report.items():
        typer.echo(f"{what}: {number}")


@resident_app.command("export")
def export_resident(channel: ChannelArgument, user_id: UserIdArgument) -> None:
    """Print everything kept about one resident as JSON (for a disclosure request)."""
    prepare_database()
    with database_session() as session:
        try:
            data = resident_data(session, channel, user_id)
        except ResidentNotFound as error:
            fail(str(error))
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


@resident_app.command("erase")
def erase_resident_command(
    channel: ChannelArgument,
    user_id: UserIdArgument,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase one resident's messages, conversations and contact; their reports stay without their details."""
    if not yes:
        typer.confirm(f"Erase everything kept about {channel} resident {user_id}? This cannot be undone", abort=True)
    prepare_database()
    with database_session() as session:
        try:
            report = erase_resident(session, channel, user_id)
        except ResidentNotFound as error:
            fail(str(error))
    for what, number in report.items():
        typer.echo(f"{what}: {number}")


def _read_password(username: str, from_stdin: bool) -> str | None:
    """A console password: the first line of stdin, a hidden prompt (twice) at a terminal, or
    None when neither (a script adding an API-only account). Refuses a weak one."""
    from bot.console.auth import WeakPassword, check_password_strength

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = typer.prompt(f"console password for {username}", hide_input=True,
                                confirmation_prompt=True, err=True)
    else:
        return None
    try:
        check_password_strength(username, password)
    except WeakPassword as weak:
        fail(f"password refused: {weak}")
    return password


@staff_app.command("add")
def add_staff(
    username: str,
    counter: Annotated[
        list[str] | None,
        typer.Option("--counter", help="A counter (service id) whose cases they see; repeat for several. "
                                       "Required for counter staff and the alert desk."),
    ] = None,
    role: Annotated[str, typer.Option("--role", help="counter, alert_desk, manager or admin.")] = "counter",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the console password from the first line of stdin.")
    ] = False,
    can_approve: Annotated[bool, typer.Option("--can-approve", help="The same as --role alert_desk.")] = False,
) -> None:
    """Create a staff account: its console password (asked at a terminal, or --password-stdin), and
    print its API token (shown this once only)."""
    # Heavy: the staff API module loads the web stack (FastAPI), which only this command needs.
    from bot.console.auth import set_password
    from bot.models.staff import Role
    from bot.staff_api import create_staff_user

    try:
        chosen = Role.alert_desk if can_approve else Role(role)
    except ValueError:
        fail(f"--role must be one of: {', '.join(r.value for r in Role)}")
    password = _read_password(username, password_stdin)
    prepare_database()
    with database_session() as session:
        try:
            user, token = create_staff_user(session, username, counter or [], role=chosen)
        except ValueError as error:
            fail(str(error))
        if password is not None:
            set_password(user, password)
        counters = ", ".join(user.counter_ids) or "none"
    err.print(f"staff user {username} created ({chosen.value}; counters: {counters}); the token is shown only once:",
              highlight=False)
    if password is None:
        err.print(f"no console password yet: tsunagu staff passwd {username}", highlight=False)
    typer.echo(token)


@staff_app.command("passwd")
def staff_password(
    username: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")
    ] = False,
) -> None:
    """Set a staff member's console password (asked twice at a terminal); their sessions end."""
    from bot.console.auth import set_password

    password = _read_password(username, password_stdin)
    if password is None:
        fail("no password given: run this at a terminal, or pass --password-stdin")
    prepare_database()
    with database_session() as session:
        user = session.scalar(select(StaffUser).where(StaffUser.username == username))
        if user is None:
            fail(f"no staff user '{username}'")
        set_password(user, password)
    typer.echo(f"staff user {username} has a new console password; their sessions ended")


@staff_app.command("new-token")
def new_staff_token(username: str) -> None:
    """Replace a staff member's API token (the old one stops working at once) and print the new one."""
    from bot.staff_api import replace_token

    prepare_database()
    with database_session() as session:
        try:
            token = replace_token(session, username)
        except ValueError as error:
            fail(str(error))
    err.print(f"staff user {username} has a new token; the old one no longer works. Shown only once:",
              highlight=False)
    typer.echo(token)


@staff_app.command("disable")
def disable_staff(username: str) -> None:
    """Disable a staff account: its token and console sessions are refused from the next request."""
    _set_staff_active(username, active=False)


@staff_app.command("enable")
def enable_staff(username: str) -> None:
    """Enable a disabled staff account again (with the token it had)."""
    _set_staff_active(username, active=True)


def _set_staff_active(username: str, *, active: bool) -> None:
    from bot.staff_api import set_staff_active

    prepare_database()
    with database_session() as session:
        try:
            set_staff_active(session, username, active)
        except ValueError as error:
            fail(str(error))
    typer.echo(f"staff user {username} {'enabled' if active else 'disabled'}")


@staff_app.command("list")
def list_staff() -> None:
    """The staff accounts: name, enabled or not, role, counters, console password set or not, last login."""
    prepare_database()
    with database_session() as session:
        for user in session.scalars(select(StaffUser).order_by(StaffUser.username)):
            state = "enabled" if user.active else "disabled"
            password = "password" if user.password_hash else "no password"
            last = user.last_login_at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M") if user.last_login_at else "-"
            typer.echo(f"{user.username}\t{state}\t{user.role.value}\t{', '.join(user.counter_ids) or '-'}"
                       f"\t{password}\t{last}")


def directory_gazetteer() -> Gazetteer:
    """The gazetteer of the directory in the settings' database (for ``tsunagu classify``)."""
    with database_session() as session:
        return load_gazetteer(session)


def after_commit(effects: Sequence[Effect]) -> None:
    """Start the background work of a command's committed effects, on the settings' database."""
    run_effects(effects, url=settings.database_url)


def eval_conversations(directory: Path) -> None:
    """`tsunagu eval --conversations DIR`: the conversation suite through the engine, on a scratch database.

    Every conversation's cases and alerts are real rows, so the suite never runs on the
    settings' database: a fresh SQLite file with the directory imported, deleted afterwards.
    Prints the success rate overall, of the emergency expectations, by class, by style and by language,
    and every failed conversation with its first failed expectation.
    """
    # Heavy: the engine's wiring loads the classifier (scikit-learn).
    from bot.app import build_engine
    from bot.conversation_suite import SuiteError, load_suite, print_report, run_suite
    from bot.db import get_engine
    from intents.classifier import get_classifier
    from intents.model import read_model_meta

    try:
        conversations = load_suite(directory)
    except SuiteError as error:
        fail(str(error))
    if settings.model_backend != "rasa" and read_model_meta(settings.model_dir) is None:
        err.print(PREPARING, highlight=False, soft_wrap=True)
    # The cases stay rows of the scratch database: no background thread delivers them (and
    # none outlives the database, which is deleted when the run ends).
    delivery_mode, settings.delivery_mode = settings.delivery_mode, "worker"
    try:
        with tempfile.TemporaryDirectory(prefix="tsunagu-conversations-", ignore_cleanup_errors=True) as scratch:
            url = f"sqlite:///{Path(scratch) / 'suite.db'}"
            prepare_database(url)
            engine = build_engine(url)
            get_classifier()
            report = run_suite(engine.handle, conversations)
            get_engine(url).dispose()
    finally:
        settings.delivery_mode = delivery_mode
    print_report(report, out)


def due_jobs() -> Mapping[str, int]:
    """Housekeeping's due jobs, once, on the settings' database (``tsunagu alert tick``)."""
    return run_due_jobs(settings.database_url)


app.add_typer(staff_app, name="staff")
app.add_typer(resident_app, name="resident")
register_intents(app, load_gazetteer=directory_gazetteer, eval_conversations=eval_conversations)
register_routing(app, failed_elsewhere=[outbox_failures()])
register_alerts(app, after_commit=after_commit, due_jobs=due_jobs)
register_alert_text(app)
register_fanout(app)
register_sensors(app, after_commit=after_commit)
register_partners(app)
register_risk_map(app, draw_map=town_map_svg)
register_demo(app, serve=serve)
