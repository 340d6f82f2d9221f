"""All database tables of tsunagu, in one place (SQLAlchemy 2.x typed declarative models).

Sections: conversation state (contacts, conversations, messages), cases and their
delivery to counters, the counter directory (Open Referral HSDS tables + towns),
staff, and the missing-person alert network (cooperators, persons, alerts, outbox,
sightings). Alembic migrations in ``bot/migrations`` are generated from these.
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Deterministic constraint names so Alembic migrations are identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every engine (SQLite would hand back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use utcnow()")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


# --------------------------------------------------------------------------- conversations


class Contact(Base):
    """A resident, cooperator or family member as one channel knows them (no name kept)."""

    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("channel", "channel_user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    channel_user_id: Mapped[str] = mapped_column(String(128))
    language: Mapped[str] = mapped_column(String(8), default="ja")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Conversation(Base):
    """The state of one contact's current dialogue: which flow is active and its slots."""

    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    flow: Mapped[str | None] = mapped_column(String(64))
    step: Mapped[str | None] = mapped_column(String(64))
    slots: Mapped[dict[str, Any]] = mapped_column(default=dict)
    language: Mapped[str] = mapped_column(String(8), default="ja")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set by the engine to the message's time (not the wall clock) so the quiet-period
    # timeout follows the conversation's own clock.
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    contact: Mapped[Contact] = relationship()


class MessageDirection(str, enum.Enum):
    inbound = "inbound"
    outbound = "outbound"


class Message(Base):
    """One message in or out. The text is personal data: purged after the retention period."""

    __tablename__ = "messages"
    __table_args__ = (UniqueConstraint("channel", "channel_event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id", ondelete="SET NULL"))
    direction: Mapped[MessageDirection] = mapped_column(Enum(MessageDirection, native_enum=False, length=16))
    channel: Mapped[str] = mapped_column(String(32))
    # Platform event id (LINE webhookEventId, Telegram update_id, Twilio CallSid+step): the
    # unique constraint is what makes redelivered webhooks harmless.
    channel_event_id: Mapped[str | None] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16), default="text")
    text: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    intent: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


# --------------------------------------------------------------------------- cases


class CaseKind(str, enum.Enum):
    consult = "consult"
    worry = "worry"
    missing = "missing"
    callback = "callback"


class CaseStatus(str, enum.Enum):
    new = "new"
    acknowledged = "acknowledged"
    contacted = "contacted"
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
    last_failure_reason: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column()

    case: Mapped[Case] = relationship(back_populates="deliveries")
    event: Mapped[CaseEvent] = relationship()
    target: Mapped[DeliveryTarget] = relationship()


# --------------------------------------------------------------------------- directory (HSDS)


class DirectoryImport(Base):
    """One successful directory import; its random token keys the in-memory directory caches."""

    __tablename__ = "directory_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(32), unique=True)
    source: Mapped[str] = mapped_column(String(1024), default="")
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")


class Service(Base):
    """A counter (窓口) or a hotline: the thing a resident is sent to."""

    __tablename__ = "services"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(32), default="active")
    languages: Mapped[str] = mapped_column(String(64), default="ja")
    first_contact_hours: Mapped[int | None] = mapped_column(Integer)
    # Row order in services.csv: the directory's own order breaks ties and orders hotlines.
    position: Mapped[int] = mapped_column(Integer, default=0)

    organization: Mapped[Organization] = relationship()
    phones: Mapped[list[Phone]] = relationship(order_by="Phone.id")
    schedules: Mapped[list[Schedule]] = relationship(order_by="Schedule.id")
    service_areas: Mapped[list[ServiceArea]] = relationship(order_by="ServiceArea.id")


class Location(Base):
    __tablename__ = "locations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)


class Address(Base):
    __tablename__ = "addresses"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    location_id: Mapped[str] = mapped_column(ForeignKey("locations.id"), index=True)
    address_1: Mapped[str] = mapped_column(String(255))
    city: Mapped[str] = mapped_column(String(128), default="")
    state_province: Mapped[str] = mapped_column(String(128), default="")
    postal_code: Mapped[str] = mapped_column(String(16), default="")
    country: Mapped[str] = mapped_column(String(8), default="JP")


class ServiceAtLocation(Base):
    __tablename__ = "services_at_location"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id"), index=True)
    location_id: Mapped[str] = mapped_column(ForeignKey("locations.id"))


class Phone(Base):
    __tablename__ = "phones"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id"), index=True)
    number: Mapped[str] = mapped_column(String(32))
    type: Mapped[str] = mapped_column(String(16), default="voice")
    language: Mapped[str] = mapped_column(String(8), default="ja")


class Schedule(Base):
    __tablename__ = "schedules"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id"), index=True)
    freq: Mapped[str] = mapped_column(String(16), default="WEEKLY")
    byday: Mapped[str] = mapped_column(String(64))
    opens_at: Mapped[str] = mapped_column(String(5))
    closes_at: Mapped[str] = mapped_column(String(5))
    notes: Mapped[str] = mapped_column(Text, default="")


class ServiceArea(Base):
    __tablename__ = "service_areas"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    # A care area (kita-1), a ward (kita), "city" or "japan".
    area_code: Mapped[str] = mapped_column(String(64), index=True)


class TaxonomyTerm(Base):
    __tablename__ = "taxonomy_terms"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    taxonomy: Mapped[str] = mapped_column(String(64))


class Attribute(Base):
    __tablename__ = "attributes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    link_id: Mapped[str] = mapped_column(String(64), index=True)
    link_type: Mapped[str] = mapped_column(String(32))
    taxonomy_term_id: Mapped[str] = mapped_column(ForeignKey("taxonomy_terms.id"))


class Town(Base):
    """A town (町) with its care area (sphere), ward, readings and polygon (GeoJSON)."""

    __tablename__ = "towns"

    town_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    ward: Mapped[str] = mapped_column(String(64))
    town: Mapped[str] = mapped_column(String(64))
    sphere: Mapped[str] = mapped_column(String(64), index=True)
    ward_code: Mapped[str] = mapped_column(String(64))
    postal_code: Mapped[str] = mapped_column(String(16), index=True)
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    ward_kana: Mapped[str] = mapped_column(String(64), default="")
    town_kana: Mapped[str] = mapped_column(String(64), default="")
    ward_romaji: Mapped[str] = mapped_column(String(64), default="")
    town_romaji: Mapped[str] = mapped_column(String(64), default="")
    geometry: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Row order in towns.csv, so wards and towns are offered in the city's own order.
    position: Mapped[int] = mapped_column(Integer, default=0)


# --------------------------------------------------------------------------- staff


class StaffUser(Base):
    """A counter's staff member; sees only the cases of the counters listed in counter_ids."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    counter_ids: Mapped[list[Any]] = mapped_column(default=list)
    can_approve_alerts: Mapped[bool] = mapped_column(Boolean, default=False)
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --------------------------------------------------------------------------- missing-person alerts


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
    cooperator_id: Mapped[int] = mapped_column(ForeignKey("cooperators.id", ondelete="CASCADE"))
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
