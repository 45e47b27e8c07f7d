"""The association's compiled helpers give exactly the NumPy expressions they replace."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from truceline.associate.indices import isin
from truceline.associate.kernel import choose_many, consensus_kernel, within_reach


@pytest.mark.parametrize("seed", range(3))
def test_consensus_counts_match_numpy(seed):
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(-8000, 8000, 150), rng.uniform(-8000, 8000, 150)
    t = 36_000.0 + rng.uniform(0, 60, x.size)
    gx, gy = rng.uniform(-9000, 9000, 500), rng.uniform(-9000, 9000, 500)
    gt = 36_000.0 + rng.uniform(-30, 60, gx.size)
    c, tol = 337.5, 0.35
    # Some residuals exactly at the tolerance (to rounding): the exact path decides.
    d = np.hypot(x[:20] - gx[0], y[:20] - gy[0])
    t[:20] = gt[0] + d / c + tol * rng.choice([-1.0, 1.0], 20)
    d = np.hypot(x[None, :] - gx[:, None], y[None, :] - gy[:, None])
    expected = (np.abs(t[None, :] - gt[:, None] - d / c) <= tol).sum(axis=1)
    np.testing.assert_array_equal(consensus_kernel(x, y, t, gx, gy, gt, c, tol), expected)


def test_isin_matches_numpy():
    rng = np.random.default_rng(0)
    for _ in range(500):
        a = rng.integers(0, rng.integers(1, 20_000), rng.integers(0, 60))
        b = rng.integers(0, rng.integers(1, 20_000), rng.integers(0, 60))
        np.testing.assert_array_equal(isin(a, b), np.isin(a, b))
    edges = rng.integers(0, 50, (40, 2))
    np.testing.assert_array_equal(isin(edges, [3, 7]), np.isin(edges, [3, 7]))
    assert isin(np.zeros(0, dtype=np.int64), [1]).size == 0


def test_component_labels_are_scipys():
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from truceline.associate.kernel import component_labels

    rng = np.random.default_rng(1)
    for _ in range(300):
        n = int(rng.integers(0, 200))
        m = int(rng.integers(0, 2 * n + 1)) if n else 0
        a, b = rng.integers(0, max(n, 1), m), rng.integers(0, max(n, 1), m)
        _, expected = connected_components(
            coo_matrix((np.ones(m), (a, b)), shape=(n, n)), directed=False
        )
        np.testing.assert_array_equal(component_labels(n, a, b), expected)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**63),
    sizes=st.lists(st.integers(3, 300), min_size=1, max_size=12),
    k=st.sampled_from([3, 4]),
)
def test_choose_many_draws_what_numpys_choice_draws(seed, sizes, k):
    """RANSAC's subsets drawn in one compiled call are exactly those of `Generator.choice`
    called pool by pool on the same stream, and the stream goes on the same afterwards."""
    sizes = [max(n, k) for n in sizes]
    pools = [np.random.default_rng(n).integers(0, 10**6, n) for n in sizes]
    numpy_rng, compiled_rng = np.random.default_rng(seed), np.random.default_rng(seed)
    expected = np.array([numpy_rng.choice(p, size=k, replace=False) for p in pools])
    starts = np.concatenate([[0], np.cumsum(sizes)])
    got = choose_many(compiled_rng, np.concatenate(pools), starts, k)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(compiled_rng.permutation(50), numpy_rng.permutation(50))
    np.testing.assert_array_equal(compiled_rng.random(3), numpy_rng.random(3))


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    wind=st.tuples(st.floats(-30.0, 30.0), st.floats(-30.0, 30.0)),
    on_tolerance=st.booleans(),
)
def test_hypothesis_consensus_counts_are_numpys(seed, wind, on_tolerance):
    """The trial origins' loose and tight consensus counts, compiled, are those of the NumPy
    expressions they replace (`AcousticAssociator._try_hypotheses`), also for residuals
    placed exactly on a tolerance."""
    from truceline.associate.kernel import hypothesis_consensus
    from truceline.locate.solver import SoundSpeed

    rng = np.random.default_rng(seed)
    speed = SoundSpeed(335.0, *wind)
    x, y = rng.uniform(-20_000, 20_000, 150), rng.uniform(-20_000, 20_000, 150)
    hx, hy = rng.uniform(-25_000, 25_000, 40), rng.uniform(-25_000, 25_000, 40)
    ht = rng.uniform(0.0, 30.0, 40)
    travel, _ = speed.travel_time_s(x[None, :] - hx[:1, None], y[None, :] - hy[:1, None])
    t = ht[0] + travel[0] + rng.normal(0.0, 0.5, x.size)
    if on_tolerance:  # residuals at trial origin 0 exactly on the tolerances, either side
        t[:20] = ht[0] + travel[0, :20] + np.repeat([0.15, -0.15, 1.0, -1.0], 5)
    travel, _ = speed.travel_time_s(x[None, :] - hx[:, None], y[None, :] - hy[:, None])
    resid = np.abs(t[None, :] - ht[:, None] - travel)
    score, tight = hypothesis_consensus(
        x, y, t, hx, hy, ht, speed.c_mps, speed.wind_e_mps, speed.wind_n_mps, 1.0, 0.15
    )
    np.testing.assert_array_equal(score, (resid <= 1.0).sum(axis=1))
    np.testing.assert_array_equal(tight, (resid <= 0.15).sum(axis=1))


def test_within_reach_keeps_every_pair_within_hearing():
    """Attaching's pre-filter: every pair within the reach kept, and none well beyond it."""
    rng = np.random.default_rng(4)
    centre = np.array([3.9e6, 2.9e6, 4.0e6])
    sensors = rng.uniform(-300e3, 300e3, (200, 3)) + centre
    events = rng.uniform(-300e3, 300e3, (80, 3)) + centre
    ps, pe = rng.integers(0, 200, 5000), rng.integers(0, 80, 5000)
    d = np.linalg.norm(sensors[ps] - events[pe], axis=1)
    keep = within_reach(sensors, events, ps, pe, 100e3)
    assert keep[d <= 100e3 - 1e-3].all()
    assert not keep[d > 100e3 + 1e-3].any()


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), m=st.integers(1, 80), n_seeds=st.integers(0, 30))
def test_seed_pools_are_the_numpy_rows(seed, m, n_seeds):
    """`kernel.seed_pools` gives the seeds and pools of `AcousticAssociator._hypotheses`' NumPy
    rows (exactly), and flags a tie of |dt| in a kept row; times on a coarse grid make ties."""
    from truceline.associate.kernel import seed_pools

    rng = np.random.default_rng(seed)
    x, y = rng.uniform(-5000, 5000, m), rng.uniform(-5000, 5000, m)
    t = 1000.0 + np.round(rng.uniform(0, 20, m), int(rng.integers(0, 4)))
    seeds = rng.permutation(m)[:n_seeds]
    min_speed, tol = 300.0, 0.5
    kept, pools, starts, ties = seed_pools(x, y, t, seeds, min_speed, tol, 8)
    dist = np.hypot(x[seeds, None] - x[None, :], y[seeds, None] - y[None, :])
    compatible = (np.abs(t[seeds, None] - t[None, :]) <= dist / min_speed + tol) & (dist > 1.0)
    drawn, expected, any_tie = [], [], False
    for row, s in enumerate(seeds):
        others = np.flatnonzero(compatible[row])
        if others.size < 3:
            continue
        key = np.abs(t[others] - t[s])
        any_tie |= np.unique(key).size < key.size
        drawn.append(s)
        expected.append(others[np.argsort(key)[:8]])
    assert ties == any_tie
    np.testing.assert_array_equal(kept, np.array(drawn, dtype=np.int64))
    assert starts.tolist() == [0, *np.cumsum([p.size for p in expected]).tolist()]
    if not ties:  # (with ties, NumPy's unstable order may differ: the caller then takes it)
        got = [pools[a:b] for a, b in itertools.pairwise(starts)]
        for g, e in zip(got, expected, strict=True):
            np.testing.assert_array_equal(g, e)


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), m=st.integers(2, 40), flat=st.floats(1e-4, 2.0))
def test_line_ratio_is_the_svds(seed, m, flat):
    """`kernel.line_ratio` is the ratio of `np.linalg.svd`'s singular values of the centred
    points, its square to 1e-12 (the smaller eigenvalue's rounding is relative to the larger):
    far better than the mirror test's margin at 0.25 (1e-4); and it decides as the SVD does."""
    from truceline.associate.kernel import line_ratio

    rng = np.random.default_rng(seed)
    a = rng.uniform(0, np.pi)
    u, v = rng.uniform(-9000, 9000, m), flat * rng.uniform(-9000, 9000, m)
    x = 20_000 + u * np.cos(a) - v * np.sin(a)
    y = -5_000 + u * np.sin(a) + v * np.cos(a)
    sv = np.linalg.svd(np.column_stack([x - x.mean(), y - y.mean()]), compute_uv=False)
    ratio = line_ratio(x, y)
    assert abs(ratio**2 - (sv[1] / sv[0]) ** 2) <= 1e-12
    if ratio > 0.25 * (1 + 1e-4):
        assert sv[1] > 0.25 * sv[0]


def test_one_per_sensor_is_numpys():
    from truceline.associate.acoustic import _one_per_sensor
    from truceline.associate.kernel import _one_per_sensor as compiled

    rng = np.random.default_rng(3)
    for _ in range(300):
        n = int(rng.integers(0, 40))
        idx = np.sort(rng.choice(200, n, replace=False)).astype(np.int64)
        sensor_of = rng.integers(0, 12, 200).astype(np.int64)
        score = np.round(rng.uniform(0, 1, n), 1)  # ties
        np.testing.assert_array_equal(
            compiled(idx, score, sensor_of), _one_per_sensor(idx, score, sensor_of[idx])
        )
