"""The compiled locator kernel gives the same solutions as the NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest

from truceline.config import LocateSettings
from truceline.locate.solver import Arrivals, SoundSpeed, locate

SPEED = SoundSpeed(335.0, 3.0, -2.0)


def problem(rng):
    n = int(rng.integers(4, 30))
    sx, sy = rng.uniform(-5000, 5000, n), rng.uniform(-5000, 5000, n)
    x0, y0 = rng.uniform(-8000, 8000, 2)
    d = np.hypot(sx - x0, sy - y0)
    c_eff = SPEED.c_mps + (SPEED.wind_e_mps * (sx - x0) + SPEED.wind_n_mps * (sy - y0)) / d
    t = 10 + d / c_eff + rng.normal(0, 0.01, n)
    t[rng.random(n) < 0.1] += rng.uniform(-2, 2)  # outliers
    az = np.full(n, np.nan)
    az_sigma = np.full(n, np.nan)
    with_az = rng.random(n) < 0.3
    az[with_az] = np.degrees(np.arctan2(x0 - sx[with_az], y0 - sy[with_az])) % 360
    az_sigma[with_az] = 5.0
    start = (x0 + rng.normal(0, 500), y0 + rng.normal(0, 500), 10 + rng.normal(0, 1))
    return Arrivals(sx, sy, t, np.full(n, 0.01), az, az_sigma), start


@pytest.mark.parametrize("seed", range(4))
def test_compiled_and_numpy_locators_agree(seed):
    rng = np.random.default_rng(seed)
    compiled, reference = LocateSettings(kernel="compiled"), LocateSettings(kernel="numpy")
    solved = 0
    for _ in range(50):
        arr, start = problem(rng)
        a, b = locate(arr, SPEED, start, compiled), locate(arr, SPEED, start, reference)
        assert (a is None) == (b is None)
        if a is None:
            continue
        solved += 1
        np.testing.assert_array_equal(a.keep, b.keep)
        assert a.iterations == b.iterations and a.converged == b.converged
        np.testing.assert_allclose([a.x_m, a.y_m, a.tau_s], [b.x_m, b.y_m, b.tau_s], atol=1e-6)
        np.testing.assert_allclose(a.cov, b.cov, rtol=1e-6, atol=1e-12)
        assert a.chi2 == pytest.approx(b.chi2, rel=1e-6, abs=1e-9)
    assert solved >= 40


def test_too_few_arrivals_give_no_solution_in_both():
    arr = Arrivals(*(np.array([0.0, 1000.0, 0.0]),) * 2, np.zeros(3), np.full(3, 0.01),
                   np.full(3, np.nan), np.full(3, np.nan))  # fmt: skip
    for kernel in ("compiled", "numpy"):
        assert locate(arr, SPEED, (0.0, 0.0, 0.0), LocateSettings(kernel=kernel)) is None


@pytest.mark.parametrize("seed", range(4))
def test_compiled_time_rows_are_numpys(seed):
    """A compiled solve's covariance takes its time rows from `kernel.time_rows`: they must be
    the NumPy reference's numbers exactly, so the covariance is too."""
    from truceline.locate.kernel import time_rows
    from truceline.locate.solver import _prior, _residuals

    rng = np.random.default_rng(seed)
    settings = LocateSettings()
    prior = _prior(SPEED, settings)
    jitter = settings.propagation_jitter_s_per_km * 1e-3
    for _ in range(50):
        arr, start = problem(rng)
        keep = rng.random(arr.n) < 0.8
        theta = np.array([*start, 2.5, -1.5, 336.0])
        sub = arr.subset(keep)
        has_az = np.isfinite(sub.az_deg) & np.isfinite(sub.az_sigma_deg)
        times = time_rows(theta, arr.x_m, arr.y_m, arr.t_s, arr.sigma_s, keep, jitter)
        expected = _residuals(theta, sub, prior, settings, has_az)
        got = _residuals(theta, sub, prior, settings, has_az, times)
        for a, b in zip(got, expected, strict=True):
            np.testing.assert_array_equal(a, b)
