"""The air tracker's compiled round (`truceline.radar.tracker_kernel`) against the NumPy
reference (`GnnTracker(..., compiled=False)`): the same pairs, assignments, new tracks and
track numbers exactly, states and covariances within rounding.

On dev-2c the kernels give the reference's bits exactly (they repeat the operations of
NumPy's stacked products, OpenBLAS's fused multiply-adds, its 3x3 inverse and determinant and
its `einsum` in their order and rounding; measured on the whole line-heavy day, docs/
performance.md). That depends on the BLAS and the CPU, so the tests hold the kernels to
tolerances only, which must hold everywhere."""

from __future__ import annotations

import copy

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from truceline.assign import SPLIT_CELLS, assign
from truceline.config import RadarSettings
from truceline.radar.tracker import GnnTracker, PlotBatch, _History
from truceline.radar.tracker_kernel import _inv3, assign_small

from .test_tracker_batched import _plots


def _random_tracker(rng, n_tracks: int, compiled: bool) -> GnnTracker:
    """Tracks scattered over a few km, some confirmed, with random positive covariances."""
    tracker = GnnTracker(RadarSettings(), compiled=compiled)
    tracker.x = np.column_stack(
        [rng.uniform(0, 4000, (n_tracks, 2)), rng.uniform(100, 1500, n_tracks),
         rng.normal(0, 30, (n_tracks, 3))]
    )  # fmt: skip
    a = rng.normal(0, 1, (n_tracks, 6, 6)) * np.r_[60, 60, 60, 8, 8, 4]
    tracker.p = a @ a.transpose(0, 2, 1) / 6 + np.eye(6) * 25
    tracker.t_ns = rng.integers(0, 2 * 10**9, n_tracks)
    tracker.hits = rng.integers(1, 6, n_tracks)
    tracker.number = np.arange(1, n_tracks + 1)
    tracker.histories = [_History() for _ in range(n_tracks)]
    return tracker


def _random_batch(rng, tracker: GnnTracker, n_plots: int) -> PlotBatch:
    """Plots near the tracks' predicted positions (so many gate) and some clutter."""
    t = rng.integers(2 * 10**9, 3 * 10**9, n_plots)
    src = rng.integers(0, tracker.x.shape[0], n_plots)
    dt = (t - tracker.t_ns[src]) / 1e9
    xyz = tracker.x[src, :3] + tracker.x[src, 3:] * dt[:, None] + rng.normal(0, 80, (n_plots, 3))
    clutter = rng.random(n_plots) < 0.3
    xyz[clutter] = rng.uniform(0, 4000, (int(clutter.sum()), 3))
    return PlotBatch(
        t, xyz, rng.choice([30.0, 50.0, 80.0], n_plots), np.full((n_plots, 3), np.nan),
        np.zeros(n_plots, np.int64),
    )  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_tracks=st.integers(1, 40), n_plots=st.integers(1, 30))
def test_a_compiled_round_assigns_and_updates_as_the_numpy_reference(seed, n_tracks, n_plots):
    rng = np.random.default_rng(seed)
    ref = _random_tracker(rng, n_tracks, compiled=False)
    got = copy.deepcopy(ref)
    got.compiled = True
    batch = _random_batch(rng, ref, n_plots)
    members = np.arange(n_plots)
    free_ref = rng.random(n_plots) < 0.8
    free_got = free_ref.copy()
    assert ref._assign_round(batch, members, free_ref) == got._assign_round(
        batch, members, free_got
    )
    assert np.array_equal(free_ref, free_got)
    assert np.array_equal(ref.t_ns, got.t_ns) and np.array_equal(ref.hits, got.hits)
    np.testing.assert_allclose(got.x, ref.x, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(got.p, ref.p, rtol=1e-10, atol=1e-9)
    for a, b in zip(ref.histories, got.histories, strict=True):
        assert a.plots == b.plots and a.time_ns == b.time_ns
        for xa, xb in zip(a.x, b.x, strict=True):
            np.testing.assert_allclose(xb, xa, rtol=1e-12, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 80), spread=st.floats(100.0, 5000.0))
def test_new_plots_are_grouped_as_the_numpy_reference_groups_them(seed, n, spread):
    rng = np.random.default_rng(seed)
    vel = rng.normal(0, 20, (n, 3))
    vel[rng.random(n) < 0.5] = np.nan
    batch = PlotBatch(
        np.sort(rng.integers(0, 10**9, n)), rng.uniform(0, spread, (n, 3)),
        rng.choice([30.0, 50.0], n), vel, np.zeros(n, np.int64),
    )  # fmt: skip
    trackers = [GnnTracker(RadarSettings(), compiled=c) for c in (False, True)]
    frees = []
    for tracker in trackers:
        free = rng.random(n) < 2  # all free
        tracker._initiate(batch, np.arange(n), free)
        frees.append(free)
    ref, got = trackers
    assert [h.plots for h in ref.histories] == [h.plots for h in got.histories]
    assert np.array_equal(frees[0], frees[1])
    np.testing.assert_allclose(got.x, ref.x, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(got.p, ref.p, rtol=1e-10, atol=1e-9)


def test_whole_runs_give_the_same_tracks_compiled_and_not():
    plots = _plots(np.random.default_rng(11), n_objects=10, seconds=600.0)
    ref = GnnTracker(RadarSettings(), compiled=False).run(plots)
    got = GnnTracker(RadarSettings(), compiled=True).run(plots)
    assert len(ref) == len(got) > 0
    for a, b in zip(ref, got, strict=True):
        assert a.number == b.number and a.plots == b.plots and a.segments == b.segments
        assert np.array_equal(a.time_ns, b.time_ns)
        np.testing.assert_allclose(b.states, a.states, rtol=1e-11, atol=1e-8)
        np.testing.assert_allclose(b.covariances, a.covariances, rtol=1e-9, atol=1e-8)


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    scales=st.lists(st.floats(1e-2, 1e4), min_size=3, max_size=3),
    rho=st.floats(-0.999, 0.999),
)
def test_the_3x3_inverse_and_log_determinant_are_numpys(seed, scales, rho):
    """Positive definite matrices of very unequal scales and strong correlation (so that
    partial pivoting swaps rows), and general ones."""
    rng = np.random.default_rng(seed)
    sd = np.asarray(scales)
    corr = np.full((3, 3), rho) * rng.choice([-1.0, 1.0], (3, 3))
    corr = np.triu(corr, 1) + np.triu(corr, 1).T + np.eye(3)
    mats = [np.outer(sd, sd) * corr, rng.normal(0, 1, (3, 3)) * sd]
    g = rng.normal(0, 1, (3, 3)) * sd
    mats.append(g @ g.T + np.eye(3) * 2500.0)
    for m in mats:
        if abs(np.linalg.det(m)) < 1e-12 * np.prod(sd) ** 2:
            continue
        out = np.empty((3, 3))
        logdet, sign = _inv3(m, out)
        ref = np.linalg.inv(m)
        np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-12 * np.abs(ref).max())
        ref_sign, ref_logdet = np.linalg.slogdet(m)
        assert sign == ref_sign and np.isclose(logdet, ref_logdet, rtol=1e-12, atol=1e-12)


@settings(max_examples=300, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_rows=st.integers(1, 12),
    n_cols=st.integers(1, 12),
    density=st.floats(0.1, 1.0),
    ties=st.booleans(),
)
def test_a_small_assignment_is_the_one_assign_chooses(seed, n_rows, n_cols, density, ties):
    """`assign_small` (SciPy's solver compiled) against `truceline.assign.assign`, with sparse
    labels, both shapes of matrix and, with `ties`, integer costs that tie often."""
    rng = np.random.default_rng(seed)
    cells = np.argwhere(rng.random((n_rows, n_cols)) < density)
    if cells.size == 0:
        return
    rows = rng.permutation(60)[:n_rows][cells[:, 0]].astype(np.int64)
    cols = rng.permutation(40)[:n_cols][cells[:, 1]].astype(np.int64)
    cost = rng.integers(-3, 4, rows.size).astype(float) if ties else rng.normal(0, 5, rows.size)
    got = assign_small(rows, cols, cost, SPLIT_CELLS)
    assert got is not None
    assert np.array_equal(got, assign(rows, cols, cost))


def test_a_small_assignment_declines_duplicates_and_large_problems():
    rows, cols = np.array([0, 0, 1]), np.array([2, 2, 3])
    assert assign_small(rows, cols, np.array([1.0, 2.0, 3.0]), SPLIT_CELLS) is None
    rows, cols = np.arange(100), np.arange(100)
    assert assign_small(rows, cols, np.ones(100), 99 * 100) is None
