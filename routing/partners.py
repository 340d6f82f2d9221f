"""Partner businesses (見守り協定事業者): agreements, invitation codes, reporters, reports, counts.

The city signs an agreement with a partner (a newspaper or milk delivery, a gas, water or
electricity meter reader, a bank, a parcel carrier, a convenience store): its type, the
wards it covers, its contact and the agreement date (:func:`add_partner`). It gives the
partner an invitation code (:func:`create_invitation`: random, used at most ``max_uses``
times, expiring; only its SHA-256 is stored) which the partner's employees send on LINE,
Telegram or the web chat to join as *reporters* (:func:`join`, from ``flows.partner``).

A reporter's report is a worry case for the area's hub, routed like any worry report,
with ``details["source"] = "partner"``; :func:`record_report` ties the case to the
partner and the reporter. When staff close the case (``routing.cases.transition``), the
reporter is told 「対応しました」 — the case number only — through the outbox
(:func:`notify_closed`), which the alert fan-out sends like its other messages.

Consent is renewed yearly as for cooperators (``cooperator_reconfirm_days``):
:func:`queue_reconfirm_requests` asks those due once per cycle, answering in the partner
flow renews it (:func:`reconfirm`), and :func:`lapse_unconfirmed` ends the registration
of those who did not answer within ``cooperator_reconfirm_grace_days``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
import secrets
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import Enum

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from bot.models import Case, Contact, OutboxItem, OutboxState, utcnow
from bot.models.partners import Partner, PartnerInvitation, PartnerReport, PartnerReporter, PartnerType
from bot.settings import settings
from routing.snapshot import get_directory

__all__ = [
    "CODE_RE",
    "DONE_KIND_PREFIX",
    "NOTICE_RESPONSES",
    "PUSH_CHANNELS",
    "RECONFIRM_KIND",
    "InvitationProblem",
    "PartnerCount",
    "add_partner",
    "check_invitation",
    "create_invitation",
    "disable_partner",
    "find_code",
    "join",
    "lapse_unconfirmed",
    "leave",
    "list_partners",
    "notify_closed",
    "outbox_notice",
    "queue_reconfirm_requests",
    "reconfirm",
    "record_report",
    "report_counts",
    "report_csv",
    "reporter_of",
]

log = logging.getLogger(__name__)

# Invitation codes: 「PT-」 and two groups of four characters that cannot be misread
# (no 0/O, 1/I/L), about 40 bits of randomness: a code is not guessable within its expiry.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
# Japanese may touch it (「コードはPT-…です」): the code ends where letters and digits do.
CODE_RE = re.compile(r"(?<![A-Z0-9])PT-?([A-HJKMNP-Z2-9]{4})-?([A-HJKMNP-Z2-9]{4})(?![A-Z0-9])")
# The chats a 「対応しました」 or a re-confirmation request can be pushed to (the web chat cannot).
PUSH_CHANNELS = ("line", "telegram")
# Outbox kinds (``OutboxItem.kind``, 16 characters at most): the notice that a reported case
# was closed (``pdone:<case id>``) and the yearly re-confirmation request.
DONE_KIND_PREFIX = "pdone:"
RECONFIRM_KIND = "preconfirm"
DONE_RESPONSE = "utter_partner_case_done"
RECONFIRM_RESPONSE = "utter_partner_reconfirm_request"
NOTICE_RESPONSES = (DONE_RESPONSE, RECONFIRM_RESPONSE)
# Ahead of re-confirmation requests, behind every alert message (alerts.fanout.enqueue).
_NOTICE_DISTANCE_M = 1.5e9
_REQUEST_DISTANCE_M = 2e9
RECONFIRM_REQUESTS_PER_RUN = 500


class InvitationProblem(str, Enum):
    """Why a code does not let someone join."""

    unknown = "unknown"
    expired = "expired"
    used = "used"
    partner_inactive = "partner_inactive"


@dataclass(frozen=True)
class PartnerCount:
    """Partner reports of one partner about one ward in a period."""

    partner_id: int
    partner: str
    type: str
    ward: str
    reports: int


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode("ascii")).hexdigest()


def find_code(text: str) -> str | None:
    """The invitation code in a message (「PT-ABCD-EFGH」, full-width or lower case too), canonical; or None."""
    match = CODE_RE.search(unicodedata.normalize("NFKC", text).upper())
    return f"PT-{match.group(1)}-{match.group(2)}" if match else None


def _wards(session: Session, wards: Iterable[str]) -> list[str]:
    known = get_directory(session).wards
    codes = [ward.strip() for ward in wards if ward.strip()]
    unknown = [code for code in codes if code not in known]
    if unknown or not codes:
        raise ValueError(f"wards must be among {sorted(known)}; not {unknown or 'none given'}")
    return list(dict.fromkeys(codes))


def add_partner(session: Session, *, name: str, type: str, wards: Sequence[str], contact: str,
                agreement_date: date) -> Partner:
    """Record a partner's agreement.

    Args:
        session: the caller's session.
        name: the organisation's name.
        type: a :class:`PartnerType` value.
        wards: the ward codes it covers (at least one, of the directory).
        contact: how the city reaches the organisation.
        agreement_date: when the agreement was signed.

    Returns:
        The active partner.

    Raises:
        ValueError: an unknown type or ward, or an empty name.
    """
    if not name.strip():
        raise ValueError("a partner needs a name")
    partner = Partner(name=name.strip(), type=PartnerType(type), wards=_wards(session, wards),
                      contact=contact.strip(), agreement_date=agreement_date, active=True)
    session.add(partner)
    session.flush()
    return partner


def list_partners(session: Session, *, active_only: bool = False) -> list[Partner]:
    """The partners, oldest agreement first."""
    query = select(Partner).order_by(Partner.id)
    if active_only:
        query = query.where(Partner.active.is_(True))
    return list(session.scalars(query))


def disable_partner(session: Session, partner_id: int) -> Partner:
    """End a partner's agreement: its codes stop working and its reporters can no longer report.

    Raises:
        LookupError: no such partner.
    """
    partner = session.get(Partner, partner_id)
    if partner is None:
        raise LookupError(f"no partner {partner_id}")
    partner.active = False
    session.flush()
    return partner


def create_invitation(session: Session, partner_id: int, *, max_uses: int = 1, days: int = 14,
                      created_by: str | None = None, now: datetime | None = None) -> tuple[PartnerInvitation, str]:
    """A new invitation code for an active partner's employees.

    Args:
        session: the caller's session.
        partner_id: the partner.
        max_uses: how many employees may join with it.
        days: how long it is valid.
        created_by: who made it (staff username or ``cli``).
        now: the current time (aware).

    Returns:
        The invitation and its code (shown once: only the hash is kept).

    Raises:
        LookupError: no such partner.
        ValueError: the partner is not active, or a bad count or duration.
    """
    now = now or utcnow()
    partner = session.get(Partner, partner_id)
    if partner is None:
        raise LookupError(f"no partner {partner_id}")
    if not partner.active:
        raise ValueError(f"partner {partner_id} is not active")
    if max_uses < 1 or days < 1:
        raise ValueError("an invitation needs at least one use and one day")
    code = "PT-" + "-".join("".join(secrets.choice(CODE_ALPHABET) for _ in range(4)) for _ in range(2))
    invitation = PartnerInvitation(partner_id=partner_id, code_hash=_hash(code), max_uses=max_uses, uses=0,
                                   expires_at=now + timedelta(days=days), created_by=created_by, created_at=now)
    session.add(invitation)
    session.flush()
    return invitation, code


def _problem(invitation: PartnerInvitation, now: datetime) -> InvitationProblem | None:
    if invitation.expires_at <= now:
        return InvitationProblem.expired
    if invitation.uses >= invitation.max_uses:
        return InvitationProblem.used
    if not invitation.partner.active:
        return InvitationProblem.partner_inactive
    return None


def check_invitation(session: Session, code: str, now: datetime | None = None) -> PartnerInvitation | InvitationProblem:
    """The invitation a code opens, or why it does not (nothing is used up yet).

    Args:
        session: a session.
        code: the canonical code (:func:`find_code`).
        now: the current time (aware).
    """
    invitation = session.scalar(select(PartnerInvitation).where(PartnerInvitation.code_hash == _hash(code)))
    if invitation is None:
        return InvitationProblem.unknown
    return _problem(invitation, now or utcnow()) or invitation


def reporter_of(session: Session, contact_id: int, *, active_only: bool = True) -> PartnerReporter | None:
    """The reporter a contact is (of an active partner when ``active_only``), or None."""
    reporter = session.scalar(select(PartnerReporter).where(PartnerReporter.contact_id == contact_id))
    if reporter is None or (active_only and not (reporter.active and reporter.partner.active)):
        return None
    return reporter


def join(session: Session, *, invitation_id: int, contact_id: int,
         now: datetime | None = None) -> PartnerReporter | InvitationProblem:
    """A partner's employee joins with an invitation (checked again: it may have expired or
    been used up since the code was read): one use is taken, the reporter registered — or
    renewed, or moved to this partner — with consent from now.

    Args:
        session: the caller's session.
        invitation_id: the invitation :func:`check_invitation` returned.
        contact_id: the employee's chat contact.
        now: the current time (aware).

    Returns:
        The active reporter, or why the invitation was refused.
    """
    now = now or utcnow()
    invitation = session.get(PartnerInvitation, invitation_id)
    if invitation is None:
        return InvitationProblem.unknown
    problem = _problem(invitation, now)
    if problem is not None:
        return problem
    # Counted in the database, so two employees taking the last use at once cannot both join.
    used = session.execute(
        update(PartnerInvitation)
        .where(PartnerInvitation.id == invitation.id, PartnerInvitation.uses < PartnerInvitation.max_uses)
        .values(uses=PartnerInvitation.uses + 1)
        .execution_options(synchronize_session=False)
    )
    if not used.rowcount:
        return InvitationProblem.used
    session.refresh(invitation)
    reporter = session.scalar(select(PartnerReporter).where(PartnerReporter.contact_id == contact_id))
    if reporter is None:
        reporter = PartnerReporter(contact_id=contact_id)
        session.add(reporter)
    reporter.partner_id = invitation.partner_id
    reporter.invitation_id = invitation.id
    reporter.active = True
    reporter.left_at = None
    reconfirm(reporter, now)
    session.flush()
    return reporter


def reconfirm(reporter: PartnerReporter, now: datetime | None = None) -> None:
    """Consent given (again): the next re-confirmation falls due a period from now."""
    now = now or utcnow()
    reporter.consented_at = now
    reporter.reconfirm_due = now + timedelta(days=settings.cooperator_reconfirm_days)


def leave(session: Session, contact_id: int, now: datetime | None = None) -> PartnerReporter | None:
    """The reporter stops: no more reports, notices or requests. None when not a reporter."""
    now = now or utcnow()
    reporter = session.scalar(select(PartnerReporter).where(PartnerReporter.contact_id == contact_id,
                                                            PartnerReporter.active.is_(True)))
    if reporter is None:
        return None
    reporter.active = False
    reporter.left_at = now
    session.execute(
        update(OutboxItem)
        .where(OutboxItem.contact_id == contact_id, OutboxItem.state == OutboxState.queued,
               or_(OutboxItem.kind == RECONFIRM_KIND, OutboxItem.kind.startswith(DONE_KIND_PREFIX)))
        .values(state=OutboxState.cancelled, last_failure_reason="partner reporter left")
    )
    session.flush()
    return reporter


def record_report(session: Session, *, case: Case, reporter: PartnerReporter, what_seen: str,
                  now: datetime | None = None) -> PartnerReport:
    """Tie a partner report to the case it opened or was linked to (for counts and the close notice)."""
    report = PartnerReport(case_id=case.id, partner_id=reporter.partner_id, reporter_id=reporter.id, ward=case.ward,
                           what_seen=what_seen, created_at=now or utcnow())
    session.add(report)
    session.flush()
    return report


def _queue(session: Session, contact: Contact, kind: str, distance: float, now: datetime) -> bool:
    if contact.channel not in PUSH_CHANNELS or not contact.active:
        return False
    session.add(OutboxItem(alert_id=None, cooperator_id=None, contact_id=contact.id, kind=kind,
                           channel=contact.channel, address=contact.channel_user_id, distance_m=distance,
                           state=OutboxState.queued, next_attempt_at=now))
    return True


def notify_closed(session: Session, case: Case, now: datetime | None = None) -> int:
    """Staff closed ``case``: queue 「対応しました」 (the case number, nothing else) for each active
    partner reporter whose report it holds, once. Called by ``routing.cases.transition``.

    A reporter on the web chat cannot be reached outside a conversation: nothing is queued.

    Returns:
        How many notices were queued.
    """
    now = now or utcnow()
    reports = session.scalars(select(PartnerReport).where(PartnerReport.case_id == case.id,
                                                          PartnerReport.notified_at.is_(None))).all()
    queued = 0
    told: set[int] = set()
    for report in reports:
        report.notified_at = now
        reporter = session.get(PartnerReporter, report.reporter_id) if report.reporter_id else None
        if reporter is None or not reporter.active or reporter.contact_id in told:
            continue
        told.add(reporter.contact_id)
        contact = session.get(Contact, reporter.contact_id)
        if contact is not None and _queue(session, contact, f"{DONE_KIND_PREFIX}{case.id}", _NOTICE_DISTANCE_M, now):
            queued += 1
    session.flush()
    return queued


def outbox_notice(kind: str) -> tuple[str, dict[str, object]] | None:
    """The response and values an outbox row of this module renders to; None for other kinds."""
    if kind == RECONFIRM_KIND:
        return RECONFIRM_RESPONSE, {"days": settings.cooperator_reconfirm_grace_days}
    if kind.startswith(DONE_KIND_PREFIX) and kind.removeprefix(DONE_KIND_PREFIX).isdigit():
        return DONE_RESPONSE, {"case_id": int(kind.removeprefix(DONE_KIND_PREFIX))}
    return None


def queue_reconfirm_requests(session: Session, now: datetime | None = None) -> int:
    """Queue the yearly request to continue for each due reporter not yet asked this cycle.

    Reporters on the web chat cannot be asked outside a conversation; they lapse like
    anyone who does not answer (and may join again with a new code).

    Returns:
        How many requests were queued.
    """
    now = now or utcnow()
    due = session.scalars(
        select(PartnerReporter)
        .where(PartnerReporter.active.is_(True), PartnerReporter.reconfirm_due <= now,
               or_(PartnerReporter.reconfirm_requested_at.is_(None),
                   PartnerReporter.reconfirm_requested_at < PartnerReporter.reconfirm_due))
        .order_by(PartnerReporter.reconfirm_due, PartnerReporter.id)
        .limit(RECONFIRM_REQUESTS_PER_RUN)
        .with_for_update(skip_locked=True)
    ).all()
    queued = 0
    for reporter in due:
        reporter.reconfirm_requested_at = now
        contact = session.get(Contact, reporter.contact_id)
        if contact is not None and _queue(session, contact, RECONFIRM_KIND, _REQUEST_DISTANCE_M, now):
            queued += 1
    session.flush()
    if queued:
        log.info("partner re-confirmation requests: %d queued", queued)
    return queued


def lapse_unconfirmed(session: Session, now: datetime | None = None) -> int:
    """End the registration of reporters who did not re-confirm within the grace period.

    Returns:
        How many lapsed.
    """
    now = now or utcnow()
    cutoff = now - timedelta(days=settings.cooperator_reconfirm_grace_days)
    lapsed = session.scalars(select(PartnerReporter).where(PartnerReporter.active.is_(True),
                                                           PartnerReporter.reconfirm_due <= cutoff)).all()
    for reporter in lapsed:
        leave(session, reporter.contact_id, now)
    return len(lapsed)


def report_counts(session: Session, *, since: datetime, until: datetime) -> list[PartnerCount]:
    """Partner reports per partner and ward in ``[since, until)``, every partner listed (a
    partner with no report in a ward it covers counts 0 there: the dashboard shows who is quiet).
    """
    partners = {partner.id: partner for partner in list_partners(session)}
    counted = Counter(
        (partner_id, ward or "")
        for partner_id, ward in session.execute(
            select(PartnerReport.partner_id, PartnerReport.ward)
            .where(PartnerReport.created_at >= since, PartnerReport.created_at < until)
        )
    )
    for partner in partners.values():
        for ward in partner.wards:
            counted.setdefault((partner.id, ward), 0)
    return [PartnerCount(partner_id, partners[partner_id].name, partners[partner_id].type.value, ward, reports)
            for (partner_id, ward), reports in sorted(counted.items())]


def report_csv(counts: Sequence[PartnerCount]) -> str:
    """The counts as CSV: one row per partner and ward, then totals per type and per ward."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["group", "partner_id", "partner", "type", "ward", "reports"])
    for row in counts:
        writer.writerow(["partner", row.partner_id, row.partner, row.type, row.ward, row.reports])
    by_type: Counter[str] = Counter()
    by_ward: Counter[str] = Counter()
    for row in counts:
        by_type[row.type] += row.reports
        by_ward[row.ward] += row.reports
    for type_, reports in sorted(by_type.items()):
        writer.writerow(["type", "", "", type_, "", reports])
    for ward, reports in sorted(by_ward.items()):
        writer.writerow(["ward", "", "", "", ward, reports])
    writer.writerow(["total", "", "", "", "", sum(row.reports for row in counts)])
    return out.getvalue()
