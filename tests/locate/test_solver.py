"""The locator against its own model: exact recovery without noise, honest ellipses with it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from truceline.config import LocateSettings
from truceline.locate.solver import (
    Arrivals,
    SoundSpeed,
    crb_covariance,
    ellipse_axes,
    ellipse_k2,
    locate,
)
from truceline.locate.start import solve_lstsq, solve_many

SPEED = SoundSpeed.from_temperature(10.0, 3.0, -2.0)


def arrivals_for(rng, src, tau, n, spread=6000.0, sigma=0.01, jitter=0.005, noise=True):
    sx, sy = rng.uniform(-spread, spread, n), rng.uniform(-spread, spread, n)
    dx, dy = sx - src[0], sy - src[1]
    d = np.hypot(dx, dy)
    c_eff = SPEED.c_mps + (SPEED.wind_e_mps * dx + SPEED.wind_n_mps * dy) / d
    t = tau + d / c_eff
    if noise:
        t = t + rng.normal(0, np.sqrt(sigma**2 + (jitter * d / 1e3) ** 2))
    nan = np.full(n, np.nan)
    return Arrivals(sx, sy, t, np.full(n, sigma), nan, nan)


def test_speed_of_sound_formula():
    assert SoundSpeed.from_temperature(0.0).c_mps == pytest.approx(331.3)
    assert SoundSpeed.from_temperature(20.0).c_mps == pytest.approx(343.2, abs=0.05)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000))
def test_noise_free_arrivals_give_the_exact_origin(seed):
    rng = np.random.default_rng(seed)
    src = rng.uniform(-3000, 3000, 2)
    arr = arrivals_for(rng, src, 100.0, 8, noise=False)
    sol = locate(arr, SPEED, (src[0] + 300, src[1] - 300, 99.0))
    assert sol is not None and sol.converged
    assert np.hypot(sol.x_m - src[0], sol.y_m - src[1]) < 0.05
    assert sol.tau_s == pytest.approx(100.0, abs=1e-4)


def test_closed_form_start_is_exact_without_noise():
    rng = np.random.default_rng(0)
    c = 340.0
    sx, sy = rng.uniform(-5000, 5000, (20, 4)), rng.uniform(-5000, 5000, (20, 4))
    src = rng.uniform(-3000, 3000, (20, 2))
    tau = rng.uniform(0, 100, 20)
    t = tau[:, None] + np.hypot(sx - src[:, :1], sy - src[:, 1:]) / c
    x, y, tt = solve_many(sx, sy, t, c)
    np.testing.assert_allclose(np.c_[x, y], src, atol=1e-5)
    np.testing.assert_allclose(tt, tau, atol=1e-8)
    one = solve_lstsq(sx[0], sy[0], t[0], c)
    assert one is not None and np.allclose(one, (*src[0], tau[0]))


def test_collinear_subsets_are_flagged_not_solved():
    x = np.array([[0.0, 1000.0, 2000.0, 3000.0]])
    y = np.zeros((1, 4))
    t = np.array([[1.0, 2.0, 3.0, 4.0]])
    hx, _, _ = solve_many(x, y, t, 340.0)
    assert np.isnan(hx[0])


def test_outlier_is_removed_and_reported():
    rng = np.random.default_rng(5)
    arr = arrivals_for(rng, (500.0, -200.0), 50.0, 10)
    t = arr.t_s.copy()
    t[3] += 0.8  # a detection of something else
    arr = Arrivals(arr.x_m, arr.y_m, t, arr.sigma_s, arr.az_deg, arr.az_sigma_deg)
    sol = locate(arr, SPEED, (0.0, 0.0, 49.0))
    assert sol is not None
    assert not sol.keep[3] and sol.keep.sum() == 9
    assert np.hypot(sol.x_m - 500, sol.y_m + 200) < 30


def test_azimuths_constrain_the_origin():
    rng = np.random.default_rng(2)
    arr = arrivals_for(rng, (800.0, 900.0), 10.0, 6)
    az = np.degrees(np.arctan2(800.0 - arr.x_m, 900.0 - arr.y_m)) % 360
    with_az = Arrivals(arr.x_m, arr.y_m, arr.t_s, arr.sigma_s, az, np.full(6, 1.0))
    a = locate(arr, SPEED, (0.0, 0.0, 9.0))
    b = locate(with_az, SPEED, (0.0, 0.0, 9.0))
    assert np.linalg.det(b.cov[:2, :2]) < np.linalg.det(a.cov[:2, :2])


def test_ellipse_axes_of_a_rotated_covariance():
    theta = np.radians(30.0)  # major axis 30 degrees east of north
    u = np.array([np.sin(theta), np.cos(theta)])
    v = np.array([np.cos(theta), -np.sin(theta)])
    cov = 100.0 * np.outer(u, u) + 4.0 * np.outer(v, v)
    major, minor, az = ellipse_axes(cov, 1.0)
    assert (major, minor) == pytest.approx((10.0, 2.0))
    assert az == pytest.approx(30.0)


def test_ellipses_cover_the_truth_95_percent_and_errors_match_the_bound():
    """Monte Carlo over random geometries: coverage near 95% and errors near the CRB."""
    rng = np.random.default_rng(11)
    inside, errors, bounds = 0, [], []
    trials = 400
    for _ in range(trials):
        n = int(rng.integers(6, 20))
        src = rng.uniform(-2500, 2500, 2)
        arr = arrivals_for(rng, src, 30.0, n)
        # The weather report errs as the locator's prior says.
        report = SoundSpeed(
            SPEED.c_mps + rng.normal(0, 0.3),
            SPEED.wind_e_mps + rng.normal(0, 0.5),
            SPEED.wind_n_mps + rng.normal(0, 0.5),
        )
        sol = locate(arr, report, (src[0] + 200, src[1] + 200, 29.5))
        e = np.array([sol.x_m - src[0], sol.y_m - src[1]])
        inside += e @ np.linalg.solve(sol.cov[:2, :2], e) <= ellipse_k2(
            0.95, sol.dof, sol.prior_dof
        )
        errors.append(np.hypot(*e))
        bounds.append(np.sqrt(np.trace(crb_covariance(src[0], src[1], arr, SPEED)[:2, :2])))
    coverage = inside / trials
    assert 0.92 <= coverage <= 0.985, coverage
    rms_error = np.sqrt(np.mean(np.square(errors)))
    rms_bound = np.sqrt(np.mean(np.square(bounds)))
    assert rms_error / rms_bound < 1.3, (rms_error, rms_bound)


def test_settings_come_from_the_declared_configuration():
    s = LocateSettings()
    assert s.propagation_jitter_s_per_km == 0.005 and s.outlier_sigma == 4.0
