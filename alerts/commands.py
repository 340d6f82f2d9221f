"""Command-line commands for missing-person alerts, added to ``tsunagu`` by ``register``.

``alert list|show|approve|widen|found|cancel|cap|tick``, ``alert family`` (link a family
member's chat), ``alert sighting confirm|forward`` (until a staff console exists, staff
decide here; the staff API offers the same) and ``helper reconfirm-due`` (the yearly re-confirmation of
cooperators). ``bot/cli.py`` hands in what lies above this package: the effects
dispatcher that starts the fan-out once a decision is committed, and housekeeping's
jobs for ``alert tick``. Every command first brings the database up to date with
``routing.directory.prepare_database``. Times are shown in the city's zone, named.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Literal

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts import lifecycle, sightings
from alerts.cap import export_cap
from alerts.cooperators import due_for_reconfirmation, lapse_unconfirmed
from alerts.fanout.enqueue import progress, waiting_later
from alerts.fanout.items import configured_channels
from alerts.texts import last_seen_label, render_forwarded_sighting
from bot.console_io import database_session, err, fail, local_time, out, table
from bot.domain import load_domain
from bot.messages import Effect, EffectKind
from bot.models import Alert, AlertStatus, Sighting, utcnow
from bot.settings import settings
from routing.directory import prepare_database

__all__ = ["DueJobs", "EffectsRunner", "register"]

EffectsRunner = Callable[[Sequence[Effect]], None]
"""Starts the background work of committed effects (``bot.effects.run_effects``)."""
DueJobs = Callable[[], Mapping[str, int]]
"""Runs housekeeping's due jobs once and says how much each did (``bot.housekeeping``)."""
Decision = Callable[..., int]
"""An alert lifecycle step: ``(session, alert, *, by) -> messages queued``."""

By = Annotated[str, typer.Option("--by", help="Who decided (staff name), recorded on the case.")]


def _alert(session: Session, alert_id: int, *, lock: bool = False) -> Alert:
    alert = session.get(Alert, alert_id, with_for_update=lock)
    if alert is None:
        fail(f"no alert {alert_id}")
    return alert


# --------------------------------------------------------------------------- alert: reading


def list_alerts(
    status: Annotated[AlertStatus | None, typer.Option(help="Only alerts in this status.")] = None,
) -> None:
    """Alerts, newest first, with their stage and delivery progress."""
    prepare_database()
    with database_session() as session:
        query = select(Alert).order_by(Alert.id.desc())
        if status is not None:
            query = query.where(Alert.status == status)
        # Short headers: nine columns must fit 80 terminal columns without cropping the last.
        listing = table(None, ("id", "status", "case", "last seen", "km", "approved", "queued", "sent", "failed"),
                        whole=("id", "case"))
        for alert in session.scalars(query):
            counts = progress(session, alert.id)
            listing.add_row(str(alert.id), alert.status.value, str(alert.case_id or "-"),
                            last_seen_label(session, alert) or "-",
                            "city" if alert.radius_km is None else f"{alert.radius_km:g}", alert.approved_by or "-",
                            str(counts.get("queued", 0)), str(counts.get("sent", 0)), str(counts.get("failed", 0)))
        out.print(listing)


def show(alert_id: int) -> None:
    """One alert as JSON: description, stage, progress and sightings (personal data: staff only)."""
    prepare_database()
    with database_session() as session:
        alert = _alert(session, alert_id)
        sightings = session.scalars(select(Sighting).where(Sighting.alert_id == alert.id).order_by(Sighting.id))
        data = {
            "id": alert.id, "status": alert.status.value, "case_id": alert.case_id, "person_id": alert.person_id,
            "last_seen_place": last_seen_label(session, alert), "description": alert.description,
            "clothing": alert.clothing, "photo_ref": alert.photo_ref, "stage": alert.stage,
            "radius_km": alert.radius_km, "approved_by": alert.approved_by,
            "progress": progress(session, alert.id),
            "sightings": [{"id": s.id, "group_id": s.group_id, "town_id": s.town_id, "text": s.text,
                           "seen_at": local_time(s.seen_at) or None, "confirmed": s.confirmed_at is not None,
                           "forwarded_family": local_time(s.forwarded_family_at) or None,
                           "forwarded_police": local_time(s.forwarded_police_at) or None} for s in sightings],
            "stats": alert.stats,
        }
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


def cap(
    alert_id: int,
    msg_type: Annotated[
        str | None, typer.Option("--type", help="Alert, Update or Cancel (default: current state).")
    ] = None,
) -> None:
    """Print a CAP 1.2 message of the alert exactly as it was issued (a Draft while pending)."""
    if msg_type not in (None, "Alert", "Update", "Cancel"):
        fail("--type must be Alert, Update or Cancel")
    kind: Literal["Alert", "Update", "Cancel"] | None = msg_type  # type: ignore[assignment]
    prepare_database()
    with database_session() as session:
        alert = _alert(session, alert_id)
        xml = export_cap(session, alert, kind)
        if xml is None:
            fail(f"no {kind or 'CAP'} message was issued for alert {alert_id}")
        typer.echo(xml)


# --------------------------------------------------------------------------- alert: decisions


def _decide(alert_id: int, by: str, decision: Decision, done: str, after_commit: EffectsRunner,
            *, force: bool = False) -> None:
    prepare_database()
    with database_session() as session:
        alert = _alert(session, alert_id, lock=True)
        if decision is lifecycle.approve and alert.status == AlertStatus.pending and not force:
            _refuse_unreachable(session, alert)
        try:
            queued = decision(session, alert, by=by)
        except lifecycle.AlertError as error:
            fail(str(error))
        said, warning = (_reach(session, alert, queued) if decision is lifecycle.approve
                         else (f"alert {alert_id} {done}: {queued} messages queued", None))
    after_commit([Effect(EffectKind.alert_queued, {"alert_id": alert_id, "queued": queued})])
    typer.echo(said)
    if warning:
        err.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    if queued and not settings.redis_url:
        _send_here(alert_id)


def _refuse_unreachable(session: Session, alert: Alert) -> None:
    """An approval must not skip cooperators silently because a channel has no settings here."""
    preview = lifecycle.preview_approval(session, alert)
    if preview.unreachable:
        within = "in the whole city" if preview.radius_km is None else f"within {preview.radius_km:g} km"
        fail(f"{preview.unreachable} cooperators {within} can be reached only on channels this installation "
             f"has no settings for (configured: {', '.join(configured_channels()) or 'none'}); set the channel's "
             "TSUNAGU_* settings (docs/channels.md) and approve again, or approve with --force to send to the "
             "others only.")


def _reach(session: Session, alert: Alert, queued: int) -> tuple[str, str | None]:
    """How many cooperators an approved alert reaches, and a warning when it reaches nobody."""
    # One alert message per cooperator: the messages queued are the cooperators reached.
    within = "in the whole city" if alert.radius_km is None else f"within {alert.radius_km:g} km"
    return f"alert {alert.id} approved: {queued} cooperators reached {within}", lifecycle.reach_warning(
        session, alert, queued)


def _send_here(alert_id: int) -> None:
    """Embedded default: this process is the sender, so it stays while messages are due now.

    Rows due only later (a retry after a failure, a cooperator who opted out of night
    alerts) are left to ``tsunagu serve`` or a worker: the command never waits for them.
    """
    # Platform SDKs (LINE, Telegram, Twilio) load only when this command sends.
    from alerts.fanout import runner

    def counts() -> tuple[int, int, int]:
        with database_session() as session:
            state = progress(session, alert_id)
            later = waiting_later(session, alert_id, now=utcnow())
        return state["sent"] + state["failed"] + state["cancelled"], sum(state.values()), later

    try:
        with Progress(TextColumn("sending"), BarColumn(), MofNCompleteColumn(), console=err) as bar:
            task = bar.add_task("sending")
            while not runner.wait(1.0):
                done, total, later = counts()
                bar.update(task, completed=done, total=total)
                if done + later >= total:  # what is left is due later: the runner sleeps until then
                    break
            done, total, later = counts()
            bar.update(task, completed=done, total=total)
    except KeyboardInterrupt:
        err.print("stopped: the rest stays queued for `tsunagu fanout process` or `tsunagu serve`")
        raise typer.Exit(code=130) from None
    if later:
        err.print(f"{later} messages are due later (a retry, or night alerts declined): "
                  "`tsunagu serve` or `tsunagu worker` sends them then", highlight=False)


# --------------------------------------------------------------------------- alert: family and sightings


def link_family(
    alert_id: int,
    channel: Annotated[str, typer.Option(help="The chat they are reached on: line or telegram.")],
    user_id: Annotated[str, typer.Option("--user-id", help="Their LINE user id or Telegram chat id.")],
    by: By = "cli",
) -> None:
    """Link a family member the desk names to an alert: forwarded sightings reach their chat too."""
    if channel not in ("line", "telegram"):
        fail("--channel must be line or telegram")
    prepare_database()
    with database_session() as session:
        try:
            link = lifecycle.link_family(session, _alert(session, alert_id), channel=channel, user_id=user_id, by=by)
        except lifecycle.AlertError as error:
            fail(str(error))
        typer.echo(f"alert {alert_id}: family contact {link.contact_id} linked ({link.role})")


def _sighting(session: Session, sighting_id: int) -> Sighting:
    sighting = session.get(Sighting, sighting_id)
    if sighting is None:
        fail(f"no sighting {sighting_id}")
    return sighting


def confirm_sighting(sighting_id: int, by: By = "cli") -> None:
    """Confirm a sighting: the next widening says the person was last seen there and then."""
    prepare_database()
    with database_session() as session:
        try:
            sightings.confirm_sighting(session, _sighting(session, sighting_id), by=by)
        except lifecycle.AlertError as error:
            fail(str(error))
    typer.echo(f"sighting {sighting_id} confirmed")


def _forward_app(after_commit: EffectsRunner) -> Callable[..., None]:
    def forward(
        sighting_id: int,
        to: Annotated[Literal["family", "police"], typer.Option("--to", help="family (their chat) or police.")],
        by: By = "cli",
    ) -> None:
        """Forward a sighting to the family's chat, or to the police (e-mail when
        TSUNAGU_ALERT_POLICE_EMAIL is set; the printable summary is printed either way)."""
        prepare_database()
        with database_session() as session:
            sighting = _sighting(session, sighting_id)
            try:
                queued = sightings.forward_sighting(session, sighting, to, by=by)
            except lifecycle.AlertError as error:
                fail(str(error))
            alert_id = sighting.alert_id
            summary = (render_forwarded_sighting(session, load_domain(settings.domain_path), "police", sighting_id, "ja")
                       if to == "police" else None)
        after_commit([Effect(EffectKind.alert_queued, {"alert_id": alert_id, "queued": queued})])
        typer.echo(f"sighting {sighting_id} forwarded to the {to}: {queued} messages queued")
        if summary is not None:
            typer.echo(summary)
        if not queued:
            err.print("[yellow]warning:[/yellow] " + (
                "no family chat is linked to this alert on a configured channel (`tsunagu alert family`)"
                if to == "family" else "no police e-mail address is set (TSUNAGU_ALERT_POLICE_EMAIL): "
                "hand them the summary above"), highlight=False)
        elif not settings.redis_url:
            _send_here(alert_id)

    return forward


def _alert_app(after_commit: EffectsRunner, due_jobs: DueJobs) -> typer.Typer:
    alert_app = typer.Typer(help="Missing-person alerts: staff decisions and CAP export.", no_args_is_help=True)
    alert_app.command("list")(list_alerts)
    alert_app.command("show")(show)

    @alert_app.command("approve")
    def approve(
        alert_id: int,
        by: By,
        force: Annotated[bool, typer.Option(
            "--force", help="Approve even if some cooperators can be reached only on unconfigured channels.")] = False,
    ) -> None:
        """Approve a pending alert: it goes to the cooperators within the first radius, nearest first."""
        _decide(alert_id, by, lifecycle.approve, "approved", after_commit, force=force)

    @alert_app.command("widen")
    def widen(alert_id: int, by: By = "cli") -> None:
        """Widen an active alert to its next radius now (it also widens by itself on a schedule)."""
        _decide(alert_id, by, lifecycle.widen, "widened", after_commit)

    @alert_app.command("found")
    def found(alert_id: int, by: By = "cli") -> None:
        """The person was found: stop pending messages, thank those who received the alert."""
        _decide(alert_id, by, lifecycle.found, "marked found", after_commit)

    @alert_app.command("cancel")
    def cancel(alert_id: int, by: By = "cli") -> None:
        """Withdraw an alert: stop pending messages, tell those who received it."""
        _decide(alert_id, by, lifecycle.cancel, "cancelled", after_commit)

    alert_app.command("cap")(cap)
    alert_app.command("family")(link_family)
    sighting_app = typer.Typer(help="Sightings: confirm one, forward one to the family or the police.",
                               no_args_is_help=True)
    sighting_app.command("confirm")(confirm_sighting)
    sighting_app.command("forward")(_forward_app(after_commit))
    alert_app.add_typer(sighting_app, name="sighting")

    @alert_app.command("tick")
    def tick() -> None:
        """Widen the alerts whose next stage is due and purge data past retention (run every minute)."""
        prepare_database()
        for what, number in due_jobs().items():
            typer.echo(f"{what}: {number}")

    return alert_app


# --------------------------------------------------------------------------- helpers (cooperators)


def reconfirm_due(
    lapse: Annotated[bool, typer.Option("--lapse", help="Also stop alerts to those past the grace period.")] = False,
) -> None:
    """List cooperators whose yearly re-confirmation is due (housekeeping asks each of them once)."""
    prepare_database()
    with database_session() as session:
        due = due_for_reconfirmation(session)
        listing = table(None, ("cooperator", "town", "due", "endpoints"), whole=("cooperator",))
        for cooperator in due:
            listing.add_row(str(cooperator.id), cooperator.town_id or "-",
                            local_time(cooperator.reconfirm_due) or "-",
                            ", ".join(e.channel for e in cooperator.endpoints if e.active))
        lapsed = lapse_unconfirmed(session) if lapse else 0
    out.print(listing)
    typer.echo(f"due: {len(due)}" + (f", lapsed: {lapsed}" if lapse else ""))


def register(app: typer.Typer, *, after_commit: EffectsRunner, due_jobs: DueJobs) -> None:
    """Add the ``alert`` and ``helper`` command groups to the ``tsunagu`` app.

    Args:
        app: the top-level Typer application.
        after_commit: starts the fan-out for a committed decision.
        due_jobs: housekeeping's jobs, run by ``alert tick``.
    """
    app.add_typer(_alert_app(after_commit, due_jobs), name="alert")
    helper_app = typer.Typer(help="Cooperators (協力者) of the alert network.", no_args_is_help=True)
    helper_app.command("reconfirm-due")(reconfirm_due)
    app.add_typer(helper_app, name="helper")
