"""Command-line commands for missing-person alerts, added to ``tsunagu`` by ``register``.

``alert list|show|approve|widen|found|cancel|cap|tick`` (until a staff console exists,
staff decide here), ``staff add`` (an account for the staff API; prints its token
once) and ``helper reconfirm-due`` (the yearly re-confirmation of cooperators).
Every command first brings the database up to date with ``bot.db.init_db``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.models import Alert, AlertStatus, Sighting
from bot.settings import settings

__all__ = ["register"]

err = Console(stderr=True)
out = Console()

alert_app = typer.Typer(help="Missing-person alerts: staff decisions and CAP export.", no_args_is_help=True)
staff_app = typer.Typer(help="Staff accounts of the staff API (/api/staff).", no_args_is_help=True)
helper_app = typer.Typer(help="Cooperators (協力者) of the alert network.", no_args_is_help=True)


@contextmanager
def _session() -> Iterator[Session]:
    from bot.db import init_db, session_scope

    init_db(settings.database_url)
    with session_scope(settings.database_url) as session:
        yield session


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code=1)


def _alert(session: Session, alert_id: int, *, lock: bool = False) -> Alert:
    alert = session.get(Alert, alert_id, with_for_update=lock)
    if alert is None:
        _fail(f"no alert {alert_id}")
    assert alert is not None
    return alert


# --------------------------------------------------------------------------- alert


@alert_app.command("list")
def list_alerts(
    status: Annotated[AlertStatus | None, typer.Option(help="Only alerts in this status.")] = None,
) -> None:
    """Alerts, newest first, with their stage and delivery progress."""
    from alerts.fanout import enqueue as fanout
    from alerts.alerts import last_seen_label

    with _session() as session:
        query = select(Alert).order_by(Alert.id.desc())
        if status is not None:
            query = query.where(Alert.status == status)
        table = Table("id", "status", "case", "last seen", "radius km", "approved by", "queued", "sent", "failed")
        for alert in session.scalars(query):
            progress = fanout.progress(session, alert.id)
            table.add_row(str(alert.id), alert.status.value, str(alert.case_id or "-"),
                          last_seen_label(session, alert) or "-",
                          "city" if alert.radius_km is None else f"{alert.radius_km:g}", alert.approved_by or "-",
                          str(progress.get("queued", 0)), str(progress.get("sent", 0)), str(progress.get("failed", 0)))
        out.print(table)


@alert_app.command("show")
def show(alert_id: int) -> None:
    """One alert as JSON: description, stage, progress and sightings (personal data: staff only)."""
    from alerts.fanout import enqueue as fanout
    from alerts.alerts import last_seen_label

    with _session() as session:
        alert = _alert(session, alert_id)
        sightings = session.scalars(select(Sighting).where(Sighting.alert_id == alert.id).order_by(Sighting.id))
        data = {
            "id": alert.id, "status": alert.status.value, "case_id": alert.case_id, "person_id": alert.person_id,
            "last_seen_place": last_seen_label(session, alert), "description": alert.description,
            "clothing": alert.clothing, "photo_ref": alert.photo_ref, "stage": alert.stage,
            "radius_km": alert.radius_km, "approved_by": alert.approved_by,
            "progress": fanout.progress(session, alert.id),
            "sightings": [{"id": s.id, "group_id": s.group_id, "town_id": s.town_id, "text": s.text,
                           "seen_at": s.seen_at.isoformat() if s.seen_at else None} for s in sightings],
            "stats": alert.stats,
        }
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _step(alert_id: int, by: str, step: Callable[..., int], done: str) -> None:
    from alerts.fanout import enqueue as fanout
    from alerts.alerts import AlertError

    with _session() as session:
        alert = _alert(session, alert_id, lock=True)
        try:
            queued = step(session, alert, by=by)
        except AlertError as error:
            _fail(str(error))
    fanout.kick()
    typer.echo(f"alert {alert_id} {done}: {queued} messages queued")
    if queued and not settings.redis_url:
        _send_here(alert_id)


def _send_here(alert_id: int) -> None:
    """Embedded default: this process is the sender, so it stays until the queue is empty."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from bot.db import session_scope
    from alerts.fanout import enqueue as fanout

    def counts() -> tuple[int, int]:
        with session_scope(settings.database_url) as session:
            state = fanout.progress(session, alert_id)
        return state["sent"] + state["failed"] + state["cancelled"], sum(state.values())

    try:
        with Progress(TextColumn("sending"), BarColumn(), MofNCompleteColumn(), console=err) as bar:
            task = bar.add_task("sending")
            while not fanout.wait(1.0):
                done, total = counts()
                bar.update(task, completed=done, total=total)
            done, total = counts()
            bar.update(task, completed=done, total=total)
    except KeyboardInterrupt:
        err.print("stopped: the rest stays queued for `tsunagu fanout process` or `tsunagu serve`")
        raise typer.Exit(code=130) from None


By = Annotated[str, typer.Option("--by", help="Who decided (staff name), recorded on the case.")]


@alert_app.command("approve")
def approve(alert_id: int, by: By) -> None:
    """Approve a pending alert: it goes to the cooperators within the first radius, nearest first."""
    from alerts.alerts import approve as approve_alert

    _step(alert_id, by, approve_alert, "approved")


@alert_app.command("widen")
def widen(alert_id: int, by: By = "cli") -> None:
    """Widen an active alert to its next radius now (it also widens by itself on a schedule)."""
    from alerts.alerts import widen as widen_alert

    _step(alert_id, by, widen_alert, "widened")


@alert_app.command("found")
def found(alert_id: int, by: By = "cli") -> None:
    """The person was found: stop pending messages, thank those who received the alert."""
    from alerts.alerts import found as found_alert

    _step(alert_id, by, found_alert, "marked found")


@alert_app.command("cancel")
def cancel(alert_id: int, by: By = "cli") -> None:
    """Withdraw an alert: stop pending messages, tell those who received it."""
    from alerts.alerts import cancel as cancel_alert

    _step(alert_id, by, cancel_alert, "cancelled")


@alert_app.command("cap")
def cap(
    alert_id: int,
    msg_type: Annotated[
        str | None, typer.Option("--type", help="Alert, Update or Cancel (default: current state).")
    ] = None,
) -> None:
    """Print the alert as a CAP 1.2 XML message."""
    from alerts.alerts import last_seen_label, to_cap

    if msg_type not in (None, "Alert", "Update", "Cancel"):
        _fail("--type must be Alert, Update or Cancel")
    kind: Literal["Alert", "Update", "Cancel"] | None = msg_type  # type: ignore[assignment]
    with _session() as session:
        alert = _alert(session, alert_id)
        typer.echo(to_cap(alert, kind, area_desc=last_seen_label(session, alert) or None))


@alert_app.command("tick")
def tick() -> None:
    """Widen the alerts whose next stage is due and purge data past retention (run every minute)."""
    from bot.db import init_db
    from bot.housekeeping import run_due_jobs

    init_db(settings.database_url)
    for what, number in run_due_jobs(settings.database_url).items():
        typer.echo(f"{what}: {number}")


# --------------------------------------------------------------------------- staff


@staff_app.command("add")
def add_staff(
    username: str,
    counter: Annotated[
        list[str], typer.Option("--counter", help="A counter (service id) whose cases they see; repeat for several.")
    ],
    can_approve: Annotated[bool, typer.Option("--can-approve", help="May approve missing-person alerts.")] = False,
) -> None:
    """Create a staff account and print its API token (shown this once only)."""
    from bot.staff_api import create_staff_user

    with _session() as session:
        try:
            user, token = create_staff_user(session, username, counter, can_approve_alerts=can_approve)
        except ValueError as error:
            _fail(str(error))
        counters = ", ".join(user.counter_ids)
    err.print(f"staff user {username} created (counters: {counters}); the token is shown only once:", highlight=False)
    typer.echo(token)


# --------------------------------------------------------------------------- helpers (cooperators)


@helper_app.command("reconfirm-due")
def reconfirm_due(
    lapse: Annotated[bool, typer.Option("--lapse", help="Also stop alerts to those past the grace period.")] = False,
) -> None:
    """List cooperators whose yearly re-confirmation is due (housekeeping asks each of them once)."""
    from alerts.cooperators import due_for_reconfirmation, lapse_unconfirmed

    with _session() as session:
        due = due_for_reconfirmation(session)
        table = Table("cooperator", "town", "due", "endpoints")
        for cooperator in due:
            table.add_row(str(cooperator.id), cooperator.town_id or "-",
                          cooperator.reconfirm_due.isoformat() if cooperator.reconfirm_due else "-",
                          ", ".join(e.channel for e in cooperator.endpoints if e.active))
        lapsed = lapse_unconfirmed(session) if lapse else 0
    out.print(table)
    typer.echo(f"due: {len(due)}" + (f", lapsed: {lapsed}" if lapse else ""))


def register(app: typer.Typer) -> None:
    """Add the ``alert``, ``staff`` and ``helper`` command groups to the ``tsunagu`` app."""
    app.add_typer(alert_app, name="alert")
    app.add_typer(staff_app, name="staff")
    app.add_typer(helper_app, name="helper")
