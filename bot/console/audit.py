"""The audit log: who viewed or changed what, and when.

Every console page that shows a case or a person's data, and every change, calls
:func:`audit` in the same transaction as what it records (the caller commits), so a change
and its row are written together or not at all. Rows hold ids only — the staff member, an
action word, the object's type and id — never names, texts or contact details; admins read
them at ``/staff/admin/audit`` and export them as CSV (:func:`audit_csv`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from bot.models import StaffUser
from bot.models.console import AuditEntry

__all__ = ["AuditFilter", "audit", "audit_csv", "audit_entries"]

CSV_HEADER = ("id", "at", "staff_user_id", "username", "action", "object_type", "object_id")


def audit(session: Session, user: StaffUser | None, action: str, object_type: str, object_id: object) -> AuditEntry:
    """Record that ``user`` did ``action`` to an object (the caller commits with its own change).

    Args:
        session: the request's session.
        user: the staff member; None for the system itself.
        action: a short word: "view", "login", "acknowledge", "reply", "approve", …
        object_type: what was touched: "case", "alert", "person", "cooperator", "staff_user", …
        object_id: its id (numbers and string ids alike).

    Returns:
        The new row (flushed).
    """
    entry = AuditEntry(staff_user_id=user.id if user is not None else None, action=action[:32],
                       object_type=object_type[:32], object_id=str(object_id)[:64])
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class AuditFilter:
    """What the admin narrowed the log to; empty fields do not narrow."""

    staff_user_id: int | None = None
    action: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def apply(self, query: Select[tuple[AuditEntry, StaffUser | None]]) -> Select[tuple[AuditEntry, StaffUser | None]]:
        if self.staff_user_id is not None:
            query = query.where(AuditEntry.staff_user_id == self.staff_user_id)
        for column, value in ((AuditEntry.action, self.action), (AuditEntry.object_type, self.object_type),
                              (AuditEntry.object_id, self.object_id)):
            if value:
                query = query.where(column == value)
        if self.since is not None:
            query = query.where(AuditEntry.at >= self.since)
        if self.until is not None:
            query = query.where(AuditEntry.at < self.until)
        return query


def audit_entries(session: Session, where: AuditFilter = AuditFilter(), *, limit: int | None = 200,
                  offset: int = 0) -> Sequence[tuple[AuditEntry, StaffUser | None]]:
    """The log's rows newest first, each with its staff member (None for the system)."""
    query = select(AuditEntry, StaffUser).outerjoin(StaffUser, StaffUser.id == AuditEntry.staff_user_id)
    query = where.apply(query).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return [(entry, user) for entry, user in session.execute(query)]


def _cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: a leading = + - @ would run as a formula."""
    text = str(value)
    return f"'{text}" if text[:1] in {"=", "+", "-", "@", "\t", "\r"} else text


def audit_csv(rows: Iterable[tuple[AuditEntry, StaffUser | None]]) -> str:
    """The rows as CSV (UTC ISO times), with a header line."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for entry, user in rows:
        writer.writerow([entry.id, entry.at.isoformat(), entry.staff_user_id or "",
                         _cell(user.username if user is not None else ""), _cell(entry.action),
                         _cell(entry.object_type), _cell(entry.object_id)])
    return out.getvalue()
