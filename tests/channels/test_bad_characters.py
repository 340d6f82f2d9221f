"""Text a database or JSON cannot hold (a NUL byte, a lone surrogate, C0 controls) sent by a
resident: the web chat and a signed LINE webhook still answer normally and store the event,
on SQLite and on PostgreSQL (issue 15, defect 6)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from bot.db import session_scope
from bot.models import Message, MessageDirection
from tests.channels.conftest import LINE_SECRET, channel_settings, drain, open_client
from tests.fakes.line import FakeLineAPI, LineEvents, sign

# What a resident typed, with a NUL byte, a lone surrogate and a bell character in it.
BAD_TEXT = "母の介護の\x00ことで\ud800相談\x07したい"
CLEAN_TEXT = "母の介護のことで相談したい"


def inbound_texts(database_url: str) -> list[str | None]:
    with session_scope(database_url) as session:
        query = select(Message.text).where(Message.direction == MessageDirection.inbound).order_by(Message.id)
        return list(session.scalars(query))


@pytest.fixture
async def client(db_url: str, line_api: FakeLineAPI) -> AsyncIterator[httpx.AsyncClient]:
    app_settings = channel_settings(db_url, line_api_host=line_api.url)
    async for client in open_client(app_settings, ["webchat", "line"]):
        yield client


async def test_web_chat_message_with_a_nul_and_a_lone_surrogate_is_answered_and_stored(
    client: httpx.AsyncClient, db_url: str
) -> None:
    # httpx cannot encode a lone surrogate itself: send the JSON escapes a browser would.
    body = json.dumps({"id": "m1", "text": BAD_TEXT})
    response = await client.post(
        "/webhooks/webchat/messages", content=body.encode(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 200
    assert response.json()["replies"], "the resident gets a normal reply"
    assert inbound_texts(db_url) == [CLEAN_TEXT]


async def test_signed_line_text_with_a_nul_and_a_lone_surrogate_is_answered_and_stored(
    client: httpx.AsyncClient, line_events: LineEvents, line_api: FakeLineAPI, db_url: str
) -> None:
    event = line_events.text("U5555eeee", BAD_TEXT)
    # LINE escapes what it cannot put in UTF-8; the signature covers exactly these bytes.
    body = json.dumps({"destination": line_events.bot_user_id, "events": [event]})
    headers = {"content-type": "application/json", "x-line-signature": sign(body, LINE_SECRET)}
    response = await client.post("/webhooks/line", content=body.encode(), headers=headers)
    await drain(client, "line")
    assert response.status_code == 200
    assert line_api.messages_to("U5555eeee"), "the resident gets a normal reply"
    assert inbound_texts(db_url) == [CLEAN_TEXT]
