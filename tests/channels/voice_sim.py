"""A phone-call simulator: places a call on the voice webhooks and follows the TwiML as Twilio does.

Test infrastructure for the whole-call tests (``tests/channels/test_calls*.py``, in-process
through httpx's ASGI transport) and ``benchmarks/voice_calls.py`` (real HTTP against uvicorn).

A call is a script of caller steps — :class:`Speak` 「えーと…」, :class:`Press` "1",
:class:`Silence`, :class:`HangUp`, and the far ends the caller does not choose
(:class:`DialOutcome` busy / no-answer) — played against the app. Every request is a form
POST signed as Twilio signs it (``X-Twilio-Signature``: base64 HMAC-SHA1 of the public URL
followed by the sorted POST parameters, keyed with the auth token;
twilio.com/docs/usage/security), and each answer is parsed and followed verb by verb
(twilio.com/docs/voice/twiml):

* ``<Say>`` is heard (kept with its language and voice); ``<Pause>`` passes;
* ``<Gather>``: its nested ``<Say>``s are heard, then the next caller step answers it —
  speech as ``SpeechResult`` + ``Confidence``, keys as ``Digits`` (only what its ``input``
  accepts). Silence posts the action with no input when ``actionOnEmptyResult="true"``;
  otherwise Twilio goes on with the verbs after the ``<Gather>`` (and ends the call when there
  are none);
* ``<Record action>``: a spoken step is the message (``RecordingUrl``, ``RecordingDuration``,
  ``RecordingSid``); silence is an empty recording, for which Twilio does not request the
  action and goes on with the next verb;
* ``<Dial>``: the far end answers (``completed``) unless the script says busy / no-answer;
  with an ``action`` Twilio posts ``DialCallStatus`` there, without one it goes on with the
  next verb;
* ``<Redirect>`` fetches its URL; ``<Hangup>``/``<Reject>`` or the end of the document ends
  the call.

A caller who hangs up (or whose script runs out) ends the call; when the app has a call
status callback Twilio then posts ``CallStatus=completed`` to it. A turn answered with an
error or without TwiML is a *lost turn* (Twilio says "an application error has occurred"
and hangs up). When the simulator is given a :class:`TurnRecorder` (the engine handler the
app was built with, wrapped), each turn also carries the response names and effects the
engine chose, so tests assert what was said without depending on a city's wording.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import threading
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from twilio.request_validator import RequestValidator

from bot.app import build_engine, create_app
from bot.messages import InboundMessage, TurnResult
from bot.settings import Settings

__all__ = [
    "HANG_UP",
    "SILENCE",
    "Call",
    "CallSimulator",
    "Choose",
    "DialOutcome",
    "HangUp",
    "Heard",
    "Press",
    "ReadBack",
    "Silence",
    "Speak",
    "Step",
    "Turn",
    "TurnRecorder",
    "WITHHELD",
    "press",
    "say",
    "say_en",
    "say_in",
    "not_landed",
    "phone_line",
    "status_callback_path",
    "twilio_signature",
]

ACCOUNT_SID = "AC" + "0" * 32
LINE_NUMBER = "+815012345678"  # the hotline's number (To)
WITHHELD = "+266696687"  # what Twilio sends as From for a withheld ("anonymous") number
CALLER_NATIONAL = "09011112222"  # the default caller (+819011112222) as the app stores it
# The sample city's counters open Mon-Fri 9:00-17:30 (Asia/Tokyo): a call in and out of hours.
TUESDAY_MORNING = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
SATURDAY_NIGHT = datetime(2026, 11, 28, 22, 0, tzinfo=ZoneInfo("Asia/Tokyo"))


def twilio_signature(url: str, params: dict[str, str], auth_token: str) -> str:
    """``X-Twilio-Signature`` of a form POST of ``params`` to ``url``, computed by the twilio SDK
    (the URL, then each parameter's name and value sorted by name, HMAC-SHA1 with the auth
    token, base64)."""
    return RequestValidator(auth_token).compute_signature(url, params)


# --------------------------------------------------------------------------- the caller's script


@dataclass(frozen=True)
class Speak:
    """The caller speaks; Twilio's recogniser hears ``text`` with ``confidence``.

    ``language``: the language spoken ("en-US"); None: the one the ``<Gather>`` listens for. A
    recogniser set to another language does not get the words (English said to a ja-JP
    ``<Gather>`` comes back as katakana noise): the simulator sends no result.
    ``retried``: Twilio times out and sends the same request again, the first still running
    (the second answer is followed; :attr:`Turn.retry_differed` says whether they differed).
    """

    text: str
    confidence: float = 0.91
    retried: bool = False
    language: str | None = None


@dataclass(frozen=True)
class Press:
    """The caller presses keys (``"1"``, ``"*"``, ``"0"``)."""

    digits: str
    retried: bool = False


@dataclass(frozen=True)
class Silence:
    """The caller says nothing until the ``<Gather>`` times out (or leaves an empty recording)."""


@dataclass(frozen=True)
class HangUp:
    """The caller puts the phone down."""


@dataclass(frozen=True)
class DialOutcome:
    """How the counter's line answers a ``<Dial>``: completed, busy, no-answer or failed."""

    status: str = "completed"
    duration: int = 60


@dataclass(frozen=True)
class ReadBack:
    """An answer given only if the app reads something back: when the prompt names ``needle``
    (「南区の朝日町ですね。よろしければ1…」) and takes one key, ``answer`` answers it;
    otherwise the step is skipped. Scripts stay valid whether or not a read-back is asked."""

    needle: str
    answer: Speak | Press = field(default_factory=lambda: Press("1"))
    # Also a free-text prompt (「ご連絡先の電話番号を教えてください」), not only a one-key one.
    any_prompt: bool = False


@dataclass(frozen=True)
class Choose:
    """Press the key of the spoken choice that names ``needle`` (「2番、南区 朝日町。」, "Press 2
    for …"), when the prompt offers one; otherwise the step is skipped, like :class:`ReadBack`."""

    needle: str


Step = Speak | Press | Silence | HangUp | DialOutcome | ReadBack | Choose
# A spoken choice: 「2番、南区 朝日町。」 or "Press 2 for Minami-ku Asahicho."
_SPOKEN_CHOICE = re.compile(r"\A\s*(?:([0-9])番、|Press ([0-9]) for )(.*)\Z")
SILENCE = Silence()
HANG_UP = HangUp()


def say(text: str, confidence: float = 0.91, *, retried: bool = False) -> Speak:
    return Speak(text, confidence, retried)


def say_en(text: str, confidence: float = 0.91) -> Speak:
    """English speech: recognised only by a ``<Gather language="en-…">``."""
    return Speak(text, confidence, language="en-US")


def say_in(language: str, text: str, confidence: float = 0.91) -> Speak:
    """Speech in ``language`` ("ko-KR", "vi-VN"): recognised only by a ``<Gather>`` listening for it."""
    return Speak(text, confidence, language=language)


def press(digits: str, *, retried: bool = False) -> Press:
    return Press(digits, retried)


# --------------------------------------------------------------------------- what the engine chose


class TurnRecorder:
    """An engine handler that keeps each call's :class:`TurnResult`s (by CallSid) for the simulator.

    Build the app with ``create_app(settings, handler=TurnRecorder(engine.handle))``.
    """

    def __init__(self, handle: Callable[[InboundMessage], TurnResult]) -> None:
        self.handle = handle
        self._results: dict[str, list[TurnResult]] = defaultdict(list)
        self._lock = threading.Lock()  # turns run in the channel's worker thread

    def __call__(self, message: InboundMessage) -> TurnResult:
        result = self.handle(message)
        with self._lock:
            self._results[str(message.metadata.get("call_sid", ""))].append(result)
        return result

    def take(self, call_sid: str) -> list[TurnResult]:
        """The results of ``call_sid``'s turns since the last take."""
        with self._lock:
            return self._results.pop(call_sid, [])


# --------------------------------------------------------------------------- what happened


@dataclass(frozen=True)
class Heard:
    """One ``<Say>`` the caller heard."""

    text: str
    language: str
    voice: str


@dataclass
class Turn:
    """One webhook request and what came back."""

    url: str
    params: dict[str, str]
    status: int = 0
    twiml: ET.Element | None = None
    seconds: float = 0.0
    heard: list[Heard] = field(default_factory=list)
    # From the TurnRecorder (in-process only): the domain.yml responses and effects of the turn.
    responses: list[str | None] = field(default_factory=list)
    effects: list[dict[str, object]] = field(default_factory=list)
    flow: str | None = None
    language: str | None = None
    # A retried request was answered with other TwiML than the first (guidance lost).
    retry_differed: bool = False
    # The transport error that lost the turn (no HTTP answer at all), by its class name.
    error: str | None = None

    @property
    def lost(self) -> bool:
        """No TwiML or an error: Twilio says "an application error has occurred" and hangs up."""
        return self.twiml is None

    def verbs(self) -> list[str]:
        return [child.tag for child in self.twiml] if self.twiml is not None else []

    def gather(self) -> ET.Element | None:
        return self.twiml.find("Gather") if self.twiml is not None else None


@dataclass
class Call:
    """A whole call: every turn, what the caller heard, how it ended."""

    call_sid: str
    caller: str
    turns: list[Turn] = field(default_factory=list)
    # app: <Hangup>/<Reject> or the end of the TwiML; caller: HangUp; script: the script ran out
    # at a prompt (the caller hangs up); lost: a turn got no TwiML.
    ended_by: str = ""
    dialled: list[str] = field(default_factory=list)
    # The status callback Twilio posted after the call (when the app has one).
    status_callback: Turn | None = None

    @property
    def heard(self) -> list[str]:
        return [h.text for turn in self.turns for h in turn.heard]

    @property
    def responses(self) -> list[str | None]:
        """Every response name the engine said in the call, in order."""
        return [name for turn in self.turns for name in turn.responses]

    @property
    def effects(self) -> list[dict[str, object]]:
        return [effect for turn in self.turns for effect in turn.effects]

    def effect_kinds(self) -> list[str]:
        return [str(effect["kind"]) for effect in self.effects]

    @property
    def hung_up(self) -> bool:
        """Whether the app ended the call (``<Hangup>``, ``<Reject>`` or the end of its TwiML)."""
        return self.ended_by == "app"

    def turn_of(self, params_value: str) -> Turn:
        """The turn that answered the caller's ``params_value`` (a speech result or keys)."""
        return next(turn for turn in self.turns
                    if params_value in (turn.params.get("SpeechResult"), turn.params.get("Digits")))

    @property
    def lost_turns(self) -> list[Turn]:
        return [turn for turn in self.turns if turn.lost]

    def transcript(self) -> str:
        """The call as text (for failure messages): each request's input, what was heard, the names."""
        lines = [f"call {self.call_sid} from {self.caller}, ended by {self.ended_by}"]
        for turn in self.turns:
            said = turn.params.get("SpeechResult") or turn.params.get("Digits") \
                or turn.params.get("RecordingUrl") or turn.params.get("DialCallStatus") or "(no input)"
            lines.append(f"> {urlsplit(turn.url).path}?{urlsplit(turn.url).query} {said} [{turn.status}]")
            lines.extend(f"  < {h.text}" for h in turn.heard)
            if turn.responses:
                lines.append(f"  = {turn.responses} {[e['kind'] for e in turn.effects]} flow={turn.flow}")
            lines.append(f"  verbs {turn.verbs()}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- the simulator


class CallSimulator:
    """Places calls on one app, reached through ``client``, as Twilio reaches it at ``public_base_url``.

    Args:
        client: httpx client for the app: an ASGI transport in-process, or a real base URL.
        public_base_url: What Twilio calls (the app's ``public_base_url``): signed URLs use it.
        auth_token: The Twilio auth token the app checks signatures with.
        recorder: The app's engine handler, when it is a :class:`TurnRecorder`.
        status_callback: Path of the app's call status callback, if it has one.
        max_turns: A call answered more often than this is stuck in a loop: it is ended.
        think: Seconds the caller takes before each answer (the prompt being spoken, the
            answer said): for the benchmark's pacing; None in tests, which never wait.
    """

    _sids = itertools.count(1)

    def __init__(self, client: httpx.AsyncClient, public_base_url: str, auth_token: str, *,
                 recorder: TurnRecorder | None = None, status_callback: str | None = None,
                 voice_path: str = "/webhooks/voice", max_turns: int = 60,
                 think: Callable[[], float] | None = None) -> None:
        self.client = client
        self.public_base_url = public_base_url.rstrip("/")
        self.auth_token = auth_token
        self.recorder = recorder
        self.status_callback = status_callback
        self.voice_path = voice_path
        self.max_turns = max_turns
        self.think = think

    @classmethod
    def new_call_sid(cls) -> str:
        return f"CA{next(cls._sids):08x}{time.time_ns() & 0xFFFFFFFFFFFFFFFFFFFFFFFF:024x}"

    async def call(self, script: Iterable[Step], *, caller: str = "+819011112222",
                   call_sid: str | None = None) -> Call:
        """Place one call and play ``script``; returns the whole call."""
        call = Call(call_sid or self.new_call_sid(), caller)
        steps = list(script)
        started = time.monotonic()
        document = await self._request(call, self.public_base_url + self.voice_path, {}, first=True)
        while document is not None and len(call.turns) <= self.max_turns:
            document = await self._follow(call, document, steps)
        if not call.ended_by:
            call.ended_by = "loop"
        if self.status_callback and call.ended_by != "lost":
            await self._post(call, self.public_base_url + self.status_callback,
                             {"CallStatus": "completed", "CallDuration": str(max(1, round(time.monotonic() - started)))})
        return call

    # ----------------------------------------------------------------- following TwiML

    async def _follow(self, call: Call, document: ET.Element, steps: list[Step]) -> ET.Element | None:
        """Play one TwiML document; returns the next document, or None when the call is over."""
        turn = call.turns[-1]
        for verb in document:
            if verb.tag == "Say":
                self._hear(turn, verb)
            elif verb.tag == "Pause":
                continue
            elif verb.tag == "Gather":
                for nested in verb.iter("Say"):
                    self._hear(turn, nested)
                outcome = await self._gather(call, verb, steps)
                if outcome is not _CONTINUE:
                    return outcome
            elif verb.tag == "Record":
                outcome = await self._record(call, verb, steps)
                if outcome is not _CONTINUE:
                    return outcome
            elif verb.tag == "Dial":
                outcome = await self._dial(call, verb, steps)
                if outcome is not _CONTINUE:
                    return outcome
            elif verb.tag == "Redirect":
                return await self._request(call, self._absolute(verb.text or ""), {})
            elif verb.tag in ("Hangup", "Reject"):
                call.ended_by = "app"
                return None
        call.ended_by = "app"  # the end of the document ends the call
        return None

    async def _gather(self, call: Call, gather: ET.Element, steps: list[Step]) -> ET.Element | None | object:
        sentences = ["".join(say_verb.itertext()) for say_verb in gather.iter("Say")]
        step = _next_caller_step(steps, " ".join(sentences), one_key=gather.attrib.get("numDigits") == "1",
                                 choices=sentences)
        if step is None:
            call.ended_by = "script"
            return None
        if isinstance(step, HangUp):
            call.ended_by = "caller"
            return None
        accepts = gather.attrib.get("input", "dtmf").split()
        params: dict[str, str] = {}
        listening = gather.attrib.get("language", "en-US")
        understood = isinstance(step, Speak) and (step.language is None
                                                  or step.language.split("-")[0] == listening.split("-")[0])
        if isinstance(step, Speak) and "speech" in accepts and understood:
            params = {"SpeechResult": step.text, "Confidence": f"{step.confidence:.8f}"}
        elif isinstance(step, Press) and "dtmf" in accepts:
            params = {"Digits": step.digits}
            if gather.attrib.get("finishOnKey", "#") and step.digits.endswith(gather.attrib.get("finishOnKey", "#")):
                params = {"Digits": step.digits[:-1], "FinishedOnKey": step.digits[-1]}
        if not params and gather.attrib.get("actionOnEmptyResult") != "true":
            return _CONTINUE  # Twilio goes on with the verbs after the <Gather>
        action = self._absolute(gather.attrib.get("action", ""))
        await self._think()
        return await self._request(call, action, params, retried=getattr(step, "retried", False))

    async def _record(self, call: Call, record: ET.Element, steps: list[Step]) -> ET.Element | None | object:
        step = _next_caller_step(steps)
        if step is None or isinstance(step, HangUp):
            call.ended_by = "script" if step is None else "caller"
            return None
        if not isinstance(step, Speak):
            return _CONTINUE  # an empty recording: no action request, the next verb
        max_length = int(record.attrib.get("maxLength", "3600"))
        duration = min(max_length, max(1, len(step.text) // 4))
        number = len(call.turns)
        params = {
            "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/RE{number:032d}",
            "RecordingSid": f"RE{number:032d}",
            "RecordingDuration": str(duration),
        }
        await self._think()
        return await self._request(call, self._absolute(record.attrib.get("action", "")), params)

    async def _dial(self, call: Call, dial: ET.Element, steps: list[Step]) -> ET.Element | None | object:
        number = (dial.text or "").strip() or "".join((n.text or "") for n in dial)
        call.dialled.append(number)
        outcome = DialOutcome()
        if steps and isinstance(steps[0], DialOutcome):
            outcome = steps.pop(0)  # type: ignore[assignment]
        action = dial.attrib.get("action")
        if not action:
            return _CONTINUE
        params = {"DialCallStatus": outcome.status, "DialCallSid": "CA" + "d" * 32,
                  "DialCallDuration": str(outcome.duration if outcome.status == "completed" else 0)}
        return await self._request(call, self._absolute(action), params)

    # ----------------------------------------------------------------- requests

    async def _think(self) -> None:
        if self.think is not None:
            await asyncio.sleep(self.think())

    def _absolute(self, url: str) -> str:
        """A TwiML URL as Twilio resolves it (relative ones against the public base URL)."""
        if url.startswith(("http://", "https://")):
            return url
        return self.public_base_url + (url if url.startswith("/") else f"{self.voice_path}/{url}")

    def _hear(self, turn: Turn, say_verb: ET.Element) -> None:
        # The text may sit in SSML inside the <Say> (<prosody rate="slow">…</prosody>).
        turn.heard.append(Heard("".join(say_verb.itertext()).strip(), say_verb.attrib.get("language", "en-US"),
                                say_verb.attrib.get("voice", "")))

    async def _request(self, call: Call, url: str, extra: dict[str, str], *, first: bool = False,
                       retried: bool = False) -> ET.Element | None:
        params = {
            "AccountSid": ACCOUNT_SID, "ApiVersion": "2010-04-01", "CallSid": call.call_sid,
            "CallStatus": "ringing" if first else "in-progress", "Called": LINE_NUMBER, "Caller": call.caller,
            "Direction": "inbound", "From": call.caller, "To": LINE_NUMBER, **extra,
        }
        turn = Turn(url, params)
        call.turns.append(turn)
        if retried:
            # Twilio gave up waiting and sends the very same request again while the first is
            # still being answered: both must get the same TwiML (the second is the one followed).
            response, again = await asyncio.gather(self._timed_post(turn, url, params),
                                                   self._timed_post(turn, url, params))
            turn.retry_differed = again.text != response.text
            response = again
        else:
            response = await self._timed_post(turn, url, params)
        turn.status = response.status_code
        if response.status_code == 200 and response.headers.get("content-type", "").startswith(("application/xml",
                                                                                                 "text/xml")):
            try:
                turn.twiml = ET.fromstring(response.text)
            except ET.ParseError:
                turn.twiml = None
        self._take_results(call, turn)
        if turn.twiml is None or turn.twiml.tag != "Response":
            turn.twiml = None
            call.ended_by = "lost"
            return None
        return turn.twiml

    def _take_results(self, call: Call, turn: Turn) -> None:
        """The engine's responses and effects for the request just answered (a retry's are none)."""
        if self.recorder is None:
            return
        for result in self.recorder.take(call.call_sid):
            if result.duplicate:
                continue
            turn.responses.extend(reply.response for reply in result.replies)
            turn.effects.extend({"kind": effect.kind.value, **effect.data} for effect in result.effects)
            turn.flow, turn.language = result.flow, result.language

    async def _timed_post(self, turn: Turn, url: str, params: dict[str, str]) -> httpx.Response:
        headers = {"X-Twilio-Signature": twilio_signature(url, params, self.auth_token),
                   "Content-Type": "application/x-www-form-urlencoded", "User-Agent": "TwilioProxy/1.1"}
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        sent = time.perf_counter()
        try:
            response = await self.client.post(path, data=params, headers=headers)
        except httpx.HTTPError as error:
            turn.error = type(error).__name__
            response = httpx.Response(599)  # no answer: what Twilio counts as a failed webhook
        turn.seconds += time.perf_counter() - sent
        return response

    async def _post(self, call: Call, url: str, extra: dict[str, str]) -> None:
        params = {"AccountSid": ACCOUNT_SID, "ApiVersion": "2010-04-01", "CallSid": call.call_sid,
                  "Called": LINE_NUMBER, "Caller": call.caller, "Direction": "inbound", "From": call.caller,
                  "To": LINE_NUMBER, **extra}
        turn = Turn(url, params)
        response = await self._timed_post(turn, url, params)
        turn.status = response.status_code
        self._take_results(call, turn)
        call.status_callback = turn


_CONTINUE = object()  # a verb that lets Twilio go on with the next one


def _next_caller_step(steps: list[Step], prompt: str | None = None, *, one_key: bool = False,
                      choices: Sequence[str] = ()) -> Step | None:
    """The caller's next step: a dial outcome nobody dialled is skipped, and so is a read-back
    answer when ``prompt`` does not read its needle back (or is not a one-key prompt), and a
    choice the prompt's spoken ``choices`` do not offer."""
    while steps:
        step = steps.pop(0)
        if isinstance(step, Choose):
            offered = [_SPOKEN_CHOICE.match(sentence) for sentence in choices]
            key = next((m.group(1) or m.group(2) for m in offered if m and step.needle in m.group(3)), None)
            if key is not None:
                return Press(key)
            continue
        if isinstance(step, ReadBack):
            # Spaces aside: a number is read back digit by digit (「0 9 0 5 5 5 5…」).
            if prompt is not None and re.sub(r"\s", "", step.needle) in re.sub(r"\s", "", prompt) \
                    and (one_key or step.any_prompt):
                return step.answer
            continue
        if not isinstance(step, DialOutcome):
            return step
    return None


# --------------------------------------------------------------------------- the app in-process


def status_callback_path(app: FastAPI, voice_path: str = "/webhooks/voice") -> str | None:
    """The app's call status callback route under the voice webhooks, if it has one."""
    paths = [getattr(route, "path", "") for route in app.routes]
    return next((path for path in paths if path.startswith(voice_path) and "status" in path), None)


@asynccontextmanager
async def phone_line(app_settings: Settings) -> AsyncIterator[CallSimulator]:
    """The app (real engine on ``app_settings.database_url``, only the voice channel) in-process,
    with a simulator that places calls on it and names each turn's responses."""
    recorder = TurnRecorder(build_engine(app_settings.database_url).handle)
    app = create_app(app_settings, handler=recorder, channel_names=["voice"])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield CallSimulator(client, app_settings.public_base_url, app_settings.twilio_auth_token,
                                recorder=recorder, status_callback=status_callback_path(app))


def not_landed(item: str) -> pytest.MarkDecorator:
    """A whole call the issue expects but the app does not pass yet (issue 16, ``item``)."""
    return pytest.mark.xfail(strict=True, reason=f"issue 16 item {item}: not landed")
