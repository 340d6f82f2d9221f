"""report_sighting, whole conversations: a cooperator saw the person of an active alert.

Where (a place or a shared location, kept exactly), when (read into a time when the words
are clear), an optional photo; the sighting is stored at once for staff and grouped with
reports of the same town within minutes.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.db import session_scope
from bot.engine import ConversationEngine
from bot.models import Alert, AlertStatus, CaseEvent, OutboxItem, OutboxState, Sighting
from bot.settings import settings
from intents.classification import Classification, IntentClassifier
from alerts.lifecycle import approve, create_from_case
from tests.alerts.conftest import add_cooperator, missing_case
from tests.bot.conftest import OPEN_HOURS, Resident
from tests.flows.conftest import Left, effects, left, said

# Inside 中央区 本町's polygon, but not its centroid (34.6975, 135.47).
NEAR_HONMACHI = {"latitude": 34.7012, "longitude": 135.4763}
INTRO = ["utter_sighting_intro", "utter_ask_sighting_where"]


@pytest.fixture(autouse=True)
def no_delivery_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deliveries stay rows for the test to read: no background thread outlives the test."""
    monkeypatch.setattr(settings, "delivery_mode", "worker")


def _active_alert(db_url: str, *addresses: str, town_id: str = "chuo-1-1", counter_id: str = "mimamori-chuo",
                  channel: str = "line") -> int:
    """An approved alert sent (its outbox rows marked sent, as the fan-out would) to
    cooperators at ``town_id`` with these addresses on ``channel``."""
    with session_scope(db_url) as session:
        for address in addresses:
            add_cooperator(session, town_id, channel=channel, address=address)
        alert = create_from_case(session, missing_case(session, town_id, counter_id=counter_id), now=OPEN_HOURS)
        approve(session, alert, by="tanaka", now=OPEN_HOURS)
        for item in session.scalars(select(OutboxItem).where(OutboxItem.alert_id == alert.id)):
            item.state = OutboxState.sent
        return alert.id


def _sightings(db_url: str) -> list[Sighting]:
    with session_scope(db_url) as session:
        return list(session.scalars(select(Sighting).order_by(Sighting.id)))


def _report_sighting(cooperator: Resident, where: str | dict[str, float], when: str = "10分前") -> None:
    cooperator.send(postback="intent:report_sighting")
    cooperator.send(**where) if isinstance(where, dict) else cooperator.send(where)
    cooperator.send(when)
    assert said(cooperator.send(postback="none")) == ["utter_sighting_recorded"]


def test_standard_japanese_in_words_with_a_photo(engine: ConversationEngine, db_url: str) -> None:
    alert_id = _active_alert(db_url, "U-coop-1")
    cooperator = Resident(engine, channel="line", user_id="U-coop-1", now=OPEN_HOURS + timedelta(minutes=30))
    assert said(cooperator.send("さっき駅前で見かけました")) == INTRO
    assert left(db_url, cooperator) == Left("report_sighting", "sighting_where",
                                            {"note": "さっき駅前で見かけました", "alert_id": alert_id})
    when = cooperator.send("中央区本町")
    assert said(when) == ["utter_ask_sighting_when"]
    assert [c.payload for c in when.replies[0].choices] == ["now", "ten_minutes"]
    said_at = cooperator.send("10分前")
    assert said(said_at) == ["utter_ask_sighting_photo"]
    assert left(db_url, cooperator).slots["sighting_when"] == {
        "text": "10分前", "at": (cooperator.now - timedelta(minutes=10)).astimezone(settings.tz).isoformat()}
    done = cooperator.send(media_ref="line-content:p1")
    assert said(done) == ["utter_sighting_recorded"]
    [sighting] = _sightings(db_url)
    assert effects(done)[0] == ("sighting_recorded", {"alert_id": alert_id, "sighting_id": sighting.id,
                                                       "group_id": sighting.id})
    assert [kind for kind, _ in effects(done)] == ["sighting_recorded", "case_updated"], "pushed to the desk"
    assert (sighting.town_id, sighting.text, sighting.photo_ref) == ("chuo-1-1", "さっき駅前で見かけました",
                                                                     "line-content:p1")
    assert left(db_url, cooperator) == Left(None, None, {})


def test_english_by_the_alerts_button(engine: ConversationEngine, db_url: str) -> None:
    alert_id = _active_alert(db_url, "5550002", channel="telegram")
    cooperator = Resident(engine, channel="telegram", user_id="5550002", language="en")
    assert said(cooperator.send(postback=f"sighting:{alert_id}")) == INTRO
    assert said(cooperator.send("Chuo-ku Nishikicho")) == ["utter_ask_sighting_when"]
    assert said(cooperator.send(postback="now")) == ["utter_ask_sighting_photo"]
    assert said(cooperator.send("no")) == ["utter_sighting_recorded"]
    [sighting] = _sightings(db_url)
    assert (sighting.town_id, sighting.text, sighting.photo_ref) == ("chuo-1-2", None, None)
    assert sighting.seen_at == cooperator.now - timedelta(seconds=20), "「Just now」 is the moment it was said"


def test_phone_speech_and_the_keypad(engine: ConversationEngine, db_url: str) -> None:
    _active_alert(db_url)
    caller = Resident(engine, channel="voice", user_id="0312345678")
    caller.send(event="call_start")
    assert said(caller.send("行方不明のおじいさんを見かけました")) == INTRO
    assert said(caller.send("ちゅうおうく ほんまち")) == ["utter_place_read_back"], "a place is read back on the phone"
    assert said(caller.send("1")) == ["utter_ask_sighting_when"]
    assert said(caller.send("いま")) == ["utter_ask_sighting_photo"]
    assert said(caller.send("駅の近くです")) == ["utter_ask_sighting_photo"], "not a photo nor none: asked again"
    assert said(caller.send("ありません")) == ["utter_sighting_recorded", "utter_phone_anything_else"], \
        "none in words, on the phone too"
    [sighting] = _sightings(db_url)
    assert (sighting.town_id, sighting.photo_ref) == ("chuo-1-1", None)


def test_with_two_active_alerts_the_cooperator_picks_one(engine: ConversationEngine, db_url: str) -> None:
    first = _active_alert(db_url)
    second = _active_alert(db_url, town_id="kita-2-2", counter_id="mimamori-kita")
    cooperator = Resident(engine, channel="line", user_id="U-both")
    which = cooperator.send(postback="intent:report_sighting")
    assert said(which) == ["utter_ask_which_alert"]
    assert [c.payload for c in which.replies[0].choices] == [f"sighting:{first}", f"sighting:{second}"]
    assert said(cooperator.send("わからない")) == ["utter_ask_which_alert"]
    assert said(cooperator.send("2")) == INTRO
    assert left(db_url, cooperator).slots["alert_id"] == second


def test_an_emergency_mid_flow_comes_first_and_the_question_stays(engine: ConversationEngine,
                                                                  db_url: str) -> None:
    alert_id = _active_alert(db_url)
    cooperator = Resident(engine, channel="line", user_id="U-coop-3")
    cooperator.send(postback="intent:report_sighting")
    turn = cooperator.send("その人が道で倒れて動かない")
    assert said(turn) == ["utter_emergency_119", "utter_after_emergency_resume", "utter_ask_sighting_where"]
    assert effects(turn) == [("emergency_guidance", {"service": "119"})]
    assert left(db_url, cooperator) == Left("report_sighting", "sighting_where", {"alert_id": alert_id})
    _report_sighting(cooperator, "中央区本町", when="いま")


def test_sightings_are_recorded_for_staff_and_grouped(engine: ConversationEngine, db_url: str) -> None:
    alert_id = _active_alert(db_url, "U-coop-1", "U-coop-2", "U-coop-3")
    first = Resident(engine, channel="line", user_id="U-coop-1")
    assert said(first.send(postback="intent:report_sighting")) == INTRO
    assert left(db_url, first).slots == {"alert_id": alert_id}
    first.send(**NEAR_HONMACHI)
    first.send("10分前")
    said_at = first.now
    assert said(first.send(media_ref="line-content:sighting-photo")) == ["utter_sighting_recorded"]

    second = Resident(engine, channel="line", user_id="U-coop-2", now=first.now + timedelta(minutes=3))
    _report_sighting(second, "中央区本町")
    third = Resident(engine, channel="line", user_id="U-coop-3", now=first.now + timedelta(minutes=4))
    _report_sighting(third, "中央区錦町", when="いま")

    with session_scope(db_url) as session:
        sightings = session.scalars(select(Sighting).order_by(Sighting.id)).all()
        assert [s.town_id for s in sightings] == ["chuo-1-1", "chuo-1-1", "chuo-1-2"]
        assert (sightings[0].latitude, sightings[0].longitude) == (34.7012, 135.4763), "a sighting keeps its point"
        assert sightings[0].photo_ref == "line-content:sighting-photo"
        assert sightings[0].seen_at == said_at - timedelta(minutes=10)
        assert sightings[1].group_id == sightings[0].id, "same town within minutes: one group"
        assert sightings[2].group_id == sightings[2].id, "another town: its own group"
        events = session.scalars(select(CaseEvent).where(CaseEvent.kind == "sighting")).all()
        assert len(events) == 3 and events[0].details["alert_id"] == alert_id


def test_sightings_far_apart_in_time_are_not_grouped(engine: ConversationEngine, db_url: str) -> None:
    _active_alert(db_url)
    early = Resident(engine, channel="line", user_id="U-a")
    _report_sighting(early, "中央区本町", when="いま")
    late = Resident(engine, channel="line", user_id="U-b",
                    now=early.now + timedelta(minutes=settings.sighting_group_minutes + 1))
    _report_sighting(late, "中央区本町", when="いま")
    with session_scope(db_url) as session:
        groups = session.scalars(select(Sighting.group_id).order_by(Sighting.id)).all()
    assert groups[0] != groups[1]


def test_sighting_without_an_active_alert(engine: ConversationEngine, db_url: str) -> None:
    with session_scope(db_url) as session:
        create_from_case(session, missing_case(session))  # pending: not yet broadcast
    resident = Resident(engine, channel="line", user_id="U-x")
    assert said(resident.send(postback="intent:report_sighting")) == ["utter_sighting_no_alert"]
    assert left(db_url, resident) == Left(None, None, {})
    assert _sightings(db_url) == []


class _SeesSightings(IntentClassifier):
    """The real classifier, reading every message as a sighting."""

    def __init__(self, real: IntentClassifier) -> None:
        self.real = real

    def classify_many(self, texts: list[str]) -> list[Classification]:  # type: ignore[override]
        return [replace(found, intent="report_sighting", topic=None, topics=(), confidence=0.8, safety=None,
                        urgency_band=None, alternatives=()) for found in self.real.classify_many(texts)]


@pytest.mark.parametrize(("text", "flow"), [
    ("The man across the hall has stopped picking up his mail and seems confused when I talk to him",
     "report_worry"),
    ("お向かいのおじいさんが最近ぼんやりして、話しかけても返事がちぐはぐなんです", "report_worry"),
    ("駅前で配信の方に似たおじいさんを見かけました", None),
])
def test_without_an_alert_a_neighbour_seen_confused_is_a_worry(engine: ConversationEngine, text: str,
                                                                flow: str | None) -> None:
    sees = _SeesSightings(engine.classifier())
    engine.classifier = lambda: sees
    assert Resident(engine).send(text).flow == flow


def test_the_alert_button_starts_a_sighting_and_an_ended_alert_says_so(engine: ConversationEngine,
                                                                      db_url: str) -> None:
    alert_id = _active_alert(db_url, "U-coop")
    cooperator = Resident(engine, channel="line", user_id="U-coop")
    assert said(cooperator.send(postback=f"sighting:{alert_id}")) == INTRO
    assert left(db_url, cooperator).slots == {"alert_id": alert_id}
    with session_scope(db_url) as session:
        session.get(Alert, alert_id).status = AlertStatus.found
    assert said(cooperator.send(postback=f"sighting:{alert_id}")) == ["utter_sighting_alert_ended"]
    assert left(db_url, cooperator) == Left(None, None, {})


# The one answer to the alert's button from anyone it cannot take a sighting from.
UNAVAILABLE = ["utter_sighting_alert_unavailable"]


def test_a_chat_never_sent_the_alert_gets_the_unknown_ids_answer(engine: ConversationEngine, db_url: str) -> None:
    alert_id = _active_alert(db_url, "U-coop")
    anonymous = Resident(engine, channel="webchat", user_id="web-session-1")
    unknown = said(anonymous.send(postback=f"sighting:{alert_id + 1000}"))
    assert unknown == UNAVAILABLE
    assert said(anonymous.send(postback=f"sighting:{alert_id}")) == unknown, "active but not theirs: same answer"
    assert left(db_url, anonymous) == Left(None, None, {})
    lookalike = Resident(engine, channel="webchat", user_id="U-coop")
    assert said(lookalike.send(postback=f"sighting:{alert_id}")) == unknown, "the address on another channel"
    assert _sightings(db_url) == []


def test_an_alert_still_queued_for_a_chat_is_not_yet_theirs(engine: ConversationEngine, db_url: str) -> None:
    alert_id = _active_alert(db_url, "U-coop")
    with session_scope(db_url) as session:
        session.scalars(select(OutboxItem).where(OutboxItem.alert_id == alert_id)).one().state = OutboxState.queued
    cooperator = Resident(engine, channel="line", user_id="U-coop")
    assert said(cooperator.send(postback=f"sighting:{alert_id}")) == UNAVAILABLE


def test_an_ended_alert_not_sent_to_the_chat_gets_the_unknown_ids_answer(engine: ConversationEngine,
                                                                         db_url: str) -> None:
    alert_id = _active_alert(db_url, "U-coop")
    with session_scope(db_url) as session:
        session.get(Alert, alert_id).status = AlertStatus.cancelled
    anonymous = Resident(engine, channel="webchat", user_id="web-session-2")
    assert said(anonymous.send(postback=f"sighting:{alert_id + 1000}")) == UNAVAILABLE
    assert said(anonymous.send(postback=f"sighting:{alert_id}")) == UNAVAILABLE
    assert _sightings(db_url) == []


def test_without_the_alert_a_resident_still_reports_in_words(engine: ConversationEngine, db_url: str) -> None:
    alert_id = _active_alert(db_url, "U-coop")
    resident = Resident(engine, channel="webchat", user_id="web-session-3")
    assert said(resident.send(postback=f"sighting:{alert_id}")) == UNAVAILABLE
    assert said(resident.send("さっき駅前で見かけました")) == INTRO
    resident.send("中央区本町")
    resident.send("いま")
    assert said(resident.send(postback="none")) == ["utter_sighting_recorded"]
    [sighting] = _sightings(db_url)
    assert (sighting.alert_id, sighting.text) == (alert_id, "さっき駅前で見かけました")


def test_a_button_of_the_which_alert_question_picks_one_offered(engine: ConversationEngine, db_url: str) -> None:
    first = _active_alert(db_url)
    second = _active_alert(db_url, town_id="kita-2-2", counter_id="mimamori-kita")
    resident = Resident(engine, channel="webchat", user_id="web-session-4")
    assert said(resident.send(postback="intent:report_sighting")) == ["utter_ask_which_alert"]
    assert said(resident.send(postback=f"sighting:{second + 1000}")) == ["utter_ask_which_alert"]
    assert said(resident.send(postback=f"sighting:{second}")) == INTRO
    assert left(db_url, resident).slots["alert_id"] == second != first


def test_an_alert_picked_by_its_number_is_not_the_note(engine: ConversationEngine, db_url: str) -> None:
    _active_alert(db_url)
    second = _active_alert(db_url, town_id="kita-2-2", counter_id="mimamori-kita")
    cooperator = Resident(engine, channel="line", user_id="U-typed")
    assert said(cooperator.send(postback="intent:report_sighting")) == ["utter_ask_which_alert"]
    assert said(cooperator.send("2")) == INTRO
    assert left(db_url, cooperator) == Left("report_sighting", "sighting_where", {"alert_id": second})


def test_phone_keypad_1_skips_the_photo(engine: ConversationEngine, db_url: str) -> None:
    _active_alert(db_url)
    caller = Resident(engine, channel="voice", user_id="0312345679")
    caller.send(event="call_start")
    caller.send("行方不明のおじいさんを見かけました")
    caller.send("ちゅうおうく ほんまち")
    caller.send("1")  # yes to the place read back
    assert said(caller.send("いま")) == ["utter_ask_sighting_photo"]
    assert said(caller.send("1")) == ["utter_sighting_recorded", "utter_phone_anything_else"]
