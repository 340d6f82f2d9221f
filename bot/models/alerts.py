"""The missing-person alert network: cooperators and their endpoints, registered persons, alerts,
the outbox of messages to cooperators, and sightings."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Enum, Float, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.models.base import Base, utcnow


class Cooperator(Base):
    """A registered 協力者. Area kept at town precision only (never an exact location)."""

    __tablename__ = "cooperators"

    id: Mapped[int] = mapped_column(primary_key=True)
    town_id: Mapped[str | None] = mapped_column(String(64), index=True)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    quiet_start: Mapped[str | None] = mapped_column(String(5))
    quiet_end: Mapped[str | None] = mapped_column(String(5))
    language: Mapped[str] = mapped_column(String(8), default="ja")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    consented_at: Mapped[datetime] = mapped_column(default=utcnow)
    reconfirm_due: Mapped[datetime | None] = mapped_column()
    # When utter_helper_reconfirm_request was last sent; earlier than reconfirm_due means
    # the current cycle's request is still to be sent.
    reconfirm_requested_at: Mapped[datetime | None] = mapped_column()
    # Missing-person alerts reach a cooperator even in their quiet hours, unless they said
    # explicitly that they want none at night (issue 17 item 4).
    night_alerts: Mapped[bool] = mapped_column(Boolean, default=True)

    endpoints: Mapped[list[CooperatorEndpoint]] = relationship(
        back_populates="cooperator", cascade="all, delete-orphan", order_by="CooperatorEndpoint.priority"
    )


class CooperatorEndpoint(Base):
    """One way to reach a cooperator (LINE id, Telegram chat, e-mail, SMS); lowest priority first."""

    __tablename__ = "cooperator_endpoints"
    __table_args__ = (UniqueConstraint("channel", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cooperator_id: Mapped[int] = mapped_column(ForeignKey("cooperators.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(255))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    cooperator: Mapped[Cooperator] = relationship(back_populates="endpoints")


class RegisteredPerson(Base):
    """事前登録: a relative at risk of going missing, registered in advance by the family."""

    __tablename__ = "registered_persons"

    id: Mapped[int] = mapped_column(primary_key=True)
    family_contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    town_id: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    photo_ref: Mapped[str | None] = mapped_column(String(512))
    usual_places: Mapped[str] = mapped_column(Text, default="")
    emergency_contacts: Mapped[str] = mapped_column(Text, default="")
    # The structured features an alert text is composed from (alerts.texts.PUBLIC_FIELDS),
    # and the name, reading and diagnosis, which go out only with ``share_identity``.
    features: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The family's explicit consent to show name, diagnosis and photo to cooperators (default no).
    share_identity: Mapped[bool] = mapped_column(Boolean, default=False)
    consented_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AlertStatus(str, enum.Enum):
    pending = "pending"
    active = "active"
    found = "found"
    cancelled = "cancelled"


class Alert(Base):
    """A missing-person alert; personal fields are cleared at purge_after, statistics stay."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("registered_persons.id", ondelete="SET NULL"))
    status: Mapped[AlertStatus] = mapped_column(
        Enum(AlertStatus, native_enum=False, length=16), default=AlertStatus.pending, index=True
    )
    ward: Mapped[str | None] = mapped_column(String(64))
    town_id: Mapped[str | None] = mapped_column(String(64))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    last_seen_at: Mapped[datetime | None] = mapped_column()
    description: Mapped[str | None] = mapped_column(Text)
    clothing: Mapped[str | None] = mapped_column(Text)
    photo_ref: Mapped[str | None] = mapped_column(String(512))
    radius_km: Mapped[float | None] = mapped_column(Float)
    stage: Mapped[int] = mapped_column(Integer, default=0)
    approved_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    approved_at: Mapped[datetime | None] = mapped_column()
    next_widen_at: Mapped[datetime | None] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
    purge_after: Mapped[datetime | None] = mapped_column()
    purged: Mapped[bool] = mapped_column(Boolean, default=False)
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # What the public text is composed from (alerts.texts): structured features, never the
    # family's free text; the desk may edit them before approval. Personal: purged.
    public_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The family consented to show name, diagnosis and photo to cooperators (default no).
    share_identity: Mapped[bool] = mapped_column(Boolean, default=False)


class OutboxState(str, enum.Enum):
    queued = "queued"
    sending = "sending"
    sent = "sent"
    failed = "failed"
    cancelled = "cancelled"


class OutboxItem(Base):
    """One message to one cooperator: of an alert (the unique key makes a re-run enqueue nothing
    twice), or a re-confirmation request (``kind`` reconfirm, no alert)."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("alert_id", "cooperator_id", "kind"),
        Index("ix_outbox_claim", "state", "channel", "next_attempt_at", "distance_m"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    # None for a message to the family or the police (a sighting forwarded by the desk).
    cooperator_id: Mapped[int | None] = mapped_column(ForeignKey("cooperators.id", ondelete="CASCADE"))
    # The family member a forwarded sighting goes to (their language is the contact's).
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    # The sighting a ``sighting`` row forwards.
    sighting_id: Mapped[int | None] = mapped_column(ForeignKey("sightings.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16), default="alert")
    channel: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(255))
    distance_m: Mapped[float] = mapped_column(Float, default=0.0)
    state: Mapped[OutboxState] = mapped_column(
        Enum(OutboxState, native_enum=False, length=16), default=OutboxState.queued
    )
    fail_count: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    last_failure_reason: Mapped[str | None] = mapped_column(Text)
    claimed_at: Mapped[datetime | None] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column()
    # LINE's X-Line-Retry-Key of the multicast carrying the row (a random UUID, so unique
    # per installation); kept while the send may have been accepted, cleared when requeued.
    retry_key: Mapped[str | None] = mapped_column(String(36))
    # The platform's id of the accepted request (LINE x-line-request-id) and of the message
    # (Telegram message_id), so a sent message can be withdrawn.
    request_id: Mapped[str | None] = mapped_column(String(64))
    message_id: Mapped[str | None] = mapped_column(String(64))


class Sighting(Base):
    """A cooperator's report of seeing the person of an alert; purged with the alert."""

    __tablename__ = "sightings"

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    text: Mapped[str | None] = mapped_column(Text)
    town_id: Mapped[str | None] = mapped_column(String(64))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    seen_at: Mapped[datetime | None] = mapped_column()
    photo_ref: Mapped[str | None] = mapped_column(String(512))
    group_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The desk's decisions: a confirmed sighting is the new "last seen" of the widening text.
    confirmed_at: Mapped[datetime | None] = mapped_column()
    confirmed_by: Mapped[str | None] = mapped_column(String(64))
    forwarded_family_at: Mapped[datetime | None] = mapped_column()
    forwarded_police_at: Mapped[datetime | None] = mapped_column()


class AlertFamily(Base):
    """A family member linked to an alert: the reporter, or someone the desk named.

    They receive the sightings the desk forwards (``alerts.sightings.forward_sighting``).
    """

    __tablename__ = "alert_family"
    __table_args__ = (UniqueConstraint("alert_id", "contact_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    # "reporter" (linked when the alert is created) or "named" (by the desk).
    role: Mapped[str] = mapped_column(String(16), default="reporter")
    added_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CapMessage(Base):
    """One CAP 1.2 message of an alert exactly as it was issued: the Alert at approval, an
    Update at each widening, the Cancel at the end (``alerts.cap``). Never rewritten; the
    XML (it describes the person) is erased with the alert's other personal data."""

    __tablename__ = "cap_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    identifier: Mapped[str] = mapped_column(String(255), unique=True)
    msg_type: Mapped[str] = mapped_column(String(16))
    stage: Mapped[int] = mapped_column(Integer)
    sent: Mapped[datetime] = mapped_column()
    xml: Mapped[str | None] = mapped_column(Text)


class AlertMedia(Base):
    """An alert's photo (shared with the family's consent), copied from the platform it was sent
    on so that every channel can fetch it at an unguessable public address while the alert runs
    (a LINE image message needs one); deleted as soon as the alert ends."""

    __tablename__ = "alert_media"

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), unique=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    content_type: Mapped[str] = mapped_column(String(32))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
