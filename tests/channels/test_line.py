"""LINE end to end: signed webhooks into the app (real engine, SQLite), the real line-bot-sdk
sending to a fake LINE Messaging API on loopback."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.db import session_scope
from bot.domain import load_domain
from bot.models import Contact, Delivery, Message, MessageDirection
from routing.cases import INCOMPLETE
from tests.channels.conftest import LINE_SECRET, cases, channel_settings, drain, open_client, stored
from tests.fakes.line import FakeLineAPI, LineEvents, sign

ASAHICHO = (34.6675, 135.49)  # 南区朝日町 (minami-1-2)


@pytest.fixture
async def client(engine_db: str, line_api: FakeLineAPI) -> AsyncIterator[httpx.AsyncClient]:
    async for client in open_client(channel_settings(engine_db, line_api_host=line_api.url), ["line"]):
        yield client


class LineUser:
    """One LINE user: sends events through the webhook, reads what the fake API delivered."""

    def __init__(self, client: httpx.AsyncClient, events: LineEvents, user_id: str) -> None:
        self.client = client
        self.events = events
        self.user_id = user_id
        self._seen = 0

    async def post(self, *events: dict[str, Any]) -> httpx.Response:
        body, headers = self.events.body(*events)
        response = await self.client.post("/webhooks/line", content=body.encode(), headers=headers)
        await drain(self.client, "line")
        return response

    async def send(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """Post one event; return the messages the bot sent back for it."""
        assert (await self.post(event)).status_code == 200
        delivered = self.events.api.messages_to(self.user_id)
        new, self._seen = delivered[self._seen :], len(delivered)
        return new

    async def says(self, text: str) -> list[dict[str, Any]]:
        return await self.send(self.events.text(self.user_id, text))


def deliveries(database_url: str) -> list[int]:
    with session_scope(database_url) as session:
        return list(session.scalars(select(Delivery.id)))


def texts(messages: list[dict[str, Any]]) -> str:
    return "\n".join(message["text"] for message in messages)


def rendered(response: str, **values: object) -> str:
    """A response as domain.yml words it on LINE: what the resident must have been sent."""
    return load_domain().text(response, "ja", "line", **values)


def quick_reply(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [item["action"] for item in (messages[-1].get("quickReply") or {}).get("items", [])]


async def test_worry_report_with_location_and_buttons_creates_a_case(
    client: httpx.AsyncClient, line_events: LineEvents, line_api: FakeLineAPI, engine_db: str
) -> None:
    user = LineUser(client, line_events, "U1111aaaa")
    intro = await user.says("隣のおばあさんを最近見かけない。新聞がたまっている")
    assert intro[0]["text"] == rendered("utter_worry_intro")
    assert {"type": "location", "label": "位置情報を送る"} in quick_reply(intro), "asks for the place"
    assert line_api.calls("/reply"), "answered with the reply token"

    since = await user.send(line_events.location(user.user_id, *ASAHICHO, address="南区朝日町3丁目"))
    assert texts(since) == rendered("utter_ask_since_when"), "the location message answered the place question"

    consent = await user.says("3日前から")
    buttons = {action["label"]: action for action in quick_reply(consent)}
    no = buttons[rendered("utter_choice_no")]
    assert no["type"] == "postback"
    confirm = await user.send(line_events.postback(user.user_id, no["data"]))
    assert "南区見守り相談室" in texts(confirm)
    # The report is saved from its first answer (a draft), but not delivered before the resident confirms.
    assert [INCOMPLETE in case.details for case in cases(engine_db)] == [True]
    assert not deliveries(engine_db), "nothing is sent before the resident confirms"

    send = {action["data"]: action for action in quick_reply(confirm)}["send"]
    assert send["label"] == rendered("utter_choice_send")
    done = await user.send(line_events.postback(user.user_id, send["data"]))
    [case] = cases(engine_db)
    assert [message["text"] for message in done] == [
        rendered("utter_worry_created", case_id=case.id, counter_name="南区見守り相談室", hours=24),
        rendered("utter_worry_if_danger")]
    assert case.counter_id == "mimamori-minami"
    assert case.town_id == "minami-1-2"
    assert case.channel == "line"
    assert not case.callback_consent


async def test_emergency_phrase_gets_119_guidance_first(client: httpx.AsyncClient, line_events: LineEvents) -> None:
    user = LineUser(client, line_events, "U2222bbbb")
    replies = await user.says("人が倒れて動かない")
    assert replies[0]["text"] == rendered("utter_emergency_119")


@pytest.mark.parametrize("signature", ["forged", None])
async def test_forged_or_missing_signature_is_refused_and_nothing_stored(
    client: httpx.AsyncClient, line_events: LineEvents, line_api: FakeLineAPI, engine_db: str, signature: str | None
) -> None:
    body, headers = line_events.body(line_events.text("U3333cccc", "隣のおばあさんを最近見かけない"))
    if signature is None:
        del headers["x-line-signature"]
    else:
        headers["x-line-signature"] = sign(body, "not-the-channel-secret")
    response = await client.post("/webhooks/line", content=body.encode(), headers=headers)
    await drain(client, "line")
    assert response.status_code == (400 if signature is None else 401)
    assert stored(engine_db) == {"contacts": 0, "messages": 0, "cases": 0}
    assert not line_api.requests


async def test_signature_header_name_is_case_insensitive(client: httpx.AsyncClient, line_events: LineEvents) -> None:
    body, headers = line_events.body(line_events.text("U4444dddd", "こんにちは"))
    response = await client.post("/webhooks/line", content=body.encode(),
                                 headers={"Content-Type": "application/json",
                                          "X-LINE-SIGNATURE": headers["x-line-signature"]})
    assert response.status_code == 200


async def test_verify_request_with_no_events_gets_200(client: httpx.AsyncClient, engine_db: str) -> None:
    body = json.dumps({"destination": "U0bot", "events": []})
    response = await client.post("/webhooks/line", content=body.encode(),
                                 headers={"x-line-signature": sign(body, LINE_SECRET)})
    assert response.status_code == 200
    assert stored(engine_db)["messages"] == 0


async def test_redelivered_event_is_processed_once(
    client: httpx.AsyncClient, line_events: LineEvents, line_api: FakeLineAPI, engine_db: str
) -> None:
    user = LineUser(client, line_events, "U5555eeee")
    event = line_events.text(user.user_id, "母の介護のことで相談したい")
    first = await user.send(event)
    assert first
    again = await user.send(line_events.redelivered(event))
    assert again == [], "no second answer"
    with session_scope(engine_db) as session:
        inbound = session.scalars(select(Message).where(Message.direction == MessageDirection.inbound)).all()
    assert [row.channel_event_id for row in inbound] == [event["webhookEventId"]]


async def test_redelivered_event_seen_first_is_answered_by_push(
    client: httpx.AsyncClient, line_events: LineEvents, line_api: FakeLineAPI
) -> None:
    user = LineUser(client, line_events, "U6666ffff")
    replies = await user.send(line_events.text(user.user_id, "こんにちは", redelivery=True))
    assert replies
    [push] = line_api.calls("/push")
    assert push.headers.get("X-Line-Retry-Key"), "pushes carry a retry key"
    assert not line_api.calls("/reply")


async def test_spent_reply_token_falls_back_to_push(
    client: httpx.AsyncClient, line_events: LineEvents, line_api: FakeLineAPI
) -> None:
    user = LineUser(client, line_events, "U7777gggg")
    event = line_events.text(user.user_id, "こんにちは")
    line_api.unused_tokens.discard(event["replyToken"])  # expired before we answered
    replies = await user.send(event)
    assert replies
    assert line_api.calls("/reply", successful=False)[0].status == 400
    assert len(line_api.calls("/push")) == 1


async def test_standby_mode_events_are_ignored(
    client: httpx.AsyncClient, line_events: LineEvents, line_api: FakeLineAPI, engine_db: str
) -> None:
    user = LineUser(client, line_events, "U8888hhhh")
    assert await user.send(line_events.text(user.user_id, "こんにちは", mode="standby")) == []
    assert stored(engine_db)["messages"] == 0


async def test_unfollow_deactivates_the_contact(
    client: httpx.AsyncClient, line_events: LineEvents, engine_db: str
) -> None:
    user = LineUser(client, line_events, "U9999iiii")
    greeting = await user.send(line_events.follow(user.user_id))
    assert greeting, "a follow is greeted"
    await user.send(line_events.unfollow(user.user_id))
    with session_scope(engine_db) as session:
        contact = session.scalars(select(Contact).where(Contact.channel_user_id == user.user_id)).one()
        assert contact.channel == "line"
        assert not contact.active


async def test_image_is_stored_as_a_reference_only(
    client: httpx.AsyncClient, line_events: LineEvents, engine_db: str
) -> None:
    user = LineUser(client, line_events, "U1010jjjj")
    event = line_events.image(user.user_id)
    await user.send(event)
    with session_scope(engine_db) as session:
        row = session.scalars(select(Message).where(Message.channel_event_id == event["webhookEventId"])).one()
    assert row.payload == {"media_ref": f"line:message:{event['message']['id']}"}


async def test_signed_but_malformed_body_is_a_400(client: httpx.AsyncClient, engine_db: str) -> None:
    body = '{"destination": "U0bot", "events": 3}'
    response = await client.post("/webhooks/line", content=body.encode(),
                                 headers={"x-line-signature": sign(body, LINE_SECRET)})
    assert response.status_code == 400
    assert stored(engine_db)["messages"] == 0
