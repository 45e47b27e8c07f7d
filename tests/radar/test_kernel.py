"""The compiled backtracking kernel gives the same integrations and fits as the NumPy reference,
and both integrate the ballistic model as closely as SciPy's DOP853."""

from __future__ import annotations

import dataclasses
from dataclasses import replace

import numpy as np
import pytest

from truceline.ballistics import Projectile, fly
from truceline.geo.projection import TangentPlane
from truceline.radar import projectile
from truceline.radar.fence import Fence, _view
from truceline.radar.projectile import (
    TrackPoints,
    backtrack_chunk,
    backtrack_many,
    backtrack_many_alone,
    propagate,
    to_ground,
)
from truceline.weapons import weapon_classes

CLASSES = [w for w in weapon_classes().values() if w.ballistic and w.radar_class]


def flight_states(rng, n: int) -> tuple[np.ndarray, np.ndarray, list]:
    """States (n, 6) part-way along real flights of random ballistic classes, their drag
    factors (n,) and the flights (class, projectile, trajectory, time of the state)."""
    states, ks, flights = [], [], []
    for _ in range(n):
        w = CLASSES[int(rng.integers(len(CLASSES)))]
        proj = Projectile.for_weapon(w)
        el = np.radians(rng.uniform(20, 65))
        az = rng.uniform(0, 2 * np.pi)
        v0 = proj.muzzle_velocity_mps
        vel = (v0 * np.cos(el) * np.sin(az), v0 * np.cos(el) * np.cos(az), v0 * np.sin(el))
        traj = fly(proj, (0.0, 0.0, 0.0), vel)
        t = rng.uniform(0.1, 0.6) * traj.duration_s
        states.append(traj.state_at(t)[:, 0])
        ks.append(proj.drag_factor_m2pkg)
        flights.append((w, proj, traj, t))
    return np.array(states), np.array(ks), flights


@pytest.mark.parametrize("seed", range(3))
def test_compiled_and_numpy_integrations_agree(seed):
    rng = np.random.default_rng(seed)
    states, k, _ = flight_states(rng, 40)
    times = np.sort(rng.uniform(-6.0, 9.0, (40, 15)), axis=1)
    times[:, -3:] = times[:, -4:-3]  # padding as `backtrack_many` pads: repeated last time
    a = propagate(states, k, times, 0.05, kernel="compiled")
    b = propagate(states, k, times, 0.05, kernel="numpy")
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-8)  # m and m/s; seen: ~1e-12
    for backward in (True, False):
        for steps in (100, 400):
            ea, ta = to_ground(states, k, backward=backward, step_s=0.1, steps=steps,
                               kernel="compiled")  # fmt: skip
            eb, tb = to_ground(states, k, backward=backward, step_s=0.1, steps=steps)
            assert np.all(np.isfinite(ta)) and np.all(np.isfinite(tb))
            np.testing.assert_allclose(ea, eb, rtol=0, atol=1e-7)  # seen: ~1e-11
            np.testing.assert_allclose(ta, tb, rtol=0, atol=1e-10)


def test_to_ground_matches_dop853_to_a_metre():
    """Per-state steps (400 over the vacuum time of fall): launch and impact within 1 m and
    1 ms of SciPy's DOP853 at rtol 1e-10, for flights of every ballistic class."""
    rng = np.random.default_rng(11)
    states, k, flights = flight_states(rng, 12)
    for backward in (True, False):
        end, t = to_ground(states, k, backward=backward, step_s=0.1, steps=400, kernel="compiled")
        for i, (_, proj, _, _) in enumerate(flights):
            exact = fly(proj, states[i, :3], states[i, 3:], backward=backward)
            assert np.hypot(*(end[i, :2] - exact.end[:2])) < 1.0
            assert abs(t[i] - exact.t_s[-1]) < 1e-3


def noisy_tracks(rng) -> list[TrackPoints]:
    """Noisy simulated tracks of 12 flights, every other one with a radar's search fence."""
    plane = TangentPlane(37.0, 48.3)
    tracks = []
    _, _, flights = flight_states(rng, 12)
    # Every other track from a radar 6 km south-west of the launches, for the fence residual.
    lon_r, lat_r = plane.inverse(-4243.0, -4243.0)
    fence = Fence(float(lon_r[0]), float(lat_r[0]), 0.0, 45.0, 360.0, 25_000.0, 1.0, 0.25)
    for q, (w, _, traj, t_mid) in enumerate(flights):
        t = t_mid + np.arange(-3.0, 3.0, 0.4)
        t = t[(t > 0) & (t < traj.duration_s)]
        s = traj.state_at(t)
        sigma = 15.0
        e, n, z = (s[a] + rng.normal(0, sigma, t.size) for a in range(3))
        lon, lat = plane.inverse(e, n)
        times = (1_000_000_000_000 + t * 1e9).astype(np.int64)

        def entered(t1: float, traj=traj) -> Fence:
            """The radar's fence just below where the flight was 0.1 s before its first point."""
            before = traj.state_at(t1 - 0.1)[:3, 0][None]
            el = _view(plane, replace(fence, elevation_deg=0.0), before)[0, 0]
            return replace(fence, elevation_deg=float(el))

        tracks.append(
            TrackPoints(
                times.tolist(), lon, lat, z, sigma, w.radar_class, entered(t[0]) if q % 2 else None
            )
        )
    return tracks


def test_compiled_and_numpy_backtracks_agree(monkeypatch):
    """Whole fits (Levenberg-Marquardt over the class candidates, unscented transform) on noisy
    simulated tracks: the same class, states within 1e-6 m (m/s), launch and impact points
    within 1e-6 m, covariances within 1e-6 relative. (The Jacobian by forward differences in
    both: the NumPy reference has no other; tests/radar/test_jacobian.py compares the two.)"""
    monkeypatch.setattr(projectile, "JACOBIAN", "difference")
    tracks = noisy_tracks(np.random.default_rng(5))
    a = backtrack_many(tracks, step_s=0.05, kernel="compiled")
    b = backtrack_many(tracks, step_s=0.05, kernel="numpy")
    assert sum(x is not None for x in a) == len(tracks)
    # Some tracks have a fence residual (one more degree of freedom).
    assert any(x.dof == 3 * len(tr.times_ns) + 1 + 1 - 6 for x, tr in zip(a, tracks, strict=True))
    for x, y in zip(a, b, strict=True):
        assert x.weapon == y.weapon
        np.testing.assert_allclose(x.state, y.state, rtol=0, atol=1e-6)
        np.testing.assert_allclose(x.state_covariance, y.state_covariance, rtol=1e-6, atol=1e-12)
        assert x.chi2 == pytest.approx(y.chi2, rel=1e-8)
        for p, q in ((x.launch, y.launch), (x.impact, y.impact)):
            assert (p is None) == (q is None)
            if p is not None:
                np.testing.assert_allclose([p.east_m, p.north_m], [q.east_m, q.north_m], atol=1e-6)
                assert p.time_s == pytest.approx(q.time_s, abs=1e-9)
                np.testing.assert_allclose(p.covariance, q.covariance, rtol=1e-6, atol=1e-9)


def test_fits_without_the_fence_as_on_their_own():
    """`backtrack_many_alone`: the fits as `backtrack_many`'s, and the launch points without
    the fence bit for bit those of `backtrack_many` of the tracks with `fence=None` (the points
    prepared once, impacts left out)."""

    def same(p, q) -> bool:
        if p is None or q is None:
            return p is q
        return (p.east_m, p.north_m, p.time_s, p.speed_mps) == (
            q.east_m, q.north_m, q.time_s, q.speed_mps,
        ) and np.array_equal(p.covariance, q.covariance)  # fmt: skip

    tracks = noisy_tracks(np.random.default_rng(5))
    fitted, alone = backtrack_many_alone(tracks, step_s=0.05)
    again = backtrack_many(tracks, step_s=0.05)
    bare = backtrack_many([replace(tr, fence=None) for tr in tracks], step_s=0.05)
    assert any(tr.fence is not None for tr in tracks)
    for x, y, z, w, tr in zip(fitted, again, alone, bare, tracks, strict=True):
        assert same(x.launch, y.launch) and same(x.impact, y.impact) and x.chi2 == y.chi2
        if tr.fence is None:
            assert z is x
            continue
        assert z.impact is None and same(z.launch, w.launch)
        assert z.weapon == w.weapon and z.class_weights == w.class_weights
        assert np.array_equal(z.state, w.state) and z.reference_ns == w.reference_ns


def identical(a, b) -> bool:
    """Bit for bit the same: every field of records (dataclasses, a tangent plane's slots),
    arrays by their bytes, floats by their bits."""
    if a is None or b is None:
        return a is b
    if isinstance(a, np.ndarray):
        return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()
    if dataclasses.is_dataclass(a):
        names = [f.name for f in dataclasses.fields(a)]
        return type(a) is type(b) and all(identical(getattr(a, n), getattr(b, n)) for n in names)
    if isinstance(a, TangentPlane):
        return all(identical(getattr(a, n), getattr(b, n)) for n in TangentPlane.__slots__)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(identical(a[k], b[k]) for k in a)
    if isinstance(a, float):
        return np.float64(a).tobytes() == np.float64(b).tobytes()
    return type(a) is type(b) and a == b


def test_tracks_backtracked_in_chunks_as_in_one_batch():
    """`backtrack_chunk`: tracks of different lengths backtracked a few at a time, each chunk
    padded to the whole set's widths, have bit for bit (every field) the fits and the fits
    without the fence of one batch of all; the widths used are the larger of those asked for
    and the chunk's own. (Padded only to its own, a chunk's chi-squares can differ in the last
    bits: the padded residuals' sums are blocked by their length.)"""
    tracks = noisy_tracks(np.random.default_rng(8))
    tracks = [
        replace(tr, times_ns=tr.times_ns[:n], lon=tr.lon[:n], lat=tr.lat[:n], alt_m=tr.alt_m[:n])
        for q, tr in enumerate(tracks)
        for n in [4 + 3 * (q % 4)]
    ]
    assert len({len(tr.times_ns) for tr in tracks}) == 4
    fitted, alone = backtrack_many_alone(tracks, step_s=0.05)
    _, _, whole = backtrack_chunk(tracks, step_s=0.05)
    assert whole == (14, 13)  # the longest tracks' 13 points, and a fence point
    assert sum(bt is not None for bt in fitted) == len(tracks)
    for size in (1, 3, 5):
        for start in range(0, len(tracks), size):
            part = tracks[start : start + size]
            got, got_alone, widths = backtrack_chunk(part, widths=whole, step_s=0.05)
            assert widths == whole
            for q, (x, y) in enumerate(zip(got, got_alone, strict=True)):
                assert identical(x, fitted[start + q]) and identical(y, alone[start + q])
    _, _, own = backtrack_chunk(tracks[:1], step_s=0.05)
    assert own == (4, 0)  # 4 points, no fence
