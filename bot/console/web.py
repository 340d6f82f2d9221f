"""The staff console's assembly: the ``/staff`` router, the Jinja2 environment, the page frame.

``create_app`` mounts it with ``app.include_router(console_router(settings))`` and lets
:func:`install_error_pages` answer a browser's 403 / 404 with a page. Everything
under ``/staff`` is server-rendered HTML (Jinja2, autoescaped) with htmx (vendored in
``static/``, no build step); Japanese by default, English with ``?lang=en`` (kept in a cookie).

Contract for a console page (cases, alert desk, dashboard, …)
-------------------------------------------------------------
* **A module, a router.** ``bot/console/<area>.py`` defines ``router = APIRouter()`` with paths
  relative to ``/staff`` (``@router.get("/cases")``), and adds ONE line to
  :func:`console_router` below: ``router.include_router(<area>.router)``. Templates go in
  ``bot/console/templates/<area>/`` and start ``{% extends "base.html" %}`` with their page in
  ``{% block content %}`` (and ``{% block title %}``); static files in ``static/``, served
  at ``/staff/static/<name>``.
* **Who.** A page takes the logged-in staff member as a dependency from :mod:`bot.console.auth`:
  ``user: CaseReader`` (cases of one's counters; a manager all, read-only), ``CaseWorker``
  (change a case), ``AlertWorker``, ``AlertDesk`` (the desk's pages), ``DashboardViewer``,
  ``DirectoryAdmin``, ``UserAdmin``, ``AuditReader``, ``AnyStaff``; or
  ``RiskMapReader``, ``Depends(console_user(Permission.x))``. Not logged in:
  a redirect to the login page; a role without the right: 403. Which counters' cases a user
  sees: ``bot.staff_api.case_counters(session, user)`` — another counter's case answers 404.
  The database session is ``bot.staff_api.SessionDep`` (the same one the dependency used).
* **Forms.** Every POST needs the CSRF token, checked by the dependency above before the page
  runs (403 without it): put ``{{ csrf_field() }}`` inside each ``<form method="post">``; htmx
  requests carry it as a header already (base.html). After a change, answer with a redirect
  (303) to the page that shows it.
* **Rendering.** ``return render(request, "cases/inbox.html", {"cases": cases})``: the context
  gets ``user``, ``lang`` ("ja"/"en"), ``nav`` and, in templates, ``t("日本語", "English")``
  (the label in the page's language), ``csrf_field()``, ``csrf_token()``, ``format_time(dt)``
  (local time, ``YYYY-MM-DD HH:MM``). An htmx fragment is a template that does not extend base.
* **Audit.** Every view of a case or a person's data and every change calls
  ``bot.console.audit.audit(session, user, action, object_type, object_id)`` (ids only, no
  personal data; actions like "view", "acknowledge", "reply"; the caller commits).
* **Tests.** ``tests/bot/console/conftest.py``: ``staff_client(role=…, counters=[…])`` gives a
  logged-in ``TestClient`` (its POSTs carry the CSRF header); ``staff_account`` makes a user
  with a known password and ``log_in(page, base_url, username)`` logs a Playwright page in
  through the form.

The navigation (:data:`NAV`) lists each area once with the permission it needs; a user sees
only what their role may open, and ``/staff/`` sends them to the first of it.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Form, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from markupsafe import Markup, escape
from starlette.exceptions import HTTPException as StarletteHTTPException

from bot.console import auth
from bot.console.audit import audit
from bot.models import StaffUser
from bot.models.staff import Permission, Role
from bot.settings import Settings
from bot.settings import settings as default_settings
from bot.staff_api import SessionDep

__all__ = ["NAV", "ROLE_LABELS", "TEMPLATES_DIR", "console_router", "environment", "install_error_pages", "language",
           "render"]

log = logging.getLogger(__name__)

CONSOLE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = CONSOLE_DIR / "templates"
STATIC_DIR = CONSOLE_DIR / "static"
LANG_COOKIE = "tsunagu_staff_lang"
LOGIN_CSRF_COOKIE = "tsunagu_staff_login"
Language = Literal["ja", "en"]


@dataclass(frozen=True)
class NavItem:
    """One entry of the console's navigation."""

    path: str
    ja: str
    en: str
    permission: Permission


NAV: tuple[NavItem, ...] = (
    NavItem("/staff/cases", "案件", "Cases", Permission.view_cases),
    NavItem("/staff/alerts", "行方不明アラート", "Alert desk", Permission.alert_desk),
    NavItem("/staff/persons", "事前登録者", "Registered persons", Permission.alert_desk),
    NavItem("/staff/cooperators", "協力者", "Cooperators", Permission.alert_desk),
    NavItem("/staff/dashboard", "ダッシュボード", "Dashboard", Permission.dashboard),
    NavItem("/staff/risk-map", "孤立リスクマップ", "Risk map", Permission.risk_map),
    NavItem("/staff/admin/partners", "見守り協定事業者", "Partners", Permission.directory),
    NavItem("/staff/admin/users", "職員アカウント", "Staff accounts", Permission.users),
    NavItem("/staff/admin/audit", "監査ログ", "Audit log", Permission.audit),
)

ROLE_LABELS: Mapping[Role, tuple[str, str]] = {
    Role.counter: ("窓口職員", "Counter staff"),
    Role.alert_desk: ("アラート担当", "Alert desk"),
    Role.manager: ("管理職", "Manager"),
    Role.admin: ("システム管理者", "Administrator"),
}


def nav_for(user: StaffUser | None) -> list[NavItem]:
    """The navigation entries ``user`` may open."""
    return [item for item in NAV if user is not None and user.may(item.permission)]


# --------------------------------------------------------------------------- templates


def language(request: Request) -> Language:
    """The page's language: ``?lang=`` first, then the cookie it leaves, then Japanese."""
    chosen = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    return "en" if chosen == "en" else "ja"


@pass_context
def _t(context: Mapping[str, Any], ja: str, en: str) -> str:
    return en if context.get("lang") == "en" else ja


@pass_context
def _csrf_token(context: Mapping[str, Any]) -> str:
    request: Request = context["request"]
    return getattr(request.state, "csrf_token", None) or context.get("login_csrf", "")


@pass_context
def _csrf_field(context: Mapping[str, Any]) -> Markup:
    token = escape(_csrf_token(context))
    return Markup(f'<input type="hidden" name="{auth.CSRF_FIELD}" value="{token}">')


def _format_time(value: datetime | None) -> str:
    if value is None:
        return "–"
    return value.astimezone(default_settings.tz).strftime("%Y-%m-%d %H:%M")


def _build_environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.globals.update(t=_t, csrf_field=_csrf_field, csrf_token=_csrf_token, format_time=_format_time,
                       role_labels=ROLE_LABELS, csrf_header=auth.CSRF_HEADER)
    return env


environment = _build_environment()


def render(request: Request, template: str, context: Mapping[str, Any] | None = None, *,
           status_code: int = status.HTTP_200_OK) -> HTMLResponse:
    """A console page: ``template`` with ``context`` plus the request, user, language and navigation.

    A ``?lang=`` choice is kept in a cookie for the next pages.
    """
    user: StaffUser | None = getattr(request.state, "staff_user", None)
    lang = language(request)
    # The other language's link keeps the page's filters.
    switched = request.url.include_query_params(lang="ja" if lang == "en" else "en")
    full = {"request": request, "user": user, "lang": lang, "nav": nav_for(user),
            "current_path": request.url.path, "switch_language_url": f"{switched.path}?{switched.query}",
            **(context or {})}
    response = HTMLResponse(environment.get_template(template).render(full), status_code=status_code)
    # Console pages show personal data: never kept by a shared browser's cache or a proxy.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    chosen = request.query_params.get("lang")
    if chosen in {"ja", "en"}:
        response.set_cookie(LANG_COOKIE, chosen, max_age=365 * 24 * 3600, samesite="lax", httponly=True,
                            secure=_secure(request))
    return response


def _secure(request: Request) -> bool:
    return auth.console_settings(request).public_base_url.startswith("https://")


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _safe_next(target: str | None) -> str:
    """Where to go after logging in: a console path only, never another site."""
    if target and target.startswith("/staff/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/staff/"


# --------------------------------------------------------------------------- the router


def console_router(settings: Settings | None = None) -> APIRouter:
    """The whole console under ``/staff``: login, logout, the account page, static files,
    the admin pages and every area's pages.

    Args:
        settings: the app's settings (secret key, public URL, idle time-out); the
            process-wide ones by default.
    """
    bound = settings

    def bind_settings(request: Request) -> None:
        request.state.console_settings = bound

    router = APIRouter(prefix="/staff", include_in_schema=False, dependencies=[Depends(bind_settings)])
    router.include_router(_frame_router())
    from bot.console import admin

    router.include_router(admin.router)
    from bot.console import partners

    router.include_router(partners.router)
    from bot.console import riskmap

    router.include_router(riskmap.router)
    from bot.console import dashboard

    router.include_router(dashboard.router)
    from bot.console import cases

    router.include_router(cases.router)
    from bot.console import alerts

    router.include_router(alerts.router)
    return router


def install_error_pages(app: FastAPI) -> None:
    """Errors of console pages as pages (403, 404, …) for a browser; JSON as before elsewhere
    (the staff API, webhooks) and for requests that do not ask for HTML."""

    @app.exception_handler(StarletteHTTPException)
    async def console_error(request: Request, error: StarletteHTTPException) -> Response:
        wants_page = "text/html" in request.headers.get("accept", "") and not request.headers.get("HX-Request")
        if (not request.url.path.startswith("/staff/") or not wants_page or error.status_code < 400
                or request.url.path.startswith("/staff/static/")):
            return await http_exception_handler(request, error)
        response = render(request, "error.html", {"status": error.status_code}, status_code=error.status_code)
        for name, value in (error.headers or {}).items():
            response.headers[name] = value
        return response


def _frame_router() -> APIRouter:
    router = APIRouter()

    @router.get("/static/{name}")
    def static_file(name: str) -> Response:
        path = (STATIC_DIR / name).resolve()
        if path.parent != STATIC_DIR or not path.is_file():
            return Response(status_code=status.HTTP_404_NOT_FOUND)
        return FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})

    @router.get("/")
    def landing(user: auth.AnyStaff) -> RedirectResponse:
        items = nav_for(user)
        return RedirectResponse(items[0].path if items else "/staff/account", status_code=status.HTTP_303_SEE_OTHER)

    @router.get("/login")
    def login_page(request: Request, next: str | None = None) -> HTMLResponse:  # noqa: A002 - the query's name
        return _login_form(request, _safe_next(next))

    @router.post("/login")
    def login(
        request: Request, session: SessionDep,
        username: Annotated[str, Form(max_length=64)], password: Annotated[str, Form(max_length=1024)],
        csrf_token: Annotated[str, Form(alias=auth.CSRF_FIELD)] = "",
        next: Annotated[str, Form()] = "/staff/",  # noqa: A002 - the form field's name
    ) -> Response:
        settings = auth.console_settings(request)
        cookie_token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        # Double submit: a page of another site cannot read our cookie to copy it into its form.
        if not cookie_token or not hmac.compare_digest(cookie_token.encode(), csrf_token.encode()):
            return _login_form(request, _safe_next(next), error="expired", status_code=status.HTTP_403_FORBIDDEN)
        try:
            user = auth.log_in(session, username, password, _client(request))
        except auth.LoginRefused as refused:
            session.commit()
            code = status.HTTP_429_TOO_MANY_REQUESTS if refused.throttled else status.HTTP_401_UNAUTHORIZED
            response = _login_form(request, _safe_next(next), error="throttled" if refused.throttled else "wrong",
                                   status_code=code)
            if refused.throttled:
                response.headers["Retry-After"] = str(int(auth.login_throttle.by_username.window_seconds))
            return response
        cookie = auth.start_session(session, user, settings)
        audit(session, user, "login", "staff_user", user.id)
        session.commit()
        response = RedirectResponse(_safe_next(next), status_code=status.HTTP_303_SEE_OTHER)
        response.set_cookie(auth.SESSION_COOKIE, cookie, max_age=settings.staff_session_hours * 3600,
                            path="/staff", httponly=True, samesite="strict", secure=_secure(request))
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/staff")
        return response

    @router.post("/logout")
    def logout(request: Request, session: SessionDep, user: auth.AnyStaff) -> RedirectResponse:
        audit(session, user, "logout", "staff_user", user.id)
        auth.end_session(session, request.cookies.get(auth.SESSION_COOKIE), auth.console_settings(request))
        session.commit()
        response = RedirectResponse("/staff/login", status_code=status.HTTP_303_SEE_OTHER)
        response.delete_cookie(auth.SESSION_COOKIE, path="/staff")
        return response

    @router.get("/account")
    def account(request: Request, user: auth.AnyStaff) -> HTMLResponse:
        return render(request, "account.html")

    @router.post("/account/password")
    def change_password(
        request: Request, session: SessionDep, user: auth.AnyStaff,
        current: Annotated[str, Form(max_length=1024)], new: Annotated[str, Form(max_length=1024)],
    ) -> Response:
        if not auth.verify_password(user, current):
            return render(request, "account.html", {"error": "wrong"}, status_code=status.HTTP_400_BAD_REQUEST)
        try:
            auth.set_password(user, new)
        except auth.WeakPassword as weak:
            return render(request, "account.html", {"error": "weak", "reason": str(weak)},
                          status_code=status.HTTP_400_BAD_REQUEST)
        audit(session, user, "change_password", "staff_user", user.id)
        # The change ended every session, this one too: start a new one so the user stays in.
        cookie = auth.start_session(session, user, auth.console_settings(request))
        session.commit()
        response = RedirectResponse("/staff/account?changed=1", status_code=status.HTTP_303_SEE_OTHER)
        response.set_cookie(auth.SESSION_COOKIE, cookie, path="/staff", httponly=True, samesite="strict",
                            secure=_secure(request), max_age=auth.console_settings(request).staff_session_hours * 3600)
        return response

    return router


def _login_form(request: Request, next_path: str, *, error: str | None = None,
                status_code: int = status.HTTP_200_OK) -> HTMLResponse:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or auth.new_login_token()
    response = render(request, "login.html", {"next": next_path, "error": error, "login_csrf": token},
                      status_code=status_code)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, path="/staff", httponly=True, samesite="strict",
                        secure=_secure(request))
    return response

