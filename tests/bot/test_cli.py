"""The console channel and CLI as a city's IT officer meets them: `tsunagu chat --script`, `--help`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from bot.db import session_scope
from bot.models import Case, CaseKind
from bot.settings import settings
from intents import get_classifier


def _tsunagu(args: list[str], db_url: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TSUNAGU_DATABASE_URL": db_url, "TSUNAGU_DATA_DIR": str(settings.data_dir)}
    return subprocess.run([sys.executable, "-m", "bot", *args], input=stdin, capture_output=True, text=True,
                          env=env, timeout=240, check=False)


def test_help_reads_well() -> None:
    result = subprocess.run([sys.executable, "-m", "bot", "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    for command in ("chat", "serve", "train", "eval", "classify", "route", "directory", "purge"):
        assert command in result.stdout


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
    assert "110" in result.stdout
    with session_scope(sqlite_url) as session:
        cases = list(session.scalars(select(Case)))
    assert [(case.kind, case.counter_id) for case in cases] == [(CaseKind.worry, "mimamori-chuo")]


def test_chat_in_english(sqlite_url: str, tmp_path: Path) -> None:
    get_classifier()
    script = tmp_path / "en.txt"
    script.write_text("My mother needs care, where can I ask?\nKita-ku Yanagimachi\n", encoding="utf-8")
    result = _tsunagu(["chat", "--lang", "en", "--script", str(script)], sqlite_url)
    assert result.returncode == 0, result.stderr
    assert "The right place to ask is" in result.stdout and "06-0000-1002" in result.stdout


def test_bad_language_is_refused_clearly(sqlite_url: str) -> None:
    result = _tsunagu(["chat", "--lang", "fr"], sqlite_url)
    assert result.returncode != 0
    assert "--lang must be ja or en" in result.stderr + result.stdout
