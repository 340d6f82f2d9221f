"""Phone hotline end to end: Twilio-signed webhooks into the app (real engine, SQLite) behind a
proxy: Twilio calls the public https URL, the app sees http://testserver."""

from __future__ import annotations

import asyncio
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
import time_machine
from sqlalchemy import select

from bot.app import build_engine, create_app
from bot.db import session_scope
from bot.domain import load_domain
from bot.messages import InboundMessage, TurnResult
from bot.models import Message, MessageDirection
from tests.channels.conftest import PUBLIC_BASE_URL, TWILIO_TOKEN, cases, channel_settings, open_client, stored
from tests.fakes.twilio import twilio_signature

# The sample city's counters open Mon-Fri 9:00-17:30 (Asia/Tokyo).
TUESDAY_MORNING = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
SATURDAY_NIGHT = datetime(2026, 11, 28, 22, 0, tzinfo=ZoneInfo("Asia/Tokyo"))


@pytest.fixture
async def client(engine_db: str) -> AsyncIterator[httpx.AsyncClient]:
    async for client in open_client(channel_settings(engine_db), ["voice"]):
        yield client


class Caller:
    """One phone call: follows the TwiML the app returns, as Twilio would."""

    def __init__(self, client: httpx.AsyncClient, call_sid: str, caller: str = "+819011112222") -> None:
        self.client = client
        self.call_sid = call_sid
        self.caller = caller
        self.action = f"{PUBLIC_BASE_URL}/webhooks/voice"
        self.twiml = ET.Element("Response")

    async def post(self, url: str, params: dict[str, str], headers: dict[str, str] | None = None) -> httpx.Response:
        params = {"CallSid": self.call_sid, "AccountSid": "AC" + "0" * 32, "From": self.caller,
                  "To": "+815012345678", "CallStatus": "in-progress", **params}
        signed = {"X-Twilio-Signature": twilio_signature(url, params, TWILIO_TOKEN), **(headers or {})}
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return await self.client.post(path, data=params, headers=signed)

    async def step(self, params: dict[str, str], headers: dict[str, str] | None = None) -> ET.Element:
        response = await self.post(self.action, params, headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/xml")
        self.twiml = ET.fromstring(response.text)
        gather = self.twiml.find("Gather")
        if gather is not None:
            self.action = gather.attrib["action"]
        return self.twiml

    async def call(self) -> ET.Element:
        return await self.step({})

    async def say(self, speech: str) -> ET.Element:
        return await self.step({"SpeechResult": speech, "Confidence": "0.91"})

    async def press(self, digits: str) -> ET.Element:
        return await self.step({"Digits": digits})

    async def silence(self) -> ET.Element:
        return await self.step({})

    def spoken(self) -> list[str]:
        return [element.text or "" for element in self.twiml.iter("Say")]


def spoken(response: str, **values: object) -> str:
    """A response as domain.yml words it on the phone: what the caller must have heard."""
    return load_domain().text(response, "ja", "voice", **values)


async def test_call_start_greets_and_offers_the_menu_by_voice_or_keys(client: httpx.AsyncClient) -> None:
    caller = Caller(client, "CA" + "1" * 32)
    twiml = await caller.call()
    gather = twiml.find("Gather")
    assert gather is not None and [child.tag for child in twiml] == ["Gather"]
    assert gather.attrib["input"] == "speech dtmf" and gather.attrib["language"] == "ja-JP"
    assert gather.attrib["action"] == f"{PUBLIC_BASE_URL}/webhooks/voice/gather?turn=1"
    assert gather.attrib["actionOnEmptyResult"] == "true"
    assert gather.attrib["numDigits"] == "1", "one key press answers the menu"
    # The phone variation of the menu names its keys itself, so they are not read out twice.
    *_, menu = caller.spoken()
    assert all(f"{digit}" in menu for digit in "1230") and "番、" not in menu
    assert all(say.attrib == {"language": "ja-JP", "voice": "Polly.Mizuki"} for say in twiml.iter("Say"))


async def test_silence_repeats_the_prompt(client: httpx.AsyncClient) -> None:
    caller = Caller(client, "CA" + "2" * 32)
    await caller.call()
    menu = caller.spoken()[-1]
    await caller.silence()
    assert caller.spoken() == [menu]
    assert caller.twiml.find("Gather").attrib["numDigits"] == "1"


async def test_worry_report_by_speech(client: httpx.AsyncClient, engine_db: str) -> None:
    caller = Caller(client, "CA" + "3" * 32)
    await caller.call()
    await caller.say("えーと 隣のおばあさんを 最近 見かけないんです")
    assert spoken("utter_worry_intro") in caller.spoken()
    await caller.say("南区朝日町3丁目")
    assert caller.spoken() == [spoken("utter_ask_since_when")]
    await caller.say("3日前から")
    await caller.say("いいえ")
    assert any("南区見守り相談室" in line for line in caller.spoken())
    await caller.say("はい")
    [case] = cases(engine_db)
    assert caller.spoken() == [spoken("utter_worry_created", case_id=case.id, counter_name="南区見守り相談室", hours=24),
                               spoken("utter_worry_if_danger")]
    assert (case.counter_id, case.town_id, case.channel) == ("mimamori-minami", "minami-1-2", "voice")


async def test_worry_report_by_keypad(client: httpx.AsyncClient, engine_db: str) -> None:
    caller = Caller(client, "CA" + "4" * 32)
    await caller.call()
    await caller.press("2")  # 近所の方が心配
    # The key chose the matter; it is not what was noticed, so that is asked first.
    assert spoken("utter_worry_intro") in caller.spoken() and spoken("utter_ask_noticed") in caller.spoken()
    await caller.say("新聞が たまって います")
    await caller.say("南区朝日町")
    await caller.say("先週から")
    assert any("1" in line and "2" in line for line in caller.spoken()), "the consent prompt names its keys"
    await caller.press("2")  # no call back
    assert any("南区見守り相談室" in line for line in caller.spoken())
    await caller.press("1")  # send
    [case] = cases(engine_db)
    assert spoken("utter_worry_created", case_id=case.id, counter_name="南区見守り相談室", hours=24) in caller.spoken()
    assert case.counter_id == "mimamori-minami" and case.channel == "voice"
    assert "新聞" in str(case.details)


async def test_emergency_words_get_119_first(client: httpx.AsyncClient) -> None:
    caller = Caller(client, "CA" + "5" * 32)
    await caller.call()
    await caller.say("人が倒れて動かない")
    assert caller.spoken()[0] == spoken("utter_emergency_119")


async def test_zero_reaches_a_person_while_the_counter_is_open(client: httpx.AsyncClient, engine_db: str) -> None:
    caller = Caller(client, "CA" + "6" * 32)
    with time_machine.travel(TUESDAY_MORNING, tick=True):
        await caller.call()
        await caller.press("0")
        twiml = await caller.say("南区")
    dial = twiml.find("Dial")
    assert dial is not None and twiml.find("Record") is None
    assert (dial.text or "").startswith("+81") and dial.attrib["timeout"] == "30"


async def test_zero_after_hours_records_a_message_for_a_call_back(client: httpx.AsyncClient, engine_db: str) -> None:
    caller = Caller(client, "CA" + "6" * 32)
    with time_machine.travel(SATURDAY_NIGHT, tick=True):
        await caller.call()
        await caller.press("0")
        twiml = await caller.say("南区")
        assert twiml.find("Dial") is None
        record = twiml.find("Record")
        assert record is not None, "after hours the caller can leave a message"
        assert record.attrib["action"].startswith(f"{PUBLIC_BASE_URL}/webhooks/voice/recording?turn=")
        assert int(record.attrib["timeout"]) >= 5 and int(record.attrib["maxLength"]) >= 60
        assert record.attrib["playBeep"] == "true"
        recording_url = f"https://api.twilio.com/2010-04-01/Accounts/AC{'0' * 32}/Recordings/RE{'1' * 32}"
        caller.action = record.attrib["action"]
        await caller.step({"RecordingUrl": recording_url, "RecordingSid": "RE" + "1" * 32, "RecordingDuration": "12"})
    [case] = cases(engine_db)
    assert case.kind.value == "callback" and case.channel == "voice"
    assert recording_url in str(case.details)


async def test_signature_is_checked_against_the_public_url_not_the_one_the_app_sees(
    client: httpx.AsyncClient, engine_db: str
) -> None:
    caller = Caller(client, "CA" + "7" * 32)
    # Signed for the URL the app itself sees (http://testserver/...): Twilio never signs that.
    params = {"CallSid": caller.call_sid, "From": caller.caller}
    seen_by_app = "http://testserver/webhooks/voice"
    response = await client.post("/webhooks/voice", data=params,
                                 headers={"X-Twilio-Signature": twilio_signature(seen_by_app, params, TWILIO_TOKEN)})
    assert response.status_code == 403
    response = await client.post("/webhooks/voice", data=params)
    assert response.status_code == 403
    assert stored(engine_db) == {"contacts": 0, "messages": 0, "cases": 0}
    # The same request signed for the public URL is accepted.
    assert (await caller.post(f"{PUBLIC_BASE_URL}/webhooks/voice", params)).status_code == 200


async def test_tampered_parameters_are_refused(client: httpx.AsyncClient, engine_db: str) -> None:
    url = f"{PUBLIC_BASE_URL}/webhooks/voice/gather"
    params = {"CallSid": "CA" + "8" * 32, "From": "+819011112222", "Digits": "1"}
    signature = twilio_signature(url, params, TWILIO_TOKEN)
    response = await client.post("/webhooks/voice/gather", data={**params, "Digits": "0"},
                                 headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403
    assert stored(engine_db)["messages"] == 0


async def test_retried_webhook_gets_the_first_answer_again_and_is_processed_once(
    client: httpx.AsyncClient, engine_db: str
) -> None:
    caller = Caller(client, "CA" + "9" * 32)
    await caller.call()
    action = caller.action
    answer = {"SpeechResult": "母の介護のことで相談したい", "Confidence": "0.88"}
    first = await caller.post(action, answer)
    # Twilio timed out waiting and sends the same request again (with or without its idempotency token).
    again = await caller.post(action, answer)
    token = await caller.post(action, answer, {"I-Twilio-Idempotency-Token": "f6b3c1c8-idem-token"})
    assert first.status_code == again.status_code == token.status_code == 200
    assert again.text == first.text == token.text and "<Say" in first.text
    with session_scope(engine_db) as session:
        texts = session.scalars(select(Message.text).where(Message.direction == MessageDirection.inbound,
                                                           Message.kind == "text")).all()
    assert texts == ["母の介護のことで相談したい"]


async def test_retried_emergency_turn_repeats_the_119_guidance(client: httpx.AsyncClient, engine_db: str) -> None:
    caller = Caller(client, "CA" + "a" * 32)
    await caller.call()
    action = caller.action
    first = await caller.post(action, {"SpeechResult": "人が倒れて動かない", "Confidence": "0.9"})
    again = await caller.post(action, {"SpeechResult": "人が倒れて動かない", "Confidence": "0.9"})
    spoken_again = [say.text for say in ET.fromstring(again.text).iter("Say")]
    assert spoken_again and spoken_again[0] == spoken("utter_emergency_119")
    assert again.text == first.text, "the retry is answered exactly as the first request"
    with session_scope(engine_db) as session:
        inbound = session.scalars(select(Message.id).where(Message.direction == MessageDirection.inbound,
                                                           Message.kind == "text")).all()
    assert len(inbound) == 1


async def test_the_same_answer_at_the_next_prompt_is_a_new_turn(client: httpx.AsyncClient, engine_db: str) -> None:
    caller = Caller(client, "CA" + "b" * 32)
    await caller.call()
    first_action = caller.action
    await caller.silence()
    assert caller.action != first_action, "every answer posts to its own turn's URL"
    await caller.silence()
    with session_scope(engine_db) as session:
        silences = session.scalars(select(Message.id).where(Message.kind == "silence")).all()
    assert len(silences) == 2


async def test_gather_hints_hold_the_city_s_wards_and_towns_and_the_choices(client: httpx.AsyncClient) -> None:
    caller = Caller(client, "CA" + "c" * 32)
    twiml = await caller.call()
    hints = [hint.strip() for hint in twiml.find("Gather").attrib["hints"].split(",")]
    assert {"南区", "北区", "朝日町", "青葉台"} <= set(hints)
    assert "職員と話したい" in hints, "the menu's words"
    assert len(hints) == len(set(hints)) <= 500 and all(len(hint) <= 100 for hint in hints)
    # A free-text question waits for the end of a slow answer instead of "auto".
    twiml = await caller.press("2")
    gather = twiml.find("Gather")
    assert gather.attrib["speechTimeout"].isdigit() and int(gather.attrib["timeout"]) > 0


async def test_a_retry_while_the_first_request_is_still_answered_gets_its_answer(engine_db: str) -> None:
    engine = build_engine(engine_db)

    def slow_handle(message: InboundMessage) -> TurnResult:
        if message.text:  # the answer is slow enough for Twilio to retry before it is sent
            time.sleep(0.5)
        return engine.handle(message)

    app = create_app(channel_settings(engine_db), handler=slow_handle, channel_names=["voice"])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            caller = Caller(client, "CA" + "d" * 32)
            await caller.call()
            answer = {"SpeechResult": "人が倒れて動かない", "Confidence": "0.9"}
            first, retry = await asyncio.gather(caller.post(caller.action, answer),
                                                caller.post(caller.action, answer))
    assert retry.text == first.text
    assert [say.text for say in ET.fromstring(retry.text).iter("Say")][0] == spoken("utter_emergency_119")
