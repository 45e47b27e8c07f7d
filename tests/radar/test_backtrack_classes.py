"""Projectile backtracking against the simulator's own physics, class by class, and the mixture
over candidate classes (docs/methods.md, Radar, "Projectile backtracking")."""

from __future__ import annotations

import numpy as np
import pytest

from truceline.ballistics import Projectile, fly
from truceline.geo.projection import TangentPlane
from truceline.radar.projectile import (
    GroundPoint,
    TrackPoints,
    _mixture,
    _range_weights,
    backtrack_many,
    candidates,
)
from truceline.weapons import weapon_classes

CHI2_2D_95 = 5.991464547107979

# (class, radar class, elevation deg, first point s after launch): typical shots as the
# simulator fires them (guns and rockets low, mortars high), acquired early and late.
SHOTS = [
    ("mortar", "mortar", 60.0, 2.0),
    ("mortar", "mortar", 75.0, 30.0),
    ("artillery-under-100mm", "shell", 6.0, 2.0),
    ("artillery-100mm-plus", "shell", 10.0, 3.0),
    ("artillery-100mm-plus", "shell", 25.0, 12.0),
    ("mlrs", "rocket", 20.0, 3.0),
    ("mlrs", "rocket", 35.0, 15.0),
    ("heavy-mlrs", "rocket", 30.0, 10.0),
    ("tank", "shell", 3.0, 0.5),
]


def _tracks(weapon: str, radar_class: str, el_deg: float, t_first: float, n: int, seed: int):
    """`n` radar tracks of one flight (exact integration, DOP853) fired north-east from the
    tangent point at time 1000 s: 13 points 0.5 s apart from `t_first`, each with isotropic
    noise of sigma 10 m + 2 m/km of slant range from a radar 8 km behind the launch (the
    simulator's radar)."""
    rng = np.random.default_rng(seed)
    proj = Projectile.for_weapon(weapon_classes()[weapon])
    el, az, v0 = np.radians(el_deg), np.radians(45.0), proj.muzzle_velocity_mps
    vel = v0 * np.array([np.cos(el) * np.sin(az), np.cos(el) * np.cos(az), np.sin(el)])
    traj = fly(proj, (0.0, 0.0, 0.0), vel)
    t = t_first + 0.5 * np.arange(13)
    t = t[t < traj.duration_s]
    s = traj.state_at(t)
    radar = np.array([-8000 * np.sin(az), -8000 * np.cos(az), 0.0])
    sigma = 10.0 + 2.0 * float(np.linalg.norm(s[:3, 0] - radar)) / 1e3
    plane = TangentPlane(37.0, 48.3)
    out = []
    for _ in range(n):
        e, nn, z = (s[i] + rng.normal(0, sigma, t.size) for i in range(3))
        lon, lat = plane.inverse(e, nn)
        times = (1_000_000_000_000 + np.rint(t * 1e9)).astype(np.int64)
        out.append(TrackPoints(times.tolist(), lon, lat, z, sigma, radar_class))
    return out, plane


def test_launch_errors_of_every_class_match_their_predicted_covariance():
    """The simulator's physics fitted by the same model: the launch errors are as large as the
    reported covariance says (mean squared Mahalanobis distance 2 for 2-D, 95% ellipse
    coverage 0.95), class by class and over all, and the class is the right one."""
    d2_all = []
    for q, (weapon, radar_class, el, t_first) in enumerate(SHOTS):
        tracks, plane = _tracks(weapon, radar_class, el, t_first, 40, seed=100 + q)
        results = backtrack_many(tracks)
        d2 = []
        right = 0
        for bt in results:
            assert bt is not None and bt.launch is not None
            right += bt.weapon == weapon
            # Launch at the tangent point of `plane`, 1000 s: expressed in the track's plane.
            lon, lat = plane.inverse(0.0, 0.0)
            e0, n0 = bt.plane.forward(lon, lat)
            d = np.array([bt.launch.east_m - float(e0[0]), bt.launch.north_m - float(n0[0])])
            d2.append(float(d @ np.linalg.solve(bt.launch.covariance[:2, :2], d)))
            assert abs(bt.reference_ns / 1e9 + bt.launch.time_s - 1000.0) < 5 * np.sqrt(
                bt.launch.covariance[2, 2]
            )
        d2 = np.array(d2)
        assert right >= 36, (weapon, right)
        assert 1.0 < d2.mean() < 3.5, (weapon, el, t_first, d2.mean())
        d2_all.extend(d2)
    d2_all = np.array(d2_all)
    coverage = float(np.mean(d2_all < CHI2_2D_95))
    assert 0.91 < coverage < 0.99, coverage
    assert 1.6 < d2_all.mean() < 2.6, d2_all.mean()


def _point(east: float, north: float, sigma: float, t: float = 0.0) -> GroundPoint:
    return GroundPoint(east, north, t, np.diag([sigma**2, sigma**2, 0.01]), 800.0)


def test_a_class_whose_flight_is_beyond_its_reach_loses_its_weight():
    """A tank round's fit that flies 8 km (the class reaches 5 km) gets (almost) no weight
    against a gun's that flies as far; a track whose every class is beyond reach keeps its
    chi-square weights."""
    cands = candidates("shell")
    ids = [c[0] for c in cands]
    prepared = [type("P", (), {"cands": cands})()]
    rows = [(0, j) for j in range(len(cands))]
    weights = np.ones(len(cands))
    launches = {j: _point(0.0, 0.0, 100.0) for j in range(len(cands))}
    impacts = {j: _point(0.0, 8000.0, 100.0) for j in range(len(cands))}
    w = _range_weights(rows, prepared, weights, launches, impacts)
    assert w[ids.index("tank")] == 0.0
    assert w[ids.index("artillery-100mm-plus")] == pytest.approx(1.0)
    far = {j: _point(0.0, 60_000.0, 100.0) for j in range(len(cands))}
    assert np.array_equal(_range_weights(rows, prepared, weights, launches, far), weights)


def test_the_mixture_of_two_classes_holds_both_launch_points():
    a, b = _point(0.0, 0.0, 50.0, 0.0), _point(0.0, 3000.0, 50.0, 2.0)
    mix = _mixture([a, b], np.array([0.75, 0.25]))
    assert (mix.east_m, mix.north_m, mix.time_s) == pytest.approx((0.0, 750.0, 0.5))
    # Variance along north: the classes' own plus the spread of their means.
    assert mix.covariance[1, 1] == pytest.approx(2500.0 + 0.75 * 0.25 * 3000.0**2)
    assert mix.covariance[1, 2] == pytest.approx(0.75 * 0.25 * 3000.0 * 2.0)
    assert _mixture([a, None], np.array([0.9, 0.1])) is a
    assert _mixture([None, b], np.array([0.9, 0.1])) is None


def _acquired_tracks(weapon: str, radar_class: str, el_deg: float, look_s: float, seed: int):
    """Tracks of one flight fired north-east from the tangent point at 1000 s, by a radar 8 km
    behind the launch facing the same way (sector 90°, range 25 km, fence 1°), acquired as the
    simulator does: the first of the radar's looks (every `look_s` from launch, a random
    phase) at which the projectile is inside the coverage, seen from the radar in its own
    Earth-centred east-north-up frame; then 13 points 0.5 s apart."""
    from truceline.geo.projection import enu_basis, to_ecef
    from truceline.radar.fence import Fence

    rng = np.random.default_rng(seed)
    proj = Projectile.for_weapon(weapon_classes()[weapon])
    el, az, v0 = np.radians(el_deg), np.radians(45.0), proj.muzzle_velocity_mps
    vel = v0 * np.array([np.cos(el) * np.sin(az), np.cos(el) * np.cos(az), np.sin(el)])
    traj = fly(proj, (0.0, 0.0, 0.0), vel)
    plane = TangentPlane(37.0, 48.3)
    r_lon, r_lat = plane.inverse(-8000 * np.sin(az), -8000 * np.cos(az))
    fence = Fence(float(r_lon[0]), float(r_lat[0]), 0.0, 45.0, 90.0, 25_000.0, 1.0, look_s)
    origin, basis = to_ecef(fence.lon, fence.lat)[0], enu_basis(fence.lon, fence.lat)[0]
    out = []
    for _ in range(40):
        looks = rng.uniform(0, look_s) + look_s * np.arange(int(traj.duration_s / look_s))
        s = traj.state_at(looks)
        lon, lat = plane.inverse(s[0], s[1])
        rel = (to_ecef(lon, lat, s[2]) - origin) @ basis.T
        slant = np.linalg.norm(rel, axis=1)
        seen_el = np.degrees(np.arcsin(rel[:, 2] / slant))
        off = np.degrees(np.abs(np.arctan2(rel[:, 0], rel[:, 1]) - np.radians(45.0)))
        inside = (seen_el >= 1.0) & (slant <= 25_000.0) & (off <= 45.0)
        t = looks[int(np.argmax(inside))] + 0.5 * np.arange(13)
        p = traj.state_at(t)
        sigma = 10.0 + 2.0 * float(slant[int(np.argmax(inside))]) / 1e3
        e, n, z = (p[i] + rng.normal(0, sigma, t.size) for i in range(3))
        lon, lat = plane.inverse(e, n)
        times = (1_000_000_000_000 + np.rint(t * 1e9)).astype(np.int64)
        out.append(TrackPoints(times.tolist(), lon, lat, z, sigma, radar_class, fence))
    return out, plane


@pytest.mark.parametrize(
    ("weapon", "radar_class", "el_deg"),
    [("artillery-100mm-plus", "shell", 8.0), ("mlrs", "rocket", 15.0), ("mortar", "mortar", 60.0)],
)
def test_the_search_fence_shrinks_the_launch_error_and_its_ellipse_stays_honest(
    weapon, radar_class, el_deg
):
    """Tracks acquired as the radar's fence and looks say: with the fence residual the launch
    errors of low shots are much smaller (rms 0.61 of without for this 152 mm shot, 0.75 for
    this rocket; mortars, which climb steeply through the fence, gain little: 0.91), and still
    as large as the covariance says."""
    from dataclasses import replace

    tracks, plane = _acquired_tracks(weapon, radar_class, el_deg, 0.25, seed=7)
    lon, lat = plane.inverse(0.0, 0.0)
    errors, d2 = {}, []
    for fenced in (False, True):
        use = tracks if fenced else [replace(tr, fence=None) for tr in tracks]
        err = []
        for bt in backtrack_many(use):
            e0, n0 = bt.plane.forward(lon, lat)
            d = np.array([bt.launch.east_m - float(e0[0]), bt.launch.north_m - float(n0[0])])
            err.append(float(np.hypot(*d)))
            if fenced:
                d2.append(float(d @ np.linalg.solve(bt.launch.covariance[:2, :2], d)))
        errors[fenced] = np.array(err)
    ratio = np.sqrt(np.mean(errors[True] ** 2) / np.mean(errors[False] ** 2))
    assert ratio < (1.0 if weapon == "mortar" else 0.85), ratio
    assert 1.0 < np.mean(d2) < 3.5, np.mean(d2)


def test_a_counter_battery_radar_declares_its_fence_and_other_sensors_have_none():
    from truceline.config import RadarSettings
    from truceline.radar.stage import radar_fence
    from truceline.records import Sensor

    props = {
        "radar": "counter-battery",
        "range_m": 25000.0,
        "sector": {"azimuth_deg": 130.0, "width_deg": 90.0},
    }
    settings = RadarSettings()
    fence = radar_fence(Sensor("CB1", "radar", "UA", 37.0, 48.0, properties=props), settings)
    assert fence is not None
    assert (fence.facing_deg, fence.width_deg, fence.range_m) == (130.0, 90.0, 25000.0)
    assert (fence.elevation_deg, fence.revisit_s) == (1.0, 0.25)
    own = {**props, "fence_elevation_deg": 2.5, "fence_revisit_s": 0.1}
    fence = radar_fence(Sensor("CB1", "radar", "UA", 37.0, 48.0, properties=own), settings)
    assert (fence.elevation_deg, fence.revisit_s) == (2.5, 0.1)
    air = {"radar": "air-surveillance", "range_m": 80000.0}
    assert radar_fence(Sensor("AR1", "radar", "UA", 37.0, 48.0, properties=air), settings) is None
    no_sector = {"radar": "counter-battery", "range_m": 25000.0}
    assert (
        radar_fence(Sensor("CB2", "radar", "UA", 37.0, 48.0, properties=no_sector), settings)
        is None
    )
    off = RadarSettings(fence_revisit_s=0.0)
    assert radar_fence(Sensor("CB1", "radar", "UA", 37.0, 48.0, properties=props), off) is None
