"""The inbound message keeps only text a database and a JSON reply can hold."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.messages import InboundMessage, storable_text

C0_KEPT = {"\t", "\n", "\r"}

# Hiragana, katakana, common kanji, Japanese punctuation, full-width forms and ASCII text.
japanese = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x3000, max_codepoint=0x30FF),
        st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
        st.characters(min_codepoint=0xFF01, max_codepoint=0xFF9F),
        st.characters(min_codepoint=0x20, max_codepoint=0x7E),
        st.sampled_from(sorted(C0_KEPT)),
    )
)


@given(st.text(alphabet=st.characters(codec=None)))
def test_any_text_comes_out_as_valid_utf8_without_nul_or_control_characters(text: str) -> None:
    cleaned = storable_text(text)
    cleaned.encode("utf-8")  # raises on a lone surrogate
    assert not any(ord(character) < 0x20 and character not in C0_KEPT for character in cleaned)


@given(japanese)
def test_ordinary_japanese_text_is_unchanged(text: str) -> None:
    assert storable_text(text) == text


def test_every_text_field_of_an_inbound_message_is_cleaned() -> None:
    message = InboundMessage(
        channel="line", user_id="U1\x00", text="隣の\x00方\ud83d", postback="menu\x1b", address="南区\x00",
        event_id="e\x00", metadata={"kind": ["te\x00xt"]},
    )
    assert (message.user_id, message.text, message.postback, message.address) == ("U1", "隣の方", "menu", "南区")
    assert message.event_id == "e" and message.metadata == {"kind": ["text"]}
