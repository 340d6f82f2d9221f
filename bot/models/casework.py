"""Case work done in the staff console: internal notes, transfers between counters, replies to the resident.

A transfer is a ``CaseEvent`` (``transferred``) on the case itself; this module holds what has
a life of its own: staff's internal notes (never shown to residents) and the outbox of
staff replies to a case's reporter on the reporter's own channel. The reply's words are an
outbound :class:`~bot.models.conversations.Message` of the resident's (kept, exported and
purged with their conversation); the reply row says where it goes and how its sending went,
FixMyStreet style like a case delivery (a state, a fail count, the last attempt and its
failure, a lease while a worker holds it).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.models.base import Base, utcnow

__all__ = ["CaseNote", "ReplyKind", "ReplyState", "StaffReply"]


class CaseNote(Base):
    """An internal note of a staff member on a case (for colleagues, never sent to the resident)."""

    __tablename__ = "case_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReplyState(str, enum.Enum):
    unprocessed = "unprocessed"
    processing = "processing"
    sent = "sent"
    failed = "failed"


class ReplyKind(str, enum.Enum):
    """What a staff reply row carries: staff's own words, or the notice that the bot answers again."""

    reply = "reply"
    handback = "handback"


class StaffReply(Base):
    """One message from staff to a case's reporter, sent after the commit on the reporter's channel.

    ``channel`` is where it goes (``line``, ``telegram``, ``sms``, ``webchat``); the address is
    read when it is sent (the contact's channel id, or the case's call-back number for SMS),
    so an erased resident's reply finds nothing to send to and fails instead.
    """

    __tablename__ = "staff_replies"
    __table_args__ = (Index("ix_staff_replies_claim", "state", "last_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    # The words, as the resident's outbound message (None once retention or erasure removed it).
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    kind: Mapped[ReplyKind] = mapped_column(Enum(ReplyKind, native_enum=False, length=16), default=ReplyKind.reply)
    channel: Mapped[str] = mapped_column(String(32))
    author: Mapped[str] = mapped_column(String(64))
    state: Mapped[ReplyState] = mapped_column(
        Enum(ReplyState, native_enum=False, length=16), default=ReplyState.unprocessed
    )
    fail_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_attempt_at: Mapped[datetime | None] = mapped_column()
    # The lease token of the worker holding a ``processing`` row.
    claimed_at: Mapped[datetime | None] = mapped_column()
    last_failure_reason: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column()
