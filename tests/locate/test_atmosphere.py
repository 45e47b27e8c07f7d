"""The weather model's station look-up."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from truceline.geo.projection import to_ecef
from truceline.locate.atmosphere import Atmosphere


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 60), twins=st.booleans())
def test_nearest_stations_are_the_trees(seed, n, twins):
    """`Atmosphere._nearest` gives the k-d tree's k nearest stations in its order (with twin
    stations at one place, where the tree decides)."""
    rng = np.random.default_rng(seed)
    lon, lat = rng.uniform(30, 40, n), rng.uniform(45, 50, n)
    if twins and n > 1:
        lon[1], lat[1] = lon[0], lat[0]
    atmosphere = Atmosphere()
    for i, point in enumerate(to_ecef(lon, lat)):
        atmosphere.add(f"w{i}", tuple(point), 0, 10.0, (1.0, 2.0))
    atmosphere.sound_speed(to_ecef(35.0, 47.0)[0], 0)  # builds the tree
    for point in to_ecef(rng.uniform(29, 41, 50), rng.uniform(44, 51, 50)):
        k = min(4, n)
        expected = np.atleast_1d(atmosphere._tree.query(point, k=k)[1])
        np.testing.assert_array_equal(np.atleast_1d(atmosphere._nearest(point, k)), expected)
    if twins and n > 1:  # at the twins' place: the tree's order
        point = to_ecef(lon[:1], lat[:1])[0]
        expected = np.atleast_1d(atmosphere._tree.query(point, k=min(4, n))[1])
        np.testing.assert_array_equal(
            np.atleast_1d(atmosphere._nearest(point, min(4, n))), expected
        )
