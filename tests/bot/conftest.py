"""Fixtures for engine and flow tests: a real engine on a real database, and a resident to talk."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import count
from zoneinfo import ZoneInfo

import pytest

from bot.app import build_engine
from bot.engine import ConversationEngine
from bot.messages import InboundMessage, Reply, TurnResult

TOKYO = ZoneInfo("Asia/Tokyo")
# A Tuesday morning, counters open (2026-11-24 10:00 JST).
OPEN_HOURS = datetime(2026, 11, 24, 10, 0, tzinfo=TOKYO)
_event_numbers = count(1)


@dataclass
class Resident:
    """One person talking to the engine on one channel; the clock moves a little each turn."""

    engine: ConversationEngine
    channel: str = "console"
    user_id: str = "resident-1"
    language: str | None = None
    now: datetime = OPEN_HOURS
    last: TurnResult = field(default_factory=TurnResult)

    def send(self, text: str | None = None, *, event_id: str | None = None, **fields: object) -> TurnResult:
        self.now += timedelta(seconds=20)
        message = InboundMessage(
            channel=self.channel,
            user_id=self.user_id,
            text=text,
            event_id=event_id or f"evt-{next(_event_numbers)}",
            received_at=self.now,
            language=self.language,
            **fields,  # type: ignore[arg-type]
        )
        self.last = self.engine.handle(message)
        return self.last

    def says(self, text: str | None = None, **fields: object) -> str:
        """Send and return everything the bot said, joined (for `in` assertions)."""
        return "\n".join(reply.text for reply in self.send(text, **fields).replies)

    @property
    def replies(self) -> list[Reply]:
        return self.last.replies


@pytest.fixture
def engine(db_url: str) -> ConversationEngine:
    """The engine as the app wires it: effects (deliveries, fan-out, unfollow) run after each turn."""
    return build_engine(db_url)


@pytest.fixture
def resident(engine: ConversationEngine) -> Resident:
    return Resident(engine)
