"""Ways out and corrections, whole conversations: stop, start again, "that's wrong" and
"found", in natural wording, Japanese and English, in every flow (issue 11 item 6 and its
failure 5; issue 17 item 1: a family's 「見つかりました！お知らせを止めてください」 ends
their alert, never a cooperator unsubscribe).
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from alerts.lifecycle import approve, cancel
from bot.db import session_scope
from bot.engine import ConversationEngine
from bot.models import Alert, AlertStatus, Case, CaseEvent, CaseStatus
from tests.alerts.conftest import Kicks, add_cooperator, mark_sent, outbox
from tests.bot.conftest import Resident
from tests.flows.conftest import Left, cases, effects, left, said

CANCELLED = ["utter_cancelled"]


def _worry_at_the_confirmation(resident: Resident) -> None:
    resident.send("隣のおばあさんの郵便受けに新聞がたまっている")
    resident.send("北区柳町2丁目")
    resident.send("3日前から")
    assert said(resident.send("いいえ")) == ["utter_worry_confirm"]


# The missing form's answers, whatever order it asks them in.
MISSING_ANSWERS = {"ja": {"missing_who": "80歳の男性で、背が低く白髪です", "last_seen_where": "中央区本町",
                          "last_seen_when": "今朝8時ごろ", "clothing": "紺色のジャンパー",
                          "callback_phone": "090-3333-4444"},
                   "en": {"missing_who": "80 year old man, short, white hair", "last_seen_where": "Chuo-ku Honmachi",
                          "last_seen_when": "this morning around 8", "clothing": "navy jacket",
                          "callback_phone": "090-3333-4444"}}


def _missing_report(family: Resident, db_url: str, first: str = "認知症の父が朝から帰ってこない",
                    language: str = "ja") -> None:
    """A family's report, from the first words to the case and its pending alert: each
    question the form asks is answered, in the order it asks them."""
    family.send(first)
    for _ in range(len(MISSING_ANSWERS[language]) + 2):
        step = left(db_url, family).step
        if step not in MISSING_ANSWERS[language]:
            break
        done = family.send(MISSING_ANSWERS[language][step])
        while said(done)[-1:] in (["utter_place_read_back"], ["utter_description_read_back"]):
            done = family.send("1")  # on the phone: yes to what is read back
    assert [kind for kind, _ in effects(done)][:2] == ["case_created", "alert_created"]


def _alert(db_url: str) -> Alert:
    with session_scope(db_url) as session:
        return session.scalars(select(Alert)).one()


def _events(db_url: str) -> list[tuple[str, str | None]]:
    with session_scope(db_url) as session:
        return [(event.kind, event.actor) for event in session.scalars(select(CaseEvent).order_by(CaseEvent.id))]


# ---------------------------------------------------------------------------- stop


@pytest.mark.parametrize("words", ["やっぱりやめます", "もういいです", "中止して", "やっぱりやめとくわ",
                                   "すみません、やっぱりやめときます", "キャンセルでお願いします", "もうええわ"])
def test_stopping_a_form_in_ones_own_words(resident: Resident, db_url: str, words: str) -> None:
    """Failure 5 of issue 11, as written: inside a form these were taken for a place."""
    assert said(resident.send("隣のおばあさんの郵便受けに新聞がたまっている")) == ["utter_worry_intro", "utter_ask_where"]
    stopped = resident.send(words)
    assert said(stopped) == CANCELLED and effects(stopped) == [("cancelled", {})]
    assert left(db_url, resident) == Left(None, None, {})
    assert not cases(db_url)


def test_the_same_words_inside_an_answer_are_the_answer(resident: Resident, db_url: str) -> None:
    resident.send(postback="intent:report_worry")
    noticed = resident.send("やめてと言っても聞かない")
    if said(noticed) == ["utter_safety_question"]:
        noticed = resident.send("2")  # the safety model asked; the words go on to the report
    assert said(noticed) == ["utter_ask_where"], "what was noticed, not a way out"
    assert left(db_url, resident).slots["noticed"] == "やめてと言っても聞かない"


def test_soft_words_stop_a_free_question_but_answer_a_yes_no_one(resident: Resident, db_url: str) -> None:
    resident.send("隣のおばあさんの郵便受けに新聞がたまっている")
    resident.send("北区柳町2丁目")
    resident.send("3日前から")
    # At the call-back question 「結構です」 is "no, thank you", not a way out.
    assert said(resident.send("結構です")) == ["utter_worry_confirm"]
    assert left(db_url, resident).slots["callback_consent"] is False
    resident.send("やめる")
    resident.send(postback="intent:report_worry")
    # To "what did you notice?" it means never mind; to the place question too.
    assert said(resident.send("結構です")) == CANCELLED
    resident.send("隣のおばあさんの郵便受けに新聞がたまっている")
    assert said(resident.send("やめてください")) == CANCELLED


def test_missing_report_stopped_in_kansai_dialect(resident: Resident, db_url: str) -> None:
    resident.send("うちのおかんがおらんようになってん")
    assert left(db_url, resident).flow == "report_missing"
    stopped = resident.send("やっぱりやめとくわ")
    assert said(stopped) == CANCELLED and effects(stopped) == [("cancelled", {})]
    assert not cases(db_url)


def test_english_cancel_with_a_reason(engine: ConversationEngine, db_url: str) -> None:
    family = Resident(engine, language="en")
    family.send("My mother is missing, she has dementia")
    stopped = family.send("Cancel please, my brother is handling it")
    assert said(stopped) == CANCELLED and effects(stopped) == [("cancelled", {})]
    assert not cases(db_url)


def test_english_never_mind_in_a_form(engine: ConversationEngine, db_url: str) -> None:
    resident = Resident(engine, language="en")
    resident.send("My elderly neighbour hasn't been seen for days and his mail is piling up")
    stopped = resident.send("Actually, never mind.")
    assert said(stopped) == CANCELLED and stopped.language == "en"
    assert left(db_url, resident) == Left(None, None, {})


# ---------------------------------------------------------------------------- start again


def test_start_again_restarts_the_form_with_nothing_kept(resident: Resident, db_url: str) -> None:
    resident.send("隣のおばあさんの郵便受けに新聞がたまっている")
    resident.send("北区柳町2丁目")
    again = resident.send("最初からやり直したいです")
    assert said(again) == ["utter_restarted", "utter_worry_intro", "utter_ask_noticed"]
    assert left(db_url, resident) == Left("report_worry", "noticed", {})
    assert said(resident.send("ポストに新聞がたまっている")) == ["utter_ask_where"]
    # The first report's draft went with the restart; the new answers are a new draft.
    [draft] = cases(db_url)
    assert left(db_url, resident).slots == {"noticed": "ポストに新聞がたまっている", "report_case_id": draft.id}
    assert draft.details["noticed"] == "ポストに新聞がたまっている"


def test_start_over_in_english_outside_a_form_shows_the_menu(engine: ConversationEngine, db_url: str) -> None:
    resident = Resident(engine, language="en")
    resident.send("I can't pay my rent this month")
    assert left(db_url, resident).flow == "ask_where"
    again = resident.send("can I start over?")
    assert said(again) == ["utter_restarted", "utter_menu"]
    assert left(db_url, resident) == Left(None, None, {})


# ---------------------------------------------------------------------------- that's wrong


def test_correction_at_the_confirmation_asks_which_answer(resident: Resident, db_url: str) -> None:
    _worry_at_the_confirmation(resident)
    which = resident.send("違います")
    assert said(which) == ["utter_ask_what_to_correct"]
    assert [c.payload for c in which.replies[0].choices] == [
        "correct:noticed", "correct:where", "correct:since_when", "correct:callback_consent"]
    assert said(resident.send("2")) == ["utter_ask_where"], "the place question again"
    assert "where" not in left(db_url, resident).slots
    assert said(resident.send("南区朝日町3丁目")) == ["utter_worry_confirm"], "then the confirmation again"
    kept = left(db_url, resident)
    assert kept.slots["where"]["area"]["town_id"] == "minami-1-2" and kept.slots["since_when"] == "3日前から"
    done = resident.send("はい")
    assert said(done)[0] == "utter_worry_created"
    [case] = cases(db_url)
    assert case.town_id == "minami-1-2"


def test_which_answer_named_in_words(resident: Resident, db_url: str) -> None:
    _worry_at_the_confirmation(resident)
    assert said(resident.send("訂正したいです")) == ["utter_ask_what_to_correct"]
    assert said(resident.send("場所です")) == ["utter_ask_where"]
    resident.send("北区柳町3丁目")
    assert said(resident.send("間違えました")) == ["utter_ask_what_to_correct"]
    assert said(resident.send("3日前から")) == ["utter_ask_since_when"], "named by its answer"
    assert said(resident.send("うーん")) == ["utter_worry_confirm"]
    assert said(resident.send("違います")) == ["utter_ask_what_to_correct"]
    assert said(resident.send("えっと")) == ["utter_ask_what_to_correct"], "not an item: asked again"


def test_correction_before_the_confirmation_goes_back_one_question(resident: Resident, db_url: str) -> None:
    resident.send("隣のおばあさんの郵便受けに新聞がたまっている")
    resident.send("北区柳町2丁目")
    back = resident.send("あ、間違えました")
    assert said(back) == ["utter_going_back", "utter_ask_where"]
    assert said(resident.send("北区柳町3丁目")) == ["utter_ask_since_when"]
    assert left(db_url, resident).slots["where"]["detail"] == "3丁目"


def test_thats_wrong_in_english_at_the_missing_forms_questions(engine: ConversationEngine, db_url: str) -> None:
    family = Resident(engine, language="en")
    family.send(postback="intent:report_missing")
    assert left(db_url, family).step == "missing_who"
    family.send("80 year old man, short, white hair")
    assert left(db_url, family).step != "missing_who"
    assert said(family.send("No, that's wrong")) == ["utter_going_back", "utter_ask_missing_who"]
    assert "missing_who" not in left(db_url, family).slots
    family.send("80 year old man, short, grey hair")
    kept = left(db_url, family)
    assert kept.slots["missing_who"] == "80 year old man, short, grey hair" and kept.step != "missing_who"
    family.send(MISSING_ANSWERS["en"][kept.step or ""])
    asked_before = kept.step
    back = family.send("go back")
    assert said(back)[0] == "utter_going_back" and left(db_url, family).step == asked_before


def test_a_correction_that_brings_the_right_answer(resident: Resident, db_url: str) -> None:
    resident.send("近所の一人暮らしのおじいさんが、同じ服を着ていて、痩せてきました")
    resident.send("北区柳町1丁目です")
    fixed = resident.send("すみません、間違えました。北区栄町4丁目です")
    assert said(fixed) == ["utter_ask_since_when"], "the new place replaces the old, and the form goes on"
    assert left(db_url, resident).slots["where"]["area"]["town_id"] == "kita-2-3"
    resident.send("3日前からです")
    resident.send("いいえ")
    # At the confirmation, the answer named by the correction is replaced at once.
    assert said(resident.send("違います、場所は南区朝日町3丁目です")) == ["utter_worry_confirm"]
    assert left(db_url, resident).slots["where"]["area"]["town_id"] == "minami-1-2"
    resident.send("はい")
    [case] = cases(db_url)
    assert case.town_id == "minami-1-2"


def test_a_correction_naming_an_earlier_answer(resident: Resident, db_url: str) -> None:
    resident.send("隣のおばあさんの郵便受けに新聞がたまっている")
    resident.send("北区柳町2丁目")
    resident.send("3日前から")
    fixed = resident.send("すみません、場所を間違えました。北区栄町4丁目です")
    assert said(fixed) == ["utter_ask_callback_consent"], "the place, not the previous answer (since when)"
    kept = left(db_url, resident).slots
    assert kept["where"]["area"]["town_id"] == "kita-2-3" and kept["since_when"] == "3日前から"


def test_english_correction_with_the_right_answer_at_the_confirmation(engine: ConversationEngine,
                                                                     db_url: str) -> None:
    resident = Resident(engine, language="en")
    resident.send("My elderly neighbour hasn't been seen for days and his mail is piling up")
    resident.send("Chuo-ku Minatomachi")
    resident.send("since last week")
    resident.send("no")
    fixed = resident.send("No, that's wrong. It started about 3 days ago")
    assert said(fixed) == ["utter_ask_what_to_correct"], "the words name no answer: which one is asked"
    assert said(resident.send("3")) == ["utter_ask_since_when"]


def test_a_description_that_is_not_a_denial_is_kept(resident: Resident, db_url: str) -> None:
    resident.send(postback="intent:report_worry")
    assert said(resident.send("いつもと様子が違う")) == ["utter_ask_where"]


# ---------------------------------------------------------------------------- found


def test_found_during_the_report_ends_it_and_is_not_the_description(resident: Resident, db_url: str) -> None:
    """Failure 5 of issue 11: 「やっぱりいいです、見つかりました」 was taken as the description."""
    resident.send("認知症の父が朝から帰ってこない")
    assert left(db_url, resident).flow == "report_missing"
    found = resident.send("やっぱりいいです、見つかりました")
    assert said(found) == ["utter_missing_found_ended"]
    assert effects(found) == [("cancelled", {"reason": "found"})]
    assert left(db_url, resident) == Left(None, None, {})
    assert not cases(db_url)


def test_where_last_seen_at_home_goes_on_with_the_report(resident: Resident, db_url: str) -> None:
    # 「昼までうちにいました」 answers where the person was last seen; read as "found", it
    # once ended the report and left the person unsearched.
    resident.send("認知症の父が朝から帰ってこない")
    turn = resident.send("昼までうちにいました")
    assert "utter_missing_found_ended" not in said(turn)
    assert not any(kind == "cancelled" for kind, _ in effects(turn))
    assert left(db_url, resident).flow == "report_missing"


def test_not_missing_ends_the_report_and_reads_the_first_words_again(resident: Resident, db_url: str) -> None:
    # A parent at home and not themselves, taken for a missing report: the family says so.
    resident.send("認知症の父が朝から帰ってこない")
    turn = resident.send("いえ、父は家にいます。いなくなったんじゃないです")
    assert said(turn)[0] == "utter_not_missing"
    assert effects(turn)[0] == ("cancelled", {"reason": "not_missing"})
    # Nothing reached the desk, and what follows is not the missing report again.
    assert not cases(db_url)
    assert left(db_url, resident).flow != "report_missing"
    assert not any(reply.urgent for reply in turn.replies)
    offered = [choice.payload for reply in turn.replies for choice in reply.choices]
    assert "intent:report_missing" not in offered


def test_a_past_episode_in_the_description_is_the_description(resident: Resident, db_url: str) -> None:
    resident.send(postback="intent:report_missing")
    described = resident.send("80歳の男性です。以前も駅前で見つかりました")
    assert "utter_missing_found_ended" not in said(described)
    kept = left(db_url, resident)
    assert kept.flow == "report_missing" and kept.slots["missing_who"] == "80歳の男性です。以前も駅前で見つかりました"


def test_family_found_ends_a_pending_alert_never_an_unsubscribe(engine: ConversationEngine, db_url: str) -> None:
    """Issue 17 item 1 before approval: the alert is withdrawn, staff are told, the family thanked."""
    family = Resident(engine, channel="line", user_id="U-family")
    _missing_report(family, db_url)
    found = family.send("父が見つかりました！お知らせを止めてください")
    assert said(found) == ["utter_family_found_alert_withdrawn"]
    alert = _alert(db_url)
    assert alert.status == AlertStatus.cancelled
    assert [kind for kind, _ in effects(found)] == ["alert_ended", "case_updated"]
    assert effects(found)[0] == ("alert_ended", {"alert_id": alert.id, "case_id": alert.case_id, "status": "cancelled"})
    assert ("alert_cancelled", "family") in _events(db_url), "the alert's history names who ended it"
    assert ("details_added", "line") in _events(db_url), "the desk receives the family's words as an update"
    assert left(db_url, family).flow is None


def test_family_found_ends_an_active_alert_and_thanks_cooperators(engine: ConversationEngine, db_url: str,
                                                                 kicks: Kicks) -> None:
    """Issue 17 item 1 after approval, in a later conversation: found, thanks queued for those it reached."""
    family = Resident(engine, channel="line", user_id="U-family")
    _missing_report(family, db_url)
    with session_scope(db_url) as session:
        add_cooperator(session, "chuo-1-1")
        alert = session.scalars(select(Alert)).one()
        approve(session, alert, by="desk", now=family.now)
        mark_sent(session, outbox(session, alert), now=family.now)
    family.send("やめる")  # this conversation ends; the family writes again later
    found = family.send("母が帰ってきました。ありがとうございました")
    assert said(found) == ["utter_family_found_alert_ended"]
    alert = _alert(db_url)
    assert alert.status == AlertStatus.found
    assert effects(found)[:2] == [("alert_ended", {"alert_id": alert.id, "case_id": alert.case_id, "status": "found"}),
                                  ("alert_queued", {"alert_id": alert.id, "queued": 1})]
    assert effects(found)[2][0] == "case_updated"
    with session_scope(db_url) as session:
        assert len(outbox(session, alert, "found")) == 1, "the cooperator it reached is thanked"
    assert ("alert_found", "family") in _events(db_url) and ("details_added", "line") in _events(db_url)
    assert kicks.calls >= 1, "the fan-out is woken to send the thanks"


def test_english_family_found(engine: ConversationEngine, db_url: str) -> None:
    family = Resident(engine, channel="telegram", user_id="42", language="en")
    _missing_report(family, db_url, "My father with dementia has gone missing", language="en")
    assert len(cases(db_url)) == 1
    found = family.send("We found him, he's back home")
    assert said(found) == ["utter_family_found_alert_withdrawn"] and found.language == "en"
    assert _alert(db_url).status == AlertStatus.cancelled


def test_a_familys_stop_the_alerts_asks_whether_found(engine: ConversationEngine, db_url: str) -> None:
    family = Resident(engine, channel="line", user_id="U-family")
    _missing_report(family, db_url)
    asked = family.send("お知らせを止めてください")
    assert said(asked) == ["utter_ask_family_found"], "never taken for a cooperator leaving"
    assert _alert(db_url).status == AlertStatus.pending
    assert said(family.send("いいえ")) == ["utter_family_alert_continues"]
    assert _alert(db_url).status == AlertStatus.pending, "not found: the alert goes on"
    family.send("配信を停止して")
    found = family.send("はい")
    assert said(found) == ["utter_family_found_alert_withdrawn"]
    assert _alert(db_url).status == AlertStatus.cancelled


def test_stopping_after_the_report_was_sent_tells_staff(resident: Resident, db_url: str) -> None:
    _worry_at_the_confirmation(resident)
    resident.send("はい")
    [case] = cases(db_url)
    assert left(db_url, resident).flow == "case_followup"
    late = resident.send("やっぱりやめます")
    assert said(late) == ["utter_cancel_after_report"], "the report is not said to be cancelled"
    assert [kind for kind, _ in effects(late)] == ["case_updated"]
    assert ("details_added", "console") in _events(db_url)
    assert cases(db_url)[0].status == case.status
    assert left(db_url, resident) == Left(None, None, {})


def test_found_words_after_the_case_was_closed_are_not_taken(engine: ConversationEngine, db_url: str) -> None:
    family = Resident(engine, channel="line", user_id="U-family")
    _missing_report(family, db_url)
    with session_scope(db_url) as session:
        alert = session.scalars(select(Alert)).one()
        cancel(session, alert, by="desk", now=family.now)
        case = session.get(Case, alert.case_id)
        case.status, case.closed_at, case.close_reason = CaseStatus.closed, family.now, "found"
    family.send("やめる")
    turn = family.send("財布が見つかりました")
    assert not {"utter_family_found_noted", "utter_family_found_alert_ended"} & set(said(turn))


def test_found_and_stop_from_a_chat_without_the_report(engine: ConversationEngine, db_url: str) -> None:
    """The family reported by phone and writes on LINE: told how to reach the desk, never
    "you are not a cooperator"."""
    caller = Resident(engine, channel="voice", user_id="+81312345678")
    caller.send(event="call_start")
    _missing_report(caller, db_url, first="3")
    family = Resident(engine, channel="line", user_id="U-other-chat")
    turn = family.send("父が見つかりました！お知らせを止めてください")
    assert said(turn) == ["utter_found_report_elsewhere", "utter_menu"]
    assert _alert(db_url).status == AlertStatus.pending, "nothing is ended from a chat that did not report"


def test_found_words_from_someone_without_a_report_are_not_taken(resident: Resident, db_url: str) -> None:
    turn = resident.send("見つかりました")
    assert "utter_family_found_alert_ended" not in said(turn) and "utter_missing_found_ended" not in said(turn)


def test_a_cooperators_stop_words_still_unsubscribe(engine: ConversationEngine, db_url: str) -> None:
    resident = Resident(engine, channel="line", user_id="U-coop")
    assert said(resident.send("お知らせを止めてください")) == ["utter_unsubscribe_not_registered"]


def test_words_denying_a_missing_person_never_start_a_missing_report(engine: ConversationEngine, db_url: str) -> None:
    # 「실종이 아니에요」 names the matter only to deny it; the classifier alone reads the word.
    denial = "아니요, 아버지는 집에 있어요. 실종이 아니에요"
    assert engine.classifier().classify(denial).intent == "report_missing"
    resident = Resident(engine)
    turn = resident.send(denial)
    assert left(db_url, resident).flow != "report_missing"
    assert "utter_missing_intro" not in said(turn) and not any(reply.urgent for reply in turn.replies)
