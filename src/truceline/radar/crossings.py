"""Where a track crosses the contact line or enters a zone (docs/methods.md, "Crossings").

A path (x, y in the agreement's projection, metres; times in ns) is given a *side* at each
point: the party whose control area holds it, but only when the point is at least `margin_m`
from the line; nearer, the side is undecided. A crossing is a change between two decided sides;
its point is the first intersection with the line of the path between the last point decided on
the old side and the first decided on the new one, its time interpolated along that path. This
hysteresis keeps measurement noise near the line from making crossings that never happened.
Zones work the same way with inside/outside and the zone's boundary.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray

from truceline.agreement.model import NO_PARTY, Agreement


@dataclass(frozen=True)
class Crossing:
    """One crossing: where (projection metres), when (ns), and the direction (`UA->RU`) or, for
    a zone, `enter`; `boundary` is `line` or the zone's id."""

    x: float
    y: float
    time_ns: int
    direction: str
    boundary: str = "line"


def _cross_point(
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    t: NDArray[np.int64],
    i0: int,
    i1: int,
    boundary: shapely.Geometry,
) -> tuple[float, float, int]:
    """The first point where the sub-path i0..i1 meets `boundary`, and its time."""
    sub = shapely.LineString(np.column_stack([x[i0 : i1 + 1], y[i0 : i1 + 1]]))
    hit = shapely.intersection(sub, boundary)
    pts = [g for g in shapely.get_parts(hit) if g.geom_type == "Point"]
    if not pts:  # touching along a segment, or numerically missed: the midpoint in time
        k = (i0 + i1) // 2
        return float(x[k]), float(y[k]), int(t[k])
    along = np.sort(shapely.line_locate_point(sub, np.array(pts, dtype=object)))[0]
    seg = np.hypot(np.diff(x[i0 : i1 + 1]), np.diff(y[i0 : i1 + 1]))
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    when = np.interp(along, cum, t[i0 : i1 + 1].astype(float))
    p = shapely.line_interpolate_point(sub, along)
    return float(shapely.get_x(p)), float(shapely.get_y(p)), round(when)


NEAR_SLACK_M = 1.0
"""`_far`: points farther than the margin plus this from a boundary by a prepared (indexed)
within-distance test need no exact distance."""


def _far(
    boundary: shapely.Geometry, x: NDArray[np.float64], y: NDArray[np.float64], margin_m: float
) -> NDArray[np.bool_]:
    """Whether each point is at least `margin_m` from `boundary` (`shapely.distance`, exactly
    as computed for every point): the distance is computed only for the points that an indexed
    test finds within `margin_m` + `NEAR_SLACK_M`; a boundary of thousands of vertices costs
    milliseconds per track otherwise."""
    pts = shapely.points(x, y)
    far = np.ones(x.shape, bool)
    shapely.prepare(boundary)
    near = np.flatnonzero(shapely.dwithin(boundary, pts, margin_m + NEAR_SLACK_M))
    far[near] = shapely.distance(boundary, pts[near]) >= margin_m
    return far


def sides(agreement: Agreement, x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray:
    """The party whose control area holds each point (`NO_PARTY` outside every area)."""
    out = np.full(x.shape, NO_PARTY, dtype=object)
    for party, geom in agreement.control_local.items():
        out[shapely.contains_xy(geom, x, y)] = party
    return out


def line_crossings(
    agreement: Agreement,
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    t: NDArray[np.int64],
    margin_m: float,
) -> list[Crossing]:
    """Crossings of the contact line by a path, in time order."""
    if x.size < 2:
        return []
    line = agreement.line_local
    far = _far(line, x, y, margin_m)
    side = sides(agreement, x, y)
    decided = np.flatnonzero(far & (side != NO_PARTY))
    out = []
    for a, b in itertools.pairwise(decided):
        if side[a] != side[b]:
            cx, cy, ct = _cross_point(x, y, t, int(a), int(b), line)
            out.append(Crossing(cx, cy, ct, f"{side[a]}->{side[b]}"))
    return out


def zone_entries(
    agreement: Agreement,
    zones_local: dict[str, shapely.Geometry],
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    t: NDArray[np.int64],
    margin_m: float,
) -> list[Crossing]:
    """Entries of a path into each zone (zones in the agreement's projection)."""
    out = []
    if x.size < 2:
        return out
    for zone_id, geom in zones_local.items():
        inside = shapely.contains_xy(geom, x, y)
        far = _far(geom.boundary, x, y, margin_m)
        decided = np.flatnonzero(far)
        for a, b in itertools.pairwise(decided):
            if not inside[a] and inside[b]:
                cx, cy, ct = _cross_point(x, y, t, int(a), int(b), geom.boundary)
                out.append(Crossing(cx, cy, ct, "enter", zone_id))
    return out


def origin_side(agreement: Agreement, x: NDArray[np.float64], y: NDArray[np.float64]) -> str:
    """The party on whose side a path began: that of its first point, else its first decided
    point; `NO_PARTY` if it never is in a control area."""
    side = sides(agreement, x, y)
    found = side[side != NO_PARTY]
    return str(found[0]) if found.size else NO_PARTY
