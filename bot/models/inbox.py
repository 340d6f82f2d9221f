"""The durable inbox: each verified webhook event, committed before the platform is answered.

A row is the raw event as the platform sent it (personal data: erased once processed),
the resident it belongs to (their events are processed in arrival order) and where its
processing stands: ``pending`` → ``processing`` (claimed, with a lease) → ``done``, or
``failed`` after too many attempts. ``channels.inbox`` writes and processes it.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.models.base import Base, utcnow


class InboxState(str, enum.Enum):
    pending = "pending"
    processing = "processing"
    done = "done"
    failed = "failed"


class InboxEvent(Base):
    """One webhook event (a LINE event, a Telegram update) waiting for or past its turn."""

    __tablename__ = "inbox_events"
    __table_args__ = (
        # A redelivered event finds its row: acknowledged again, never processed twice.
        UniqueConstraint("channel", "event_id"),
        # The claim looks for a resident's earliest unfinished event.
        Index("ix_inbox_events_queue", "channel", "resident", "state"),
        Index("ix_inbox_events_state", "state", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(128))
    # The platform's id of the chat or user: one resident's events go in order.
    resident: Mapped[str] = mapped_column(String(128))
    state: Mapped[InboxState] = mapped_column(
        Enum(InboxState, native_enum=False, length=16), default=InboxState.pending
    )
    # The event exactly as verified; None once processed.
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # How many times it was claimed (a crashed attempt counts: the turn may have run).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The current claim (a lease: past it, another worker may take the row) or the last attempt.
    claimed_at: Mapped[datetime | None] = mapped_column()
    processed_at: Mapped[datetime | None] = mapped_column()
    # How the resident was answered: reply (LINE reply token), push (late or refused token),
    # send (a channel without reply tokens), none (nothing to say, or a duplicate).
    answered_with: Mapped[str | None] = mapped_column(String(16))
