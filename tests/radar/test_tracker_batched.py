"""The air tracker's batched steps give what the step-by-step ones they replaced gave, bit for
bit (`truceline.radar.tracker`: the smoother's predictions and gains all at once, new plots
grouped by direct distances)."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from truceline.config import RadarSettings
from truceline.radar.tracker import GnnTracker, PlotBatch, _History, process_noise, smooth
from truceline.radar.tracker import transition as cv_transition


def _smooth_step_by_step(h: _History, tracker: GnnTracker):
    """Rauch-Tung-Striebel smoothing one step at a time (the reference)."""
    t = np.asarray(h.time_ns, np.int64)
    x, p = np.array(h.x), np.array(h.p)
    xs, ps = x.copy(), p.copy()
    dt = np.diff(t) / 1e9
    f = cv_transition(dt)
    q = process_noise(dt, tracker.q_h, tracker.q_v)
    for k in range(t.size - 2, -1, -1):
        xp = f[k] @ x[k]
        pp = f[k] @ p[k] @ f[k].T + q[k]
        try:
            c = p[k] @ f[k].T @ np.linalg.inv(pp)
        except np.linalg.LinAlgError:
            continue
        xs[k] = x[k] + c @ (xs[k + 1] - xp)
        ps[k] = p[k] + c @ (ps[k + 1] - pp) @ c.T
    return xs, ps


def _plots(rng, n_objects=6, seconds=240.0):
    times, xyz, vel = [], [], []
    for _ in range(n_objects):
        start = rng.uniform(-5000, 5000, 3) * (1, 1, 0) + (0, 0, 800)
        v = rng.normal(0, 30, 3) * (1, 1, 0.1)
        for t in np.arange(rng.uniform(0, 5), seconds, 2.5):
            if rng.random() < 0.85:
                times.append(t)
                xyz.append(start + v * t + rng.normal(0, 50, 3))
                vel.append(v + rng.normal(0, 5, 3) if rng.random() < 0.5 else [np.nan] * 3)
    n = len(times)
    return PlotBatch(
        (np.asarray(times) * 1e9).astype(np.int64),
        np.asarray(xyz),
        np.full(n, 50.0),
        np.asarray(vel, float),
        np.zeros(n, np.int64),
    )


def test_smoothing_all_steps_at_once_equals_step_by_step():
    plots = _plots(np.random.default_rng(3))
    tracker = GnnTracker(RadarSettings())
    tracks = tracker.run(plots)
    assert tracks
    for tr in tracks:
        h = tracker._filter(plots, tr.plots)
        xs, ps = _smooth_step_by_step(h, tracker)
        got = smooth(tr.number, h, tracker)
        assert np.array_equal(got.states, xs) and np.array_equal(got.covariances, ps)


def test_new_plots_are_grouped_as_a_kd_tree_groups_them():
    """`_initiate` starts one track per group of free plots within the plot gate of an earlier
    ungrouped one, as when the neighbours came from a k-d tree."""
    rng = np.random.default_rng(5)
    tracker = GnnTracker(RadarSettings())
    n = 60
    xyz = rng.uniform(0, 3000, (n, 3))
    batch = PlotBatch(
        np.sort(rng.integers(0, 10**9, n)), xyz, np.full(n, 50.0), np.full((n, 3), np.nan),
        np.zeros(n, np.int64),
    )  # fmt: skip
    members, free = np.arange(n), np.ones(n, bool)
    tracker._initiate(batch, members, free)
    radius = np.sqrt(tracker.gate * 2) * 50.0
    taken, keep = np.zeros(n, bool), []
    for i, near in enumerate(cKDTree(xyz).query_ball_point(xyz, radius)):
        if not taken[i]:
            keep.append(i)
            taken[near] = True
    assert [h.plots[0] for h in tracker.histories] == keep
    assert not free[keep].any() and free.sum() == n - len(keep)
