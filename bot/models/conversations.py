"""Conversation state: contacts (one per channel user), conversations with their slots, messages."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.models.base import Base, utcnow


class Contact(Base):
    """A resident, cooperator or family member as one channel knows them (no name kept)."""

    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("channel", "channel_user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    channel_user_id: Mapped[str] = mapped_column(String(128))
    language: Mapped[str] = mapped_column(String(8), default="ja")
    # "easy" once the resident writes in やさしい日本語 or asks for it, until they write ordinary
    # Japanese (intents.register): on the contact, so a preference asked for is kept.
    register: Mapped[str | None] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The case whose staff hold this resident's chat (they replied from the console): the bot
    # stays quiet but for the safety layer, and the resident's words go to that case, until
    # staff hand back. On the contact, not the conversation: a held chat outlives the
    # conversation's quiet-period timeout. No foreign key (cases refer to contacts already);
    # the engine lets go of a case that is gone.
    held_case_id: Mapped[int | None] = mapped_column(Integer)


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


# The kind of an outbound message a staff member wrote from the console (not the bot's turn).
STAFF_MESSAGE_KIND = "staff"


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
