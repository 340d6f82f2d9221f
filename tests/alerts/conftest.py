"""Fixtures for the missing-person alert network: configured channels, a fan-out that is not
woken (tests play the sending workers by marking rows), cooperators and missing cases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.models import Alert, Case, CaseKind, Cooperator, CooperatorEndpoint, OutboxItem, OutboxState
from bot.settings import settings
from routing.areas import resolve_town_id
from routing.cases import open_case
from routing.snapshot import get_directory

TOKYO = ZoneInfo("Asia/Tokyo")
# Tuesday 2026-11-24 10:00 JST.
MORNING = datetime(2026, 11, 24, 10, 0, tzinfo=TOKYO)


@dataclass
class Kicks:
    """Counts the fan-out wake-ups the code under test asked for."""

    calls: int = 0

    def __call__(self) -> None:
        self.calls += 1


@pytest.fixture(autouse=True)
def alert_channels(monkeypatch: pytest.MonkeyPatch) -> None:
    """LINE, Telegram, e-mail and SMS configured, so the fan-out queues rows for all four."""
    monkeypatch.setattr(settings, "line_channel_access_token", "test-line-token")
    monkeypatch.setattr(settings, "telegram_bot_token", "123:test")
    monkeypatch.setattr(settings, "smtp_host", "127.0.0.1")
    monkeypatch.setattr(settings, "twilio_account_sid", "ACtest")
    monkeypatch.setattr(settings, "twilio_auth_token", "test")
    monkeypatch.setattr(settings, "twilio_from_number", "+815000000000")
    monkeypatch.setattr(settings, "redis_url", None)


@pytest.fixture(autouse=True)
def kicks(monkeypatch: pytest.MonkeyPatch) -> Kicks:
    """The fan-out is not woken: rows stay queued for the test to inspect."""
    counter = Kicks()
    monkeypatch.setattr("alerts.fanout.runner.kick", counter)
    return counter


def add_cooperator(session: Session, town_id: str, *, channel: str = "line", address: str | None = None,
                   language: str = "ja") -> Cooperator:
    """An active cooperator at a town's centroid with one endpoint."""
    record = get_directory(session).towns[town_id]
    cooperator = Cooperator(town_id=town_id, latitude=record.latitude, longitude=record.longitude,
                            language=language, consented_at=MORNING)
    session.add(cooperator)
    session.flush()
    session.add(CooperatorEndpoint(cooperator_id=cooperator.id, channel=channel,
                                   address=address or f"{channel}-{town_id}-{cooperator.id}", priority=0))
    session.flush()
    return cooperator


def missing_case(session: Session, town_id: str = "chuo-1-1", *, counter_id: str = "mimamori-chuo",
                 now: datetime = MORNING) -> Case:
    """An urgent missing-person case as the report flow opens it."""
    case, _ = open_case(
        session, kind=CaseKind.missing, topic="missing", counter_id=counter_id,
        area=resolve_town_id(session, town_id),
        details={"who": "80歳の男性 白髪 背が低い", "last_seen_where": "中央区 本町 2丁目",
                 "last_seen_when": "今朝8時ごろ", "clothing": "紺色のジャンパー", "callback_phone": "09033334444"},
        reason="test", channel="line", language="ja", urgent=True, callback_consent=True, now=now,
    )
    return case


def outbox(session: Session, alert: Alert, kind: str | None = None) -> list[OutboxItem]:
    """The alert's outbox rows in the order the workers send them (nearest first)."""
    query = select(OutboxItem).where(OutboxItem.alert_id == alert.id)
    if kind is not None:
        query = query.where(OutboxItem.kind == kind)
    return list(session.scalars(query.order_by(OutboxItem.distance_m, OutboxItem.id)))


def mark_sent(session: Session, rows: list[OutboxItem], now: datetime = MORNING) -> None:
    """Play the sending worker: these rows were delivered."""
    session.execute(update(OutboxItem).where(OutboxItem.id.in_([row.id for row in rows]))
                    .values(state=OutboxState.sent, sent_at=now))
    session.expire_all()
