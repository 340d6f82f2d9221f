"""The console's SVG town map: drawn from the sample city's polygons, coloured by values, points in place."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
from shapely.geometry import Point, Polygon
from sqlalchemy.orm import Session

from bot.console.maps import FILL_NONE, FILLS, VIEW_HEIGHT, VIEW_WIDTH, MapPoint, town_map_svg, value_classes
from bot.db import get_engine
from routing.snapshot import Directory, get_directory

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def directory(sqlite_url: str) -> Iterator[Directory]:
    with Session(get_engine(sqlite_url)) as session:
        yield get_directory(session)


def parse(svg: str) -> ET.Element:
    return ET.fromstring(str(svg))


def towns_drawn(root: ET.Element) -> dict[str, ET.Element]:
    return {element.get("data-town"): element for element in root.iter() if element.get("data-town")}


def polygon_of(path: ET.Element) -> Polygon:
    coordinates = [tuple(map(float, pair.split(","))) for pair in re.findall(r"-?[\d.]+,-?[\d.]+", path.get("d", ""))]
    return Polygon(coordinates)


def test_every_town_polygon_is_drawn_with_its_name_in_a_fixed_accessible_view(directory: Directory) -> None:
    root = parse(town_map_svg(directory, title="町 / Towns"))

    assert root.get("viewBox") == f"0 0 {VIEW_WIDTH} {VIEW_HEIGHT}"
    assert root.get("role") == "img"
    assert root.get("aria-label") == "町 / Towns"
    assert root.find(f"{SVG}title").text == "町 / Towns"
    drawn = towns_drawn(root)
    assert set(drawn) == set(directory.towns)
    assert all(element.tag == f"{SVG}path" for element in drawn.values())
    labels = {"".join(text.itertext()) for text in root.iter(f"{SVG}text")}
    assert {record.option.town for record in directory.towns.values()} <= labels
    # Each polygon lies inside the view, and neighbouring towns do not overlap.
    shapes = [polygon_of(path) for path in drawn.values()]
    for shape in shapes:
        west, south, east, north = shape.bounds
        assert 0 <= west < east <= VIEW_WIDTH and 0 <= south < north <= VIEW_HEIGHT
    for index, first in enumerate(shapes):
        for second in shapes[index + 1:]:
            assert first.intersection(second).area < 1.0


def test_values_change_the_fills_and_the_legend_lists_the_classes(directory: Directory) -> None:
    busy, quiet, empty = list(directory.towns)[:3]
    root = parse(town_map_svg(directory, title="未対応", values={busy: 8, quiet: 1}, value_label="件"))
    drawn = towns_drawn(root)

    assert drawn[empty].get("fill") == FILL_NONE
    assert drawn[busy].get("fill") == FILLS[-1]
    assert drawn[quiet].get("fill") not in (FILL_NONE, FILLS[-1])
    assert "8" in "".join(drawn[busy].find(f"{SVG}title").itertext())
    legend = root.find(f".//{SVG}g[@class='tsunagu-map-legend']")
    assert legend is not None
    swatches = [rect.get("fill") for rect in legend.iter(f"{SVG}rect")]
    assert swatches[0] == FILL_NONE and swatches[-1] == FILLS[-1]
    assert drawn[quiet].get("fill") in swatches

    other = towns_drawn(parse(town_map_svg(directory, title="未対応", values={busy: 1, quiet: 8})))
    assert other[busy].get("fill") == drawn[quiet].get("fill")
    assert other[quiet].get("fill") == FILLS[-1]


def test_a_plain_map_has_no_legend(directory: Directory) -> None:
    root = parse(town_map_svg(directory, title="町"))
    assert root.find(f".//{SVG}g[@class='tsunagu-map-legend']") is None


@pytest.mark.parametrize(
    ("values", "bounds"),
    [([], []), ([0, 0], []), ([1], [1.0]), ([1, 2, 3, 4, 10], [3.0, 6.0, 9.0, 10.0]), ([5, 2], [2.0, 4.0, 5.0]),
     ([0.5, 2.0], [0.5, 1.0, 1.5, 2.0])],
)
def test_value_classes(values: list[float], bounds: list[float]) -> None:
    assert value_classes(values) == bounds


def test_points_land_inside_their_towns_and_highlights_are_outlined(directory: Directory) -> None:
    chosen = list(directory.towns)[::7]
    points = [
        MapPoint(directory.towns[town].latitude, directory.towns[town].longitude, f"目撃 {n}", kind="sighting")
        for n, town in enumerate(chosen, start=1)
    ]
    root = parse(town_map_svg(directory, title="目撃", points=points, highlight=[chosen[0]]))
    drawn = towns_drawn(root)
    marks = [group for group in root.iter(f"{SVG}g") if group.get("data-point")]

    assert len(marks) == len(chosen)
    for town_id, mark in zip(chosen, marks, strict=True):
        assert mark.find(f"{SVG}title").text.startswith("目撃")
        assert "tsunagu-map-point-sighting" in mark.get("class")
        dot = mark.find(f"{SVG}circle")
        centre = Point(float(dot.get("cx")), float(dot.get("cy")))
        inside = [town for town, path in drawn.items() if polygon_of(path).contains(centre)]
        assert inside == [town_id]
    assert drawn[chosen[0]].get("stroke-width") == "4"
    assert drawn[chosen[1]].get("stroke-width") == "1"


def test_a_reach_circle_and_a_point_outside_the_city_fit_in_the_view(directory: Directory) -> None:
    record = next(iter(directory.towns.values()))
    points = [MapPoint(record.latitude, record.longitude, "最後に見た場所", radius_km=3.0),
              MapPoint(record.latitude + 0.05, record.longitude - 0.05, "市外")]
    root = parse(town_map_svg(directory, title="警報", points=points))
    reach = root.find(f".//{SVG}circle[@class='tsunagu-map-reach']")
    x, y, r = (float(reach.get(name)) for name in ("cx", "cy", "r"))
    assert r > 0 and x - r >= 0 and y - r >= 0 and x + r <= VIEW_WIDTH and y + r <= VIEW_HEIGHT
    for mark in (group for group in root.iter(f"{SVG}g") if group.get("data-point")):
        dot = mark.find(f"{SVG}circle")
        assert 0 <= float(dot.get("cx")) <= VIEW_WIDTH and 0 <= float(dot.get("cy")) <= VIEW_HEIGHT


def test_only_some_towns_and_text_is_escaped(directory: Directory) -> None:
    ward = next(iter(directory.towns_by_ward.values()))
    ids = [option.town_id for option in ward]
    svg = town_map_svg(directory, title="<script>x</script>", towns=ids,
                       points=[MapPoint(directory.towns[ids[0]].latitude, directory.towns[ids[0]].longitude, "a&b<")])
    root = parse(svg)
    assert set(towns_drawn(root)) == set(ids)
    assert "<script>" not in svg
    assert root.get("aria-label") == "<script>x</script>"
    # Nothing the page would fetch: no external reference, no script.
    assert "http://" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in svg
    assert root.find(f".//{SVG}script") is None
