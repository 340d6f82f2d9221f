"""The admin pages: staff accounts (list, add, disable / enable, reset a password) and the audit log
(filter, CSV export). Only a role with ``Permission.users`` / ``Permission.audit`` opens them.

Every change here is audited like any other; reading the audit log is audited too, since it
says who worked on which case.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.console import auth
from bot.console.audit import AuditFilter, audit, audit_csv, audit_entries
from bot.console.web import render
from bot.models import StaffUser
from bot.models.staff import Role
from bot.settings import settings
from bot.staff_api import SessionDep, create_staff_user
from routing.snapshot import get_directory

__all__ = ["router"]

router = APIRouter(prefix="/admin")
AUDIT_PAGE = 200


def _counters(session: Session) -> list[tuple[str, str]]:
    return [(service.id, service.name) for service in get_directory(session).services.values()]


def _users_page(request: Request, session: Session, *, error: str | None = None, done: str | None = None,
                status_code: int = status.HTTP_200_OK) -> HTMLResponse:
    users = session.scalars(select(StaffUser).order_by(StaffUser.username)).all()
    return render(request, "admin/users.html",
                  {"users": users, "roles": list(Role), "counters": _counters(session), "error": error,
                   "done": done or request.query_params.get("done")},
                  status_code=status_code)


@router.get("/users")
def users(request: Request, session: SessionDep, user: auth.UserAdmin) -> HTMLResponse:
    """Every staff account with its role, counters, state and last login."""
    return _users_page(request, session)


@router.post("/users")
def add_user(
    request: Request, session: SessionDep, admin: auth.UserAdmin,
    username: Annotated[str, Form(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")],
    role: Annotated[Role, Form()], password: Annotated[str, Form(max_length=1024)],
    counter: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Create an account with a first password (its API token is not shown: ``tsunagu staff new-token``)."""
    try:
        auth.check_password_strength(username, password)
        user, _token = create_staff_user(session, username, counter or [], role=role)
    except ValueError as error:
        session.rollback()
        return _users_page(request, session, error=str(error), status_code=status.HTTP_400_BAD_REQUEST)
    auth.set_password(user, password)
    audit(session, admin, "create", "staff_user", user.id)
    session.commit()
    return RedirectResponse("/staff/admin/users?done=created", status_code=status.HTTP_303_SEE_OTHER)


def _target(session: Session, user_id: int) -> StaffUser:
    user = session.get(StaffUser, user_id)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"staff user {user_id} not found")
    return user


@router.post("/users/{user_id}/active")
def set_active(
    request: Request, user_id: int, session: SessionDep, admin: auth.UserAdmin,
    active: Annotated[bool, Form()],
) -> Response:
    """Disable an account (its sessions and token stop working at once) or enable it again."""
    user = _target(session, user_id)
    if user.id == admin.id and not active:
        return _users_page(request, session, error="you cannot disable your own account",
                           status_code=status.HTTP_400_BAD_REQUEST)
    user.active = active
    audit(session, admin, "enable" if active else "disable", "staff_user", user.id)
    session.commit()
    return RedirectResponse(f"/staff/admin/users?done={'enabled' if active else 'disabled'}",
                            status_code=status.HTTP_303_SEE_OTHER)


@router.post("/users/{user_id}/password")
def reset_password(
    request: Request, user_id: int, session: SessionDep, admin: auth.UserAdmin,
    password: Annotated[str, Form(max_length=1024)],
) -> Response:
    """Set a new password for someone who forgot theirs; their sessions end."""
    user = _target(session, user_id)
    try:
        auth.set_password(user, password)
    except auth.WeakPassword as weak:
        session.rollback()
        return _users_page(request, session, error=str(weak), status_code=status.HTTP_400_BAD_REQUEST)
    audit(session, admin, "reset_password", "staff_user", user.id)
    session.commit()
    return RedirectResponse("/staff/admin/users?done=password", status_code=status.HTTP_303_SEE_OTHER)


# --------------------------------------------------------------------------- audit log


def _day_start(day: date | None) -> datetime | None:
    """Midnight of a local day, as an aware time (the log stores UTC)."""
    return datetime.combine(day, time(), tzinfo=settings.tz) if day is not None else None


def _filter(staff_user_id: int | None, action: str | None, object_type: str | None, object_id: str | None,
            since: date | None, until: date | None) -> AuditFilter:
    end = _day_start(until + timedelta(days=1)) if until is not None else None
    return AuditFilter(staff_user_id=staff_user_id, action=action or None, object_type=object_type or None,
                       object_id=object_id or None, since=_day_start(since), until=end)


FilterQuery = Annotated[str | None, Query(max_length=64)]


@router.get("/audit")
def audit_log(
    request: Request, session: SessionDep, admin: auth.AuditReader,
    staff_user_id: Annotated[int | None, Query()] = None, action: FilterQuery = None,
    object_type: FilterQuery = None, object_id: FilterQuery = None,
    since: Annotated[date | None, Query()] = None, until: Annotated[date | None, Query()] = None,
    page: Annotated[int, Query(ge=1)] = 1,
) -> HTMLResponse:
    """The audit log, newest first, narrowed by staff member, action, object and local days."""
    where = _filter(staff_user_id, action, object_type, object_id, since, until)
    rows = audit_entries(session, where, limit=AUDIT_PAGE + 1, offset=(page - 1) * AUDIT_PAGE)
    audit(session, admin, "view", "audit_log", page)
    session.commit()
    staff = session.scalars(select(StaffUser).order_by(StaffUser.username)).all()
    kept = [(key, value) for key, value in request.query_params.multi_items() if key != "page"]

    def page_url(number: int) -> str:
        return "/staff/admin/audit?" + urlencode([*kept, ("page", str(number))])

    return render(request, "admin/audit.html", {
        "rows": rows[:AUDIT_PAGE], "more": len(rows) > AUDIT_PAGE, "page": page, "staff": staff,
        "newer_url": page_url(page - 1), "older_url": page_url(page + 1),
        "query": {"staff_user_id": staff_user_id or "", "action": action or "", "object_type": object_type or "",
                  "object_id": object_id or "", "since": since or "", "until": until or ""},
    })


@router.get("/audit.csv")
def audit_export(
    session: SessionDep, admin: auth.AuditReader,
    staff_user_id: Annotated[int | None, Query()] = None, action: FilterQuery = None,
    object_type: FilterQuery = None, object_id: FilterQuery = None,
    since: Annotated[date | None, Query()] = None, until: Annotated[date | None, Query()] = None,
) -> Response:
    """The filtered audit log as CSV, every row."""
    where = _filter(staff_user_id, action, object_type, object_id, since, until)
    body = audit_csv(audit_entries(session, where, limit=None))
    audit(session, admin, "export", "audit_log", "csv")
    session.commit()
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="audit.csv"', "Cache-Control": "no-store"})
