"""Phone hotline (Twilio Programmable Voice, an IVR): ``POST /webhooks/voice`` and friends.

Routes, relative to ``/webhooks/voice``:

* ``""`` — an incoming call (the number's "A call comes in" webhook): ``call_start``;
* ``/gather`` — what the caller said or keyed in a ``<Gather>``; an empty result is
  ``silence`` and the engine repeats its last prompt;
* ``/recording`` — the ``<Record>`` action after hours: ``recording`` with the URL.

Every request's ``X-Twilio-Signature`` is checked with the twilio ``RequestValidator``
against the URL Twilio called, which is ``settings.public_base_url`` + path + query: behind
a proxy or tunnel the scheme and host the app sees differ from the public ones, so they
are never taken from the request. A bad or missing signature is a 403, nothing stored.

The engine's replies become TwiML (:class:`TwiMLRenderer`): every text in ``<Say>`` with
the configured voice, choices spoken with their key digits, inside
``<Gather input="speech dtmf">`` so the caller can answer by voice or keypad at any time
(choices are not spoken again when the prompt already names their keys, as the phone
variations in ``domain.yml`` do);
a handoff to an open counter becomes ``<Dial>``, after hours ``<Record>``, and the end of
the conversation ``<Hangup>``. Key presses go to the engine as text ("1"), which matches
them against the digits of the choices it offered. Retried webhooks (connection overrides) carry ``I-Twilio-Idempotency-Token``,
which becomes the event id, so the engine processes them once.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Self
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from starlette.datastructures import ImmutableMultiDict
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

from bot.messages import InboundMessage, Reply, TurnResult
from bot.settings import Settings
from channels.base import EngineHandler, InputChannel, choice_digits, spoken_choices

__all__ = ["TwiMLRenderer", "VoiceChannel"]

log = logging.getLogger(__name__)

ENGINE_TIMEOUT = 10.0  # seconds; Twilio gives up on a webhook after 15
GATHER_TIMEOUT = 6  # seconds of silence before the Gather reports an empty result
RECORD_MAX_LENGTH = 120  # seconds
DIAL_TIMEOUT = 30  # seconds of ringing
_LANGUAGE_TAGS = {"ja": "ja-JP", "en": "en-US"}
_CALLER_ID = re.compile(r"^\+?\d{6,15}$")
_WITHHELD = {"+266696687", "+7378742833", "+2562533", "+8656696"}  # Twilio's "anonymous" numbers


def _names_keys(reply: Reply) -> bool:
    """Whether the text already mentions every choice's key as a lone digit (not in a number)."""
    return all(
        re.search(rf"(?<![0-9０-９\-]){re.escape(digit)}(?![0-9０-９\-])", reply.text)
        for digit in choice_digits(reply.choices)
    )


def dial_number(phone: str) -> str:
    """A counter's phone number as E.164 for ``<Dial>`` ("03-1234-5678" → "+81312345678")."""
    digits = re.sub(r"[^\d+]", "", phone)
    if digits.startswith("0") and not digits.startswith("00"):
        return "+81" + digits[1:]
    return digits


class TwiMLRenderer:
    """Turns a :class:`~bot.messages.TurnResult` into a TwiML document."""

    def __init__(self, gather_url: str, record_url: str, voices: Mapping[str, str]) -> None:
        """Args:
        gather_url: Absolute URL of the ``/gather`` route (public base URL).
        record_url: Absolute URL of the ``/recording`` route.
        voices: Twilio voice name per conversation language ("ja", "en").
        """
        self.gather_url = gather_url
        self.record_url = record_url
        self.voices = dict(voices)

    def render(self, result: TurnResult) -> str:
        """The TwiML answer for one turn (no replies: listen again, which repeats on silence)."""
        language = result.language if result.language in _LANGUAGE_TAGS else "ja"
        response = VoiceResponse()
        replies = result.replies
        final = replies[-1] if replies else None
        if final is None or not (final.end or final.record or (final.handoff and final.handoff.open_now)):
            gather = response.gather(**self._gather_attributes(final, language))
            self._say(gather, replies, language)
        else:
            self._say(response, replies, language)
            if final.handoff and final.handoff.open_now:
                response.dial(dial_number(final.handoff.phone), timeout=DIAL_TIMEOUT)
            elif final.record:
                response.record(
                    action=self.record_url, max_length=RECORD_MAX_LENGTH, play_beep=True, finish_on_key="#"
                )
            else:
                response.hangup()
        return str(response)

    def _say(self, verb: VoiceResponse, replies: list[Reply], language: str) -> None:
        for reply in replies:
            # A phone prompt usually names its keys itself ("…方は1。"): then say it as it is.
            keys = [] if _names_keys(reply) else spoken_choices(reply.choices, language)
            for sentence in [reply.text, *keys]:
                if sentence.strip():
                    verb.say(sentence, voice=self.voices[language], language=_LANGUAGE_TAGS[language])

    def _gather_attributes(self, final: Reply | None, language: str) -> dict[str, object]:
        attributes: dict[str, object] = {}
        if final is not None and final.choices and all(len(d) == 1 for d in choice_digits(final.choices)):
            attributes["num_digits"] = 1  # a menu: one key press answers at once
        return {
            "input": "speech dtmf",
            "language": _LANGUAGE_TAGS[language],
            "action": self.gather_url,
            "method": "POST",
            "action_on_empty_result": True,
            "timeout": GATHER_TIMEOUT,
            "speech_timeout": "auto",
            **attributes,
        }


class VoiceChannel(InputChannel):
    """The Twilio voice webhooks: verified, rendered as TwiML."""

    def __init__(self, auth_token: str, public_base_url: str, voices: Mapping[str, str], handler: EngineHandler):
        super().__init__(handler)
        self.validator = RequestValidator(auth_token)
        self.public_base_url = public_base_url.rstrip("/")
        base = self.public_base_url + self.path()
        self.renderer = TwiMLRenderer(base + "/gather", base + "/recording", voices)

    @classmethod
    def name(cls) -> str:
        return "voice"

    @classmethod
    def is_configured(cls, settings: Settings) -> bool:
        return bool(settings.twilio_auth_token)

    @classmethod
    def from_settings(cls, settings: Settings, handler: EngineHandler) -> Self:
        voices = {"ja": settings.twilio_voice, "en": settings.twilio_voice_en}
        return cls(settings.twilio_auth_token, settings.public_base_url, voices, handler)

    def router(self) -> APIRouter:
        router = APIRouter()

        @router.post("", summary="Twilio voice: incoming call")
        async def incoming_call(request: Request) -> Response:
            return await self._respond(request, "call_start")

        @router.post("/gather", summary="Twilio voice: Gather result")
        async def gather(request: Request) -> Response:
            return await self._respond(request, "gather")

        @router.post("/recording", summary="Twilio voice: Record result")
        async def recording(request: Request) -> Response:
            return await self._respond(request, "recording")

        return router

    async def _respond(self, request: Request, step: str) -> Response:
        # Twilio posts application/x-www-form-urlencoded; parsed here without python-multipart.
        form = ImmutableMultiDict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
        url = self.public_base_url + request.url.path
        if request.url.query:
            url += "?" + request.url.query
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature or not self.validator.validate(url, form, signature):
            log.warning("voice: invalid signature for %s", request.url.path)
            return Response("invalid signature", status_code=403)
        params = {key: str(value) for key, value in form.items()}
        message = self._to_inbound(step, params, request)
        try:
            result = await asyncio.wait_for(self.handle(message), ENGINE_TIMEOUT)
        except TimeoutError:
            log.error("voice: engine took longer than %.0f s for call %s", ENGINE_TIMEOUT, params.get("CallSid"))
            result = TurnResult()
        return Response(self.renderer.render(result), media_type="application/xml")

    def _to_inbound(self, step: str, params: dict[str, str], request: Request) -> InboundMessage:
        call_sid = params.get("CallSid", "")
        caller = params.get("From", "")
        user_id = caller if _CALLER_ID.match(caller) and caller not in _WITHHELD else f"call:{call_sid}"
        metadata: dict[str, object] = {"call_sid": call_sid}
        base = InboundMessage(channel=self.name(), user_id=user_id, metadata=metadata)
        if step == "call_start":
            return replace(base, event="call_start", event_id=f"{call_sid}:start")
        if step == "recording":
            recording_id = f"{call_sid}:recording:{params.get('RecordingSid', '')}"
            return replace(base, event="recording", media_ref=params.get("RecordingUrl"), event_id=recording_id)
        retry_token = request.headers.get("I-Twilio-Idempotency-Token")
        base = replace(base, event_id=f"{call_sid}:{retry_token}" if retry_token else None)
        digits = params.get("Digits", "").strip()
        speech = params.get("SpeechResult", "").strip()
        if digits:  # the engine matches a key press against the digits of the choices it offered
            return replace(base, text=digits, metadata={**metadata, "input": "dtmf"})
        if speech:
            return replace(base, text=speech,
                           metadata={**metadata, "input": "speech", "confidence": params.get("Confidence")})
        return replace(base, event="silence")
