"""The probability that an uncertain origin lies in a region (a control area, a zone, a band
along the line): its 2-D Gaussian integrated over the region, not a point-in-polygon test of the
best estimate (docs/methods.md, Attribution).

The origin's east-north covariance C (m²) is factored C = L Lᵀ; a fixed set of standard normal
draws z_k (a scrambled Sobol sequence mapped through the normal quantile, the same for every
event, so results are reproducible) gives positions x_k = x̂ + R L z_k in the agreement's
conformal projection, R turning east-north into the grid's axes (the meridian convergence). The
probability is the share of draws inside the region. Events whose best estimate lies more than
`FAR_SIGMA` standard deviations (largest axis) from the region's boundary skip the draws: the
point test is then exact to better than 1e-8.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np
import shapely
from numpy.typing import NDArray
from scipy.special import ndtri
from scipy.stats import qmc
from shapely.geometry.base import BaseGeometry

from truceline.agreement.model import Agreement

F64 = NDArray[np.float64]

FAR_SIGMA = 6.0
"""Beyond this many sigma from a region's boundary the point test replaces the draws."""


@cache
def standard_draws(n: int) -> F64:
    """`n` fixed draws of a standard 2-D normal (n, 2): scrambled Sobol points, seed 0."""
    m = int(np.ceil(np.log2(max(n, 2))))
    sobol = qmc.Sobol(d=2, scramble=True, seed=0).random_base2(m)[:n]
    draws = ndtri(np.clip(sobol, 1e-12, 1 - 1e-12))
    draws.setflags(write=False)
    return draws


def covariance_2d(
    covariance: Sequence[Sequence[float]] | None, default_sigma_m: float, scale: float = 1.0
) -> F64:
    """The east-north block (2x2, m²) of an origin's covariance times `scale`; without one, a
    circle of `default_sigma_m`. A degenerate matrix is regularised to stay factorable."""
    if covariance is None:
        c = np.eye(2) * default_sigma_m**2
    else:
        c = np.asarray(covariance, float)[:2, :2] * scale
        c = (c + c.T) / 2
    if not np.all(np.isfinite(c)):
        c = np.eye(2) * default_sigma_m**2
    w, v = np.linalg.eigh(c)
    w = np.maximum(w, 1.0)  # at least 1 m one-sigma on each axis
    return (v * w) @ v.T


def covariances_2d(
    covariances: Sequence[Sequence[Sequence[float]] | None],
    default_sigma_m: float,
    scale: float = 1.0,
) -> F64:
    """`covariance_2d` of each of many origins' covariances at once, (n, 2, 2) m²: the same
    values, one eigen-decomposition of the whole stack instead of one call each."""
    n = len(covariances)
    c = np.empty((n, 2, 2))
    given = np.array([cov is not None for cov in covariances], bool)
    if given.any():
        raw = np.array([cov for cov in covariances if cov is not None], float)[:, :2, :2] * scale
        c[given] = (raw + raw.transpose(0, 2, 1)) / 2
    fallback = ~given | ~np.all(np.isfinite(c), axis=(1, 2))
    c[fallback] = np.eye(2) * default_sigma_m**2
    w, v = np.linalg.eigh(c)
    w = np.maximum(w, 1.0)  # at least 1 m one-sigma on each axis
    return (v * w[:, None, :]) @ v.transpose(0, 2, 1)


class Integrator:
    """Integrates origins' Gaussians over regions of one agreement, in its projection."""

    def __init__(self, agreement: Agreement, samples: int = 1024):
        self.agreement = agreement
        self.draws = standard_draws(samples)
        self._regions: dict[str, tuple[BaseGeometry, BaseGeometry]] = {}

    # -- regions, in the agreement's projection ------------------------------------------------

    def region(self, key: str) -> tuple[BaseGeometry, BaseGeometry]:
        """(area, its boundary) in the projection for `party:ID`, `zone:ID` or `band:KM`."""
        if key not in self._regions:
            kind, _, name = key.partition(":")
            a = self.agreement
            if kind == "party":
                geom = a.control_local[name]
            elif kind == "zone":
                geom = a.projection.to_local(a.zones[name].geometry)
            elif kind == "band":
                geom = shapely.buffer(a.line_local, float(name) * 1e3, quad_segs=16)
            else:
                raise ValueError(f"unknown region {key!r}")
            boundary = shapely.boundary(geom)
            shapely.prepare(geom)
            shapely.prepare(boundary)
            self._regions[key] = (geom, boundary)
        return self._regions[key]

    # -- the integral ----------------------------------------------------------------------------

    def frames(self, lon: F64, lat: F64) -> tuple[F64, F64, F64, F64]:
        """Best estimates in the projection (x, y) and the grid's unit east and north vectors
        at each (as complex numbers: x + iy)."""
        proj = self.agreement.projection
        x, y = proj.forward(lon, lat)
        xn, yn = proj.forward(lon, np.asarray(lat) + 1e-4)
        north = (np.asarray(xn) - x) + 1j * (np.asarray(yn) - y)
        north = north / np.abs(north)
        east = north * -1j  # north turned 90 degrees clockwise
        return np.asarray(x, float), np.asarray(y, float), east, north

    def probability(self, key: str, lon: F64, lat: F64, covariances: Sequence[F64] | F64) -> F64:
        """Probability that each origin lies in region `key`."""
        lon = np.atleast_1d(np.asarray(lon, float))
        lat = np.atleast_1d(np.asarray(lat, float))
        covs = np.asarray(covariances, float).reshape(-1, 2, 2)
        geom, boundary = self.region(key)
        x, y, east, north = self.frames(lon, lat)
        inside = shapely.contains_xy(geom, x, y).astype(float)
        limit = FAR_SIGMA * np.sqrt(np.linalg.eigvalsh(covs)[:, -1])
        # The prepared boundary's `dwithin` (a little wider) keeps the points that may be near;
        # their exact distance then decides, as for all points: the same set, far cheaper.
        points = shapely.points(x, y)
        maybe = np.flatnonzero(shapely.dwithin(boundary, points, limit * (1 + 1e-6)))
        gap = shapely.distance(boundary, points[maybe])
        near = maybe[gap < limit[maybe]]
        if near.size == 0:
            return inside
        chol = np.linalg.cholesky(covs[near])  # (m, 2, 2)
        enu = np.einsum("mij,kj->mki", chol, self.draws)  # (m, k, 2): east, north metres
        offset = enu[..., 0] * east[near, None] + enu[..., 1] * north[near, None]
        sx = x[near, None] + offset.real
        sy = y[near, None] + offset.imag
        inside[near] = shapely.contains_xy(geom, sx, sy).mean(axis=1)
        return inside

    def party_probabilities(
        self, lon: F64, lat: F64, covariances: Sequence[F64] | F64
    ) -> dict[str, F64]:
        """{party: probability the origin lies in its control area}; the rest is in no area."""
        return {
            party: self.probability(f"party:{party}", lon, lat, covariances)
            for party in self.agreement.control_areas
        }
