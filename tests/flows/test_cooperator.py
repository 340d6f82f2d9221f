"""register_helper and unsubscribe, whole conversations: becoming a 協力者 of the
missing-person alert network on LINE, Telegram, web chat and the phone (consent, then the
confidentiality pledge), continuing a year later, stopping night alerts only, and leaving —
confirmed first — even in the middle of another conversation.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from alerts.cooperators import EndpointSpec, register_cooperator
from bot.db import session_scope
from bot.engine import ConversationEngine
from bot.messages import TurnResult
from bot.models import Contact, Cooperator, CooperatorEndpoint, Message, MessageDirection
from bot.settings import settings
from flows.conversation import MORE_PROMPT
from tests.bot.conftest import Resident
from tests.flows.conftest import Left, effects, left, rendered, said

# Inside 中央区 本町's polygon, but not its centroid (34.6975, 135.47).
NEAR_HONMACHI = {"latitude": 34.7012, "longitude": 135.4763}
HONMACHI = {"town_id": "chuo-1-1", "label": "中央区 本町"}
# On the phone, a finished matter is followed by 「ほかにご用件はありますか」.
ANYTHING_ELSE = MORE_PROMPT


def _sign_up(resident: Resident, *place: object, email: str = "なし", sms: str = "なし",
             quiet: str = "なし") -> TurnResult:
    resident.send(postback="intent:register_helper")
    resident.send(postback="agree")
    resident.send(postback="agree")  # the pledge
    for answer in place:
        resident.send(**answer) if isinstance(answer, dict) else resident.send(str(answer))
    resident.send(email)
    resident.send(sms)
    return resident.send(quiet)


def _cooperators(db_url: str) -> list[Cooperator]:
    with session_scope(db_url) as session:
        cooperators = list(session.scalars(select(Cooperator).order_by(Cooperator.id)))
        for cooperator in cooperators:
            _ = cooperator.endpoints
        return cooperators


def test_line_sign_up_keeps_the_town_not_the_point_then_one_message_stops_it(engine: ConversationEngine,
                                                                              db_url: str) -> None:
    resident = Resident(engine, channel="line", user_id="U-line-1")
    consent = resident.send(postback="intent:register_helper")
    assert said(consent) == ["utter_helper_consent"]
    assert [c.payload for c in consent.replies[-1].choices] == ["agree", "disagree"]
    pledge = resident.send(postback="agree")
    assert said(pledge) == ["utter_cooperator_pledge"]
    assert [c.payload for c in pledge.replies[-1].choices] == ["agree", "disagree"]
    area = resident.send(postback="agree")
    assert said(area) == ["utter_ask_helper_area"] and area.replies[-1].request_location
    assert said(resident.send(**NEAR_HONMACHI)) == ["utter_ask_helper_email"]
    assert left(db_url, resident).slots == {"helper_area": HONMACHI}
    assert said(resident.send("なし")) == ["utter_ask_helper_sms"]
    quiet = resident.send(postback="none")
    assert said(quiet) == ["utter_ask_quiet_hours"]
    assert [c.payload for c in quiet.replies[-1].choices] == ["none", "no_night"], "night alerts: an explicit choice"
    confirm = resident.send("22:00-07:00")
    assert said(confirm) == ["utter_helper_confirm"]
    assert confirm.replies[0].text == rendered(
        "utter_helper_confirm", "ja", "line", area="中央区 本町",
        quiet=rendered("utter_quiet_night_alerts_on", "ja", "line", hours="22:00-07:00"),
        channels=rendered("utter_helper_endpoint_chat", "ja", "line", chat="LINE"))
    assert not _cooperators(db_url), "nothing is registered before the confirmation"
    registered = resident.send(postback="register")
    assert said(registered) == ["utter_helper_registered"]

    [cooperator] = _cooperators(db_url)
    assert effects(registered) == [("cooperator_registered", {"cooperator_id": cooperator.id})]
    assert (cooperator.town_id, cooperator.latitude, cooperator.longitude) == ("chuo-1-1", 34.6975, 135.47)
    assert [(e.channel, e.address, e.priority) for e in cooperator.endpoints] == [("line", "U-line-1", 0)]
    assert (cooperator.quiet_start, cooperator.quiet_end, cooperator.night_alerts) == ("22:00", "07:00", True)
    assert cooperator.reconfirm_due - cooperator.consented_at == timedelta(days=settings.cooperator_reconfirm_days)
    with session_scope(db_url) as session:
        payloads = session.scalars(select(Message.payload).where(Message.direction == MessageDirection.inbound,
                                                                 Message.kind == "location")).all()
    assert payloads == [{"latitude": 34.6975, "longitude": 135.47}], "the exact point is not kept anywhere"

    asked = resident.send("配信を停止して")
    assert said(asked) == ["utter_unsubscribe_confirm"] and effects(asked) == []
    assert _cooperators(db_url)[0].active, "nothing is stopped before the confirmation"
    stopped = resident.send(postback="yes")
    assert said(stopped) == ["utter_unsubscribed"]
    assert effects(stopped) == [("cooperator_unsubscribed", {"cooperator_id": cooperator.id})]
    [cooperator] = _cooperators(db_url)
    assert not cooperator.active and not cooperator.endpoints[0].active


def test_kansai_dialect_in_words(engine: ConversationEngine, db_url: str) -> None:
    resident = Resident(engine, channel="line", user_id="U-kansai")
    assert said(resident.send("見守りメールに登録したいんやけど")) == ["utter_helper_consent"]
    assert said(resident.send("はい")) == ["utter_cooperator_pledge"]
    assert said(resident.send("ええよ")) == ["utter_ask_helper_area"]
    assert said(resident.send("ちゅうおうく ほんまち")) == ["utter_ask_helper_email"]
    assert said(resident.send("いらん")) == ["utter_ask_helper_sms"]
    assert said(resident.send("なし")) == ["utter_ask_quiet_hours"]
    assert said(resident.send("夜は困る")) == ["utter_bad_quiet_hours", "utter_ask_quiet_hours"]
    assert said(resident.send("22時から7時")) == ["utter_helper_confirm"]
    assert left(db_url, resident) == Left("register_helper", "confirm", {
        "helper_area": HONMACHI, "helper_email": None, "helper_sms": None, "quiet_hours": ["22:00", "07:00"]})
    assert said(resident.send("ええよ")) == ["utter_helper_registered"]
    [cooperator] = _cooperators(db_url)
    assert (cooperator.town_id, cooperator.quiet_start, cooperator.quiet_end) == ("chuo-1-1", "22:00", "07:00")

    assert said(resident.send("協力者の登録")) == ["utter_helper_already"]
    assert said(resident.send("2")) == ["utter_helper_consent"], "2 = change the registration"
    assert said(resident.send("2")) == ["utter_registration_declined"]
    assert said(resident.send("もう配信はいらない")) == ["utter_unsubscribe_confirm"]
    assert said(resident.send("はい")) == ["utter_unsubscribed"]
    assert not _cooperators(db_url)[0].active


def test_phone_caller_registers_a_mobile_by_voice_and_stops_by_phone(engine: ConversationEngine,
                                                                     db_url: str) -> None:
    caller = Resident(engine, channel="voice", user_id="+819011112222")
    caller.send(event="call_start")
    assert said(caller.send("協力者になりたいです")) == ["utter_helper_consent"]
    assert said(caller.send("1")) == ["utter_cooperator_pledge"]
    assert said(caller.send("1")) == ["utter_ask_helper_area"]
    assert said(caller.send("きたく やなぎまち")) == ["utter_place_read_back"], "a place is read back on the phone"
    assert said(caller.send("1")) == ["utter_ask_helper_email"]
    assert said(caller.send("1")) == ["utter_ask_helper_sms"], "1 = none"
    assert said(caller.send("ぜろきゅうぜろ")) == ["utter_bad_mobile", "utter_ask_helper_sms"]
    assert said(caller.send("090 1111 2222")) == ["utter_ask_quiet_hours"]
    assert left(db_url, caller).slots["helper_sms"] == "+819011112222"
    assert said(caller.send("1")) == ["utter_helper_confirm"]
    assert said(caller.send("1")) == ["utter_helper_registered", ANYTHING_ELSE]
    [cooperator] = _cooperators(db_url)
    assert (cooperator.town_id, [(e.channel, e.address) for e in cooperator.endpoints]) == (
        "kita-2-2", [("sms", "+819011112222")])

    caller.send(event="call_start")
    assert said(caller.send("配信を停止して")) == ["utter_unsubscribe_confirm"], "the caller's number is the SMS endpoint"
    assert said(caller.send("1")) == ["utter_unsubscribed", ANYTHING_ELSE], "1 = yes"
    assert not _cooperators(db_url)[0].active


def test_a_caller_stops_an_sms_number_kept_in_national_form(engine: ConversationEngine, db_url: str) -> None:
    with session_scope(db_url) as session:
        register_cooperator(session, endpoints=[EndpointSpec("sms", "090-1111-2222")], town_id="kita-2-2",
                            latitude=34.7, longitude=135.5, quiet_hours=None, language="ja")
    caller = Resident(engine, channel="voice", user_id="+819011112222")
    caller.send(event="call_start")
    assert said(caller.send("配信を停止して")) == ["utter_unsubscribe_confirm"], "Twilio's E.164 is the same number"
    assert said(caller.send("はい")) == ["utter_unsubscribed", ANYTHING_ELSE]
    [cooperator] = _cooperators(db_url)
    assert not cooperator.active and [(e.channel, e.address, e.active) for e in cooperator.endpoints] == [
        ("sms", "090-1111-2222", False)]


def test_another_number_ending_alike_is_not_the_caller(engine: ConversationEngine, db_url: str) -> None:
    with session_scope(db_url) as session:
        register_cooperator(session, endpoints=[EndpointSpec("sms", "+818011112222")], town_id="kita-2-2",
                            latitude=34.7, longitude=135.5, quiet_hours=None, language="ja")
    caller = Resident(engine, channel="voice", user_id="+819011112222")
    caller.send(event="call_start")
    assert said(caller.send("配信を停止して")) == ["utter_unsubscribe_not_registered", ANYTHING_ELSE]
    assert _cooperators(db_url)[0].active


def test_telegram_sign_up_in_english_with_email_and_sms(engine: ConversationEngine, db_url: str) -> None:
    resident = Resident(engine, channel="telegram", user_id="5551234", language="en")
    resident.send(postback="intent:register_helper")
    assert said(resident.send("yes")) == ["utter_cooperator_pledge"]
    assert said(resident.send("yes")) == ["utter_ask_helper_area"]
    resident.send("北区柳町")
    assert said(resident.send("my address")) == ["utter_bad_email", "utter_ask_helper_email"]
    resident.send("helper@example.jp")
    assert said(resident.send("03-1234-5678")) == ["utter_bad_mobile", "utter_ask_helper_sms"]
    resident.send("090-1234-5678")
    confirm = resident.send(postback="none")
    assert said(confirm) == ["utter_helper_confirm"]
    channels = ", ".join([rendered("utter_helper_endpoint_chat", "en", "telegram", chat="Telegram"),
                          rendered("utter_helper_endpoint_email", "en", "telegram", address="helper@example.jp"),
                          rendered("utter_helper_endpoint_sms", "en", "telegram", address="+819012345678")])
    assert confirm.replies[0].text == rendered("utter_helper_confirm", "en", "telegram", area="北区 柳町",
                                               channels=channels, quiet=rendered("utter_none_label", "en"))
    assert said(resident.send("no alerts at night")) == ["utter_helper_night_noted", "utter_helper_confirm"]
    assert said(resident.send("yes")) == ["utter_helper_registered"]
    [cooperator] = _cooperators(db_url)
    assert cooperator.town_id == "kita-2-2" and cooperator.language == "en"
    assert (cooperator.night_alerts, cooperator.quiet_start, cooperator.quiet_end) == (False, "22:00", "07:00")
    assert [(e.channel, e.address) for e in cooperator.endpoints] == [
        ("telegram", "5551234"), ("email", "helper@example.jp"), ("sms", "+819012345678")]

    # Stopping works in the middle of another conversation, by its button too.
    resident.send(postback="intent:register_person")
    assert said(resident.send(postback="intent:unsubscribe")) == ["utter_unsubscribe_confirm"]
    assert said(resident.send("yes")) == ["utter_unsubscribed"]
    assert not _cooperators(db_url)[0].active


def test_a_chat_alerts_cannot_reach_needs_an_address(engine: ConversationEngine, db_url: str) -> None:
    resident = Resident(engine, channel="webchat", user_id="web-1")
    resident.send(postback="intent:register_helper")
    resident.send(postback="agree")
    resident.send(postback="agree")
    resident.send("中央区本町")
    resident.send(postback="none")
    assert said(resident.send(postback="none")) == ["utter_helper_need_endpoint", "utter_ask_helper_email"]
    assert left(db_url, resident).slots == {"helper_area": HONMACHI}, "the addresses are asked again"
    resident.send("me@example.jp")
    resident.send("なし")
    resident.send("なし")
    resident.send(postback="register")
    [cooperator] = _cooperators(db_url)
    assert [(e.channel, e.address) for e in cooperator.endpoints] == [("email", "me@example.jp")]


def test_a_registered_cooperator_continues_changes_or_stops(engine: ConversationEngine, db_url: str) -> None:
    resident = Resident(engine, channel="line", user_id="U-2")
    _sign_up(resident, "中央区本町")
    resident.send(postback="register")
    with session_scope(db_url) as session:
        # A year has passed: the re-confirmation is due.
        session.scalars(select(Cooperator)).one().reconfirm_due = resident.now - timedelta(days=1)
    again = resident.send(postback="intent:register_helper")
    assert said(again) == ["utter_helper_already"]
    assert again.replies[0].text == rendered("utter_helper_already", "ja", "line", area="中央区 本町")
    assert [c.payload for c in again.replies[0].choices] == ["keep", "change", "unsubscribe"]
    assert said(resident.send(postback="keep")) == ["utter_helper_reconfirmed"]
    assert _cooperators(db_url)[0].reconfirm_due == resident.now + timedelta(days=settings.cooperator_reconfirm_days)
    resident.send(postback="intent:register_helper")
    assert said(resident.send(postback="unsubscribe")) == ["utter_unsubscribe_confirm"]
    assert said(resident.send(postback="yes")) == ["utter_unsubscribed"]
    assert not _cooperators(db_url)[0].active


def test_unsubscribe_from_the_registered_menu_answers_once(engine: ConversationEngine, db_url: str) -> None:
    resident = Resident(engine, channel="line", user_id="U-once")
    _sign_up(resident, "中央区本町")
    resident.send(postback="register")
    assert said(resident.send(postback="intent:register_helper")) == ["utter_helper_already"]
    assert said(resident.send(postback="unsubscribe")) == ["utter_unsubscribe_confirm"]
    stopped = resident.send(postback="yes")
    [cooperator] = _cooperators(db_url)
    assert said(stopped) == ["utter_unsubscribed"]
    assert effects(stopped) == [("cooperator_unsubscribed", {"cooperator_id": cooperator.id})]
    assert not cooperator.active
    assert left(db_url, resident) == Left(None, None, {})


def test_unsubscribing_when_not_registered_is_answered_kindly(engine: ConversationEngine) -> None:
    resident = Resident(engine, channel="line", user_id="U-stranger")
    turn = resident.send(postback="intent:unsubscribe")
    assert said(turn) == ["utter_unsubscribe_not_registered"] and effects(turn) == []


def test_declining_consent_registers_nothing(engine: ConversationEngine, db_url: str) -> None:
    resident = Resident(engine, channel="line", user_id="U-3")
    resident.send(postback="intent:register_helper")
    assert said(resident.send(postback="disagree")) == ["utter_registration_declined"]
    assert left(db_url, resident) == Left(None, None, {})
    assert not _cooperators(db_url)


def test_an_emergency_mid_flow_comes_first_and_the_question_stays(engine: ConversationEngine,
                                                                  db_url: str) -> None:
    resident = Resident(engine, channel="telegram", user_id="5550777", language="en")
    resident.send("I want to register as a helper for missing person alerts")
    resident.send("yes")
    resident.send("yes")
    turn = resident.send("someone collapsed in front of me")
    assert said(turn) == ["utter_emergency_119", "utter_after_emergency_resume", "utter_ask_helper_area"]
    assert effects(turn) == [("emergency_guidance", {"service": "119"})]
    assert left(db_url, resident) == Left("register_helper", "helper_area", {})
    assert said(resident.send("Kita-ku Sakaemachi")) == ["utter_ask_helper_email"]


def test_stop_alerts_in_words_in_the_middle_of_another_flow(engine: ConversationEngine, db_url: str) -> None:
    resident = Resident(engine, channel="line", user_id="U-mid")
    _sign_up(resident, "中央区本町")
    resident.send(postback="register")
    resident.send(postback="intent:register_person")
    resident.send(postback="agree")
    assert said(resident.send("配信を停止して")) == ["utter_unsubscribe_confirm"]
    assert said(resident.send("はい")) == ["utter_unsubscribed"]
    assert left(db_url, resident) == Left(None, None, {}), "the flow that was active is left"
    assert not _cooperators(db_url)[0].active
    with session_scope(db_url) as session:
        assert session.scalars(select(Contact.active)).all() == [True]
        assert session.scalars(select(CooperatorEndpoint.active)).all() == [False]


def test_no_alerts_at_night_stops_night_alerts_only_from_any_conversation(engine: ConversationEngine,
                                                                         db_url: str) -> None:
    resident = Resident(engine, channel="line", user_id="U-night")
    _sign_up(resident, "中央区本町")
    resident.send(postback="register")
    resident.send(postback="intent:register_person")
    turn = resident.send("夜中の通知は止めてほしいです")
    assert said(turn) == ["utter_night_alerts_stopped"] and effects(turn) == []
    assert turn.replies[0].text == rendered("utter_night_alerts_stopped", "ja", "line", hours="22:00-07:00")
    [cooperator] = _cooperators(db_url)
    assert cooperator.active and cooperator.endpoints[0].active, "still registered"
    assert (cooperator.night_alerts, cooperator.quiet_start, cooperator.quiet_end) == (False, "22:00", "07:00")


def test_no_alerts_at_night_keeps_the_cooperators_own_quiet_hours(engine: ConversationEngine, db_url: str) -> None:
    resident = Resident(engine, channel="telegram", user_id="5550999", language="en")
    with session_scope(db_url) as session:
        register_cooperator(session, endpoints=[EndpointSpec("telegram", "5550999")], town_id="kita-2-2",
                            latitude=34.7, longitude=135.5, quiet_hours=("23:00", "06:00"), language="en")
    assert said(resident.send("Please no alerts at night.")) == ["utter_night_alerts_stopped"]
    [cooperator] = _cooperators(db_url)
    assert (cooperator.active, cooperator.night_alerts, cooperator.quiet_start) == (True, False, "23:00")


def test_leaving_is_confirmed_first_and_no_keeps_everything(engine: ConversationEngine, db_url: str) -> None:
    resident = Resident(engine, channel="line", user_id="U-stay")
    _sign_up(resident, "中央区本町")
    resident.send(postback="register")
    assert said(resident.send("協力者をやめたい")) == ["utter_unsubscribe_confirm"]
    kept = resident.send(postback="no")
    assert said(kept) == ["utter_unsubscribe_kept"] and effects(kept) == []
    [cooperator] = _cooperators(db_url)
    assert cooperator.active and cooperator.night_alerts
    assert left(db_url, resident) == Left(None, None, {})


def test_no_night_alerts_during_sign_up_does_not_end_it(engine: ConversationEngine, db_url: str) -> None:
    resident = Resident(engine, channel="line", user_id="U-signup-night")
    resident.send(postback="intent:register_helper")
    resident.send(postback="agree")
    resident.send(postback="agree")
    noted = resident.send("夜中の通知は止めてほしいです")
    assert said(noted) == ["utter_helper_night_noted", "utter_ask_helper_area"], "the question is asked again"
    resident.send("中央区本町")
    resident.send("なし")
    resident.send("なし")
    confirm = resident.send("夜中の通知は止めてほしいです")
    assert said(confirm) == ["utter_helper_confirm"], "it answers the quiet-hours question"
    assert confirm.replies[0].text == rendered(
        "utter_helper_confirm", "ja", "line", area="中央区 本町",
        quiet=rendered("utter_quiet_night_alerts_off", "ja", "line", hours="22:00-07:00"),
        channels=rendered("utter_helper_endpoint_chat", "ja", "line", chat="LINE"))
    assert said(resident.send(postback="register")) == ["utter_helper_registered"]
    [cooperator] = _cooperators(db_url)
    assert (cooperator.active, cooperator.night_alerts, cooperator.quiet_start) == (True, False, "22:00")


def test_the_no_night_choice_of_the_quiet_hours_question(engine: ConversationEngine, db_url: str) -> None:
    resident = Resident(engine, channel="line", user_id="U-choice")
    resident.send(postback="intent:register_helper")
    resident.send(postback="agree")
    resident.send(postback="agree")
    resident.send("中央区本町")
    resident.send("なし")
    resident.send("なし")
    assert said(resident.send(postback="no_night")) == ["utter_helper_confirm"]
    resident.send(postback="register")
    assert not _cooperators(db_url)[0].night_alerts


def test_declining_the_pledge_registers_nothing(engine: ConversationEngine, db_url: str) -> None:
    resident = Resident(engine, channel="line", user_id="U-no-pledge")
    resident.send(postback="intent:register_helper")
    resident.send(postback="agree")
    assert said(resident.send(postback="disagree")) == ["utter_registration_declined"]
    assert not _cooperators(db_url) and left(db_url, resident) == Left(None, None, {})


def test_a_location_sent_before_consent_is_not_kept(engine: ConversationEngine, db_url: str) -> None:
    resident = Resident(engine, channel="line", user_id="U-early-location")
    resident.send(postback="intent:register_helper")
    early = resident.send(address="中央区本町2丁目3-4", **NEAR_HONMACHI)
    assert said(early) == ["utter_helper_consent"], "not an answer to the consent: asked again"
    with session_scope(db_url) as session:
        [payload] = session.scalars(select(Message.payload).where(Message.direction == MessageDirection.inbound,
                                                                  Message.kind == "location")).all()
    assert payload is None or not {"latitude", "longitude", "address"} & set(payload), "nothing exact is kept"


def test_a_location_is_stored_only_as_a_coarse_point_without_its_address(engine: ConversationEngine,
                                                                         db_url: str) -> None:
    resident = Resident(engine, channel="telegram", user_id="5550123")
    resident.send(address="中央区本町2丁目3-4", **NEAR_HONMACHI)  # no question asked it: read as a place
    with session_scope(db_url) as session:
        [payload] = session.scalars(select(Message.payload).where(Message.direction == MessageDirection.inbound,
                                                                  Message.kind == "location")).all()
    assert payload == {"latitude": 34.7, "longitude": 135.475}, "about 500 m, no street address"


def test_night_words_of_a_family_are_not_a_cooperator_stopping(engine: ConversationEngine) -> None:
    family = Resident(engine, channel="line", user_id="U-family-night")
    turn = family.send("母が夜中に出て行きました、携帯の通知も止めていて連絡がつきません")
    assert "utter_unsubscribe_not_registered" not in said(turn) and "utter_night_alerts_stopped" not in said(turn)


# ---------------------------------------------------------------------------- in the residents' languages
def _registered(db_url: str, user_id: str, language: str) -> None:
    with session_scope(db_url) as session:
        register_cooperator(session, endpoints=[EndpointSpec("telegram", user_id)], town_id="kita-2-2",
                            latitude=34.7, longitude=135.5, quiet_hours=None, language=language)


def test_a_vietnamese_cooperator_stops_alerts_in_their_own_words(engine: ConversationEngine, db_url: str) -> None:
    """responses/vi.yml tells them to send 「dừng nhận tin」; the confirmation is answered 「có」."""
    _registered(db_url, "5550101", "vi")
    resident = Resident(engine, channel="telegram", user_id="5550101", language="vi")
    assert said(resident.send("dừng nhận tin")) == ["utter_unsubscribe_confirm"]
    assert said(resident.send("có")) == ["utter_unsubscribed"]
    [cooperator] = _cooperators(db_url)
    assert not cooperator.active


@pytest.mark.parametrize(("language", "words", "no"), [
    ("ko", "알림 중지", "아니요"),
    # 「停止通知」 matches STOP_WORDS too, but the engine's safety model first asks 「今、命に関わる状況ですか？」 of 「停止」.
    ("zh", "取消订阅", "不是"),
    ("zh-Hant", "取消訂閱", "不"),
    ("pt", "Quero parar os avisos", "não"),
    ("es", "Quiero dejar de recibir avisos", "No, gracias"),
    ("tl", "Pakiusap, ihinto ang mga abiso", "hindi po"),
    ("ne", "सूचना बन्द गर्नुहोस्", "होइन"),
    ("ja", "はいしん ていし", "いいえ"),  # やさしい日本語 readers write kana
])
def test_stop_words_and_no_in_each_language(engine: ConversationEngine, db_url: str, language: str, words: str,
                                            no: str) -> None:
    _registered(db_url, "5550102", language)
    resident = Resident(engine, channel="telegram", user_id="5550102", language=language)
    assert said(resident.send(words)) == ["utter_unsubscribe_confirm"]
    kept = resident.send(no)
    assert said(kept) == ["utter_unsubscribe_kept"] and effects(kept) == []
    assert _cooperators(db_url)[0].active


@pytest.mark.parametrize(("language", "words"), [
    ("ko", "밤에는 알림 보내지 마세요"),
    ("zh", "晚上不要发通知"),
    ("vi", "Xin đừng gửi tin vào ban đêm"),
    ("pt", "Sem avisos à noite, por favor"),
    ("es", "No quiero avisos por la noche"),
    ("ja", "よなかの しらせは とめて ください"),
])
def test_no_alerts_at_night_in_each_language(engine: ConversationEngine, db_url: str, language: str,
                                             words: str) -> None:
    _registered(db_url, "5550103", language)
    resident = Resident(engine, channel="telegram", user_id="5550103", language=language)
    assert said(resident.send(words)) == ["utter_night_alerts_stopped"]
    [cooperator] = _cooperators(db_url)
    assert (cooperator.active, cooperator.night_alerts) == (True, False)
