"""Source scanning (truceline.associate.stack) on synthetic arrivals."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from truceline.associate import stack
from truceline.associate.stack import coarse_regions, fine_peaks, salvo, scan, scan_rounds
from truceline.locate.solver import SoundSpeed

C = 340.0
STILL = SoundSpeed(C)


def arrivals(rng, sensors, sources, taus, p_heard=0.6, sigma_s=0.01):
    x, y, t, k = [], [], [], []
    for j, ((sx, sy), tau) in enumerate(zip(sources, taus, strict=True)):
        heard = rng.random(len(sensors)) < p_heard
        d = np.hypot(sensors[heard, 0] - sx, sensors[heard, 1] - sy)
        x += sensors[heard, 0].tolist()
        y += sensors[heard, 1].tolist()
        t += (tau + d / C + rng.normal(0, sigma_s, d.size)).tolist()
        k += [j] * d.size
    return np.array(x), np.array(y), np.array(t), np.array(k)


def test_scan_counts_the_detections_agreeing_on_an_origin_time():
    sensors = np.array([[0.0, 0.0], [1000.0, 0.0], [0.0, 1000.0], [1000.0, 1000.0]])
    d = np.hypot(sensors[:, 0] - 300, sensors[:, 1] - 400)
    t = 10.0 + d / C
    count, tau = scan(
        sensors[:, 0],
        sensors[:, 1],
        t,
        np.array([300.0, -3000.0]),
        np.array([400.0, 0.0]),
        STILL,
        0.1,
    )
    assert count[0] == 4 and count[1] < 4
    assert abs(tau[0] - 10.0) < 0.1


def test_stacking_finds_each_round_of_a_salvo():
    rng = np.random.default_rng(5)
    gx, gy = np.meshgrid(np.arange(-6000, 6001, 1500.0), np.arange(-3000, 3001, 1500.0))
    sensors = np.column_stack([gx.ravel(), gy.ravel()]) + rng.normal(0, 100, (gx.size, 2))
    n = 10
    sources = np.column_stack([rng.normal(1500, 50, n), rng.normal(-500, 50, n)])
    taus = 50.0 + 0.5 * np.arange(n)
    x, y, t, k = arrivals(rng, sensors, sources, taus)
    regions = coarse_regions(x, y, t, STILL, margin_m=4000.0)
    assert min(np.hypot(a - 1500, b + 500) for a, b in regions) < 500
    remaining = np.ones(x.size, dtype=bool)
    for _ in range(n):
        peak = fine_peaks(x[remaining], y[remaining], t[remaining], STILL, regions)[0]
        j = int(np.argmin(np.abs(taus - peak.tau_s)))
        assert abs(taus[j] - peak.tau_s) < 0.1
        assert np.hypot(peak.x_m - sources[j, 0], peak.y_m - sources[j, 1]) < 60.0
        assert peak.count >= 0.8 * np.count_nonzero(k == j)
        remaining &= k != j


def far_salvo(rng, n=16):
    """Rounds of one battery (launchers spread 50 m) 0.25-0.75 s apart, heard from 8-12 km
    away by sensors on one side only: the geometry where mixtures of rounds fit other places."""
    gx, gy = np.meshgrid(np.arange(-4000, 4001, 1000.0), np.arange(8000, 12001, 1000.0))
    sensors = np.column_stack([gx.ravel(), gy.ravel()]) + rng.normal(0, 100, (gx.size, 2))
    sources = rng.normal(0.0, 50.0, (n, 2))
    taus = 100.0 + np.cumsum(rng.uniform(0.25, 0.75, n))
    return sensors, sources, taus


def salvo_arrivals(rng, sensors, sources, taus):
    x, y, t, k = arrivals(rng, sensors, sources, taus, p_heard=0.4)
    s = np.array([int(np.argmin(np.hypot(*(sensors - p).T))) for p in zip(x, y, strict=True)])
    return x, y, t, k, s


def matched_rounds(place, taus):
    """The true round nearest each round found once their common time offset is removed (the
    place may be off in range, which shifts every round alike), and the residual time (s)."""
    found = np.array(place.taus)
    pairs = (found[:, None] - taus[None, :]).ravel()
    support = (np.abs(pairs[:, None] - pairs[None, :]) < 0.05).sum(axis=1)
    offset = pairs[int(np.argmax(support))]
    gap = np.abs(found[:, None] - offset - taus[None, :])
    return gap.argmin(axis=1), gap.min(axis=1)


def test_salvo_separates_the_rounds():
    rng = np.random.default_rng(3)
    sensors, sources, taus = far_salvo(rng)
    x, y, t, _, s = salvo_arrivals(rng, sensors, sources, taus)
    regions = coarse_regions(x, y, t, STILL, margin_m=14000.0)
    place = salvo(x, y, t, s, STILL, regions, 5)
    assert place is not None
    # Far off, range is poorly resolved, but the rounds fall apart in time all the same: one
    # round found per true round, each at its time up to the common offset.
    which, residual = matched_rounds(place, taus)
    assert len(place.taus) >= 0.6 * len(taus)
    assert np.median(residual) < 0.05
    assert len(set(which.tolist())) == len(place.taus)


def test_salvo_finds_nothing_in_unrelated_detections():
    rng = np.random.default_rng(4)
    sensors, _, _ = far_salvo(rng)
    s = rng.integers(0, len(sensors), 60)
    x, y = sensors[s, 0], sensors[s, 1]
    t = rng.uniform(100.0, 130.0, s.size)  # 60 detections in 30 s, no common origin
    regions = coarse_regions(x, y, t, STILL, margin_m=14000.0)
    assert salvo(x, y, t, s, STILL, regions, 5) is None


@pytest.mark.parametrize("seed", range(3))
def test_compiled_and_numpy_scans_agree(seed, monkeypatch):
    """The compiled scan gives exactly the NumPy reference's counts, window times and round
    scores, chunk by chunk (small chunks here, so several chunks anchor their own windows)."""
    rng = np.random.default_rng(seed)
    sensors = rng.uniform(-6000, 6000, (25, 2))
    sources = rng.uniform(-8000, 8000, (12, 2))
    x, y, t, _ = arrivals(rng, sensors, sources, np.sort(rng.uniform(0, 30, 12)))
    t[rng.random(t.size) < 0.1] += rng.uniform(-5, 5)
    speed = SoundSpeed(337.0, 4.0, -3.0)
    gx, gy = rng.uniform(-9000, 9000, 700), rng.uniform(-9000, 9000, 700)
    for chunk in (stack._CHUNK_CELLS, 5 * x.size + 3):
        monkeypatch.setattr(stack, "_CHUNK_CELLS", chunk)
        for window in (0.2, 1.7):
            assert_compiled_is_reference(x, y, t, gx, gy, speed, window)


def test_compiled_scan_is_exact_at_window_edges():
    """Implied origin times on (or within rounding of) the windows' edges at one node: the
    compiled scan still agrees with the reference."""
    rng = np.random.default_rng(7)
    x, y = rng.uniform(-5000, 5000, 200), rng.uniform(-5000, 5000, 200)
    speed = SoundSpeed(340.0, 2.0, 1.0)
    travel, _ = speed.travel_time_s(x, y)
    t = 36_000.0 + 0.2 * rng.integers(0, 40, x.size) + travel  # at node (0, 0): on the edges
    gx, gy = np.array([0.0, 1e-9, 30.0]), np.array([0.0, 0.0, -40.0])
    for window in (0.2, 0.4):
        assert_compiled_is_reference(x, y, t, gx, gy, speed, window)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 2**32 - 1),
    wind=st.floats(0.0, 40.0),
    wind_az=st.floats(0.0, 2 * np.pi),
    spacing=st.sampled_from([25.0, 100.0, 250.0]),
    offset_m=st.floats(-20_000.0, 20_000.0),
    chunk_nodes=st.integers(1, 400),
)
def test_compiled_scan_on_grids_is_the_reference(
    seed, wind, wind_az, spacing, offset_m, chunk_nodes, monkeypatch
):
    """On the regular grids the associator scans (one node twice, so the earliest implied
    time is tied), in strong wind and far from the sensors, in chunks of any size: the
    compiled scan, which skips the nodes that cannot hold a chunk's earliest implied time,
    still gives the reference's results exactly."""
    rng = np.random.default_rng(seed)
    sensors = rng.uniform(-6000, 6000, (20, 2))
    sources = rng.uniform(-8000, 8000, (6, 2))
    x, y, t, _ = arrivals(rng, sensors, sources, np.sort(rng.uniform(0, 20, 6)))
    if x.size == 0:
        return
    t[rng.random(t.size) < 0.2] += rng.uniform(-3, 3)
    speed = SoundSpeed(330.0, wind * np.sin(wind_az), wind * np.cos(wind_az))
    gx, gy = stack._grid(offset_m, -offset_m / 2, 12 * spacing, spacing)
    gx, gy = np.append(gx, gx[-1]), np.append(gy, gy[-1])
    monkeypatch.setattr(stack, "_CHUNK_CELLS", chunk_nodes * x.size)
    for window in (0.2, 2 * spacing / 300.0 + 0.2):
        assert_compiled_is_reference(x, y, t, gx, gy, speed, window)


def assert_compiled_is_reference(x, y, t, gx, gy, speed, window):
    """`scan` and `scan_rounds` compiled give exactly the NumPy reference's results."""
    a = scan(x, y, t, gx, gy, speed, window)
    b = scan(x, y, t, gx, gy, speed, window, kernel="numpy")
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(
        scan_rounds(x, y, t, gx, gy, speed, window),
        scan_rounds(x, y, t, gx, gy, speed, window, kernel="numpy"),
    )
