"""What a resident of each language reads: Japanese phrasing, kanji names, romaji.

The city's directory is in Japanese (counter and town names in kanji, opening hours as
「月〜金 9:00〜17:30」) and towns.csv adds each ward's and town's romaji. What of it a
resident is shown depends on what they read, not on which translation they get, so the
code asks these questions instead of comparing a language with "en":

- :func:`reads_japanese`: only Japanese readers (やさしい日本語 included: its register is
  a variation of ``ja``) get Japanese date phrasing, hours 「月〜金」, separators 「、」.
  Chinese readers read kanji but not 「午後2時ごろ」「（祝日・年末年始を除く）」, so every
  other language gets the English formats, which use digits and short Latin words.
- :func:`reads_kanji`: a counter's or town's kanji name is readable as it is (ja, zh,
  zh-Hant); others read it as a name to show at the counter, beside a gloss or romaji.
- :func:`reads_romaji`: a Latin-script reader (en, vi, tl, pt, es) reads a place by its
  romaji (「Kita-ku」), as on the station signs, better than by its kanji.

This module imports nothing of the project, so the directory, the flows and the alert
texts can all ask it.
"""

from __future__ import annotations

__all__ = ["reads_japanese", "reads_kanji", "reads_romaji"]

# The languages whose script is Latin: towns.csv's romaji is how they read a place.
_ROMAJI_READERS = frozenset({"en", "vi", "tl", "pt", "es"})
# The languages whose readers read a Japanese name written in kanji.
_KANJI_READERS = frozenset({"ja", "zh", "zh-Hant"})


def reads_japanese(language: str) -> bool:
    """Whether the resident reads Japanese phrasing (dates, hours, lists): Japanese only."""
    return language == "ja"


def reads_kanji(language: str) -> bool:
    """Whether the resident reads a Japanese name in kanji as it is (ja, zh, zh-Hant)."""
    return language in _KANJI_READERS


def reads_romaji(language: str) -> bool:
    """Whether the resident reads places best in romaji (Latin-script languages)."""
    return language in _ROMAJI_READERS
