"""The speed of sound for each event, from `weather` observations.

c(T) = 331.3 sqrt(1 + T / 273.15) m/s for air temperature T in degrees Celsius; the wind adds its
component along each path (the locator's model). For an event at place p and time t the model uses
the weather station nearest to p that has reported at or before t + `lookahead_s`, taking its
report nearest in time; with no reports it assumes `default_temperature_c` and no wind.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from truceline.locate.solver import SoundSpeed


@dataclass
class _Station:
    times_ns: list[int] = field(default_factory=list)
    temperature_c: list[float] = field(default_factory=list)
    wind: list[tuple[float, float]] = field(default_factory=list)


class Atmosphere:
    """Weather reports by station, queried for the sound speed at a place and time."""

    def __init__(self, default_temperature_c: float = 20.0, max_age_s: float = 6 * 3600.0):
        self.default = SoundSpeed.from_temperature(default_temperature_c)
        self.max_age_ns = int(max_age_s * 1e9)
        self._stations: dict[str, _Station] = {}
        self._positions: dict[str, tuple[float, float, float]] = {}
        self._tree: cKDTree | None = None
        self._points = np.zeros((0, 3))
        self._tree_ids: list[str] = []

    def add(
        self,
        station_id: str,
        ecef: tuple[float, float, float],
        time_ns: int,
        temperature_c: float,
        wind_mps: tuple[float, float] | None,
    ) -> None:
        """Record one report (any order)."""
        st = self._stations.setdefault(station_id, _Station())
        if station_id not in self._positions:
            self._positions[station_id] = ecef
            self._tree = None
        i = bisect.bisect(st.times_ns, time_ns)
        st.times_ns.insert(i, time_ns)
        st.temperature_c.insert(i, temperature_c)
        st.wind.insert(i, wind_mps or (0.0, 0.0))

    def sound_speed(self, ecef: np.ndarray, time_ns: int) -> SoundSpeed:
        """Sound speed and wind at a place (ECEF, m) and time."""
        if not self._stations:
            return self.default
        if self._tree is None:
            self._tree_ids = list(self._positions)
            self._points = np.array([self._positions[s] for s in self._tree_ids])
            self._tree = cKDTree(self._points)
        for i in np.atleast_1d(self._nearest(ecef, min(4, len(self._tree_ids)))):
            st = self._stations[self._tree_ids[int(i)]]
            j = bisect.bisect(st.times_ns, time_ns)
            candidates = [k for k in (j - 1, j) if 0 <= k < len(st.times_ns)]
            k = min(candidates, key=lambda k: abs(st.times_ns[k] - time_ns))
            if abs(st.times_ns[k] - time_ns) <= self.max_age_ns:
                we, wn = st.wind[k]
                return SoundSpeed.from_temperature(st.temperature_c[k], we, wn)
        return self.default

    def _nearest(self, ecef: np.ndarray, k: int) -> np.ndarray:
        """The k stations nearest `ecef`, nearest first, as the k-d tree's query gives them: by
        the squared distances to every station (a few dozen: ~5 us against the query's ~20),
        and by the tree where two of the first k + 1 are within 1e-9 of each other (rounding
        could then order them otherwise)."""
        if self._points.shape[0] > 256:
            return self._tree.query(ecef, k=k)[1]
        d = self._points - np.asarray(ecef, dtype=float).reshape(3)
        d2 = (d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1]) + d[:, 2] * d[:, 2]
        order = np.argsort(d2)
        near = d2[order[: k + 1]]
        if np.any(near[1:] - near[:-1] <= 1e-9 * near[1:]):
            return self._tree.query(ecef, k=k)[1]
        return order[:k] if k > 1 else order[0]
