"""Cases handed to counters, their events, and their delivery to the counters' targets."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.models.base import Base, utcnow


class CaseKind(str, enum.Enum):
    consult = "consult"
    worry = "worry"
    missing = "missing"
    callback = "callback"


class CaseStatus(str, enum.Enum):
    """Where a case stands. A missing-person case has its own ending: ``found`` or
    ``cancelled`` (the search is over, the alert ended), then ``closed`` once its data is purged."""

    new = "new"
    acknowledged = "acknowledged"
    contacted = "contacted"
    found = "found"
    cancelled = "cancelled"
    closed = "closed"


class Case(Base):
    """A matter handed to one counter, with the deadline for its first contact."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[CaseKind] = mapped_column(Enum(CaseKind, native_enum=False, length=16))
    topic: Mapped[str] = mapped_column(String(32))
    status: Mapped[CaseStatus] = mapped_column(
        Enum(CaseStatus, native_enum=False, length=16), default=CaseStatus.new, index=True
    )
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    counter_id: Mapped[str] = mapped_column(String(64), index=True)
    town_id: Mapped[str | None] = mapped_column(String(64))
    sphere: Mapped[str | None] = mapped_column(String(64))
    ward: Mapped[str | None] = mapped_column(String(64))
    # Normalised place of the person concerned (town + 丁目/番地) used to link repeat reports.
    household_key: Mapped[str | None] = mapped_column(String(255), index=True)
    routing_reason: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    channel: Mapped[str | None] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(8), default="ja")
    # Only kept when the reporter agreed to be called back.
    reporter_contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    callback_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    first_contact_due: Mapped[datetime | None] = mapped_column()
    acknowledged_at: Mapped[datetime | None] = mapped_column()
    contacted_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    close_reason: Mapped[str | None] = mapped_column(Text)
    # Repeat worry reports about the same household are linked here instead of opening a
    # new case; the linking window runs from the latest report.
    report_count: Mapped[int] = mapped_column(Integer, default=1)
    last_report_at: Mapped[datetime] = mapped_column(default=utcnow)

    events: Mapped[list[CaseEvent]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="CaseEvent.id"
    )
    deliveries: Mapped[list[Delivery]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="Delivery.id"
    )


class CaseEvent(Base):
    """Something that happened to a case: created, a linked repeat report, a status change."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    actor: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    case: Mapped[Case] = relationship(back_populates="events")


class DeliveryState(str, enum.Enum):
    unprocessed = "unprocessed"
    processing = "processing"
    sent = "sent"
    failed = "failed"


class DeliveryTarget(Base):
    """Where a counter receives its cases: e-mail, a signed JSON webhook, or the console inbox."""

    __tablename__ = "delivery_targets"
    __table_args__ = (UniqueConstraint("counter_id", "method", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    counter_id: Mapped[str] = mapped_column(String(64), index=True)
    method: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(512), default="")
    secret: Mapped[str | None] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Delivery(Base):
    """One case event (creation or a linked repeat report) sent to one target.

    FixMyStreet-style: a state, a fail count, the last attempt and its failure reason;
    the back-off is computed from these in the claim query.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("case_event_id", "target_id"),
        Index("ix_deliveries_claim", "state", "last_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    case_event_id: Mapped[int] = mapped_column(ForeignKey("case_events.id", ondelete="CASCADE"))
    target_id: Mapped[int] = mapped_column(ForeignKey("delivery_targets.id", ondelete="CASCADE"))
    state: Mapped[DeliveryState] = mapped_column(
        Enum(DeliveryState, native_enum=False, length=16), default=DeliveryState.unprocessed
    )
    fail_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_attempt_at: Mapped[datetime | None] = mapped_column()
    # The lease token of the worker holding a ``processing`` row, renewed while it works.
    claimed_at: Mapped[datetime | None] = mapped_column()
    last_failure_reason: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column()

    case: Mapped[Case] = relationship(back_populates="deliveries")
    event: Mapped[CaseEvent] = relationship()
    target: Mapped[DeliveryTarget] = relationship()
