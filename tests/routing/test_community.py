"""Community places in the directory: imported with their kind, audience, cost, place and
schedule; the nearest fitting ones for a town; never chosen as a counter."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from bot.db import session_scope
from routing.community import KINDS, PlaceSchedule, community_places, nearest_places, walking_minutes
from routing.counters import choose_counter
from routing.directory import import_directory
from routing.hsds import DirectoryError
from routing.areas import resolve_town_id
from tests.routing.conftest import WORKDAY_MORNING, read_csv
from tests.bot.test_directory_import import city, edit_file  # noqa: F401 - city is a fixture


def _community_ids() -> dict[str, str]:
    """Service id -> kind, as the sample city's attribute and term files say."""
    codes = {row["id"]: row["code"] for row in read_csv("taxonomy_terms.csv")}
    return {row["link_id"]: codes[row["taxonomy_term_id"]].removeprefix("community:")
            for row in read_csv("attributes.csv") if codes[row["taxonomy_term_id"]].startswith("community:")}


def test_the_sample_city_has_community_places_of_every_kind_in_every_ward() -> None:
    kinds = _community_ids()
    assert len(kinds) >= 30 and set(kinds.values()) == set(KINDS)
    areas = {row["service_id"]: row["area_code"] for row in read_csv("service_areas.csv")}
    assert {areas[service_id].split("-")[0] for service_id in kinds} == {"kita", "chuo", "minami"}


def test_import_reads_kind_audience_cost_place_schedule_and_phone(session: Session) -> None:
    places = {place.id: place for place in community_places(session)}
    assert {place_id: place.kind for place_id, place in places.items()} == _community_ids()
    salon = places["community-wakaba-salon"]
    assert (salon.name, salon.audience, salon.cost, salon.town_id) == ("若葉町ふれあいサロン", "高齢者", "100円", "kita-1-2")
    assert salon.phone == {row["service_id"]: row["number"] for row in read_csv("phones.csv")}["community-wakaba-salon"]
    assert salon.schedules == (PlaceSchedule(False, (1,), (), "10:00", "12:00"),)
    cafe = places["community-midori-cafe"]
    assert cafe.schedules == (PlaceSchedule(True, (5,), (1, 3), "13:30", "15:30"),)
    assert all(place.schedules and place.phone for place in places.values())


def test_schedules_read_in_japanese_and_english() -> None:
    weekly = PlaceSchedule(False, (1,), (), "10:00", "12:00")
    assert weekly.describe("ja") == "毎週火曜 10:00〜12:00"
    assert weekly.describe("en") == "every Tue 10:00-12:00"
    monthly = PlaceSchedule(True, (5,), (2, 4), "11:30", "13:30")
    assert monthly.describe("ja") == "毎月第2・第4土曜 11:30〜13:30"
    assert monthly.describe("en") == "2nd & 4th Sat of the month 11:30-13:30"
    weekdays = PlaceSchedule(False, (0, 1, 2, 3, 4), (), "09:00", "17:00")
    assert weekdays.describe("ja") == "毎週月〜金曜 09:00〜17:00"


@pytest.mark.parametrize(("language", "weekly", "monthly"), [
    ("pt", "todas as semanas, ter 10:00-12:00", "2º e 4º sáb do mês 11:30-13:30"),
    ("es", "cada mar 10:00-12:00", "2.º y 4.º sáb del mes 11:30-13:30"),
    ("zh", "每周二 10:00-12:00", "每月第2个、第4个周六 11:30-13:30"),
    ("ko", "매주 화요일 10:00~12:00", "매월 제2·제4 토요일 11:30~13:30"),
    ("vi", "T3 hằng tuần 10:00-12:00", "T7 tuần thứ 2 và 4 của tháng 11:30-13:30"),
    ("tl", "tuwing Mar 10:00-12:00", "ika-2 at ika-4 na Sab ng buwan 11:30-13:30"),
    # A language without its own words reads the English.
    ("fr", "every Tue 10:00-12:00", "2nd & 4th Sat of the month 11:30-13:30"),
])
def test_schedules_read_in_the_residents_language(language: str, weekly: str, monthly: str) -> None:
    assert PlaceSchedule(False, (1,), (), "10:00", "12:00").describe(language) == weekly
    assert PlaceSchedule(True, (5,), (2, 4), "11:30", "13:30").describe(language) == monthly


def test_walking_minutes_grow_with_distance() -> None:
    assert walking_minutes(0.0) == 1
    assert walking_minutes(0.5) < walking_minutes(1.0) < walking_minutes(2.0)
    # 1 km in a straight line is about 1.3 km of streets at 80 m a minute.
    assert walking_minutes(1.0) == 17


def test_the_salons_nearest_to_wakabacho_nearest_first(session: Session) -> None:
    found = nearest_places(session, "kita-1-2", ["salon"])
    assert [nearby.place.id for nearby in found] == [
        "community-wakaba-salon",  # in 若葉町 itself
        "community-midori-salon",  # 緑町, the town to the north
        "community-aobadai-salon",  # 青葉台, the town to the west
    ]
    minutes = [nearby.minutes for nearby in found]
    assert minutes == sorted(minutes) and minutes[0] <= 5


def test_kinds_limit_and_walking_cap(session: Session) -> None:
    [shokudo] = nearest_places(session, "minami-1-3", ["kodomo_shokudo"], limit=1)
    assert shokudo.place.id == "community-hinode-shokudo"
    anything = nearest_places(session, "kita-1-2", None, limit=40)
    assert len(anything) == len(_community_ids())
    near = nearest_places(session, "kita-1-2", None, limit=40, max_minutes=25)
    assert near and all(nearby.minutes <= 25 for nearby in near) and len(near) < len(anything)
    assert nearest_places(session, "no-such-town", ["salon"]) == []


def test_a_community_place_is_never_a_counter(session: Session) -> None:
    """Community places carry no counter topic: the counters of every town stay the same."""
    community = set(_community_ids())
    for town in read_csv("towns.csv"):
        for topic in ("elderly", "child", "money", "complex", "disability"):
            choice = choose_counter(session, intent="ask_where", topic=topic,
                                    area=resolve_town_id(session, town["town_id"]), now=WORKDAY_MORNING)
            assert choice.counter is not None and choice.counter.id not in community


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        ("attributes.csv", "community-wakaba-salon,service,community:salon",
         "community-wakaba-salon,service,community:karaoke", "attributes.csv, line 44, column 'taxonomy_term_id': 'community:karaoke' does not exist"),
        # A term the city renamed: the place using it is named (attributes.csv).
        ("taxonomy_terms.csv", "community:salon,community:salon,", "community:salon,community:karaoke,",
         "attributes.csv, line 44, column 'taxonomy_term_id': 'community:karaoke' is not a community kind"),
        ("attributes.csv", "community-wakaba-salon,service,audience:elderly",
         "community-wakaba-salon,service,community:kayoi", "attributes.csv, line 45, column 'taxonomy_term_id': community place 'community-wakaba-salon' has more"),
        ("locations.csv", "loc-community-wakaba-salon,若葉町会館,34.72850,135.49100",
         "loc-community-wakaba-salon,若葉町会館,,", "services_at_location.csv, column 'location_id': community place 'community-wakaba-salon' has no location"),
        ("schedules.csv", "community-midori-cafe,MONTHLY,SA,13:30,15:30,第1・第3",
         "community-midori-cafe,MONTHLY,SA,13:30,15:30,", "schedules.csv, line 44, column 'notes': a MONTHLY schedule names its weeks"),
        ("schedules.csv", "community-wakaba-salon,WEEKLY,", "community-wakaba-salon,DAILY,", "schedules.csv, line 41, column 'freq'"),
    ],
)
def test_a_broken_community_place_is_named_and_changes_nothing(
    db_url: str, city: Path, file: str, old: str, new: str, message: str
) -> None:
    with session_scope(db_url) as session:
        before = len(community_places(session))
    edit_file(city / file, old, new)
    with pytest.raises(DirectoryError) as raised, session_scope(db_url) as session:
        import_directory(session, city)
    assert message in str(raised.value)
    with session_scope(db_url) as session:
        assert len(community_places(session)) == before


def test_a_city_without_community_places_imports_as_before(db_url: str, city: Path) -> None:
    community = set(_community_ids())
    for name, column in (("attributes.csv", "link_id"), ("services.csv", "id"), ("phones.csv", "service_id"),
                         ("schedules.csv", "service_id"), ("service_areas.csv", "service_id"),
                         ("services_at_location.csv", "service_id")):
        lines = (city / name).read_text(encoding="utf-8").splitlines(keepends=True)
        header = lines[0].strip().split(",")
        index = header.index(column)
        (city / name).write_text("".join(
            line for number, line in enumerate(lines) if number == 0 or line.split(",")[index] not in community
        ), encoding="utf-8")
    with session_scope(db_url) as session:
        summary = import_directory(session, city)
    assert summary.counts["services"] == len(read_csv("services.csv")) - len(community)
    with session_scope(db_url) as session:
        assert community_places(session) == ()
        assert nearest_places(session, "kita-1-2", ["salon"]) == []
