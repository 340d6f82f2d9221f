"""The conversation suite (tests/conversations, issue 11): the runner's checks on a scripted
handler, the suite files as written, `tsunagu eval --conversations`, and the suite itself
through the real engine — at least 95 % of conversations and every emergency expectation.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from bot.app import build_engine
from bot.cli import app
from bot.conversation_suite import (
    CLASSES,
    DEFAULT_AT,
    LANGUAGES,
    STYLES,
    TARGET_EMERGENCY,
    TARGET_RATE,
    Conversation,
    SuiteError,
    load_suite,
    parse_conversations,
    print_report,
    run_conversation,
    run_suite,
)
from bot.domain import RESIDENT_LANGUAGES
from bot.messages import Choice, Effect, EffectKind, InboundMessage, Reply, TurnResult

SUITE = Path(__file__).resolve().parents[1] / "conversations"
# Issue 12's whole conversations in the residents' languages: run and reported
# (`tsunagu eval --conversations tests/conversations-languages`), the bar once issue 12 lands.
LANGUAGE_SUITE = Path(__file__).resolve().parents[1] / "conversations-languages"


class Scripted:
    """A stand-in for the engine: answers each message with ``respond`` and records what came in."""

    def __init__(self, respond: Callable[[InboundMessage], TurnResult]) -> None:
        self.respond = respond
        self.received: list[InboundMessage] = []

    def __call__(self, message: InboundMessage) -> TurnResult:
        self.received.append(message)
        return self.respond(message)


def _turn(*responses: str, effects: tuple[Effect, ...] = (), language: str = "ja", flow: str | None = None,
          choices: tuple[str, ...] = ()) -> TurnResult:
    replies = [Reply(text=f"text of {name}", response=name,
                     choices=tuple(Choice(title, title) for title in choices) if index == len(responses) - 1 else ())
               for index, name in enumerate(responses)]
    return TurnResult(replies=replies, effects=list(effects), language=language, flow=flow)


def _one(text: str) -> Conversation:
    [conversation] = parse_conversations(text, source="test.yml")
    return conversation


WORRY = """
conversations:
  - id: worry
    class: worry_report
    style: standard
    language: ja
    turns:
      - 隣のおばあさんを見かけない
      - 北区柳町2丁目
    expect:
      effects:
        - {kind: case_created, case_kind: worry, town_id: kita-2-2}
      no_effects:
        - {kind: emergency_guidance}
      flow: null
"""

CASE = Effect(EffectKind.case_created, {"case_id": 1, "case_kind": "worry", "counter_id": "mimamori-kita",
                                        "town_id": "kita-2-2", "urgent": False})


# --------------------------------------------------------------------------- the runner's checks


def test_a_conversation_that_does_what_it_must_passes() -> None:
    replies = iter([_turn("utter_ask_where", flow="report_worry"), _turn("utter_worry_created", effects=(CASE,))])
    result = run_conversation(Scripted(lambda message: next(replies)), _one(WORRY))
    assert result.passed, [f"{check.expectation}: {check.detail}" for check in result.failures]
    assert [record["turn"] for record in result.records] == [1, 2]
    assert result.records[1]["effects"][0]["kind"] == "case_created"


def test_a_missing_effect_fails_and_says_what_happened_instead() -> None:
    wrong_town = Effect(EffectKind.case_created, {**CASE.data, "town_id": None})
    replies = iter([_turn("utter_ask_where", flow="report_worry"), _turn("utter_worry_created", effects=(wrong_town,))])
    result = run_conversation(Scripted(lambda message: next(replies)), _one(WORRY))
    assert not result.passed
    [failure] = result.failures
    assert "case_created" in failure.expectation and "town_id=None" in failure.detail


def test_a_forbidden_effect_and_a_wrong_final_flow_fail() -> None:
    alarm = Effect(EffectKind.emergency_guidance, {"service": "119"})
    replies = iter([_turn("utter_emergency_119", effects=(alarm,)), _turn("utter_ask_since_when", effects=(CASE,),
                                                                          flow="report_worry")])
    result = run_conversation(Scripted(lambda message: next(replies)), _one(WORRY))
    assert sorted(check.expectation for check in result.failures) == [
        "at the end: flow None", "conversation: no effect emergency_guidance"]


def test_messages_arrive_at_the_stated_time_as_new_residents_after_a_separator() -> None:
    conversation = _one("""
conversations:
  - {id: two, class: linking, style: standard, language: ja, at: "2026-12-05T21:00+09:00",
     turns: [一つ目, "---", "@34.7275,135.53", "0"]}
""")
    handler = Scripted(lambda message: _turn("utter_menu"))
    result = run_conversation(handler, conversation)
    first, location, digit = handler.received
    assert first.received_at == datetime.fromisoformat("2026-12-05T21:00+09:00") + timedelta(seconds=20)
    assert location.received_at > first.received_at
    assert first.user_id != location.user_id == digit.user_id
    assert (location.latitude, location.longitude, location.text) == (34.7275, 135.53, None)
    assert digit.text == "0" and first.language is None
    assert [record["in"] for record in result.records] == ["一つ目", "@34.7275,135.53", "0"]


def test_a_conversation_without_a_time_runs_on_a_weekday_morning() -> None:
    handler = Scripted(lambda message: _turn("utter_menu"))
    run_conversation(handler, _one(WORRY))
    assert handler.received[0].received_at == DEFAULT_AT + timedelta(seconds=20)
    assert DEFAULT_AT.weekday() < 5 and DEFAULT_AT.hour == 10


def test_guidance_after_a_question_is_not_guidance_first_and_counts_as_an_emergency_failure() -> None:
    conversation = _one("""
conversations:
  - id: fire
    class: emergency
    style: standard
    language: ja
    turns:
      - say: 隣の家が火事です
        expect:
          guidance_first: true
          effects: [{kind: emergency_guidance, service: 119}]
""")
    alarm = Effect(EffectKind.emergency_guidance, {"service": "119"})
    late = run_conversation(Scripted(lambda message: _turn("utter_ask_where", "utter_emergency_119",
                                                           effects=(alarm,))), conversation)
    assert [check.expectation for check in late.failures] == ["turn 1: safety guidance before anything else"]
    first = run_conversation(Scripted(lambda message: _turn("utter_emergency_119", effects=(alarm,))), conversation)
    assert first.passed
    report = run_suite(Scripted(lambda message: _turn("utter_menu")), [conversation])
    assert report.emergency == (0, 2) and report.rate == 0.0


def test_the_same_question_three_times_running_fails() -> None:
    conversation = _one("""
conversations:
  - {id: loop, class: places, style: standard, language: ja, turns: [家賃が払えない, ひばりが丘, もみじ台]}
""")
    result = run_conversation(Scripted(lambda message: _turn("utter_place_not_found")), conversation)
    assert [check.expectation for check in result.failures] == [
        "the same question is never asked three times running"]


def test_english_needs_english_turns_and_romaji_buttons() -> None:
    conversation = _one("""
conversations:
  - {id: en, class: language, style: english, language: en, turns: [I need care advice for my mother]}
""")
    kanji = run_conversation(Scripted(lambda message: _turn("utter_ask_ward", language="en",
                                                            choices=("北区", "Chuo-ku"))), conversation)
    assert [check.expectation for check in kanji.failures] == ["every turn: replies in en"]
    romaji = run_conversation(Scripted(lambda message: _turn("utter_ask_ward", language="en",
                                                             choices=("Kita-ku", "Chuo-ku (中央区)"))), conversation)
    assert romaji.passed
    japanese = run_conversation(Scripted(lambda message: _turn("utter_ask_ward")), conversation)
    assert not japanese.passed


def test_every_resident_language_is_a_conversation_language_and_a_turn_language() -> None:
    assert set(LANGUAGES) == {*RESIDENT_LANGUAGES, "per_turn"}
    conversation = _one("""
conversations:
  - id: switch
    class: language
    style: mixed
    language: per_turn
    hint: ko
    turns:
      - {say: 我妈妈需要介护, expect: {language: zh}}
      - {say: Mẹ tôi cần chăm sóc, expect: {language: vi}}
""")
    languages = iter(["zh", "en"])
    handler = Scripted(lambda message: _turn("utter_ask_ward", language=next(languages)))
    result = run_conversation(handler, conversation)
    assert handler.received[0].language == "ko"
    assert [check.expectation for check in result.failures] == ["turn 2: replies in vi"]


def test_latin_script_languages_need_romaji_buttons_chinese_reads_kanji() -> None:
    def one(language: str) -> Conversation:
        return _one(f"""
conversations:
  - {{id: {language}, class: where_to_ask, style: standard, language: {language}, turns: [x]}}
""")

    def kanji(language: str) -> Callable[[InboundMessage], TurnResult]:
        return lambda message: _turn("utter_ask_ward", language=language, choices=("北区", "中央区"))

    for latin in ("vi", "tl", "pt", "es"):
        result = run_conversation(Scripted(kanji(latin)), one(latin))
        assert [check.expectation for check in result.failures] == [f"every turn: replies in {latin}"]
        romaji = run_conversation(Scripted(lambda message, latin=latin: _turn(
            "utter_ask_ward", language=latin, choices=("Kita-ku", "Chuo-ku"))), one(latin))
        assert romaji.passed
    assert run_conversation(Scripted(kanji("zh-Hant")), one("zh-Hant")).passed
    assert not run_conversation(Scripted(kanji("zh")), one("zh-Hant")).passed


def test_values_times_operators_and_null() -> None:
    conversation = _one("""
conversations:
  - id: ops
    class: answer_stays
    style: standard
    language: ja
    turns: [詐欺にあった, 000-0110]
    expect:
      effects:
        - {kind: answer_given, counter_id: shohi-city, times: 1}
        - {kind: case_created, town_id: null, fields: {observation: {contains: 新聞}, contact: {present: false}}}
      no_effects:
        - {kind: answer_given, topic: {not: consumer}}
""")
    consumer = Effect(EffectKind.answer_given, {"counter_id": "shohi-city", "topic": "consumer"})
    case = Effect(EffectKind.case_created, {"town_id": None, "fields": {"observation": "ポストに新聞が", "contact": None}})
    good = iter([_turn("utter_counter", effects=(consumer,)), _turn("utter_anything_else", effects=(case,))])
    assert run_conversation(Scripted(lambda message: next(good)), conversation).passed

    money = Effect(EffectKind.answer_given, {"counter_id": "kurashi-chuo", "topic": "money"})
    no_town_key = Effect(EffectKind.case_created, {"fields": {"observation": "ポストに新聞が"}})
    bad = iter([_turn("utter_counter", effects=(consumer,)), _turn("utter_counter", effects=(consumer, money,
                                                                                              no_town_key))])
    failed = {check.expectation for check in run_conversation(Scripted(lambda message: next(bad)),
                                                              conversation).failures}
    assert failed == {
        "conversation: effect answer_given(counter_id=shohi-city) exactly 1 time(s)",
        "conversation: effect case_created(town_id=None, fields={'observation': {'contains': '新聞'}, "
        "'contact': {'present': False}})",
        "conversation: no effect answer_given(topic={'not': 'consumer'})",
    }


def test_a_list_in_responses_is_any_of_its_names() -> None:
    conversation = _one("""
conversations:
  - id: police
    class: missing_report
    style: standard
    language: ja
    turns: [認知症の父がいなくなりました]
    expect:
      responses: [[utter_missing_police, utter_missing_created]]
      no_responses: [utter_emergency_119]
""")
    assert run_conversation(Scripted(lambda message: _turn("utter_missing_created")), conversation).passed
    result = run_conversation(Scripted(lambda message: _turn("utter_emergency_119", "utter_ask_missing_who")),
                              conversation)
    assert sorted(check.expectation for check in result.failures) == [
        "conversation: no response utter_emergency_119",
        "conversation: response utter_missing_police or utter_missing_created"]


def test_the_report_shows_the_bar_each_class_and_style_and_every_failure() -> None:
    conversations = parse_conversations("""
conversations:
  - {id: kept, class: handoff, style: casual, language: ja, turns: [人と話したい],
     expect: {effects: [{kind: handoff}]}}
  - {id: lost, class: handoff, style: kansai, language: ja, turns: [人と話されへん？],
     expect: {effects: [{kind: handoff}]}}
""")
    handoff = Effect(EffectKind.handoff, {"counter_id": "sougou-kita"})
    replies = iter([_turn("utter_handoff_open", effects=(handoff,)), _turn("utter_ask_ward")])
    report = run_suite(Scripted(lambda message: next(replies)), conversations)
    assert (report.passed, report.total, report.by("klass"), report.by("style")) == (
        1, 2, {"handoff": (1, 2)}, {"casual": (1, 1), "kansai": (0, 1)})
    screen = io.StringIO()
    print_report(report, Console(file=screen, width=200))
    shown = screen.getvalue()
    for text in ("1/2", "50.0%", "below target", "By class", "By style", "By language", "kansai", "0%",
                 "lost", "conversation: effect handoff: found 0 in []"):
        assert text in shown


@pytest.mark.parametrize(("text", "message"), [
    ("conversations: [{id: a, class: gossip, style: standard, language: ja, turns: [x]}]", "class must be one of"),
    ("conversations: [{id: a, class: places, style: shouting, language: ja, turns: [x]}]", "style must be one of"),
    ("conversations: [{id: a, class: places, style: standard, language: ja, turns: [x], expects: {}}]",
     "unknown keys"),
    ("conversations: [{id: a, class: places, style: standard, language: ja, turns: [x], "
     "expect: {effect: [{kind: cancelled}]}}]", "expectations may name only"),
    ("conversations: [{id: a, class: places, style: standard, language: ja, turns: []}]", "non-empty list"),
    ("conversations: [{id: a, class: places, style: standard, language: fr, turns: [x]}]",
     "language must be one of"),
    ("conversations: [{id: a, class: places, style: standard, language: per_turn, "
     "turns: [{say: x, expect: {language: zh-hant}}]}]", "a turn's language must be one of"),
    ("conversations: [{id: a, class: places, style: standard, language: ja, turns: [x], hint: fr}]",
     "hint must be one of"),
    ("conversations: [{id: a, class: places, style: standard, language: ja, turns: [x], at: '2026-12-01 10:00'}]",
     "needs its offset"),
    ("conversations: [{id: a, class: places, style: standard, language: ja, turns: [x], "
     "expect: {effects: [{service: 119}]}}]", "with a 'kind'"),
])
def test_a_malformed_conversation_is_refused_with_its_id(text: str, message: str) -> None:
    with pytest.raises(SuiteError, match=message):
        parse_conversations(text, source="bad.yml")


def test_an_id_used_twice_is_refused(tmp_path: Path) -> None:
    item = "conversations: [{id: same, class: places, style: standard, language: ja, turns: [x]}]\n"
    (tmp_path / "a.yml").write_text(item, encoding="utf-8")
    (tmp_path / "b.yml").write_text(item, encoding="utf-8")
    with pytest.raises(SuiteError, match="used twice"):
        load_suite(tmp_path)


# --------------------------------------------------------------------------- the suite as written


def test_the_suite_has_150_blind_conversations_over_every_class_and_style() -> None:
    conversations = load_suite(SUITE)
    blind = [conversation for conversation in conversations if conversation.regression is None]
    assert len(blind) >= 150
    assert {conversation.klass for conversation in blind} == set(CLASSES)
    assert {conversation.style for conversation in blind} == set(STYLES)
    regressions = [conversation for conversation in conversations if conversation.regression]
    assert regressions and {conversation.source for conversation in regressions} == {"regressions-issue11.yml"}
    emergencies = [conversation for conversation in blind if any(
        turn.expect.get("guidance_first") for turn in conversation.turns)]
    assert len(emergencies) >= 20


def test_every_new_language_has_a_whole_conversation_for_where_worry_and_missing() -> None:
    # Issue 12: one whole conversation per new language for each of the three, and the safety
    # question on the phone answered both ways.
    blind = [conversation for conversation in load_suite(LANGUAGE_SUITE) if conversation.regression is None]
    for language in set(RESIDENT_LANGUAGES) - {"ja", "en"}:
        classes = {conversation.klass for conversation in blind if conversation.language == language}
        assert {"where_to_ask", "worry_report", "missing_report"} <= classes, language
    answers = {conversation.turns[index + 1].text
               for conversation in blind if conversation.channel == "voice"
               for index, turn in enumerate(conversation.turns[:-1])
               if "utter_safety_question" in (turn.expect.get("responses") or [])}
    assert {"1", "2"} <= answers


def test_eval_conversations_refuses_a_malformed_suite_before_loading_anything(tmp_path: Path) -> None:
    (tmp_path / "bad.yml").write_text("conversations: [{id: a, class: gossip}]\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["eval", "--conversations", str(tmp_path)])
    assert result.exit_code == 1
    assert "class must be one of" in result.output


# --------------------------------------------------------------------------- through the engine


@pytest.mark.slow
def test_eval_conversations_prints_the_rate_by_class_and_style(tmp_path: Path) -> None:
    (tmp_path / "one.yml").write_text("""
conversations:
  - id: fire
    class: emergency
    style: standard
    language: ja
    turns:
      - say: 隣の家が火事です
        expect:
          effects: [{kind: emergency_guidance, service: "119"}]
  - id: impossible
    class: handoff
    style: casual
    language: ja
    turns: [人と話したい]
    expect:
      effects: [{kind: alert_queued}]
""", encoding="utf-8")
    result = CliRunner().invoke(app, ["eval", "--conversations", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for shown in ("1/2", "emergency expectations", "1/1", "By class", "emergency", "handoff", "By style",
                  "casual", "impossible", "alert_queued: found 0 in ["):
        assert shown in result.stdout


@pytest.mark.slow
def test_the_suite_passes_95_percent_and_every_emergency_expectation(sqlite_url: str) -> None:
    report = run_suite(build_engine(sqlite_url).handle, load_suite(SUITE))
    failures = "\n".join(f"{result.conversation.id}: {check.expectation}: {check.detail}"
                         for result in report.failed for check in result.failures)
    held, checked = report.emergency
    assert checked and held / checked >= TARGET_EMERGENCY, failures
    assert report.rate >= TARGET_RATE, failures
