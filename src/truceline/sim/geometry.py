"""Geometry for the simulator: the sector's frame along the line, Earth-centred coordinates.

Placement (sensors, batteries, targets) is done in the agreement's conformal projection, in
metres, relative to the line: a chainage along it and a depth to one side. Physics (distances,
directions, radar geometry) is done in Earth-centred, Earth-fixed (ECEF) coordinates on WGS 84
through pyproj, so that no projection error enters arrival times.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

from truceline.agreement.model import Agreement
from truceline.errors import UsageError
from truceline.sim.scenario import Scenario

COORD_DECIMALS = 7
"""Longitudes and latitudes are rounded to 1e-7 degrees (about 1 cm) before any use, so that the
positions written are exactly the ones the physics used."""


def round_coords(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray[np.float64], ...]:
    return (
        np.round(np.asarray(lon, float), COORD_DECIMALS),
        np.round(np.asarray(lat, float), COORD_DECIMALS),
    )


@dataclass
class SectorFrame:
    """The simulated stretch of the line: chainage from `start_km` to `end_km` of the agreement's
    line, which party lies on its left (looking along increasing chainage) and which on its
    right, and placement of points by chainage and depth in the agreement's projection."""

    agreement: Agreement
    start_km: float
    end_km: float
    left_party: str
    right_party: str

    @classmethod
    def build(cls, agreement: Agreement, scenario: Scenario) -> SectorFrame:
        total_km = agreement.line_local.length / 1e3
        spec = scenario.sector
        if spec == "all":
            start, end = 0.0, total_km
        elif spec.around is not None:
            centre = float(agreement.chainage_km(*spec.around)[0])
            half = spec.length_km / 2
            start, end = max(0.0, centre - half), min(total_km, centre + half)
            start, end = max(0.0, end - spec.length_km), min(total_km, start + spec.length_km)
        else:
            start, end = spec.start_km, min(spec.end_km, total_km)
            if start >= total_km:
                raise UsageError(
                    f"sector start_km {start} is beyond the end of the line ({total_km:.1f} km)"
                )
        frame = cls(agreement, float(start), float(end), "", "")
        frame.left_party, frame.right_party = frame._sides()
        return frame

    @property
    def length_km(self) -> float:
        return self.end_km - self.start_km

    def _sides(self) -> tuple[str, str]:
        km = (
            np.linspace(self.start_km, self.end_km, 41)[1:-1]
            if self.length_km > 0.1
            else np.array([self.start_km])
        )
        votes = []
        for sign in (1.0, -1.0):
            x, y = self.offset(km, sign * 3.0)
            lon, lat = self.agreement.projection.inverse(x, y)
            parties = self.agreement.party_at(lon, lat)
            parties = parties[parties != ""]
            if parties.size == 0:
                raise UsageError("no control area lies beside the sector's line")
            values, counts = np.unique(parties, return_counts=True)
            votes.append(str(values[np.argmax(counts)]))
        if votes[0] == votes[1]:
            raise UsageError(f"both sides of the sector's line belong to '{votes[0]}'")
        return votes[0], votes[1]

    def sign(self, party: str) -> float:
        """+1 if `party` is on the left of the line, -1 if on the right."""
        if party == self.left_party:
            return 1.0
        if party == self.right_party:
            return -1.0
        raise UsageError(
            f"party '{party}' is on neither side of the sector's line "
            f"({self.left_party} left, {self.right_party} right)"
        )

    def other(self, party: str) -> str:
        return self.right_party if party == self.left_party else self.left_party

    def point(self, km: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Projected (x, y) of the line at chainage `km`, metres."""
        km = np.clip(
            np.atleast_1d(np.asarray(km, float)), 0.0, self.agreement.line_local.length / 1e3
        )
        pts = shapely.line_interpolate_point(self.agreement.line_local, km * 1e3)
        return shapely.get_x(pts), shapely.get_y(pts)

    def left_normal(
        self, km: ArrayLike, half_window_km: float = 1.0
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Unit normal pointing left of the line at chainage `km` (tangent over ±window)."""
        km = np.atleast_1d(np.asarray(km, float))
        xa, ya = self.point(km - half_window_km)
        xb, yb = self.point(km + half_window_km)
        tx, ty = xb - xa, yb - ya
        norm = np.hypot(tx, ty)
        norm[norm == 0] = 1.0
        return -ty / norm, tx / norm

    def offset(
        self, km: ArrayLike, signed_depth_km: ArrayLike
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Projected (x, y) at chainage `km`, `signed_depth_km` to the left (negative: right)."""
        x, y = self.point(km)
        nx, ny = self.left_normal(km)
        d = np.asarray(signed_depth_km, float) * 1e3
        return x + nx * d, y + ny * d

    def to_lonlat(self, x: ArrayLike, y: ArrayLike) -> tuple[NDArray[np.float64], ...]:
        lon, lat = self.agreement.projection.inverse(x, y)
        return round_coords(lon, lat)

    def place(
        self,
        rng: np.random.Generator,
        party: str,
        km: NDArray[np.float64],
        depth_km: NDArray[np.float64],
        lateral_sigma_m: float = 0.0,
        min_fraction: float = 0.5,
    ) -> tuple[NDArray[np.float64], ...]:
        """Points (lon, lat) on `party`'s side at chainage `km` and depth `depth_km` (plus a
        random lateral displacement), each inside `party`'s control area and at least
        `min_fraction` of its depth from the line. Points failing that are redrawn at a new
        chainage near the first, up to 10 times with the depth shrunk by a quarter each time;
        the last resort accepts any point not in the other party's area."""
        km = np.asarray(km, float).copy()
        depth = np.asarray(depth_km, float).copy()
        n = km.size
        lon = np.zeros(n)
        lat = np.zeros(n)
        todo = np.arange(n)
        sgn = self.sign(party)
        other = self.other(party)
        for attempt in range(11):
            if todo.size == 0:
                break
            x, y = self.offset(km[todo], sgn * depth[todo])
            if lateral_sigma_m > 0:
                x = x + rng.normal(0.0, lateral_sigma_m, todo.size)
                y = y + rng.normal(0.0, lateral_sigma_m, todo.size)
            lo, la = self.to_lonlat(x, y)
            owner = self.agreement.party_at(lo, la)
            if attempt < 10:
                ok = owner == party
                if min_fraction > 0 and np.any(ok):
                    dist = self.agreement.distance_to_line_m(lo[ok], la[ok]) / 1e3
                    ok[np.flatnonzero(ok)] = dist >= min_fraction * depth[todo][ok]
            else:
                ok = owner != other
            lon[todo[ok]], lat[todo[ok]] = lo[ok], la[ok]
            todo = todo[~ok]
            km[todo] = np.clip(
                km[todo] + rng.normal(0.0, 2.0, todo.size), self.start_km, self.end_km
            )
            depth[todo] *= 0.75
        if todo.size:  # nothing acceptable: put them on the line's own side at 100 m
            x, y = self.offset(km[todo], sgn * 0.1)
            lon[todo], lat[todo] = self.to_lonlat(x, y)
        return lon, lat
