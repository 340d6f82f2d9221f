"""Counter choice over the sample city; every expected counter is derived from the CSV files."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from bot.settings import settings
from routing.areas import AreaResolution, resolve_area, resolve_town_id, resolve_ward_code
from routing.counters import CounterChoice, choose_counter
from tests.routing.conftest import WORKDAY_MORNING, SampleCity, place

ASK_WHERE_TOPICS = ("elderly", "disability", "child", "child_abuse", "dv", "money", "mental", "hikikomori",
                    "consumer", "complex")
CITY_WIDE = ("child_abuse", "dv", "hikikomori", "consumer")


def choose(session: Session, intent: str = "ask_where", topic: str | None = None,
           area: AreaResolution | None = None, **kwargs: object) -> CounterChoice:
    return choose_counter(session, intent=intent, topic=topic, area=area, now=WORKDAY_MORNING, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("topic", ASK_WHERE_TOPICS)
def test_every_topic_in_every_town(session: Session, city: SampleCity, topic: str) -> None:
    for town in city.towns:
        expected = city.expected_counter(topic, town)
        choice = choose(session, topic=topic, area=resolve_town_id(session, town["town_id"]))
        assert choice.counter is not None and choice.counter.id == expected, (topic, town["town_id"])
        assert choice.needs_area is None
        assert expected in choice.reason and town["town_id"] in choice.reason
        assert choice.counter.phone == city.phones[expected]


@pytest.mark.parametrize("topic", ASK_WHERE_TOPICS)
def test_every_topic_in_every_ward(session: Session, city: SampleCity, topic: str) -> None:
    """With only the ward known, a counter is named exactly when all the ward's towns share it."""
    for ward in city.wards():
        expected = {city.expected_counter(topic, t) for t in city.towns if t["sphere"].startswith(ward + "-")}
        choice = choose(session, topic=topic, area=resolve_ward_code(session, ward))
        if len(expected) == 1:
            assert choice.counter is not None and choice.counter.id == expected.pop()
        else:
            assert choice.counter is None and choice.needs_area == "town"
            assert all(counter in choice.reason for counter in expected)


@pytest.mark.parametrize("topic", CITY_WIDE)
def test_city_wide_topics_need_no_place(session: Session, city: SampleCity, topic: str) -> None:
    expected = {city.expected_counter(topic, town) for town in city.towns}
    assert len(expected) == 1
    choice = choose(session, topic=topic)
    assert choice.counter.id == expected.pop() and "whole city" in choice.reason
    assert {line.id for line in choice.hotlines} == city.national_lines(topic)


@pytest.mark.parametrize(("topic", "needs"), [("elderly", "town"), ("disability", "ward"), ("money", "ward"),
                                               ("mental", "ward"), ("complex", "ward"), ("child", "ward")])
def test_area_level_topics_say_what_to_ask(session: Session, topic: str, needs: str) -> None:
    choice = choose(session, topic=topic)
    assert choice.counter is None and choice.needs_area == needs


def test_ambiguous_place_asks_unless_both_towns_share_the_counter(session: Session, city: SampleCity) -> None:
    asahi = tuple(t["town_id"] for t in city.towns if t["town_kana"].startswith("あさひ"))
    area = resolve_area(session, place(town_ids=asahi))
    assert choose(session, topic="disability", area=area).counter is None
    assert choose(session, topic="disability", area=area).needs_area == "town"
    assert choose(session, topic="dv", area=area).counter is not None


def test_national_lines_are_hotlines_never_the_counter(session: Session, city: SampleCity) -> None:
    for topic in ASK_WHERE_TOPICS:
        for area in (None, resolve_town_id(session, city.towns[0]["town_id"])):
            choice = choose(session, topic=topic, area=area)
            assert choice.counter is None or "japan" not in city.areas[choice.counter.id]
            assert city.national_lines(topic) <= {line.id for line in choice.hotlines}


@pytest.mark.parametrize("ward", ["kita", "chuo", "minami"])
def test_worry_and_missing_go_to_the_wards_watch_desk(session: Session, city: SampleCity, ward: str) -> None:
    watch_desk = next(s for s, t in city.topics.items() if "watch" in t and ward in city.areas[s])
    police_station = next(s for s, t in city.topics.items() if "missing" in t and ward in city.areas[s])
    for area in (resolve_ward_code(session, ward),
                 resolve_town_id(session, next(t["town_id"] for t in city.towns if t["sphere"].startswith(ward)))):
        worry = choose(session, intent="report_worry", area=area)
        assert worry.counter.id == watch_desk and worry.needs_area is None
        missing = choose(session, intent="report_missing", area=area)
        assert missing.counter.id == watch_desk
        assert next(line.phone for line in missing.hotlines) == "110"
        assert police_station in {line.id for line in missing.hotlines}
    assert choose(session, intent="report_worry").needs_area == "ward"


def test_a_desk_tagged_for_missing_persons_becomes_the_alert_desk(session: Session, city: SampleCity) -> None:
    from bot.models import Attribute
    from routing.snapshot import invalidate_directory_cache

    alert_desk = "sougou-kita"
    session.add(Attribute(id="test-alert-desk-watch", link_id=alert_desk, link_type="service", taxonomy_term_id="watch"))
    session.add(Attribute(id="test-alert-desk-missing", link_id=alert_desk, link_type="service",
                          taxonomy_term_id="missing"))
    session.flush()
    invalidate_directory_cache()
    try:
        area = resolve_ward_code(session, "kita")
        assert choose(session, intent="report_missing", area=area).counter.id == alert_desk
    finally:
        session.rollback()
        invalidate_directory_cache()


@pytest.mark.parametrize(("service", "phone"), [(None, "119"), ("119", "119"), ("110", "110")])
def test_emergency(session: Session, service: str | None, phone: str) -> None:
    choice = choose(session, intent="emergency", emergency_service=service)
    assert choice.counter.phone == phone and choice.counter.open_now and choice.needs_area is None


def test_outside_the_city_offers_national_lines_only(session: Session, city: SampleCity) -> None:
    outside = resolve_area(session, place(latitude=35.6812, longitude=139.7671))
    choice = choose(session, topic="mental", area=outside)
    assert choice.counter is None and choice.needs_area is None and "outside" in choice.reason
    assert {line.id for line in choice.hotlines} == city.national_lines("mental")
    # An emergency is 119 wherever the caller is.
    assert choose(session, intent="emergency", area=outside).counter.phone == "119"


def test_intents_without_a_counter(session: Session) -> None:
    for intent in ("greet", "goodbye", "out_of_scope", "unsubscribe", "register_helper", "register_person",
                   "report_sighting"):
        choice = choose(session, intent=intent)
        assert choice.counter is None and choice.needs_area is None and choice.hotlines == ()
    assert choose(session, topic=None).counter is None


def test_human_without_a_topic_goes_to_the_general_desk(session: Session, city: SampleCity) -> None:
    town = city.towns[0]
    choice = choose(session, intent="talk_to_human", area=resolve_town_id(session, town["town_id"]))
    assert choice.counter.id == city.expected_counter("complex", town)


def test_choice_is_deterministic(session: Session, city: SampleCity) -> None:
    area = resolve_town_id(session, city.towns[5]["town_id"])
    assert len({choose(session, topic="elderly", area=area) for _ in range(5)}) == 1


def replacement_chooser(session: Session, **kwargs: object) -> CounterChoice:
    """A city's own rule (used by the override test)."""
    return CounterChoice(None, None, f"city rule for {kwargs['intent']}", ())


def test_a_city_can_replace_the_choice_function(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    # Through __dict__: works whether or not this deployment's Settings declares the field yet.
    monkeypatch.setitem(settings.__dict__, "counter_chooser", f"{__name__}:replacement_chooser")
    assert choose(session, topic="dv").reason == "city rule for ask_where"
