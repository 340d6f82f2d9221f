"""Writes docs/phone.md: the phone line's call tree (Mermaid) and what every key and phrase does,
read from the code that decides them, so the page cannot drift from the line.

Sources: the main menu and the keys that mean the same in every menu
(``flows.conversation``: ``MENU``, ``PHONE_KEYS``, ``LANGUAGE_KEY``, ``LANGUAGE_MENU``), the voice and
recogniser of each language (``channels.voice``, ``bot.settings``), the phrases a caller can
always use (its ``REPEAT_WORDS``, ``WAIT_WORDS``, ``GOODBYE_WORDS``, ``ACKNOWLEDGEMENTS`` — each
example below is checked against them), the flows and their questions (``flows.registry.FLOWS``,
domain.yml forms), the timings (``channels.voice``, ``bot.settings``) and the words
(domain.yml: the menu's titles; the questions are named by their responses, whose words a city edits).

    python docs/phone_tree.py            # print the page
    python docs/phone_tree.py --write    # write docs/phone.md

``tests/channels/test_calls_phone_doc.py`` fails when docs/phone.md is not this script's output.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.domain import Domain, load_domain
from bot.settings import settings
from channels import voice
from flows import conversation
from flows.base import FormFlow
from flows.registry import FLOWS

PAGE = ROOT / "docs" / "phone.md"
LANGUAGE_NAMES = {"ja": "Japanese", "en": "English", "zh": "Mandarin Chinese", "zh-Hant": "Mandarin Chinese (traditional)",
                  "ko": "Korean", "vi": "Vietnamese", "tl": "Tagalog/Filipino", "pt": "Portuguese", "ne": "Nepali",
                  "es": "Spanish"}
# The phrases a caller can say at any prompt, with examples checked against the code's patterns.
PHRASES: tuple[tuple[str, re.Pattern[str], tuple[str, ...], str], ...] = (
    ("repeat", conversation.REPEAT_WORDS, ("もう一度", "もう一度 言ってください", "say that again"),
     "what was just said (a counter's number too) and the question, again"),
    ("wait", conversation.WAIT_WORDS, ("ちょっと 待って", "メモします", "hold on"),
     f"a pause of {voice.SLOW_PAUSE} s, then the question again, slowly"),
    ("acknowledgement", conversation.ACKNOWLEDGEMENTS, ("わかりました", "そうです", "結構です", "ありがとう", "okay",
                                                        "thank you"),
     "never a hang-up: acknowledged, then 「他にご用件はありますか」"),
    ("goodbye", conversation.GOODBYE_WORDS, ("さようなら", "切ります", "goodbye"),
     "the only words that end the call (with a no to 「他にご用件はありますか」)"),
)


def label(text: str, limit: int = 28) -> str:
    """Text for a Mermaid label: one line, no quotes or brackets Mermaid reads, at most ``limit`` characters."""
    text = re.sub(r"\s+", " ", text).strip()
    text = text.replace('"', "'").replace("[", "(").replace("]", ")").replace("{", "(").replace("}", ")")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def flow_for(intent: str) -> object | None:
    return next((flow for flow in FLOWS if intent in getattr(flow, "intents", ())), None)


def flow_summary(flow: object) -> str:
    """The first sentence of a flow's docstring (its module's when the class has none)."""
    doc = (type(flow).__doc__ or sys.modules[type(flow).__module__].__doc__ or "").strip()
    return doc.split("\n\n")[0].replace("\n", " ").split(". ")[0].split("。")[0]


def mermaid(domain: Domain) -> list[str]:
    lines = ["```mermaid", "flowchart TD",
             '    call(["call comes in"]) --> greet["utter_greet: the line, 119 and 110"]',
             '    greet --> menu{"main menu (utter_menu)"}']
    for intent, title, key in conversation.MENU:
        flow = flow_for(intent)
        node = intent
        lines.append(f'    menu -->|"{key} {label(domain.text(title, "ja"))}"| {node}["{intent}"]')
        if isinstance(flow, FormFlow):
            previous = node
            for number, (slot, question) in enumerate(flow.questions.items(), 1):
                step = f"{node}_{number}"
                lines.append(f'    {previous} --> {step}["{slot}: {question}"]')
                previous = step
            saved = "saved from the first answer" if flow.saves_first else "saved when confirmed"
            lines.append(f'    {previous} --> {node}_done["{label(saved, 40)}"] --> more')
        elif flow is not None and intent != "talk_to_human":
            lines.append(f'    {node} --> {node}_what["{label(flow_summary(flow), 60)}"] --> more')
    lines.append(f'    menu -->|"{conversation.LANGUAGE_KEY} English and other languages"| languages'
                 f'{{"language menu ({conversation.LANGUAGE_MENU_PROMPT}), each said in its own voice"}}')
    for language, key, name in conversation.LANGUAGE_MENU:
        lines.append(f'    languages -->|"{key} {name}"| menu')
    lines += [
        f'    more{{"{conversation.MORE_PROMPT}: anything else? 1 yes, 2 no"}}',
        '    more -->|"1"| menu',
        '    more -->|"2 / goodbye"| bye(["utter_goodbye, Hangup"])',
        '    talk_to_human --> open{"counter open now?"}',
        f'    open -->|"yes"| dial["Dial timeout={voice.DIAL_TIMEOUT} s, action=/dial"]',
        '    dial -->|"busy, no-answer, failed"| record',
        f'    open -->|"no"| record["Record timeout={voice.RECORD_SILENCE_TIMEOUT} s, '
        f'maxLength={voice.RECORD_MAX_LENGTH} s, beep"]',
        '    record -->|"a message"| callback["callback case for the counter"] --> more',
        '    record -->|"empty: Redirect"| talk_to_human',
        '    anywhere(["any prompt"])',
    ]
    for key, meaning in conversation.PHONE_KEYS.items():
        lines.append(f'    anywhere -->|"{key}"| key_{"star" if key == "*" else key}["{label(meaning, 44)}"]')
    lines += [
        f'    anywhere -->|"silence, after {settings.voice_silence_repeats} repeats"| silent(["utter_silence_goodbye, Hangup"])',
        '    anywhere -->|"119/110 words"| safety["119/110 or the crisis lines first, then the question again"]',
        "```",
    ]
    return lines


def keys_table(domain: Domain) -> list[str]:
    rows = ["| key | at the main menu | in every other menu |", "| --- | --- | --- |"]
    for intent, title, key in conversation.MENU:
        everywhere = conversation.PHONE_KEYS.get(key, "the menu's own choice")
        rows.append(f"| {key} | {domain.text(title, 'ja')} / {domain.text(title, 'en')} (`{intent}`) | {everywhere} |")
    menu_keys = {key for _, _, key in conversation.MENU}
    for key, meaning in conversation.PHONE_KEYS.items():
        if key not in menu_keys:
            rows.append(f"| {key} | {meaning} | {meaning} |")
    rows.append(f"| {conversation.LANGUAGE_KEY} | the language menu (`{conversation.LANGUAGE_OFFER}`, said in English "
                "in a Japanese call) | the menu's own choice |")
    return rows


def languages_section(domain: Domain) -> list[str]:
    """The language menu: each language's key, voice and recogniser, and what a Nepali caller gets."""
    voices = voice.voices(settings)
    offered = {language for language, _, _ in conversation.LANGUAGE_MENU}
    rows = [
        f"- Key {conversation.LANGUAGE_KEY} on the main menu "
        f"(\"{domain.text(conversation.LANGUAGE_OFFER, 'ja', 'voice')}\", "
        "in English in a Japanese call) opens the language menu; each language "
        "is said in itself, in its own voice. Choosing one switches the call (and the caller's contact) to it and "
        "says the main menu again in it; from then on every prompt is that language's text (`responses/`), in its "
        "voice, with its `<Gather language>`. Keys 9, 0 and * mean the same there as everywhere. "
        "\"English please\" (「英語で」) switches to English at once.",
        "- The city's ward and town names are read in romaji by the voices that cannot read kanji (all but Japanese "
        "and Mandarin); phone numbers are said digit by digit in every language, and by the voices other than "
        "Japanese and English so are the service numbers (110, 119, 189: 「1 1 9」).",
        "",
        "| key | language | voice (`TSUNAGU_TWILIO_VOICE…`) | `<Say language>` | `<Gather language>` |",
        "| --- | --- | --- | --- | --- |",
    ]
    for language, key, name in conversation.LANGUAGE_MENU:
        rows.append(f"| {key} | {name} ({LANGUAGE_NAMES[language]}) | {voices[language]} | "
                    f"{voice.say_language(voices[language], language)} | {voice.RECOGNITION_TAGS[language]} |")
    for language, name in LANGUAGE_NAMES.items():
        if language not in offered and language in voices:
            rows.append(f"| (not on the menu) | {name} | {voices[language]} | "
                        f"{voice.say_language(voices[language], language)} | {voice.RECOGNITION_TAGS[language]} |")
    voiceless = [LANGUAGE_NAMES[language] for language in LANGUAGE_NAMES if language not in voices]
    rows += [
        "",
        f"- {', '.join(voiceless)}: Twilio has no text-to-speech voice for it (neither Amazon Polly nor Google), "
        f"so it is not on the language menu: a {' or '.join(voiceless)} caller is offered English "
        f"({conversation.LANGUAGE_KEY}, then 2), and a call in a language without a voice is said in English.",
    ]
    return rows


def phrases_table() -> list[str]:
    rows = ["| what the caller says | examples | what happens |", "| --- | --- | --- |"]
    for name, pattern, examples, effect in PHRASES:
        unmatched = [example for example in examples if not pattern.match(example)]
        if unmatched:
            raise SystemExit(f"docs/phone_tree.py: {name} examples the code does not match: {unmatched}")
        rows.append(f"| {name} | {' / '.join(f'「{example}」' for example in examples)} | {effect} |")
    return rows


def timings() -> list[str]:
    return [
        f"- A `<Gather>` waits {voice.GATHER_TIMEOUT} s for an answer; a free-text answer ends after "
        f"{voice.FREE_TEXT_SPEECH_TIMEOUT} s of pause (a menu's after the recogniser hears its end), so a pause on "
        "「えーと…」 does not cut it. Every `<Gather>` takes speech and keys, with the city's ward and town "
        "names and the offered choices as `hints`.",
        f"- Silence asks the question again, {settings.voice_silence_repeats} times; the next silence says how to "
        "call again and hangs up.",
        f"- A spoken menu choice heard with a `Confidence` under {settings.voice_min_confidence} is asked again "
        "once; places are read back with their kana (「南区 朝日町（あさひちょう）ですね。よろしければ1…」).",
        f"- A webhook is answered within {voice.ENGINE_TIMEOUT:.0f} s (Twilio gives up after 15 s); a retried "
        "webhook gets the first answer's TwiML again, so 119/110 guidance is never lost.",
    ]


def hang_ups() -> list[str]:
    saving = [flow.name for flow in FLOWS if isinstance(flow, FormFlow) and flow.saves_first]
    return [
        f"- Reports saved from their first answer (a hang-up leaves a case staff can act on, with the caller's "
        f"number): {', '.join(f'`{name}`' for name in saving)}.",
        "- Only an explicit goodbye, or a no to 「他にご用件はありますか」, ends the call; acknowledgements and "
        "thanks never do.",
    ]


def render() -> str:
    domain = load_domain()
    lines = [
        "# The phone line",
        "",
        "<!-- Generated by `python docs/phone_tree.py --write` from the code; do not edit by hand. -->",
        "",
        "What a caller hears and can do on the Twilio line (`channels/voice.py`, `flows/conversation.py`).",
        "Setting the line up is in [channels.md](channels.md).",
        "",
        "## The call tree",
        "",
        *mermaid(domain),
        "",
        "## Keys",
        "",
        "The keys mean the same in every menu of a call; a menu's own choices are the other digits.",
        "",
        *keys_table(domain),
        "",
        "## What a caller can always say",
        "",
        *phrases_table(),
        "",
        "## Timing, retries and recognition",
        "",
        *timings(),
        "",
        "## Hang-ups",
        "",
        *hang_ups(),
        "",
        "## Languages",
        "",
        *languages_section(domain),
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help=f"write {PAGE.relative_to(ROOT)}")
    args = parser.parse_args()
    page = render()
    if args.write:
        PAGE.write_text(page, encoding="utf-8")
    else:
        sys.stdout.write(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
