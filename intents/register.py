"""Is a Japanese message written in やさしい日本語 (easy Japanese), or asking for it?

The engine calls :func:`detect_register` on every Japanese message and keeps the answer in
the conversation (the ``register`` slot of domain.yml's responses) until the resident's
writing says otherwise; ``None`` leaves the register as it was. So the function only
answers when the message is evidence: an explicit request, or enough written text to judge.

Two kinds of evidence, in this order:

1. **A request.** 「やさしい にほんご で」「かんじが よめません」 → easy;
   「普通の日本語で」「漢字は読めます」「やさしい日本語じゃなくていい」 → standard. A request
   wins over the way it is written (「普通の日本語でおねがい」 is all kana and still standard).
2. **The writing.** やさしい日本語 as residents write it is hiragana with spaces between
   phrases (分かち書き, how Japanese classes and the city's own easy texts teach it) and few
   kanji; ordinary written Japanese is kanji-rich and unspaced. The thresholds below say why.

It is a handful of regexes and character counts (no model): it runs on every message.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

__all__ = ["Register", "detect_register"]

Register = Literal["easy", "standard"]

# Words naming easy Japanese (or the kana it is written in) in a request.
# 優しい is "kind" (優しい言葉 are kind words), so only 優しい日本語, the common miswriting, counts.
_EASY_WORDS = (r"(?:(?:やさしい|易しい|かんたんな|簡単な)(?:にほんご|にっぽんご|日本語|ことば|言葉)"
               r"|優しい(?:にほんご|日本語)|ひらがな|平仮名|ふりがな|振り仮名)")
# 「やさしい日本語じゃなくていい」「ひらがなはやめて」: a request *against* easy Japanese.
_EASY_REFUSED = re.compile(_EASY_WORDS + r"(?:で|に)?(?:は|も)?(?:じゃなく|でなく|ではなく|じゃなくて|いらな|不要|"
                           r"結構|けっこう|やめ|止め|しなくて)")
# 「かんじ」 needs its particle: 「かんじいい」 is 感じいい, "feels nice". 「ふつうの にほんご は
# むずかしい」 names ordinary Japanese to say it is too hard: that is a request for easy Japanese.
_STANDARD_ASKED = re.compile(
    r"(?:ふつう|普通|通常|いつも)の(?:にほんご|日本語|ことば|言葉)(?!(?:は|が)?(?:むずかし|難し|わから|分から|よめ|読め|にがて|苦手))"
    r"|(?:かんじ|漢字)(?:で|でも|が)(?:いい|良い|大丈夫|だいじょうぶ|ok|結構|かまいません|構いません)"
    r"|(?:かんじ|漢字)(?:は|も|が)?(?:よめ|読め)ます(?!せん)"
    r"|(?:かんじ|漢字)(?:は|も|が)?(?:わかり|分かり)ます(?!せん)"
    r"|(?:regular|normal|standard)japanese"
)
_EASY_ASKED = re.compile(
    _EASY_WORDS + r"(?:で|に|だけ|を|つけ|が)"
    r"|(?:かんじ|漢字)(?:が|は|を)?(?:よめ|読め|わから|分から|わかり|分かり)(?:ない|ません|なく)"
    r"|(?:かんじ|漢字)(?:が|は)?(?:むずかし|難し|にがて|苦手)"
    r"|(?:にほんご|日本語)(?:が|は)?(?:すこし|少し|ちょっと|あまり|まだ)(?:だけ|しか)?"
    r"(?:わから|分から|わかり|分かり|でき|はなせ|話せ|よめ|読め)"
    r"|(?:にほんご|日本語)(?:が|は)?(?:むずかし|難し|にがて|苦手|へた|下手|わから|分から|わかりません|分かりません)"
    r"|(?:わかりやすく|分かりやすく|やさしく|易しく|かんたんに|簡単に)(?:いって|言って|かいて|書いて|"
    r"はなして|話して|おねがい|お願い|して)"
    r"|(?:easy|simple|plain)japanese"
)

_KANJI = r"\u3400-\u4dbf\u4e00-\u9fff\u3005"  # CJK ideographs and 々
_KANA = r"\u3041-\u309f\u30a0-\u30ff"  # hiragana, katakana (with ー and ヶ)
_JAPANESE = re.compile(rf"[{_KANJI}{_KANA}]")
_KANJI_CHAR = re.compile(rf"[{_KANJI}]")
_KANA_CHAR = re.compile(rf"[{_KANA}]")
# A place name is written as the resident sees it on signs and letters (「柳町に すんで います」),
# even by a writer of easy Japanese: it tells nothing of the register, so it is not counted.
_PLACE_NAME = re.compile(rf"[{_KANJI}]+(?:市|区|町|村|丁目|駅)")
# Marks of speech: a phone transcript's spaces are the recogniser's, not the resident's
# (「もしもし あのね 母が」「聞こえ ますか」, an auxiliary or a lone 「ね」 cut from its
# phrase), and 「〜んです」 is talk, not what the easy-Japanese guides teach. Such text is never easy by its look.
_SPEECH = re.compile(r"(?:^|\s)(?:もしもし|あのね|あのー|あのう|えーと|えっと|ええと|えー|うーん|んー|まあ|はいはい)"
                     r"(?=[\s、。]|$)|(?:^|\s)(?:ます|ました|ません|ますか|ましょう|ね|じゃあ)(?=[\s。？?]|$)|"
                     r"んです(?:けど|が)?(?=[\s。、]|$)|のだけど")
# Courtesies everyone writes the same way (「ありがとう ございました」「よろしく おねがいします」):
# left out before judging, so a thank-you does not switch the register.
_STOCK = re.compile(r"ありがとう(?:\s*ござい(?:ます|ました))?|よろしく(?:\s*おねがい\s*(?:します|いたします))?|"
                    r"おせわに\s*なって\s*おります|おせわに\s*なります|こんにちは|こんばんは|おはよう(?:\s*ございます)?|"
                    r"すみません|わかりました|さようなら|しつれい\s*します")
# An address or a place written in kana (「きたく やなぎまち 2ちょうめ 3の4」) is an answer
# to 「どこですか」, not a sample of the resident's writing: a message whose every phrase is
# digits or ends like a place is not judged.
_PLACE_ENDING = re.compile(r"(?:く|し|まち|ちょう|ちょうめ|ばんち|ばん|ごう|だい|おか|むら|ばし|えき|"
                           r"市|区|町|村|丁目|番地|番|号|台|丘|駅)$")
_ADDRESS_MARKS = re.compile(r"[\d\-‐−ー〒,、。.]")
# Unspaced kana says something (not a name) when it ends as a sentence does.
_SENTENCE_END = re.compile(r"(?:です|ます|ません|ました|でした|ください|ない|たい|か|よ|ね)[。？?！!…]*$")

# Thresholds, in Japanese characters (kana + kanji, place names left out).
MIN_SPACED_CHARS = 8
"""Spaced text this long with at least three phrases is easy: 「となりの ひと みない」 (9).
Shorter is a short answer (「はい そう です」) that anyone writes."""
MIN_TWO_PHRASE_CHARS = 12
"""Two phrases need more text: 「はい わかりました」「ありがとう ございました」 (8, 11) are
stock answers, 「ははが びょうき です」 has three phrases anyway."""
MIN_UNSPACED_KANA_CHARS = 16
"""Unspaced text without a single kanji is easy from this length: ordinary Japanese of 16
characters almost always has one. Replying in easy Japanese to a native writing casual kana
costs little; replying in kanji to a resident who cannot read it costs the answer."""
EASY_MAX_KANJI_RATIO = 0.1
"""At most this share of kanji is easy: a writer of easy Japanese knows a few
(「わたしの 母 が びょうき です」 is 8 %). Ordinary Japanese prose runs at 25-35 % kanji, and a
spaced phone transcript with any content word in kanji (「孫が けいれん してて 止まらない」,
15 %) is above it."""
STANDARD_MIN_KANJI_RATIO = 0.2
STANDARD_MIN_KANJI = 3
"""At least three kanji making at least 20 % is standard: 「母の介護の相談」, a Kansai
「おかんの介護のことで相談したいんやけど」 (21 %), a phone transcript 「えーと 母の 介護の
ことで」 — whether or not spaced. Between the two ratios the writing says nothing."""


def detect_register(text: str) -> Register | None:
    """'easy' when the message asks for easy Japanese (「やさしい にほんご で」「かんたんな ことばで」
    「ひらがなで おねがいします」「かんじが よめません」) or is written in it (mostly hiragana, spaces
    between phrases, few kanji: 「こどもが うまれます。どこで そうだん できますか」);
    'standard' when it asks for ordinary Japanese (「普通の日本語で」) or is clearly standard
    written Japanese (kanji-rich: 「母の介護保険の申請について相談したいです」); None when the message
    says nothing either way (short: 「はい」「1」「ありがとう」, a place name, an address, digits,
    another language)."""
    folded = unicodedata.normalize("NFKC", text).lower().strip()
    if not folded:
        return None
    # Requests are matched without spaces: 「かんじ が よめません」 and 「漢字が読めません」 alike.
    unspaced = re.sub(r"\s+", "", folded)
    if _EASY_REFUSED.search(unspaced) or _STANDARD_ASKED.search(unspaced):
        return "standard"
    if _EASY_ASKED.search(unspaced):
        return "easy"
    return _register_of_writing(folded)


def _register_of_writing(folded: str) -> Register | None:
    """The register the text is written in, from its kanji share and its spacing."""
    counted = _STOCK.sub(" ", _PLACE_NAME.sub(" ", folded))
    kana = len(_KANA_CHAR.findall(counted))
    if kana == 0:
        # No kana: Chinese, a place name, digits or another language — not Japanese writing.
        return None
    kanji = len(_KANJI_CHAR.findall(counted))
    chars = kana + kanji
    ratio = kanji / chars
    if kanji >= STANDARD_MIN_KANJI and ratio >= STANDARD_MIN_KANJI_RATIO:
        return "standard"
    if ratio > EASY_MAX_KANJI_RATIO or _SPEECH.search(folded):
        return None
    phrases = [chunk for chunk in counted.split() if _JAPANESE.search(chunk)]
    if len(phrases) >= 2 and all(_is_place(phrase) for phrase in phrases):
        return None
    if len(phrases) >= 3 and chars >= MIN_SPACED_CHARS:
        return "easy"
    if len(phrases) == 2 and chars >= MIN_TWO_PHRASE_CHARS:
        return "easy"
    if len(phrases) == 1 and kanji == 0 and chars >= MIN_UNSPACED_KANA_CHARS and _SENTENCE_END.search(phrases[0]):
        return "easy"
    return None


def _is_place(phrase: str) -> bool:
    """Whether a phrase is part of an address: digits, 「3の4」, or a word ending like a place."""
    core = _ADDRESS_MARKS.sub("", phrase)
    # A closing 「です」 makes 「ちゅうおうく ほんまち です」 no less an answer naming a place.
    return core in ("", "の", "です", "だ") or bool(_PLACE_ENDING.search(core))
