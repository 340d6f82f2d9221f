"""Text normalisation shared by the safety layer, the classifier and place extraction.

Residents reach tsunagu through LINE, Telegram and a phone line whose speech
recogniser emits spaces between phrases and keeps hesitations (えーと, あのー).
Everything downstream sees the same folded text: NFKC, neologdn (width,
hyphens, long-vowel runs, spaces between Japanese words), phone fillers
removed, repeated punctuation folded and whitespace collapsed.

Two smaller foldings live here too, so that there is one of each:
``fold_for_matching`` (short answers, button titles and command words compared
with each other) and ``kanji_number`` (丁目 and 番地 written in kanji numerals).
"""

from __future__ import annotations

import re
import unicodedata

import neologdn

__all__ = ["KANJI_DIGITS", "fold_diacritics", "fold_for_matching", "kanji_number", "katakana_to_hiragana", "normalize"]

# Hesitations that are never content words, even glued to the next word
# (「えーと母が」). Long-vowel runs are folded before this pattern is applied.
_GLUED_FILLERS = (
    r"えーっと|えーと|えっと|ええっと|ええと|えとー|あのー|あのぉ|あのう|そのー|そのぉ"
    r"|うーん|うーむ|んーと|んー|まあまあ(?=、|,)"
)
# Words that are fillers only when they stand alone between pauses (spaces or
# commas): 「あの 母が」 loses a hesitation, 「あの人」「その後」「まあまあ」 keep
# their meaning because they are glued to what follows.
_STANDALONE_FILLERS = r"あの|その|まあ|まぁ|なんか|えー|えと|あー|ええー|um+|uh+|uhm+|erm+|er|hmm+"
_BOUNDARY_BEFORE = r"(?:^|(?<=[\s、,。.!?！？]))"
_BOUNDARY_AFTER = r"(?=$|[\s、,。.!?！？])"

_GLUED_RE = re.compile(rf"(?:{_GLUED_FILLERS})ー?[、,]?")
_STANDALONE_RE = re.compile(
    rf"{_BOUNDARY_BEFORE}(?:{_STANDALONE_FILLERS}){_BOUNDARY_AFTER}[、,]?", re.IGNORECASE
)
_LONG_VOWEL_RUN_RE = re.compile(r"[ー〜~]{2,}")
_REPEATED_PUNCT_RE = re.compile(r"([!?。、,.])\1+")
_MIXED_BANG_RE = re.compile(r"[!?]{3,}")
_ELLIPSIS_RE = re.compile(r"(?:…|・・|\.\.\.)[…・.]*")
_SPACES_RE = re.compile(r"\s+")
# The phone's recogniser marks no sentence ends, only pauses: a pause after a sentence-final
# polite ending is where a writer puts 「。」 (「座りこんでたんです 心配で」 is two sentences).
_SPOKEN_SENTENCE_END_RE = re.compile(r"(です|ます|ません|ました|でした|ましょう)\s+(?=[^\s。、,.!?！？])")
_LEADING_PUNCT_RE = re.compile(r"^[\s、,。]+")

_KATAKANA_TO_HIRAGANA = {code: code - 0x60 for code in range(ord("ァ"), ord("ヶ") + 1)}

# Spaces and sentence punctuation separate words the same way; a trailing long vowel or
# wave dash is only drawn out (「はーい」「いいよー」「はい〜」).
_MATCH_SEPARATORS_RE = re.compile(r"[\s。、.,!?]+")
_MATCH_TRAILING_RE = re.compile(r"[\sー〜~]+$")

KANJI_DIGITS: dict[str, int] = {c: i for i, c in enumerate("〇一二三四五六七八九")} | {"零": 0}
"""Kanji numerals 〇–九 (and 零) by value; 十 is read by :func:`kanji_number`."""
_KANJI_UNITS = {"十": 10, "百": 100, "千": 1000}


def katakana_to_hiragana(text: str) -> str:
    """Map full-width katakana to hiragana (ヴ→ゔ, ヵ→ゕ, ヶ→ゖ); other characters are kept.

    Args:
        text: any text, usually already NFKC-normalised.

    Returns:
        The text with every katakana letter replaced by its hiragana counterpart.
    """
    return text.translate(_KATAKANA_TO_HIRAGANA)


def normalize(text: str) -> str:
    """Fold a resident's message to the canonical form every model and lexicon sees.

    Steps: NFKC; long-vowel runs folded (「あのーーー」→「あのー」); phone fillers
    removed (えーと, あのー, and standalone あの/その/まあ between pauses, but not
    「その後」「あの人」); a pause after a polite sentence ending made 「。」; neologdn (half-width kana to full width, full-width
    ASCII to half width, hyphen variants, spaces between Japanese words);
    repeated punctuation folded (「!!!」→「!」); whitespace collapsed. Case is
    kept because it carries meaning for the sentence encoder.

    Args:
        text: raw message text from any channel.

    Returns:
        The normalised text (may be empty when the message held only fillers).
    """
    folded = unicodedata.normalize("NFKC", text)
    folded = _LONG_VOWEL_RUN_RE.sub("ー", folded)
    folded = _GLUED_RE.sub(" ", folded)
    # Two passes: removing one standalone filler can expose the next
    # (「あの その 母が」).
    for _ in range(2):
        folded = _STANDALONE_RE.sub(" ", folded)
    folded = _SPOKEN_SENTENCE_END_RE.sub(r"\1。", folded)
    folded = neologdn.normalize(folded)
    folded = _ELLIPSIS_RE.sub("…", folded)
    folded = _MIXED_BANG_RE.sub(lambda m: m.group(0)[:2], folded)
    folded = _REPEATED_PUNCT_RE.sub(r"\1", folded)
    folded = _SPACES_RE.sub(" ", folded).strip()
    return _LEADING_PUNCT_RE.sub("", folded)


def fold_diacritics(text: str) -> str:
    """Latin letters without their marks (không → khong, incêndio → incendio, última → ultima):
    Vietnamese, Portuguese, Spanish and Tagalog typed with or without them read alike."""
    # đ has no decomposition; every other Vietnamese, Portuguese, Spanish mark does.
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def fold_for_matching(text: str) -> str:
    """The form in which short answers are compared: 「はい、お願いします！」 = 「はい お願いします」.

    NFKC (full-width letters and digits to ASCII), lower case, every run of spaces
    and sentence punctuation made one space, a trailing ー/〜 dropped. Used for
    yes/no answers, button titles and typed choices, and command words (cancel, a person).

    Args:
        text: a resident's answer or a button title.

    Returns:
        The folded text ("" for nothing but punctuation).
    """
    folded = _MATCH_SEPARATORS_RE.sub(" ", unicodedata.normalize("NFKC", text).lower())
    return _MATCH_TRAILING_RE.sub("", folded).strip()


def kanji_number(text: str) -> int:
    """A number written in ASCII digits or kanji numerals: 「3」「三」「二〇」「十二」「二十三」「百五」「三万二百」.

    Digits in a row are read positionally (二〇 = 20, as addresses are written); 十, 百, 千
    multiply the digits before them (one when there are none) and 万 the whole part before it.

    Args:
        text: digits only, or kanji numerals (〇–九, 零, 十, 百, 千, 万) only.

    Returns:
        Its value.

    Raises:
        KeyError: a character that is not a numeral.
    """
    if text.isdigit():
        return int(text)
    total = section = 0
    digits: int | None = None
    for character in text:
        if character in KANJI_DIGITS:
            digits = (digits or 0) * 10 + KANJI_DIGITS[character]
        elif character in _KANJI_UNITS:
            section += (1 if digits is None else digits) * _KANJI_UNITS[character]
            digits = None
        elif character == "万":
            total += (section + (digits or 0) or 1) * 10_000
            section, digits = 0, None
        else:
            raise KeyError(character)
    return total + section + (digits or 0)
