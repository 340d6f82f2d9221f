"""Partner businesses under a 見守り協定 (agreements, invitation codes) and their employees who report.

A partner (newspaper delivery, a gas meter reader, a bank…) signs an agreement with the
city; its employees join as reporters on a chat with an invitation code the city gives
the partner. Only the code's hash is kept. A reporter is a contact (no name kept), linked
to the partner; each report they make is a worry case, and a ``PartnerReport`` row ties
the case to the partner and the reporter (for the counts and the 「対応しました」 notice).
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, Enum, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.models.base import Base, utcnow


class PartnerType(str, enum.Enum):
    """What a partner does at residents' doors."""

    newspaper = "newspaper"
    milk = "milk"
    gas = "gas"
    water = "water"
    electricity = "electricity"
    bank = "bank"
    parcel = "parcel"
    convenience_store = "convenience_store"
    other = "other"


class Partner(Base):
    """A partner organisation with a 見守り協定: its type, the wards it covers, its contact."""

    __tablename__ = "partners"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    type: Mapped[PartnerType] = mapped_column(Enum(PartnerType, native_enum=False, length=32))
    # Ward codes of the directory (``towns.csv``): where its employees may report.
    wards: Mapped[list[Any]] = mapped_column(default=list)
    # The organisation's contact for the city (a department, a phone): never a resident's.
    contact: Mapped[str] = mapped_column(Text, default="")
    agreement_date: Mapped[date] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PartnerInvitation(Base):
    """An invitation code for a partner's employees: random, used at most ``max_uses`` times,
    until ``expires_at``. Only the SHA-256 of the code is stored."""

    __tablename__ = "partner_invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    max_uses: Mapped[int] = mapped_column(Integer, default=1)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column()
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    partner: Mapped[Partner] = relationship()


class PartnerReporter(Base):
    """A partner's employee who joined on a chat: the contact, the partner, the consent and
    its yearly re-confirmation (as for cooperators)."""

    __tablename__ = "partner_reporters"

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), unique=True)
    invitation_id: Mapped[int | None] = mapped_column(ForeignKey("partner_invitations.id", ondelete="SET NULL"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    consented_at: Mapped[datetime] = mapped_column(default=utcnow)
    reconfirm_due: Mapped[datetime | None] = mapped_column()
    # When the re-confirmation request was last queued; earlier than reconfirm_due: not yet this cycle.
    reconfirm_requested_at: Mapped[datetime | None] = mapped_column()
    left_at: Mapped[datetime | None] = mapped_column()

    partner: Mapped[Partner] = relationship()


class PartnerReport(Base):
    """One partner report: the case it opened or was linked to, by which partner and reporter.

    ``notified_at`` is set when the reporter was told 「対応しました」 after the case closed."""

    __tablename__ = "partner_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    # None once the case was erased (retention): the report still counts.
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"), index=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"), index=True)
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("partner_reporters.id", ondelete="SET NULL"))
    # The ward the report was about, and what was seen (the counts outlive the case).
    ward: Mapped[str | None] = mapped_column(String(64))
    what_seen: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    notified_at: Mapped[datetime | None] = mapped_column()
