"""No personal data or secret in the logs at DEBUG (issue 15, defect 7): a whole worry report
over Telegram, with a neighbour's name and phone number in it, logged through a handler
carrying the redacting filter the composition root installs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from bot.domain import load_domain
from bot.logsafe import RedactingFilter
from tests.channels.conftest import TELEGRAM_SECRET, TELEGRAM_TOKEN, cases, channel_settings, drain, open_client
from tests.fakes.telegram import FakeTelegramAPI, TelegramUpdates

ASAHICHO = (34.6675, 135.49)  # 南区朝日町 (minami-1-2)
NEIGHBOUR = "山田花子"
PHONE = "090-1234-5678"
# The loggers that talk most at DEBUG: the Bot API client, its HTTP client, the database.
CHATTY = ["", "telegram", "httpx", "httpcore", "sqlalchemy.engine", "channels", "bot"]


class Formatted(logging.Handler):
    """Keeps every record as the line (and traceback) a log file would get."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.loggers: set[str] = set()
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        self.loggers.add(record.name)


@pytest.fixture
def debug_log() -> Iterator[Formatted]:
    handler = Formatted()
    handler.addFilter(RedactingFilter())
    levels = {name: logging.getLogger(name).level for name in CHATTY}
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    yield handler
    logging.getLogger().removeHandler(handler)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture
async def client(
    engine_db: str, telegram_api: FakeTelegramAPI, debug_log: Formatted
) -> AsyncIterator[httpx.AsyncClient]:
    settings = channel_settings(engine_db, telegram_base_url=telegram_api.base_url)
    async for client in open_client(settings, ["telegram"]):
        yield client


async def test_a_worry_report_over_telegram_logs_no_name_phone_or_token(
    client: httpx.AsyncClient, telegram_api: FakeTelegramAPI, telegram_updates: TelegramUpdates, engine_db: str,
    debug_log: Formatted,
) -> None:
    chat_id = 81101

    async def send(update: dict[str, object]) -> list[dict[str, object]]:
        response = await client.post("/webhooks/telegram", json=update,
                                     headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET})
        assert response.status_code == 200
        await drain(client, "telegram")
        return telegram_api.sent_to(chat_id)

    await send(telegram_updates.text(chat_id, f"隣の{NEIGHBOUR}さん（電話 {PHONE}）を最近見かけない。新聞がたまっている"))
    await send(telegram_updates.location(chat_id, *ASAHICHO))
    consent = await send(telegram_updates.text(chat_id, "3日前から"))
    no = load_domain().text("utter_choice_no", "ja", "telegram")
    buttons = {button["text"]: button["callback_data"] for row in consent[-1]["reply_markup"]["inline_keyboard"]
               for button in row}
    confirm = await send(telegram_updates.callback(chat_id, buttons[no]))
    assert any(NEIGHBOUR in str(message["text"]) for message in confirm), "the report was echoed to the resident"
    send_button = {button["callback_data"]: button for row in confirm[-1]["reply_markup"]["inline_keyboard"]
                   for button in row}["send"]
    await send(telegram_updates.callback(chat_id, send_button["callback_data"]))
    assert cases(engine_db), "the report became a case"

    assert {"telegram.ext.ExtBot", "httpx", "sqlalchemy.engine.Engine"} <= debug_log.loggers, "DEBUG logging was on"
    token = TELEGRAM_TOKEN.split(":", 1)[1]
    for personal in (NEIGHBOUR, PHONE, PHONE.replace("-", ""), token):
        leaks = [line for line in debug_log.lines if personal in line]
        assert not leaks, f"{personal!r} logged: {leaks[:3]}"
