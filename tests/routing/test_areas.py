"""Area resolution over the sample city: every town by name, postal code and position; ambiguity; outside."""

from __future__ import annotations

import pytest
from shapely.geometry import shape
from sqlalchemy.orm import Session

from routing.areas import NEAR_KM, resolve_area, resolve_town_id, resolve_ward_code, ward_options
from tests.routing.conftest import SampleCity, place


def _check_town(resolution, town: dict[str, str], method: str) -> None:  # type: ignore[no-untyped-def]
    assert resolution.status == "resolved", town
    assert resolution.town.town_id == town["town_id"]
    assert resolution.sphere == town["sphere"]
    assert resolution.ward == town["ward"]
    assert resolution.method == method and resolution.confidence == 1.0
    assert resolution.to_dict() == {
        "town_id": town["town_id"],
        "sphere": town["sphere"],
        "ward": town["sphere"].rsplit("-", 1)[0],
    }


def test_every_town_resolves_by_name(session: Session, city: SampleCity) -> None:
    for town in city.towns:
        _check_town(resolve_area(session, place(town_ids=(town["town_id"],), matched=town["town"])), town, "name")


def test_every_town_resolves_by_postal_code(session: Session, city: SampleCity) -> None:
    for town in city.towns:
        code = town["postal_code"]
        _check_town(resolve_area(session, place(postal_code=code)), town, "postal")
        # Residents write 〒0000101 or full-width digits too.
        wide = code.replace("-", "").translate(str.maketrans("0123456789", "０１２３４５６７８９"))
        _check_town(resolve_area(session, place(postal_code=wide)), town, "postal")


def test_every_town_resolves_by_a_point_inside_its_polygon(session: Session, city: SampleCity) -> None:
    for town in city.towns:
        inside = shape(city.polygons[town["town_id"]]).representative_point()
        _check_town(resolve_area(session, place(latitude=inside.y, longitude=inside.x)), town, "polygon")
        # Near a corner, still inside.
        minx, miny, _, _ = shape(city.polygons[town["town_id"]]).bounds
        _check_town(resolve_area(session, place(latitude=miny + 1e-4, longitude=minx + 1e-4)), town, "polygon")


def test_sound_alike_towns_are_ambiguous_and_listed(session: Session, city: SampleCity) -> None:
    asahi = [t["town_id"] for t in city.towns if t["town_kana"].startswith("あさひ")]
    assert len(asahi) == 2
    resolution = resolve_area(session, place(town_ids=tuple(asahi), matched="あさひ"))
    assert resolution.status == "ambiguous"
    assert {c.town_id for c in resolution.candidates} == set(asahi)
    assert resolution.town is None and resolution.to_dict() is None


def test_ward_decides_between_sound_alikes(session: Session, city: SampleCity) -> None:
    asahi = {t["town_id"]: t for t in city.towns if t["town_kana"].startswith("あさひ")}
    for town_id, town in asahi.items():
        resolution = resolve_area(session, place(town_ids=tuple(asahi), ward=town["ward"]))
        assert resolution.status == "resolved" and resolution.town.town_id == town_id


def test_position_decides_between_sound_alikes(session: Session, city: SampleCity) -> None:
    asahi = [t["town_id"] for t in city.towns if t["town_kana"].startswith("あさひ")]
    inside = shape(city.polygons[asahi[1]]).representative_point()
    resolution = resolve_area(session, place(town_ids=tuple(asahi), latitude=inside.y, longitude=inside.x))
    assert resolution.status == "resolved" and resolution.town.town_id == asahi[1]


def test_town_named_in_the_wrong_ward_asks(session: Session, city: SampleCity) -> None:
    """「南区の旭町」: 旭町 is in 北区, 南区 has 朝日町 (あさひちょう) — ask between them."""
    kita_asahi = next(t for t in city.towns if t["town_kana"] == "あさひまち")
    minami_asahi = next(t for t in city.towns if t["town_kana"] == "あさひちょう")
    resolution = resolve_area(session, place(town_ids=(kita_asahi["town_id"],), ward=minami_asahi["ward"]))
    assert resolution.status == "ambiguous"
    assert [c.town_id for c in resolution.candidates] == [kita_asahi["town_id"], minami_asahi["town_id"]]


@pytest.mark.parametrize("ward_text", ["北区", "きたく", "Kita-ku", "kita ku", "KITA", "kita"])
def test_ward_alone_gives_its_towns(session: Session, city: SampleCity, ward_text: str) -> None:
    resolution = resolve_area(session, place(ward=ward_text))
    assert resolution.status == "ward_only"
    assert resolution.ward_code == "kita" and resolution.ward == "北区"
    assert [c.town_id for c in resolution.candidates] == [t["town_id"] for t in city.towns if t["ward"] == "北区"]
    assert resolution.to_dict() == {"town_id": None, "sphere": None, "ward": "kita"}


def test_outside_the_city(session: Session, city: SampleCity) -> None:
    # Tokyo Station, far from あおば市.
    assert resolve_area(session, place(latitude=35.6812, longitude=139.7671)).status == "outside"
    # A postal code of another area.
    assert resolve_area(session, place(postal_code="100-0005")).status == "outside"


def test_just_outside_the_polygons_is_the_nearest_town_with_lower_confidence(
    session: Session, city: SampleCity
) -> None:
    north_west = min(city.towns, key=lambda t: (-float(t["latitude"]), float(t["longitude"])))
    _, _, _, maxy = shape(city.polygons[north_west["town_id"]]).bounds
    lon = float(north_west["longitude"])
    near = resolve_area(session, place(latitude=maxy + 0.002, longitude=lon))  # ~220 m north of the city
    assert near.status == "resolved" and near.method == "nearest"
    assert near.town.town_id == north_west["town_id"]
    assert 0.5 < near.confidence < 1.0
    farther = resolve_area(session, place(latitude=maxy + 0.012, longitude=lon))  # ~1.3 km
    assert farther.status == "resolved" and farther.confidence < near.confidence
    beyond = resolve_area(session, place(latitude=maxy + (NEAR_KM + 0.5) / 110.574, longitude=lon))
    assert beyond.status == "outside"


def test_name_outranks_the_device_position(session: Session, city: SampleCity) -> None:
    named, elsewhere = city.towns[0], city.towns[-1]
    inside = shape(city.polygons[elsewhere["town_id"]]).representative_point()
    resolution = resolve_area(session, place(town_ids=(named["town_id"],), latitude=inside.y, longitude=inside.x))
    assert resolution.town.town_id == named["town_id"]


def test_nothing_usable(session: Session) -> None:
    assert resolve_area(session, None).status == "none"
    assert resolve_area(session, place()).status == "none"
    assert resolve_area(session, place(town_ids=("no-such-town",))).status == "none"


def test_picked_candidates_and_ward_options(session: Session, city: SampleCity) -> None:
    for town in city.towns:
        _check_town(resolve_town_id(session, town["town_id"]), town, "name")
    assert resolve_town_id(session, "nowhere").status == "none"
    assert [code for code, _ in ward_options(session)] == city.wards()
    assert dict(ward_options(session))["minami"] == "南区"
    assert resolve_ward_code(session, "minami").status == "ward_only"
    assert resolve_ward_code(session, "nowhere").status == "none"
