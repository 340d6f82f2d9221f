"""The whole missing-person journey (issue 17, "Done means"), on the LINE and on the Telegram fake.

A family pre-registers their mother, reports her missing in the cooperators' night (their
quiet hours), the desk approves through the staff API and the first stage grows until it
reaches enough cooperators; a cooperator taps 「見かけた」 and sends a location; the desk is
sent the sighting at once and forwards it to the family's chat; the widening tells the city
where she was last seen; the family writes that she was found: what was still queued is
cancelled, those who were sent the alert are thanked, Telegram messages are deleted (LINE
cannot delete a pushed message: its closing notice follows it), and on schedule the purge
leaves nothing personal in the database.

Inbound messages go through the engine as the webhooks hand them over; outbound ones through
the real fan-out (one synchronous pass at a time, so every step is checked in order) to the
fake platform APIs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.db import session_factory, session_scope
from bot.domain import load_domain
from bot.engine import ConversationEngine
from bot.models import (
    Alert,
    AlertFamily,
    AlertStatus,
    Case,
    CaseEvent,
    CaseStatus,
    Cooperator,
    CooperatorEndpoint,
    Delivery,
    DeliveryState,
    Message,
    OutboxItem,
    OutboxState,
    Sighting,
    Town,
    utcnow,
)
from bot.privacy import purge_expired
from bot.settings import settings
from bot.staff_api import create_staff_user, router
from alerts.fanout.items import forward_kind
from alerts.fanout.runner import process_outbox
from alerts.texts import render_message, sighting_place
from routing.delivery import deliver_pending
from tests.alerts.conftest import Kicks
from tests.alerts.fanout.conftest import Fakes, address, fakes, fanout_env  # noqa: F401 - fixtures
from tests.bot.conftest import Resident, engine  # noqa: F401 - fixture
from tests.flows.conftest import effects, left, pre_register, said

# 南区 朝日町, where the family lives and the person was last seen; the cooperators around it.
HOME = "minami-1-2"
NEAR, NEARER = "minami-1-4", "minami-2-1"  # about 1.7 and 1.8 km away
FAR = "kita-2-4"  # about 9 km: reached only when the alert covers the whole city
FIRST_STAGE_MINIMUM = 4


@pytest.fixture(autouse=True)
def kicks(monkeypatch: pytest.MonkeyPatch) -> Kicks:
    """Wake-ups are counted, not acted on: the test runs each fan-out pass itself, in order."""
    counter = Kicks()
    monkeypatch.setattr("alerts.fanout.runner.kick", counter)
    return counter


@pytest.fixture(autouse=True)
def alert_channels() -> None:
    """Channels come from ``fanout_env`` (the fakes)."""


@pytest.fixture(autouse=True)
def schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 1 km first stage that must grow to reach four cooperators; one widening covers the city."""
    monkeypatch.setattr(settings, "alert_radius_stages_km", [1.0])
    monkeypatch.setattr(settings, "alert_min_first_stage", FIRST_STAGE_MINIMUM)
    monkeypatch.setattr(settings, "delivery_mode", "worker")  # the test runs the desk's delivery pass


@dataclass
class Desk:
    """The alert desk on the staff API."""

    client: TestClient
    headers: dict[str, str]

    def post(self, path: str, **kwargs: object) -> dict[str, object]:
        answer = self.client.post(f"/api/staff{path}", headers=self.headers, **kwargs)  # type: ignore[arg-type]
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.fixture
def desk(db_url: str) -> Iterator[Desk]:
    with session_scope(db_url) as session:
        _, token = create_staff_user(session, "desk", ["mimamori-minami"], can_approve_alerts=True)
    app = FastAPI()
    app.include_router(router)
    with TestClient(app) as client:
        yield Desk(client, {"Authorization": f"Bearer {token}"})


def _cooperators(db_url: str, platform: str) -> dict[str, str]:
    """Cooperators on ``platform`` (address by role), all in their quiet hours right now; the
    night owl opted out of night alerts, the others did not."""
    local = utcnow().astimezone(settings.tz)
    quiet = {"quiet_start": (local - timedelta(hours=1)).strftime("%H:%M"),
             "quiet_end": (local + timedelta(hours=1)).strftime("%H:%M")}
    roles = {"home": HOME, "night_owl": HOME, "near": NEAR, "nearer": NEARER, "far": FAR}
    addresses = {}
    with session_scope(db_url) as session:
        for number, (role, town_id) in enumerate(roles.items(), start=1):
            town = session.scalars(select(Town).where(Town.town_id == town_id)).one()
            cooperator = Cooperator(town_id=town_id, latitude=town.latitude, longitude=town.longitude,
                                    night_alerts=role != "night_owl", **quiet)
            session.add(cooperator)
            session.flush()
            addresses[role] = address(platform, number)
            session.add(CooperatorEndpoint(cooperator_id=cooperator.id, channel=platform, address=addresses[role]))
    return addresses


def _received(fakes: Fakes, platform: str, where: str) -> list[str]:
    """The texts the platform delivered to one chat, in order."""
    if platform == "line":
        return [message["text"] for message in fakes.line.messages_to(where)]
    return [message["text"] for message in fakes.telegram.sent_to(int(where))]


def _buttons(fakes: Fakes, platform: str, where: str) -> list[str]:
    """The button payloads of the messages delivered to one chat."""
    if platform == "line":
        return [item["action"]["data"] for message in fakes.line.messages_to(where)
                for item in (message.get("quickReply") or {}).get("items", []) if "data" in item["action"]]
    return [button["callback_data"] for message in fakes.telegram.sent_to(int(where))
            for row in (message.get("reply_markup") or {}).get("inline_keyboard", []) for button in row]


def _report_missing(family: Resident, db_url: str) -> None:
    """The family's report of their pre-registered mother, each question answered as asked."""
    answers = {"last_seen_where": "南区朝日町", "last_seen_when": "夜中の3時ごろ", "clothing": "紺色のジャンパー",
               "callback_phone": "090-3333-4444", "missing_who": "82歳の母です"}
    turn = family.send("母が夜中に出ていったまま帰ってきません")
    for _ in range(12):
        step = left(db_url, family).step
        if left(db_url, family).flow != "report_missing":
            break
        choices = [choice.payload for reply in turn.replies for choice in reply.choices]
        if step == "registered_person":
            turn = family.send(postback=next(payload for payload in choices if payload.startswith("person:")))
        elif step in answers:
            turn = family.send(answers[step])
        else:  # a question added later (a feature with choices): the first choice, or "don't know"
            turn = family.send(postback=choices[0]) if choices else family.send("わかりません")
    assert "alert_created" in [kind for kind, _ in effects(turn)]


def _send() -> None:
    """One fan-out pass over everything due now (what is due later stays queued)."""
    process_outbox()


@pytest.mark.parametrize("platform", ["line", "telegram"])
def test_from_pre_registration_to_the_purge(platform: str, fanout_env: dict[str, str], fakes: Fakes,
                                            engine: ConversationEngine, db_url: str, desk: Desk) -> None:
    helpers = _cooperators(db_url, platform)
    family = Resident(engine, channel=platform, user_id=address(platform, 900), now=utcnow() - timedelta(days=30))

    # Pre-registration, a month before.
    pre_register(family)
    assert said(family.send(postback="register")) == ["utter_person_registered"]

    # The report, in the cooperators' night: a pending alert linked to the family.
    family.now = utcnow()
    _report_missing(family, db_url)
    with session_scope(db_url) as session:
        alert = session.scalars(select(Alert)).one()
        alert_id, case_id = alert.id, alert.case_id
        assert alert.status == AlertStatus.pending and alert.person_id is not None
        assert [link.role for link in session.scalars(select(AlertFamily))] == ["reporter"]

    # The desk approves: the first stage grows until it reaches enough cooperators.
    approved = desk.post(f"/alerts/{alert_id}/approve")
    assert approved["reached"] >= FIRST_STAGE_MINIMUM and approved["warning"] is None
    _send()
    for role in ("home", "near", "nearer"):
        assert len(_received(fakes, platform, helpers[role])) == 1, f"{role}: reached in their quiet hours"
        assert f"sighting:{alert_id}" in _buttons(fakes, platform, helpers[role]), "the 見かけた button"
    assert _received(fakes, platform, helpers["night_owl"]) == [], "opted out of night alerts: held"
    assert _received(fakes, platform, helpers["far"]) == []

    # A cooperator taps 見かけた and sends where she is.
    finder = Resident(engine, channel=platform, user_id=helpers["near"], now=utcnow())
    assert said(finder.send(postback=f"sighting:{alert_id}"))[-1] == "utter_ask_sighting_where"
    with session_scope(db_url) as session:
        near = session.scalars(select(Town).where(Town.town_id == NEAR)).one()
        point = {"latitude": near.latitude, "longitude": near.longitude}
    finder.send(**point)
    finder.send("いま")
    recorded = finder.send("ありません")
    assert said(recorded) == ["utter_sighting_recorded"]
    assert "case_updated" in [kind for kind, _ in effects(recorded)]

    # The desk has it at once (its console), grouped and measured; it confirms and forwards it.
    deliver_pending(session_factory(db_url))
    with session_scope(db_url) as session:
        sighting = session.scalars(select(Sighting)).one()
        assert sighting.town_id == NEAR
        pushed = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id,
                                                         CaseEvent.kind == "details_added")).all()
        delivered = session.scalars(select(Delivery).where(Delivery.case_event_id.in_([e.id for e in pushed]))).all()
        assert delivered and {delivery.state for delivery in delivered} == {DeliveryState.sent}
        noted = session.scalars(select(CaseEvent).where(CaseEvent.kind == "sighting")).one()
        assert noted.details["group_id"] == sighting.id and 1500 < noted.details["distance_m"] < 1900
        place = sighting_place(session, sighting)
    desk.post(f"/alerts/{alert_id}/sightings/{sighting.id}/confirm")
    assert desk.post(f"/alerts/{alert_id}/sightings/{sighting.id}/forward", json={"to": "family"})["queued"] == 1
    _send()
    with session_scope(db_url) as session:
        forwarded = render_message(session, load_domain(), alert_id, forward_kind("family", sighting.id), "ja")
    assert forwarded in _received(fakes, platform, family.user_id) and place in forwarded

    # The widening reaches the rest of the city, saying where she was seen since.
    desk.post(f"/alerts/{alert_id}/widen")
    _send()
    [widened] = _received(fakes, platform, helpers["far"])
    assert place in widened

    # The family writes that she was found (a Resident's clock moves 20 s ahead per message).
    family.now = utcnow() - timedelta(minutes=1)
    found = family.send("母が見つかりました！お知らせを止めてください")
    assert said(found) == ["utter_family_found_alert_ended"]
    with session_scope(db_url) as session:
        alert = session.get(Alert, alert_id)
        assert alert.status == AlertStatus.found
        rows = session.scalars(select(OutboxItem).where(OutboxItem.alert_id == alert_id)).all()
        held = [row for row in rows if row.address == helpers["night_owl"] and row.kind == "alert"]
        assert [row.state for row in held] == [OutboxState.cancelled], "what was still queued is cancelled"
        assert session.get(Case, case_id).status == CaseStatus.found, "the search's own ending"
        purge_after = alert.purge_after
    _send()
    thanks = load_domain().text("utter_alert_found", "ja", alert_id=alert_id)
    for role in ("home", "near", "nearer", "far"):
        assert _received(fakes, platform, helpers[role])[-1] == thanks, f"{role} is thanked"
    assert _received(fakes, platform, helpers["night_owl"]) == [], "never sent, so nothing to thank for"
    if platform == "telegram":
        deleted = {chat for chat, _ in fakes.telegram.deleted}
        assert deleted >= {helpers[role] for role in ("home", "near", "nearer", "far")}, "alerts deleted"

    # On schedule, and not before, the purge leaves nothing personal.
    with session_scope(db_url) as session:
        purge_expired(session, now=purge_after - timedelta(minutes=1))
        assert not session.get(Alert, alert_id).purged
        purge_expired(session, now=purge_after + timedelta(minutes=1))
    with session_scope(db_url) as session:
        alert = session.get(Alert, alert_id)
        assert alert.purged and alert.description is None and alert.latitude is None and alert.person_id is None
        sighting = session.scalars(select(Sighting)).one()
        assert (sighting.latitude, sighting.longitude, sighting.town_id, sighting.contact_id) == (None,) * 4
        case = session.get(Case, case_id)
        assert "callback_phone" not in case.details and "who" not in case.details, "the family's phone too"
        assert session.scalars(select(AlertFamily)).all() == []
        assert session.scalars(select(OutboxItem).where(OutboxItem.cooperator_id.is_(None))).all() == [], \
            "no row keeps the family's chat"
        words = session.scalars(select(Message.text).where(Message.text.like("%紺色のジャンパー%"))).all()
        assert words == [], "the family's words are erased"
