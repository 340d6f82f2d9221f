"""Read a moment from a resident's words: 「夜中の3時ごろ」「2時間くらい前」「夕方」「今朝8時」「just now」.

Missing reports and sightings ask "when?" in free text. Staff need a time they can sort
and compare (sightings of one alert are grouped by it, the alert text gives an absolute
date and time), and they need to know how sure it is: 「10分前」 is a minute or two either
way, 「夕方」 is two hours wide. ``read_when`` turns the common ways of saying a recent
moment into a ``When``: the family's own words, the moment meant (aware, in the city's
zone, on the right date: 「夜中の3時ごろ」 said at 04:40 is 03:00 today, 「夕方」 said at
04:40 is yesterday evening) and its uncertainty (±). Anything else stays the resident's
own words only, which the caller keeps.

How a clock hour is read: a part-of-day word decides morning or afternoon (夜中・深夜・
明け方・早朝・朝 are before noon, 昼 is around noon, 夕方・夜 after it — 「夜中」 is not
「夜」); without one, the most recent past reading wins (「3時ごろ」 at 04:40 is 03:00,
at 16:00 it is 15:00). A day word (昨日・昨夜・おととい) moves it back.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from bot.settings import settings
from routing.readers import reads_japanese

__all__ = ["When", "describe_moment", "parse_when", "read_when"]

# A moment said without a day that lies ahead of now by more than this is from the day before.
_FUTURE_SLACK = timedelta(minutes=10)

_KANJI_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_KANJI_NUMBER = re.compile(r"[一二三四五六七八九十]+")

_NOW = re.compile(r"^(いま|今|只今|ただいま|たった今|たったいま|現在|now|right now)$")
_JUST_NOW = re.compile(r"さっき|先ほど|さきほど|先程|just now|a moment ago")
_AGO = re.compile(
    r"(\d+)\s*(時間半|分|時間|minutes?|mins?|hours?|hrs?)\s*(くらい|ぐらい|ほど|位)?\s*(前|まえ|ago)"
)
_HALF_HOUR_AGO = re.compile(r"(半時間|half an hour)\s*(くらい|ぐらい|ほど)?\s*(前|まえ|ago)")
_CLOCK_JA = re.compile(r"(\d{1,2})\s*時\s*(半|(\d{1,2})\s*分)?")
_CLOCK_COLON = re.compile(r"(\d{1,2}):(\d{2})")
_CLOCK_EN = re.compile(r"(?:at\s+)?(\d{1,2})(?::(\d{2}))?\s*(am|pm|a\.m\.|p\.m\.|o'?clock)")
# "around 9 this morning", "at 3": an hour with no am/pm, as an o'clock (the part of day decides).
_CLOCK_EN_BARE = re.compile(
    r"\b(?:around|about|at|by|after|before|since)\s+(\d{1,2})(?::(\d{2}))?\b"
    r"(?!\s*(?:hours?|hrs?|minutes?|mins?|days?|weeks?|months?|years?|yo\b|cm|kg|%|-))", re.IGNORECASE)

# The residents' other languages (zh, zh-Hant, ko, vi, tl, pt, es, ne): "2 giờ trước" 「2小时前」
# 「30분 전」 "2 oras na nakalipas" 「२ घण्टा अघि」, and "há 2 horas" "hace 2 horas".
_MINUTE_UNITS = frozenset({"phút", "分钟", "分鐘", "분", "minuto", "minutos", "मिनेट"})
_AGO_OTHER = re.compile(
    r"(\d+)\s*(tiếng|giờ|phút|个?小时|個?小時|分钟|分鐘|시간|분|oras|minuto|horas?|minutos?|घण्टा|मिनेट)\s*"
    r"(?:đồng hồ\s*)?(?:trước|以前|前|전|na ang nakalipas|nakalipas|अघि)"
    r"|(?:há|hace)\s+(\d+)\s*(horas?|minutos?)")
# A clock time: 「7点半」「7點」「7시 반」 "7 giờ rưỡi" "alas-7" "às 7h30" "a las 7 y media" 「७ बजे」
# (the hour, then the minutes or the half said). 시 is not 시간 (hours).
_CLOCK_OTHER = re.compile(
    r"(?P<h1>\d{1,2})\s*(?:giờ|[点點]|시(?!간))(?:\s*(?:(?P<half1>rưỡi|半|반)|(?P<m1>\d{1,2})\s*(?:phút|分|분)))?"
    r"|alas[- ]?(?P<h2>\d{1,2})(?:\s*(?P<half2>y media))?"
    r"|(?:às|as|a las)\s+(?P<h3>\d{1,2})(?:h(?P<m3>\d{2})?)?(?:\s*[ey]\s*(?P<half3>meia|media))?"
    r"|(?P<h4>\d{1,2})h(?P<m4>\d{2})?\b"
    r"|(?P<h5>\d{1,2})\s*बजे")

_DAY_BEFORE = ("一昨日", "おととい", "day before yesterday", "hôm kia", "前天", "그저께", "그제", "anteontem", "anteayer",
               "अस्ति")
_YESTERDAY = ("昨日", "きのう", "yesterday", "hôm qua", "昨天", "어제", "kahapon", "ontem", "ayer", "हिजो")
# Last night: the evening before, or the small hours of today (「昨夜の2時」 is 02:00 today).
_LAST_NIGHT = ("昨夜", "ゆうべ", "昨晩", "夕べ", "last night", "tối qua", "đêm qua", "昨晚", "어젯밤", "kagabi",
               "ontem à noite", "anoche", "हिजो राति")
_TODAY = ("今日", "きょう", "本日", "today", "hôm nay", "今天", "오늘", "ngayon", "hoje", "hoy", "आज")


def _night_hour(hour: int) -> int:
    """夜中・深夜: 「11時」 is 23:00, 「12時」 midnight, 「2時」 02:00."""
    return hour + 12 if 9 <= hour <= 11 else hour % 12


def _evening_hour(hour: int) -> int:
    """夜・昨夜: 「9時」 is 21:00, 「12時」 midnight and 「2時」 02:00 (the same night, after midnight)."""
    return hour if hour <= 4 else (hour + 12) % 24


def _morning_hour(hour: int) -> int:
    return hour % 12


def _afternoon_hour(hour: int) -> int:
    return hour % 12 + 12


def _noon_hour(hour: int) -> int:
    """昼: 「12時」 is noon, 「1時」 13:00."""
    return hour + 12 if hour < 6 else hour


@dataclass(frozen=True)
class _PartOfDay:
    """A part of the day: its usual window (hours; the end may pass midnight) and how a 1–12 clock hour said with it reads."""

    words: tuple[str, ...]
    start: float
    end: float
    hour_of: Callable[[int], int]



# Words that contain another part's word come first (夜中 and 昨夜 before 夜, 早朝 and 今朝 before 朝,
# 夕べ before 夕).
_PARTS = (
    _PartOfDay(("夜中", "真夜中", "深夜", "未明", "middle of the night", "midnight",
                "nửa đêm", "半夜", "凌晨", "한밤중", "새벽", "hatinggabi", "madrugada", "मध्यरात"), 23, 28, _night_hour),
    _PartOfDay(("明け方", "夜明け", "dawn", "daybreak", "rạng sáng", "bukang-liwayway", "amanhecer", "amanecer"),
               4, 6, _morning_hour),
    _PartOfDay(("早朝", "early morning", "sáng sớm", "清晨", "이른 아침", "madaling-araw"), 4, 7, _morning_hour),
    _PartOfDay(("今朝", "朝", "午前", "this morning", "morning", "a.m.", "am",
                "sáng", "早上", "上午", "早晨", "아침", "오전", "umaga", "manhã", "mañana", "बिहान"), 6, 10, _morning_hour),
    _PartOfDay(("昼", "正午", "noon", "lunchtime", "midday",
                "trưa", "中午", "점심", "정오", "tanghali", "meio-dia", "mediodía", "मध्यान्ह"), 11, 14, _noon_hour),
    _PartOfDay(("午後", "afternoon", "p.m.", "pm", "chiều", "下午", "오후", "hapon", "tarde", "दिउँसो"),
               13, 17, _afternoon_hour),
    _PartOfDay(("昨夜", "ゆうべ", "昨晩", "夕べ", "last night", "tối qua", "đêm qua", "昨晚", "어젯밤", "kagabi", "anoche"),
               19, 24, _evening_hour),
    _PartOfDay(("夕方", "夕", "evening", "dusk", "傍晚", "저녁", "takipsilim", "entardecer", "atardecer", "साँझ", "बेलुका"),
               16, 18, _afternoon_hour),
    _PartOfDay(("夜", "晩", "night", "tonight", "tối", "đêm", "晚上", "밤", "gabi", "noite", "noche", "राति"),
               19, 24, _evening_hour),
)


@dataclass(frozen=True)
class When:
    """A moment read from someone's words, with how sure it is.

    Attributes:
        words: the words as said (staff see them beside the parsed time).
        at: the moment meant, aware, in the city's zone.
        margin: the uncertainty either way (「3時ごろ」 ±30 min, 「夕方」 ±1 h).
    """

    words: str
    at: datetime
    margin: timedelta

    @property
    def earliest(self) -> datetime:
        """The earliest moment the words may mean."""
        return self.at - self.margin

    @property
    def latest(self) -> datetime:
        """The latest moment the words may mean."""
        return self.at + self.margin

    @property
    def margin_minutes(self) -> int:
        """The uncertainty in whole minutes (stored beside the moment)."""
        return round(self.margin.total_seconds() / 60)

    def describe(self, language: str = "ja") -> str:
        """The words and the moment for staff: 「夜中の3時ごろ」 → 2026-11-30 03:00 頃 (±30分)."""
        return f"「{self.words}」 → {describe_moment(self.at, self.margin_minutes, language)}"

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly form (for case details and conversation slots)."""
        return {"words": self.words, "at": self.at.isoformat(), "margin_minutes": self.margin_minutes}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> When:
        """The ``When`` that ``to_json`` wrote."""
        return cls(data["words"], datetime.fromisoformat(data["at"]), timedelta(minutes=data["margin_minutes"]))


def describe_moment(at: datetime, margin_minutes: int | None, language: str = "ja") -> str:
    """An absolute moment with its uncertainty: 「2026-11-30 03:00 頃 (±30分)」 / "2026-11-30 03:00 (±30 min)"."""
    local = at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
    if not margin_minutes:
        return local
    japanese = reads_japanese(language)
    if margin_minutes % 60 == 0:
        margin = f"±{margin_minutes // 60}時間" if japanese else f"±{margin_minutes // 60} h"
    else:
        margin = f"±{margin_minutes}分" if japanese else f"±{margin_minutes} min"
    return f"{local} 頃 ({margin})" if japanese else f"{local} ({margin})"


def _kanji_to_digits(text: str) -> str:
    """「二時間」「三十分」 → 「2時間」「30分」 (numbers up to 99)."""
    def number(match: re.Match[str]) -> str:
        word = match.group(0)
        if "十" not in word:
            return "".join(str(_KANJI_DIGITS[ch]) for ch in word)
        tens, _, ones = word.partition("十")
        return str((_KANJI_DIGITS.get(tens, 1) if tens else 1) * 10 + (_KANJI_DIGITS.get(ones, 0) if ones else 0))
    return _KANJI_NUMBER.sub(number, text)


# English numbers said before a time unit ("two hours ago", "an hour ago"), as digits.
_EN_NUMBERS = {word: number for number, word in enumerate(
    "one two three four five six seven eight nine ten eleven twelve".split(), start=1)} | {"a": 1, "an": 1}
_EN_NUMBER_BEFORE_UNIT = re.compile(rf"\b({'|'.join(_EN_NUMBERS)})(?=\s+(?:hours?|minutes?)\b)")


def _normalise(text: str) -> str:
    plain = unicodedata.normalize("NFKC", text).strip().lower()
    plain = re.sub(r"[。.!！、,]+$", "", plain)
    plain = _EN_NUMBER_BEFORE_UNIT.sub(lambda m: str(_EN_NUMBERS[m.group(1)]),
                                       re.sub(r"\bhalf an hour\b", "30 minutes", plain))
    # Kanji numbers only before a time unit: 「一昨日」 and 「十分」 (enough) stay words.
    return re.sub(r"[一二三四五六七八九十]+(?=\s*(時|分|点|點))", lambda m: _kanji_to_digits(m.group(0)), plain)


def _part_of_day(plain: str) -> _PartOfDay | None:
    for part in _PARTS:
        for word in part.words:
            if word.isascii():
                if re.search(rf"(?<![a-z.]){re.escape(word)}(?![a-z])", plain):
                    return part
            elif word in plain:
                # 「夜」 inside 「夜中」「昨夜」 belongs to those, which come first.
                return part
    return None


def _relative(plain: str, local_now: datetime) -> tuple[datetime, timedelta] | None:
    """「10分前」「2時間くらい前」「1時間半前」「さっき」: a moment counted back from now."""
    if _NOW.match(plain):
        return local_now, timedelta(minutes=5)
    if _JUST_NOW.search(plain) and not _CLOCK_JA.search(plain):
        return local_now - timedelta(minutes=15), timedelta(minutes=15)
    if match := _AGO.search(plain):
        amount, unit = int(match.group(1)), match.group(2)
        if unit == "分" or unit.startswith("min"):
            delta = timedelta(minutes=amount)
        else:
            delta = timedelta(hours=amount, minutes=30 if unit == "時間半" else 0)
        return _counted_back(local_now, delta)
    if _HALF_HOUR_AGO.search(plain):
        return local_now - timedelta(minutes=30), timedelta(minutes=10)
    if match := _AGO_OTHER.search(plain):
        amount = int(match.group(1) or match.group(3))
        unit = match.group(2) or match.group(4)
        return _counted_back(local_now, timedelta(minutes=amount) if unit in _MINUTE_UNITS else timedelta(hours=amount))
    return None


def _counted_back(local_now: datetime, delta: timedelta) -> tuple[datetime, timedelta]:
    """``delta`` before now, and its margin: the longer ago, the rounder the figure
    (「10分前」 ±5 min, 「2時間くらい前」 ±30 min)."""
    quarter = math.ceil(delta / timedelta(minutes=5) / 4) * timedelta(minutes=5)
    return local_now - delta, min(max(quarter, timedelta(minutes=5)), timedelta(hours=2))


def _clock(plain: str) -> tuple[int, int, bool, bool] | None:
    """The clock time said: (hour, minute, minutes were said, a 24-hour or am/pm hour)."""
    if match := _CLOCK_EN.search(plain):
        hour, minute = int(match.group(1)), int(match.group(2) or 0)
        suffix = match.group(3)
        if suffix.startswith("o"):
            return hour, minute, match.group(2) is not None, False
        if suffix.startswith("p") and hour < 12:
            hour += 12
        elif suffix.startswith("a") and hour == 12:
            hour = 0
        return hour, minute, match.group(2) is not None, True
    if (match := _CLOCK_EN_BARE.search(plain)) and int(match.group(1)) <= 23:
        return int(match.group(1)), int(match.group(2) or 0), match.group(2) is not None, int(match.group(1)) > 12
    if match := _CLOCK_COLON.search(plain):
        hour = int(match.group(1))
        return hour, int(match.group(2)), True, hour > 12 or hour == 0
    if match := _CLOCK_JA.search(plain):
        hour = int(match.group(1))
        minute = 30 if match.group(2) == "半" else int(match.group(3) or 0)
        return hour, minute, match.group(2) is not None, hour > 12 or hour == 0
    if match := _CLOCK_OTHER.search(plain):
        said = {name[:-1]: value for name, value in match.groupdict().items() if value is not None}
        hour = int(said["h"])
        minute = 30 if "half" in said else int(said.get("m", 0))
        return hour, minute, "half" in said or "m" in said, hour > 12 or hour == 0
    return None


def _day_shift(plain: str) -> int | None:
    """Days back a day word says (2, 1, 0), or None when no day is said."""
    if any(word in plain for word in _DAY_BEFORE):
        return 2
    if any(word in plain for word in _YESTERDAY):
        return 1
    if any(word in plain for word in _TODAY) or "今朝" in plain or "this morning" in plain:
        return 0
    return None


def _latest_past(candidates: list[datetime], local_now: datetime) -> datetime:
    """The most recent of the candidate moments that is not ahead of now."""
    past = [moment for moment in candidates if moment <= local_now + _FUTURE_SLACK]
    # 「今朝8時」 said at 07:00 cannot be ahead: it was the day before.
    return max(past) if past else min(candidates) - timedelta(days=1)


def _at_clock(plain: str, local_now: datetime, part: _PartOfDay | None) -> tuple[datetime, timedelta] | None:
    clock = _clock(plain)
    if clock is None:
        return None
    hour, minute, minutes_said, unambiguous = clock
    if not (0 <= hour <= 24 and 0 <= minute <= 59):
        return None
    hour %= 24
    if unambiguous or hour > 12:
        hours = [hour]
    elif part is not None:
        hours = [part.hour_of(hour)]
    else:
        hours = [hour % 12, hour % 12 + 12]
    margin = timedelta(minutes=10 if minutes_said else 30)
    shift = _day_shift(plain)
    if any(word in plain for word in _LAST_NIGHT):
        # 「昨夜11時」 is yesterday 23:00; 「昨夜2時」 the small hours of today.
        base = local_now.date() - timedelta(days=1)
        moments = [datetime.combine(base + timedelta(days=1 if h < 12 else 0), time(h, minute), local_now.tzinfo)
                   for h in hours]
        return _latest_past(moments, local_now), margin
    if shift is not None:
        day = local_now.date() - timedelta(days=shift)
        moments = [datetime.combine(day, time(h, minute), local_now.tzinfo) for h in hours]
        return _latest_past(moments, local_now), margin
    moments = [
        datetime.combine(local_now.date() - timedelta(days=back), time(h, minute), local_now.tzinfo)
        for h in hours for back in (0, 1)
    ]
    return _latest_past(moments, local_now), margin


def _in_part_of_day(plain: str, local_now: datetime, part: _PartOfDay) -> tuple[datetime, timedelta]:
    """「夕方」「夜中」「昨日の朝」: the middle of the part's most recent window (clipped at now)."""
    shift = _day_shift(plain)
    if part.words[0] == "昨夜":
        shift = 1

    def window(day_back: int) -> tuple[datetime, datetime]:
        day = datetime.combine(local_now.date() - timedelta(days=day_back), time(0), local_now.tzinfo)
        return day + timedelta(hours=part.start), day + timedelta(hours=part.end)

    if shift is not None:
        start, end = window(shift)
        if start > local_now:  # 「今朝」 said at 04:40: the hours just before
            start, end = local_now - (end - start), local_now
    else:
        # The most recent window that has begun: 「夕方」 at 04:40 is yesterday's; 「夜中」
        # at 04:40 is the one that began at 23:00 yesterday.
        start, end = next(window(back) for back in (0, 1, 2) if window(back)[0] <= local_now)
    end = min(end, max(local_now, start))
    middle = start + (end - start) / 2
    return middle, max((end - start) / 2, timedelta(minutes=15))


def read_when(text: str | None, now: datetime, part_of_day_alone: bool = True) -> When | None:
    """The moment a short answer to "when?" means, with its uncertainty, or None when it is not clear.

    Args:
        text: the resident's answer (Japanese, English or another resident language; full-width,
            kanji and Devanagari digits allowed).
        now: the time the answer was received (aware).
        part_of_day_alone: whether 「朝」 or "evening" without a clock time or a time ago is a
            moment. Words that answer another question (a landmark, 「夜間診療所の前」) pass False.

    Returns:
        A ``When`` whose moment is in the city's time zone, never later than ``now``
        (plus a few minutes' slack), and which keeps ``text`` as said; or None.
    """
    if not text or not text.strip():
        return None
    plain = _normalise(text)
    local_now = now.astimezone(settings.tz)
    part = _part_of_day(plain)
    found = _relative(plain, local_now) or _at_clock(plain, local_now, part)
    if found is None and part is not None and part_of_day_alone:
        found = _in_part_of_day(plain, local_now, part)
    if found is None:
        return None
    moment, margin = found
    return When(words=text.strip(), at=moment, margin=margin)


def parse_when(text: str | None, now: datetime) -> datetime | None:
    """The moment a short answer to "when?" means (``read_when`` without its uncertainty), or None.

    Args:
        text: the resident's answer.
        now: the time the answer was received (aware).

    Returns:
        An aware datetime in the city's time zone, or None.
    """
    when = read_when(text, now)
    return when.at if when is not None else None
