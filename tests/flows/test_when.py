"""flows.when: time words resolved against the moment they were said, in the city's zone,
on the right date, with their uncertainty and the words kept beside them."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.db import session_scope
from bot.engine import ConversationEngine
from bot.models import Alert, Case
from flows.when import When, describe_moment, parse_when, read_when
from tests.bot.conftest import Resident

TOKYO = ZoneInfo("Asia/Tokyo")
# The night-time wandering case of issue 17: reported at 04:40 JST on 2026-11-30.
NIGHT = datetime(2026, 11, 30, 4, 40, tzinfo=TOKYO)
TODAY, YESTERDAY = NIGHT.date(), NIGHT.date() - timedelta(days=1)
# Tuesday 2026-11-24 10:00 JST.
MORNING = datetime(2026, 11, 24, 10, 0, tzinfo=TOKYO)


def _at(day, hour: int, minute: int = 0) -> datetime:  # type: ignore[no-untyped-def]
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=TOKYO)


@pytest.mark.parametrize("words,at,margin_minutes", [
    ("夜中の3時ごろ", _at(TODAY, 3), 30),
    ("深夜2時ごろ", _at(TODAY, 2), 30),
    ("深夜11時", _at(YESTERDAY, 23), 30),
    ("夜中の12時", _at(TODAY, 0), 30),
    ("3時ごろ", _at(TODAY, 3), 30),
    ("4時半", _at(TODAY, 4, 30), 10),
    ("夜9時", _at(YESTERDAY, 21), 30),
    ("昨夜11時", _at(YESTERDAY, 23), 30),
    ("昨夜2時", _at(TODAY, 2), 30),  # the small hours of the same night
    ("夕方5時", _at(YESTERDAY, 17), 30),
    ("昼の1時", _at(YESTERDAY, 13), 30),
    ("夕方", _at(YESTERDAY, 17), 60),
    ("夜中", _at(TODAY, 1, 30), 150),
    ("明け方", _at(TODAY, 4, 20), 20),  # began at 04:00, clipped at the report
    ("早朝", _at(TODAY, 4, 20), 20),
    ("朝", _at(YESTERDAY, 8), 120),
    ("昨日の夕方", _at(YESTERDAY, 17), 60),
    ("昨夜", _at(YESTERDAY, 21, 30), 150),
    ("さっき", _at(TODAY, 4, 25), 15),
    ("2時間くらい前", _at(TODAY, 2, 40), 30),
    ("二時間前", _at(TODAY, 2, 40), 30),
    ("1時間半くらい前", _at(TODAY, 3, 10), 25),
    ("30分前", _at(TODAY, 4, 10), 10),
    ("１０分前", _at(TODAY, 4, 30), 5),
    ("at 3 am", _at(TODAY, 3), 30),
    ("2 hours ago", _at(TODAY, 2, 40), 30),
    # Numbers in words, as an English-speaking family says them.
    ("about two hours ago", _at(TODAY, 2, 40), 30),
    ("an hour ago", _at(TODAY, 3, 40), 15),
    ("half an hour ago", _at(TODAY, 4, 10), 10),
    ("in the evening", _at(YESTERDAY, 17), 60),
])
def test_time_words_at_night(words: str, at: datetime, margin_minutes: int) -> None:
    when = read_when(words, NIGHT)
    assert when is not None
    assert (when.at, when.margin_minutes, when.words) == (at, margin_minutes, words)
    assert when.at <= NIGHT
    assert when.earliest == at - timedelta(minutes=margin_minutes)


@pytest.mark.parametrize("words,at,margin_minutes", [
    # Said on Tuesday 2026-11-24 at 10:00, in the residents' languages.
    ("Khoảng 7 giờ sáng nay", _at(MORNING.date(), 7), 30),
    ("早上7点左右", _at(MORNING.date(), 7), 30),
    ("早上九點半", _at(MORNING.date(), 9, 30), 10),
    ("오늘 아침 8시쯤이요", _at(MORNING.date(), 8), 30),
    ("Mga alas-8 ng umaga po", _at(MORNING.date(), 8), 30),
    ("Hoje de manhã, lá pelas 7h", _at(MORNING.date(), 7), 30),
    ("Esta mañana a las 7 y media", _at(MORNING.date(), 7, 30), 10),
    ("आज बिहान ७ बजेतिर", _at(MORNING.date(), 7), 30),
    ("昨天下午3点", _at(MORNING.date() - timedelta(days=1), 15), 30),
    ("2 giờ trước", MORNING - timedelta(hours=2), 30),
    ("2小时前", MORNING - timedelta(hours=2), 30),
    ("1시간 전", MORNING - timedelta(hours=1), 15),  # 시간 is hours, not 1 o'clock
    ("há 2 horas", MORNING - timedelta(hours=2), 30),
    ("hace 30 minutos", MORNING - timedelta(minutes=30), 10),
    ("२ घण्टा अघि", MORNING - timedelta(hours=2), 30),
])
def test_time_words_in_the_residents_languages(words: str, at: datetime, margin_minutes: int) -> None:
    when = read_when(words, MORNING)
    assert when is not None and (when.at, when.margin_minutes) == (at, margin_minutes)


@pytest.mark.parametrize("text,expected", [
    ("いま", MORNING),
    ("10分前", MORNING - timedelta(minutes=10)),
    ("２時間くらい前", MORNING - timedelta(hours=2)),
    ("30 minutes ago", MORNING - timedelta(minutes=30)),
    ("今朝8時ごろ", MORNING.replace(hour=8)),
    ("今朝", MORNING.replace(hour=8)),
    ("9時半", MORNING.replace(hour=9, minute=30)),
    ("昨日の夜9時", MORNING.replace(hour=21) - timedelta(days=1)),
    ("23時ごろ", MORNING.replace(hour=23) - timedelta(days=1)),  # said at 10:00: last night
    ("3時ごろ", MORNING.replace(hour=3)),  # the most recent 3 o'clock
    ("at 7:45 am", MORNING.replace(hour=7, minute=45)),
    ("14:30", MORNING.replace(hour=14, minute=30) - timedelta(days=1)),
    ("わからない", None),
    ("十分です", None),
    ("", None),
])
def test_parse_when_keeps_its_meaning(text: str, expected: datetime | None) -> None:
    assert parse_when(text, MORNING) == expected


@pytest.mark.parametrize("words,at,margin_minutes", [
    # Seen on the case page: "around 9 this morning" was read as "this morning", 08:00 ±2 h.
    ("around 9 this morning", _at(MORNING.date(), 9), 30),
    ("about 8:30 this morning", _at(MORNING.date(), 8, 30), 10),
    ("at 7 last night", _at(MORNING.date() - timedelta(days=1), 19), 30),
])
def test_an_english_hour_without_am_or_pm_takes_its_part_of_day(words: str, at: datetime, margin_minutes: int) -> None:
    when = read_when(words, MORNING)
    assert when is not None and (when.at, when.margin_minutes) == (at, margin_minutes)


@pytest.mark.parametrize("words,at", [("about 5 days ago", None), ("she is about 80", None),
                                      ("around 2 hours ago", MORNING - timedelta(hours=2))])
def test_a_number_of_days_an_age_or_hours_is_no_clock(words: str, at: datetime | None) -> None:
    when = read_when(words, MORNING)
    assert (when.at if when else None) == at


def test_this_morning_said_before_dawn_is_not_in_the_future() -> None:
    when = read_when("今朝", NIGHT)
    assert when is not None and when.latest <= NIGHT


def test_the_moment_is_in_the_city_zone_whatever_zone_now_is_in() -> None:
    when = read_when("夜中の3時ごろ", NIGHT.astimezone(ZoneInfo("UTC")))
    assert when is not None and when.at == _at(TODAY, 3) and when.at.utcoffset() == timedelta(hours=9)


def test_staff_see_the_words_beside_the_moment_and_its_uncertainty() -> None:
    when = read_when("夜中の3時ごろ", NIGHT)
    assert when is not None
    assert when.describe() == "「夜中の3時ごろ」 → 2026-11-30 03:00 頃 (±30分)"
    assert when.describe("en") == "「夜中の3時ごろ」 → 2026-11-30 03:00 (±30 min)"
    assert When.from_json(when.to_json()) == when


def test_a_night_report_keeps_the_words_beside_the_moment_for_staff(engine: ConversationEngine, db_url: str) -> None:
    family = Resident(engine, channel="line", user_id="U-night-family", now=NIGHT - timedelta(minutes=2))
    family.send(postback="intent:report_missing")
    family.send("80歳の父、白髪")
    family.send("中央区本町")
    family.send("夜中の3時ごろ")
    family.send("紺色のジャンパー")
    family.send("090-3333-4444")
    with session_scope(db_url) as session:
        case = session.scalars(select(Case)).one()
        assert case.details["last_seen_when"] == "夜中の3時ごろ"
        assert case.details["last_seen_time"] == "「夜中の3時ごろ」 → 2026-11-30 03:00 頃 (±30分)"
        assert session.scalars(select(Alert.last_seen_at)).one() == datetime(2026, 11, 30, 3, 0, tzinfo=TOKYO)


@pytest.mark.parametrize("language", ["zh", "vi", "ko", "pt"])
def test_only_japanese_readers_get_the_japanese_margin(language: str) -> None:
    """「頃 (±30分)」 is Japanese phrasing, even to a Chinese reader: the others read the English."""
    at = datetime(2026, 11, 30, 3, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert describe_moment(at, 30, language) == describe_moment(at, 30, "en") != describe_moment(at, 30, "ja")
