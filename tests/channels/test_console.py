"""The console channel's script reading: comments, blank lines, and ``---`` starting a new resident."""

from __future__ import annotations

import io
import json

from rich.console import Console

from bot.engine import ConversationEngine
from bot.messages import Choice, Effect, EffectKind, InboundMessage, Reply, TurnResult
from channels.console import ConsoleChannel, script_conversations
from tests.bot.conftest import engine  # noqa: F401 - fixture: the engine as the app wires it

SCRIPT = ["# lang: ja", "こんにちは", "", "@35.0, 135.5", "---", "---", "# the second resident", "やめる", "---"]


def test_a_script_is_split_into_conversations_without_comments_or_blanks() -> None:
    assert list(script_conversations(SCRIPT)) == [["こんにちは", "@35.0, 135.5"], ["やめる"]]


def _channel(seen: list[InboundMessage]) -> tuple[ConsoleChannel, io.StringIO]:
    def handle(message: InboundMessage) -> TurnResult:
        seen.append(message)
        reply = Reply("はい", choices=(Choice("北区", "ward:kita"),), response="utter_test")
        return TurnResult([reply], [Effect(EffectKind.emergency_guidance, {"service": "119"})], flow="report_worry")

    out = io.StringIO()
    return ConsoleChannel(handle, Console(file=out, width=200), user_id="console-x"), out


def test_each_conversation_of_a_script_is_a_new_resident() -> None:
    seen: list[InboundMessage] = []
    channel, out = _channel(seen)
    echoed: list[str] = []
    channel.run_script(SCRIPT, echo=echoed.append)
    assert echoed == ["こんにちは", "@35.0, 135.5", "---", "やめる"]
    assert [message.user_id for message in seen] == ["console-x", "console-x", "console-x-2"]
    assert seen[1].has_location and seen[1].text is None
    assert len({message.event_id for message in seen}) == 3
    assert "1. 北区" in out.getvalue()


def test_jsonl_prints_one_object_per_resident_message() -> None:
    seen: list[InboundMessage] = []
    channel, _ = _channel(seen)
    lines: list[str] = []
    channel.run_script_jsonl(SCRIPT, write=lines.append)
    records = [json.loads(line) for line in lines]
    assert [(record["conversation"], record["turn"], record["in"]) for record in records] == [
        (1, 1, "こんにちは"), (1, 2, "@35.0, 135.5"), (2, 1, "やめる")]
    assert records[0]["replies"] == [{"response": "utter_test", "text": "はい", "choices": ["北区"]}]
    assert records[0]["effects"] == [{"kind": "emergency_guidance", "service": "119"}]
    assert records[0]["flow"] == "report_worry" and records[0]["language"] == "ja"
    assert "こんにちは" in lines[0], "UTF-8, not \\u escapes"


def test_the_prompt_follows_the_language_the_engine_answered_in() -> None:
    def handle(message: InboundMessage) -> TurnResult:
        return TurnResult([Reply("Hello", response="utter_greet")], language="en")

    out = io.StringIO()
    channel = ConsoleChannel(handle, Console(file=out, width=200), language="ja")
    assert channel.prompt_language == "ja"
    channel.render(channel.handle(channel.inbound("hello")))
    assert channel.prompt_language == "en", "English typed in a Japanese console is an English conversation"


def test_failure_10_tsunagu_chat_without_lang_answers_english_in_english(engine: ConversationEngine) -> None:
    """Issue 11, failure 10 as written: the console answered English in Japanese unless --lang en."""
    out = io.StringIO()
    channel = ConsoleChannel(engine.handle, Console(file=out, width=200), user_id="console-en")  # no --lang: ja
    lines: list[str] = []
    channel.run_script_jsonl(["I can't pay my rent this month", "3", "no", "---", "こんにちは"], write=lines.append)
    first, ward, declined, other = (json.loads(line) for line in lines)
    assert first["language"] == "en" and [r["response"] for r in first["replies"]] == ["utter_ask_area"]
    assert first["replies"][0]["choices"] == ["Kita-ku", "Chuo-ku", "Minami-ku"]
    assert ward["language"] == "en" and ward["effects"] == [
        {"kind": "answer_given", "counter_id": "kurashi-minami", "topic": "money"}]
    assert declined["language"] == "en" and [r["response"] for r in declined["replies"]] == ["utter_anything_else"]
    assert other["language"] == "ja", "the next resident writes Japanese"
