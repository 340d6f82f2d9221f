"""The web chat page's own words (title, the 119/110 notice, labels, errors) from domain.yml.

A city edits them where it edits every other sentence, in every resident language; ``GET /chat``
serves ``bot/static/chat.html`` with them filled in (:func:`render_chat_page`), and
``bot.responses`` checks that each is there in every language.
"""

from __future__ import annotations

import json
from pathlib import Path

from bot.domain import RESIDENT_LANGUAGES, Domain

__all__ = ["PAGE_RESPONSES", "render_chat_page"]

# The page script's key for each word, and the domain.yml response it is.
PAGE_RESPONSES = {
    "title": "utter_page_title",
    "notice": "utter_page_notice",
    "label": "utter_page_message_label",
    "placeholder": "utter_page_placeholder",
    "send": "utter_page_send_label",
    "log": "utter_page_conversation_label",
    "call": "utter_page_call_label",
    "error": "utter_page_error",
    "noLocation": "utter_page_no_location",
}
_SLOT = "/* page words */ {}"


def render_chat_page(page: Path, domain: Domain) -> str:
    """``page`` with its words in every resident language put where the script expects them."""
    words = {language: {key: domain.text(response, language, "webchat") for key, response in PAGE_RESPONSES.items()}
             for language in RESIDENT_LANGUAGES}
    # Inside a <script>: a "<" in a city's text must not close it.
    script_safe = json.dumps(words, ensure_ascii=False).replace("<", "\\u003c")
    html = page.read_text(encoding="utf-8")
    if _SLOT not in html:
        raise ValueError(f"{page}: no {_SLOT!r} for the page's words")
    return html.replace(_SLOT, script_safe)
