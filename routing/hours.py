"""Opening hours: HSDS weekly schedules, Japanese public holidays and the year-end closure.

A schedule row says on which weekdays a counter opens and from when to when
(``24:00`` closes at midnight; a closing time at or before the opening time runs
past midnight). Municipal counters close on public holidays (``jpholiday``) and
from 29 December to 3 January; a service whose schedules cover all seven days of
the week (police, 24-hour lines) is taken to run on those days too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import jpholiday

from routing.readers import reads_japanese

__all__ = ["OpeningHours", "OpeningRule", "is_closing_day", "parse_rule"]

DAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
DAY_JA = "月火水木金土日"
DAY_EN = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MINUTES_PER_DAY = 24 * 60
ALL_DAYS = frozenset(range(7))
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
        """A short human description, e.g. ``月〜金 9:00〜17:30（祝日・年末年始を除く）``.

        Args:
            language: the reader's language: Japanese phrasing for Japanese, else English
                (:func:`routing.readers.reads_japanese`).

        Returns:
            The description; empty when the directory has no schedule for the service.
        """
        japanese = reads_japanese(language)
        if self.is_24h:
            return "24時間" if japanese else "24 hours"
        if not self.rules:
            return ""
        # Rows with the same hours are shown once with all their days.
        by_hours: dict[tuple[int, int], set[int]] = {}
        for rule in self.rules:
            by_hours.setdefault((rule.opens, rule.closes), set()).update(rule.days)
        parts = []
        for (opens, closes), days in sorted(by_hours.items(), key=lambda item: (min(item[1]), item[0])):
            dash = "〜" if japanese else "-"
            parts.append(f"{_days_text(days, japanese)} {_clock(opens)}{dash}{_clock(closes)}")
        text = ("、" if japanese else "; ").join(parts)
        if self.follows_holidays:
            text += "（祝日・年末年始を除く）" if japanese else " (closed on holidays and 29 Dec-3 Jan)"
        return text


def _clock(minutes: int) -> str:
    return f"{minutes // 60}:{minutes % 60:02d}"


def _days_text(days: set[int], japanese: bool) -> str:
    if days == ALL_DAYS:
        return "毎日" if japanese else "Every day"
    names = DAY_JA if japanese else DAY_EN
    runs: list[list[int]] = []
    for day in sorted(days):
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    texts = []
    for run in runs:
        if len(run) >= 3:
            texts.append(f"{names[run[0]]}{'〜' if japanese else '-'}{names[run[-1]]}")
        else:
            texts.extend(names[day] for day in run)
    return ("・" if japanese else ", ").join(texts)
