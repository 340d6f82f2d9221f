"""The one message shape every channel speaks with the engine, in and out.

Channels turn platform events into ``InboundMessage`` and render ``Reply`` objects in
their platform's form (LINE quick replies, Telegram keyboards, TwiML <Say>/<Gather>,
web chat JSON). They never decide what to say; the engine and flows never see a
platform object.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from bot.models import utcnow

__all__ = [
    "Choice",
    "Handoff",
    "InboundMessage",
    "Reply",
    "TurnResult",
    "Effect",
    "EffectKind",
    "InboundEvent",
    "coarse_point",
    "storable_text",
    "turn_record",
]

# What PostgreSQL text and JSON cannot hold or carry: NUL and the other C0 control
# characters (tab, line feed and carriage return are ordinary text), and surrogate code
# points, which in a Python str are always unpaired and cannot be encoded as UTF-8.
_UNSTORABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


# What is kept of a position a resident sent: rounded to this many degrees (about 500 m),
# enough to search an area or pick its town, not enough to find a house.
COARSE_DEGREES = 0.005


def coarse_point(latitude: float, longitude: float) -> tuple[float, float]:
    """A position rounded to about 500 m: what is stored of a location a resident sent, never the exact point."""
    def rounded(degrees: float) -> float:
        return round(round(degrees / COARSE_DEGREES) * COARSE_DEGREES, 3)
    return rounded(latitude), rounded(longitude)


def storable_text(text: str) -> str:
    """``text`` without the characters a database or a JSON reply cannot hold (NUL, C0, lone surrogates)."""
    return _UNSTORABLE.sub("", text)


def _storable(value: Any) -> Any:
    """``value`` with every string in it (nested in dicts and lists too) made storable."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        return {_storable(key): _storable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(item) for item in value]
    return value


InboundEvent = Literal[
    "message",  # text, location, postback, image
    "follow",  # LINE follow / Telegram /start / a web chat opening
    "unfollow",  # the resident blocked or left: deactivate the contact
    "call_start",  # a phone call was answered
    "silence",  # the caller said nothing: repeat the last prompt
    "recording",  # a recorded voice message (media_ref is its URL)
    "dial_ended",  # the phone line's call to a counter ended (metadata "dial_status": busy, no-answer, …)
]


@dataclass(frozen=True)
class InboundMessage:
    """One event from a resident, whatever the channel."""

    channel: str
    user_id: str
    event: InboundEvent = "message"
    text: str | None = None
    postback: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    address: str | None = None
    media_ref: str | None = None
    # Platform event id (LINE webhookEventId, Telegram update_id, ...). A second event
    # with the same id on the same channel is ignored.
    event_id: str | None = None
    received_at: datetime = field(default_factory=utcnow)
    # A language hint from the channel (console --lang en, LINE/Telegram user language).
    language: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # The one place every channel's platform input passes through: a NUL byte or a
        # lone surrogate from a resident must get a normal reply, not a failed insert.
        for message_field in fields(self):
            value = getattr(self, message_field.name)
            if isinstance(value, str | dict):
                object.__setattr__(self, message_field.name, _storable(value))

    @property
    def has_location(self) -> bool:
        return self.latitude is not None and self.longitude is not None

    @property
    def speech_confidence(self) -> float | None:
        """How sure the phone's speech recogniser was of ``text`` (0-1); None for typed or keyed input."""
        value = self.metadata.get("confidence")
        return value if isinstance(value, float) else None


@dataclass(frozen=True)
class Choice:
    """A button. ``payload`` comes back as ``InboundMessage.postback``; ``digit`` is its phone key."""

    title: str
    payload: str
    digit: str | None = None
    # A choice said in another language than the conversation's, its title as it is said
    # (the phone menu's "For English, press 8", in the English voice).
    language: str | None = None


@dataclass(frozen=True)
class Handoff:
    """Connect the resident to a person: a voice channel dials when open, records otherwise."""

    counter_id: str
    counter_name: str
    phone: str
    open_now: bool


@dataclass(frozen=True)
class Reply:
    """One thing to say. Channels that cannot show buttons list choices as numbered lines."""

    text: str
    choices: tuple[Choice, ...] = ()
    request_location: bool = False
    # With request_location: the "send my location" button's label, in the resident's language.
    location_label: str = ""
    urgent: bool = False
    handoff: Handoff | None = None
    # The voice channel records a message after this reply (after-hours handoff).
    record: bool = False
    # The conversation is over (voice: hang up after speaking).
    end: bool = False
    # The resident asked to wait (「メモします」): the phone pauses, then says this slowly.
    slow: bool = False
    # Said in this language rather than the conversation's (the greeting's "For English, press 8").
    language: str | None = None
    # The domain.yml response this text was rendered from: tests and logs name what was
    # said without depending on a city's wording.
    response: str | None = None


class EffectKind(StrEnum):
    """What a turn (or a staff action) did besides talking.

    Some of them set background work in motion once the turn is committed (see
    ``bot.effects``); the others are reported for logs and tests.
    """

    # A case was opened for a counter / a second report was linked to an open case:
    # both are delivered to the counter.
    case_created = "case_created"
    case_linked = "case_linked"
    # The resident added details to a case of theirs (later words of the same conversation):
    # delivered to the counter as an update.
    case_updated = "case_updated"
    # A missing-person alert was created (pending staff approval) / has messages queued
    # in the outbox, which the fan-out then sends.
    alert_created = "alert_created"
    alert_queued = "alert_queued"
    # The reporting family said the person was found: their alert ended (``status``: found
    # when it was active, cancelled when it was still pending).
    alert_ended = "alert_ended"
    sighting_recorded = "sighting_recorded"
    cooperator_registered = "cooperator_registered"
    cooperator_unsubscribed = "cooperator_unsubscribed"
    person_registered = "person_registered"
    person_deleted = "person_deleted"
    # A where-to-ask answer named one counter (``counter_id``, ``topic``).
    answer_given = "answer_given"
    # The resident was given a counter's number to call while it is open.
    handoff = "handoff"
    # The resident cancelled: whatever was being asked is forgotten.
    cancelled = "cancelled"
    # The safety layer answered first: 119/110, or the crisis lines.
    emergency_guidance = "emergency_guidance"
    crisis_guidance = "crisis_guidance"
    # The resident blocked or left the channel: nothing more is sent there, alerts included.
    contact_unfollowed = "contact_unfollowed"


@dataclass(frozen=True)
class Effect:
    """Something a turn did besides talking, e.g. ``Effect(EffectKind.case_created, {"case_id": 3})``."""

    kind: EffectKind
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class TurnResult:
    """What the engine returns for one inbound event."""

    replies: list[Reply] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    duplicate: bool = False
    contact_id: int | None = None
    language: str = "ja"
    # The conversation's active flow after the turn (None: nothing in progress).
    flow: str | None = None


def turn_record(conversation: int, turn: int, line: str, result: TurnResult) -> dict[str, Any]:
    """One turn as the conversation contract's JSON object (docs/conversation-contract.md):
    what came in, what was said (response names, texts, choices), what happened, the flow after it."""
    return {
        "conversation": conversation,
        "turn": turn,
        "in": line,
        "language": result.language,
        "replies": [{"response": reply.response, "text": reply.text, "choices": [choice.title for choice in reply.choices]}
                    for reply in result.replies],
        "effects": [{"kind": effect.kind.value, **effect.data} for effect in result.effects],
        "flow": result.flow,
    }
