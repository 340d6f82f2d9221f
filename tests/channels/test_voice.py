"""Phone hotline end to end: Twilio-signed webhooks into the app (real engine, SQLite) behind a
proxy: Twilio calls the public https URL, the app sees http://testserver."""

from __future__ import annotations

import asyncio
import re
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
from bot.messages import Choice, InboundMessage, Reply, TurnResult
from bot.models import Message, MessageDirection
from bot.settings import Settings
from channels.voice import RECOGNITION_TAGS, TwiMLRenderer, VoiceChannel, english_speakable, voices
from tests.channels.conftest import PUBLIC_BASE_URL, TWILIO_TOKEN, cases, channel_settings, stored
from tests.fakes.twilio import twilio_signature

# The sample city's counters open Mon-Fri 9:00-17:30 (Asia/Tokyo).
TUESDAY_MORNING = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
SATURDAY_NIGHT = datetime(2026, 11, 28, 22, 0, tzinfo=ZoneInfo("Asia/Tokyo"))


class Recorder:
    """The engine's handler, keeping the response names each turn chose (the last turn's first)."""

    def __init__(self, database_url: str) -> None:
        self.engine = build_engine(database_url)
        self.turns: list[TurnResult] = []

    def __call__(self, message: InboundMessage) -> TurnResult:
        result = self.engine.handle(message)
        self.turns.append(result)
        return result

    def said(self) -> list[str | None]:
        """The responses of the last turn, in order."""
        return [reply.response for reply in self.turns[-1].replies] if self.turns else []


@pytest.fixture
def recorder(engine_db: str) -> Recorder:
    return Recorder(engine_db)


@pytest.fixture
async def client(engine_db: str, recorder: Recorder) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(channel_settings(engine_db), handler=recorder, channel_names=["voice"])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
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

    async def say(self, speech: str, confidence: str = "0.91") -> ET.Element:
        return await self.step({"SpeechResult": speech, "Confidence": confidence})

    async def press(self, digits: str) -> ET.Element:
        return await self.step({"Digits": digits})

    async def silence(self) -> ET.Element:
        return await self.step({})

    async def dial_ends(self, status: str) -> ET.Element:
        """The counter's line answered the <Dial> with ``status``: Twilio posts it to the Dial's action."""
        dial = self.twiml.find("Dial")
        assert dial is not None and "action" in dial.attrib, "a Dial that reports how it ended"
        self.action = dial.attrib["action"]
        return await self.step({"DialCallStatus": status})

    async def record(self, duration: int) -> ET.Element:
        """A message after the beep (0 s: nothing said, so Twilio follows the Redirect instead)."""
        record = self.twiml.find("Record")
        assert record is not None
        if duration == 0:
            self.action = self.twiml.find("Redirect").text or ""
            return await self.step({})
        self.action = record.attrib["action"]
        return await self.step({"RecordingUrl": RECORDING_URL, "RecordingSid": "RE" + "1" * 32,
                                "RecordingDuration": str(duration)})

    def spoken(self) -> list[str]:
        return ["".join(element.itertext()) for element in self.twiml.iter("Say")]

    def ends(self) -> bool:
        """Whether the call ends here (a Hangup, nothing to gather)."""
        return self.twiml.find("Hangup") is not None and self.twiml.find("Gather") is None


RECORDING_URL = f"https://api.twilio.com/2010-04-01/Accounts/AC{'0' * 32}/Recordings/RE{'1' * 32}"


def spoken(response: str, **values: object) -> str:
    """A response as domain.yml words it on the phone: what the caller must have heard."""
    return load_domain().text(response, "ja", "voice", **values)


async def test_call_start_greets_and_offers_the_menu_by_voice_or_keys(client: httpx.AsyncClient,
                                                                     recorder: Recorder) -> None:
    caller = Caller(client, "CA" + "1" * 32)
    twiml = await caller.call()
    gather = twiml.find("Gather")
    assert gather is not None and [child.tag for child in twiml] == ["Gather"]
    assert gather.attrib["input"] == "speech dtmf" and gather.attrib["language"] == "ja-JP"
    assert gather.attrib["action"] == f"{PUBLIC_BASE_URL}/webhooks/voice/gather?turn=1"
    assert gather.attrib["actionOnEmptyResult"] == "true"
    assert gather.attrib["numDigits"] == "1", "one key press answers the menu"
    assert recorder.said() == ["utter_greet", "utter_menu"]
    # The menu names its keys itself, so they are not read out twice: 1-5 its matters, 0 a person,
    # 9 the emergency numbers, * again; then "For English and other languages, press 8" in the English voice.
    *_, menu, english = caller.spoken()
    assert all(digit in menu for digit in "123450") and "9" in menu and "米印" in menu and "番、" not in menu
    assert "8" in english and not re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", english)
    voices = [(say.attrib["language"], say.attrib["voice"]) for say in twiml.iter("Say")]
    assert voices == [("ja-JP", "Polly.Mizuki")] * (len(voices) - 1) + [("en-US", "Polly.Joanna")]
    assert "119" in caller.spoken()[0] and "110" in caller.spoken()[0], "the greeting names 119 and 110"


async def test_silence_repeats_the_prompt_twice_then_says_how_to_call_again(client: httpx.AsyncClient,
                                                                           recorder: Recorder) -> None:
    caller = Caller(client, "CA" + "2" * 32)
    await caller.call()
    menu = caller.spoken()[-2:]
    await caller.silence()
    assert caller.spoken() == menu and caller.twiml.find("Gather").attrib["numDigits"] == "1"
    await caller.silence()
    assert caller.spoken() == menu, "repeated at most twice"
    await caller.silence()
    assert recorder.said() == ["utter_silence_goodbye"] and caller.ends()


async def test_an_answer_between_silences_starts_the_count_again(client: httpx.AsyncClient, recorder: Recorder) -> None:
    caller = Caller(client, "CA" + "2" * 31 + "3")
    await caller.call()
    await caller.silence()
    await caller.silence()
    await caller.press("*")
    await caller.silence()
    await caller.silence()
    assert recorder.said() == ["utter_menu"] and not caller.ends()


async def test_worry_report_by_speech_ends_with_anything_else_not_dead_air(
        client: httpx.AsyncClient, engine_db: str, recorder: Recorder) -> None:
    caller = Caller(client, "CA" + "3" * 32)
    await caller.call()
    await caller.say("えーと 隣のおばあさんを 最近 見かけないんです")
    assert "utter_worry_intro" in recorder.said()
    for answer in ("南区朝日町3丁目", "はい", "3日前から", "いいえ", "はい", "はい", "はい"):
        if "utter_phone_anything_else" in recorder.said():
            break  # the report is done
        await caller.say(answer)
    [case] = cases(engine_db)
    assert (case.counter_id, case.town_id, case.channel) == ("mimamori-minami", "minami-1-2", "voice")
    # Told, then asked at once — no six seconds of silence and the whole menu.
    assert recorder.said()[-1] == "utter_phone_anything_else" and not caller.ends()
    assert caller.twiml.find("Gather").attrib["numDigits"] == "1"
    await caller.press("2")
    assert recorder.said() == ["utter_goodbye"] and caller.ends()


async def test_worry_report_by_keypad(client: httpx.AsyncClient, engine_db: str, recorder: Recorder) -> None:
    caller = Caller(client, "CA" + "4" * 32)
    await caller.call()
    await caller.press("2")  # 近所の方が心配
    # The key chose the matter; it is not what was noticed, so that is asked first.
    assert recorder.said()[:1] == ["utter_worry_intro"]
    await caller.say("新聞が たまって います")
    for answer in ("南区朝日町", "1", "先週から", "2", "1", "1", "1"):
        if "utter_phone_anything_else" in recorder.said():
            break  # the report is done
        await (caller.press(answer) if answer.isdigit() else caller.say(answer))
    [case] = cases(engine_db)
    assert case.counter_id == "mimamori-minami" and case.channel == "voice"
    assert "新聞" in str(case.details)
    await caller.press("1")  # something else: the main menu again
    assert recorder.said() == ["utter_menu"]


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
    assert dial.attrib["action"].startswith(f"{PUBLIC_BASE_URL}/webhooks/voice/dial?turn=")


async def test_a_call_with_staff_that_took_place_ends_the_call(client: httpx.AsyncClient, recorder: Recorder) -> None:
    caller = Caller(client, "CA" + "6" * 31 + "1")
    with time_machine.travel(TUESDAY_MORNING, tick=True):
        await caller.call()
        await caller.press("0")
        await caller.say("南区")
        await caller.dial_ends("completed")
    assert caller.ends() and recorder.said() == ["utter_goodbye"]


@pytest.mark.parametrize("status", ["busy", "no-answer", "failed"])
async def test_a_busy_counter_offers_a_call_back_to_the_callers_own_number(
        client: httpx.AsyncClient, engine_db: str, recorder: Recorder, status: str) -> None:
    caller = Caller(client, "CA" + "6" * 31 + "2")
    with time_machine.travel(TUESDAY_MORNING, tick=True):
        await caller.call()
        await caller.press("0")
        await caller.say("南区")
        await caller.dial_ends(status)
        assert recorder.said()[:2] == ["utter_handoff_busy", "utter_ask_message_or_callback"] and not caller.ends()
        await caller.press("2")  # a call back
        assert recorder.said()[0] == "utter_offer_caller_number"
        await caller.say("この電話番号にお願いします")
    [case] = cases(engine_db)
    assert case.kind.value == "callback" and case.details["callback_phone"] == "09011112222"
    assert recorder.said()[-1] == "utter_phone_anything_else"


async def test_a_busy_counter_takes_a_message_and_the_caller_s_number_by_key(
        client: httpx.AsyncClient, engine_db: str, recorder: Recorder) -> None:
    caller = Caller(client, "CA" + "6" * 31 + "3")
    with time_machine.travel(TUESDAY_MORNING, tick=True):
        await caller.call()
        await caller.press("0")
        await caller.say("南区")
        await caller.dial_ends("no-answer")
        await caller.press("1")  # leave a message
        assert caller.twiml.find("Record") is not None
        await caller.record(15)
    [case] = cases(engine_db)
    assert case.details["recording_url"] == RECORDING_URL and case.details["callback_phone"] == "09011112222"


async def test_an_empty_recording_is_asked_again_then_the_case_is_made_anyway(
        client: httpx.AsyncClient, engine_db: str, recorder: Recorder) -> None:
    caller = Caller(client, "CA" + "6" * 31 + "4")
    with time_machine.travel(SATURDAY_NIGHT, tick=True):
        await caller.call()
        await caller.press("0")
        await caller.say("南区")
        await caller.record(0)  # nothing said: Twilio follows the Redirect
        assert recorder.said() == ["utter_recording_empty"] and caller.twiml.find("Record") is not None
        assert not cases(engine_db)
        await caller.record(1)  # a breath, not a message
    [case] = cases(engine_db)
    assert case.kind.value == "callback" and case.details["callback_phone"] == "09011112222"
    assert case.details["recording_url"] is None and not caller.ends()


@pytest.mark.parametrize("withheld", ["+266696687", "anonymous", ""])
async def test_a_withheld_number_is_asked_for_and_never_kept_as_the_call(
        client: httpx.AsyncClient, engine_db: str, recorder: Recorder, withheld: str) -> None:
    caller = Caller(client, "CA" + "6" * 31 + "5", caller=withheld)
    with time_machine.travel(SATURDAY_NIGHT, tick=True):
        await caller.call()
        await caller.press("0")
        await caller.say("南区")
        await caller.record(20)
        # The message is kept at once (a hang-up now loses nothing), then the number is asked.
        assert recorder.said() == ["utter_message_received", "utter_ask_callback_phone"]
        [kept] = cases(engine_db)
        assert kept.details["recording_url"] == RECORDING_URL and "callback_phone" not in kept.details
        await caller.press("0612345678")
    [case] = cases(engine_db)
    assert case.details["callback_phone"] == "0612345678" and "CA" not in str(case.details)
    assert case.callback_consent and recorder.said()[0] == "utter_handoff_will_call"


async def test_star_and_moo_ichido_repeat_and_a_counter_number_is_said_digit_by_digit(
        client: httpx.AsyncClient, recorder: Recorder) -> None:
    caller = Caller(client, "CA" + "e" * 32)
    await caller.call()
    first = caller.spoken()
    await caller.press("*")
    assert caller.spoken() == first, "* at the main menu: the greeting and the menu again, no goodbye"
    await caller.say("母の介護のことで相談したい")
    await caller.say("北区柳町")
    if not any("電話番号" in line for line in caller.spoken()):
        await caller.press("1")  # the place read back: yes
    told = [line for line in caller.spoken() if "電話番号" in line]
    assert told and re.search(r"0 \d、\d \d \d \d、\d \d \d \d", told[0]), "a number is said digit by digit"
    question = caller.spoken()[-2:]
    await caller.say("もう一度 言ってください")
    assert told[0] in caller.spoken() and caller.spoken()[-2:] == question
    await caller.press("*")
    assert told[0] in caller.spoken(), "* says it again too"


async def test_wait_pauses_then_says_the_question_slowly(client: httpx.AsyncClient, recorder: Recorder) -> None:
    caller = Caller(client, "CA" + "f" * 32)
    await caller.call()
    await caller.press("2")
    question = recorder.said()[-1]
    twiml = await caller.say("ちょっと 待って メモします")
    assert recorder.said()[0] == "utter_phone_wait" and recorder.said()[-1] == question
    gather = twiml.find("Gather")
    assert gather.find("Pause") is not None and gather.find("Say/prosody").attrib["rate"] == "slow"


async def test_nine_says_119_and_110_again_and_the_report_goes_on(client: httpx.AsyncClient, engine_db: str,
                                                                 recorder: Recorder) -> None:
    caller = Caller(client, "CA" + "0" * 31 + "9")
    await caller.call()
    await caller.press("3")
    question = recorder.said()[-1]
    await caller.press("9")
    assert recorder.said()[0] == "utter_emergency_numbers" and recorder.said()[-1] == question
    assert any("119" in line and "110" in line for line in caller.spoken())
    await caller.say("父です 85歳 白髪で 背が低いです")
    assert recorder.said()[-1] != question, "the answer after 9 is the report's"


async def test_zero_is_a_person_in_every_menu(client: httpx.AsyncClient, recorder: Recorder) -> None:
    caller = Caller(client, "CA" + "0" * 31 + "8")
    await caller.call()
    await caller.press("7")
    assert recorder.said()[0] == "utter_key_not_on_menu" and "utter_clarify" not in recorder.said()
    assert recorder.said()[-1:] == ["utter_menu"]
    await caller.press("2")
    await caller.press("0")
    assert recorder.turns[-1].flow == "talk_to_human"


@pytest.mark.parametrize("words", ["わかりました", "そうです", "結構です", "ありがとう", "okay", "thank you", "どうも"])
async def test_acknowledgements_at_the_main_menu_never_hang_up(client: httpx.AsyncClient, recorder: Recorder,
                                                               words: str) -> None:
    caller = Caller(client, "CA" + "0" * 31 + "7")
    await caller.call()
    await caller.say(words)
    assert not caller.ends() and recorder.said()[-1] == "utter_phone_anything_else"
    assert "utter_goodbye" not in recorder.said()


@pytest.mark.parametrize("words", ["さようなら", "もう大丈夫です、ありがとう", "切ります"])
async def test_only_an_explicit_goodbye_ends_the_call(client: httpx.AsyncClient, recorder: Recorder,
                                                      words: str) -> None:
    caller = Caller(client, "CA" + "0" * 31 + "6")
    await caller.call()
    await caller.say("ありがとう")
    assert not caller.ends()
    await caller.say(words)
    assert caller.ends() and recorder.said() == ["utter_goodbye"]


async def test_an_unsure_spoken_menu_choice_is_asked_again_once(client: httpx.AsyncClient, recorder: Recorder) -> None:
    caller = Caller(client, "CA" + "0" * 31 + "5")
    await caller.call()
    await caller.say("近所の方が心配", confidence="0.21")
    assert recorder.said()[0] == "utter_not_sure_heard" and recorder.turns[-1].flow is None
    await caller.say("近所の方が心配", confidence="0.25")
    assert recorder.turns[-1].flow == "report_worry", "asked once: the second answer is taken"


async def test_english_by_8_then_2_english_voice_and_recognition_for_the_rest_of_the_call(
        client: httpx.AsyncClient, recorder: Recorder) -> None:
    caller = Caller(client, "CA" + "0" * 31 + "4")
    await caller.call()
    languages = await caller.press("8")
    assert recorder.said() == ["utter_language_menu"] and recorder.turns[-1].language == "ja"
    # Each language of the menu in its own voice: 1 日本語 (ja-JP) … 2 English (en-US) … 8 Español.
    voices = [(say.attrib["language"], say.attrib["voice"]) for say in languages.iter("Say")]
    assert ("en-US", "Polly.Joanna") in voices and ("ko-KR", "Polly.Seoyeon") in voices
    assert len({voice for _, voice in voices}) >= 8
    twiml = await caller.press("2")
    assert recorder.turns[-1].language == "en" and recorder.said() == ["utter_menu"]
    assert twiml.find("Gather").attrib["language"] == "en-US"
    voices = [say.attrib["voice"] for say in twiml.iter("Say")]
    assert set(voices) == {"Polly.Joanna"}, "the way to the language menu is in English too"
    await caller.say("I want to find the right office for my mother's care")
    twiml = await caller.say("Kita-ku Yanagimachi")
    lines = caller.spoken()
    assert twiml.find("Gather").attrib["language"] == "en-US"
    assert not any(re.search(r"[\u4e00-\u9fff]", line) for line in lines), "no kanji for the English voice"


def test_the_recognisers_confidence_reaches_the_engine_as_a_number(engine_db: str) -> None:
    channel = VoiceChannel.from_settings(channel_settings(engine_db), lambda message: TurnResult())
    spoken_words = channel._to_inbound("gather", {"CallSid": "CA1", "From": "+819011112222",
                                                  "SpeechResult": "南区", "Confidence": "0.3125"}, "e1")
    assert spoken_words.speech_confidence == 0.3125
    keyed = channel._to_inbound("gather", {"CallSid": "CA1", "From": "+819011112222", "Digits": "1"}, "e2")
    assert keyed.speech_confidence is None


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
    # A free-text question (who is missing) waits for the end of a slow answer instead of "auto".
    twiml = await caller.press("3")
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


# --------------------------------------------------------------------------- the residents' languages


def _renderer(**voice_settings: str) -> TwiMLRenderer:
    chosen = voices(Settings(_env_file=None, **voice_settings))  # type: ignore[call-arg]
    return TwiMLRenderer("https://example.org/gather", "https://example.org/recording", chosen,
                         readings={"南区": "Minami-ku", "朝日町": "Asahicho"})


def _says(twiml: str) -> list[tuple[str, str, str]]:
    return [("".join(say.itertext()), say.attrib["voice"], say.attrib["language"])
            for say in ET.fromstring(twiml).iter("Say")]


def test_every_language_with_a_voice_has_a_recogniser_tag_and_nepali_has_neither() -> None:
    chosen = voices(Settings(_env_file=None))  # type: ignore[call-arg]
    assert set(chosen) == set(RECOGNITION_TAGS) and "ne" not in chosen
    assert len(set(chosen.values())) == len(chosen), "one voice per language"


def test_a_call_in_a_language_without_a_voice_is_said_in_english() -> None:
    twiml = _renderer().render(TurnResult([Reply("Which town?")], language="ne"))
    assert {(voice, language) for _, voice, language in _says(twiml)} == {("Polly.Joanna", "en-US")}
    assert ET.fromstring(twiml).find("Gather").attrib["language"] == "en-US"


def test_a_voice_is_env_overridable_and_a_google_voice_brings_its_own_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TSUNAGU_TWILIO_VOICE_ES", "Google.es-ES-Standard-B")
    twiml = _renderer().render(TurnResult([Reply("¿En qué barrio vive?")], language="es"))
    assert {(voice, language) for _, voice, language in _says(twiml)} == {("Google.es-ES-Standard-B", "es-ES")}
    assert ET.fromstring(twiml).find("Gather").attrib["language"] == RECOGNITION_TAGS["es"]


def test_korean_numbers_places_and_choices_as_the_korean_voice_can_say_them() -> None:
    reply = Reply("남구 朝日町 상담 창구 (地域包括支援センター): 06-0000-1002. 급하면 119.",
                  choices=(Choice("예", "yes", "1"), Choice("아니요", "no", "2")))
    says = _says(_renderer().render(TurnResult([reply], language="ko")))
    assert {(voice, language) for _, voice, language in says} == {("Polly.Seoyeon", "ko-KR")}
    text = " ".join(said for said, _, _ in says)
    assert "0 6, 0 0 0 0, 1 0 0 2" in text and "1 1 9" in text, text
    assert "Asahicho" in text and not re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", text), "no kanji or kana: " + text
    assert "번" in says[1][0] and "1" in says[1][0], "a choice with its key, in Korean"
    assert not any("番" in said or "Press" in said for said, _, _ in says)


@pytest.mark.parametrize(("text", "spoken"), [
    # The city's name in an address has no romaji in the gazetteer: its kana are romanised.
    ("주소: あおば市 北区 青葉台 1-1-1", "주소: Aoba-shi Kita-ku Aobadai 1-1-1"),
    ("Address: さっぽろ市 北区", "Address: Sapporo-shi Kita-ku"),
    ("しょうなん町 きょうと", "Shounan-cho Kyouto"),
    # A name glossed in Korean or Vietnamese is its gloss, as one glossed in English is.
    ("“北区見守り相談室 (지킴이 상담실)”", "“지킴이 상담실”"),
    ("北区見守り相談室 (phòng tư vấn)", "phòng tư vấn"),
])
def test_a_voice_that_reads_no_japanese_gets_no_kana(text: str, spoken: str) -> None:
    assert english_speakable(text, {"北区": "Kita-ku", "青葉台": "Aobadai"}) == spoken

