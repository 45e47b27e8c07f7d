"""Source scanning (truceline.associate.stack) on synthetic arrivals."""

from __future__ import annotations

import numpy as np

from truceline.associate.stack import coarse_regions, fine_peaks, scan
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
