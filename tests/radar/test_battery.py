"""Launch points refined by the other rounds of their battery (`truceline.radar.battery`)."""

from __future__ import annotations

import numpy as np

from truceline.geo.projection import TangentPlane
from truceline.radar.battery import battery_points, with_battery

PLANE = TangentPlane(37.5, 48.3)


def _points(east, north):
    lon, lat = PLANE.inverse(np.asarray(east, float), np.asarray(north, float))
    return lon, lat


def _cov3(sx, sy, rho_et=0.0, st=0.5):
    c = np.diag([sx * sx, sy * sy, st * st])
    c[0, 2] = c[2, 0] = rho_et * sx * st
    return c


def test_leave_one_out_battery_and_update_equal_the_formulas():
    east, north = np.array([0.0, 120.0, -60.0, 30.0]), np.array([0.0, 40.0, -90.0, 150.0])
    cov = np.array([_cov3(200, 60, 0.5), _cov3(150, 80), _cov3(100, 100), _cov3(250, 50)])
    t = np.array([0, 10, 20, 30]) * 10**9
    lon, lat = _points(east, north)
    spread = 50.0
    got = battery_points(
        lon, lat, t, cov, ["shell"] * 4, spread_m=spread, window_s=60, gate_sigma=5
    )
    assert got.rounds.tolist() == [3, 3, 3, 3]
    # Round 0 by hand in the (flat, within centimetres here) plane.
    w = [np.linalg.inv(cov[j, :2, :2] + spread**2 * np.eye(2)) for j in (1, 2, 3)]
    b_cov = np.linalg.inv(sum(w))
    b = b_cov @ sum(wj @ np.array([east[j], north[j]]) for wj, j in zip(w, (1, 2, 3), strict=True))
    # ... widened by the other rounds' scatter about it, chi-square per degree of freedom.
    chi2 = sum(
        (np.array([east[j], north[j]]) - b) @ wj @ (np.array([east[j], north[j]]) - b)
        for wj, j in zip(w, (1, 2, 3), strict=True)
    )
    assert chi2 / 4 > 1  # these three scatter a little more than they should
    b_cov = b_cov * chi2 / 4
    e, n = PLANE.forward(got.lon[0], got.lat[0])
    assert abs(e[0] - b[0]) < 0.05 and abs(n[0] - b[1]) < 0.05
    np.testing.assert_allclose(got.covariance[0], b_cov, rtol=1e-6)
    # The update: a Kalman update of (east, north, time) by b ~ N(launch, B + S² I).
    lon2, lat2, t2, cov2 = with_battery(lon, lat, t, cov, got, spread)
    p = cov[0]
    s = p[:2, :2] + b_cov + spread**2 * np.eye(2)
    k = p[:, :2] @ np.linalg.inv(s)
    x = k @ b
    e, n = PLANE.forward(lon2[0], lat2[0])
    assert abs(e[0] - x[0]) < 0.05 and abs(n[0] - x[1]) < 0.05
    assert abs((t2[0] - t[0]) / 1e9 - x[2]) < 1e-6  # time moves through its correlation
    np.testing.assert_allclose(cov2[0], p - k @ p[:2, :], rtol=1e-6, atol=1e-9)


def test_other_classes_late_rounds_far_points_and_one_shots_tracks_do_not_locate_it():
    cov = np.array([_cov3(100, 100)] * 6)
    # 0: the round; 1: another class; 2: 200 s later; 3: 3 km away; 4: the same shot
    # (another radar's track); 5: a round of its battery.
    lon, lat = _points([0, 20, 20, 3000, 20, 20], [0, 0, 0, 0, 0, 0])
    t = np.array([0, 5, 200, 5, 0, 5]) * 10**9
    weapon = ["shell", "rocket", "shell", "shell", "shell", "shell"]
    shot = ["a", "b", "c", "d", "a", "e"]
    got = battery_points(lon, lat, t, cov, weapon, shot, spread_m=50, window_s=120, gate_sigma=3)
    assert got.rounds[0] == 1
    e, n = PLANE.forward(got.lon[0], got.lat[0])
    assert abs(e[0] - 20) < 0.05 and abs(n[0]) < 0.05
    assert got.rounds[3] == 0
    off = battery_points(lon, lat, t, cov, weapon, shot, spread_m=50, window_s=0, gate_sigma=3)
    assert not off.rounds.any()
    same = with_battery(lon, lat, t, cov, off, 50)
    np.testing.assert_array_equal(same[0], lon)
    np.testing.assert_array_equal(same[3], cov)


def test_refined_points_are_closer_and_their_ellipses_stay_honest():
    """Batteries of 2-6 guns 50 m apart per axis, each round's launch point off by a long
    ellipse (one radar's view along the flight): the refined points are closer to the guns and
    95% of them lie inside their 95% ellipses."""
    rng = np.random.default_rng(5)
    spread = 50.0
    east, north, times, covs, truth = [], [], [], [], []
    for k in range(400):
        centre = np.array([(k % 20) * 5000.0, (k // 20) * 5000.0])
        along = rng.uniform(80, 400)
        angle = rng.uniform(0, np.pi)
        r = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        c2 = r @ np.diag([along**2, (along / 4) ** 2]) @ r.T
        for q in range(rng.integers(2, 7)):
            gun = centre + rng.normal(0, spread, 2)
            c = c2 * rng.uniform(0.7, 1.4)
            point = rng.multivariate_normal(gun, c)
            east.append(point[0])
            north.append(point[1])
            times.append(k * 10**12 + q * 10 * 10**9)
            covs.append(np.block([[c, np.zeros((2, 1))], [np.zeros((1, 2)), np.eye(1)]]))
            truth.append(gun)
    lon, lat = _points(east, north)
    cov = np.array(covs)
    got = battery_points(
        lon, lat, times, cov, ["shell"] * len(east), spread_m=spread, window_s=120, gate_sigma=3
    )
    lon2, lat2, _, cov2 = with_battery(lon, lat, times, cov, got, spread)
    truth = np.array(truth)

    def errors(lo, la, c):
        e, n = PLANE.forward(lo, la)
        d = np.column_stack([e, n]) - truth
        m2 = np.einsum("qa,qab,qb->q", d, np.linalg.inv(c[:, :2, :2]), d)
        return np.hypot(d[:, 0], d[:, 1]), np.mean(m2 < 5.991)

    before, cover_before = errors(lon, lat, cov)
    after, cover_after = errors(lon2, lat2, cov2)
    assert np.median(after) < 0.75 * np.median(before)
    assert 0.93 < cover_before < 0.97 and 0.93 < cover_after < 0.97
