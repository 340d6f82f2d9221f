"""The admin pages of partner businesses (見守り協定事業者): the list with each partner's
report counts, adding a partner, ending an agreement, and a new invitation code (shown once).

What ``tsunagu partners`` does on the command line, for a role with ``Permission.directory``
(the administrator); :mod:`routing.partners` does the work. Every change is audited.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from bot.console import auth
from bot.console.audit import audit
from bot.console.web import render
from bot.models.partners import PartnerType
from bot.settings import settings
from bot.staff_api import SessionDep
from routing.partners import add_partner, create_invitation, disable_partner, list_partners, report_counts, report_csv
from routing.snapshot import get_directory

__all__ = ["router"]

router = APIRouter(prefix="/admin/partners")
# The counts shown by default: the last 30 days.
DEFAULT_DAYS = 30


def _period(since: date | None, until: date | None) -> tuple[date, date, datetime, datetime]:
    """The period's first and last day, and its bounds in the city's time zone."""
    last = until or datetime.now(settings.tz).date()
    first = since or last - timedelta(days=DEFAULT_DAYS - 1)
    return (first, last, datetime.combine(first, time(), settings.tz),
            datetime.combine(last + timedelta(days=1), time(), settings.tz))


def _page(request: Request, session: Session, *, since: date | None = None, until: date | None = None,
          error: str | None = None, new_code: dict[str, object] | None = None,
          status_code: int = status.HTTP_200_OK) -> HTMLResponse:
    first, last, start, end = _period(since, until)
    counts = report_counts(session, since=start, until=end)
    per_partner: Counter[int] = Counter()
    per_type: Counter[str] = Counter()
    per_ward: Counter[str] = Counter()
    for row in counts:
        per_partner[row.partner_id] += row.reports
        per_type[row.type] += row.reports
        per_ward[row.ward] += row.reports
    return render(request, "partners/list.html", {
        "partners": list_partners(session), "per_partner": per_partner, "per_type": sorted(per_type.items()),
        "per_ward": sorted(per_ward.items()), "wards": get_directory(session).wards, "types": list(PartnerType),
        "first": first, "last": last, "error": error, "new_code": new_code,
        "done": request.query_params.get("done"),
    }, status_code=status_code)


@router.get("")
def partners(request: Request, session: SessionDep, user: auth.DirectoryAdmin,
             since: Annotated[date | None, Query()] = None, until: Annotated[date | None, Query()] = None) -> HTMLResponse:
    """Every partner with its agreement and its reports in the period (the last 30 days by default)."""
    return _page(request, session, since=since, until=until)


@router.get("/report.csv")
def partners_csv(session: SessionDep, user: auth.DirectoryAdmin, since: Annotated[date | None, Query()] = None,
                 until: Annotated[date | None, Query()] = None) -> Response:
    """The counts as ``tsunagu partners report --csv`` prints them."""
    first, last, start, end = _period(since, until)
    body = report_csv(report_counts(session, since=start, until=end))
    return Response(body, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="partner-reports-{first}-{last}.csv"', "Cache-Control": "no-store"})


@router.post("")
def partners_add(
    request: Request, session: SessionDep, admin: auth.DirectoryAdmin,
    name: Annotated[str, Form(min_length=1, max_length=255)], type: Annotated[str, Form()],
    agreement_date: Annotated[date, Form()], contact: Annotated[str, Form(max_length=1000)] = "",
    ward: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Record a partner's agreement."""
    try:
        partner = add_partner(session, name=name, type=type, wards=ward or [], contact=contact,
                              agreement_date=agreement_date)
    except ValueError as error:
        session.rollback()
        return _page(request, session, error=str(error), status_code=status.HTTP_400_BAD_REQUEST)
    audit(session, admin, "create", "partner", partner.id)
    session.commit()
    return RedirectResponse("/staff/admin/partners?done=created", status_code=status.HTTP_303_SEE_OTHER)


@router.post("/{partner_id}/disable")
def partners_disable(session: SessionDep, admin: auth.DirectoryAdmin, partner_id: int) -> Response:
    """End the agreement: its codes stop working, its reporters can no longer report."""
    try:
        disable_partner(session, partner_id)
    except LookupError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"partner {partner_id} not found") from None
    audit(session, admin, "disable", "partner", partner_id)
    session.commit()
    return RedirectResponse("/staff/admin/partners?done=disabled", status_code=status.HTTP_303_SEE_OTHER)


@router.post("/{partner_id}/invite")
def partners_invite(
    request: Request, session: SessionDep, admin: auth.DirectoryAdmin, partner_id: int,
    uses: Annotated[int, Form(ge=1, le=1000)] = 1, days: Annotated[int, Form(ge=1, le=365)] = 14,
) -> Response:
    """A new invitation code, shown on this page once (never in a URL: only its hash is kept)."""
    try:
        invitation, code = create_invitation(session, partner_id, max_uses=uses, days=days, created_by=admin.username)
    except LookupError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"partner {partner_id} not found") from None
    except ValueError as error:
        session.rollback()
        return _page(request, session, error=str(error), status_code=status.HTTP_400_BAD_REQUEST)
    audit(session, admin, "invite", "partner", partner_id)
    session.commit()
    return _page(request, session, new_code={"partner_id": partner_id, "code": code, "uses": uses,
                                             "expires_at": invitation.expires_at})
