"""Projections and geodesics on the WGS 84 ellipsoid, through pyproj (PROJ and GeographicLib).

Computation happens in metres in a local projection; every boundary speaks WGS 84 longitude and
latitude in degrees. Geodesic distances and azimuths come from `pyproj.Geod` (Karney's algorithm,
accurate to nanometres), never from a spherical approximation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from pyproj import CRS, Geod, Transformer

GEOD = Geod(ellps="WGS84")
WGS84 = CRS.from_epsg(4326)

G = TypeVar("G", bound=shapely.Geometry)

COMPASS_16 = (
    "N",
    "NNE",
    "NE",
    "ENE",
    "E",
    "ESE",
    "SE",
    "SSE",
    "S",
    "SSW",
    "SW",
    "WSW",
    "W",
    "WNW",
    "NW",
    "NNW",
)


def geodesic_distance_m(
    lon1: ArrayLike, lat1: ArrayLike, lon2: ArrayLike, lat2: ArrayLike
) -> NDArray[np.float64]:
    """Geodesic distance on WGS 84, metres; inputs in degrees, broadcast against each other."""
    lon1, lat1, lon2, lat2 = np.broadcast_arrays(
        *(np.asarray(a, dtype=float) for a in (lon1, lat1, lon2, lat2))
    )
    _, _, dist = GEOD.inv(lon1, lat1, lon2, lat2)
    return np.asarray(dist, dtype=float)


def geodesic_azimuth_deg(
    lon1: ArrayLike, lat1: ArrayLike, lon2: ArrayLike, lat2: ArrayLike
) -> NDArray[np.float64]:
    """Forward azimuth from point 1 to point 2, degrees clockwise from north in [0, 360)."""
    lon1, lat1, lon2, lat2 = np.broadcast_arrays(
        *(np.asarray(a, dtype=float) for a in (lon1, lat1, lon2, lat2))
    )
    az, _, _ = GEOD.inv(lon1, lat1, lon2, lat2)
    return np.mod(np.asarray(az, dtype=float), 360.0)


def destination(
    lon: ArrayLike, lat: ArrayLike, azimuth_deg: ArrayLike, distance_m: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The point `distance_m` along the geodesic leaving (lon, lat) at `azimuth_deg`."""
    args = np.broadcast_arrays(
        *(np.asarray(a, dtype=float) for a in (lon, lat, azimuth_deg, distance_m))
    )
    lon2, lat2, _ = GEOD.fwd(*args)
    return np.asarray(lon2, dtype=float), np.asarray(lat2, dtype=float)


def compass_point(azimuth_deg: float) -> str:
    """The 16-point compass direction (N, NNE, ..., NNW) nearest to an azimuth in degrees."""
    return COMPASS_16[int(np.floor(((azimuth_deg % 360.0) + 11.25) / 22.5)) % 16]


class LocalProjection:
    """A projected coordinate system in metres for computing near a place.

    `aeqd` (azimuthal equidistant) keeps distances and azimuths from its centre exact, and is the
    choice for a sector of the line or a sensor network; `lcc_for` is a Lambert conformal conic
    whose standard parallels bracket a region, keeping the scale error over a band of latitudes
    small (under 0.1% across 46-51 N); `tmerc` is a transverse Mercator on a central meridian.
    """

    def __init__(self, crs: CRS, name: str):
        self.crs = crs
        self.name = name
        self._fwd = Transformer.from_crs(WGS84, crs, always_xy=True)
        self._inv = Transformer.from_crs(crs, WGS84, always_xy=True)

    def __repr__(self) -> str:
        return f"LocalProjection({self.name!r})"

    @classmethod
    def aeqd(cls, lon0: float, lat0: float) -> LocalProjection:
        crs = CRS.from_proj4(
            f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs"
        )
        return cls(crs, f"aeqd {lon0:.4f},{lat0:.4f}")

    @classmethod
    def tmerc(cls, lon0: float, lat0: float = 0.0) -> LocalProjection:
        crs = CRS.from_proj4(
            f"+proj=tmerc +lat_0={lat0} +lon_0={lon0} +k=1 +x_0=0 +y_0=0 "
            "+ellps=WGS84 +units=m +no_defs"
        )
        return cls(crs, f"tmerc {lon0:.4f},{lat0:.4f}")

    @classmethod
    def lcc_for(cls, bounds: tuple[float, float, float, float]) -> LocalProjection:
        """A conformal conic fitted to lon/lat bounds (min_lon, min_lat, max_lon, max_lat)."""
        min_lon, min_lat, max_lon, max_lat = bounds
        span = max_lat - min_lat
        lat1, lat2 = min_lat + span / 6, max_lat - span / 6
        if abs(lat2 - lat1) < 1e-6:  # a narrow band: the conic degenerates to one parallel
            lat2 = lat1 + 1e-3
        lon0, lat0 = (min_lon + max_lon) / 2, (min_lat + max_lat) / 2
        crs = CRS.from_proj4(
            f"+proj=lcc +lat_1={lat1:.6f} +lat_2={lat2:.6f} +lat_0={lat0:.6f} "
            f"+lon_0={lon0:.6f} +x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs"
        )
        return cls(crs, f"lcc {lat1:.2f}/{lat2:.2f} at {lon0:.2f}")

    def forward(
        self, lon: ArrayLike, lat: ArrayLike
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """WGS 84 degrees to projected metres."""
        x, y = self._fwd.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
        return np.asarray(x, dtype=float), np.asarray(y, dtype=float)

    def inverse(
        self, x: ArrayLike, y: ArrayLike
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Projected metres to WGS 84 degrees."""
        lon, lat = self._inv.transform(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
        return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)

    def to_local(self, geom: G) -> G:
        """A WGS 84 geometry in this projection's metres."""
        return shapely.transform(geom, lambda xy: np.column_stack(self.forward(xy[:, 0], xy[:, 1])))

    def to_wgs84(self, geom: G) -> G:
        """A geometry in this projection's metres back in WGS 84 degrees."""
        return shapely.transform(geom, lambda xy: np.column_stack(self.inverse(xy[:, 0], xy[:, 1])))


_TO_ECEF = Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)
_FROM_ECEF = Transformer.from_crs("EPSG:4978", "EPSG:4979", always_xy=True)


def to_ecef(lon: ArrayLike, lat: ArrayLike, height_m: ArrayLike = 0.0) -> NDArray[np.float64]:
    """WGS 84 longitude, latitude (deg) and ellipsoidal height (m), broadcast against each other,
    to ECEF points of shape (n, 3), metres (n the broadcast size, inputs flattened)."""
    if np.size(lon) == 1 and np.size(lat) == 1 and np.size(height_m) == 1:
        # one point: pyproj's point path (the same PROJ operation, without the arrays' overhead)
        point = _TO_ECEF.transform(
            float(np.ravel(lon)[0]), float(np.ravel(lat)[0]), float(np.ravel(height_m)[0])
        )
        return np.array([point])
    lon_a, lat_a, h = np.broadcast_arrays(
        np.atleast_1d(np.asarray(lon, float)),
        np.asarray(lat, float),
        np.asarray(height_m, float),
    )
    x, y, z = _TO_ECEF.transform(lon_a, lat_a, h)
    return np.column_stack([np.ravel(x), np.ravel(y), np.ravel(z)])


def from_ecef(
    ecef: ArrayLike,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """ECEF (n, 3) metres to WGS 84 longitude, latitude (deg) and ellipsoidal height (m)."""
    p = np.atleast_2d(np.asarray(ecef, float))
    if p.shape[0] == 1:  # one point: pyproj's point path (the same PROJ operation)
        lon, lat, h = _FROM_ECEF.transform(float(p[0, 0]), float(p[0, 1]), float(p[0, 2]))
        return np.array([lon]), np.array([lat]), np.array([h])
    lon, lat, h = _FROM_ECEF.transform(p[:, 0], p[:, 1], p[:, 2])
    return np.asarray(lon), np.asarray(lat), np.asarray(h)


def enu_basis(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.float64]:
    """Unit vectors east, north, up in ECEF at geodetic lon/lat (deg): shape (n, 3, 3), indexed
    [point, axis, xyz]."""
    if np.size(lon) == 1 and np.size(lat) == 1:
        return _enu_rotation(float(np.ravel(lon)[0]), float(np.ravel(lat)[0]))[None]
    lam = np.radians(np.atleast_1d(np.asarray(lon, float)))
    phi = np.radians(np.atleast_1d(np.asarray(lat, float)))
    sl, cl, sp, cp = np.sin(lam), np.cos(lam), np.sin(phi), np.cos(phi)
    east = np.stack([-sl, cl, np.zeros_like(sl)], axis=-1)
    north = np.stack([-sp * cl, -sp * sl, cp], axis=-1)
    up = np.stack([cp * cl, cp * sl, sp], axis=-1)
    return np.stack([east, north, up], axis=1)


def _enu_rotation(lon: float, lat: float) -> NDArray[np.float64]:
    """`enu_basis` of one point (3, 3): the same ufuncs on NumPy scalars, so the same numbers,
    without the small arrays' overhead."""
    lam, phi = np.radians(np.float64(lon)), np.radians(np.float64(lat))
    sl, cl, sp, cp = np.sin(lam), np.cos(lam), np.sin(phi), np.cos(phi)
    return np.array([[-sl, cl, 0.0], [-sp * cl, -sp * sl, cp], [cp * cl, cp * sl, sp]])


class TangentPlane:
    """East-north coordinates (m) in the plane tangent to the ellipsoid at (lon0, lat0).

    A rotation of Earth-centred coordinates (themselves from pyproj), so it is cheap to make and
    to apply. Within 10 km of the tangent point the horizontal coordinates differ from surface
    distances by millimetres (R sin(d/R) versus d), which is why the locator uses it per event.
    """

    __slots__ = ("lat0", "lon0", "origin", "rotation")

    def __init__(self, lon0: float, lat0: float):
        self.lon0, self.lat0 = float(lon0), float(lat0)
        self.rotation = _enu_rotation(self.lon0, self.lat0)
        self.origin = np.array(_TO_ECEF.transform(self.lon0, self.lat0, 0.0))

    @classmethod
    def many(cls, lon0: ArrayLike, lat0: ArrayLike) -> list[TangentPlane]:
        """Planes tangent at each of many points (degrees), made together: one pyproj call for
        all, the same planes as one at a time."""
        lon = np.atleast_1d(np.asarray(lon0, float))
        lat = np.atleast_1d(np.asarray(lat0, float))
        if lon.size == 0:
            return []
        rotation, origin = enu_basis(lon, lat), to_ecef(lon, lat)
        out = []
        for k in range(lon.size):
            plane = cls.__new__(cls)
            plane.lon0, plane.lat0 = float(lon[k]), float(lat[k])
            plane.rotation, plane.origin = rotation[k], origin[k]
            out.append(plane)
        return out

    def from_ecef(
        self, ecef: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """ECEF points (n, 3) to east, north (m)."""
        enu = (np.atleast_2d(ecef) - self.origin) @ self.rotation[:2].T
        return enu[:, 0], enu[:, 1]

    def forward(
        self, lon: ArrayLike, lat: ArrayLike
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """WGS 84 degrees to east, north (m)."""
        return self.from_ecef(to_ecef(lon, lat))

    def to_ecef(self, east_m: ArrayLike, north_m: ArrayLike) -> NDArray[np.float64]:
        """East, north (m) to the ECEF point on the ellipsoid's surface below them."""
        e = np.atleast_1d(np.asarray(east_m, float))
        n = np.atleast_1d(np.asarray(north_m, float))
        up = -(e * e + n * n) / (2 * 6_371_000.0)  # drop of the surface below the plane
        return self.origin + np.column_stack([e, n, up]) @ self.rotation

    def point_to_ecef(self, east_m: float, north_m: float) -> NDArray[np.float64]:
        """`to_ecef` of one point, shape (3,): the same numbers (the same product) without the
        handling of arrays, for callers that convert one point at a time."""
        up = -(east_m * east_m + north_m * north_m) / (2 * 6_371_000.0)
        return (self.origin + np.array([[east_m, north_m, up]]) @ self.rotation)[0]

    def inverse(
        self, east_m: ArrayLike, north_m: ArrayLike
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """East, north (m) to WGS 84 degrees."""
        lon, lat, _ = from_ecef(self.to_ecef(east_m, north_m))
        return lon, lat


def planes_inverse(
    planes: Sequence[TangentPlane], east_m: ArrayLike, north_m: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """`planes[q].inverse(east_m[q], north_m[q])` for every q at once (one point per plane; one
    pyproj call, one product per point, the same values bit for bit)."""
    e = np.atleast_1d(np.asarray(east_m, float))
    n = np.atleast_1d(np.asarray(north_m, float))
    if e.size == 0:
        return np.zeros(0), np.zeros(0)
    origin = np.array([p.origin for p in planes])
    rotation = np.array([p.rotation for p in planes])
    enu = np.column_stack([e, n, -(e * e + n * n) / (2 * 6_371_000.0)])
    lon, lat, _ = from_ecef(origin + (enu[:, None, :] @ rotation)[:, 0, :])
    return lon, lat


def planes_forward(
    planes: Sequence[TangentPlane], lon: ArrayLike, lat: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """`planes[q].forward(lon[q], lat[q])` for every q at once (one point per plane; one pyproj
    call, one product per point, the same values bit for bit)."""
    lon_a = np.atleast_1d(np.asarray(lon, float))
    if lon_a.size == 0:
        return np.zeros(0), np.zeros(0)
    origin = np.array([p.origin for p in planes])
    rotation = np.array([p.rotation for p in planes])
    diff = to_ecef(lon_a, lat) - origin
    en = (diff[:, None, :] @ rotation[:, :2, :].transpose(0, 2, 1))[:, 0, :]
    return en[:, 0], en[:, 1]
