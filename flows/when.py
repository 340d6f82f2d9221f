"""Read a moment from a resident's words: 「10分前」「今朝8時ごろ」「昨日の夜9時」「14:30」「just now」.

Missing reports and sightings ask "when?" in free text. Staff need a time they can
sort and compare (sightings of one alert are grouped by it), so the common ways of
saying a recent moment are turned into an aware datetime; anything else stays the
resident's own words and the caller keeps those.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta

from bot.settings import settings

__all__ = ["parse_when"]

_NOW = re.compile(r"^(いま|今|只今|ただいま|たった今|たったいま|さっき|先ほど|さきほど|ついさっき|現在|now|just now|right now)$")
_AGO = re.compile(r"(\d+)\s*(分|時間|minutes?|mins?|hours?|hrs?)\s*(くらい|ぐらい|ほど)?\s*(前|まえ|ago)")
_HALF_HOUR_AGO = re.compile(r"(30分|半時間|half an hour)\s*(くらい|ぐらい|ほど)?\s*(前|まえ|ago)")
_CLOCK_JA = re.compile(r"(\d{1,2})\s*時\s*(半|(\d{1,2})\s*分)?")
_CLOCK_COLON = re.compile(r"(\d{1,2}):(\d{2})")
_CLOCK_EN = re.compile(r"(?:at\s+)?(\d{1,2})(?::(\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)")
_AFTERNOON = ("午後", "夜", "夕方", "夕", "晩", "昨夜", "pm", "p.m.", "evening", "night", "afternoon")
_YESTERDAY = ("昨日", "きのう", "昨夜", "ゆうべ", "yesterday", "last night")
_DAY_BEFORE = ("一昨日", "おととい")
# A time of day said without a day that lies ahead of now by more than this is yesterday's
# (「23時ごろ」 said at 1 a.m.).
_FUTURE_SLACK = timedelta(minutes=10)


def _clock(text: str) -> tuple[int, int] | None:
    if match := _CLOCK_EN.search(text):
        hour, minute = int(match.group(1)), int(match.group(2) or 0)
        if match.group(3).startswith("p") and hour < 12:
            hour += 12
        return hour, minute
    if match := _CLOCK_COLON.search(text):
        return int(match.group(1)), int(match.group(2))
    if match := _CLOCK_JA.search(text):
        hour = int(match.group(1))
        minute = 30 if match.group(2) == "半" else int(match.group(3) or 0)
        if hour < 12 and any(word in text for word in _AFTERNOON):
            hour += 12
        return hour, minute
    return None


def parse_when(text: str | None, now: datetime) -> datetime | None:
    """The moment a short answer to "when?" means, or None when it is not clear.

    Args:
        text: the resident's answer (Japanese or English, full-width digits allowed).
        now: the time the answer was received (aware).

    Returns:
        An aware datetime in the city's time zone, never later than ``now`` (plus a
        few minutes' slack), or None.
    """
    if not text:
        return None
    plain = unicodedata.normalize("NFKC", text).strip().lower()
    plain = re.sub(r"[。.!！、,]+$", "", plain)
    local_now = now.astimezone(settings.tz)
    if _NOW.match(plain):
        return local_now
    if match := _AGO.search(plain):
        amount, unit = int(match.group(1)), match.group(2)
        delta = timedelta(minutes=amount) if unit == "分" or unit.startswith("min") else timedelta(hours=amount)
        return local_now - delta
    if _HALF_HOUR_AGO.search(plain):
        return local_now - timedelta(minutes=30)
    clock = _clock(plain)
    if clock is None or not (0 <= clock[0] <= 23 and 0 <= clock[1] <= 59):
        return None
    moment = local_now.replace(hour=clock[0], minute=clock[1], second=0, microsecond=0)
    if any(word in plain for word in _DAY_BEFORE):
        return moment - timedelta(days=2)
    if any(word in plain for word in _YESTERDAY):
        return moment - timedelta(days=1)
    if moment > local_now + _FUTURE_SLACK:
        return moment - timedelta(days=1)
    return moment
