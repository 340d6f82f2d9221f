"""The city map of the staff console: an SVG drawn on the server from the directory's town polygons.

No tiles and nothing fetched from the internet: the towns' GeoJSON polygons (``towns.geojson``,
imported into the directory) are projected and written as SVG paths. One function serves every
page: the dashboard's choropleth of open cases per town, the case page's place, the alert desk's
last-seen place, radius and sightings.

The projection is equirectangular around the middle of what is drawn (the same one
``routing.geometry`` uses for distances), so one kilometre is the same length east-west and
north-south, and a radius in kilometres is a circle. The viewBox is fixed
(``VIEW_WIDTH`` × ``VIEW_HEIGHT``): pages size the map with CSS, and tests can compare
coordinates between maps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

from routing.snapshot import Directory

__all__ = [
    "FILL_NONE",
    "FILLS",
    "MAP_HEIGHT",
    "MAP_WIDTH",
    "VIEW_HEIGHT",
    "VIEW_WIDTH",
    "MapPoint",
    "Projection",
    "town_map_svg",
    "value_classes",
]

VIEW_WIDTH = 800
VIEW_HEIGHT = 600
# The map's own square on the left; the legend takes the column to its right.
MAP_WIDTH = 600
MAP_HEIGHT = 600
MARGIN = 16
LEGEND_X = MAP_WIDTH + 24
KM_PER_DEGREE_LAT = 110.574
KM_PER_DEGREE_LON_EQUATOR = 111.320

# A sequential blue scale (ColorBrewer "Blues", readable by colour-blind readers), lightest first.
# Towns with no value (or 0) stay pale grey, so "nothing here" is not mistaken for "a little".
FILL_NONE = "#f2f2f2"
FILLS = ("#c6dbef", "#6baed6", "#2171b5", "#08306b")
# Labels on the two darkest fills are white: black text on them falls below WCAG contrast.
_DARK_FILLS = frozenset(FILLS[2:])
FILL_PLAIN = "#eef3ea"
STROKE = "#5b6770"
HIGHLIGHT = "#c2185b"
POINT_FILL = "#d32f2f"


@dataclass(frozen=True)
class MapPoint:
    """A place to mark: a case's place, a last-seen place, a sighting.

    Attributes:
        latitude: WGS84 latitude.
        longitude: WGS84 longitude.
        label: the text shown next to the mark and read by screen readers (keep it short: no
            names or other personal data, pages show what their viewer may see).
        radius_km: when set, a dashed circle of this radius around the point (an alert's reach).
        kind: a CSS class suffix (``tsunagu-map-point-<kind>``), so a page can style sightings
            apart from the last-seen place.
    """

    latitude: float
    longitude: float
    label: str
    radius_km: float | None = None
    kind: str = "place"


@dataclass(frozen=True)
class Projection:
    """Longitude/latitude to viewBox coordinates, fitted to a bounding box inside the map square."""

    west: float
    north: float
    km_per_lon: float
    pixels_per_km: float
    offset_x: float
    offset_y: float

    @classmethod
    def fit(cls, bounds: tuple[float, float, float, float]) -> Projection:
        """The projection that fits ``(west, south, east, north)`` into the map square, centred."""
        west, south, east, north = bounds
        km_per_lon = KM_PER_DEGREE_LON_EQUATOR * math.cos(math.radians((south + north) / 2))
        width_km = max((east - west) * km_per_lon, 0.5)
        height_km = max((north - south) * KM_PER_DEGREE_LAT, 0.5)
        usable_w, usable_h = MAP_WIDTH - 2 * MARGIN, MAP_HEIGHT - 2 * MARGIN
        pixels_per_km = min(usable_w / width_km, usable_h / height_km)
        offset_x = MARGIN + (usable_w - (east - west) * km_per_lon * pixels_per_km) / 2
        offset_y = MARGIN + (usable_h - (north - south) * KM_PER_DEGREE_LAT * pixels_per_km) / 2
        return cls(west, north, km_per_lon, pixels_per_km, offset_x, offset_y)

    def __call__(self, longitude: float, latitude: float) -> tuple[float, float]:
        x = self.offset_x + (longitude - self.west) * self.km_per_lon * self.pixels_per_km
        y = self.offset_y + (self.north - latitude) * KM_PER_DEGREE_LAT * self.pixels_per_km
        return round(x, 1), round(y, 1)


def _rings(geometry: Mapping[str, Any] | None) -> list[list[list[Sequence[float]]]]:
    """The polygons of a GeoJSON Polygon or MultiPolygon, each a list of rings (outer first)."""
    if not geometry:
        return []
    if geometry.get("type") == "Polygon":
        return [geometry["coordinates"]]
    if geometry.get("type") == "MultiPolygon":
        return list(geometry["coordinates"])
    return []


def _bounds(directory: Directory, town_ids: Sequence[str], points: Sequence[MapPoint]) -> tuple[float, float, float, float]:
    lons: list[float] = []
    lats: list[float] = []
    for town_id in town_ids:
        polygons = _rings(directory.geometries.get(town_id))
        for polygon in polygons:
            for lon, lat, *_ in polygon[0]:
                lons.append(lon)
                lats.append(lat)
        if not polygons:
            record = directory.towns[town_id]
            lons.append(record.longitude)
            lats.append(record.latitude)
    for point in points:
        # A reach circle must fit too: a radius in km as degrees on each axis.
        reach = point.radius_km or 0.0
        dlat = reach / KM_PER_DEGREE_LAT
        dlon = reach / (KM_PER_DEGREE_LON_EQUATOR * math.cos(math.radians(point.latitude)))
        lons.extend((point.longitude - dlon, point.longitude + dlon))
        lats.extend((point.latitude - dlat, point.latitude + dlat))
    return min(lons), min(lats), max(lons), max(lats)


def value_classes(values: Iterable[float], classes: int = len(FILLS)) -> list[float]:
    """Upper bounds of the colour classes for positive values: equal steps up to the largest.

    Counts get whole-number bounds (1–2, 3–4 …) so the legend never says "1.5 cases".

    Args:
        values: the values shown (zero and negative values are not classed: they stay pale).
        classes: at most this many classes.

    Returns:
        Increasing upper bounds, one per class, the last one the largest value; empty when no
        value is positive.
    """
    positive = [value for value in values if value > 0]
    if not positive:
        return []
    top = max(positive)
    whole = all(float(value).is_integer() for value in positive)
    if whole:
        count = min(classes, int(top))
        step = math.ceil(top / count)
        bounds = [float(min(step * (index + 1), top)) for index in range(count)]
        return sorted(set(bounds))
    return [top * (index + 1) / classes for index in range(classes)]


def _class_of(value: float, bounds: Sequence[float]) -> int | None:
    if value <= 0 or not bounds:
        return None
    for index, upper in enumerate(bounds):
        if value <= upper + 1e-9:
            return index
    return len(bounds) - 1


def _fill_for(index: int | None, classes: int) -> str:
    if index is None:
        return FILL_NONE
    # Few classes take the darker end of the scale, so one class is never the palest blue.
    return FILLS[len(FILLS) - classes + index]


def _format_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _legend(bounds: Sequence[float], value_label: str, fmt: Callable[[float], str]) -> list[str]:
    parts = [f'<g class="tsunagu-map-legend" transform="translate({LEGEND_X},{MARGIN})">']
    parts.append(f'<text x="0" y="14" font-size="14" font-weight="bold">{escape(value_label)}</text>')
    rows: list[tuple[str, str]] = [(FILL_NONE, fmt(0))]
    lower = 0.0
    whole = all(float(upper).is_integer() for upper in bounds)
    for index, upper in enumerate(bounds):
        low = lower + 1 if whole else lower
        text = fmt(upper) if whole and low == upper else f"{fmt(low)}–{fmt(upper)}"
        rows.append((_fill_for(index, len(bounds)), text))
        lower = upper
    for row, (fill, text) in enumerate(rows):
        y = 30 + row * 26
        parts.append(f'<rect x="0" y="{y}" width="22" height="18" fill="{fill}" stroke="{STROKE}"/>')
        parts.append(f'<text x="30" y="{y + 14}" font-size="13">{escape(text)}</text>')
    parts.append("</g>")
    return parts


def town_map_svg(
    directory: Directory,
    *,
    title: str,
    values: Mapping[str, float] | None = None,
    value_label: str = "",
    value_format: Callable[[float], str] = _format_number,
    highlight: Iterable[str] = (),
    points: Sequence[MapPoint] = (),
    towns: Iterable[str] | None = None,
    css_class: str = "tsunagu-map",
) -> Markup:
    """The towns as an SVG map, optionally coloured by a value per town, with marked places.

    Args:
        directory: the loaded directory (``routing.snapshot.get_directory``): towns and polygons.
        title: what the map shows, e.g. 「未対応の相談（町別） / Open cases by town」; it is the
            SVG's ``<title>`` and ``aria-label``.
        values: a number per town id (a choropleth with a legend); towns not in it count as 0.
            None draws a plain map without a legend.
        value_label: the legend's heading (what the numbers are).
        value_format: how a value is written in labels and the legend.
        highlight: town ids drawn with a thick outline (the case's town, the alert's towns).
        points: places to mark, each with its label (and optional reach circle).
        towns: only these towns (e.g. one ward for the case page); default every town. The map
            is fitted to them and to the points.
        css_class: the ``class`` of the ``<svg>`` element.

    Returns:
        The ``<svg>`` element, safe to put into a Jinja2 template as it is.
    """
    wanted = set(towns) if towns is not None else None
    town_ids = [town_id for town_id in directory.towns if wanted is None or town_id in wanted]
    marked = set(highlight)
    # Highlighted towns are drawn last, so their neighbours' outlines do not cover theirs.
    town_ids.sort(key=lambda town_id: town_id in marked)
    if not town_ids and not points:
        raise ValueError("nothing to draw: no towns in the directory and no points")
    project = Projection.fit(_bounds(directory, town_ids, points))
    bounds = value_classes(values.values()) if values is not None else []
    label = escape(title)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {VIEW_WIDTH} {VIEW_HEIGHT}" '
        f'class="{escape(css_class)}" role="img" aria-label="{label}" '
        'font-family="sans-serif" preserveAspectRatio="xMidYMid meet">',
        f"<title>{label}</title>",
        '<g class="tsunagu-map-towns">',
    ]
    labels: list[str] = []
    for town_id in town_ids:
        record = directory.towns[town_id]
        value = values.get(town_id, 0) if values is not None else None
        index = _class_of(value, bounds) if value is not None else None
        fill = FILL_PLAIN if values is None else _fill_for(index, len(bounds))
        name = record.option.town
        tooltip = f"{name}（{record.option.ward}）" + (f": {value_format(value)}" if value is not None else "")
        is_marked = town_id in marked
        stroke = f'stroke="{HIGHLIGHT}" stroke-width="4"' if is_marked else f'stroke="{STROKE}" stroke-width="1"'
        css = "tsunagu-map-town tsunagu-map-highlight" if is_marked else "tsunagu-map-town"
        attributes = f'class="{css}" data-town="{escape(town_id)}" fill="{fill}" {stroke}'
        polygons = _rings(directory.geometries.get(town_id))
        if polygons:
            path = " ".join(
                "M" + " L".join("{},{}".format(*project(lon, lat)) for lon, lat, *_ in ring) + " Z"
                for polygon in polygons
                for ring in polygon
            )
            parts.append(f'<path d="{path}" fill-rule="evenodd" {attributes}><title>{escape(tooltip)}</title></path>')
        else:
            # A town the directory has no polygon for is still shown, as a dot at its centre.
            x, y = project(record.longitude, record.latitude)
            parts.append(f'<circle cx="{x}" cy="{y}" r="8" {attributes}><title>{escape(tooltip)}</title></circle>')
        # The directory's own centre of the town (towns.csv) anchors the label: a polygon's
        # centroid can fall outside a concave town.
        x, y = project(record.longitude, record.latitude)
        colour = "#ffffff" if fill in _DARK_FILLS else "#1a1a1a"
        labels.append(
            f'<text x="{x}" y="{y}" text-anchor="middle" font-size="12" fill="{colour}" '
            f'class="tsunagu-map-label" aria-hidden="true">{escape(name)}'
            + (f'<tspan x="{x}" dy="15" font-weight="bold">{escape(value_format(value))}</tspan>' if value is not None else "")
            + "</text>"
        )
    parts.append("</g>")
    parts.append('<g class="tsunagu-map-labels">')
    parts.extend(labels)
    parts.append("</g>")

    if points:
        parts.append('<g class="tsunagu-map-points">')
        for number, point in enumerate(points, start=1):
            x, y = project(point.longitude, point.latitude)
            kind = escape(point.kind)
            if point.radius_km:
                radius = round(point.radius_km * project.pixels_per_km, 1)
                parts.append(
                    f'<circle cx="{x}" cy="{y}" r="{radius}" fill="none" stroke="{HIGHLIGHT}" stroke-width="2" '
                    f'stroke-dasharray="6 4" class="tsunagu-map-reach"/>'
                )
            parts.append(
                f'<g class="tsunagu-map-point tsunagu-map-point-{kind}" data-point="{number}">'
                f"<title>{escape(point.label)}</title>"
                f'<circle cx="{x}" cy="{y}" r="7" fill="{POINT_FILL}" stroke="#ffffff" stroke-width="2"/>'
                f'<text x="{x + 10}" y="{y - 8}" font-size="13" font-weight="bold" fill="#1a1a1a" stroke="#ffffff" '
                f'stroke-width="3" paint-order="stroke">{escape(point.label)}</text></g>'
            )
        parts.append("</g>")

    if values is not None:
        parts.extend(_legend(bounds, value_label, value_format))
    parts.append("</svg>")
    return Markup("".join(parts))
