"""Geodesics and local projections: distances against pyproj and published values, the
distortion of each projection where truceline uses it, round trips, compass points."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from truceline.geo.projection import (
    COMPASS_16,
    LocalProjection,
    compass_point,
    destination,
    geodesic_azimuth_deg,
    geodesic_distance_m,
)

KYIV = (30.5234, 50.4501)
KHARKIV = (36.2304, 49.9935)
UKRAINE_BAND = (22.1, 46.0, 40.2, 51.0)  # Ukraine's longitudes, the 46-51 N band of the front
UKRAINE_OUTLINE_BOUNDS = (22.1319, 44.3876, 40.1283, 52.3536)  # ukraine.geojson, with Crimea

lons = st.floats(min_value=22.0, max_value=40.5)
lats = st.floats(min_value=44.0, max_value=52.5)


def test_kyiv_to_kharkiv_matches_pyproj_and_the_published_distance():
    d_km = float(geodesic_distance_m(*KYIV, *KHARKIV)) / 1000
    _, _, reference_m = Geod(ellps="WGS84").inv(*KYIV, *KHARKIV)
    assert abs(d_km - reference_m / 1000) < 1.0
    assert abs(d_km - 410.0) < 3.0  # published great-circle distance: about 410 km


def test_distances_and_azimuths_broadcast():
    d = geodesic_distance_m(KYIV[0], KYIV[1], [KHARKIV[0], KYIV[0]], [KHARKIV[1], KYIV[1]])
    assert d.shape == (2,) and d[1] == 0.0
    az = geodesic_azimuth_deg(*KYIV, *KHARKIV)
    assert 90 < float(az) < 110  # Kharkiv is east and a little south of Kyiv


AEQD_CENTRES = [(30.0, 46.0), (34.0, 48.0), (37.8478, 48.3948), (38.0, 51.0)]
AEQD = [LocalProjection.aeqd(lon0, lat0) for lon0, lat0 in AEQD_CENTRES]  # built once: slow
ROUND_TRIP = [AEQD[1], LocalProjection.lcc_for(UKRAINE_BAND), LocalProjection.tmerc(33.0)]


@settings(max_examples=100, deadline=None)
@given(
    centre=st.integers(min_value=0, max_value=len(AEQD_CENTRES) - 1),
    azimuth=st.lists(st.floats(min_value=0, max_value=360), min_size=1, max_size=20),
    distance_km=st.floats(min_value=0.01, max_value=300),
)
def test_aeqd_preserves_distance_from_its_centre(centre, azimuth, distance_km):
    lon0, lat0 = AEQD_CENTRES[centre]
    lon, lat = destination(lon0, lat0, np.array(azimuth), distance_km * 1000)
    x, y = AEQD[centre].forward(lon, lat)
    np.testing.assert_allclose(np.hypot(x, y), distance_km * 1000, rtol=1e-6)


def _scale_errors(projection: LocalProjection, lat_min: float, lat_max: float) -> np.ndarray:
    """|projected / geodesic - 1| for 50 km segments in four directions over a lon/lat grid."""
    lon, lat, az = np.meshgrid(
        np.linspace(22.5, 40.0, 15), np.linspace(lat_min, lat_max, 21), [0, 45, 90, 135]
    )
    lon2, lat2 = destination(lon, lat, az, 50_000.0)
    x1, y1 = projection.forward(lon, lat)
    x2, y2 = projection.forward(lon2, lat2)
    return np.abs(np.hypot(x2 - x1, y2 - y1) / 50_000.0 - 1)


def test_lcc_fitted_to_ukraine_keeps_scale_error_under_a_thousandth_across_46_to_51_n():
    assert _scale_errors(LocalProjection.lcc_for(UKRAINE_BAND), 46.0, 51.0).max() < 1e-3


def test_lcc_fitted_to_the_whole_outline_stays_near_a_thousandth():
    # Fitted to all of 44.4-52.4 N (Crimea to the Belarus border) the conic's mid-band error
    # grows to about 0.107%: fit to the region computed on, as the agreement does to its line.
    errors = _scale_errors(LocalProjection.lcc_for(UKRAINE_OUTLINE_BOUNDS), 46.0, 51.0)
    assert errors.max() < 1.1e-3


@settings(max_examples=100, deadline=None)
@given(points=st.lists(st.tuples(lons, lats), min_size=1, max_size=20))
def test_forward_inverse_round_trip_within_a_micrometre(points):
    lon, lat = np.array(points).T
    for projection in ROUND_TRIP:
        x, y = projection.forward(lon, lat)
        lon2, lat2 = projection.inverse(x, y)
        assert geodesic_distance_m(lon, lat, lon2, lat2).max() < 1e-6
        x2, y2 = projection.forward(lon2, lat2)
        assert np.abs(x2 - x).max() < 1e-6 and np.abs(y2 - y).max() < 1e-6


@pytest.mark.parametrize(
    ("azimuth", "expected"),
    [
        (0.0, "N"),
        (11.2499, "N"),
        (11.25, "NNE"),
        (33.7499, "NNE"),
        (33.75, "NE"),
        (90.0, "E"),
        (135.0, "SE"),
        (180.0, "S"),
        (270.0, "W"),
        (348.7499, "NNW"),
        (348.75, "N"),
        (359.999, "N"),
        (360.0, "N"),
        (-11.0, "N"),
        (-11.26, "NNW"),
        (720.0 + 45.0, "NE"),
    ],
)
def test_compass_point_boundaries(azimuth, expected):
    assert compass_point(azimuth) == expected


@given(k=st.integers(min_value=0, max_value=15), wobble=st.floats(min_value=-11.2, max_value=11.2))
def test_compass_point_is_the_nearest_of_sixteen(k, wobble):
    assert compass_point(k * 22.5 + wobble) == COMPASS_16[k]


def test_planes_made_together_and_points_one_per_plane_equal_one_at_a_time():
    """`TangentPlane.many`, `planes_inverse` and `planes_forward` (one pyproj call for all) give
    what the planes give one at a time, bit for bit."""
    from truceline.geo.projection import TangentPlane, planes_forward, planes_inverse

    rng = np.random.default_rng(8)
    lon0, lat0 = 30 + 10 * rng.random(200), 45 + 6 * rng.random(200)
    planes = TangentPlane.many(lon0, lat0)
    for plane, a, b in zip(planes, lon0, lat0, strict=True):
        one = TangentPlane(a, b)
        assert (plane.lon0, plane.lat0) == (one.lon0, one.lat0)
        assert np.array_equal(plane.origin, one.origin)
        assert np.array_equal(plane.rotation, one.rotation)
    east, north = rng.normal(0, 20_000, 200), rng.normal(0, 20_000, 200)
    lon, lat = planes_inverse(planes, east, north)
    e, n = planes_forward(planes, lon + 0.01, lat - 0.01)
    for k, plane in enumerate(planes):
        one_lon, one_lat = plane.inverse(east[k], north[k])
        assert (lon[k], lat[k]) == (one_lon[0], one_lat[0])
        one_e, one_n = plane.forward(lon[k] + 0.01, lat[k] - 0.01)
        assert (e[k], n[k]) == (one_e[0], one_n[0])
    assert TangentPlane.many([], []) == []


@settings(max_examples=200, deadline=None)
@given(
    lon=st.floats(-180.0, 180.0),
    lat=st.floats(-89.9, 89.9),
    east_m=st.floats(-40_000.0, 40_000.0),
    north_m=st.floats(-40_000.0, 40_000.0),
)
def test_one_point_paths_give_the_batch_values_bit_for_bit(lon, lat, east_m, north_m):
    """ECEF conversions, ENU bases and tangent planes of one point take pyproj's point path and
    NumPy scalars (fast); they give exactly what the array paths give for that point."""
    from truceline.geo import projection as proj

    lons, lats = np.array([lon, 30.0]), np.array([lat, 48.0])
    np.testing.assert_array_equal(proj.to_ecef(lon, lat), proj.to_ecef(lons, lats)[:1])
    np.testing.assert_array_equal(proj.enu_basis(lon, lat), proj.enu_basis(lons, lats)[:1])
    plane = proj.TangentPlane(lon, lat)
    np.testing.assert_array_equal(plane.origin, proj.to_ecef(lons, lats)[0])
    np.testing.assert_array_equal(plane.rotation, proj.enu_basis(lons, lats)[0])
    point = plane.to_ecef(east_m, north_m)
    both = np.vstack([point, point + 1.0])
    for one, many in zip(proj.from_ecef(point), proj.from_ecef(both), strict=True):
        np.testing.assert_array_equal(one, many[:1])
