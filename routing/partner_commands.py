"""`tsunagu partners …`: the city's register of partner businesses (見守り協定事業者).

``partners add|list|disable`` keep the agreements, ``partners invite ORG`` prints a new
invitation code for the partner's employees (shown once: only its hash is kept),
``partners report --csv`` counts partner reports per partner, type and ward over a period
and ``partners lapse-unconfirmed`` ends the registration of reporters who did not
re-confirm in time (daily, like ``helper reconfirm-due --lapse``; housekeeping asks them).
:mod:`routing.partners` does the work.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated

import typer

from bot.console_io import database_session, err, fail, local_time, out, table
from bot.settings import settings
from routing.directory import prepare_database
from routing.partners import (
    add_partner,
    create_invitation,
    disable_partner,
    lapse_unconfirmed,
    list_partners,
    report_counts,
    report_csv,
)

__all__ = ["register"]

partners_app = typer.Typer(help="Partner businesses under a 見守り協定 and their reporters.", no_args_is_help=True)


def _day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option} must be a date like 2026-04-01, not {value!r}")


@partners_app.command("add")
def partners_add(
    name: Annotated[str, typer.Argument(help="The organisation's name.")],
    type: Annotated[str, typer.Option("--type", help="newspaper, milk, gas, water, electricity, bank, parcel, "
                                                     "convenience_store or other.")],
    wards: Annotated[str, typer.Option("--wards", help="Ward codes it covers, comma-separated (e.g. kita,minami).")],
    contact: Annotated[str, typer.Option("--contact", help="How the city reaches the organisation.")] = "",
    agreement_date: Annotated[str, typer.Option("--agreement-date", help="YYYY-MM-DD; today by default.")] = "",
) -> None:
    """Record a partner's agreement; prints its id."""
    prepare_database()
    signed = _day(agreement_date, "--agreement-date") if agreement_date else datetime.now(settings.tz).date()
    try:
        with database_session() as session:
            partner = add_partner(session, name=name, type=type, wards=wards.split(","), contact=contact,
                                  agreement_date=signed)
            partner_id = partner.id
    except ValueError as error:
        fail(str(error))
    out.print(partner_id)
    err.print(f"[green]partner {partner_id} added[/green]", highlight=False)


@partners_app.command("list")
def partners_list(
    active: Annotated[bool, typer.Option("--active", help="Only partners with an active agreement.")] = False,
) -> None:
    """List the partners: id, name, type, wards, agreement date, active."""
    prepare_database()
    with database_session() as session:
        listing = table(None, ["id", "name", "type", "wards", "agreement", "active", "contact"], whole=["id"])
        for partner in list_partners(session, active_only=active):
            listing.add_row(str(partner.id), partner.name, partner.type.value, ",".join(partner.wards),
                            partner.agreement_date.isoformat(), "yes" if partner.active else "no", partner.contact)
    out.print(listing)


@partners_app.command("disable")
def partners_disable(partner_id: Annotated[int, typer.Argument(help="The partner's id.")]) -> None:
    """End a partner's agreement: its codes stop working and its reporters can no longer report."""
    prepare_database()
    try:
        with database_session() as session:
            disable_partner(session, partner_id)
    except LookupError as error:
        fail(str(error))
    err.print(f"partner {partner_id} disabled", highlight=False)


@partners_app.command("invite")
def partners_invite(
    partner_id: Annotated[int, typer.Argument(help="The partner's id.")],
    uses: Annotated[int, typer.Option("--uses", help="How many employees may join with the code.")] = 1,
    days: Annotated[int, typer.Option("--days", help="How many days the code is valid.")] = 14,
) -> None:
    """Print a new invitation code (shown once; only its hash is kept)."""
    prepare_database()
    try:
        with database_session() as session:
            invitation, code = create_invitation(session, partner_id, max_uses=uses, days=days, created_by="cli")
            expires = invitation.expires_at
    except (LookupError, ValueError) as error:
        fail(str(error))
    out.print(code, highlight=False)
    err.print(f"valid until {local_time(expires)} for {uses} use(s)", highlight=False)


@partners_app.command("report")
def partners_report(
    since: Annotated[str, typer.Option("--since", help="First day (YYYY-MM-DD); 30 days ago by default.")] = "",
    until: Annotated[str, typer.Option("--until", help="Last day included (YYYY-MM-DD); today by default.")] = "",
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV on stdout (partners, then totals by type and ward).")] = False,
) -> None:
    """Partner reports per partner, type and ward over a period (days in the city's time zone)."""
    prepare_database()
    today = datetime.now(settings.tz).date()
    last = _day(until, "--until") if until else today
    first = _day(since, "--since") if since else last - timedelta(days=29)
    start = datetime.combine(first, time(), settings.tz)
    end = datetime.combine(last + timedelta(days=1), time(), settings.tz)
    with database_session() as session:
        counts = report_counts(session, since=start, until=end)
    if as_csv:
        typer.echo(report_csv(counts), nl=False)
        return
    listing = table(f"partner reports {first} – {last}", ["id", "partner", "type", "ward", "reports"], whole=["id"])
    for row in counts:
        listing.add_row(str(row.partner_id), row.partner, row.type, row.ward, str(row.reports))
    out.print(listing)


@partners_app.command("lapse-unconfirmed")
def partners_lapse_unconfirmed() -> None:
    """End the registration of reporters who did not re-confirm within the grace period (run daily)."""
    prepare_database()
    with database_session() as session:
        lapsed = lapse_unconfirmed(session)
    err.print(f"{lapsed} reporter(s) lapsed", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``tsunagu partners …`` to the CLI."""
    app.add_typer(partners_app, name="partners")
