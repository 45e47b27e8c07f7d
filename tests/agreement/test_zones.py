"""Zones of the default agreement: a point 20 km behind the line is inside the 25 km artillery
zone, one 30 km behind is not; the buffer zone is 2 km each side; distances are geodesic."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from truceline.agreement import load_agreement
from truceline.geo.projection import geodesic_distance_m


@pytest.fixture(scope="module")
def agreement():
    return load_agreement("illustrative-2026")


@pytest.fixture(scope="module")
def points(agreement):
    """A grid of points around the line with each one's side and distance to the line."""
    min_lon, min_lat, max_lon, max_lat = agreement.line.bounds
    lon, lat = np.meshgrid(
        np.linspace(min_lon - 0.6, max_lon + 0.6, 90), np.linspace(min_lat - 0.4, max_lat + 0.4, 90)
    )
    lon, lat = lon.ravel(), lat.ravel()
    party = agreement.party_at(lon, lat)
    keep = party != ""
    lon, lat, party = lon[keep], lat[keep], party[keep]
    return lon, lat, party, agreement.distance_to_line_m(lon, lat)


def brute_force_distance_m(agreement, lon, lat) -> float:
    """Minimum geodesic distance to the line densified to 50 m, by brute force."""
    coords = np.asarray(shapely.segmentize(agreement.line_local, 50.0).coords)
    vlon, vlat = agreement.projection.inverse(coords[:, 0], coords[:, 1])
    return float(geodesic_distance_m(lon, lat, vlon, vlat).min())


def test_distance_to_line_matches_brute_force(agreement, points):
    lon, lat, _, dist = points
    rng = np.random.default_rng(1)
    for i in rng.choice(lon.size, 12, replace=False):
        assert dist[i] == pytest.approx(brute_force_distance_m(agreement, lon[i], lat[i]), abs=5.0)


@pytest.mark.parametrize("party", ["UA", "RU"])
def test_artillery_zone_is_25_km_deep(agreement, points, party):
    lon, lat, side, dist = points
    zone = agreement.withdrawal_zone("heavy-artillery", party)
    inside = shapely.contains_xy(zone, lon, lat)
    near = (side == party) & (dist > 18_000) & (dist < 22_000)  # about 20 km behind
    far = (side == party) & (dist > 28_000) & (dist < 32_000)  # about 30 km behind
    other = side != party
    assert near.sum() > 20 and far.sum() > 20
    assert inside[near].all()
    assert not inside[far].any()
    assert not inside[other].any()


def test_buffer_zone_reaches_2_km_each_side(agreement, points):
    lon, lat, side, dist = points
    zone = agreement.zones["buffer-zone"].geometry
    inside = shapely.contains_xy(zone, lon, lat)
    for party in ("UA", "RU"):
        assert inside[(side == party) & (dist < 1_800)].all()
        assert not inside[(side == party) & (dist > 2_200)].any()
