"""The staff console's own tables: login sessions and the audit log of every view and change
(accounts and roles live in staff.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.models.base import Base, utcnow

__all__ = ["AuditEntry", "StaffSession"]


class StaffSession(Base):
    """One console login. The browser holds a signed cookie with the session's id; the row
    holds when it was last used (the idle time-out), and logging out deletes it."""

    __tablename__ = "staff_sessions"

    # SHA-256 of the session id: a copy of this table does not let anyone in.
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"), index=True)
    # The account's session_epoch at login: a password change ends older sessions.
    epoch: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    """Who viewed or changed what, and when. Ids only: no names, texts or contact details."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    staff_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), index=True)
    action: Mapped[str] = mapped_column(String(32), index=True)
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(64))
