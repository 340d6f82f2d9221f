"""Fixtures and helpers for whole-conversation flow tests.

Each test talks to the real engine on a real database (SQLite and PostgreSQL), turn by
turn, and asserts what the turn chose rather than how a city words it: the domain.yml
responses said (``said``), the effects, and what the conversation kept (``left``: the
active flow, its step and slots). The alert network's channels are configured and its
fan-out is not woken (``tests.alerts.conftest``), so queued rows stay for inspection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from bot.db import session_scope
from bot.domain import load_domain
from bot.engine import UNCLEAR_SLOT
from bot.messages import TurnResult
from bot.models import Case, Contact, Conversation, RegisteredPerson
from flows.base import CHOICES_SLOT, PROMPT_SLOT
# The engine as the app wires it, a resident to talk to it, and the alert network's set-up:
# the same fixtures as tests/bot and tests/alerts, not copies.
from tests.alerts.conftest import alert_channels, kicks  # noqa: F401 - autouse fixtures
from tests.bot.conftest import Resident, engine, resident  # noqa: F401 - fixtures

__all__ = ["Left", "cases", "effects", "left", "persons", "pre_register", "rendered", "said"]


@dataclass(frozen=True)
class Left:
    """What a conversation kept after a turn: the active flow, its step and its slots."""

    flow: str | None
    step: str | None
    slots: dict[str, Any]


def said(turn: TurnResult) -> list[str | None]:
    """The domain.yml responses a turn said, in order."""
    return [reply.response for reply in turn.replies]


def rendered(response: str, language: str = "ja", channel: str | None = None, /, **values: Any) -> str:
    """A response as domain.yml words it, for checking the values a reply shows."""
    return load_domain().text(response, language, channel, **values)


def effects(turn: TurnResult) -> list[tuple[str, dict[str, Any]]]:
    return [(effect.kind, effect.data) for effect in turn.effects]


def left(db_url: str, resident: Resident) -> Left:
    """The resident's current conversation, without the engine's own prompt bookkeeping."""
    with session_scope(db_url) as session:
        conversation = session.scalars(
            select(Conversation).join(Contact)
            .where(Contact.channel == resident.channel, Contact.channel_user_id == resident.user_id,
                   Conversation.active.is_(True))
            .order_by(Conversation.id.desc())
        ).first()
        assert conversation is not None, "the resident has no active conversation"
        slots = {key: value for key, value in conversation.slots.items() if key not in (PROMPT_SLOT, CHOICES_SLOT, UNCLEAR_SLOT)}
        return Left(conversation.flow, conversation.step, slots)


def cases(db_url: str) -> list[Case]:
    with session_scope(db_url) as session:
        return list(session.scalars(select(Case).order_by(Case.id)))


def persons(db_url: str) -> list[RegisteredPerson]:
    with session_scope(db_url) as session:
        return list(session.scalars(select(RegisteredPerson).order_by(RegisteredPerson.id)))


def pre_register(family: Resident) -> TurnResult:
    """A family pre-registers 82歳 女性 of 南区 朝日町 with a photo, up to the confirmation
    (height 150–160 cm, build not known, name and photo not shown in alerts)."""
    family.send(postback="intent:register_person")
    family.send(postback="agree")
    family.send("82歳 女性 白髪 杖をつく")
    family.send(postback="feature:height:150_160")
    family.send(postback="feature:build:")
    family.send("南区朝日町")
    family.send(media_ref="line-content:photo-1")
    family.send("駅前のスーパー")
    family.send("長男 090-1234-5678")
    return family.send(postback="share:no")
