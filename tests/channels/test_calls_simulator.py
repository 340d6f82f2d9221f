"""The call simulator itself follows TwiML as Twilio documents it: a small app of canned TwiML
documents (checking each request's signature with the twilio SDK) is called, and the requests
the simulator made are compared with what Twilio would have made."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qsl

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from twilio.request_validator import RequestValidator

from tests.channels.voice_sim import (
    HANG_UP,
    SILENCE,
    CallSimulator,
    DialOutcome,
    ReadBack,
    press,
    say,
    say_en,
)

BASE = "https://line.example.jp"
TOKEN = "canned-auth-token"
HEAD = '<?xml version="1.0" encoding="UTF-8"?><Response>'
# Each route's TwiML.
DOCUMENTS = {
    "/voice": HEAD + '<Say language="ja-JP" voice="Polly.Mizuki">ようこそ</Say>'
                     '<Gather input="speech dtmf" action="/voice/menu" language="ja-JP" numDigits="1">'
                     "<Say>1か2を押してください</Say></Gather>"
                     "<Say>入力がありません</Say><Redirect>/voice</Redirect></Response>",
    "/voice/menu": HEAD + '<Gather input="dtmf" action="https://line.example.jp/voice/keys" '
                          'actionOnEmptyResult="true" numDigits="1"><Say>キーでどうぞ</Say></Gather></Response>',
    "/voice/keys": HEAD + '<Say>伝言をどうぞ</Say><Record action="/voice/recorded" maxLength="60" timeout="10"/>'
                          '<Say>録音がありませんでした</Say><Dial>+81600001002</Dial><Say>おわります</Say></Response>',
    "/voice/recorded": HEAD + '<Pause length="1"/><Dial action="/voice/dialled" timeout="30">+81600001002</Dial>'
                              "</Response>",
    "/voice/dialled": HEAD + "<Say>ありがとうございました</Say><Hangup/></Response>",
    "/voice/broken": "not xml",
}


class CannedLine:
    """The canned app: answers each route's document, keeps every verified request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.validator = RequestValidator(TOKEN)
        self.app = FastAPI()
        self.app.add_api_route("/{path:path}", self.answer, methods=["POST"])

    async def answer(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        url = BASE + request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if not self.validator.validate(url, form, request.headers.get("X-Twilio-Signature", "")):
            return Response("bad signature", status_code=403)
        self.requests.append((request.url.path, form))
        if request.url.path == "/voice/broken":
            return Response("oops", status_code=500)
        return Response(DOCUMENTS[request.url.path], media_type="application/xml")

    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]


@pytest.fixture
def canned() -> CannedLine:
    return CannedLine()


@pytest.fixture
async def simulator(canned: CannedLine) -> AsyncIterator[CallSimulator]:
    transport = httpx.ASGITransport(app=canned.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        yield CallSimulator(client, BASE, TOKEN, voice_path="/voice")


async def test_every_request_is_signed_as_twilio_signs_it(simulator: CallSimulator, canned: CannedLine) -> None:
    call = await simulator.call([HANG_UP])
    assert [turn.status for turn in call.turns] == [200]
    assert canned.requests[0][1]["CallStatus"] == "ringing" and canned.requests[0][1]["CallSid"] == call.call_sid
    wrong = CallSimulator(simulator.client, BASE, "another-token", voice_path="/voice")
    assert (await wrong.call([HANG_UP])).lost_turns, "a request signed with another token is refused"


async def test_says_outside_and_inside_a_gather_are_heard_in_order(simulator: CallSimulator) -> None:
    call = await simulator.call([HANG_UP])
    assert call.heard == ["ようこそ", "1か2を押してください"] and call.ended_by == "caller"
    assert call.turns[0].heard[0].language == "ja-JP" and call.turns[0].heard[0].voice == "Polly.Mizuki"


async def test_silence_without_action_on_empty_result_goes_on_with_the_next_verbs(
    simulator: CallSimulator, canned: CannedLine
) -> None:
    call = await simulator.call([SILENCE, HANG_UP])
    # No input: the Say after the Gather, then the Redirect fetches the first document again.
    assert canned.paths() == ["/voice", "/voice"]
    assert call.heard == ["ようこそ", "1か2を押してください", "入力がありません", "ようこそ", "1か2を押してください"]


async def test_speech_dtmf_empty_results_record_and_dial_post_what_twilio_posts(
    simulator: CallSimulator, canned: CannedLine
) -> None:
    call = await simulator.call([say("にばん", confidence=0.5), say("speech is ignored by a dtmf gather"),
                                 say("もしもし 伝言です"), DialOutcome("busy")])
    assert canned.paths() == ["/voice", "/voice/menu", "/voice/keys", "/voice/recorded", "/voice/dialled"]
    speech, empty, recording, dial = (params for _, params in canned.requests[1:])
    assert speech["SpeechResult"] == "にばん" and float(speech["Confidence"]) == 0.5
    assert "Digits" not in empty and "SpeechResult" not in empty, "actionOnEmptyResult posts no input"
    assert recording["RecordingUrl"].startswith("https://api.twilio.com/") and int(recording["RecordingDuration"]) > 0
    assert dial["DialCallStatus"] == "busy" and call.dialled == ["+81600001002"]
    assert call.ended_by == "app" and call.heard[-1] == "ありがとうございました"


async def test_an_empty_recording_skips_the_action_and_a_dial_without_action_goes_on(
    simulator: CallSimulator, canned: CannedLine
) -> None:
    call = await simulator.call([press("1"), press("2"), SILENCE])
    assert canned.paths() == ["/voice", "/voice/menu", "/voice/keys"]
    assert canned.requests[1][1]["Digits"] == "1" and canned.requests[2][1]["Digits"] == "2"
    assert call.heard[-2:] == ["録音がありませんでした", "おわります"] and call.dialled == ["+81600001002"]
    assert call.ended_by == "app", "the end of the document ends the call"


async def test_english_to_a_japanese_recogniser_is_not_understood_and_read_backs_are_optional(
    simulator: CallSimulator, canned: CannedLine
) -> None:
    await simulator.call([ReadBack("not said"), say_en("number two"), HANG_UP])
    # The read-back was not asked, so it was skipped; English to ja-JP: no result, the next verbs.
    assert canned.paths() == ["/voice", "/voice"]


async def test_an_error_is_a_lost_turn(simulator: CallSimulator, canned: CannedLine) -> None:
    broken = CallSimulator(simulator.client, BASE, TOKEN, voice_path="/voice/broken")
    call = await broken.call([HANG_UP])
    assert call.ended_by == "lost" and len(call.lost_turns) == 1 and call.lost_turns[0].status == 500
