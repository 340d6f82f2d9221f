"""report_missing, whole conversations: 110 guidance first, then an urgent case for the ward's
見守り相談室 and a pending alert that no cooperator sees before staff approve it (or, when
the city allows it, at once for a pre-registered person).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from alerts.texts import compose_alert
from bot.db import session_scope
from bot.domain import load_domain
from bot.engine import ConversationEngine
from bot.messages import TurnResult
from bot.models import Alert, AlertStatus, CaseKind, OutboxItem
from bot.settings import settings
from routing.cases import INCOMPLETE
from routing.methods import DETAIL_LABELS
from tests.alerts.conftest import Kicks, add_cooperator
from tests.bot.conftest import Resident
from tests.flows.conftest import Left, cases, effects, left, persons, pre_register, said

# Twilio names the caller in E.164; a national number is the same caller.
CALLER_IDS = pytest.mark.parametrize("caller_id", ["+81312345678", "0312345678"])

CREATED = ["utter_missing_created", "utter_missing_alert_pending"]


def _alerts(db_url: str) -> list[Alert]:
    with session_scope(db_url) as session:
        return list(session.scalars(select(Alert).order_by(Alert.id)))


def _this_morning_at_8(now: datetime) -> datetime:
    """「今朝8時ごろ」 said at ``now``: 8:00 of the local day, or of the day before when that is ahead."""
    local = now.astimezone(settings.tz)
    moment = local.replace(hour=8, minute=0, second=0, microsecond=0)
    return moment if moment <= local + timedelta(minutes=10) else moment - timedelta(days=1)


def _report_missing(family: Resident, *, pick: str | None) -> TurnResult:
    first = family.send(postback="intent:report_missing")
    assert said(first)[0] == "utter_missing_intro" and first.replies[0].urgent
    if pick is not None:
        family.send(postback=pick)
    family.send("中央区本町")
    family.send("今朝8時ごろ")
    family.send("紺色のジャンパー")
    return family.send("090-3333-4444")


def test_standard_japanese_110_first_then_an_urgent_case_and_a_pending_alert(resident: Resident,
                                                                              db_url: str) -> None:
    first = resident.send("認知症の父が朝から帰ってこない")
    assert said(first) == ["utter_missing_intro", "utter_ask_last_seen_where"], "the first message said who"
    assert first.replies[0].urgent, "110 guidance comes first, before any question"
    assert left(db_url, resident) == Left("report_missing", "last_seen_where",
                                          {"first_report": "認知症の父が朝から帰ってこない", "missing_who": "認知症の父",
                                           "appearance_untold": True, "report_case_id": 1})
    assert said(resident.send("中央区本町")) == ["utter_ask_last_seen_when"]
    assert said(resident.send("今朝8時ごろ")) == ["utter_ask_clothing_and_appearance"]
    assert said(resident.send("紺色のジャンパーとグレーのズボン")) == ["utter_ask_callback_phone"]
    assert said(resident.send("わからない")) == ["utter_bad_phone"]
    kept = left(db_url, resident)
    assert kept.step == "callback_phone" and kept.slots["last_seen_when"] == "今朝8時ごろ"
    # Saved from the first answer (issue 16, item 1): an urgent draft, delivered once its desk was known.
    [draft] = cases(db_url)
    assert (draft.id, draft.urgent, draft.counter_id, draft.details["who"]) == (1, True, "mimamori-chuo", "認知症の父")
    assert draft.details["incomplete"] and draft.details["clothing"] == "紺色のジャンパーとグレーのズボン"

    done = resident.send("090-3333-4444")
    assert said(done)[:2] == CREATED and done.replies[0].urgent
    [case] = cases(db_url)
    [alert] = _alerts(db_url)
    assert effects(done) == [
        ("case_created", {"case_id": case.id, "case_kind": "missing", "counter_id": "mimamori-chuo",
                          "town_id": "chuo-1-1", "urgent": True,
                          "fields": {"who": "認知症の父", "last_seen_where": "中央区 本町",
                                     "last_seen_when": "今朝8時ごろ", "clothing": "紺色のジャンパーとグレーのズボン",
                                     "contact": "phone"}}),
        ("alert_created", {"alert_id": alert.id, "case_id": case.id})]
    assert (case.kind, case.urgent, case.counter_id, case.town_id) == (CaseKind.missing, True, "mimamori-chuo",
                                                                       "chuo-1-1")
    assert case.details["callback_phone"] == "09033334444"
    assert (alert.status, alert.case_id, alert.town_id) == (AlertStatus.pending, case.id, "chuo-1-1")
    assert (alert.description, alert.clothing) == ("認知症の父", "紺色のジャンパーとグレーのズボン")
    assert alert.last_seen_at == _this_morning_at_8(resident.now)
    # The public text's fields come from the answers, never their words as such.
    assert alert.public_fields == {"sex": "male", "diagnosis": "認知症", "clothing": "紺色のジャンパー、グレーのズボン"}
    assert said(done)[2:] == ["utter_alert_details_intro", "utter_ask_feature_height"], "what searchers need"
    assert left(db_url, resident).flow == "missing_alert_details"
    assert said(resident.send(postback="feature:height:160_170")) == ["utter_ask_feature_build"]
    assert said(resident.send("わからない")) == ["utter_ask_share_identity"]
    assert said(resident.send(postback="share:no")) == ["utter_alert_details_noted"]
    assert left(db_url, resident) == Left("case_followup", None, {"case_id": case.id})
    [alert] = _alerts(db_url)
    assert alert.public_fields == {"sex": "male", "diagnosis": "認知症", "height": "160_170",
                                   "clothing": "紺色のジャンパー、グレーのズボン"}
    assert alert.share_identity is False


def test_english(engine: ConversationEngine, db_url: str) -> None:
    family = Resident(engine, language="en")
    assert said(family.send("My mother with dementia went out and has not come back")) == [
        "utter_missing_intro", "utter_ask_last_seen_where"]
    assert said(family.send("She is 78 and has short grey hair, she walks with a cane")) == [
        "utter_detail_noted", "utter_ask_last_seen_where"]
    assert said(family.send("Kita-ku Yanagimachi")) == ["utter_ask_last_seen_when"]
    family.send("about 2 hours ago")
    assert said(family.send("a beige coat")) == ["utter_ask_callback_phone"]
    assert said(family.send("my number is 080-5555-6666"))[:2] == CREATED
    [case] = cases(db_url)
    [alert] = _alerts(db_url)
    assert (case.counter_id, case.language, case.details["callback_phone"]) == ("mimamori-kita", "en", "08055556666")
    assert (alert.town_id, alert.description) == (
        "kita-2-2", "My mother / She is 78 and has short grey hair, she walks with a cane")


@CALLER_IDS
def test_phone_keypad_and_speech_use_the_callers_number(engine: ConversationEngine, db_url: str,
                                                        caller_id: str) -> None:
    caller = Resident(engine, channel="voice", user_id=caller_id)
    caller.send(event="call_start")
    first = caller.send("3")
    assert said(first) == ["utter_missing_intro", "utter_ask_missing_who"] and first.replies[0].urgent
    assert left(db_url, caller).slots["callback_phone"] == "0312345678"
    caller.send("おやじが おらんように なった 85さい")
    assert said(caller.send("みなみく すみよしちょう")) == ["utter_place_read_back"], "a place is read back on the phone"
    assert said(caller.send("1")) == ["utter_ask_last_seen_when"]
    assert said(caller.send("ひるごろ")) == ["utter_ask_clothing"]
    assert said(caller.send("ちゃいろの ぼうし")) == ["utter_description_read_back"], "no phone question on the phone"
    assert said(caller.send("1"))[:2] == CREATED, "the description read back, then the case"
    [case] = cases(db_url)
    [alert] = _alerts(db_url)
    assert (case.counter_id, case.channel, case.details["callback_phone"]) == ("mimamori-minami", "voice",
                                                                               "0312345678")
    assert (alert.town_id, alert.last_seen_at) == ("minami-2-1", None), "「ひるごろ」 is kept as words only"


def test_a_shared_location_is_the_alerts_point_and_an_emergency_comes_first(engine: ConversationEngine,
                                                                          db_url: str) -> None:
    family = Resident(engine, channel="line", user_id="U-kansai")
    family.send("うちのばあちゃんがおらんようになってん")
    family.send("母 75歳 小柄")
    before = left(db_url, family)
    turn = family.send("母が川に落ちた")
    assert said(turn) == ["utter_emergency_119", "utter_after_emergency_resume", "utter_ask_last_seen_where"]
    assert effects(turn) == [("emergency_guidance", {"service": "119"})]
    # Nothing told is lost or changed; the 119 guidance is kept for the case.
    assert left(db_url, family) == Left(before.flow, before.step, {**before.slots, "guidance_given": ["119"]})
    assert said(family.send(latitude=34.7012, longitude=135.4763)) == ["utter_ask_last_seen_when"]
    assert left(db_url, family).slots["last_seen_point"] == [34.7, 135.475], "kept to about 500 m only"
    family.send("10分前")
    family.send("赤いセーター")
    assert said(family.send("09012345678"))[:2] == CREATED
    [alert] = _alerts(db_url)
    assert (alert.town_id, alert.latitude, alert.longitude) == ("chuo-1-1", 34.7, 135.475)
    [case] = cases(db_url)
    assert case.details["guidance"] == "119番", "staff know the family was told to call 119"


def test_a_place_outside_the_city_ends_the_report(engine: ConversationEngine, db_url: str) -> None:
    family = Resident(engine, channel="line", user_id="U-far")
    family.send(postback="intent:report_missing")
    family.send("父")
    assert said(family.send(latitude=35.68, longitude=139.76)) == ["utter_outside_city"]
    assert left(db_url, family) == Left(None, None, {})
    assert not cases(db_url) and not _alerts(db_url)


def test_missing_report_of_a_registered_person_makes_a_pending_alert(engine: ConversationEngine, db_url: str) -> None:
    family = Resident(engine, channel="line", user_id="U-family")
    pre_register(family)
    family.send(postback="register")
    [person] = persons(db_url)
    with session_scope(db_url) as session:
        add_cooperator(session, "chuo-1-1")

    question = family.send(postback="intent:report_missing")
    assert said(question) == ["utter_missing_intro", "utter_ask_missing_registered"]
    assert [c.payload for c in question.replies[-1].choices] == [f"person:{person.id}", "not_registered"]
    assert said(family.send(postback=f"person:{person.id}")) == ["utter_ask_last_seen_where"]
    assert left(db_url, family).slots == {"person_id": person.id, "missing_who": "82歳 女性 白髪 杖をつく",
                                          "report_case_id": 1}
    family.send("中央区本町")
    family.send("今朝8時ごろ")
    family.send("紺色のジャンパー")
    assert said(family.send("090-3333-4444")) == CREATED, "the registration answered the feature questions"

    with session_scope(db_url) as session:
        alert = session.scalars(select(Alert)).one()
        assert alert.status == AlertStatus.pending and alert.person_id == person.id
        # The registered features (and its sharing consent: no), the day's clothing.
        assert alert.public_fields == {"sex": "female", "age": 82, "height": "150_160", "hair": "white",
                                       "clothing": "紺色のジャンパー"}
        assert alert.share_identity is False
        assert alert.description == "82歳 女性 白髪 杖をつく" and alert.photo_ref == "line-content:photo-1"
        assert alert.clothing == "紺色のジャンパー" and alert.town_id == "chuo-1-1"
        assert alert.last_seen_at == _this_morning_at_8(family.now)
        assert session.scalars(select(OutboxItem)).all() == [], "nothing is broadcast without staff"


def test_a_family_may_describe_someone_else_instead_of_choosing(engine: ConversationEngine, db_url: str) -> None:
    family = Resident(engine, channel="line", user_id="U-family")
    pre_register(family)
    family.send(postback="register")
    family.send(postback="intent:report_missing")
    where = family.send("夫です。78歳の男性、灰色の帽子")
    assert said(where) == ["utter_ask_last_seen_where"], "the description answered 'who': the next question is where"
    family.send("中央区本町")
    family.send("昼ごろ")
    family.send("灰色の帽子と黒いコート")
    family.send("090-3333-4444")
    with session_scope(db_url) as session:
        alert = session.scalars(select(Alert)).one()
        assert alert.person_id is None and alert.photo_ref is None
        assert alert.description == "夫です。78歳の男性、灰色の帽子"
        assert alert.last_seen_at is not None, "「昼ごろ」 is read as around noon (flows/when.py)"


def test_auto_approval_for_a_pre_registered_person(engine: ConversationEngine, db_url: str, kicks: Kicks,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "auto_approve_registered", True)
    family = Resident(engine, channel="line", user_id="U-family")
    pre_register(family)
    family.send(postback="register")
    [person] = persons(db_url)
    with session_scope(db_url) as session:
        add_cooperator(session, "chuo-1-1")
    done = _report_missing(family, pick=f"person:{person.id}")
    assert said(done) == ["utter_missing_created", "utter_missing_alert_sent"]
    [alert] = _alerts(db_url)
    assert effects(done)[-1] == ("alert_queued", {"alert_id": alert.id, "queued": 1})
    assert kicks.calls == 1, "the engine wakes the fan-out after committing the turn"
    with session_scope(db_url) as session:
        alert = session.scalars(select(Alert)).one()
        assert alert.status == AlertStatus.active and alert.approved_by == "auto"
        assert len(session.scalars(select(OutboxItem)).all()) == 1


def test_auto_approval_never_applies_to_someone_not_registered(engine: ConversationEngine, db_url: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "auto_approve_registered", True)
    family = Resident(engine, channel="line", user_id="U-family-2")
    family.send(postback="intent:report_missing")
    family.send("80歳の男性で、背が低く白髪です")
    family.send("中央区本町")
    family.send("今朝8時ごろ")
    family.send("紺色のジャンパー")
    assert said(family.send("090-3333-4444"))[:2] == CREATED
    with session_scope(db_url) as session:
        alert = session.scalars(select(Alert)).one()
        assert alert.status == AlertStatus.pending and alert.person_id is None
        assert alert.description == "80歳の男性で、背が低く白髪です"


def test_the_menus_number_typed_is_not_the_first_report(resident: Resident, db_url: str) -> None:
    resident.send("こんにちは")
    chosen = resident.send("3")
    assert said(chosen) == ["utter_missing_intro", "utter_ask_missing_who"]
    assert left(db_url, resident) == Left("report_missing", "missing_who", {})


@pytest.mark.parametrize(("where", "minutes_before"), [
    ("中央区本町の駅の近くで30分前に見たのが最後です", 30),
    ("Chuo-ku Honmachi, near the station about 2 hours ago", 120),
    # A town or a landmark that names a part of the day is no time: "when?" is asked.
    ("南区朝日町の公園", None),
    ("中央区本町の夜間診療所の前", None),
])
def test_a_time_told_with_the_place_is_not_asked_again(resident: Resident, db_url: str, where: str,
                                                       minutes_before: int | None) -> None:
    resident.send(postback="intent:report_missing")
    resident.send("80歳の父、白髪")
    if minutes_before is None:
        assert said(resident.send(where)) == ["utter_ask_last_seen_when"]
        return
    assert said(resident.send(where)) == ["utter_ask_clothing"]
    said_at = resident.now
    resident.send("紺色のジャンパー")
    assert said(resident.send("090-3333-4444"))[:2] == CREATED
    [alert] = _alerts(db_url)
    assert alert.last_seen_at == said_at - timedelta(minutes=minutes_before)


def test_staff_read_every_detail_of_a_missing_report_under_a_label(resident: Resident, db_url: str) -> None:
    resident.send("認知症の父が帰ってこないんです")
    resident.send("85歳で、背が低くて白髪です")
    resident.send("中央区本町の駅の近くで30分前に見たのが最後です")
    resident.send("紺色のジャンパーを着ています")
    assert said(resident.send("090-1111-2222"))[:2] == CREATED
    [case] = cases(db_url)
    assert {"last_seen_time", "landmark"} <= set(case.details)
    assert set(case.details) - {INCOMPLETE} <= set(DETAIL_LABELS), "a key the console would show as it is"


def test_a_question_at_the_place_question_is_kept_for_the_desk(resident: Resident, db_url: str) -> None:
    resident.send("85歳の母が朝から帰ってきません")
    assert said(resident.send("警察にはもう電話しました。写真も送ったほうがいいですか？")) == [
        "utter_question_noted", "utter_ask_last_seen_where"]
    assert left(db_url, resident).slots["missing_who"] == "85歳の母", "a question is no description"
    resident.send("中央区本町")
    resident.send("朝9時ごろ")
    resident.send("紺色のジャンパー")
    done = resident.send("090-1111-2222")
    assert said(done)[:2] == CREATED
    [case] = cases(db_url)
    assert case.details["questions"] == "警察にはもう電話しました。写真も送ったほうがいいですか？"
    assert effects(done)[0][1]["fields"]["questions"] == case.details["questions"]


@pytest.mark.parametrize(("town", "rest"), [("Chuo-ku Honmachi", "2 chome"), ("中央区本町", "2丁目3番")])
def test_the_rest_of_the_address_after_the_town_is_no_time(resident: Resident, db_url: str, town: str,
                                                             rest: str) -> None:
    resident.send("My father has dementia and he did not come back from his walk")
    resident.send(town)
    assert said(resident.send(rest)) == ["utter_detail_noted", "utter_ask_last_seen_when"]
    assert left(db_url, resident).slots["last_seen_where"]["label"].endswith(rest)
    resident.send("about 9 in the morning")
    assert left(db_url, resident).slots["last_seen_when"] == "about 9 in the morning"


@pytest.mark.parametrize(("opening", "place", "question", "when", "clothing"), [
    ("Mi papá tiene demencia y salió a caminar esta mañana y no ha vuelto", "Chuo-ku Honmachi",
     "¿Puedo mandar una foto de él?", "esta mañana a las 9", "chaqueta azul, 80 años, bajito"),
    ("85歳の母が朝から帰ってきません", "中央区本町", "すみません、写真も送ったほうがいいですか", "朝9時ごろ",
     "紺色のジャンパー"),
    ("My father has dementia and he did not come back from his walk", "Chuo-ku Honmachi",
     "Can I send you a photo of him?", "about 9 this morning", "a navy jacket, is that enough?"),
])
def test_a_question_at_when_or_what_they_wore_is_no_answer(resident: Resident, db_url: str, opening: str,
                                                            place: str, question: str, when: str,
                                                            clothing: str) -> None:
    resident.send(opening)
    resident.send(place)
    assert said(resident.send(question)) == ["utter_question_noted", "utter_ask_last_seen_when"]
    resident.send(when)
    resident.send(clothing)  # an answer with a question tagged on is still the answer
    assert left(db_url, resident).slots["clothing"] == clothing
    done = resident.send("090-3333-4444")
    [case] = cases(db_url)
    assert (case.details["last_seen_when"], case.details["questions"]) == (when, question), "searchers read no question"
    assert effects(done)[0][1]["fields"]["clothing"] == clothing


@pytest.mark.parametrize(("opening", "question"), [
    ("85歳の母が朝から帰ってきません", "警察にも電話したほうがいいですか"),
    ("My father has dementia and he did not come back from his walk", "Should I call the police too?"),
    ("Mi papá tiene demencia y salió a caminar esta mañana y no ha vuelto", "¿Debo llamar a la policía también?"),
    ("mẹ tôi bị lẫn, đi đâu từ sáng chưa về", "Tôi có nên gọi cảnh sát không?"),
    ("어머니가 치매인데 아침에 나가서 아직 안 돌아오셨어요", "경찰에 신고해야 하나요?"),
])
def test_should_we_call_the_police_is_answered_at_once(resident: Resident, db_url: str, opening: str,
                                                       question: str) -> None:
    resident.send(opening)
    asked = resident.send(question)
    assert said(asked) == ["utter_missing_police", "utter_ask_last_seen_where"], "yes, 110 now: not left to the staff"
    assert asked.replies[0].urgent
    resident.send("中央区本町")
    assert said(resident.send(question)) == ["utter_missing_police", "utter_ask_last_seen_when"]
    kept = left(db_url, resident).slots
    assert "questions_asked" not in kept and "last_seen_when" not in kept, "answered, so neither kept nor an answer"


def test_the_police_already_called_is_no_question_about_the_police(resident: Resident) -> None:
    resident.send("85歳の母が朝から帰ってきません")
    assert said(resident.send("警察にはもう電話しました。次はどうしたらいいですか？")) == [
        "utter_question_noted", "utter_ask_last_seen_where"]


def test_the_time_said_at_the_place_question_is_when_not_a_description(resident: Resident, db_url: str) -> None:
    resident.send("85歳の父が朝から帰ってきません")
    assert said(resident.send("えー 朝の 九時ごろ です")) == ["utter_detail_noted", "utter_ask_last_seen_where"]
    kept = left(db_url, resident).slots
    assert (kept["last_seen_when"], kept["missing_who"]) == ("朝の 九時ごろ です", "85歳の父")
    assert said(resident.send("中央区本町")) == ["utter_ask_clothing_and_appearance"], "when is not asked again"


def test_a_family_that_gives_no_number_is_answered_in_the_chat(resident: Resident, db_url: str) -> None:
    resident.send("85歳の母が朝から帰ってきません")
    resident.send("中央区本町")
    resident.send("朝9時ごろ")
    resident.send("紺色のジャンパー")
    done = resident.send("電話番号は教えたくないです。このチャットで連絡してください")
    assert said(done)[:3] == ["utter_reply_here_noted", *CREATED]
    [case] = cases(db_url)
    assert case.details["who"] == "85歳の母" and case.details["callback_phone"] is None, "the refusal is no description"
    assert effects(done)[0][1]["fields"]["contact"] == "channel"


def test_answer_me_here_said_before_the_number_is_asked_is_kept(resident: Resident, db_url: str) -> None:
    resident.send("我妈妈今天早上出门到现在还没回来，她有老年痴呆")
    resident.send("中央区本町车站附近")
    resident.send("早上八点左右")
    turn = resident.send("不想给电话，就在这里联系我吧")
    assert said(turn) == ["utter_reply_here_noted", "utter_ask_clothing_and_appearance"], "no description"
    done = resident.send("蓝色外套，八十岁，个子不高")
    assert said(done)[:2] == CREATED, "the number is not asked"
    [case] = cases(db_url)
    assert case.details["clothing"] == "蓝色外套，八十岁，个子不高" and case.details["callback_phone"] is None
    assert effects(done)[0][1]["fields"]["contact"] == "channel"


def test_minutes_ago_are_read_against_the_turn_they_were_said_in(resident: Resident, db_url: str) -> None:
    resident.send(postback="intent:report_missing")
    resident.send("80歳の父、白髪")
    resident.send("中央区本町")
    assert said(resident.send("10分前")) == ["utter_ask_clothing"]
    said_at = resident.now
    resident.now += timedelta(minutes=20)  # the family takes a while over the next answers
    resident.send("紺色のジャンパー")
    assert said(resident.send("090-3333-4444"))[:2] == CREATED
    [alert] = _alerts(db_url)
    assert alert.last_seen_at == said_at - timedelta(minutes=10)


def test_failure_1_the_description_in_the_form_is_who_not_an_emergency(resident: Resident, db_url: str) -> None:
    # Issue 11, failure 1: an elderly caller's description, as written, answers "who".
    first = resident.send(postback="intent:report_missing")
    assert said(first) == ["utter_missing_intro", "utter_ask_missing_who"]
    turn = resident.send("85歳の男じゃ。背は低うて、腰が曲がっとる")
    assert said(turn) == ["utter_ask_last_seen_where"]
    assert effects(turn) == [], "a description is no emergency"
    assert left(db_url, resident).slots["missing_who"] == "85歳の男じゃ。背は低うて、腰が曲がっとる"
    resident.send("北区柳町")
    resident.send("昼ごろ")
    resident.send("茶色の上着")
    done = resident.send("090-3333-4444")
    assert said(done)[:2] == CREATED
    assert effects(done)[0][1]["fields"]["who"] == "85歳の男じゃ。背は低うて、腰が曲がっとる"
    [alert] = _alerts(db_url)
    assert alert.description == "85歳の男じゃ。背は低うて、腰が曲がっとる"


def test_a_description_sent_to_the_place_question_is_added_to_who(resident: Resident, db_url: str) -> None:
    resident.send("85歳の母が朝から帰ってきません")
    assert left(db_url, resident).slots["missing_who"] == "85歳の母", "the first message said who"
    turn = resident.send("背は低うて、腰が曲がっとる。杖をついています")
    assert said(turn) == ["utter_detail_noted", "utter_ask_last_seen_where"]
    assert effects(turn) == []
    assert left(db_url, resident).slots["missing_who"] == "85歳の母 / 背は低うて、腰が曲がっとる。杖をついています"
    assert said(resident.send("中央区本町")) == ["utter_ask_last_seen_when"]


@pytest.mark.parametrize(("text", "who", "asked"), [
    ("85歳の母が中央区本町のスーパーからいなくなりました", "85歳の母", "utter_ask_last_seen_when"),
    ("父 80歳 が散歩に出たまま帰らない", "父 80歳", "utter_ask_last_seen_where"),
    ("My father, 82, has dementia and went missing", "My father, 82", "utter_ask_last_seen_where"),
    ("認知症の父が朝から帰ってこない", "認知症の父", "utter_ask_last_seen_where"),
    ("家族が帰ってきません、すぐ探してください", None, "utter_ask_missing_who"),
])
def test_the_first_message_fills_who_and_where(resident: Resident, db_url: str, text: str, who: str | None,
                                               asked: str) -> None:
    turn = resident.send(text)
    assert said(turn) == ["utter_missing_intro", asked]
    kept = left(db_url, resident).slots
    assert kept.get("missing_who") == who and kept["first_report"] == text
    if asked == "utter_ask_last_seen_when":
        assert kept["last_seen_where"]["area"]["town_id"] == "chuo-1-1"


def test_only_a_place_sent_for_who_answers_where_and_who_is_asked_again(resident: Resident, db_url: str) -> None:
    resident.send(postback="intent:report_missing")
    assert said(resident.send("南区朝日町")) == ["utter_ask_missing_who"]
    assert left(db_url, resident).slots["last_seen_where"]["area"]["town_id"] == "minami-1-2"
    assert said(resident.send("78歳や、小柄で髪は白いねん")) == ["utter_ask_last_seen_when"]


@pytest.mark.parametrize(("first", "described", "clothing_question"), [
    # Who is only a family word: the clothing question asks for the appearance too.
    ("認知症の父が朝から帰ってこない", None, "utter_ask_clothing_and_appearance"),
    # More about the person was added: the plain clothing question.
    ("認知症の父が朝から帰ってこない", "背が低くて白髪です", "utter_ask_clothing"),
])
def test_a_family_word_alone_still_gets_the_appearance_asked(resident: Resident, db_url: str, first: str,
                                                            described: str | None, clothing_question: str) -> None:
    resident.send(first)
    if described is not None:
        assert said(resident.send(described)) == ["utter_detail_noted", "utter_ask_last_seen_where"]
    assert said(resident.send("中央区本町")) == ["utter_ask_last_seen_when"]
    assert said(resident.send("今朝8時ごろ")) == [clothing_question]
    assert said(resident.send("紺のジャンパー、80歳くらいで小柄です")) == ["utter_ask_callback_phone"]
    resident.send("090-1234-5678")
    [case] = cases(db_url)
    assert case.details["clothing"] == "紺のジャンパー、80歳くらいで小柄です"
    assert case.details["who"].startswith("認知症の父")


@pytest.mark.parametrize(("first", "clothing"), [
    ("うちのおかんがおらへんねん。認知症やねん。緑のカーディガン着て朝出てったきり帰ってけえへん", "緑のカーディガン"),
    ("My mother has dementia, she went out wearing a green cardigan and she has not come back",
     "a green cardigan"),
])
def test_clothing_told_in_the_first_words_is_not_asked_again(resident: Resident, db_url: str, first: str,
                                                             clothing: str) -> None:
    resident.send(first)
    resident.send("中央区本町")
    assert said(resident.send("今朝8時ごろ")) == ["utter_ask_callback_phone"]
    resident.send("090-1234-5678")
    [case] = cases(db_url)
    assert case.details["clothing"] == clothing


def _reported(resident: Resident, who: str, clothing: str) -> TurnResult:
    resident.send(postback="intent:report_missing")
    resident.send(who)
    resident.send("中央区本町")
    resident.send("今朝8時ごろ")
    resident.send(clothing)
    return resident.send("090-3333-4444")


def test_a_family_that_says_little_is_asked_the_key_features_with_choices(resident: Resident, db_url: str) -> None:
    # Issue 17, failure 6: 「母です。78歳」「服装：わからない」 and nothing asked about sex, height, build.
    done = _reported(resident, "母です。78歳", "わからない")
    assert said(done) == [*CREATED, "utter_alert_details_intro", "utter_ask_feature_height"]
    question = done.replies[-1]
    assert [choice.payload for choice in question.choices] == [
        "feature:height:under_150", "feature:height:150_160", "feature:height:160_170", "feature:height:170_180",
        "feature:height:over_180", "feature:height:"]
    assert said(resident.send(postback="feature:height:150_160")) == ["utter_ask_feature_build"]
    assert said(resident.send(postback="feature:build:small")) == ["utter_ask_share_identity"]
    resident.send(postback="share:no")
    [alert] = _alerts(db_url)
    assert alert.public_fields == {"sex": "female", "age": 78, "height": "150_160", "build": "small"}, \
        "「わからない」 is no clothing"


def test_consent_to_share_asks_the_name_and_the_alert_shows_it(resident: Resident, db_url: str) -> None:
    done = _reported(resident, "父です。80歳、白髪でやせ型、170cmくらい。アルツハイマー型認知症です", "茶色の帽子、杖をついています")
    assert said(done) == [*CREATED, "utter_ask_share_identity"], "nothing left to choose: only the consent"
    assert said(resident.send(postback="share:yes")) == ["utter_ask_public_name"]
    assert said(resident.send("山田太郎（やまだたろう）")) == ["utter_ask_alert_photo"], "no photo registered: asked"
    assert said(resident.send(media_ref="telegram:photo:AgAD-dad")) == ["utter_alert_details_noted"]
    [alert] = _alerts(db_url)
    assert alert.share_identity is True and alert.photo_ref == "telegram:photo:AgAD-dad"
    assert alert.public_fields == {"sex": "male", "age": 80, "height": "170_180", "build": "slim", "hair": "white",
                                   "clothing": "茶色の帽子", "belongings": "杖", "name": "山田太郎",
                                   "name_kana": "やまだたろう", "diagnosis": "アルツハイマー型認知症"}


def test_no_photo_to_give_is_a_skip(resident: Resident, db_url: str) -> None:
    _reported(resident, "父です。80歳、白髪でやせ型、170cmくらい", "茶色の帽子")
    resident.send(postback="share:yes")
    resident.send(postback="none")
    assert said(resident.send("写真はありません")) == ["utter_alert_details_noted"]
    [alert] = _alerts(db_url)
    assert alert.share_identity is True and alert.photo_ref is None and "name" not in alert.public_fields


def test_something_remembered_instead_of_a_choice_goes_to_the_case(resident: Resident, db_url: str) -> None:
    _reported(resident, "母です。78歳", "赤いセーター")
    turn = resident.send("そういえば、家の鍵を持って出たようです")
    assert said(turn) == ["utter_case_details_added", "utter_ask_feature_build"]
    assert [kind for kind, _ in effects(turn)] == ["case_updated"]
    [alert] = _alerts(db_url)
    assert "height" not in alert.public_fields


def test_words_that_say_more_than_the_choice_also_go_to_the_case(resident: Resident, db_url: str) -> None:
    _reported(resident, "母です。78歳", "赤いセーター")
    turn = resident.send("150くらいで、腰が曲がっていて杖をついています")
    assert said(turn) == ["utter_case_details_added", "utter_ask_feature_build"]
    assert said(resident.send("やせ型です")) == ["utter_ask_share_identity"], "a short answer is only the choice"
    [alert] = _alerts(db_url)
    assert alert.public_fields["build"] == "slim"


@pytest.mark.parametrize("bare", ["はい", "yes", "いいえ"])
def test_a_bare_yes_or_no_to_a_choice_asks_it_once_more_and_is_no_detail(
    resident: Resident, db_url: str, bare: str
) -> None:
    _reported(resident, "母です。78歳", "赤いセーター")
    assert said(resident.send(bare)) == ["utter_ask_feature_height"], "the same question again"
    assert said(resident.send(bare)) == ["utter_ask_feature_build"], "asked once more only"
    [case] = cases(db_url)
    assert bare not in str(case.details), "not added to the report as something remembered"


def test_found_while_choosing_ends_the_alert(resident: Resident, db_url: str) -> None:
    _reported(resident, "母です。78歳", "赤いセーター")
    turn = resident.send("見つかりました！帰ってきました")
    assert ("alert_ended" in [kind for kind, _ in effects(turn)])
    [alert] = _alerts(db_url)
    assert alert.status == AlertStatus.cancelled, "still pending: withdrawn"


def test_an_alert_staff_approved_meanwhile_is_not_changed_behind_them(resident: Resident, db_url: str) -> None:
    _reported(resident, "母です。78歳", "赤いセーター")
    with session_scope(db_url) as session:
        session.scalars(select(Alert)).one().status = AlertStatus.active
    assert said(resident.send(postback="feature:height:150_160")) == ["utter_ask_feature_build"]
    resident.send(postback="feature:build:slim")
    resident.send(postback="share:yes")
    [alert] = _alerts(db_url)
    assert alert.public_fields == {"sex": "female", "age": 78, "clothing": "赤いセーター"}
    assert alert.share_identity is False


def test_never_mind_while_choosing_ends_the_questions_not_the_report(resident: Resident, db_url: str) -> None:
    _reported(resident, "母です。78歳", "赤いセーター")
    assert said(resident.send("やめてください")) == ["utter_alert_details_noted"]
    [case] = cases(db_url)
    assert left(db_url, resident) == Left("case_followup", None, {"case_id": case.id})
    [alert] = _alerts(db_url)
    assert alert.status == AlertStatus.pending and alert.share_identity is False


def test_stopping_while_choosing_is_told_to_the_desk_not_called_cancelled(resident: Resident, db_url: str) -> None:
    _reported(resident, "母です。78歳", "赤いセーター")
    turn = resident.send("もう大丈夫です")
    assert said(turn) == ["utter_cancel_after_report"]
    assert [kind for kind, _ in effects(turn)] == ["case_updated"]
    [alert] = _alerts(db_url)
    assert alert.status == AlertStatus.pending, "only the family's 'found' ends an alert"


def test_a_night_report_gives_the_alert_the_absolute_time_of_that_night(resident: Resident, db_url: str) -> None:
    # Issue 17, failure 6: 「夜中の3時ごろ」 reported at 04:40 went out as words, with no date.
    resident.now = datetime(2026, 11, 30, 4, 40, tzinfo=settings.tz)
    resident.send(postback="intent:report_missing")
    resident.send("母です。78歳")
    resident.send("中央区本町")
    resident.send("夜中の3時ごろ")
    resident.send("紺色のジャンパー")
    resident.send("090-3333-4444")
    domain = load_domain()
    with session_scope(db_url) as session:
        alert = session.scalars(select(Alert)).one()
        assert alert.last_seen_at == datetime(2026, 11, 30, 3, 0, tzinfo=settings.tz)
        text = compose_alert(domain, alert, "alert", "ja").text
    assert domain.text("utter_alert_line_time", "ja", value="11月30日 午前3時ごろ") in text
    assert "夜中の3時ごろ" not in text


def test_coming_back_hours_later_is_no_timeout_the_report_is_made(resident: Resident, db_url: str) -> None:
    _reported(resident, "母です。78歳", "赤いセーター")
    resident.now += timedelta(minutes=settings.conversation_timeout_minutes + 1)
    assert "utter_timeout_restart" not in said(resident.send("こんにちは"))


def test_a_family_answering_other_things_at_the_place_question_keeps_every_answer(resident: Resident,
                                                                                  db_url: str) -> None:
    """Found with `tsunagu chat`: the age at the which-town question started the place over, and
    the family's number typed there ended the report as "outside the city"."""
    resident.send("父が朝から帰ってきません。認知症があります")
    assert said(resident.send("南区旭町")) == ["utter_ask_which_town"]
    assert said(resident.send("82歳です")) == ["utter_detail_noted", "utter_ask_which_town"]
    assert said(resident.send("今朝8時ごろ")) == ["utter_detail_noted", "utter_ask_which_town"]
    assert said(resident.send("紺色のジャンパーに茶色の帽子")) == ["utter_detail_noted", "utter_ask_which_town"]
    assert said(resident.send("私の電話番号は090-1234-5678です")) == ["utter_detail_noted", "utter_ask_which_town"]
    kept = left(db_url, resident)
    assert (kept.step, kept.slots["callback_phone"], kept.slots["clothing"]) == (
        "last_seen_where", "09012345678", "紺色のジャンパー、茶色の帽子")
    assert "landmark" not in (kept.slots.get("_report_place") or {})
    # The town picked, nothing is asked again: when, clothing and the number were told.
    assert said(resident.send(postback="town:minami-1-2"))[:2] == CREATED
    [case] = cases(db_url)
    assert (case.counter_id, case.details["callback_phone"]) == ("mimamori-minami", "09012345678")
    assert "82歳" in case.details["who"] and case.details["clothing"] == "紺色のジャンパー、茶色の帽子"


@pytest.mark.parametrize("number", ["my number is 080-5555-6666", "０８０ー５５５５ー６６６６", "Số điện thoại của tôi là 080 5555 6666"])
def test_a_number_typed_before_it_is_asked_is_the_number_to_call(engine: ConversationEngine, db_url: str,
                                                                  number: str) -> None:
    family = Resident(engine, language="en")
    family.send("My mother with dementia went out and has not come back")
    assert said(family.send(number)) == ["utter_detail_noted", "utter_ask_last_seen_where"]
    family.send("Kita-ku Yanagimachi")
    family.send("about 2 hours ago")
    # The number was told: the report is sent after the clothing, no number asked.
    assert said(family.send("a beige coat"))[:2] == CREATED
    [case] = cases(db_url)
    [alert] = _alerts(db_url)
    assert case.details["callback_phone"] == "08055556666"
    assert "5555" not in str(alert.public_fields) and "5555" not in (alert.description or "")


def test_words_naming_no_place_twice_go_on_with_the_place_unknown(resident: Resident, db_url: str) -> None:
    """Not "outside the city" (which ends the report) without a sign of it: the family's words
    are kept for the desk and the report goes on."""
    resident.send("認知症の母が昼から帰ってこない")
    assert said(resident.send("いつもの散歩道のあたり"))[0] == "utter_place_not_found"
    told = said(resident.send("川のほう"))
    assert "utter_outside_city" not in told
    while left(db_url, resident).step == "last_seen_where":
        told = said(resident.send("わからない"))
    assert told == ["utter_ask_last_seen_when"]
    resident.send("昼の1時ごろ")
    resident.send("白いカーディガン")
    assert said(resident.send("090-1234-5678"))[:2] == CREATED
    [case] = cases(db_url)
    assert case.details["place_unknown"] and "川のほう" in case.details["landmark"]


@pytest.mark.parametrize("yes", ["はい", "có", "네"])
def test_a_bare_yes_to_what_they_wore_is_asked_again(resident: Resident, db_url: str, yes: str) -> None:
    resident.send("認知症の父が朝から帰ってこない")
    resident.send("中央区本町")
    resident.send("今朝8時ごろ")
    assert said(resident.send(yes)) == ["utter_ask_clothing_and_appearance"]
    assert "clothing" not in left(db_url, resident).slots
    assert said(resident.send("はい、紺のジャンパーです")) == ["utter_ask_callback_phone"], "more than a yes answers"


@pytest.mark.parametrize(("language", "first", "clothes", "clothing"), [
    ("vi", "Mẹ tôi bị lẫn, đi ra ngoài từ sáng chưa về", "áo khoác màu xanh và mũ đỏ", "áo khoác màu xanh, mũ đỏ"),
    ("pt", "Desapareceu o meu pai, tem demência, saiu de manhã e não voltou", "casaco marrom e boné azul",
     "casaco marrom, boné azul"),
])
def test_clothes_told_in_the_residents_languages_reach_the_alert(engine: ConversationEngine, db_url: str,
                                                                 language: str, first: str, clothes: str,
                                                                 clothing: str) -> None:
    family = Resident(engine, language=language)
    family.send(first)
    # Told at the place question: kept, and not asked again.
    assert said(family.send(clothes)) == ["utter_detail_noted", "utter_ask_last_seen_where"]
    family.send("Kita-ku Yanagimachi")
    assert said(family.send("7:00"))[0] == "utter_ask_callback_phone"
    family.send("080 1111 2222")
    [alert] = _alerts(db_url)
    assert alert.public_fields["clothing"] == clothing
