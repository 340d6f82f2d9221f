"""``tsunagu alert text show|set``: the alert desk reads and edits an alert's public text before approval.

An alert's text is composed from structured fields (``alerts.texts``), never the family's
words. ``show`` prints those fields and the text exactly as cooperators would receive it,
in Japanese and English, with whether name, condition and photo go out. ``set`` changes
fields (``sex=female height=150_160 clothing="紺のジャンパー"``), removes them
(``--unset landmark``), sets the last-seen time in the city's zone (``--seen "2026-11-30
03:00"``) or the family's consent to share (``--share`` / ``--no-share``, which the desk
sets only on the family's word). Every edit is noted on the case's history (which fields,
never their values). An ended alert cannot be edited; an active one changes from its next
widening on.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from alerts.lifecycle import case_event
from alerts.texts import CHOICE_VALUES, IDENTITY_FIELDS, PUBLIC_FIELDS, clean_fields, compose_alert
from bot.console_io import database_session, fail, local_time
from bot.domain import load_domain
from bot.models import Alert, AlertStatus, utcnow
from bot.settings import settings
from routing.directory import prepare_database

__all__ = ["register"]

FIELDS_HELP = ", ".join(
    f"{field} ({'|'.join(CHOICE_VALUES[field])})" if field in CHOICE_VALUES else field
    for field in (*PUBLIC_FIELDS, *IDENTITY_FIELDS))


def _alert(session: Session, alert_id: int) -> Alert:
    alert = session.get(Alert, alert_id, with_for_update=True)
    if alert is None:
        fail(f"no alert {alert_id}")
    return alert


def _print(alert: Alert) -> None:
    domain = load_domain(settings.domain_path)
    typer.echo(json.dumps({"id": alert.id, "status": alert.status.value, "fields": alert.public_fields,
                           "last_seen_at": local_time(alert.last_seen_at) or None,
                           "share_name_condition_photo": alert.share_identity,
                           "photo": bool(alert.photo_ref)}, ensure_ascii=False, indent=2))
    for language in ("ja", "en"):
        message = compose_alert(domain, alert, "update" if alert.stage else "alert", language)
        typer.echo(f"\n--- {language} ---\n{message.text}")
        typer.echo(f"[buttons: {', '.join(choice.title for choice in message.choices)}]"
                   + (" [photo]" if message.photo_ref else ""))


def show(alert_id: int) -> None:
    """The alert's public fields and its text as cooperators receive it (ja and en)."""
    prepare_database()
    with database_session() as session:
        _print(_alert(session, alert_id))


def _assignments(pairs: list[str]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        field, equals, value = pair.partition("=")
        if not equals or field not in (*PUBLIC_FIELDS, *IDENTITY_FIELDS):
            fail(f"expected FIELD=VALUE with a field of: {FIELDS_HELP}; got {pair!r}")
        values[field] = value
    return values


def set_fields(
    alert_id: int,
    assignments: Annotated[list[str] | None, typer.Argument(help=f"FIELD=VALUE pairs; fields: {FIELDS_HELP}.")] = None,
    unset: Annotated[list[str] | None, typer.Option("--unset", help="Remove a field.")] = None,
    seen: Annotated[str | None, typer.Option(help="Last seen, 'YYYY-MM-DD HH:MM' in the city's zone.")] = None,
    share: Annotated[bool | None, typer.Option("--share/--no-share",
                                               help="The family consented to show name, condition and photo.")] = None,
    by: Annotated[str, typer.Option("--by", help="Who edited (staff name), recorded on the case.")] = "cli",
) -> None:
    """Edit the alert's public fields, last-seen time or sharing consent; prints the new text."""
    values = _assignments(assignments or [])
    when = None
    if seen is not None:
        try:
            when = datetime.strptime(seen, "%Y-%m-%d %H:%M").replace(tzinfo=settings.tz)
        except ValueError:
            fail(f"--seen must be 'YYYY-MM-DD HH:MM', not {seen!r}")
    prepare_database()
    with database_session() as session:
        alert = _alert(session, alert_id)
        if alert.status not in (AlertStatus.pending, AlertStatus.active):
            fail(f"alert {alert_id} has ended ({alert.status.value}): its text can no longer change")
        fields = {key: value for key, value in {**alert.public_fields, **values}.items() if key not in (unset or [])}
        try:
            alert.public_fields = clean_fields(fields)
        except ValueError as error:
            fail(str(error))
        if when is not None:
            alert.last_seen_at = when
        if share is not None:
            alert.share_identity = share
        changed = sorted({*values, *(unset or []), *(["last_seen_at"] if when else []),
                          *(["share_identity"] if share is not None else [])})
        case_event(session, alert, "alert_text_edited", by, utcnow(), fields=changed)
        session.flush()
        _print(alert)


def register(app: typer.Typer) -> None:
    """Add ``text show|set`` to the ``alert`` group of the ``tsunagu`` app (``alerts.commands.register`` first)."""
    alert_app = next((group.typer_instance for group in app.registered_groups if group.name == "alert"), None)
    if alert_app is None:
        raise RuntimeError("register the alert commands first")
    text_app = typer.Typer(help="The public alert text: its fields, as cooperators receive it.", no_args_is_help=True)
    text_app.command("show")(show)
    text_app.command("set")(set_fields)
    alert_app.add_typer(text_app, name="text")
