"""Cases: deadlines, linking repeat worry reports, the lifecycle, overdue lists, counter isolation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.models import Case, CaseKind, CaseStatus, Delivery, DeliveryState, DeliveryTarget, Service
from bot.settings import settings
from routing.areas import AreaResolution, resolve_town_id, resolve_ward_code
from routing.cases import (
    Household,
    InvalidTransition,
    add_details,
    case_facts,
    case_for_counter,
    cases_for_counter,
    household_key,
    open_case,
    overdue_cases,
    transition,
)
from routing.counters import choose_counter
from routing.snapshot import invalidate_directory_cache
from tests.routing.conftest import WORKDAY_MORNING, SampleCity

NOW = WORKDAY_MORNING


def worry(session: Session, area: AreaResolution, key: str | None, *, now=NOW, noticed: str = "新聞がたまっている",
          urgent: bool = False) -> tuple[Case, bool]:  # type: ignore[no-untyped-def]
    choice = choose_counter(session, intent="report_worry", topic=None, area=area, now=now)
    return open_case(
        session, kind=CaseKind.worry, topic="watch", counter_id=choice.counter.id, area=area,
        details={"noticed": noticed, "since_when": "3日前"}, reason=choice.reason, channel="line", language="ja",
        urgent=urgent, household_key=key, callback_consent=False, now=now,
    )


@pytest.fixture
def yanagi(session: Session, city: SampleCity) -> AreaResolution:
    town = next(t for t in city.towns if t["town"] == "柳町")
    return resolve_town_id(session, town["town_id"])


@pytest.mark.parametrize(
    ("detail", "where"),
    [("2丁目3番", None), (None, "柳町２－３"), (None, "北区柳町2丁目3番地"), (None, "柳町二丁目三番"),
     ("2-3", "柳町 2-3"), (None, "柳町2の3"), (None, "柳町 ２丁目３番")],
)
def test_household_key_normalises_the_address(yanagi: AreaResolution, detail: str | None, where: str | None) -> None:
    assert household_key(yanagi, detail, where) == f"{yanagi.town.town_id}:2/3"


def test_household_key_edge_cases(session: Session, yanagi: AreaResolution) -> None:
    town_id = yanagi.town.town_id
    assert household_key(yanagi, None, "柳町2丁目3番5号") == f"{town_id}:2/3-5"
    assert household_key(yanagi, None, "柳町2丁目") == f"{town_id}:2/"
    # The building and flat named with what was noticed, the 丁目 with the place.
    assert household_key(yanagi, None, "柳町2丁目", "柳町ハイツ301号室の新聞が4日分") == f"{town_id}:2/#301@柳町ハイツ"
    assert household_key(yanagi, None, "柳町2丁目", "新聞が4日分たまっている") == f"{town_id}:2/"
    assert household_key(yanagi, None, "柳町十二丁目") == f"{town_id}:12/"
    assert household_key(yanagi, None, "柳町3番地") == f"{town_id}:/3"
    assert household_key(yanagi, None, "柳町 2 丁目 3 番") == f"{town_id}:2/3"
    assert household_key(yanagi, "2丁目3番", "北区柳町2丁目3番です") == f"{town_id}:2/3"
    assert household_key(yanagi, None, "柳町2丁目3番 4日前から") == f"{town_id}:2/3"
    assert household_key(yanagi, None, "〒000-0106 柳町3階建ての家") is None
    assert household_key(yanagi, None, "柳町の角の青い家") is None
    assert household_key(yanagi, None, "柳町") is None
    assert household_key(resolve_ward_code(session, "kita"), "2-3", "北区 2-3") is None
    assert household_key(None, "2-3", None) is None


@pytest.mark.parametrize(
    ("where", "key"),
    [("北区柳町2丁目 柳町ハイツ301号室", "2/#301@柳町ハイツ"), ("柳町２丁目　柳町ハイツ ３０１", "2/#301@柳町ハイツ"),
     ("柳町2-3-5 メゾン柳町 205号", "2/3-5#205@メゾン柳町"), ("柳町2丁目の市営柳町団地3号棟", "2/@市営柳町団地3号棟"),
     ("柳町2丁目3番5号", "2/3-5"), ("柳町1丁目の角のたばこ屋のおばあさん", "1/@たばこ屋"),
     ("柳町1丁目のたばこ屋さんのおばあちゃん", "1/@たばこ屋"),
     ("柳町1丁目の角のたばこ屋のおばあさん、もう1週間もお店が閉まったまま", "1/@たばこ屋"), ("柳町1丁目のコンビニの店員さん", "1/"),
     ("room 402 of Sunrise Mansion, Yanagimachi 3-chome", "3/#402@SunriseMansion"),
     ("柳町4丁目の白いマンションの1階に住む", "4/#1階@白いマンション"),
     ("北区柳町2丁目のコーポ松原203号室のおばあさん", "2/#203@コーポ松原"), ("コーポ松原の203号室 柳町2丁目", "2/#203@コーポ松原")],
)
def test_household_key_keeps_the_room_and_building(yanagi: AreaResolution, where: str, key: str) -> None:
    assert household_key(yanagi, None, where) == f"{yanagi.town.town_id}:{key}"


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [("柳町2丁目3番", "柳町２－３", True), ("柳町2丁目3番5号", "柳町2丁目3番5号", True),
     ("柳町2丁目 柳町ハイツ301号室", "柳町ハイツ 301号室 2丁目", True), ("柳町2丁目 柳町ハイツ", "柳町2丁目の柳町ハイツ", True),
     ("柳町2丁目", "柳町2丁目", False), ("柳町2丁目3番", "柳町2丁目4番", False),
     ("柳町2丁目 柳町ハイツ301号室", "柳町2丁目 柳町ハイツ302号室", False),
     ("柳町2丁目 柳町ハイツ301号室", "柳町2丁目 柳町ハイツ", False), ("柳町2丁目3番", "柳町3丁目3番", False),
     ("柳町3丁目 サンライズマンション402号室", "room 402 of Sunrise Mansion, Yanagimachi 3-chome", True),
     ("柳町4丁目の白いマンションの1階", "柳町4丁目の白いマンション1階の", True),
     ("柳町4丁目の白いマンションの1階", "柳町4丁目の白いマンションの3階", False)],
)
def test_same_household_needs_a_matching_room_house_or_building(yanagi: AreaResolution, first: str, second: str,
                                                                same: bool) -> None:
    one, two = (Household.from_key(household_key(yanagi, None, where) or "") for where in (first, second))
    assert one is not None and two is not None
    assert one.same_as(two) is same and two.same_as(one) is same
    assert one.near(two) is (one.block == two.block)


def test_a_case_gets_its_counter_deadline_and_console_delivery(session: Session, yanagi: AreaResolution) -> None:
    case, linked = worry(session, yanagi, household_key(yanagi, "2-3", None))
    assert not linked and case.status == CaseStatus.new
    assert case.counter_id == "mimamori-kita" and case.ward == "kita" and case.sphere == yanagi.sphere
    assert case.town_id == yanagi.town.town_id and "mimamori-kita" in case.routing_reason
    assert case.first_contact_due == NOW + timedelta(hours=settings.first_contact_hours)
    assert [event.kind for event in case.events] == ["created"]
    assert [(d.target.method, d.state) for d in case.deliveries] == [("console", DeliveryState.unprocessed)]


def test_first_contact_hours_per_counter(session: Session, yanagi: AreaResolution) -> None:
    session.get(Service, "mimamori-kita").first_contact_hours = 4
    session.flush()
    invalidate_directory_cache()
    try:
        case, _ = worry(session, yanagi, None)
        assert case.first_contact_due == NOW + timedelta(hours=4)
    finally:
        session.rollback()
        invalidate_directory_cache()


def test_an_urgent_case_is_due_within_the_urgent_hours(session: Session, yanagi: AreaResolution,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "urgent_first_contact_hours", 2)
    case, _ = worry(session, yanagi, None, urgent=True)
    assert case.urgent and case.first_contact_due == NOW + timedelta(hours=2), "hours, not the counter's 24"


def test_repeat_worry_reports_are_linked_and_delivered_as_updates(session: Session, yanagi: AreaResolution) -> None:
    session.add(DeliveryTarget(counter_id="mimamori-kita", method="email", address="kita@example.jp"))
    session.flush()
    first, _ = worry(session, yanagi, household_key(yanagi, None, "柳町2丁目3番"))
    second, linked = worry(session, yanagi, household_key(yanagi, None, "柳町２－３"), now=NOW + timedelta(days=2),
                           noticed="夜も電気がつかない", urgent=True)
    assert linked and second.id == first.id
    assert session.scalar(select(Case.id).where(Case.id != first.id)) is None, "no second case"
    assert first.report_count == 2 and first.urgent and first.last_report_at == NOW + timedelta(days=2)
    repeat = first.events[-1]
    assert repeat.kind == "repeat_report" and repeat.details["details"]["noticed"] == "夜も電気がつかない"
    deliveries = session.scalars(select(Delivery).where(Delivery.case_id == first.id).order_by(Delivery.id)).all()
    assert len(deliveries) == 4  # (created + repeat) × (console + email)
    assert {d.case_event_id for d in deliveries} == {first.events[0].id, repeat.id}


def test_no_linking_after_the_window_or_once_closed_or_elsewhere(session: Session, yanagi: AreaResolution) -> None:
    key = household_key(yanagi, "2-3", None)
    first, _ = worry(session, yanagi, key)
    late, linked = worry(session, yanagi, key, now=NOW + timedelta(days=settings.duplicate_worry_days, minutes=1))
    assert not linked and late.id != first.id
    other_house, linked = worry(session, yanagi, household_key(yanagi, "2-4", None), now=NOW + timedelta(days=8))
    assert not linked and other_house.id not in (first.id, late.id)
    transition(session, late, CaseStatus.closed, actor="staff", reason="本人と連絡がとれた", now=NOW + timedelta(days=9))
    after_close, linked = worry(session, yanagi, key, now=NOW + timedelta(days=9, hours=1))
    assert not linked and after_close.id != late.id
    _, linked = worry(session, yanagi, None)
    assert not linked


def test_two_households_of_one_chome_are_two_cases_marked_possibly_related(session: Session,
                                                                       yanagi: AreaResolution) -> None:
    grandmother, _ = worry(session, yanagi, household_key(yanagi, None, "北区柳町2丁目"), noticed="新聞がたまっている")
    wheelchair, linked = worry(session, yanagi, household_key(yanagi, None, "柳町2丁目の向かい"),
                               noticed="車椅子の男性を見かけない", now=NOW + timedelta(hours=3))
    assert not linked and wheelchair.id != grandmother.id
    assert [(e.kind, e.details) for e in grandmother.events if e.kind == "possibly_related"] == [
        ("possibly_related", {"case_id": wheelchair.id})]
    assert [(e.kind, e.details) for e in wheelchair.events if e.kind == "possibly_related"] == [
        ("possibly_related", {"case_id": grandmother.id})]
    assert grandmother.report_count == 1 and not any(e.kind == "repeat_report" for e in grandmother.events)
    elsewhere, _ = worry(session, yanagi, household_key(yanagi, None, "柳町3丁目5番"), now=NOW + timedelta(hours=4))
    assert not any(e.kind == "possibly_related" for e in elsewhere.events), "another 丁目 is not related"


def test_the_same_flat_twice_is_linked(session: Session, yanagi: AreaResolution) -> None:
    first, _ = worry(session, yanagi, household_key(yanagi, None, "柳町2丁目 柳町ハイツ301号室"))
    other_flat, linked = worry(session, yanagi, household_key(yanagi, None, "柳町2丁目 柳町ハイツ302号室"))
    assert not linked and other_flat.id != first.id
    again, linked = worry(session, yanagi, household_key(yanagi, None, "柳町ハイツ 301号室"), now=NOW + timedelta(days=1))
    assert linked and again.id == first.id and first.report_count == 2


def test_added_details_are_an_event_delivered_to_the_counter(session: Session, yanagi: AreaResolution) -> None:
    session.add(DeliveryTarget(counter_id="mimamori-kita", method="email", address="kita@example.jp"))
    session.flush()
    case, _ = worry(session, yanagi, None)
    event = add_details(session, case, "夜も電気がついていません", source="line", now=NOW + timedelta(hours=1))
    assert (event.kind, event.details, event.actor) == ("details_added",
                                                        {"details": {"added": "夜も電気がついていません"}, "channel": "line"},
                                                        "line")
    assert case.report_count == 1, "a detail is not another report"
    targets = session.scalars(select(Delivery).where(Delivery.case_event_id == event.id)).all()
    assert len(targets) == 2  # console + email
    facts = case_facts(case)
    assert facts["fields"] == {"observation": "新聞がたまっている", "since": "3日前", "contact": None}


def test_the_lifecycle(session: Session, yanagi: AreaResolution) -> None:
    case, _ = worry(session, yanagi, None)
    with pytest.raises(InvalidTransition):
        transition(session, case, CaseStatus.new, actor="staff")
    transition(session, case, CaseStatus.acknowledged, actor="sato", now=NOW + timedelta(hours=1))
    with pytest.raises(InvalidTransition):
        transition(session, case, CaseStatus.acknowledged, actor="sato")
    transition(session, case, CaseStatus.contacted, actor="sato", now=NOW + timedelta(hours=5))
    with pytest.raises(InvalidTransition):
        transition(session, case, CaseStatus.acknowledged, actor="sato")
    with pytest.raises(InvalidTransition, match="reason"):
        transition(session, case, CaseStatus.closed, actor="sato", reason="  ")
    transition(session, case, CaseStatus.closed, actor="sato", reason="包括に引き継ぎ", now=NOW + timedelta(days=1))
    with pytest.raises(InvalidTransition):
        transition(session, case, CaseStatus.contacted, actor="sato")
    assert case.acknowledged_at == NOW + timedelta(hours=1) and case.contacted_at == NOW + timedelta(hours=5)
    assert case.closed_at == NOW + timedelta(days=1) and case.close_reason == "包括に引き継ぎ"
    steps = [(e.details["from"], e.details["to"], e.actor) for e in case.events if e.kind == "status"]
    assert steps == [("new", "acknowledged", "sato"), ("acknowledged", "contacted", "sato"),
                     ("contacted", "closed", "sato")]


def test_calling_at_once_acknowledges_too(session: Session, yanagi: AreaResolution) -> None:
    case, _ = worry(session, yanagi, None)
    transition(session, case, CaseStatus.contacted, actor="sato", now=NOW + timedelta(minutes=30))
    assert case.acknowledged_at == case.contacted_at == NOW + timedelta(minutes=30)


def test_overdue_list(session: Session, city: SampleCity, yanagi: AreaResolution) -> None:
    kita, _ = worry(session, yanagi, None)
    minami_area = resolve_ward_code(session, "minami")
    minami, _ = worry(session, minami_area, None, now=NOW + timedelta(hours=2))
    contacted, _ = worry(session, yanagi, None)
    transition(session, contacted, CaseStatus.contacted, actor="sato", now=NOW + timedelta(hours=1))
    assert overdue_cases(session, now=NOW + timedelta(hours=23)) == []
    later = NOW + timedelta(hours=25)
    assert [c.id for c in overdue_cases(session, now=later)] == [kita.id]
    assert [c.id for c in overdue_cases(session, now=later + timedelta(hours=2))] == [kita.id, minami.id]
    assert [c.id for c in overdue_cases(session, now=later + timedelta(hours=2), counter_ids=["mimamori-minami"])] == [
        minami.id
    ]


def test_staff_see_only_their_counters_cases(session: Session, yanagi: AreaResolution) -> None:
    kita, _ = worry(session, yanagi, None)
    minami, _ = worry(session, resolve_ward_code(session, "minami"), None, urgent=True)
    assert [c.id for c in cases_for_counter(session, ["mimamori-kita"])] == [kita.id]
    assert [c.id for c in cases_for_counter(session, ["mimamori-kita", "mimamori-minami"])] == [minami.id, kita.id]
    assert cases_for_counter(session, []) == []
    assert case_for_counter(session, minami.id, ["mimamori-kita"]) is None
    assert case_for_counter(session, kita.id, ["mimamori-kita"]) is kita


def test_unknown_counter_is_refused(session: Session, yanagi: AreaResolution) -> None:
    with pytest.raises(ValueError, match="no-such-desk"):
        open_case(session, kind=CaseKind.consult, topic="elderly", counter_id="no-such-desk", area=yanagi,
                  details={}, reason="", channel=None, language="ja")
