"""Phone hotline (Twilio Programmable Voice, an IVR): ``POST /webhooks/voice`` and friends.

Routes, relative to ``/webhooks/voice``:

* ``""`` — an incoming call (the number's "A call comes in" webhook): ``call_start``;
* ``/gather`` — what the caller said or keyed in a ``<Gather>``; an empty result is
  ``silence`` and the engine repeats its last prompt;
* ``/recording`` — the ``<Record>`` action: ``recording`` with the URL and duration. Twilio
  does not request the action after an empty recording but goes on with the next verb, so a
  ``<Redirect>`` to the same route follows every ``<Record>``: a recording without a URL,
  which the flow asks again;
* ``/dial`` — the ``<Dial>`` action: ``dial_ended`` with ``DialCallStatus`` (busy, no-answer,
  failed, canceled: the flow offers a message or a call back; completed: the call ends).

Every request's ``X-Twilio-Signature`` is checked with the twilio ``RequestValidator``
against the URL Twilio called, which is ``settings.public_base_url`` + path + query: behind
a proxy or tunnel the scheme and host the app sees differ from the public ones, so they
are never taken from the request. A bad or missing signature is a 403, nothing stored.

The engine's replies become TwiML (:class:`TwiMLRenderer`): every text in ``<Say>`` with
the voice of its language (a reply or a choice may be in another language than the call's:
the main menu's "For English and other languages, press 8", the language menu's choices, each
said in its own language), phone numbers spelt digit by digit, Japanese names in the
gazetteer's romaji for the voices that cannot read them (all but Japanese and Mandarin), a
reply the caller asked to wait for after a
``<Pause>`` and slowly (SSML ``<prosody rate="slow">``, which Twilio passes to the Polly
voices), a short "press * to hear this again" after a question that does not say it, and
choices spoken with their key digits, inside
``<Gather input="speech dtmf">`` so the caller can answer by voice or keypad at any time
(choices are not spoken again when the prompt already names their keys, as the phone
variations in ``domain.yml`` do);
a handoff to an open counter becomes ``<Dial>``, after hours ``<Record>``, and the end of
the conversation ``<Hangup>``. Key presses go to the engine as text ("1"), which matches
them against the digits of the choices it offered.

Retried webhooks (Twilio retries a request that timed out, with the same URL and the same
parameters) get the TwiML of the first answer again, so guidance such as 119/110 is never
replaced by an empty ``<Gather>``. Every action URL the app hands out carries the turn number
(``/gather?turn=3``), so two different answers never share a URL and parameters; the event id
is the CallSid plus a digest of route, query and parameters, which the engine stores once
(a repeat is a duplicate), and the rendered TwiML is kept on that inbound message row
(:class:`TurnStore`; purged with the row's payload after the retention period).

A call is in one of the residents' languages a voice exists for (``bot.settings``: one per
language; Twilio's text-to-speech table, twilio.com/docs/voice/twiml/say/text-speech): Japanese,
English, Mandarin (simplified and traditional), Korean, Vietnamese, Tagalog/Filipino,
Portuguese and Spanish. Nepali has none (neither Amazon Polly nor Google offers one through
Twilio): a call in a language without a voice is said in English. Each language's
``<Gather language>`` is a tag from the recogniser's list (``RECOGNITION_TAGS``), which is not
always the voice's (Mandarin: ``cmn-Hans-CN`` to recognise, ``cmn-CN`` to speak).

Speech recognition follows Twilio's ``<Gather>`` reference (twilio.com/docs/voice/twiml/gather)
and its warnings 13330 (``hints``: up to 500 comma-separated entries of at most 100
characters) and 13335 (``speechTimeout="auto"`` is refused once a ``speechModel`` is set): the
city's ward and town names and the offered choices are ``hints``; free-text answers get a
number of seconds of ``speechTimeout``, so a pause on 「えーと…」 does not cut the answer; no
``speechModel`` is pinned, because the reference names none for ja-JP and, without one, Twilio
picks the provider for the language and fails over. ``<Record>`` follows
twilio.com/docs/voice/twiml/record: ``timeout`` (seconds of silence that end the message),
``maxLength`` and ``playBeep``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Self
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.datastructures import ImmutableMultiDict
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

from bot.db import session_scope
from bot.messages import Choice, InboundMessage, Reply, TurnResult
from bot.models import Message, MessageDirection, Town
from bot.settings import Settings
from channels.base import EngineHandler, InputChannel, choice_digits, repeat_hint, spoken_choices, spoken_digits

__all__ = ["RECOGNITION_TAGS", "TurnStore", "TwiMLRenderer", "VoiceChannel", "place_hints", "place_readings",
           "say_language", "voices"]

log = logging.getLogger(__name__)

ENGINE_TIMEOUT = 10.0  # seconds; Twilio gives up on a webhook after 15
GATHER_TIMEOUT = 6  # seconds of silence before the Gather reports an empty result
# Seconds of pause that end a free-text answer: "auto" cuts an elderly caller's 「えーと…」 short.
FREE_TEXT_SPEECH_TIMEOUT = 3
RECORD_MAX_LENGTH = 120  # seconds
RECORD_SILENCE_TIMEOUT = 10  # seconds of silence that end a message (Twilio's default 5 cuts a pause)
MAX_HINTS = 500  # Twilio warning 13330: at most 500 entries, each at most 100 characters
RETRY_WAIT = 8.0  # seconds a retry waits for the first request's TwiML; Twilio gives up after 15
RETRY_POLL = 0.1  # seconds between looks
TWIML_KEY = "twiml"  # the key of the rendered answer in the inbound message row's payload
DIAL_TIMEOUT = 30  # seconds of ringing
SLOW_PAUSE = 3  # seconds of quiet before a reply said slowly (the caller asked to wait)
SLOW_RATE = "slow"  # SSML <prosody rate>: Polly's preset, about 80 % of the voice's speed
EMPTY_RECORDING = "empty"  # the query flag of the <Redirect> after a <Record>: no audio came
# What a language without a voice of its own (Nepali) is said in.
FALLBACK_LANGUAGE = "en"
# <Gather language> per conversation language: tags from the recogniser's list
# (twilio.com/docs/voice/twiml/gather#languagetags; warning 13512 for one it does not take).
RECOGNITION_TAGS = {"ja": "ja-JP", "en": "en-US", "zh": "cmn-Hans-CN", "zh-Hant": "cmn-Hant-TW", "ko": "ko-KR",
                    "vi": "vi-VN", "tl": "fil-PH", "pt": "pt-BR", "es": "es-US"}
# <Say language> of each language's default voice; a Google voice's name carries its own locale
# ("Google.vi-VN-Standard-A"), so a city choosing another Google voice gets the matching tag.
_SAY_TAGS = {"ja": "ja-JP", "en": "en-US", "zh": "cmn-CN", "zh-Hant": "cmn-TW", "ko": "ko-KR", "vi": "vi-VN",
             "tl": "fil-PH", "pt": "pt-BR", "es": "es-US"}
_GOOGLE_VOICE = re.compile(r"\AGoogle\.([a-z]{2,3}-[A-Z]{2})-")
# Voices that read kanji: the others get a text's Japanese names in romaji (english_speakable).
_READS_KANJI = ("ja", "zh", "zh-Hant")
# A choice read with its key, and the "press * to hear this again", in the languages beyond
# Japanese and English (channels.base has those two); the word that tells a text says it already.
_KEY_SENTENCES = {
    "zh": "{title}，请按{digit}。", "zh-Hant": "{title}，請按{digit}。", "ko": "{title}, {digit}번.",
    "vi": "{title}, nhấn phím {digit}.", "tl": "{title}, pindutin ang {digit}.", "pt": "{title}, tecle {digit}.",
    "es": "{title}, marque {digit}.",
}
_REPEAT_HINTS = {
    "zh": ("星号", "如需再听一遍，请按星号键。"), "zh-Hant": ("星號", "如需再聽一遍，請按星號鍵。"),
    "ko": ("별표", "다시 들으시려면 별표를 누르세요."), "vi": ("phím sao", "Để nghe lại, nhấn phím sao."),
    "tl": ("star", "Para marinig ulit, pindutin ang star."),
    "pt": ("asterisco", "Para ouvir de novo, tecle asterisco."),
    "es": ("asterisco", "Para escuchar de nuevo, marque asterisco."),
}
# Japan's three-digit service numbers (110 police, 119 fire and ambulance, 118 coast guard,
# 171 disaster message dial, 188 consumer, 189 child abuse): said digit by digit ("1 1 9"), as
# they are dialled, by the voices beyond Japanese and English ("백십구" is not how 119 is called).
_SERVICE_NUMBER = re.compile(r"(?<![\d０-９.,:])(11[089]|171|18[89])(?![\d０-９:])")
# A bracketed aside with kana in a Mandarin text: a name for the eye the Mandarin voice cannot read.
_KANA_ASIDE = re.compile(r"\s*[(（][^)）]*[\u3040-\u30ff][^)）]*[)）]")
_CALLER_ID = re.compile(r"^\+?\d{6,15}$")
_WITHHELD = {"+266696687", "+7378742833", "+2562533", "+8656696"}  # Twilio's "anonymous" numbers


def _names_keys(choices: Sequence[Choice], texts: Sequence[str]) -> bool:
    """Whether ``texts`` (the reply's and those said after it) already mention every choice's
    key as a lone digit (not in a number)."""
    return all(
        any(re.search(rf"(?<![0-9０-９\-]){re.escape(digit)}(?![0-9０-９\-])", text) for text in texts)
        for digit in choice_digits(choices)
    )


def _turn_number(query: str) -> int:
    """The turn number in an action URL's query (``turn=3``); 0 for the call's first request."""
    value = dict(parse_qsl(query)).get("turn", "")
    return int(value) if value.isdigit() else 0


def dial_number(phone: str) -> str:
    """A counter's phone number as E.164 for ``<Dial>`` ("03-1234-5678" → "+81312345678")."""
    digits = re.sub(r"[^\d+]", "", phone)
    if digits.startswith("0") and not digits.startswith("00"):
        return "+81" + digits[1:]
    return digits


def voices(settings: Settings) -> dict[str, str]:
    """The Twilio voice of each conversation language that has one (``bot.settings``)."""
    return {"ja": settings.twilio_voice, "en": settings.twilio_voice_en, "zh": settings.twilio_voice_zh,
            "zh-Hant": settings.twilio_voice_zh_hant, "ko": settings.twilio_voice_ko, "vi": settings.twilio_voice_vi,
            "tl": settings.twilio_voice_tl, "pt": settings.twilio_voice_pt, "es": settings.twilio_voice_es}


def say_language(voice: str, language: str) -> str:
    """The ``<Say language>`` for ``voice`` speaking ``language``: a Google voice's own locale
    ("Google.cmn-TW-Standard-A" → "cmn-TW"), else the locale of the language's default voice."""
    google = _GOOGLE_VOICE.match(voice)
    return google.group(1) if google else _SAY_TAGS.get(language, _SAY_TAGS[FALLBACK_LANGUAGE])


def _spoken_choices(choices: Sequence[Choice], language: str) -> list[str]:
    """Each choice as a short sentence naming its key, in ``language``."""
    if language not in _KEY_SENTENCES:
        return spoken_choices(choices, language)
    template = _KEY_SENTENCES[language]
    return [template.format(title=choice.title, digit=digit) for digit, choice in zip(choice_digits(choices), choices)]


def _repeat_hint(texts: Sequence[str], language: str) -> str | None:
    """The phone's "press * to hear this again" in ``language``, unless one of ``texts`` says it already."""
    if language not in _REPEAT_HINTS:
        return repeat_hint(texts, language)
    word, hint = _REPEAT_HINTS[language]
    return None if any(word in text.lower() for text in texts) else hint


def place_readings(towns: Sequence[tuple[str, str, str, str]]) -> dict[str, str]:
    """Each ward's and town's name as written ("南区", "朝日町") → its romaji ("Minami-ku",
    "Asahicho"), for an English voice, which cannot read kanji."""
    readings: dict[str, str] = {}
    for ward, town, ward_romaji, town_romaji in towns:
        for name, romaji in ((ward, ward_romaji), (town, town_romaji)):
            if name and romaji:
                readings.setdefault(name, romaji)
    return readings


# A Japanese name with its English gloss in brackets (flows.steps.counter_name): the gloss is what to say.
_GLOSSED = re.compile(
    r"[\u3040-\u30ff\u4e00-\u9fff々ー・]+\s*[(（]([^)）]*[A-Za-z\u00c0-\u024f\u1e00-\u1eff\uac00-\ud7a3\u0900-\u097f][^)）]*)[)）]")


# A Japanese word in brackets after its English ("the area's watch team (見守り相談室)"): for the eye only.
_JAPANESE_ASIDE = re.compile(r"\s*[(（][\u3040-\u30ff\u4e00-\u9fff々ー・\s]+[)）]")


def english_speakable(text: str, readings: Mapping[str, str]) -> str:
    """``text`` as a voice that reads no Japanese can say it (English, Korean, Vietnamese …):
    a glossed Japanese name is its gloss, a Japanese aside in brackets is left out, the
    city's ward and town names are their romaji (longest first: 南区 before 南), and any
    other kana (the city's name in an address, 「あおば市」) in Hepburn romaji."""
    text = _JAPANESE_ASIDE.sub("", _GLOSSED.sub(lambda match: match.group(1), text))
    for name in sorted(readings, key=len, reverse=True):
        if name in text:
            text = text.replace(name, f" {readings[name]} ")
    text = _KANA_NAME.sub(lambda match: " " + _romaji_name(match.group(1), match.group(2)) + " ", text)
    return re.sub(r" {2,}", " ", text).replace(" ,", ",").replace(" .", ".").strip()


# Kana (a name the gazetteer has no romaji for) and the administrative suffix after it.
_KANA_NAME = re.compile(r"([\u3041-\u30fcー]+)(市|区|町|村)?")
_SUFFIXES = {"市": "-shi", "区": "-ku", "町": "-cho", "村": "-mura"}
_SMALL_Y = {"ゃ": "ya", "ゅ": "yu", "ょ": "yo"}
_KANA_ROWS = {
    "あいうえお": ("a", "i", "u", "e", "o"), "かきくけこ": ("ka", "ki", "ku", "ke", "ko"),
    "がぎぐげご": ("ga", "gi", "gu", "ge", "go"), "さしすせそ": ("sa", "shi", "su", "se", "so"),
    "ざじずぜぞ": ("za", "ji", "zu", "ze", "zo"), "たちつてと": ("ta", "chi", "tsu", "te", "to"),
    "だぢづでど": ("da", "ji", "zu", "de", "do"), "なにぬねの": ("na", "ni", "nu", "ne", "no"),
    "はひふへほ": ("ha", "hi", "fu", "he", "ho"), "ばびぶべぼ": ("ba", "bi", "bu", "be", "bo"),
    "ぱぴぷぺぽ": ("pa", "pi", "pu", "pe", "po"), "まみむめも": ("ma", "mi", "mu", "me", "mo"),
    "やゆよ": ("ya", "yu", "yo"), "らりるれろ": ("ra", "ri", "ru", "re", "ro"), "わをん": ("wa", "o", "n"),
    "ぁぃぅぇぉ": ("a", "i", "u", "e", "o"),
}
_KANA = {kana: romaji for row, sounds in _KANA_ROWS.items() for kana, romaji in zip(row, sounds, strict=True)}


def _romaji_name(kana: str, suffix: str | None) -> str:
    """A kana name in Hepburn romaji, capitalised, with its suffix (「あおば」「市」 → "Aoba-shi")."""
    sounds: list[str] = []
    hiragana = "".join(chr(ord(c) - 0x60) if "ァ" <= c <= "ヶ" else c for c in kana)
    double = False
    for char in hiragana:
        if char == "っ":
            double = True
            continue
        if char in _SMALL_Y and sounds and sounds[-1].endswith("i"):
            # き + ゃ → kya, し + ゃ → sha, ち + ゃ → cha
            stem = sounds.pop()[:-1]
            sound = stem + (_SMALL_Y[char][1:] if stem.endswith(("sh", "ch", "j")) else _SMALL_Y[char])
        elif char == "ー":
            continue  # a long vowel is said long whether or not it is written
        else:
            sound = _KANA.get(char, "")
        if double and sound:
            sound = ("t" if sound.startswith("ch") else sound[0]) + sound
        double = False
        sounds.append(sound)
    return "".join(sounds).capitalize() + _SUFFIXES.get(suffix or "", "")


def place_hints(towns: Sequence[tuple[str, str, str, str]]) -> dict[str, list[str]]:
    """Speech hints per language from the gazetteer's ``(ward, town, ward_romaji, town_romaji)``
    rows: wards and towns as written ("南区", "朝日町"), in the city's order, each once."""
    hints: dict[str, list[str]] = {"ja": [], "en": []}
    for ward, town, ward_romaji, town_romaji in towns:
        for language, names in (("ja", (ward, town)), ("en", (ward_romaji, town_romaji))):
            hints[language].extend(name for name in names if name and name not in hints[language])
    return hints


class TwiMLRenderer:
    """Turns a :class:`~bot.messages.TurnResult` into a TwiML document."""

    def __init__(self, gather_url: str, record_url: str, voices: Mapping[str, str],
                 hints: Mapping[str, Sequence[str]] | None = None, *, dial_url: str | None = None,
                 readings: Mapping[str, str] | None = None) -> None:
        """Args:
        gather_url: Absolute URL of the ``/gather`` route (public base URL).
        record_url: Absolute URL of the ``/recording`` route.
        voices: Twilio voice name per conversation language (:func:`voices`); a language
            without one is said in English.
        hints: Place names callers say, per language (:func:`place_hints`).
        dial_url: Absolute URL of the ``/dial`` route (a busy counter's line); None: no action.
        readings: The city's place names in romaji (:func:`place_readings`), for the voices
            that cannot read kanji.
        """
        self.gather_url = gather_url
        self.record_url = record_url
        self.dial_url = dial_url
        self.voices = dict(voices)
        self.hints = {language: list(names) for language, names in (hints or {}).items()}
        self.readings = dict(readings or {})

    def render(self, result: TurnResult, turn: int | None = None) -> str:
        """The TwiML answer for one turn (no replies: listen again, which repeats on silence).

        Args:
            result: What the engine said.
            turn: The number of the next turn, put in the action URLs so that each answer
                posts to its own URL (a repeated URL and parameters is a retry); None: none.
        """
        language = self._voiced(result.language)
        query = f"?{urlencode({'turn': turn})}" if turn is not None else ""
        response = VoiceResponse()
        replies = result.replies
        final = replies[-1] if replies else None
        # The question asked: the last reply in the call's language.
        question = next((reply for reply in reversed(replies) if reply.language is None), final)
        if final is None or not (final.end or final.record or (final.handoff and final.handoff.open_now)):
            gather = response.gather(**self._gather_attributes(question, language, self.gather_url + query))
            self._say(gather, replies, language)
            hint = _repeat_hint([reply.text for reply in replies], language) if replies else None
            if hint is not None:
                self._say_sentence(gather, hint, language, slow=final is not None and final.slow)
        else:
            self._say(response, replies, language)
            if final.handoff and final.handoff.open_now:
                dial = {"action": self.dial_url + query, "method": "POST"} if self.dial_url else {}
                response.dial(dial_number(final.handoff.phone), timeout=DIAL_TIMEOUT, **dial)
            elif final.record:
                response.record(action=self.record_url + query, timeout=RECORD_SILENCE_TIMEOUT,
                                max_length=RECORD_MAX_LENGTH, play_beep=True, finish_on_key="#")
                # Only reached when the recording was empty (Twilio then skips the action).
                empty = urlencode({**({"turn": turn} if turn is not None else {}), EMPTY_RECORDING: 1})
                response.redirect(f"{self.record_url}?{empty}", method="POST")
            else:
                response.hangup()
        return str(response)

    def _voiced(self, language: str | None) -> str:
        """``language`` when it has a voice; Japanese when none is given; else English (Nepali)."""
        if language is None:
            return "ja"
        return language if language in self.voices else FALLBACK_LANGUAGE

    def _say(self, verb: VoiceResponse, replies: list[Reply], language: str) -> None:
        paused = False
        for index, reply in enumerate(replies):
            spoken_in = self._voiced(reply.language) if reply.language else language
            # A choice in a language of its own says itself, in that language's voice: the main
            # menu's "For English and other languages, press 8", the language menu's 「1番、日本語」
            # "Press 2 for English" 「한국어, 4번」.
            own = [choice for choice in reply.choices if choice.language is None]
            itself = [choice for choice in reply.choices if choice.language is not None]
            # A phone prompt usually names its keys itself ("…方は1。"): then say it as it is.
            later = [reply.text, *(after.text for after in replies[index + 1:])]
            keys = [] if _names_keys(own, later) else _spoken_choices(own, spoken_in)
            if reply.slow and not paused:
                verb.pause(length=SLOW_PAUSE)  # the caller asked for a moment (「メモします」)
                paused = True
            for sentence in [reply.text, *keys]:
                if sentence.strip():
                    self._say_sentence(verb, sentence, spoken_in, slow=reply.slow)
            for choice in itself:
                choice_language = self._voiced(choice.language)
                sentence = choice.title if _names_keys([choice], [choice.title]) else \
                    _spoken_choices([choice], choice_language)[0]
                self._say_sentence(verb, sentence, choice_language, slow=reply.slow)

    def _speakable(self, sentence: str, language: str) -> str:
        """``sentence`` as the voice of ``language`` can say it: Japanese names it cannot read
        in romaji (or left out), phone numbers digit by digit, service numbers too."""
        if language not in _READS_KANJI:
            sentence = english_speakable(sentence, self.readings)
        elif language != "ja":
            sentence = _KANA_ASIDE.sub("", sentence)
        if language not in ("ja", "en"):
            sentence = _SERVICE_NUMBER.sub(lambda number: " ".join(number.group(1)), sentence)
        return spoken_digits(sentence, language)

    def _say_sentence(self, verb: VoiceResponse, sentence: str, language: str, *, slow: bool = False) -> None:
        text = self._speakable(sentence, language)
        attributes = {"voice": self.voices[language], "language": say_language(self.voices[language], language)}
        if slow:
            verb.say(**attributes).prosody(text, rate=SLOW_RATE)
        else:
            verb.say(text, **attributes)

    def _gather_attributes(self, final: Reply | None, language: str, action: str) -> dict[str, object]:
        attributes: dict[str, object] = {}
        menu = final is not None and final.choices and all(len(d) == 1 for d in choice_digits(final.choices))
        if menu:
            attributes["num_digits"] = 1  # a menu: one key press answers at once
        # The choices on offer first (a short answer), then the city's places.
        offered = [choice.title for choice in final.choices if choice.language in (None, language)] if final else []
        # The places as a voice of the language says them: in kanji for Mandarin, else in romaji.
        places = self.hints.get(language) or self.hints.get("ja" if language in _READS_KANJI else "en", [])
        hints = list(dict.fromkeys(h for h in [*offered, *places] if 0 < len(h) <= 100))
        if hints:
            # Commas separate the entries, so none may hold one.
            attributes["hints"] = ", ".join(hint.replace(",", " ") for hint in hints[:MAX_HINTS])
        return {
            "input": "speech dtmf",
            "language": RECOGNITION_TAGS.get(language, RECOGNITION_TAGS[FALLBACK_LANGUAGE]),
            "action": action,
            "method": "POST",
            "action_on_empty_result": True,
            "timeout": GATHER_TIMEOUT,
            # A menu answer is a word or two: end it as soon as the recogniser hears its end.
            "speech_timeout": "auto" if menu else FREE_TEXT_SPEECH_TIMEOUT,
            **attributes,
        }


class TurnStore:
    """The TwiML answered to each voice event, kept on its inbound message row, for retries."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    def _row(self, session: Session, event_id: str) -> Message | None:
        return session.scalars(select(Message).where(
            Message.channel == VoiceChannel.name(), Message.channel_event_id == event_id,
            Message.direction == MessageDirection.inbound)).first()

    def save(self, event_id: str, twiml: str) -> None:
        """Keep ``twiml`` as the answer to ``event_id`` (an event the engine stored)."""
        with session_scope(self.database_url) as session:
            row = self._row(session, event_id)
            if row is not None:
                row.payload = {**(row.payload or {}), TWIML_KEY: twiml}  # a new dict: JSON changes are not tracked

    def load(self, event_id: str) -> str | None:
        """The answer kept for ``event_id``, if any."""
        with session_scope(self.database_url) as session:
            row = self._row(session, event_id)
            return (row.payload or {}).get(TWIML_KEY) if row is not None else None

    def towns(self) -> list[tuple[str, str, str, str]]:
        """The gazetteer's ``(ward, town, ward_romaji, town_romaji)`` in the city's order."""
        with session_scope(self.database_url) as session:
            rows = session.execute(select(Town.ward, Town.town, Town.ward_romaji, Town.town_romaji)
                                   .order_by(Town.position, Town.town_id))
            return [(row.ward, row.town, row.ward_romaji, row.town_romaji) for row in rows]


class VoiceChannel(InputChannel):
    """The Twilio voice webhooks: verified, rendered as TwiML."""

    def __init__(self, auth_token: str, public_base_url: str, voices: Mapping[str, str], handler: EngineHandler,
                 store: TurnStore):
        super().__init__(handler)
        self.validator = RequestValidator(auth_token)
        self.public_base_url = public_base_url.rstrip("/")
        self.voices = dict(voices)
        self.store = store
        self.renderer = self._renderer({})
        # First requests still running after a retry was answered: kept so they finish and save.
        self._turns: set[asyncio.Task[str]] = set()

    def _renderer(self, hints: Mapping[str, Sequence[str]], readings: Mapping[str, str] | None = None) -> TwiMLRenderer:
        base = self.public_base_url + self.path()
        return TwiMLRenderer(base + "/gather", base + "/recording", self.voices, hints, dial_url=base + "/dial",
                             readings=readings)

    @classmethod
    def name(cls) -> str:
        return "voice"

    @classmethod
    def is_configured(cls, settings: Settings) -> bool:
        return bool(settings.twilio_auth_token)

    @classmethod
    def from_settings(cls, settings: Settings, handler: EngineHandler) -> Self:
        return cls(settings.twilio_auth_token, settings.public_base_url, voices(settings), handler,
                   TurnStore(settings.database_url))

    async def startup(self) -> None:
        """Load the city's ward and town names: speech hints, and romaji for the English voice."""
        try:
            towns = await asyncio.to_thread(self.store.towns)
        except SQLAlchemyError:
            # A database not yet migrated or seeded: the line still works, only without hints.
            log.warning("voice: no towns for speech hints")
            return
        self.renderer = self._renderer(place_hints(towns), place_readings(towns))

    async def shutdown(self) -> None:
        """Let first requests that outlived their answer save their TwiML."""
        if self._turns:
            await asyncio.wait(list(self._turns))
        await super().shutdown()

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

        @router.post("/dial", summary="Twilio voice: Dial result")
        async def dial(request: Request) -> Response:
            return await self._respond(request, "dial")

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
        # The same route, query and parameters can only be a retry: every answer posts to a new turn's URL.
        request_key = hashlib.sha256(repr((step, request.url.query, sorted(params.items()))).encode()).hexdigest()
        message = self._to_inbound(step, params, f"{params.get('CallSid', '')}:{step}:{request_key[:32]}")
        turn = _turn_number(request.url.query) + 1
        task = asyncio.ensure_future(self._turn(message, turn))
        self._turns.add(task)
        task.add_done_callback(self._turns.discard)
        try:
            # Shielded: a turn slower than Twilio's patience still finishes and keeps its TwiML for the retry.
            twiml = await asyncio.wait_for(asyncio.shield(task), ENGINE_TIMEOUT)
        except TimeoutError:
            log.error("voice: engine took longer than %.0f s for call %s", ENGINE_TIMEOUT, params.get("CallSid"))
            twiml = self.renderer.render(TurnResult(), turn)
        return Response(twiml, media_type="application/xml")

    async def _turn(self, message: InboundMessage, turn: int) -> str:
        """The engine's answer as TwiML, kept for retries; a retry gets the first answer's TwiML."""
        event_id = message.event_id or ""
        result = await self.handle(message)
        if not result.duplicate:
            twiml = self.renderer.render(result, turn)
            await asyncio.to_thread(self.store.save, event_id, twiml)
            return twiml
        # The first request is still being answered (here or in another worker): wait for its TwiML.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RETRY_WAIT
        while loop.time() < deadline:
            kept = await asyncio.to_thread(self.store.load, event_id)
            if kept is not None:
                return kept
            await asyncio.sleep(RETRY_POLL)
        log.warning("voice: no answer kept for a retried event of call %s", message.metadata.get("call_sid"))
        return self.renderer.render(result, turn)

    def _to_inbound(self, step: str, params: dict[str, str], event_id: str) -> InboundMessage:
        call_sid = params.get("CallSid", "")
        caller = params.get("From", "")
        user_id = caller if _CALLER_ID.match(caller) and caller not in _WITHHELD else f"call:{call_sid}"
        metadata: dict[str, object] = {"call_sid": call_sid}
        base = InboundMessage(channel=self.name(), user_id=user_id, metadata=metadata, event_id=event_id)
        if step == "call_start":
            return replace(base, event="call_start")
        if step == "recording":
            duration = params.get("RecordingDuration", "")
            return replace(base, event="recording", media_ref=params.get("RecordingUrl") or None,
                           metadata={**metadata, "recording_duration": int(duration) if duration.isdigit() else 0})
        if step == "dial":
            return replace(base, event="dial_ended", metadata={**metadata, "dial_status": params.get("DialCallStatus")})
        digits = params.get("Digits", "").strip()
        speech = params.get("SpeechResult", "").strip()
        if digits:  # the engine matches a key press against the digits of the choices it offered
            return replace(base, text=digits, metadata={**metadata, "input": "dtmf"})
        if speech:
            return replace(base, text=speech,
                           metadata={**metadata, "input": "speech", "confidence": _confidence(params.get("Confidence"))})
        return replace(base, event="silence")


def _confidence(value: str | None) -> float | None:
    """Twilio's ``Confidence`` (0.0-1.0, as text) as a number; None when absent or unreadable."""
    try:
        return min(max(float(value), 0.0), 1.0) if value else None
    except ValueError:
        return None
