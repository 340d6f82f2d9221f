"""The redacting log filter, and `tsunagu -v` (the composition root installing it) logging a
whole worry report without the neighbour's name or phone number (issue 15, defect 7)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.logsafe import REDACTED, JsonLineFormatter, RedactingFilter, redact
from bot.settings import settings
from intents.classifier import get_classifier

NEIGHBOUR = "山田花子"
PHONE = "090-1234-5678"


def filtered(msg: str, *args: object, name: str = "tests", exc_info: bool = False) -> str:
    """The line a handler with the filter writes for one record."""
    record = logging.LogRecord(name, logging.DEBUG, __file__, 1, msg, args, sys.exc_info() if exc_info else None)
    assert RedactingFilter().filter(record), "a record is never dropped"
    return logging.Formatter("%(message)s").format(record)


@pytest.mark.parametrize("personal", [
    "090-1234-5678", "09012345678", "03-1234-5678", "+81 90 1234 5678", "+819012345678", "０９０－１２３４－５６７８",
    "hanako.yamada@example.jp",
])
def test_phone_numbers_and_email_addresses_are_masked(personal: str) -> None:
    line = redact(f"case 12: contact {personal} (callback)")
    assert personal not in line and REDACTED in line
    assert line.startswith("case 12: contact ")


def test_a_bot_token_in_a_url_is_masked() -> None:
    url = "HTTP Request: POST https://api.telegram.org/bot123456:AAH-x_yz9/sendMessage \"HTTP/1.1 200 OK\""
    assert filtered("%s", url) == f"HTTP Request: POST https://api.telegram.org/bot{REDACTED}/sendMessage \"HTTP/1.1 200 OK\""


def test_message_content_in_arguments_is_dropped() -> None:
    line = filtered("Calling Bot API endpoint `%s` with parameters `%s`", "sendMessage",
                    {"chat_id": 81001, "text": f"{NEIGHBOUR}さんのこと", "reply_markup": {"keyboard": []}})
    assert NEIGHBOUR not in line and "sendMessage" in line and "81001" in line


def test_keyed_content_in_a_repr_is_masked() -> None:
    line = filtered("update %s", f"Message(chat=Chat(id=1), text='{NEIGHBOUR}さんを見かけない', date=1)")
    assert NEIGHBOUR not in line and "chat=Chat(id=1)" in line


def test_database_rows_are_not_logged() -> None:
    line = filtered("Row %r", (1, {"noticed": NEIGHBOUR}), name="sqlalchemy.engine.Engine")
    assert NEIGHBOUR not in line and line.startswith("Row ")


def test_a_traceback_is_masked_too() -> None:
    try:
        raise ValueError(f"cannot store 'call me at {PHONE}'")
    except ValueError:
        line = filtered("storing failed", exc_info=True)
    assert "ValueError" in line and PHONE not in line


def test_ordinary_lines_are_unchanged() -> None:
    assert filtered("turn channel=%s flow=%s replies=%d", "line", "report_worry", 2) == \
        "turn channel=line flow=report_worry replies=2"
    assert filtered("alert %s: %d %s messages queued", 7, 120, "line") == "alert 7: 120 line messages queued"


def test_json_lines_are_redacted_json_with_the_traceback() -> None:
    try:
        raise ValueError(f"row holds {PHONE}")
    except ValueError:
        record = logging.LogRecord("bot.engine", logging.ERROR, __file__, 1, "turn failed for %s", (NEIGHBOUR,),
                                   sys.exc_info())
    assert RedactingFilter().filter(record)
    line = json.loads(JsonLineFormatter().format(record))
    assert (line["level"], line["logger"]) == ("ERROR", "bot.engine")
    assert line["message"] == f"turn failed for {NEIGHBOUR}", "a bare argument is kept; keyed content is not"
    assert "ValueError" in line["exception"] and PHONE not in line["exception"]
    assert line["time"].endswith("+00:00")


def test_with_log_format_json_the_cli_writes_json_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "log_format", "json")
    root = logging.getLogger()
    before = [(handler, handler.formatter, list(handler.filters)) for handler in root.handlers]
    main(verbose=False)
    try:
        assert root.handlers and all(isinstance(h.formatter, JsonLineFormatter) for h in root.handlers)
    finally:
        for handler, formatter, filters in before:
            handler.setFormatter(formatter)
            handler.filters[:] = filters


def test_the_cli_puts_the_filter_on_every_root_handler() -> None:
    root, client_log = logging.getLogger(), logging.getLogger("httpx")
    levels = root.level, client_log.level
    main(verbose=True)
    try:
        assert root.handlers
        assert all(any(isinstance(f, RedactingFilter) for f in handler.filters) for handler in root.handlers)
    finally:
        root.setLevel(levels[0])
        client_log.setLevel(levels[1])
        for handler in root.handlers:
            for log_filter in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
                handler.removeFilter(log_filter)


def test_verbose_cli_logs_a_worry_report_without_the_name_or_phone(sqlite_url: str, tmp_path: Path) -> None:
    get_classifier()  # the subprocess reuses the model trained for this test run
    script = tmp_path / "worry.txt"
    script.write_text(f"隣の{NEIGHBOUR}さん（電話 {PHONE}）を最近見かけない\n南区朝日町\n先週から\nいいえ\n送る\n",
                      encoding="utf-8")
    env = {**os.environ, "TSUNAGU_DATABASE_URL": sqlite_url, "TSUNAGU_DATA_DIR": str(settings.data_dir)}
    result = subprocess.run([sys.executable, "-m", "bot", "-v", "chat", "--script", str(script)],
                            capture_output=True, text=True, env=env, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert NEIGHBOUR in result.stdout, "the report was echoed to the resident"
    assert "INFO bot.engine: turn" in result.stderr, "verbose logging was on"
    assert NEIGHBOUR not in result.stderr and PHONE not in result.stderr


def test_a_number_right_after_japanese_words_is_masked() -> None:
    assert PHONE not in filtered("担当者メモ: 電話は%sです", PHONE)
    assert "０９０－１２３４－５６７８" not in redact("連絡先は０９０－１２３４－５６７８まで")
