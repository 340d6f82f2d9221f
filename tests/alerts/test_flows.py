"""The alert network's conversations end to end on SQLite and PostgreSQL: cooperator sign-up
and one-message unsubscribe on LINE and Telegram, pre-registration by family, a missing
report that becomes a pending alert, and sightings from cooperators.

Residents here start at the real current time, not at a fixed morning: the conversation's
``updated_at`` is also stamped by the database clock (``onupdate``) when a flow writes after
a mid-turn flush, and a fixed time far from now would look like a timed-out conversation.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.db import session_factory, session_scope
from bot.domain import load_domain
from bot.engine import ConversationEngine
from bot.models import (
    Alert,
    AlertStatus,
    CaseEvent,
    Contact,
    Cooperator,
    CooperatorEndpoint,
    Message,
    MessageDirection,
    OutboxItem,
    RegisteredPerson,
    Sighting,
    utcnow,
)
from bot.settings import settings
from alerts.alerts import approve, create_from_case
from tests.alerts.conftest import Kicks, add_cooperator, missing_case
from tests.bot.conftest import Resident

# Inside 中央区 本町's polygon, but not its centroid (34.6975, 135.47).
NEAR_HONMACHI = {"latitude": 34.7012, "longitude": 135.4763}


@pytest.fixture
def engine(db_url: str) -> ConversationEngine:
    return ConversationEngine(session_factory(db_url), load_domain())


def _resident(engine: ConversationEngine, **fields: Any) -> Resident:
    """A resident whose clock starts now: Conversation.updated_at is also stamped by the real clock."""
    fields.setdefault("now", utcnow())
    return Resident(engine, **fields)


def _sign_up(resident: Resident, *place: object, email: str = "なし", sms: str = "なし", quiet: str = "なし") -> str:
    resident.send(postback="intent:register_helper")
    resident.send(postback="agree")
    for answer in place:
        resident.send(**answer) if isinstance(answer, dict) else resident.send(str(answer))
    resident.send(email)
    resident.send(sms)
    return resident.says(quiet)


def _cooperators(db_url: str) -> list[Cooperator]:
    with session_scope(db_url) as session:
        cooperators = list(session.scalars(select(Cooperator).order_by(Cooperator.id)))
        for cooperator in cooperators:
            _ = cooperator.endpoints
        return cooperators


# --------------------------------------------------------------------------- cooperators


def test_line_sign_up_keeps_the_town_not_the_point_then_one_message_stops_it(engine: ConversationEngine,
                                                                              db_url: str) -> None:
    resident = _resident(engine, channel="line", user_id="U-line-1")
    consent = resident.send(postback="intent:register_helper")
    assert "同意" in consent.replies[-1].text and "正確な位置は保存しません" in consent.replies[-1].text
    assert [c.payload for c in consent.replies[-1].choices] == ["agree", "disagree"]
    area = resident.send(postback="agree")
    assert area.replies[-1].request_location
    assert "メール" in resident.says(**NEAR_HONMACHI)
    assert "SMS" in resident.says("なし")
    resident.send(postback="none")
    confirm = resident.says("22:00-07:00")
    assert "中央区 本町" in confirm and "LINE" in confirm and "22:00-07:00" in confirm
    assert not _cooperators(db_url), "nothing is registered before the confirmation"
    assert "登録しました" in resident.says(postback="register")

    [cooperator] = _cooperators(db_url)
    assert (cooperator.town_id, cooperator.latitude, cooperator.longitude) == ("chuo-1-1", 34.6975, 135.47)
    assert [(e.channel, e.address, e.priority) for e in cooperator.endpoints] == [("line", "U-line-1", 0)]
    assert (cooperator.quiet_start, cooperator.quiet_end) == ("22:00", "07:00")
    assert cooperator.reconfirm_due - cooperator.consented_at == timedelta(days=settings.cooperator_reconfirm_days)
    with session_scope(db_url) as session:
        payloads = session.scalars(select(Message.payload).where(Message.direction == MessageDirection.inbound,
                                                                 Message.kind == "location")).all()
    assert payloads == [{"latitude": 34.6975, "longitude": 135.47}], "the exact point is not kept anywhere"

    assert "配信を停止" in resident.says("配信を停止して")
    [cooperator] = _cooperators(db_url)
    assert not cooperator.active and not cooperator.endpoints[0].active


def test_telegram_sign_up_in_english_with_email_and_sms(engine: ConversationEngine, db_url: str) -> None:
    resident = _resident(engine, channel="telegram", user_id="5551234", language="en")
    resident.send(postback="intent:register_helper")
    assert "Which area" in resident.says("yes")
    resident.send("北区柳町")
    assert "does not look like an e-mail" in resident.says("my address")
    resident.send("helper@example.jp")
    assert "mobile" in resident.says("03-1234-5678")
    resident.send("090-1234-5678")
    confirm = resident.says(postback="none")
    assert "this chat (Telegram)" in confirm and "helper@example.jp" in confirm and "+819012345678" in confirm
    assert "registered" in resident.says("yes")
    [cooperator] = _cooperators(db_url)
    assert cooperator.town_id == "kita-2-2" and cooperator.language == "en" and cooperator.quiet_start is None
    assert [(e.channel, e.address) for e in cooperator.endpoints] == [
        ("telegram", "5551234"), ("email", "helper@example.jp"), ("sms", "+819012345678")]

    # Stopping works in the middle of another conversation, by its button too.
    resident.send(postback="intent:register_person")
    assert "stopped" in resident.says(postback="intent:unsubscribe")
    assert not _cooperators(db_url)[0].active


def test_a_chat_alerts_cannot_reach_needs_an_address(engine: ConversationEngine, db_url: str) -> None:
    resident = _resident(engine, channel="webchat", user_id="web-1")
    resident.send(postback="intent:register_helper")
    resident.send(postback="agree")
    resident.send("中央区本町")
    resident.send(postback="none")
    assert "メールアドレスか携帯電話の番号が必要" in resident.says(postback="none")
    resident.send("me@example.jp")
    resident.send("なし")
    resident.send("なし")
    resident.send(postback="register")
    [cooperator] = _cooperators(db_url)
    assert [(e.channel, e.address) for e in cooperator.endpoints] == [("email", "me@example.jp")]


def test_a_registered_cooperator_continues_changes_or_stops(engine: ConversationEngine, db_url: str) -> None:
    resident = _resident(engine, channel="line", user_id="U-2")
    _sign_up(resident, "中央区本町")
    resident.send(postback="register")
    with session_scope(db_url) as session:
        # A year has passed: the re-confirmation is due.
        session.scalars(select(Cooperator)).one().reconfirm_due = utcnow() - timedelta(days=1)
    again = resident.send(postback="intent:register_helper")
    assert "すでに協力者" in again.replies[-1].text and "中央区 本町" in again.replies[-1].text
    assert "継続しました" in resident.says(postback="keep")
    assert _cooperators(db_url)[0].reconfirm_due == resident.now + timedelta(days=settings.cooperator_reconfirm_days)
    resident.send(postback="intent:register_helper")
    assert "解除しました" in resident.says(postback="unsubscribe")
    assert not _cooperators(db_url)[0].active


def test_unsubscribing_when_not_registered_is_answered_kindly(engine: ConversationEngine) -> None:
    resident = _resident(engine, channel="line", user_id="U-stranger")
    assert "登録されていない" in resident.says(postback="intent:unsubscribe")


def test_declining_consent_registers_nothing(engine: ConversationEngine, db_url: str) -> None:
    resident = _resident(engine, channel="line", user_id="U-3")
    resident.send(postback="intent:register_helper")
    assert "登録はしませんでした" in resident.says(postback="disagree")
    assert not _cooperators(db_url)


# --------------------------------------------------------------------------- pre-registration


def _persons(db_url: str) -> list[RegisteredPerson]:
    with session_scope(db_url) as session:
        return list(session.scalars(select(RegisteredPerson).order_by(RegisteredPerson.id)))


def _pre_register(family: Resident) -> str:
    family.send(postback="intent:register_person")
    family.send(postback="agree")
    family.send("82歳 女性 白髪 杖をつく")
    family.send("南区朝日町")
    family.send(media_ref="line-content:photo-1")
    family.send("駅前のスーパー")
    summary = family.says("長男 090-1234-5678")
    return summary


def test_family_pre_registers_views_edits_and_deletes(engine: ConversationEngine, db_url: str) -> None:
    family = _resident(engine, channel="line", user_id="U-family")
    consent = family.send(postback="intent:register_person")
    assert "職員" in consent.replies[-1].text and "削除" in consent.replies[-1].text
    summary = _pre_register(_resident(engine, channel="line", user_id="U-family"))
    assert "82歳 女性" in summary and "南区 朝日町" in summary and "写真：あり" in summary
    assert not _persons(db_url), "nothing is stored before the confirmation"
    assert "登録番号" in family.says(postback="register")
    [person] = _persons(db_url)
    assert (person.town_id, person.photo_ref) == ("minami-1-2", "line-content:photo-1")
    assert person.usual_places == "駅前のスーパー"
    assert person.emergency_contacts == "長男 090-1234-5678"

    menu = family.send(postback="intent:register_person")
    assert [c.payload for c in menu.replies[-1].choices] == [f"person:{person.id}", "new"]
    shown = family.says(postback=f"person:{person.id}")
    assert "杖をつく" in shown
    family.send(postback="edit:usual_places")
    assert "図書館" in family.says("中央図書館")
    family.send(postback="edit:person_photo")
    family.send(postback="none")
    [person] = _persons(db_url)
    assert person.usual_places == "中央図書館" and person.photo_ref is None

    # Another family sees nothing of it.
    stranger = _resident(engine, channel="line", user_id="U-other")
    assert [c.payload for c in stranger.send(postback="intent:register_person").replies[-1].choices] == [
        "agree", "disagree"]
    assert stranger.send(postback=f"person:{person.id}").replies[-1].choices[0].payload == "agree"

    assert "削除します" in family.says("登録を削除して")
    assert "削除しました" in family.says("はい")
    assert not _persons(db_url)


# --------------------------------------------------------------------------- missing report → alert


def _this_morning_at_8(now: datetime) -> datetime:
    """「今朝8時ごろ」 said at ``now``: 8:00 of the local day, or of the day before when that is ahead."""
    local = now.astimezone(settings.tz)
    moment = local.replace(hour=8, minute=0, second=0, microsecond=0)
    return moment if moment <= local + timedelta(minutes=10) else moment - timedelta(days=1)


def _report_missing(family: Resident, *, pick: str | None) -> str:
    first = family.send(postback="intent:report_missing")
    assert first.replies[0].urgent and "110" in first.replies[0].text
    if pick is not None:
        family.send(postback=pick)
    family.send("中央区本町")
    family.send("今朝8時ごろ")
    family.send("紺色のジャンパー")
    return family.says("090-3333-4444")


def test_missing_report_of_a_registered_person_makes_a_pending_alert(engine: ConversationEngine, db_url: str) -> None:
    family = _resident(engine, channel="line", user_id="U-family")
    _pre_register(family)
    family.send(postback="register")
    [person] = _persons(db_url)
    with session_scope(db_url) as session:
        add_cooperator(session, "chuo-1-1")

    question = family.send(postback="intent:report_missing").replies[-1]
    assert [c.payload for c in question.choices] == [f"person:{person.id}", "not_registered"]
    family.send(postback=f"person:{person.id}")
    family.send("中央区本町")
    family.send("今朝8時ごろ")
    family.send("紺色のジャンパー")
    done = family.says("090-3333-4444")
    assert "受付番号" in done and "職員が確認したうえで" in done

    with session_scope(db_url) as session:
        alert = session.scalars(select(Alert)).one()
        assert alert.status == AlertStatus.pending and alert.person_id == person.id
        assert alert.description == "82歳 女性 白髪 杖をつく" and alert.photo_ref == "line-content:photo-1"
        assert alert.clothing == "紺色のジャンパー" and alert.town_id == "chuo-1-1"
        assert alert.last_seen_at == _this_morning_at_8(family.now)
        assert session.scalars(select(OutboxItem)).all() == [], "nothing is broadcast without staff"


def test_a_family_may_describe_someone_else_instead_of_choosing(engine: ConversationEngine, db_url: str) -> None:
    family = _resident(engine, channel="line", user_id="U-family")
    _pre_register(family)
    family.send(postback="register")
    family.send(postback="intent:report_missing")
    where = family.send("夫です。78歳の男性、灰色の帽子").replies[-1]
    assert where.request_location, "the description answered 'who': the next question is where"
    family.send("中央区本町")
    family.send("昼ごろ")
    family.send("灰色の帽子と黒いコート")
    family.send("090-3333-4444")
    with session_scope(db_url) as session:
        alert = session.scalars(select(Alert)).one()
        assert alert.person_id is None and alert.photo_ref is None
        assert alert.description == "夫です。78歳の男性、灰色の帽子" and alert.last_seen_at is None


def test_auto_approval_for_a_pre_registered_person(engine: ConversationEngine, db_url: str, kicks: Kicks,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "auto_approve_registered", True)
    family = _resident(engine, channel="line", user_id="U-family")
    _pre_register(family)
    family.send(postback="register")
    [person] = _persons(db_url)
    with session_scope(db_url) as session:
        add_cooperator(session, "chuo-1-1")
    done = _report_missing(family, pick=f"person:{person.id}")
    assert "配信を始めました" in done
    assert any(effect.kind == "alert_queued" for effect in family.last.effects)
    assert kicks.calls == 1, "the engine wakes the fan-out after committing the turn"
    with session_scope(db_url) as session:
        alert = session.scalars(select(Alert)).one()
        assert alert.status == AlertStatus.active and alert.approved_by == "auto"
        assert len(session.scalars(select(OutboxItem)).all()) == 1


def test_auto_approval_never_applies_to_someone_not_registered(engine: ConversationEngine, db_url: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "auto_approve_registered", True)
    family = _resident(engine, channel="line", user_id="U-family-2")
    family.send(postback="intent:report_missing")
    family.send("80歳の男性で、背が低く白髪です")
    family.send("中央区本町")
    family.send("今朝8時ごろ")
    family.send("紺色のジャンパー")
    assert "職員が確認したうえで" in family.says("090-3333-4444")
    with session_scope(db_url) as session:
        alert = session.scalars(select(Alert)).one()
        assert alert.status == AlertStatus.pending and alert.person_id is None
        assert alert.description == "80歳の男性で、背が低く白髪です"


# --------------------------------------------------------------------------- sightings


def _active_alert(db_url: str, *addresses: str) -> int:
    with session_scope(db_url) as session:
        for address in addresses:
            add_cooperator(session, "chuo-1-1", address=address)
        alert = create_from_case(session, missing_case(session))
        approve(session, alert, by="tanaka")
        return alert.id


def _report_sighting(cooperator: Resident, where: str | dict[str, float], when: str = "10分前") -> str:
    cooperator.send(postback="intent:report_sighting")
    cooperator.send(**where) if isinstance(where, dict) else cooperator.send(where)
    cooperator.send(when)
    return cooperator.says(postback="none")


def test_sightings_are_recorded_for_staff_and_grouped(engine: ConversationEngine, db_url: str) -> None:
    alert_id = _active_alert(db_url, "U-coop-1", "U-coop-2", "U-coop-3")
    first = _resident(engine, channel="line", user_id="U-coop-1")
    intro = first.send(postback="intent:report_sighting")
    assert f"お知らせ番号 {alert_id}" in intro.replies[0].text
    first.send(**NEAR_HONMACHI)
    first.send("10分前")
    said_at = first.now
    assert "目撃番号" in first.says(media_ref="line-content:sighting-photo")

    second = _resident(engine, channel="line", user_id="U-coop-2", now=first.now + timedelta(minutes=3))
    _report_sighting(second, "中央区本町")
    third = _resident(engine, channel="line", user_id="U-coop-3", now=first.now + timedelta(minutes=4))
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
    early = _resident(engine, channel="line", user_id="U-a")
    _report_sighting(early, "中央区本町", when="いま")
    late = _resident(engine, channel="line", user_id="U-b",
                    now=early.now + timedelta(minutes=settings.sighting_group_minutes + 1))
    _report_sighting(late, "中央区本町", when="いま")
    with session_scope(db_url) as session:
        groups = session.scalars(select(Sighting.group_id).order_by(Sighting.id)).all()
    assert groups[0] != groups[1]


def test_sighting_without_an_active_alert(engine: ConversationEngine, db_url: str) -> None:
    with session_scope(db_url) as session:
        create_from_case(session, missing_case(session))  # pending: not yet broadcast
    resident = _resident(engine, channel="line", user_id="U-x")
    assert "配信中の行方不明のお知らせはありません" in resident.says(postback="intent:report_sighting")
    with session_scope(db_url) as session:
        assert session.scalars(select(Sighting)).all() == []


def test_the_alert_button_starts_a_sighting_and_an_ended_alert_says_so(engine: ConversationEngine,
                                                                      db_url: str) -> None:
    alert_id = _active_alert(db_url, "U-coop")
    cooperator = _resident(engine, channel="line", user_id="U-coop")
    intro = cooperator.send(postback=f"sighting:{alert_id}")
    assert f"お知らせ番号 {alert_id}" in intro.replies[0].text
    with session_scope(db_url) as session:
        session.get(Alert, alert_id).status = AlertStatus.found
    other = _resident(engine, channel="line", user_id="U-late")
    assert "すでに見つかった" in other.says(postback=f"sighting:{alert_id}")


def test_stop_alerts_in_words_in_the_middle_of_another_flow(engine: ConversationEngine, db_url: str) -> None:
    resident = _resident(engine, channel="line", user_id="U-mid")
    _sign_up(resident, "中央区本町")
    resident.send(postback="register")
    resident.send(postback="intent:register_person")
    resident.send(postback="agree")
    assert "配信を停止し" in resident.says("配信を停止して")
    assert not _cooperators(db_url)[0].active
    with session_scope(db_url) as session:
        assert session.scalars(select(Contact.active)).all() == [True]
        assert session.scalars(select(CooperatorEndpoint.active)).all() == [False]
