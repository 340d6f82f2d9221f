"""Sensors in registered households, their events and the 安否確認 each event starts.

A *household* is registered by the city with the consent of the person or their family
(``consent_by``); it is tied to a town (never an exact address here) and, when the
person is also pre-registered for missing-person alerts, to their ``RegisteredPerson``.
Its *family contacts* are the chats (LINE, Telegram), phone numbers (SMS) or e-mail
addresses the 安否確認 messages go to. A *device* (smart meter, motion sensor, call
button) belongs to one household; its key is never stored (``alerts.sensors``: it is
derived from the installation's secret, the device id and ``key_version``). Every
accepted event is a row (its ``event_id`` is the replay guard), and each event that
calls for one starts a :class:`SafetyCheck`, whose times are the workflow's record.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.models.base import Base, utcnow

__all__ = [
    "CheckStatus",
    "SafetyCheck",
    "SensorDevice",
    "SensorEvent",
    "SensorFamilyContact",
    "SensorHousehold",
]


class SensorHousehold(Base):
    """A high-risk single household with sensors, registered with consent (no name kept)."""

    __tablename__ = "sensor_households"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The city's own reference for the household (a file number), never a name.
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    town_id: Mapped[str] = mapped_column(String(64), index=True)
    # Who consented: the person themselves ("person") or their family ("family").
    consent_by: Mapped[str] = mapped_column(String(16))
    consented_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The person's pre-registration for missing-person alerts, when there is one.
    person_id: Mapped[int | None] = mapped_column(ForeignKey("registered_persons.id", ondelete="SET NULL"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    contacts: Mapped[list[SensorFamilyContact]] = relationship(
        back_populates="household", cascade="all, delete-orphan", order_by="SensorFamilyContact.priority"
    )
    devices: Mapped[list[SensorDevice]] = relationship(back_populates="household", cascade="all, delete-orphan")


class SensorFamilyContact(Base):
    """One way to reach the household's family: a LINE user, a Telegram chat, an SMS number or an
    e-mail address (``channel``/``address`` as the alert outbox sends to them)."""

    __tablename__ = "sensor_family_contacts"
    __table_args__ = (
        UniqueConstraint("household_id", "channel", "address"),
        Index("ix_sensor_family_contacts_reach", "channel", "address"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("sensor_households.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(255))
    language: Mapped[str] = mapped_column(String(8), default="ja")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    household: Mapped[SensorHousehold] = relationship(back_populates="contacts")


class SensorDevice(Base):
    """A sensor of a household. ``threshold_hours``: how long without electricity use or motion
    starts a 安否確認 (None: the device type's default setting)."""

    __tablename__ = "sensor_devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The id the device sends (printed on it, given to the vendor): unique in the city.
    device_id: Mapped[str] = mapped_column(String(64), unique=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("sensor_households.id", ondelete="CASCADE"), index=True)
    device_type: Mapped[str] = mapped_column(String(16))
    # Bumped to issue the device a new key (the old one stops working at once).
    key_version: Mapped[int] = mapped_column(Integer, default=1)
    threshold_hours: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_event_at: Mapped[datetime | None] = mapped_column()

    household: Mapped[SensorHousehold] = relationship(back_populates="devices")


class SensorEvent(Base):
    """One accepted event of a device; (device, event_id) is unique, so a replay is refused."""

    __tablename__ = "sensor_events"
    __table_args__ = (UniqueConstraint("device_pk", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    device_pk: Mapped[int] = mapped_column(ForeignKey("sensor_devices.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(16))
    observed_at: Mapped[datetime] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # What the event did: "check_started", "joined_check", "below_threshold", "notice", ...
    outcome: Mapped[str] = mapped_column(String(32), default="")
    check_id: Mapped[int | None] = mapped_column(ForeignKey("safety_checks.id", ondelete="SET NULL"))
    # The device's own figures (hours without use, battery): no personal data.
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class CheckStatus(str, enum.Enum):
    """Where a 安否確認 stands: waiting for the family, confirmed safe, handed to the hub as a
    case, or (a device offline) a notice the hub was given."""

    pending = "pending"
    confirmed = "confirmed"
    escalated = "escalated"
    notice = "notice"


class SafetyCheck(Base):
    """One 安否確認 of a household, with the time of each step of the workflow."""

    __tablename__ = "safety_checks"
    __table_args__ = (Index("ix_safety_checks_due", "status", "escalate_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("sensor_households.id", ondelete="CASCADE"), index=True)
    device_pk: Mapped[int | None] = mapped_column(ForeignKey("sensor_devices.id", ondelete="SET NULL"))
    # The event that started it: no_power_use, no_motion, call_button or offline.
    trigger: Mapped[str] = mapped_column(String(16))
    status: Mapped[CheckStatus] = mapped_column(
        Enum(CheckStatus, native_enum=False, length=16), default=CheckStatus.pending, index=True
    )
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Escalated to the hub at this time unless the family answered (settings.sensor_check_wait_minutes).
    escalate_at: Mapped[datetime | None] = mapped_column()
    answered_at: Mapped[datetime | None] = mapped_column()
    # "confirmed", "unreachable" or "emergency" (the family wrote of danger).
    answer: Mapped[str | None] = mapped_column(String(16))
    answered_by: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    escalated_at: Mapped[datetime | None] = mapped_column()
    # Why: "call_button", "no_answer", "unreachable", "emergency", "offline".
    escalation: Mapped[str | None] = mapped_column(String(16))
    confirmed_at: Mapped[datetime | None] = mapped_column()
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(Text)
