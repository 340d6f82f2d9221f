"""Opening hours: HSDS weekly schedules, Japanese public holidays and the year-end closure.

A schedule row says on which weekdays a counter opens and from when to when
(``24:00`` closes at midnight; a closing time at or before the opening time runs
past midnight). Municipal counters close on public holidays (``jpholiday``) and
from 29 December to 3 January; a service whose schedules cover all seven days of
the week (police, 24-hour lines) is taken to run on those days too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import jpholiday

from routing.readers import reads_japanese

__all__ = ["OpeningHours", "OpeningRule", "describe_moment", "is_closing_day", "join_days", "parse_rule", "weekday_names"]

DAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")  # RFC 5545, Monday first
MINUTES_PER_DAY = 24 * 60
ALL_DAYS = frozenset(range(7))


@dataclass(frozen=True)
class _Words:
    """How one language writes opening hours and a moment (Monday first; ``{…}`` filled in)."""

    days: tuple[str, ...]
    day_run: str  # 月〜金, Mon-Fri
    day_list: str  # 月・水, Mon, Wed
    clock_range: str  # 9:00〜17:30
    parts: str  # between rows with different hours
    every_day: str
    always: str
    holidays: str  # appended when holidays and the year-end close the counter
    moment: str  # the next opening: {weekday} {day} {month} {month_name} {time} ({hour} {minute})
    months: tuple[str, ...] = ()


# Counters follow the Japanese calendar, so the holiday note names the year-end closure in
# each language; a language not listed here reads the English.
_WORDS: dict[str, _Words] = {
    "ja": _Words(tuple("月火水木金土日"), "〜", "・", "〜", "、", "毎日", "24時間", "（祝日・年末年始を除く）",
                 "{month}月{day}日（{weekday}）{time}"),
    "en": _Words(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"), "-", ", ", "-", "; ", "Every day", "24 hours",
                 " (closed on holidays and 29 Dec-3 Jan)", "{weekday} {day:02d} {month_name} at {hour:02d}:{minute:02d}",
                 ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")),
    "zh": _Words(("周一", "周二", "周三", "周四", "周五", "周六", "周日"), "至", "、", "-", "；", "每天", "24小时",
                 "（节假日及12月29日至1月3日休息）", "{month}月{day}日（{weekday}）{time}"),
    "zh-Hant": _Words(("週一", "週二", "週三", "週四", "週五", "週六", "週日"), "至", "、", "-", "；", "每天",
                      "24小時", "（國定假日及12月29日至1月3日休息）", "{month}月{day}日（{weekday}）{time}"),
    "ko": _Words(tuple("월화수목금토일"), "~", "·", "~", ", ", "매일", "24시간", " (공휴일 및 12월 29일~1월 3일 휴무)",
                 "{month}월 {day}일({weekday}) {time}"),
    "vi": _Words(("T2", "T3", "T4", "T5", "T6", "T7", "CN"), "-", ", ", "-", "; ", "Hằng ngày", "24 giờ",
                 " (nghỉ ngày lễ và từ 29/12 đến 3/1)", "{weekday}, {day}/{month} lúc {time}"),
    "tl": _Words(("Lun", "Mar", "Miy", "Huw", "Biy", "Sab", "Lin"), "-", ", ", "-", "; ", "Araw-araw", "24 oras",
                 " (sarado tuwing holiday at mula Dis 29 hanggang Ene 3)", "{weekday}, {month_name} {day}, {time}",
                 ("Ene", "Peb", "Mar", "Abr", "May", "Hun", "Hul", "Ago", "Set", "Okt", "Nob", "Dis")),
    "pt": _Words(("seg", "ter", "qua", "qui", "sex", "sáb", "dom"), "-", ", ", "-", "; ", "Todos os dias",
                 "24 horas", " (fechado nos feriados e de 29/12 a 3/1)", "{weekday}, {day}/{month} às {time}"),
    "es": _Words(("lun", "mar", "mié", "jue", "vie", "sáb", "dom"), "-", ", ", "-", "; ", "Todos los días",
                 "24 horas", " (cerrado los días festivos y del 29/12 al 3/1)", "{weekday} {day}/{month} a las {time}"),
    "ne": _Words(("सोम", "मंगल", "बुध", "बिही", "शुक्र", "शनि", "आइत"), "-", ", ", "-", "; ", "हरेक दिन", "२४ घण्टा",
                 " (सार्वजनिक बिदा र डिसेम्बर 29 देखि जनवरी 3 सम्म बन्द)", "{weekday}, {month_name} {day}, {time}",
                 ("जनवरी", "फेब्रुअरी", "मार्च", "अप्रिल", "मे", "जुन", "जुलाई", "अगस्ट", "सेप्टेम्बर", "अक्टोबर",
                  "नोभेम्बर", "डिसेम्बर")),
}


def _words(language: str) -> _Words:
    # やさしい日本語 is Japanese; its register is chosen elsewhere (routing.readers).
    return _WORDS["ja"] if reads_japanese(language) else _WORDS.get(language, _WORDS["en"])


def weekday_names(language: str) -> tuple[str, ...]:
    """Monday to Sunday, short, as the resident's language writes them (English for one without its own)."""
    return _words(language).days


def describe_moment(moment: datetime, language: str) -> str:
    """A moment as the resident reads it: 「12月2日（火）9時」, "Tue 02 Dec at 09:00", "ter, 2/12 às 9:00".

    Args:
        moment: an aware datetime in the city's time zone (a counter's next opening).
        language: the resident's language; one without its own words reads the English.
    """
    words = _words(language)
    # Japanese says 「9時」 and 「9時30分」.
    time_text = (f"{moment.hour}時{moment.minute:02d}分".replace("時00分", "時") if words is _WORDS["ja"]
                 else _clock(moment.hour * 60 + moment.minute))
    return words.moment.format(
        weekday=words.days[moment.weekday()], day=moment.day, month=moment.month,
        month_name=words.months[moment.month - 1] if words.months else "", time=time_text,
        hour=moment.hour, minute=moment.minute,
    )


# How far ahead to look for the next opening: a full year covers any closure a
# directory can express with weekly schedules.
SEARCH_DAYS = 370


@lru_cache(maxsize=4096)
def is_closing_day(day: date) -> bool:
    """True on a Japanese public holiday (incl. substitute holidays) or during 29 Dec-3 Jan.

    Args:
        day: a calendar date in the city's time zone.

    Returns:
        Whether counters that follow the municipal calendar are closed all day.
    """
    year_end = (day.month == 12 and day.day >= 29) or (day.month == 1 and day.day <= 3)
    return year_end or jpholiday.is_holiday(day)


@dataclass(frozen=True)
class OpeningRule:
    """One schedule row: weekdays (0 = Monday) and minutes after midnight."""

    days: frozenset[int]
    opens: int
    closes: int

    @property
    def overnight(self) -> bool:
        return self.closes <= self.opens


def parse_rule(byday: str, opens_at: str, closes_at: str) -> OpeningRule:
    """Turn an HSDS schedule row (``"MO,TU"``, ``"09:00"``, ``"17:30"``) into a rule.

    Args:
        byday: comma-separated RFC 5545 day codes.
        opens_at: ``HH:MM``.
        closes_at: ``HH:MM``; ``24:00`` means midnight at the end of the day.

    Returns:
        The parsed rule.
    """

    def minutes(value: str) -> int:
        hours, mins = value.strip().split(":")
        return int(hours) * 60 + int(mins)

    days = frozenset(DAY_CODES.index(code.strip()) for code in byday.split(",") if code.strip())
    return OpeningRule(days=days, opens=minutes(opens_at), closes=minutes(closes_at))


@dataclass(frozen=True)
class OpeningHours:
    """The weekly schedule of one service and the answers the router needs from it."""

    rules: tuple[OpeningRule, ...]

    @property
    def is_24h(self) -> bool:
        return any(rule.days == ALL_DAYS and rule.opens == 0 and rule.closes == MINUTES_PER_DAY for rule in self.rules)

    @property
    def follows_holidays(self) -> bool:
        """Whether holidays and the year-end close the service (weekday-only schedules do)."""
        covered: set[int] = set()
        for rule in self.rules:
            covered |= rule.days
        return covered != ALL_DAYS

    def _intervals(self, day: date, tz: ZoneInfo) -> Iterable[tuple[datetime, datetime]]:
        if self.follows_holidays and is_closing_day(day):
            return
        midnight = datetime.combine(day, time(0), tzinfo=tz)
        for rule in self.rules:
            if day.weekday() not in rule.days:
                continue
            start = midnight + timedelta(minutes=rule.opens)
            end = midnight + timedelta(minutes=rule.closes + (MINUTES_PER_DAY if rule.overnight else 0))
            yield start, end

    def is_open(self, now: datetime, tz: ZoneInfo) -> bool:
        """Whether the service is open at ``now`` (an aware datetime).

        Args:
            now: the moment to check.
            tz: the city's time zone, in which the schedule is written.

        Returns:
            True when some schedule interval contains ``now``.
        """
        if self.is_24h:
            return True
        local = now.astimezone(tz)
        # Yesterday's overnight interval may still be running.
        for day in (local.date() - timedelta(days=1), local.date()):
            if any(start <= local < end for start, end in self._intervals(day, tz)):
                return True
        return False

    def next_opening(self, now: datetime, tz: ZoneInfo) -> datetime | None:
        """When the service next opens after ``now``, or None when open now or never.

        Args:
            now: the moment to start from (aware).
            tz: the city's time zone.

        Returns:
            An aware datetime in ``tz``, skipping weekends, holidays and the year-end.
        """
        if not self.rules or self.is_open(now, tz):
            return None
        local = now.astimezone(tz)
        for offset in range(SEARCH_DAYS):
            starts = [start for start, _ in self._intervals(local.date() + timedelta(days=offset), tz) if start > local]
            if starts:
                return min(starts)
        return None

    def describe(self, language: str) -> str:
        """A short description in the resident's language: 「月〜金 9:00〜17:30（祝日・年末年始を除く）」,
        "seg-sex 9:00-17:30 (fechado nos feriados e de 29/12 a 3/1)".

        Args:
            language: the reader's language; one without its own words reads the English.

        Returns:
            The description; empty when the directory has no schedule for the service.
        """
        words = _words(language)
        if self.is_24h:
            return words.always
        if not self.rules:
            return ""
        # Rows with the same hours are shown once with all their days.
        by_hours: dict[tuple[int, int], set[int]] = {}
        for rule in self.rules:
            by_hours.setdefault((rule.opens, rule.closes), set()).update(rule.days)
        parts = [f"{_days_text(days, words)} {_clock(opens)}{words.clock_range}{_clock(closes)}"
                 for (opens, closes), days in sorted(by_hours.items(), key=lambda item: (min(item[1]), item[0]))]
        text = words.parts.join(parts)
        return text + words.holidays if self.follows_holidays else text


def _clock(minutes: int) -> str:
    return f"{minutes // 60}:{minutes % 60:02d}"


def _days_text(days: set[int], words: _Words) -> str:
    return words.every_day if days == ALL_DAYS else join_days(days, words.days, words.day_list, words.day_run)


def join_days(days: Iterable[int], names: Sequence[str], separator: str, through: str) -> str:
    """Weekdays (0 = Monday) as words: three or more in a row as a range, the others listed
    (「月〜水・金」, "Mon-Wed, Fri")."""
    runs: list[list[int]] = []
    for day in sorted(days):
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    texts = []
    for run in runs:
        if len(run) >= 3:
            texts.append(f"{names[run[0]]}{through}{names[run[-1]]}")
        else:
            texts.extend(names[day] for day in run)
    return separator.join(texts)
