"""The staff JSON API (``/api/staff``): cases, missing-person alerts and pre-registrations.

Every request carries ``Authorization: Bearer <token>``; only the token's SHA-256 hash
is stored (``tsunagu staff add`` prints a new token once; ``tsunagu staff new-token`` replaces
it, ``tsunagu staff disable`` refuses it). Wrong tokens are logged with the client's address
and, past ten a minute from one address, refused with 429. A staff member sees only
the cases and alerts of their own counters — another counter's case answers 404 like
a missing one, so ids cannot be probed — and the pre-registrations of persons living
in a ward, care area or town that one of their counters covers; a manager reads every
counter's cases and changes nothing. What a role may do is ``bot.models.staff.ROLE_PERMISSIONS``,
the table the staff console asks too (``require(Permission.x)``, 403 without it). Approving an
alert is the alert desk's decision (``Permission.approve_alerts``); its answer says how many
cooperators were reached. The alert desk also links a family member's chat to an alert
(``alerts/{id}/family``) and confirms or forwards a sighting to the family or the police
(``alerts/{id}/sightings/{id}/confirm|forward``).

Mount with ``app.include_router(bot.staff_api.router)``.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable, Collection, Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db import session_factory
from bot.domain import load_domain
from bot.models import Alert, AlertStatus, Case, CaseStatus, RegisteredPerson, Sighting, StaffUser
from bot.models.staff import Permission, Role
from bot.settings import settings
from alerts import lifecycle as alert_lifecycle
from alerts import sightings as alert_sightings
from alerts.cap import export_cap
from alerts.fanout import enqueue as fanout
from alerts.fanout.outbox import failed_rows
from alerts.sightings import alerts_for_counters
from alerts.texts import last_seen_label, render_forwarded_sighting
from bot.effects import run_effects
from bot.messages import Effect, EffectKind
from routing.cases import NO_COUNTER_YET, OPEN_STATUSES, case_for_counter, cases_for_counter
from routing.delivery import RESEND_COMMAND, failed_deliveries
from routing.snapshot import CITY, get_directory

__all__ = [
    "FailedAttempts",
    "case_counters",
    "create_staff_user",
    "failed_attempts",
    "hash_token",
    "replace_token",
    "require",
    "router",
    "set_staff_active",
    "visible_persons",
]

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/staff", tags=["staff"])
_bearer = HTTPBearer(auto_error=False)
TOKEN_BYTES = 32


def hash_token(token: str) -> str:
    """The stored form of a staff token (SHA-256, hex)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# Roles that work their own counters' cases, and so need at least one counter.
COUNTER_ROLES = frozenset({Role.counter, Role.alert_desk})


def create_staff_user(
    session: Session, username: str, counter_ids: Collection[str], *, can_approve_alerts: bool = False,
    role: Role | None = None,
) -> tuple[StaffUser, str]:
    """Create a staff account and its API token (the console password is set apart, ``bot.console.auth``).

    Args:
        session: the caller's session.
        username: unique login name.
        counter_ids: the counters (service ids of the directory) whose cases they see.
        can_approve_alerts: the old way to say ``role=Role.alert_desk``.
        role: what they do; counter staff by default.

    Returns:
        ``(user, token)``; the token is not stored and cannot be shown again.

    Raises:
        ValueError: for a taken username, counter staff or alert desk without a counter, or a
            counter not in the directory.
    """
    role = role or (Role.alert_desk if can_approve_alerts else Role.counter)
    if not counter_ids and role in COUNTER_ROLES:
        raise ValueError("a staff member needs at least one counter")
    unknown = sorted(set(counter_ids) - set(get_directory(session).services))
    if unknown:
        raise ValueError(f"not counters of the directory: {', '.join(unknown)}")
    if session.scalar(select(StaffUser.id).where(StaffUser.username == username)) is not None:
        raise ValueError(f"staff user '{username}' already exists")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    user = StaffUser(username=username, counter_ids=list(dict.fromkeys(counter_ids)), role=role,
                     token_hash=hash_token(token))
    session.add(user)
    session.flush()
    return user, token


def _staff_user(session: Session, username: str) -> StaffUser:
    user = session.scalar(select(StaffUser).where(StaffUser.username == username))
    if user is None:
        raise ValueError(f"no staff user '{username}'")
    return user


def replace_token(session: Session, username: str) -> str:
    """Give a staff member a new token; the old one stops working at once.

    Raises:
        ValueError: for an unknown username.
    """
    token = secrets.token_urlsafe(TOKEN_BYTES)
    _staff_user(session, username).token_hash = hash_token(token)
    return token


def set_staff_active(session: Session, username: str, active: bool) -> StaffUser:
    """Disable a staff member (their token is refused from the next request) or enable them again.

    Raises:
        ValueError: for an unknown username.
    """
    user = _staff_user(session, username)
    user.active = active
    return user


# --------------------------------------------------------------------------- dependencies


def get_session() -> Iterator[Session]:
    """One session per request on the configured database."""
    with session_factory(settings.database_url)() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


class FailedAttempts:
    """Wrong staff tokens per client address in a sliding window: past the limit the client is
    refused (429) until its oldest failure leaves the window, so tokens cannot be guessed at speed.

    Counted per process: with several ``serve`` processes an attacker gets the limit once per
    process, still far too few tries for a 256-bit token.
    """

    def __init__(self, limit: int = 10, window_seconds: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, client: str) -> deque[float]:
        """The client's failures still inside the window (older ones forgotten)."""
        failures = self._failures.pop(client, deque())
        while failures and self._clock() - failures[0] > self.window_seconds:
            failures.popleft()
        if failures:
            self._failures[client] = failures
        return failures

    def blocked(self, client: str) -> bool:
        return len(self._recent(client)) >= self.limit

    def record(self, client: str) -> int:
        """Count one failure; the number in the window, this one included."""
        failures = self._recent(client)
        failures.append(self._clock())
        self._failures[client] = failures
        return len(failures)


failed_attempts = FailedAttempts()


def current_staff(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> StaffUser:
    """The active staff member whose token the request carries (401 otherwise; 429 after
    too many wrong tokens from one address)."""
    client = request.client.host if request.client else "unknown"
    if failed_attempts.blocked(client):
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, "too many failed attempts; try again later",
                            headers={"Retry-After": str(int(failed_attempts.window_seconds))})
    user = None
    if credentials is not None and credentials.scheme.lower() == "bearer" and credentials.credentials:
        user = session.scalar(
            select(StaffUser).where(StaffUser.token_hash == hash_token(credentials.credentials),
                                    StaffUser.active.is_(True))
        )
    if user is None:
        failures = failed_attempts.record(client)
        # The address, never the token tried: operators block addresses, tokens are secrets.
        log.warning("staff API: a wrong or missing token from %s (%d in the last %.0f s)",
                    client, failures, failed_attempts.window_seconds)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a valid staff token is required",
                            headers={"WWW-Authenticate": "Bearer"})
    return user


StaffDep = Annotated[StaffUser, Depends(current_staff)]


def require(permission: Permission) -> Callable[[StaffUser], StaffUser]:
    """A check that the staff member's role allows ``permission`` (403 otherwise), for use after
    the dependency that found the user: ``Depends(require(Permission.x))`` over a ``StaffUser``.

    The console builds its page dependencies with it too, so both answer alike.
    """

    def check(user: StaffUser) -> StaffUser:
        if not user.may(permission):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the {permission.value} right")
        return user

    return check


def _api_user(permission: Permission) -> Any:
    """The API's dependency: a valid token whose role allows ``permission``."""
    check = require(permission)

    def dependency(user: StaffDep) -> StaffUser:
        return check(user)

    return Depends(dependency)


ReaderDep = Annotated[StaffUser, _api_user(Permission.view_cases)]
AlertWorkerDep = Annotated[StaffUser, _api_user(Permission.work_alerts)]


def _not_found(what: str, number: int) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"{what} {number} not found")


# --------------------------------------------------------------------------- JSON shapes


def _case_json(case: Case, *, full: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": case.id, "kind": case.kind.value, "topic": case.topic, "status": case.status.value,
        "urgent": case.urgent, "counter_id": case.counter_id, "town_id": case.town_id, "sphere": case.sphere,
        "ward": case.ward, "channel": case.channel, "language": case.language, "report_count": case.report_count,
        "created_at": case.created_at, "first_contact_due": case.first_contact_due,
        "acknowledged_at": case.acknowledged_at, "contacted_at": case.contacted_at, "closed_at": case.closed_at,
    }
    if full:
        data |= {
            "routing_reason": case.routing_reason,
            "details": case.details,
            "callback_consent": case.callback_consent,
            "close_reason": case.close_reason,
            "events": [{"id": e.id, "kind": e.kind, "actor": e.actor, "created_at": e.created_at,
                        "details": e.details} for e in case.events],
        }
    return data


def _sighting_json(sighting: Sighting) -> dict[str, Any]:
    return {
        "id": sighting.id, "group_id": sighting.group_id, "town_id": sighting.town_id,
        "latitude": sighting.latitude, "longitude": sighting.longitude, "seen_at": sighting.seen_at,
        "text": sighting.text, "photo_ref": sighting.photo_ref, "created_at": sighting.created_at,
        "confirmed_at": sighting.confirmed_at, "confirmed_by": sighting.confirmed_by,
        "forwarded_family_at": sighting.forwarded_family_at, "forwarded_police_at": sighting.forwarded_police_at,
    }


def _alert_json(session: Session, alert: Alert, *, full: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": alert.id, "case_id": alert.case_id, "person_id": alert.person_id, "status": alert.status.value,
        "ward": alert.ward, "town_id": alert.town_id,
        "last_seen_place": last_seen_label(session, alert),
        "latitude": alert.latitude, "longitude": alert.longitude, "last_seen_at": alert.last_seen_at,
        "description": alert.description, "clothing": alert.clothing, "photo_ref": alert.photo_ref,
        "stage": alert.stage, "radius_km": alert.radius_km, "approved_by": alert.approved_by,
        "approved_at": alert.approved_at, "created_at": alert.created_at, "next_widen_at": alert.next_widen_at,
        "ended_at": alert.ended_at, "purge_after": alert.purge_after, "purged": alert.purged, "stats": alert.stats,
    }
    if full:
        sightings = session.scalars(select(Sighting).where(Sighting.alert_id == alert.id).order_by(Sighting.id))
        data |= {"progress": fanout.progress(session, alert.id),
                 "sightings": [_sighting_json(sighting) for sighting in sightings]}
    return data


def _person_json(person: RegisteredPerson) -> dict[str, Any]:
    return {
        "id": person.id, "town_id": person.town_id, "description": person.description,
        "photo_ref": person.photo_ref, "usual_places": person.usual_places,
        "emergency_contacts": person.emergency_contacts, "consented_at": person.consented_at,
        "created_at": person.created_at,
    }


# --------------------------------------------------------------------------- cases


@router.get("/cases")
def list_cases(
    session: SessionDep, user: ReaderDep, include_closed: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 200, offset: Annotated[int, Query(ge=0)] = 0,
) -> list[dict[str, Any]]:
    """The cases of the staff member's counters: urgent first, then by first-contact deadline."""
    statuses: tuple[CaseStatus, ...] | None = None if include_closed else OPEN_STATUSES
    cases = cases_for_counter(session, case_counters(session, user), statuses=statuses, limit=limit, offset=offset)
    return [_case_json(case) for case in cases]


@router.get("/cases/{case_id}")
def get_case(case_id: int, session: SessionDep, user: ReaderDep) -> dict[str, Any]:
    """One case of the staff member's counters, with its details and events."""
    case = case_for_counter(session, case_id, case_counters(session, user))
    if case is None:
        raise _not_found("case", case_id)
    return _case_json(case, full=True)


def case_counters(session: Session, user: StaffUser) -> list[str]:
    """Whose cases a staff member sees: their counters'; the alert desk also sees the reports
    whose place is not known yet (a family who hung up to call 110 after 「父がいなくなった」);
    a manager sees every counter's. Nobody else sees any (an admin runs the directory, not cases).

    The console's case pages ask this too.
    """
    if user.may(Permission.all_counters):
        return [*get_directory(session).services, NO_COUNTER_YET]
    if not user.may(Permission.view_cases):
        return []
    return [*user.counter_ids, *([NO_COUNTER_YET] if user.may(Permission.alert_desk) else [])]


# --------------------------------------------------------------------------- alerts


def _own_alert(session: Session, user: StaffUser, alert_id: int, *, lock: bool = False) -> Alert:
    alert = session.get(Alert, alert_id, with_for_update=lock)
    case = session.get(Case, alert.case_id) if alert is not None and alert.case_id is not None else None
    if alert is None or case is None or case.counter_id not in set(user.counter_ids):
        raise _not_found("alert", alert_id)
    return alert


@router.get("/alerts")
def list_alerts(session: SessionDep, user: AlertWorkerDep) -> list[dict[str, Any]]:
    """The alerts of the staff member's counters, newest first."""
    return [_alert_json(session, alert) for alert in alerts_for_counters(session, user.counter_ids)]


@router.get("/alerts/{alert_id}")
def get_alert(alert_id: int, session: SessionDep, user: AlertWorkerDep) -> dict[str, Any]:
    """One alert with its delivery progress (queued / sent / failed / cancelled) and sightings."""
    return _alert_json(session, _own_alert(session, user, alert_id), full=True)


class FamilyMember(BaseModel):
    """A family member the desk names, by the chat they are reached on."""

    channel: Literal["line", "telegram"]
    user_id: str = Field(min_length=1, max_length=128)


@router.post("/alerts/{alert_id}/family")
def link_family(alert_id: int, member: FamilyMember, session: SessionDep, user: AlertWorkerDep) -> dict[str, Any]:
    """Link a family member's chat to the alert: forwarded sightings reach them too (409 once purged)."""
    alert = _own_alert(session, user, alert_id)
    try:
        link = alert_lifecycle.link_family(session, alert, channel=member.channel, user_id=member.user_id,
                                           by=user.username)
    except alert_lifecycle.AlertError as error:
        session.rollback()
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    session.commit()
    return {"alert_id": alert.id, "contact_id": link.contact_id, "role": link.role}


def _own_sighting(session: Session, user: StaffUser, alert_id: int, sighting_id: int) -> Sighting:
    _own_alert(session, user, alert_id)
    sighting = session.get(Sighting, sighting_id)
    if sighting is None or sighting.alert_id != alert_id:
        raise _not_found("sighting", sighting_id)
    return sighting


@router.post("/alerts/{alert_id}/sightings/{sighting_id}/confirm")
def confirm_sighting(alert_id: int, sighting_id: int, session: SessionDep, user: AlertWorkerDep) -> dict[str, Any]:
    """Confirm a sighting: the next widening says the person was last seen there (409 once the alert ended)."""
    sighting = _own_sighting(session, user, alert_id, sighting_id)
    try:
        alert_sightings.confirm_sighting(session, sighting, by=user.username)
    except alert_lifecycle.AlertError as error:
        session.rollback()
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    session.commit()
    return _sighting_json(sighting)


class Forward(BaseModel):
    """Whom a sighting goes to: the family's chat or the police."""

    to: Literal["family", "police"]


@router.post("/alerts/{alert_id}/sightings/{sighting_id}/forward")
def forward_sighting(alert_id: int, sighting_id: int, forward: Forward, session: SessionDep,
                     user: AlertWorkerDep) -> dict[str, Any]:
    """Forward a sighting in one step: to the family's chats, or to the police (e-mail when
    ``TSUNAGU_ALERT_POLICE_EMAIL`` is set). ``queued`` says how many messages went out; for the
    police the answer carries the printable ``summary`` too. 409 once the alert ended."""
    sighting = _own_sighting(session, user, alert_id, sighting_id)
    try:
        queued = alert_sightings.forward_sighting(session, sighting, forward.to, by=user.username)
    except alert_lifecycle.AlertError as error:
        session.rollback()
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    session.commit()
    run_effects([Effect(EffectKind.alert_queued, {"alert_id": alert_id, "queued": queued})], url=settings.database_url)
    answer: dict[str, Any] = {**_sighting_json(sighting), "queued": queued}
    if forward.to == "police":
        answer["summary"] = render_forwarded_sighting(session, load_domain(settings.domain_path), "police",
                                                      sighting.id, "ja")
    return answer


Action = Literal["approve", "widen", "found", "cancel"]


@router.post("/alerts/{alert_id}/{action}")
def act_on_alert(alert_id: int, action: Action, session: SessionDep, user: AlertWorkerDep,
                 force: bool = False) -> dict[str, Any]:
    """Approve (the alert desk's ``Permission.approve_alerts``), widen, mark found or cancel an alert.

    Approval answers how many cooperators were ``reached`` and a ``warning`` when that is
    none; it is refused (409) while cooperators in the first stage can be reached only on
    channels this installation has no settings for, unless ``force=true``. Answers 409
    when the alert's state does not allow the step.
    """
    if action == "approve":
        require(Permission.approve_alerts)(user)
    alert = _own_alert(session, user, alert_id, lock=True)
    if action == "approve" and alert.status == AlertStatus.pending and not force:
        unreachable = alert_lifecycle.preview_approval(session, alert).unreachable
        if unreachable:
            session.rollback()
            raise HTTPException(status.HTTP_409_CONFLICT, f"{unreachable} cooperators can be reached only on channels "
                                "without settings here; configure them, or approve with force=true")
    step = {"approve": alert_lifecycle.approve, "widen": alert_lifecycle.widen,
            "found": alert_lifecycle.found, "cancel": alert_lifecycle.cancel}[action]
    try:
        queued = step(session, alert, by=user.username)
    except alert_lifecycle.AlertError as error:
        session.rollback()
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    warning = alert_lifecycle.reach_warning(session, alert, queued) if action == "approve" else None
    session.commit()
    run_effects([Effect(EffectKind.alert_queued, {"alert_id": alert.id, "queued": queued})], url=settings.database_url)
    answer = {**_alert_json(session, alert), "queued": queued}
    if action == "approve":
        # One alert message per cooperator: the messages queued are the cooperators reached.
        answer |= {"reached": queued, "warning": warning}
    return answer


@router.get("/alerts/{alert_id}/cap")
def alert_cap(
    alert_id: int, session: SessionDep, user: AlertWorkerDep, msg_type: Literal["Alert", "Update", "Cancel"] | None = None,
) -> Response:
    """A CAP 1.2 message of the alert exactly as it was issued (the latest, or the latest of ``msg_type``);
    a Draft for an alert not approved yet; 404 when no such message was issued."""
    alert = _own_alert(session, user, alert_id)
    xml = export_cap(session, alert, msg_type)
    if xml is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {msg_type or 'CAP'} message was issued for this alert")
    return Response(content=xml, media_type="application/xml")


# --------------------------------------------------------------------------- pre-registrations


def visible_persons(session: Session, counter_ids: Collection[str]) -> list[RegisteredPerson]:
    """The pre-registrations of persons living where one of the counters serves.

    A counter covers the towns of its service areas (a town, a care area, a ward, or the
    whole city); a registration without a town is shown only to city-wide counters.

    Args:
        session: a session.
        counter_ids: the staff member's counters.

    Returns:
        The registrations, oldest first.
    """
    directory = get_directory(session)
    codes = {code for counter_id in counter_ids if counter_id in directory.services
             for code in directory.services[counter_id].area_codes}
    if not codes:
        return []
    towns = [town_id for town_id, record in directory.towns.items()
             if codes & {town_id, record.option.sphere, record.option.ward_code, CITY}]
    condition = RegisteredPerson.town_id.in_(towns)
    if CITY in codes:
        condition = condition | RegisteredPerson.town_id.is_(None)
    return list(session.scalars(select(RegisteredPerson).where(condition).order_by(RegisteredPerson.id)))


@router.get("/persons")
def list_persons(session: SessionDep, user: ReaderDep) -> list[dict[str, Any]]:
    """Pre-registered persons living in the areas the staff member's counters cover."""
    return [_person_json(person) for person in visible_persons(session, user.counter_ids)]


# --------------------------------------------------------------------------- failed deliveries


@router.get("/failed")
def list_failed(session: SessionDep, user: ReaderDep) -> dict[str, Any]:
    """What could not be delivered after every attempt: the staff member's cases to their
    targets, and their alerts' messages to cooperators; with the console command that sends
    them again."""
    alert_ids = [alert.id for alert in alerts_for_counters(session, user.counter_ids)]
    return {
        "deliveries": [
            {"id": row.id, "case_id": row.case_id, "counter_id": row.counter_id, "method": row.method,
             "address": row.address, "fail_count": row.fail_count,
             "last_attempt_at": row.last_attempt_at.isoformat() if row.last_attempt_at else None,
             "reason": row.reason}
            for row in failed_deliveries(session, user.counter_ids)
        ],
        "alert_messages": [
            {"id": row.id, "alert_id": row.alert_id, "kind": row.kind, "channel": row.channel,
             "fail_count": row.fail_count, "reason": row.reason}
            for row in failed_rows(session, alert_ids)
        ],
        "resend": RESEND_COMMAND,
    }
