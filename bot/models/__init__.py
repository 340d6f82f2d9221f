"""Every database table of tsunagu (SQLAlchemy 2.x typed declarative models), one module per
part: ``base``, ``conversations``, ``cases`` (and their delivery), ``directory`` (HSDS tables and
towns), ``staff``, ``inbox`` (webhook events before processing), ``alerts`` (the missing-person
alert network). Alembic migrations in ``bot/migrations`` are generated from ``Base.metadata``,
which holds them all once this package is imported: importing a table from here is the one
way to reach it.
"""

from __future__ import annotations

from bot.models.alerts import (
    Alert,
    AlertFamily,
    AlertMedia,
    AlertStatus,
    CapMessage,
    Cooperator,
    CooperatorEndpoint,
    OutboxItem,
    OutboxState,
    RegisteredPerson,
    Sighting,
)
from bot.models.base import NAMING_CONVENTION, Base, UTCDateTime, utcnow
from bot.models.cases import Case, CaseEvent, CaseKind, CaseStatus, Delivery, DeliveryState, DeliveryTarget
from bot.models.conversations import Contact, Conversation, Message, MessageDirection
from bot.models.directory import (
    Address,
    Attribute,
    DirectoryImport,
    Location,
    Organization,
    Phone,
    Schedule,
    Service,
    ServiceArea,
    ServiceAtLocation,
    TaxonomyTerm,
    Town,
)
from bot.models.inbox import InboxEvent, InboxState
from bot.models.staff import StaffUser

# Their tables join Base.metadata here too; import a table from its module.
from bot.models import casework, community, console, partners, sensors  # noqa: E402,F401  isort: skip

__all__ = [
    "Address",
    "Alert",
    "AlertFamily",
    "AlertMedia",
    "AlertStatus",
    "Attribute",
    "Base",
    "CapMessage",
    "Case",
    "CaseEvent",
    "CaseKind",
    "CaseStatus",
    "Contact",
    "Conversation",
    "Cooperator",
    "CooperatorEndpoint",
    "Delivery",
    "DeliveryState",
    "DeliveryTarget",
    "DirectoryImport",
    "InboxEvent",
    "InboxState",
    "Location",
    "Message",
    "MessageDirection",
    "NAMING_CONVENTION",
    "Organization",
    "OutboxItem",
    "OutboxState",
    "Phone",
    "RegisteredPerson",
    "Schedule",
    "Service",
    "ServiceArea",
    "ServiceAtLocation",
    "Sighting",
    "StaffUser",
    "TaxonomyTerm",
    "Town",
    "UTCDateTime",
    "utcnow",
]
