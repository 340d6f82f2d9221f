"""Opening hours: weekday schedules, weekends, public holidays, the year-end closure and 24-hour lines."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from routing.areas import resolve_town_id
from routing.counters import choose_counter
from routing.hours import OpeningHours, describe_moment, is_closing_day, parse_rule
from tests.routing.conftest import TOKYO, SampleCity

WEEKDAYS = OpeningHours((parse_rule("MO,TU,WE,TH,FR", "09:00", "17:30"),))
ALWAYS = OpeningHours((parse_rule("MO,TU,WE,TH,FR,SA,SU", "00:00", "24:00"),))


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=TOKYO)


@pytest.mark.parametrize(
    ("now", "open_now", "next_opening"),
    [
        (at(2026, 11, 24, 10, 0), True, None),  # Tuesday morning
        (at(2026, 11, 24, 9, 0), True, None),  # opens at 9:00 sharp
        (at(2026, 11, 24, 17, 30), False, at(2026, 11, 25, 9, 0)),  # closes at 17:30 sharp
        (at(2026, 11, 24, 8, 59), False, at(2026, 11, 24, 9, 0)),
        (at(2026, 11, 27, 18, 0), False, at(2026, 11, 30, 9, 0)),  # Friday evening → Monday
        (at(2026, 11, 21, 12, 0), False, at(2026, 11, 24, 9, 0)),  # Saturday; Monday 23rd is 勤労感謝の日
        (at(2026, 11, 23, 10, 0), False, at(2026, 11, 24, 9, 0)),  # the holiday itself, a Monday
        (at(2026, 12, 28, 17, 0), True, None),  # last working day of the year
        (at(2026, 12, 28, 18, 0), False, at(2027, 1, 4, 9, 0)),  # year-end closure 12/29-1/3
        (at(2027, 1, 2, 10, 0), False, at(2027, 1, 4, 9, 0)),
        (at(2027, 1, 8, 18, 0), False, at(2027, 1, 12, 9, 0)),  # Friday → Monday 11th is 成人の日
    ],
)
def test_weekday_counter(now: datetime, open_now: bool, next_opening: datetime | None) -> None:
    assert WEEKDAYS.is_open(now, TOKYO) is open_now
    assert WEEKDAYS.next_opening(now, TOKYO) == next_opening


def test_next_opening_is_in_tokyo_time_whatever_the_input_zone() -> None:

    friday_evening_utc = at(2026, 11, 27, 18, 0).astimezone(UTC)
    opening = WEEKDAYS.next_opening(friday_evening_utc, TOKYO)
    assert opening == at(2026, 11, 30, 9, 0) and opening.tzinfo == TOKYO


def test_closing_days() -> None:
    assert is_closing_day(at(2026, 11, 23).date())  # 勤労感謝の日
    assert is_closing_day(at(2026, 12, 29).date()) and is_closing_day(at(2027, 1, 3).date())
    assert not is_closing_day(at(2026, 12, 28).date()) and not is_closing_day(at(2027, 1, 4).date())


@pytest.mark.parametrize("now", [at(2026, 11, 23, 3, 0), at(2027, 1, 1, 0, 0), at(2026, 11, 22, 23, 59)])
def test_24_hour_lines_never_close(now: datetime) -> None:
    assert ALWAYS.is_24h and ALWAYS.is_open(now, TOKYO) and ALWAYS.next_opening(now, TOKYO) is None
    assert ALWAYS.describe("ja") == "24時間" and ALWAYS.describe("en") == "24 hours"


def test_night_schedule_runs_past_midnight() -> None:
    nights = OpeningHours((parse_rule("FR,SA", "22:00", "06:00"),))
    assert nights.is_open(at(2026, 11, 28, 2, 0), TOKYO)  # Saturday 2:00, Friday night's shift
    assert not nights.is_open(at(2026, 11, 28, 7, 0), TOKYO)
    assert nights.next_opening(at(2026, 11, 28, 7, 0), TOKYO) == at(2026, 11, 28, 22, 0)


def test_descriptions() -> None:
    assert WEEKDAYS.describe("ja") == "月〜金 9:00〜17:30（祝日・年末年始を除く）"
    assert WEEKDAYS.describe("en") == "Mon-Fri 9:00-17:30 (closed on holidays and 29 Dec-3 Jan)"
    split = OpeningHours((parse_rule("MO,WE", "09:00", "12:00"), parse_rule("SA", "10:00", "15:00")))
    assert split.describe("ja") == "月・水 9:00〜12:00、土 10:00〜15:00（祝日・年末年始を除く）"
    daily = OpeningHours((parse_rule("MO,TU,WE,TH,FR,SA,SU", "09:00", "21:00"),))
    assert daily.describe("en") == "Every day 9:00-21:00"


@pytest.mark.parametrize(("language", "weekdays", "always"), [
    ("pt", "seg-sex 9:00-17:30 (fechado nos feriados e de 29/12 a 3/1)", "24 horas"),
    ("es", "lun-vie 9:00-17:30 (cerrado los días festivos y del 29/12 al 3/1)", "24 horas"),
    ("zh", "周一至周五 9:00-17:30（节假日及12月29日至1月3日休息）", "24小时"),
    ("ko", "월~금 9:00~17:30 (공휴일 및 12월 29일~1월 3일 휴무)", "24시간"),
    ("vi", "T2-T6 9:00-17:30 (nghỉ ngày lễ và từ 29/12 đến 3/1)", "24 giờ"),
    # A language without its own words reads the English.
    ("fr", "Mon-Fri 9:00-17:30 (closed on holidays and 29 Dec-3 Jan)", "24 hours"),
])
def test_hours_in_the_residents_language(language: str, weekdays: str, always: str) -> None:
    assert WEEKDAYS.describe(language) == weekdays
    assert ALWAYS.describe(language) == always


@pytest.mark.parametrize(("language", "expected"), [
    ("ja", "11月24日（火）9時"),
    ("en", "Tue 24 Nov at 09:00"),
    ("pt", "ter, 24/11 às 9:00"),
    ("tl", "Mar, Nob 24, 9:00"),
    ("zh-Hant", "11月24日（週二）9:00"),
])
def test_a_next_opening_in_the_residents_language(language: str, expected: str) -> None:
    assert describe_moment(at(2026, 11, 24, 9, 0), language) == expected
    assert describe_moment(at(2026, 11, 24, 9, 30), "ja") == "11月24日（火）9時30分"


def test_counter_choice_reports_hours_from_the_directory(session: Session, city: SampleCity) -> None:
    town = city.towns[0]
    area = resolve_town_id(session, town["town_id"])
    holiday = choose_counter(session, intent="ask_where", topic="elderly", area=area, now=at(2026, 11, 23, 10, 0))
    assert holiday.counter.id == city.expected_counter("elderly", town)
    assert not holiday.counter.open_now and holiday.counter.next_opening == at(2026, 11, 24, 9, 0)
    assert holiday.counter.hours("ja") == "月〜金 9:00〜17:30（祝日・年末年始を除く）" and not holiday.counter.is_24h
    # The child-abuse centre and 189 run through the year-end.
    abuse = choose_counter(session, intent="ask_where", topic="child_abuse", area=None, now=at(2027, 1, 2, 3, 0))
    assert abuse.counter.open_now and abuse.counter.is_24h and abuse.counter.next_opening is None
    assert [line.phone for line in abuse.hotlines] == ["189"]
    assert abuse.hotlines[0].open_now and abuse.hotlines[0].hours("en") == "24 hours"


def test_open_lines_come_first_at_night(session: Session, city: SampleCity) -> None:
    day = choose_counter(session, intent="ask_where", topic="dv", area=None, now=at(2026, 11, 24, 10, 0))
    night = choose_counter(session, intent="ask_where", topic="dv", area=None, now=at(2026, 11, 24, 23, 0))
    assert {line.id for line in day.hotlines} == {line.id for line in night.hotlines} == city.national_lines("dv")
    assert all(line.open_now for line in day.hotlines)
    assert night.hotlines[0].open_now and night.hotlines[0].is_24h
    assert not night.hotlines[-1].open_now and night.hotlines[-1].next_opening == at(2026, 11, 25, 9, 0)
