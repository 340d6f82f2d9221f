"""The conversation around the flows, whole: greeting and the main menu, clarifying when unsure,
out-of-scope, cancel, goodbye, the phone's silence, a quiet conversation timing out, and the
safety layer (119 / 110 / crisis lines) before anything else.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.db import session_scope
from bot.engine import ConversationEngine
from bot.models import CaseKind, Contact, Conversation
from tests.bot.conftest import Resident
from tests.flows.conftest import Left, cases, effects, left, rendered, said

MENU = ["intent:ask_where", "intent:report_worry", "intent:report_missing", "intent:register_helper",
        "intent:register_person", "intent:talk_to_human"]
MENU_KEYS = ["1", "2", "3", "4", "5", "0"]


def test_standard_japanese_greeting_menu_cancel_goodbye(resident: Resident, db_url: str) -> None:
    hello = resident.send("こんにちは")
    assert said(hello) == ["utter_greet", "utter_menu"]
    assert [(c.payload, c.digit) for c in hello.replies[1].choices] == list(zip(MENU, MENU_KEYS))
    assert left(db_url, resident) == Left(None, None, {}), "no flow: the menu waits for an answer"
    assert said(resident.send("1")) == ["utter_ask_topic"], "the menu answered by its number"
    assert left(db_url, resident) == Left("ask_where", "topic", {})
    cancelled = resident.send("やめる")
    assert said(cancelled) == ["utter_cancelled"] and effects(cancelled) == [("cancelled", {})]
    assert left(db_url, resident) == Left(None, None, {})
    bye = resident.send("ありがとうございました")
    assert said(bye) == ["utter_goodbye"] and bye.replies[0].end


def test_kansai_dialect_out_of_scope_shows_the_menu(resident: Resident, db_url: str) -> None:
    assert said(resident.send("まいど")) == ["utter_greet", "utter_menu"]
    assert said(resident.send("明日の天気はどうなん")) == ["utter_out_of_scope", "utter_menu"]
    assert said(resident.send("1")) == ["utter_ask_topic"]
    assert said(resident.send("もういい")) == ["utter_cancelled"]
    assert said(resident.send("ほな さいなら")) == ["utter_goodbye"]


def test_english(engine: ConversationEngine, db_url: str) -> None:
    resident = Resident(engine, language="en")
    hello = resident.send("hello")
    assert said(hello) == ["utter_greet", "utter_menu"] and hello.language == "en"
    assert said(resident.send("what's the weather tomorrow")) == ["utter_out_of_scope", "utter_menu"]
    resident.send("I can't pay my rent this month")
    assert said(resident.send("cancel")) == ["utter_cancelled"]
    assert said(resident.send("thank you, bye")) == ["utter_goodbye"]


def test_unsure_it_asks_with_the_menus_choices(resident: Resident, db_url: str) -> None:
    unsure = resident.send("えっと")
    assert said(unsure) == ["utter_clarify"]
    assert [c.payload for c in unsure.replies[0].choices] == MENU
    assert left(db_url, resident) == Left(None, None, {})
    assert said(resident.send("1")) == ["utter_ask_topic"]


def test_line_follow_buttons_cancel_and_unfollow(engine: ConversationEngine, db_url: str) -> None:
    resident = Resident(engine, channel="line", user_id="U-conv")
    assert said(resident.send(event="follow")) == ["utter_greet", "utter_menu"]
    assert said(resident.send(postback="intent:report_worry")) == ["utter_worry_intro", "utter_ask_noticed"]
    assert said(resident.send(postback="intent:cancel")) == ["utter_cancelled"]
    assert left(db_url, resident) == Left(None, None, {})
    assert resident.send(event="unfollow").replies == []
    with session_scope(db_url) as session:
        assert session.scalars(select(Contact.active)).all() == [False]


def test_phone_menu_keys_silence_and_cancel(engine: ConversationEngine, db_url: str) -> None:
    caller = Resident(engine, channel="voice", user_id="+81312345678")
    menu = caller.send(event="call_start")
    # The main menu, with "For English, press 8" said in English.
    assert said(menu) == ["utter_greet", "utter_menu"]
    assert [(c.digit, c.language) for c in menu.replies[1].choices] == [*((key, None) for key in MENU_KEYS), ("8", "en")]
    silence = caller.send(event="silence")
    assert said(silence) == ["utter_menu"], "silence repeats the menu"
    assert silence.replies[0].choices == menu.replies[1].choices
    intro = caller.send("3")
    assert said(intro)[:2] == ["utter_missing_intro", "utter_ask_missing_who"] and intro.replies[0].urgent
    question = said(intro)[-1]
    assert said(caller.send(event="silence")) == [question], "silence repeats the question"
    cancelled = caller.send("やめます")
    # On the phone nothing ends in dead air: after the cancel, 「他にご用件はありますか」.
    assert said(cancelled) == ["utter_cancelled", "utter_phone_anything_else"]
    assert left(db_url, caller) == Left(None, None, {})


def test_a_quiet_conversation_times_out_and_starts_afresh(resident: Resident, db_url: str) -> None:
    resident.send("隣のおばあさんを最近見かけない")
    assert left(db_url, resident).flow == "report_worry"
    resident.now += timedelta(hours=3)
    assert said(resident.send("こんにちは")) == ["utter_timeout_restart", "utter_greet", "utter_menu"]
    with session_scope(db_url) as session:
        flows = session.execute(select(Conversation.flow, Conversation.active).order_by(Conversation.id)).all()
    assert flows == [("report_worry", False), (None, True)]
    [left_behind] = cases(db_url)
    assert left_behind.details["incomplete"], "the report left half-way stays, marked incomplete, for staff"


def test_emergencies_need_no_question_first(engine: ConversationEngine, db_url: str) -> None:
    resident = Resident(engine)
    fire = resident.send("火事です！")
    assert said(fire) == ["utter_emergency_fire"] and fire.replies[0].urgent, "a fire: get out first, then 119"
    assert effects(fire) == [("emergency_guidance", {"service": "119"})]
    assert left(db_url, resident) == Left(None, None, {})
    knife = resident.send("包丁を持った男が暴れている")
    assert said(knife) == ["utter_emergency_110"] and knife.replies[0].urgent
    assert effects(knife) == [("emergency_guidance", {"service": "110"})]
    # The wording is the point here: the phone line must say the number to call.
    caller = Resident(engine, channel="voice", user_id="+81312345678")
    assert "119" in caller.send("人が倒れて動かない").replies[0].text


def test_suicidal_ideation_gets_crisis_lines_then_a_counter(resident: Resident, db_url: str) -> None:
    crisis = resident.send("もう死にたい")
    assert said(crisis) == ["utter_crisis", "utter_ask_area"] and crisis.replies[0].urgent
    assert effects(crisis) == [("crisis_guidance", {})]
    # The wording is the point here: a crisis line's number (from the directory) is said at once.
    assert "0120-279-338" in crisis.replies[0].text
    assert left(db_url, resident) == Left("ask_where", "area", {"topic": "mental", "needs_area": "ward"})
    assert said(resident.send("北区")) == ["utter_counter", "utter_counter_open_now", "utter_offer_callback"]
    assert left(db_url, resident).slots["counter_id"] == "seishin-kita"


def test_crisis_words_inside_a_flow_come_first_and_the_question_stays(resident: Resident, db_url: str) -> None:
    resident.send("隣のおばあさんを最近見かけない")
    before = left(db_url, resident)
    crisis = resident.send("もう死にたい")
    # Not the neighbour's question as if nothing had been said: the rest can wait.
    assert said(crisis) == ["utter_crisis", "utter_after_crisis_resume", "utter_ask_where"]
    assert left(db_url, resident) == before


# ---------------------------------------------------------------- what to do first depends on the situation


def test_each_emergency_situation_gets_its_own_first_advice(engine: ConversationEngine, db_url: str) -> None:
    """A fire: out of the building, then 119 (not "stay with the person"); a gas leak: no switch, air, out;
    an attempt announced: 119 for oneself or another; a collapse: 119 and stay; a weapon: 110."""
    expected = {
        "隣の家が燃えてる！": ("utter_emergency_fire", "119"),
        "アパートの廊下に煙が充満しています": ("utter_emergency_fire", "119"),
        "台所から焦げ臭いにおいがしてきた": ("utter_emergency_fire", "119"),
        "The building across the street is on fire": ("utter_emergency_fire", "119"),
        "部屋がガス臭いんです": ("utter_emergency_gas", "119"),
        "I can smell gas in the hallway": ("utter_emergency_gas", "119"),
        "いまから橋から飛び降ります": ("utter_emergency_attempt", "119"),
        "祖母が倒れて息をしていません": ("utter_emergency_119", "119"),
        "男が刃物を振り回している": ("utter_emergency_110", "110"),
    }
    for text, (response, service) in expected.items():
        turn = Resident(engine, user_id=text).send(text)
        assert said(turn) == [response] and turn.replies[0].urgent, text
        assert effects(turn) == [("emergency_guidance", {"service": service})], text


def test_a_fire_in_a_drama_or_the_news_is_no_emergency(engine: ConversationEngine) -> None:
    for text in ("昨日の火事のドラマ、最後が泣けた", "火事の映画を見て眠れなくなった", "watched a fire movie last night"):
        turn = Resident(engine, user_id=text).send(text)
        assert "emergency_guidance" not in [kind for kind, _ in effects(turn)], text


def test_every_safety_reply_says_its_number_in_every_language_and_on_the_phone() -> None:
    """The wording is the point here: whatever a city edits, the number to call must be said."""
    numbers = {"utter_emergency_119": "119", "utter_emergency_fire": "119", "utter_emergency_gas": "119",
               "utter_emergency_attempt": "119", "utter_emergency_110": "110", "utter_welfare_check": "110"}
    for response, number in numbers.items():
        for language in ("ja", "en"):
            for channel in (None, "voice"):
                assert number in rendered(response, language, channel), (response, language, channel)
    for language in ("ja", "en"):
        assert "119" in rendered("utter_welfare_check", language), "collapsed inside: 119"


# ---------------------------------------------------------------- a welfare risk: the police check first, then the report


def test_a_smell_and_no_sign_of_the_neighbour_gets_the_welfare_check_before_the_report(resident: Resident,
                                                                                      db_url: str) -> None:
    turn = resident.send("となりの部屋から変なにおいがするし、一人暮らしのおばあさんをここ何日か見ていません")
    assert said(turn)[:2] == ["utter_welfare_check", "utter_worry_intro"] and turn.replies[0].urgent
    assert effects(turn) == [("emergency_guidance", {"service": "110"})]
    state = left(db_url, resident)
    assert state.flow == "report_worry" and state.slots["noticed"], "the message is what was noticed"
    [draft] = cases(db_url)
    assert draft.details["incomplete"] and not draft.counter_id, "the report goes on: saved, sent nowhere yet"


def test_welfare_risks_in_every_style_start_the_worry_report_after_the_guidance(engine: ConversationEngine,
                                                                               db_url: str) -> None:
    for text in (
        "向かいのおじいさん、呼び鈴を鳴らしても三日くらい誰も出てこないんです",
        "郵便受けがパンパンやのに、呼び鈴鳴らしてもばあちゃん出てけえへんねん",
        "もしもし あのね 隣の 家の 電気が もう 五日も つけっぱなし でね",
        "となり の へや から へんな におい が します",
        "Nobody has answered my elderly neighbour's door for four days and her mail is piling up",
    ):
        resident = Resident(engine, user_id=text)
        turn = resident.send(text)
        assert said(turn)[:2] == ["utter_welfare_check", "utter_worry_intro"], text
        assert effects(turn) == [("emergency_guidance", {"service": "110"})], text
        assert left(db_url, resident).flow == "report_worry", text


def test_not_seen_lately_alone_is_an_ordinary_worry_report(resident: Resident, db_url: str) -> None:
    turn = resident.send("近所のおばあちゃん、最近見かけなくて気になっています")
    assert "utter_welfare_check" not in said(turn) and not effects(turn)
    assert left(db_url, resident).flow == "report_worry"


def test_a_welfare_risk_in_english_and_on_the_phone(engine: ConversationEngine, db_url: str) -> None:
    english = Resident(engine, user_id="en-1", language="en")
    turn = english.send("There's a horrible smell from the flat next door and I haven't seen the old man in a week")
    assert said(turn)[:2] == ["utter_welfare_check", "utter_worry_intro"] and turn.language == "en"
    caller = Resident(engine, channel="voice", user_id="+81312345670")
    caller.send(event="call_start")
    spoken = caller.send("となりの おばあさん の いえ しんぶん が たまってて よんでも へんじ が ないんです")
    assert said(spoken)[:2] == ["utter_welfare_check", "utter_worry_intro"]
    assert effects(spoken) == [("emergency_guidance", {"service": "110"})]


def test_a_welfare_sign_inside_the_worry_report_comes_first_and_the_report_keeps_it(resident: Resident,
                                                                                     db_url: str) -> None:
    resident.send("隣のおばあさんを最近見かけない")
    before = left(db_url, resident)
    turn = resident.send("そういえば、部屋から変なにおいもしてきます")
    assert said(turn)[0] == "utter_welfare_check" and turn.replies[0].urgent
    assert effects(turn) == [("emergency_guidance", {"service": "110"})]
    after = left(db_url, resident)
    assert after.flow == "report_worry" and after.step == before.step, "the form goes on"
    assert after.slots["noticed"].startswith(before.slots["noticed"]) and "におい" in after.slots["noticed"]
    assert said(turn)[-1] == "utter_ask_where", "with its open question"


def test_a_welfare_sign_as_the_answer_to_what_was_noticed(engine: ConversationEngine, db_url: str) -> None:
    resident = Resident(engine, channel="line", user_id="U-welfare")
    assert said(resident.send(postback="intent:report_worry")) == ["utter_worry_intro", "utter_ask_noticed"]
    turn = resident.send("ここ何日か、夜も昼もずっと電気がついたままなんです")
    assert said(turn)[0] == "utter_welfare_check" and said(turn)[-1] == "utter_ask_where"
    assert effects(turn) == [("emergency_guidance", {"service": "110"})]
    assert "電気" in left(db_url, resident).slots["noticed"], "the answer is what was noticed"


def test_a_welfare_sign_after_the_report_is_added_to_its_case(resident: Resident, db_url: str) -> None:
    for message in ("向かいのおばあさん、最近見かけなくて心配です", "北区柳町2丁目", "3日前から", "いいえ", "はい"):
        resident.send(message)
    [case] = cases(db_url)
    turn = resident.send("あと、玄関の前を通ったらなんだか変なにおいがしました")
    assert said(turn)[0] == "utter_welfare_check"
    assert [kind for kind, _ in effects(turn)] == ["emergency_guidance", "case_updated"]
    assert effects(turn)[1][1]["case_id"] == case.id


def test_kansai_welfare_report_to_the_end_with_a_softened_no(resident: Resident, db_url: str) -> None:
    first = resident.send("下の階のばあちゃんとこ、なんや臭うし、ここんとこ顔見いひんねん")
    assert said(first)[0] == "utter_welfare_check"
    resident.send("中央区本町2丁目")
    resident.send("5日くらい前からや")
    assert said(resident.send("いや、ええわ"))[-1] == "utter_worry_confirm", "「いや、ええわ」 is a no"
    done = resident.send("はい")
    assert [kind for kind, _ in effects(done)] == ["case_created"]
    [case] = cases(db_url)
    assert case.kind == CaseKind.worry and not case.callback_consent
