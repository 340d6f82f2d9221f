"""Who is using the staff console: passwords, login sessions, CSRF tokens, and the page dependencies.

Passwords are argon2id hashes (``argon2-cffi``); one shorter than :data:`MIN_PASSWORD_LENGTH`
or equal to the username is refused (:class:`WeakPassword`). Logging in issues a signed cookie
(the web chat's :class:`~channels.webchat.SessionSigner` under a key of its own) that names a
row of ``staff_sessions``; every request checks that row: it ends after
``TSUNAGU_STAFF_IDLE_MINUTES`` without a request, at logout, when the account is disabled and
when its password changes (``session_epoch``), and after ``TSUNAGU_STAFF_SESSION_HOURS`` whatever
happens. Wrong passwords are counted per address and per username (the staff API's
:class:`~bot.staff_api.FailedAttempts`); past the limit logins answer 429 for a while.

Every request that changes something (anything but GET / HEAD / OPTIONS) must carry the
session's CSRF token, as the form field ``csrf_token`` or the ``X-CSRF-Token`` header (htmx
sends it, see base.html): :func:`console_user` checks it before the page runs, 403 otherwise.

What a role may do is one table, ``bot.models.staff.ROLE_PERMISSIONS``, shared with the staff API.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import quote

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, HTTPException, Request, status
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.models import StaffUser, utcnow
from bot.models.console import StaffSession
from bot.models.staff import Permission
from bot.settings import Settings
from bot.settings import settings as default_settings
from bot.staff_api import FailedAttempts, SessionDep, require
from channels.webchat import SessionSigner

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "MIN_PASSWORD_LENGTH",
    "SESSION_COOKIE",
    "AlertDesk",
    "AlertWorker",
    "AnyStaff",
    "AuditReader",
    "CaseReader",
    "CaseWorker",
    "DashboardViewer",
    "DirectoryAdmin",
    "LoginRefused",
    "WeakPassword",
    "check_password_strength",
    "console_settings",
    "console_user",
    "csrf_token",
    "end_session",
    "hash_password",
    "log_in",
    "new_login_token",
    "login_throttle",
    "set_password",
    "start_session",
    "UserAdmin",
    "verify_password",
]

log = logging.getLogger(__name__)

SESSION_COOKIE = "tsunagu_staff"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
MIN_PASSWORD_LENGTH = 12
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# last_seen_at is written at most this often: a page with several htmx requests is one write.
TOUCH_SECONDS = 30

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the username is unknown, so both answers take the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


class WeakPassword(ValueError):
    """A password the console refuses; the message says why, in words for the person choosing it."""


class LoginRefused(Exception):
    """A login that did not succeed; ``throttled`` when it was not even tried."""

    def __init__(self, throttled: bool) -> None:
        super().__init__("too many failed attempts" if throttled else "wrong username or password")
        self.throttled = throttled


# --------------------------------------------------------------------------- passwords


def check_password_strength(username: str, password: str) -> None:
    """Refuse a password that is too short or is the username.

    Raises:
        WeakPassword: saying what is wrong.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if password.strip().casefold() == username.strip().casefold():
        raise WeakPassword("the password must not be the username")


def hash_password(password: str) -> str:
    """The stored form of a password (argon2id, with its salt and parameters)."""
    return _hasher.hash(password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def verify_password(user: StaffUser, password: str) -> bool:
    """Whether ``password`` is the staff member's console password."""
    return _verify(user.password_hash, password)


def new_login_token() -> str:
    """A random token for the login form's double-submit CSRF check (no session exists yet)."""
    return secrets.token_urlsafe(32)


def set_password(user: StaffUser, password: str) -> None:
    """Give a staff member a new console password; their sessions end at once.

    Raises:
        WeakPassword: for a password :func:`check_password_strength` refuses.
    """
    check_password_strength(user.username, password)
    user.password_hash = hash_password(password)
    user.session_epoch = (user.session_epoch or 0) + 1


# --------------------------------------------------------------------------- throttle


@dataclass
class LoginThrottle:
    """Wrong passwords per client address and per username; either past its limit refuses."""

    by_address: FailedAttempts
    by_username: FailedAttempts

    def blocked(self, address: str, username: str) -> bool:
        return self.by_address.blocked(address) or self.by_username.blocked(username.casefold())

    def record(self, address: str, username: str) -> tuple[int, int]:
        return self.by_address.record(address), self.by_username.record(username.casefold())


# Counted per process, like the staff API's; five tries a quarter hour for one account.
login_throttle = LoginThrottle(by_address=FailedAttempts(limit=20, window_seconds=900),
                               by_username=FailedAttempts(limit=5, window_seconds=900))


# --------------------------------------------------------------------------- sessions


def console_settings(request: Request) -> Settings:
    """The settings the console router was built with (``console_router(settings)``)."""
    return getattr(request.state, "console_settings", None) or default_settings


def _signer(settings: Settings) -> SessionSigner:
    # A key of its own: a web chat cookie never verifies as a staff session, nor the reverse.
    return SessionSigner(f"staff-console:{settings.secret_key}", settings.staff_session_hours * 3600)


def _hash_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def log_in(session: Session, username: str, password: str, address: str) -> StaffUser:
    """Check a username and password, counting failures; the caller then starts a session.

    Args:
        session: the request's session.
        username: as typed.
        password: as typed; never logged or stored.
        address: the client's address, for the throttle and the log.

    Returns:
        The active staff member with that password; their last login is now.

    Raises:
        LoginRefused: wrong username or password, a disabled or password-less account, or
            too many failures from this address or for this username.
    """
    throttle = login_throttle
    if throttle.blocked(address, username):
        log.warning("staff console: a login from %s refused, too many failed attempts", address)
        raise LoginRefused(throttled=True)
    user = session.scalar(select(StaffUser).where(StaffUser.username == username.strip()))
    ok = _verify(user.password_hash if user is not None else None, password)
    if user is None or not ok or not user.active:
        by_address, by_username = throttle.record(address, username)
        # The address, never the password or the name tried: operators block addresses.
        log.warning("staff console: a failed login from %s (%d from there, %d for that name in %.0f s)",
                    address, by_address, by_username, throttle.by_address.window_seconds)
        raise LoginRefused(throttled=False)
    if _hasher.check_needs_rehash(user.password_hash or ""):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    log.info("staff console: staff user %d logged in from %s", user.id, address)
    return user


def start_session(session: Session, user: StaffUser, settings: Settings) -> str:
    """A new console session for ``user``; returns the cookie value that carries it."""
    session_id, cookie = _signer(settings).issue()
    session.add(StaffSession(id_hash=_hash_id(session_id), staff_user_id=user.id, epoch=user.session_epoch))
    session.flush()
    return cookie


def end_session(session: Session, cookie: str | None, settings: Settings) -> None:
    """Log out: the session's row goes, so its cookie is worthless even if kept."""
    session_id = _signer(settings).session_id(cookie)
    if session_id is not None:
        session.execute(delete(StaffSession).where(StaffSession.id_hash == _hash_id(session_id)))


def csrf_token(session_id: str, settings: Settings) -> str:
    """The CSRF token of a session: an HMAC of its id, so it needs no storage and dies with it."""
    key = hashlib.sha256(f"staff-csrf:{settings.secret_key}".encode()).digest()
    return hmac.new(key, session_id.encode(), hashlib.sha256).hexdigest()


def _login_redirect(request: Request) -> HTTPException:
    """Send the browser to the login page, back to this page afterwards (htmx: a full redirect)."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = f"/staff/login?next={quote(target, safe='')}"
    if request.headers.get("HX-Request"):
        return HTTPException(status.HTTP_401_UNAUTHORIZED, "login required", headers={"HX-Redirect": location})
    return HTTPException(status.HTTP_303_SEE_OTHER, "login required", headers={"Location": location})


def _session_user(request: Request, session: Session, settings: Settings) -> tuple[StaffUser, str] | None:
    """The active staff member of the request's session cookie, and the session id; None when
    there is none or it ended (a stale row is deleted on the way)."""
    session_id = _signer(settings).session_id(request.cookies.get(SESSION_COOKIE))
    if session_id is None:
        return None
    row = session.get(StaffSession, _hash_id(session_id))
    if row is None:
        return None
    user = session.get(StaffUser, row.staff_user_id)
    now = utcnow()
    idle = timedelta(minutes=settings.staff_idle_minutes)
    if user is None or not user.active or row.epoch != user.session_epoch or now - row.last_seen_at > idle:
        session.delete(row)
        session.commit()
        return None
    if now - row.last_seen_at > timedelta(seconds=TOUCH_SECONDS):
        row.last_seen_at = now
        session.commit()
    return user, session_id


async def _check_csrf(request: Request, session_id: str, settings: Settings) -> None:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").split(";")[0].strip() in {
            "application/x-www-form-urlencoded", "multipart/form-data"}:
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent, csrf_token(session_id, settings)):
        log.warning("staff console: a %s to %s without a valid CSRF token", request.method, request.url.path)
        raise HTTPException(status.HTTP_403_FORBIDDEN, "a valid CSRF token is required")


def console_user(permission: Permission | None = None) -> Callable[..., Coroutine[Any, Any, StaffUser]]:
    """A page dependency: the logged-in staff member, whose role allows ``permission``.

    Not logged in (or the session ended): a redirect to the login page (303; 401 with
    ``HX-Redirect`` for htmx). A role without the permission: 403. A request that changes
    something without the session's CSRF token: 403. The user and the token are left on
    ``request.state`` (``staff_user``, ``csrf_token``) for the templates.
    """
    check = require(permission) if permission is not None else None

    async def dependency(request: Request, session: SessionDep) -> StaffUser:
        settings = console_settings(request)
        found = _session_user(request, session, settings)
        if found is None:
            raise _login_redirect(request)
        user, session_id = found
        request.state.staff_user = user
        request.state.csrf_token = csrf_token(session_id, settings)
        if request.method not in SAFE_METHODS:
            await _check_csrf(request, session_id, settings)
        return check(user) if check is not None else user

    return dependency


AnyStaff = Annotated[StaffUser, Depends(console_user())]
# The page dependencies most pages need, one per permission (use these rather than new closures).
CaseReader = Annotated[StaffUser, Depends(console_user(Permission.view_cases))]
CaseWorker = Annotated[StaffUser, Depends(console_user(Permission.work_cases))]
AlertWorker = Annotated[StaffUser, Depends(console_user(Permission.work_alerts))]
AlertDesk = Annotated[StaffUser, Depends(console_user(Permission.alert_desk))]
DashboardViewer = Annotated[StaffUser, Depends(console_user(Permission.dashboard))]
RiskMapReader = Annotated[StaffUser, Depends(console_user(Permission.risk_map))]
DirectoryAdmin = Annotated[StaffUser, Depends(console_user(Permission.directory))]
UserAdmin = Annotated[StaffUser, Depends(console_user(Permission.users))]
AuditReader = Annotated[StaffUser, Depends(console_user(Permission.audit))]
