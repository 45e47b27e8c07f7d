"""The acoustic sensor network as arrays: positions in Earth-centred coordinates, timing errors,
and the neighbour graph that association links detections along."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import Delaunay, QhullError, cKDTree

from truceline.geo.projection import to_ecef
from truceline.records import Sensor


@dataclass(frozen=True)
class NeighbourGraph:
    """For each sensor i, its neighbours `index[start[i]:start[i+1]]` at `distance_m`."""

    start: NDArray[np.int64]
    index: NDArray[np.int64]
    distance_m: NDArray[np.float64]


class AcousticNetwork:
    """The acoustic sensors of a run, indexed 0..n-1 in the order given.

    Distances between sensors and sources are chord lengths in ECEF: for the tens of kilometres
    sound is heard over, the chord differs from the geodesic by under a millimetre.
    """

    def __init__(self, sensors: Sequence[Sensor]):
        self.sensors = list(sensors)
        self.ids = np.array([s.id for s in sensors], dtype=object)
        self.index_of = {s.id: i for i, s in enumerate(sensors)}
        self.lon = np.array([s.lon for s in sensors], dtype=float)
        self.lat = np.array([s.lat for s in sensors], dtype=float)
        self.timing_sigma_s = np.array([s.timing_sigma_s for s in sensors], dtype=float)
        self.operator = np.array([s.operator for s in sensors], dtype=object)
        self.ecef = to_ecef(self.lon, self.lat) if sensors else np.zeros((0, 3))
        self.tree = cKDTree(self.ecef) if sensors else None
        self._cells = None
        self._cell_ids: NDArray[np.int64] | None = None

    def __len__(self) -> int:
        return len(self.sensors)

    def cells(self) -> tuple[NDArray[np.float64], NDArray[np.float64], float, NDArray[np.int64],
                             NDArray[np.int64]]:  # fmt: skip
        """The sensors binned in cubes of ECEF space, for `kernel.sensors_within`: their
        positions ordered by cube, the grid's corner (m) and cube side (m), the number of cubes
        along each axis, and where each cube's sensors start in that order (cube k = (i *
        dims[1] + j) * dims[2] + l holds positions starts[k] to starts[k + 1]). Made once."""
        if self._cells is None:
            ecef = self.ecef if len(self) else np.zeros((1, 3))
            lo = ecef.min(axis=0)
            side = max(5_000.0, float((ecef.max(axis=0) - lo).max()) / 128)
            ijk = ((ecef - lo) // side).astype(np.int64)
            dims = ijk.max(axis=0) + 1
            cube = (ijk[:, 0] * dims[1] + ijk[:, 1]) * dims[2] + ijk[:, 2]
            order = np.argsort(cube, kind="stable")
            starts = np.searchsorted(cube[order], np.arange(int(np.prod(dims)) + 1))
            points = np.ascontiguousarray(self.ecef[order]) if len(self) else np.zeros((0, 3))
            self._cells = (points, lo, side, dims, starts.astype(np.int64))
            self._cell_ids = order.astype(np.int64) if len(self) else np.zeros(1, np.int64)
        return self._cells

    def cell_ids(self) -> NDArray[np.int64]:
        """The sensor (index) at each position of `cells`' points."""
        self.cells()
        return self._cell_ids

    def neighbours(self, k: int, max_distance_m: float, min_distance_m: float) -> NeighbourGraph:
        """Each sensor's neighbours, symmetric: its natural neighbours (Delaunay triangulation:
        for any disk, the sensors inside it form a connected subgraph, so the sensors that heard
        one sound are linked), its k nearest, and all within `min_distance_m`; none farther than
        `max_distance_m`."""
        n = len(self)
        sets: list[set[int]] = [set() for _ in range(n)]

        def link(i: int, j: int) -> None:
            if i != j:
                sets[i].add(j)
                sets[j].add(i)

        if n >= 2:
            dist, idx = self.tree.query(
                self.ecef, k=min(k + 1, n), distance_upper_bound=max_distance_m
            )
            for i in range(n):
                for j in idx[i][np.isfinite(dist[i])].tolist():
                    link(i, j)
            for i, near in enumerate(self.tree.query_ball_point(self.ecef, r=min_distance_m)):
                for j in near:
                    link(i, j)
        if n >= 4:
            lat0 = np.radians(np.mean(self.lat))
            plane = np.column_stack([self.lon * np.cos(lat0), self.lat])
            try:
                tri = Delaunay(plane)
                a = tri.simplices[:, [0, 1, 2]].ravel()
                b = tri.simplices[:, [1, 2, 0]].ravel()
                length = np.linalg.norm(self.ecef[a] - self.ecef[b], axis=1)
                for i, j in zip(
                    a[length <= max_distance_m].tolist(),
                    b[length <= max_distance_m].tolist(),
                    strict=True,
                ):
                    link(i, j)
            except QhullError:  # all sensors on one line: the k-nearest links suffice
                pass
        rows = [np.array(sorted(s), dtype=np.int64) for s in sets]
        dists = [np.linalg.norm(self.ecef[r] - self.ecef[i], axis=1) for i, r in enumerate(rows)]
        start = np.zeros(n + 1, dtype=np.int64)
        start[1:] = np.cumsum([r.size for r in rows])
        return NeighbourGraph(
            start,
            np.concatenate(rows) if rows else np.zeros(0, np.int64),
            np.concatenate(dists) if dists else np.zeros(0),
        )
