"""Telegram end to end: webhook updates into the app (real engine, SQLite), python-telegram-bot
sending to a fake Bot API on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.db import session_scope
from bot.domain import load_domain
from bot.models import Contact, Message, MessageDirection
from tests.channels.conftest import TELEGRAM_SECRET, cases, channel_settings, drain, open_client, stored
from tests.fakes.telegram import FakeTelegramAPI, TelegramUpdates, retry_after_body

ASAHICHO = (34.6675, 135.49)  # 南区朝日町 (minami-1-2)
SECRET_HEADER = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}


@pytest.fixture
async def client(engine_db: str, telegram_api: FakeTelegramAPI) -> AsyncIterator[httpx.AsyncClient]:
    settings = channel_settings(engine_db, telegram_base_url=telegram_api.base_url)
    async for client in open_client(settings, ["telegram"]):
        yield client


class TelegramUser:
    """One private chat: posts updates to the webhook, reads what the fake Bot API received."""

    def __init__(self, client: httpx.AsyncClient, api: FakeTelegramAPI, updates: TelegramUpdates, chat_id: int):
        self.client, self.api, self.updates, self.chat_id = client, api, updates, chat_id
        self._seen = 0

    async def send(self, update: dict[str, Any]) -> list[dict[str, Any]]:
        response = await self.client.post("/webhooks/telegram", json=update, headers=SECRET_HEADER)
        assert response.status_code == 200
        await drain(self.client, "telegram")
        sent = self.api.sent_to(self.chat_id)
        new, self._seen = sent[self._seen :], len(sent)
        return new

    async def says(self, text: str) -> list[dict[str, Any]]:
        return await self.send(self.updates.text(self.chat_id, text))


def texts(messages: list[dict[str, Any]]) -> str:
    return "\n".join(message["text"] for message in messages)


def rendered(response: str, **values: object) -> str:
    """A response as domain.yml words it on Telegram: what the resident must have been sent."""
    return load_domain().text(response, "ja", "telegram", **values)


def inline_buttons(message: dict[str, Any]) -> dict[str, str]:
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return {button["text"]: button["callback_data"] for row in rows for button in row}


async def test_bot_is_checked_with_getme_at_start_up(client: httpx.AsyncClient, telegram_api: FakeTelegramAPI) -> None:
    assert telegram_api.calls("/getMe")


async def test_worry_report_with_location_and_inline_buttons_creates_a_case(
    client: httpx.AsyncClient, telegram_api: FakeTelegramAPI, telegram_updates: TelegramUpdates, engine_db: str
) -> None:
    user = TelegramUser(client, telegram_api, telegram_updates, 81001)
    intro = await user.says("隣のおばあさんを最近見かけない。新聞がたまっている")
    assert intro[0]["text"] == rendered("utter_worry_intro")
    keyboard = intro[-1]["reply_markup"]["keyboard"]
    assert keyboard == [[{"text": "位置情報を送る", "request_location": True}]]

    since = await user.send(telegram_updates.location(user.chat_id, *ASAHICHO))
    assert texts(since) == rendered("utter_ask_since_when"), "the shared location answered the place question"

    consent = await user.says("3日前から")
    no = inline_buttons(consent[-1])[rendered("utter_choice_no")]
    confirm = await user.send(telegram_updates.callback(user.chat_id, no))
    assert telegram_api.calls("/answerCallbackQuery"), "the button press is acknowledged"
    assert "南区見守り相談室" in texts(confirm)

    send = inline_buttons(confirm[-1])[rendered("utter_choice_send")]
    done = await user.send(telegram_updates.callback(user.chat_id, send))
    [case] = cases(engine_db)
    assert [message["text"] for message in done] == [
        rendered("utter_worry_created", case_id=case.id, counter_name="南区見守り相談室", hours=24),
        rendered("utter_worry_if_danger")]
    assert (case.counter_id, case.town_id, case.channel) == ("mimamori-minami", "minami-1-2", "telegram")


async def test_emergency_phrase_gets_119_guidance_first(
    client: httpx.AsyncClient, telegram_api: FakeTelegramAPI, telegram_updates: TelegramUpdates
) -> None:
    user = TelegramUser(client, telegram_api, telegram_updates, 81002)
    replies = await user.says("人が倒れて動かない")
    assert replies[0]["text"] == rendered("utter_emergency_119")


@pytest.mark.parametrize("headers", [{"X-Telegram-Bot-Api-Secret-Token": "wrong"}, {}])
async def test_wrong_or_missing_secret_is_403_and_nothing_stored(
    client: httpx.AsyncClient, telegram_api: FakeTelegramAPI, telegram_updates: TelegramUpdates, engine_db: str,
    headers: dict[str, str],
) -> None:
    response = await client.post("/webhooks/telegram", json=telegram_updates.text(81003, "こんにちは"),
                                 headers=headers)
    await drain(client, "telegram")
    assert response.status_code == 403
    assert stored(engine_db) == {"contacts": 0, "messages": 0, "cases": 0}
    assert not telegram_api.calls("/sendMessage", successful=False)


async def test_repeated_update_is_processed_once(
    client: httpx.AsyncClient, telegram_api: FakeTelegramAPI, telegram_updates: TelegramUpdates, engine_db: str
) -> None:
    user = TelegramUser(client, telegram_api, telegram_updates, 81004)
    update = telegram_updates.text(user.chat_id, "母の介護のことで相談したい")
    assert await user.send(update)
    assert await user.send(update) == []
    with session_scope(engine_db) as session:
        inbound = session.scalars(select(Message).where(Message.direction == MessageDirection.inbound)).all()
    assert [row.channel_event_id for row in inbound] == [str(update["update_id"])]


async def test_start_command_greets(
    client: httpx.AsyncClient, telegram_api: FakeTelegramAPI, telegram_updates: TelegramUpdates
) -> None:
    user = TelegramUser(client, telegram_api, telegram_updates, 81005)
    greeting = await user.says("/start")
    assert greeting and inline_buttons(greeting[-1]), "the menu comes as inline buttons"


async def test_blocking_the_bot_deactivates_the_contact(
    client: httpx.AsyncClient, telegram_api: FakeTelegramAPI, telegram_updates: TelegramUpdates, engine_db: str
) -> None:
    user = TelegramUser(client, telegram_api, telegram_updates, 81006)
    await user.says("こんにちは")
    await user.send(telegram_updates.blocked(user.chat_id))
    with session_scope(engine_db) as session:
        contact = session.scalars(select(Contact).where(Contact.channel_user_id == "81006")).one()
        assert not contact.active


async def test_flood_control_retry_after_is_honoured(
    client: httpx.AsyncClient, telegram_api: FakeTelegramAPI, telegram_updates: TelegramUpdates
) -> None:
    telegram_api.fail_next("/sendMessage", 429, retry_after_body(1))
    user = TelegramUser(client, telegram_api, telegram_updates, 81007)
    replies = await user.says("こんにちは")
    assert replies
    statuses = [call.status for call in telegram_api.calls("/sendMessage", successful=False)]
    assert statuses[:2] == [429, 200]


async def test_malformed_update_with_the_right_secret_is_a_400(client: httpx.AsyncClient, engine_db: str) -> None:
    for body in (b"not json", b"[1, 2]", b'{"message": {}}'):
        response = await client.post("/webhooks/telegram", content=body,
                                     headers={**SECRET_HEADER, "Content-Type": "application/json"})
        assert response.status_code == 400, body
    assert stored(engine_db)["messages"] == 0
