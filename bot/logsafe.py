"""A logging filter that keeps personal data and secrets out of every log line.

tsunagu's own log calls name ids and counts, never what a resident wrote. Libraries are
less careful at DEBUG: python-telegram-bot logs every Bot API call with its parameters
(the worry report echoed back, with a neighbour's name and phone number), httpx logs
request URLs (a Telegram URL carries the bot token), an exception message may quote a
row. :class:`RedactingFilter`, put on the handlers by the composition root
(:func:`install_redaction`), rewrites each record before it is written: message content
in its arguments is dropped, and phone numbers, e-mail addresses and bot tokens left in
the formatted line or traceback are masked.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

__all__ = ["REDACTED", "JsonLineFormatter", "RedactingFilter", "install_redaction", "redact"]

REDACTED = "<redacted>"

# Keys whose values are what a person wrote or who they are (Bot API parameters and
# results, LINE events, Twilio form fields, tsunagu's own rows).
_PERSONAL_KEYS = frozenset({
    "text", "caption", "message", "body", "speechresult", "from", "to", "address", "name", "first_name",
    "last_name", "username", "phone", "phone_number", "email", "contact", "reporter_phone", "description",
})
_TOKEN_IN_URL = re.compile(r"bot\d+:[A-Za-z0-9_-]+")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Japanese numbers with or without hyphens (090-1234-5678, 0312345678, ０９０…), and
# international ones (+81 90 1234 5678).
# Bounded by anything but a digit, a Latin letter or a dot: Japanese text runs straight into a
# number (「電話は090-…です」), and \w would count its kana as part of a word.
_PHONE = re.compile(r"(?<![0-9０-９A-Za-z.])(?:\+\d[\d -]{8,16}\d|[0０][0-9０-９]{1,4}[-‐ー－ ]?[0-9０-９]{1,4}[-‐ー－ ]?[0-9０-９]{3,4})(?![0-9０-９A-Za-z.])")
# `text='…'`, `"text": "…"`, `text=…` in a repr or query string.
_KEYED_VALUE = re.compile(
    r"""(?P<key>['"]?\b(?:%s)\b['"]?\s*[:=]\s*)(?P<value>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^\s,&)}\]]+)"""
    % "|".join(sorted(_PERSONAL_KEYS, key=len, reverse=True)),
    re.IGNORECASE,
)


def redact(line: str) -> str:
    """``line`` with keyed message content, bot tokens, e-mail addresses and phone numbers masked."""
    line = _KEYED_VALUE.sub(lambda match: match.group("key") + REDACTED, line)
    line = _TOKEN_IN_URL.sub("bot" + REDACTED, line)
    line = _EMAIL.sub(REDACTED, line)
    return _PHONE.sub(REDACTED, line)


def _without_content(value: Any) -> Any:
    """A log argument with the values of personal keys dropped (dicts, lists, platform objects)."""
    if isinstance(value, Mapping):
        return {key: REDACTED if str(key).lower() in _PERSONAL_KEYS else _without_content(item)
                for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_without_content(item) for item in value]
    to_dict = getattr(value, "to_dict", None)  # Telegram and LINE objects repr their whole content
    if callable(to_dict) and not isinstance(value, type):
        try:
            return _without_content(to_dict())
        except Exception:  # noqa: BLE001 - a log line must never fail; say only what it was
            return f"<{type(value).__name__}>"
    return value


def _database_value(value: Any) -> Any:
    """A SQL logger's argument: the statement (a str) and counts stay; rows and parameters go."""
    return value if isinstance(value, str | int | float | bool | None) else REDACTED


class RedactingFilter(logging.Filter):
    """Rewrites each record into its redacted, already formatted message (never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            args = record.args
            # SQLAlchemy logs result rows at DEBUG: whatever columns a resident filled in.
            clean = _database_value if record.name.startswith("sqlalchemy") else _without_content
            record.args = clean(args) if isinstance(args, Mapping) else tuple(clean(arg) for arg in args)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a mismatched format: keep the template only
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class JsonLineFormatter(logging.Formatter):
    """One JSON object per line (time, level, logger, message, exception) for log collectors.

    It formats what :class:`RedactingFilter` already cleaned: the same masking applies.
    """

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(self.formatException(record.exc_info))
        if record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False)


def _handlers() -> list[logging.Handler]:
    loggers = [logging.getLogger(), *(logger for logger in logging.Logger.manager.loggerDict.values()
                                      if isinstance(logger, logging.Logger))]
    return [handler for logger in loggers for handler in logger.handlers]


def install_redaction(json_lines: bool = False) -> None:
    """Put one :class:`RedactingFilter` on every handler configured so far (root and named loggers)
    and, with ``json_lines`` (``TSUNAGU_LOG_FORMAT=json``), format their lines as JSON."""
    for handler in _handlers():
        if not any(isinstance(existing, RedactingFilter) for existing in handler.filters):
            handler.addFilter(RedactingFilter())
        if json_lines:
            handler.setFormatter(JsonLineFormatter())
