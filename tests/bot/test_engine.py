"""The engine end to end on SQLite and PostgreSQL: flows, persistence, idempotency, safety first."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from sqlalchemy import func, select

from bot.db import session_scope
from bot.domain import load_domain
from bot.engine import ConversationEngine, detect_language
from bot.messages import InboundMessage, TurnResult
from bot.models import (
    Case,
    CaseKind,
    CaseStatus,
    Contact,
    Conversation,
    Cooperator,
    CooperatorEndpoint,
    Message,
    MessageDirection,
)
from flows.base import intent_button
from flows.conversation import MENU
from flows.steps import YES_NO
from intents.classification import Classification, IntentClassifier
from tests.bot.conftest import OPEN_HOURS, Resident


def _cases(db_url: str) -> list[Case]:
    with session_scope(db_url) as session:
        return list(session.scalars(select(Case).order_by(Case.id)))


def test_ask_where_asks_the_area_then_names_one_counter(resident: Resident) -> None:
    first = resident.send("母の介護のことで相談したい")
    assert any(reply.request_location for reply in first.replies), "the area question offers a location button"
    answer = resident.says("北区柳町")
    assert "北区松原町地域包括支援センター" in answer
    assert "06-0000-1002" in answer
    assert "9:00" in answer and "17:30" in answer
    # ONE counter: no other 地域包括 named
    assert "北区青葉台地域包括支援センター" not in answer


def test_ask_where_with_place_in_first_message_answers_at_once(resident: Resident) -> None:
    answer = resident.says("南区住吉町に住んでいます。父の介護保険の申請はどこですか")
    assert "南区住吉町地域包括支援センター" in answer


def test_ask_where_callback_creates_consult_case(resident: Resident, db_url: str) -> None:
    resident.send("母の介護のことで相談したい")
    resident.send("北区柳町")
    assert [r.response for r in resident.send("はい").replies] == ["utter_ask_callback_phone"]
    assert [r.response for r in resident.send("わかりません").replies] == ["utter_bad_phone"]
    done = resident.send("０９０－１２３４－５６７８")
    assert [r.response for r in done.replies] == ["utter_callback_created"]
    [case] = _cases(db_url)
    assert case.kind == CaseKind.consult
    assert case.counter_id == "houkatsu-kita-2"
    assert case.details["callback_phone"] == "09012345678"
    assert case.callback_consent


def test_worry_report_creates_case_for_the_wards_watch_room(resident: Resident, db_url: str) -> None:
    intro = resident.send("隣のおばあさんを最近見かけない。新聞がたまっている")
    assert [r.response for r in intro.replies] == ["utter_worry_intro", "utter_ask_where"]
    assert any(reply.request_location for reply in resident.replies), "asks where first"
    assert [r.response for r in resident.send("南区朝日町3丁目").replies] == ["utter_ask_since_when"]
    consent = resident.send("3日前から")
    assert [choice.payload for choice in consent.replies[-1].choices] == ["yes", "no"]
    assert [r.response for r in resident.send("はい").replies] == ["utter_ask_callback_phone"]
    confirm = resident.says("090-1111-2222")
    assert "南区見守り相談室" in confirm and "新聞がたまっている" in confirm
    [draft] = _cases(db_url)
    assert draft.details["incomplete"], "saved from the first answer (issue 16, item 1), complete once confirmed"
    done = resident.send("1")
    assert [r.response for r in done.replies] == ["utter_worry_created", "utter_worry_if_danger"]
    [case] = _cases(db_url)
    assert case.kind == CaseKind.worry
    assert case.counter_id == "mimamori-minami"
    assert case.status == CaseStatus.new
    assert case.town_id == "minami-1-2"
    assert case.first_contact_due - case.created_at == timedelta(hours=24)
    assert case.reporter_contact_id is not None
    assert case.details["since_when"] == "3日前から"


def test_worry_report_without_consent_keeps_no_reporter(resident: Resident, db_url: str) -> None:
    resident.send("隣のじいちゃん最近見いひんねん")
    resident.send("北区")
    resident.send("旭町")
    resident.send("一週間くらい前から")
    resident.send("いいえ")
    resident.send("はい")
    [case] = _cases(db_url)
    assert case.counter_id == "mimamori-kita"
    assert case.reporter_contact_id is None
    assert not case.callback_consent
    assert "callback_phone" not in case.details


def test_second_report_about_same_household_is_linked(engine: ConversationEngine, db_url: str) -> None:
    for user in ("neighbour-a", "neighbour-b"):
        resident = Resident(engine, user_id=user)
        resident.send("近所のおじいさんの家の郵便受けに郵便物がたまっている")
        resident.send("中央区港町2丁目5番")
        resident.send("先週から")
        resident.send("いいえ")
        final = resident.send("はい")
    assert [r.response for r in final.replies] == ["utter_worry_linked", "utter_worry_if_danger"]
    [case] = _cases(db_url)
    with session_scope(db_url) as session:
        kinds = [event.kind for event in session.get(Case, case.id).events]
    assert "repeat_report" in kinds


def test_missing_report_gives_110_first_and_creates_urgent_case(resident: Resident, db_url: str) -> None:
    first = resident.send("認知症の父が朝から帰ってこない")
    assert first.replies[0].urgent and first.replies[0].response == "utter_missing_intro"
    resident.send("80歳の男性で、背が低く白髪です")
    resident.send("中央区本町")
    resident.send("今朝8時ごろ")
    resident.send("紺色のジャンパーとグレーのズボン")
    done = resident.send("090-3333-4444")
    # The case first; then the few features the public alert text still lacks (flows.missing).
    assert [r.response for r in done.replies][:2] == ["utter_missing_created", "utter_missing_alert_pending"]
    [case] = _cases(db_url)
    assert case.kind == CaseKind.missing and case.urgent
    assert case.counter_id == "mimamori-chuo"
    assert case.details["clothing"] == "紺色のジャンパーとグレーのズボン"


def test_emergency_inside_a_flow_comes_first_and_keeps_the_flow(resident: Resident, db_url: str) -> None:
    resident.send("隣のおばあさんを最近見かけない")
    turn = resident.send("いま窓からのぞいたら、人が倒れて動かない")
    assert turn.replies[0].urgent and turn.replies[0].response == "utter_emergency_119"
    # The flow survived: the place question is still open and answerable.
    assert [r.response for r in resident.send("南区朝日町").replies] == ["utter_ask_since_when"]


def test_emergency_needs_no_question_first(resident: Resident) -> None:
    for text in ("隣の人が倒れて動かない", "息をしていない", "火事です！", "包丁を持った男が暴れている"):
        turn = Resident(resident.engine, user_id=text).send(text)
        assert turn.replies[0].urgent, text
        assert turn.replies[0].response in ("utter_emergency_119", "utter_emergency_fire", "utter_emergency_110"), text


def test_suicidal_ideation_gets_crisis_lines_then_a_counter(resident: Resident) -> None:
    turn = resident.send("もう死にたい")
    assert turn.replies[0].urgent
    assert "よりそいホットライン" in turn.replies[0].text
    assert "119" in turn.replies[0].text  # the wording is the point: in danger, call 119


def test_cancel_works_in_any_flow(resident: Resident, db_url: str) -> None:
    resident.send("隣のおばあさんを最近見かけない")
    resident.send("北区柳町")
    assert [r.response for r in resident.send("やめる").replies] == ["utter_cancelled"]
    assert not _cases(db_url)
    assert [r.response for r in resident.send("こんにちは").replies] == ["utter_greet", "utter_menu"]


def test_human_request_works_mid_flow(resident: Resident) -> None:
    resident.send("母の介護のことで相談したい")
    resident.send("北区柳町")
    turn = resident.send("担当の人と話したい")
    handoffs = [reply.handoff for reply in turn.replies if reply.handoff]
    assert handoffs and handoffs[0].open_now and handoffs[0].phone


def test_after_hours_human_request_takes_a_message(engine: ConversationEngine, db_url: str) -> None:
    resident = Resident(engine, now=OPEN_HOURS.replace(hour=21))
    resident.send("職員と話したい")
    turn = resident.send("南区")
    assert any(reply.record for reply in turn.replies)
    resident.send("介護の申請のことで折り返しお願いします")
    resident.send("090-1234-5678")  # how staff can reach them: asked before contact is promised
    [case] = _cases(db_url)
    assert case.kind == CaseKind.callback
    assert case.counter_id == "sougou-minami"


def test_duplicate_event_is_processed_once(resident: Resident, db_url: str) -> None:
    first = resident.send("こんにちは", event_id="line-evt-1")
    again = resident.send("こんにちは", event_id="line-evt-1")
    assert first.replies and not first.duplicate
    assert again.duplicate and not again.replies
    with session_scope(db_url) as session:
        inbound = session.scalar(select(func.count()).select_from(Message)
                                 .where(Message.direction == MessageDirection.inbound))
    assert inbound == 1


def test_quiet_conversation_times_out(resident: Resident, db_url: str) -> None:
    resident.send("隣のおばあさんを最近見かけない")
    resident.now += timedelta(hours=3)
    answer = resident.send("こんにちは")
    assert [r.response for r in answer.replies] == ["utter_timeout_restart", "utter_greet", "utter_menu"]
    [left_behind] = _cases(db_url)
    assert left_behind.details["incomplete"], "the report stopped half-way stays for staff, marked incomplete"


def test_english_conversation(engine: ConversationEngine) -> None:
    resident = Resident(engine, language="en")
    resident.send("I can't pay my rent this month")
    answer = resident.says("Minami-ku")
    assert "くらしの相談窓口" in answer and resident.last.language == "en"
    assert [r.response for r in resident.replies] == ["utter_counter", "utter_counter_open_now", "utter_offer_callback"]


def test_phone_menu_digits_and_silence(engine: ConversationEngine) -> None:
    caller = Resident(engine, channel="voice", user_id="+81312345678")
    menu = caller.send(event="call_start")
    digits = [choice.digit for choice in menu.replies[1].choices]
    assert digits == ["1", "2", "3", "4", "5", "0", "8"]
    repeat = caller.send(event="silence")
    assert repeat.replies[-1].text == menu.replies[-1].text
    intro = caller.send("3")
    assert intro.replies[0].urgent and intro.replies[0].response == "utter_missing_intro"


def test_unfollow_deactivates_contact_and_alert_endpoint(resident: Resident, db_url: str) -> None:
    with session_scope(db_url) as session:
        session.add(Cooperator(town_id="kita-2-2", endpoints=[
            CooperatorEndpoint(channel=resident.channel, address=resident.user_id),
            CooperatorEndpoint(channel="email", address="helper@example.org", priority=1)]))
    resident.send("こんにちは")
    resident.send(event="unfollow")
    with session_scope(db_url) as session:
        contact = session.scalars(select(Contact)).one()
        endpoints = {e.channel: e.active for e in session.scalars(select(CooperatorEndpoint))}
    assert not contact.active
    assert endpoints == {resident.channel: False, "email": True}


def test_message_text_is_not_logged_at_info(resident: Resident, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level("INFO")
    resident.send("隣のおばあさんを最近見かけない。新聞がたまっている")
    assert "新聞" not in caplog.text


def test_inbound_message_defaults() -> None:
    message = InboundMessage(channel="line", user_id="U1", latitude=34.7, longitude=135.5)
    assert message.has_location and message.event == "message" and message.received_at.tzinfo


def test_failure_10_the_console_without_lang_answers_english_in_english(engine: ConversationEngine) -> None:
    """Issue 11, failure 10 as written: the console (Japanese by default, no --lang) gets English."""
    resident = Resident(engine, channel="console", user_id="console-en", language="ja")
    asked = resident.send("I can't pay my rent this month")
    assert asked.language == "en" and [r.response for r in asked.replies] == ["utter_ask_area"]
    assert [c.title for c in asked.replies[0].choices] == ["Kita-ku", "Chuo-ku", "Minami-ku"], "wards in romaji"
    # A digit carries no language: the conversation's is kept.
    answer = resident.send("3")
    assert answer.language == "en"
    assert [r.response for r in answer.replies] == ["utter_counter", "utter_counter_open_now", "utter_offer_callback"]
    gloss = load_domain().text("utter_counter_kind_money", "en", None)
    assert f"(Minami-ku {gloss})" in answer.replies[0].text, "the counter's name with an English gloss"
    assert resident.send("OK").language == "en"


def test_each_message_speaks_its_own_language(engine: ConversationEngine) -> None:
    browser_en = Resident(engine, channel="webchat", user_id="browser-en", language="en")
    assert browser_en.send("家賃が払えなくて困っています").language == "ja", "Japanese typed in an English browser"
    assert browser_en.send("1").language == "ja"
    browser_ja = Resident(engine, channel="webchat", user_id="browser-ja", language="ja")
    assert browser_ja.send("I can't pay my rent this month").language == "en"
    first_digit = Resident(engine, channel="webchat", user_id="browser-digit", language="en")
    assert first_digit.send("1").language == "en", "no signal in a new conversation: the browser's language"
    greeting = Resident(engine, channel="console", user_id="console-hello", language="ja")
    assert greeting.send("hello").language == "en", "one English word that is only English"
    assert greeting.send("OK").language == "en"
    japanese = Resident(engine, channel="console", user_id="console-ok", language="ja")
    japanese.send("こんにちは")
    assert japanese.send("OK").language == "ja" and japanese.send("yes").language == "ja"
    # A place typed in romaji without kana input is no switch to English; English words are.
    reporter = Resident(engine, channel="console", user_id="console-romaji", language="ja")
    reporter.send("隣のおばあさんを最近見かけない")
    assert reporter.send("minami ku sumiyoshi cho 4 chome").language == "ja"
    assert reporter.send("Sorry, I can only type in English on this phone").language == "en"
    korean = Resident(engine, channel="webchat", user_id="browser-ko", language="ko")
    korean.send("엄마가 요즘 깜빡깜빡해서 요양 상담하고 싶어요")
    assert korean.send("Kita-ku Yanagimachi").language == "ko"


def test_a_question_asked_again_in_another_language_has_its_buttons_in_that_language(
    engine: ConversationEngine,
) -> None:
    resident = Resident(engine, channel="webchat", language="en")
    resident.send("My neighbour has not been seen for days")
    resident.send("Minami-ku Sumiyoshi-cho 4-chome")
    asked = resident.send("last week")
    english = [choice.title for choice in asked.replies[-1].choices]
    assert english == [engine.domain.text(name, "en") for name in (YES_NO.yes_title, YES_NO.no_title)]
    again = resident.send("えっと、すみません、日本語で話してもいいですか")
    assert again.language == "ja" and again.replies[-1].response == asked.replies[-1].response
    assert [choice.title for choice in again.replies[-1].choices] == [
        engine.domain.text(name, "ja") for name in (YES_NO.yes_title, YES_NO.no_title)]
    # Its buttons still answer it, by title as by payload.
    assert resident.send(engine.domain.text(YES_NO.no_title, "ja")).replies[-1].response != asked.replies[-1].response


@pytest.mark.parametrize(("text", "language"), [
    ("Our neighbour in 北区 栄町 has not been seen for a week", "en"),
    ("my mother has 認知症 and did not come home", "en"),
    ("LINEで相談したいです", "ja"),
    ("Help! おじいさんが倒れた", "ja"),
    ("the おばあさん upstairs has not answered her door for days", "en"),
    ("LINE ID 教えてください", "ja"),
    ("南区泉町", "ja"),
])
def test_english_with_japanese_names_is_english(text: str, language: str) -> None:
    assert detect_language(text) == language


def test_the_clarifying_question_keys_each_choice_as_the_main_menu(resident: Resident) -> None:
    unsure = resident.send("えっと")
    assert [r.response for r in unsure.replies] == ["utter_clarify"]
    choices = unsure.replies[0].choices
    assert (choices[-1].payload, choices[-1].digit) == ("intent:talk_to_human", "0")
    # A key never changes its meaning between menus (issue 16): the main menu's keys.
    menu = {f"intent:{intent}": digit for intent, _, digit in MENU}
    assert [(c.payload, c.digit) for c in choices] == [(c.payload, menu[c.payload]) for c in choices]


class _UnsureOfMissing(IntentClassifier):
    """The real classifier, unsure between a missing report and two others for every message."""

    def __init__(self, real: IntentClassifier) -> None:
        self.real = real

    def classify_many(self, texts: list[str]) -> list[Classification]:  # type: ignore[override]
        return [replace(found, intent="report_missing", confidence=0.4, safety=None, urgency_band=None,
                        alternatives=(("ask_where", 0.3), ("report_worry", 0.2)))
                for found in self.real.classify_many(texts)]


@pytest.mark.parametrize(("text", "offered"), [
    ("えっと、母が朝から変で", True),
    ("えっと、母に話しかけても変で", False),  # she is there: not missing, whatever else
])
def test_the_clarifying_question_leaves_out_a_missing_report_the_words_deny(
    engine: ConversationEngine, text: str, offered: bool
) -> None:
    unsure = _UnsureOfMissing(engine.classifier())
    engine.classifier = lambda: unsure
    turn = Resident(engine).send(text)
    assert [r.response for r in turn.replies] == ["utter_clarify"]
    assert ("intent:report_missing" in [c.payload for c in turn.replies[0].choices]) is offered


class _RealExceptFor(IntentClassifier):
    """The real classifier, except for one message (``unclear``), read as :meth:`instead` says."""

    def __init__(self, real: IntentClassifier, unclear: str) -> None:
        self.real = real
        self.unclear = unclear

    def instead(self, found: Classification) -> Classification:
        raise NotImplementedError

    def others(self, found: Classification) -> Classification:
        return found

    def classify_many(self, texts: list[str]) -> list[Classification]:  # type: ignore[override]
        return [self.instead(found) if text == self.unclear else self.others(found)
                for text, found in zip(texts, self.real.classify_many(texts), strict=True)]


class _UnsureOf(_RealExceptFor):
    """Unsure what one message asks for."""

    def instead(self, found: Classification) -> Classification:
        return replace(found, confidence=0.3, safety=None, urgency_band=None)


HESITANT_WORRY = "えっと 近所の 一人暮らしの おばあさんが 最近 見かけなくて 新聞も たまってて"


def _unsure_resident(engine: ConversationEngine, classifier: type[_RealExceptFor], text: str) -> Resident:
    """A resident talking to the engine whose classifier is the real one made unsure of ``text``."""
    unsure = classifier(engine.classifier(), text)
    engine.classifier = lambda: unsure
    return Resident(engine)


def _picked_from_the_clarifying_question(engine: ConversationEngine, text: str,
                                         intent: str) -> tuple[Resident, TurnResult]:
    """A resident the classifier is unsure of, asked what they mean, who presses ``intent``'s choice."""
    resident = _unsure_resident(engine, _UnsureOf, text)
    assert [r.response for r in resident.send(text).replies] == ["utter_clarify"]
    return resident, resident.send(postback=intent_button(intent))


def _worry_sent_from_minami(resident: Resident, db_url: str, place: str | None = "南区 住吉町 4丁目") -> Case:
    """The rest of a worry report (the place unless already given, since when, no call-back, send); its case."""
    if place is not None:
        resident.send(place)
    resident.send("先週から")
    resident.send("いいえ")
    resident.send("はい")
    [case] = _cases(db_url)
    return case


def test_a_place_given_to_the_clarifying_question_is_where_the_unclear_worry_is(
    engine: ConversationEngine, db_url: str
) -> None:
    resident = _unsure_resident(engine, _UnsureOf, HESITANT_WORRY)
    assert [r.response for r in resident.send(HESITANT_WORRY).replies] == ["utter_clarify"]
    # Read alone, a place asks for nothing (a low-confidence topic); read with the words before, it is a worry's.
    assert resident.send("南区 住吉町 4丁目").flow == "report_worry"
    case = _worry_sent_from_minami(resident, db_url, place=None)
    assert (case.kind, case.town_id) == (CaseKind.worry, "minami-2-1")


def test_a_report_picked_from_the_clarifying_question_starts_with_the_unclear_words(
    engine: ConversationEngine, db_url: str
) -> None:
    resident, picked = _picked_from_the_clarifying_question(engine, HESITANT_WORRY, "report_worry")
    # What was noticed is told already: the report goes on to the place.
    assert "utter_ask_noticed" not in [r.response for r in picked.replies]
    case = _worry_sent_from_minami(resident, db_url)
    assert case.kind == CaseKind.worry and "新聞も たまってて" in case.details["noticed"]


HESITANT_MISSING = "えっと 認知症の 父が 朝から 帰って こなくて"


def test_a_missing_report_picked_from_the_clarifying_question_keeps_the_words_as_the_first_report(
    engine: ConversationEngine, db_url: str
) -> None:
    _, picked = _picked_from_the_clarifying_question(engine, HESITANT_MISSING, "report_missing")
    assert picked.flow == "report_missing"
    with session_scope(db_url) as session:
        conversation = session.scalars(select(Conversation)).one()
        assert "朝から 帰って こなくて" in conversation.slots["first_report"]


def test_a_choice_that_tells_no_matter_does_not_take_the_unclear_words(engine: ConversationEngine) -> None:
    # Pre-registering a relative asks its own questions from the start; the worry's words are no answer.
    _, registering = _picked_from_the_clarifying_question(engine, HESITANT_WORRY, "register_person")
    assert registering.flow == "register_person"
    assert [r.response for r in registering.replies] == [r.response for r in Resident(
        engine, user_id="resident-2").send(postback="intent:register_person").replies]


def test_a_reply_to_the_clarifying_question_that_surely_asks_another_thing_is_read_alone(
    engine: ConversationEngine,
) -> None:
    resident = _unsure_resident(engine, _UnsureOf, HESITANT_WORRY)
    resident.send(HESITANT_WORRY)
    assert resident.send("認知症の母を事前登録しておきたいです").flow == "register_person"


class _AskedThenUnsure(_RealExceptFor):
    """One message is worth the safety question, and unclear."""

    def instead(self, found: Classification) -> Classification:
        return replace(found, confidence=0.3, safety=None, urgency=0.4, urgency_band="ask")


def test_after_no_to_the_safety_question_the_clarifying_question_is_about_the_words_before_it(
    engine: ConversationEngine, db_url: str
) -> None:
    resident = _unsure_resident(engine, _AskedThenUnsure, HESITANT_WORRY)
    assert [r.response for r in resident.send(HESITANT_WORRY).replies] == ["utter_safety_question"]
    # Understood as "not urgent", not as "I could not catch that".
    assert [r.response for r in resident.send("2").replies] == ["utter_clarify_after_no"]
    # The place goes with the worry written before the question, not with the 「2」 that answered it.
    assert resident.send("南区 住吉町 4丁目").flow == "report_worry"
    case = _worry_sent_from_minami(resident, db_url, place=None)
    assert (case.kind, case.town_id) == (CaseKind.worry, "minami-2-1") and "新聞" in case.details["noticed"]


class _CounterOrPerson(_RealExceptFor):
    """One message is a coin toss between a counter and a person, and nothing is urgent (the
    safety model's doubt is tested elsewhere: at its question rate, 「このチャットに返事をください」
    may be asked about, 「返事がない」 being so near)."""

    def instead(self, found: Classification) -> Classification:
        return replace(found, intent="ask_where", topic=None, confidence=0.49, safety=None, urgency_band=None,
                       alternatives=(("talk_to_human", 0.48),))

    def others(self, found: Classification) -> Classification:
        return replace(found, urgency_band=None)


def test_a_reply_that_settles_between_the_likely_readings_goes_on_with_the_words_before(
    engine: ConversationEngine, db_url: str
) -> None:
    unclear = "南区に住んでいます。相談員の方に相談したいことがあります"
    coin = _CounterOrPerson(engine.classifier(), unclear)
    engine.classifier = lambda: coin
    resident = Resident(engine, channel="webchat", now=OPEN_HOURS.replace(hour=19, minute=30))
    assert [r.response for r in resident.send(unclear).replies] == ["utter_clarify"]
    # A person, surely; the ward was in the words before and the way to reach them is in the
    # reply, so neither is asked: the evening's message goes to 南区's desk, to be answered here.
    settled = resident.send("電話は苦手なので、このチャットに返事をください")
    responses = [r.response for r in settled.replies]
    assert "utter_ask_ward" not in responses and "utter_ask_handoff_contact" not in responses
    [case] = _cases(db_url)
    assert (case.kind, case.counter_id, case.details["contact"]) == (CaseKind.callback, "sougou-minami", "channel")


class _ReadAsGoodbye(IntentClassifier):
    """The real classifier, except that one message reads as a goodbye this sure."""

    def __init__(self, real: IntentClassifier, text: str, confidence: float) -> None:
        self.real = real
        self.text = text
        self.confidence = confidence

    def classify_many(self, texts: list[str]) -> list[Classification]:  # type: ignore[override]
        return [replace(found, intent="goodbye", topic=None, confidence=self.confidence, safety=None,
                        urgency_band=None, alternatives=(("report_worry", 1 - self.confidence),))
                if text == self.text else found
                for text, found in zip(texts, self.real.classify_many(texts), strict=True)]


@pytest.mark.parametrize(("confidence", "responses"), [
    (0.56, ["utter_clarify"]),  # a worry in Vietnamese the model half took for a goodbye
    (0.95, ["utter_goodbye"]),
])
def test_only_a_sure_goodbye_ends_the_conversation(
    engine: ConversationEngine, confidence: float, responses: list[str]
) -> None:
    text = "Bà cụ nhà bên cạnh mấy hôm nay không thấy ra ngoài, tôi hơi lo"
    goodbye = _ReadAsGoodbye(engine.classifier(), text, confidence)
    engine.classifier = lambda: goodbye
    assert [r.response for r in Resident(engine).send(text).replies] == responses


class _HouseholdOrWorry(IntentClassifier):
    """The real classifier, weighing every message as ask_where/hikikomori or a worry report."""

    def __init__(self, real: IntentClassifier) -> None:
        self.real = real

    def classify_many(self, texts: list[str]) -> list[Classification]:  # type: ignore[override]
        return [replace(found, intent="ask_where", topic="hikikomori", topics=(("hikikomori", 0.95),),
                        confidence=0.74, safety=None, urgency_band=None, alternatives=(("report_worry", 0.25),))
                for found in self.real.classify_many(texts)]


@pytest.mark.parametrize(("text", "flow"), [
    # A neighbour withdrawn at home: the area's 見守り相談室 hears of it, not the family centre.
    ("お向かいのご主人が、奥さんを亡くしてからずっと家にこもっておられるんです", "report_worry"),
    ("アパートの2階のにいちゃん、最近ぜんぜん部屋から出てけえへんねん", "report_worry"),
    ("The young man across the hall hasn't left his flat for a month", "report_worry"),
    # The resident's own son, a neighbour only mentioned: the household's counter.
    ("近所の人に言われたんですが、うちの息子がもう3年部屋から出てこないんです", "ask_where"),
    ("My son hasn't left his room for a year and the neighbours have noticed", "ask_where"),
])
def test_a_households_matter_told_of_a_neighbour_is_a_worry_report(
    engine: ConversationEngine, text: str, flow: str
) -> None:
    weighing = _HouseholdOrWorry(engine.classifier())
    engine.classifier = lambda: weighing
    assert Resident(engine).send(text).flow == flow
