"""The agreement's records: parties, rules, zones, and the `Agreement` with its derived geometry.

Geometry is held in WGS 84 (longitude, latitude degrees) and, for computing, in one Lambert
conformal conic projection fitted to the contact line (scale error under 0.1% over the line's band
of latitudes). Distances to the line are then refined geodesically: the nearest point on the line
is found in the projection and the distance measured on the ellipsoid (see docs/methods.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from pathlib import Path

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from shapely.geometry.base import BaseGeometry

from truceline.geo.projection import GEOD, LocalProjection, geodesic_distance_m

NO_PARTY = ""
"""Returned by `Agreement.party_at` for a point in no party's control area."""


class RuleKind(StrEnum):
    """The kinds of rule an agreement can state (contract section 1)."""

    NO_FIRE = "no-fire"
    NO_CROSSING = "no-crossing"
    WITHDRAWAL = "withdrawal"
    ZONE_EXCLUSION = "zone-exclusion"


@dataclass(frozen=True, slots=True)
class Party:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule of the agreement. `classes` and `min_distance_km` apply to withdrawal rules,
    `zone` to zone exclusions."""

    id: str
    article: str
    kind: RuleKind
    classes: tuple[str, ...] = ()
    min_distance_km: float | None = None
    zone: str | None = None

    def describe(self) -> str:
        """A short sentence stating the rule."""
        if self.kind is RuleKind.NO_FIRE:
            return "no firing after the ceasefire takes effect"
        if self.kind is RuleKind.NO_CROSSING:
            return "no military asset crosses the contact line, on the ground or in the air"
        if self.kind is RuleKind.WITHDRAWAL:
            classes = ", ".join(self.classes)
            return f"{classes} kept at least {self.min_distance_km:g} km from the line"
        return f"no military presence in zone '{self.zone}'"


@dataclass(frozen=True, slots=True)
class Zone:
    """A named area that rules refer to; `origin` says where it was defined."""

    id: str
    geometry: BaseGeometry
    origin: str


@dataclass(frozen=True, slots=True)
class Sector:
    """A stretch of the contact line from `start_km` to `end_km` (chainage along the line), with a
    local azimuthal equidistant projection centred on its midpoint."""

    index: int
    start_km: float
    end_km: float
    center_lon: float
    center_lat: float

    @property
    def name(self) -> str:
        return f"S{self.index + 1:02d} km {self.start_km:.0f}-{self.end_km:.0f}"

    def projection(self) -> LocalProjection:
        return LocalProjection.aeqd(self.center_lon, self.center_lat)


def geodesic_area_km2(geom: BaseGeometry) -> float:
    """Area of a WGS 84 (multi)polygon on the ellipsoid, km²."""
    area_m2, _ = GEOD.geometry_area_perimeter(shapely.normalize(geom))
    return abs(area_m2) / 1e6


def geodesic_length_km(geom: BaseGeometry) -> float:
    """Length of a WGS 84 (multi)linestring along geodesics between its vertices, km."""
    return GEOD.geometry_length(geom) / 1e3


@dataclass(frozen=True)
class Agreement:
    """A validated ceasefire agreement with its geography.

    Build one with `truceline.agreement.load_agreement`; the constructor trusts its inputs.
    """

    name: str
    effective_ns: int
    parties: tuple[Party, ...]
    rules: tuple[Rule, ...]
    control_areas: Mapping[str, BaseGeometry]
    line: BaseGeometry
    line_origin: str
    zones: Mapping[str, Zone]
    path: Path | None = None
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    # -- projections and projected geometry -------------------------------------------------

    @cached_property
    def projection(self) -> LocalProjection:
        """The conformal conic fitted to the contact line, used for geometry in metres."""
        min_lon, min_lat, max_lon, max_lat = self.line.bounds
        return LocalProjection.lcc_for((min_lon - 1, min_lat - 0.5, max_lon + 1, max_lat + 0.5))

    @cached_property
    def line_local(self) -> shapely.LineString:
        """The contact line in the agreement's projection, metres, as one ordered LineString."""
        local = self.projection.to_local(self.line)
        if isinstance(local, shapely.MultiLineString):
            merged = shapely.line_merge(local)
            if isinstance(merged, shapely.LineString):
                return merged
            # Disjoint stretches: join them in order along their own geometry.
            coords = [c for part in merged.geoms for c in part.coords]
            return shapely.LineString(coords)
        return local

    @cached_property
    def control_local(self) -> dict[str, BaseGeometry]:
        areas = {p: self.projection.to_local(g) for p, g in self.control_areas.items()}
        for geom in areas.values():
            shapely.prepare(geom)
        return areas

    # -- measures ------------------------------------------------------------------------------

    @cached_property
    def line_length_km(self) -> float:
        return geodesic_length_km(self.line)

    def party_area_km2(self, party: str) -> float:
        return geodesic_area_km2(self.control_areas[party])

    def party(self, party_id: str) -> Party:
        for p in self.parties:
            if p.id == party_id:
                return p
        raise KeyError(f"agreement '{self.name}' has no party '{party_id}'")

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(f"agreement '{self.name}' has no rule '{rule_id}'")

    # -- points against the line ----------------------------------------------------------------

    def nearest_on_line(
        self, lon: ArrayLike, lat: ArrayLike
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The nearest point of the contact line to each point, WGS 84 degrees."""
        x, y = self.projection.forward(lon, lat)
        points = shapely.points(np.atleast_1d(x), np.atleast_1d(y))
        along = shapely.line_locate_point(self.line_local, points)
        nearest = shapely.line_interpolate_point(self.line_local, along)
        return self.projection.inverse(shapely.get_x(nearest), shapely.get_y(nearest))

    def distance_to_line_m(self, lon: ArrayLike, lat: ArrayLike) -> NDArray[np.float64]:
        """Geodesic distance from each point to the nearest point of the contact line, metres."""
        lon_a, lat_a = np.atleast_1d(np.asarray(lon, float)), np.atleast_1d(np.asarray(lat, float))
        near_lon, near_lat = self.nearest_on_line(lon_a, lat_a)
        return geodesic_distance_m(lon_a, lat_a, near_lon, near_lat)

    def chainage_km(self, lon: ArrayLike, lat: ArrayLike) -> NDArray[np.float64]:
        """Position along the line (km from its start) of each point's nearest point on it."""
        x, y = self.projection.forward(lon, lat)
        points = shapely.points(np.atleast_1d(x), np.atleast_1d(y))
        return shapely.line_locate_point(self.line_local, points) / 1e3

    def point_at_chainage(self, km: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The point of the line `km` along it from its start, WGS 84 degrees."""
        pts = shapely.line_interpolate_point(self.line_local, np.atleast_1d(km) * 1e3)
        return self.projection.inverse(shapely.get_x(pts), shapely.get_y(pts))

    def party_at(self, lon: ArrayLike, lat: ArrayLike) -> NDArray[np.str_]:
        """Id of the party whose control area holds each point; `NO_PARTY` ("") for none."""
        lon_a, lat_a = np.atleast_1d(np.asarray(lon, float)), np.atleast_1d(np.asarray(lat, float))
        out = np.full(lon_a.shape, NO_PARTY, dtype=object)
        for party_id, geom in self.control_areas.items():
            shapely.prepare(geom)
            out[shapely.contains_xy(geom, lon_a, lat_a)] = party_id
        return out.astype(str)

    # -- zones ------------------------------------------------------------------------------------

    def band(self, distance_km: float, party: str | None = None) -> BaseGeometry:
        """The area within `distance_km` of the line, on `party`'s side only or on all sides
        (clipped to the control areas), WGS 84."""
        key = ("band", distance_km, party)
        if key not in self._cache:
            buffer = shapely.buffer(self.line_local, distance_km * 1e3, quad_segs=16)
            parties = [party] if party is not None else list(self.control_local)
            parts = [shapely.intersection(buffer, self.control_local[p]) for p in parties]
            self._cache[key] = self.projection.to_wgs84(shapely.union_all(parts))
        return self._cache[key]

    def withdrawal_zone(self, rule: Rule | str, party: str | None = None) -> BaseGeometry:
        """The area a withdrawal rule keeps its weapon classes out of, WGS 84."""
        rule = self.rule(rule) if isinstance(rule, str) else rule
        if rule.kind is not RuleKind.WITHDRAWAL or rule.min_distance_km is None:
            raise ValueError(f"rule '{rule.id}' is not a withdrawal rule")
        return self.band(rule.min_distance_km, party)

    def sectors(self, length_km: float = 100.0) -> list[Sector]:
        """The line cut into sectors of about `length_km` each, in order from its start."""
        total_km = self.line_local.length / 1e3
        count = max(1, round(total_km / length_km))
        edges = np.linspace(0.0, total_km, count + 1)
        mid_lon, mid_lat = self.point_at_chainage((edges[:-1] + edges[1:]) / 2)
        return [
            Sector(i, float(edges[i]), float(edges[i + 1]), float(mid_lon[i]), float(mid_lat[i]))
            for i in range(count)
        ]

    def summary(self) -> dict:
        """The facts `truceline agreement show` prints, as plain data."""
        from truceline.timeutil import format_time

        return {
            "name": self.name,
            "effective": format_time(self.effective_ns),
            "line_length_km": round(self.line_length_km, 1),
            "line_origin": self.line_origin,
            "parties": [
                {"id": p.id, "name": p.name, "area_km2": round(self.party_area_km2(p.id), 0)}
                for p in self.parties
            ],
            "zones": [
                {
                    "id": z.id,
                    "area_km2": round(geodesic_area_km2(z.geometry), 1),
                    "origin": z.origin,
                }
                for z in self.zones.values()
            ],
            "rules": [
                {"id": r.id, "article": r.article, "kind": str(r.kind), "statement": r.describe()}
                for r in self.rules
            ],
        }
