"""Town polygons in a spatial index: which town a point (a LINE location, a pin) lies in.

Kept apart from ``routing.snapshot`` because shapely and numpy cost a tenth of a second
to import; the snapshot builds this only the first time a location is resolved.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import shapely
from shapely.geometry import Point, shape

if TYPE_CHECKING:
    from routing.snapshot import TownRecord

__all__ = ["TownGeometry"]

KM_PER_DEGREE_LAT = 110.574
KM_PER_DEGREE_LON_EQUATOR = 111.320


@dataclass
class TownGeometry:
    """Town shapes projected to kilometres around the city, in a spatial index."""

    town_ids: list[str]
    tree: shapely.STRtree
    scale: tuple[float, float]  # km per degree of longitude, latitude

    @classmethod
    def build(cls, towns: Mapping[str, TownRecord], geometries: Mapping[str, Any]) -> TownGeometry:
        """Index every town: its polygon, or its centroid when it has none.

        Args:
            towns: the directory's towns, in the directory's order.
            geometries: GeoJSON geometry per town id.
        """
        # An equirectangular projection around the city's mean latitude: exact enough for
        # distances of a few kilometres, and it makes shapely's distances kilometres.
        origin_lat = sum(record.latitude for record in towns.values()) / len(towns)
        scale = (KM_PER_DEGREE_LON_EQUATOR * math.cos(math.radians(origin_lat)), KM_PER_DEGREE_LAT)
        town_ids, shapes = [], []
        for town_id, record in towns.items():
            geometry = geometries.get(town_id)
            # A town without a polygon still takes part as its centroid, for the nearest fallback.
            geom = shape(geometry) if geometry else Point(record.longitude, record.latitude)
            geom = shapely.transform(geom, lambda coords: coords * scale)
            shapely.prepare(geom)
            town_ids.append(town_id)
            shapes.append(geom)
        return cls(town_ids, shapely.STRtree(shapes), scale)

    def town_at(self, latitude: float, longitude: float) -> tuple[str, float]:
        """The town containing the point (distance 0), else the nearest one, with its distance in km.

        Points on a shared border go to the town first in the directory's order.
        """
        point = Point(longitude * self.scale[0], latitude * self.scale[1])
        hits = self.tree.query(point, predicate="intersects")
        if len(hits):
            return self.town_ids[int(min(hits))], 0.0
        index, distance = self.tree.query_nearest(point, return_distance=True, all_matches=False)
        return self.town_ids[int(index[0])], float(distance[0])
