"""Where a counter-battery radar first saw a projectile: its search fence as one more
measurement of the flight (docs/methods.md, Radar, "The search fence").

A counter-battery radar acquires a projectile when it enters its coverage: when it rises above
the search fence (elevation ≥ the fence's), comes within range, or turns into the sector. It
looks every `revisit_s`, so the flight entered the coverage between the look before the track's
first point and that point: at a time uniform in (t₁ − Δ, t₁]. That the projectile was *not* seen
one look earlier is information the points do not hold. It enters the fit as one residual:
the boundary the flight crossed (elevation = fence, slant range = range, or azimuth = a sector
edge), whose value g at the time t₁ − Δ/2 equals the boundary's b within the spread of the
uniform time, |dg/dt| Δ/√12. Linearised around the fit's starting flight (a quadratic in time)
as a plane: residual = n·(p(t₁ − Δ/2) − z), n = ∇g / σ_g, z the point of that plane on the
boundary; the boundary's curvature over the start's error (tens of metres, against a radius of
kilometres) is well under a metre.

Which boundary: each condition's margin (elevation − fence, range − slant range, half width −
|azimuth − facing|) along the starting flight at t₁ − Δ and t₁; the one the flight crossed last,
rising, is taken, if it crossed within a few looks of t₁. A track that no condition explains
(its start says it was inside the coverage well before) gets no fence residual.

Geometry: points of a track's frame (east, north in its tangent plane, up = altitude) are placed
in Earth-centred coordinates (the surface's drop below the plane, the local vertical tilted by
the distance over the Earth's radius), then seen from the radar in its own east-north-up frame
at its own height, as the simulator computes visibility.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from numpy.typing import NDArray

from truceline.geo.projection import TangentPlane, enu_basis, to_ecef

EARTH_RADIUS_M = 6_371_000.0
MAX_LOOKS = 3.0
"""The boundary the start says the flight crossed last must have been crossed within this many
looks before the first point (or after it: the start's own error); otherwise no fence term."""


@dataclass(frozen=True, slots=True)
class Fence:
    """A counter-battery radar's coverage: position (deg, m above the ellipsoid), sector facing
    and width (deg), range (m), search-fence elevation (deg) and the time between its looks
    at the fence (s)."""

    lon: float
    lat: float
    height_m: float
    facing_deg: float
    width_deg: float
    range_m: float
    elevation_deg: float
    revisit_s: float


@dataclass(frozen=True, slots=True)
class FenceTerm:
    """One fence residual of a track: time (s from the track's reference time), the plane's
    point z (3,) and its normal over sigma n (3,), residual n·(p(time) − z)."""

    time_s: float
    point: NDArray[np.float64]
    normal: NDArray[np.float64]
    boundary: str


def _view(plane: TangentPlane, fence: Fence, pts: NDArray[np.float64]) -> NDArray[np.float64]:
    """Margins (m, 3) of track-frame points (m, 3) inside the radar's coverage: elevation above
    the fence (deg), range left (m), angle inside the sector's edge (deg)."""
    e, n, h = pts[:, 0], pts[:, 1], pts[:, 2]
    rot = plane.rotation  # rows: east, north, up (ECEF)
    surface = plane.origin + np.column_stack([e, n, -(e * e + n * n) / (2 * EARTH_RADIUS_M)]) @ rot
    up = rot[2] + (e[:, None] * rot[0] + n[:, None] * rot[1]) / EARTH_RADIUS_M
    up /= np.linalg.norm(up, axis=1, keepdims=True)
    xyz = surface + h[:, None] * up
    origin, basis = _radar_frame(fence.lon, fence.lat, fence.height_m)
    rel = (xyz - origin) @ basis.T
    slant = np.linalg.norm(rel, axis=1)
    el = np.degrees(np.arcsin(np.clip(rel[:, 2] / np.maximum(slant, 1e-9), -1.0, 1.0)))
    az = np.degrees(np.arctan2(rel[:, 0], rel[:, 1]))
    off = np.abs((az - fence.facing_deg + 180.0) % 360.0 - 180.0)
    return np.column_stack(
        [el - fence.elevation_deg, fence.range_m - slant, fence.width_deg / 2 - off]
    )


@cache
def _radar_frame(lon: float, lat: float, height_m: float) -> tuple[NDArray, NDArray]:
    """A radar's ECEF position and its east-north-up basis (rows)."""
    return to_ecef(lon, lat, height_m)[0], enu_basis(lon, lat)[0]


BOUNDARIES = ("fence", "range", "sector")


def fence_term(
    plane: TangentPlane,
    fence: Fence,
    t_first_s: float,
    start,
) -> FenceTerm | None:
    """The fence residual of a track whose first point is at `t_first_s` (s from its reference
    time); `start(t)` gives the starting flight's positions (m, 3) and velocities (m, 3) at
    times t (m,). None where no boundary explains the acquisition."""
    look = fence.revisit_s
    if not look > 0:
        return None
    tc = t_first_s - 0.5 * look
    # The start at the two looks and at tc, and the margins there and one metre off tc along
    # each axis, in one call each (row by row the same numbers as one call per use).
    pos, vel = start(np.array([t_first_s - look, t_first_s, tc]))
    p, v = pos[2], vel[2]
    step = 1.0
    seen = _view(plane, fence, np.vstack([pos[:2], p, p + np.diag([step] * 3)]))
    margin = seen[:2]
    times = np.array([t_first_s - look, t_first_s])
    rising = margin[1] > margin[0]
    # When each condition became true along the start (linear between the two looks).
    with np.errstate(divide="ignore", invalid="ignore"):
        crossed = times[0] + look * (-margin[0]) / (margin[1] - margin[0])
    crossed = np.where(rising, crossed, -np.inf)
    k = int(np.argmax(crossed))
    if not np.isfinite(crossed[k]) or not (
        t_first_s - MAX_LOOKS * look <= crossed[k] <= t_first_s + MAX_LOOKS * look
    ):
        return None
    g = seen[2:, k]
    grad = (g[1:] - g[0]) / step
    rate = float(grad @ v)
    sigma = abs(rate) * look / np.sqrt(12.0)
    norm2 = float(grad @ grad)
    if not (sigma > 0 and norm2 > 0):
        return None
    point = p - grad * g[0] / norm2
    return FenceTerm(float(tc), point, grad / sigma, BOUNDARIES[k])
