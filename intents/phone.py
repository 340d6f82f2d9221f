"""One normal form for Japanese phone numbers: the national digits ("0312345678").

A resident types a number for a call-back (「090-1234-5678」, full-width digits, spaces),
Twilio names a caller in E.164 (「+81312345678」), and an SMS endpoint is stored in E.164
for sending. Whatever compares or keeps such numbers folds them here first, so that the
same number written two ways is the same number.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["national_phone", "without_phone_numbers"]

# A run of digits and what is written between digit groups (spaces, hyphens and dashes of
# every width, parentheses, dots), not glued to a Latin letter or another digit: a number
# inside an id such as a withheld caller's "call:CA3f…" is no phone number.
_SEPARATOR = r"\s\-‐‑‒–—―ー−()（）."
_CANDIDATE_RE = re.compile(rf"(?<![0-9A-Za-z+])\+?[0-9(（][0-9{_SEPARATOR}]*[0-9](?![0-9A-Za-z])")
_SEPARATORS_RE = re.compile(rf"[{_SEPARATOR}]")
# The digits of one candidate: an international form (+81, 0081, or a bare 81; the "(0)" some
# write after the country code is tolerated) or a national one.
_PHONE_RE = re.compile(r"(?:(?:\+81|0081)0?|81)([1-9]\d{8,9})|0([1-9]\d{8,9})")


def national_phone(text: str) -> str | None:
    """The Japanese phone number in ``text`` as its national digits, or None.

    Args:
        text: free text holding a number: full-width digits, hyphens and spaces are
            folded, and "+81" / "0081" / "81" stand for the leading 0.

    Returns:
        "0" and 9 or 10 more digits (a fixed line or a mobile), or None when the text
        holds no such number.
    """
    for candidate in _CANDIDATE_RE.finditer(unicodedata.normalize("NFKC", text)):
        match = _PHONE_RE.fullmatch(_SEPARATORS_RE.sub("", candidate.group()))
        if match is not None:
            return "0" + (match.group(1) or match.group(2))
    return None


def without_phone_numbers(text: str) -> str:
    """``text`` with every Japanese phone number in it taken out (the rest as written, NFKC).

    A family may type their number where a place or a description is asked: words that can
    reach an alert's public text are read without it.
    """
    folded = unicodedata.normalize("NFKC", text)
    return _CANDIDATE_RE.sub(
        lambda candidate: "" if _PHONE_RE.fullmatch(_SEPARATORS_RE.sub("", candidate.group())) else candidate.group(),
        folded,
    )
