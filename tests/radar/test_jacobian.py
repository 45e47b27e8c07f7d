"""The backtracking fit's variational Jacobian (`kernel.fit_residuals_var`) is the derivative of
the same discrete integration as the residuals: it agrees with central differences of them,
gives the residuals bit for bit, and the fits it makes agree with those of forward differences
well inside their uncertainty."""

from __future__ import annotations

import numpy as np
import pytest

from truceline.radar import kernel, projectile
from truceline.radar.projectile import _MODEL, FENCE_HUBER, MAX_FLIGHT_S, backtrack_many

from .test_kernel import flight_states, noisy_tracks


def kernel_rows(seed: int):
    """Arguments of `kernel.fit_residuals` (without `fd_scale` and `jacobian`) for 30 rows of
    states along real flights: 12 points each (the last 2 padding), every third row with a
    fence point beyond the Huber corner and every third inside it."""
    rng = np.random.default_rng(seed)
    x, k, flights = flight_states(rng, 30)
    t = np.sort(rng.uniform(-4.0, 4.0, (30, 12)), axis=1)
    t[:, -2:] = t[:, -3:-2]
    pos = projectile.propagate(x, k, t, 0.1, kernel="compiled")[:, :, :3]
    xyz = pos + rng.normal(0, 15.0, pos.shape)
    weight = np.full((30, 12), 1 / 15.0)
    weight[:, -2:] = 0.0
    fence_col = np.where(np.arange(30) % 3 == 0, -1, 10)
    fence_w = rng.normal(0, 1, (30, 3)) / 15.0
    xyz[np.arange(30) % 3 == 1, 10] += 200.0  # beyond FENCE_HUBER sigma
    v0 = np.array([p.muzzle_velocity_mps for _, p, _, _ in flights], float)
    return (x, t, xyz, weight, k, v0, 0.002, 0.1, 0.1, 100), (
        MAX_FLIGHT_S, fence_col, fence_w, FENCE_HUBER, *_MODEL,
    )  # fmt: skip


@pytest.mark.parametrize("seed", range(2))
def test_variational_jacobian_is_the_derivative_of_the_residuals(seed):
    head, tail = kernel_rows(seed)
    r, jac = kernel.fit_residuals_var(*head, *tail)
    r_fd, _ = kernel.fit_residuals(*head, np.ones(6), False, *tail)
    assert np.array_equal(r, r_fd)  # the residuals bit for bit
    central = np.empty_like(jac)
    for q in range(6):
        eps = np.ones(6)
        eps[q] = 1e-3 if q < 3 else 1e-4  # m, m/s
        _, plus = kernel.fit_residuals(*head, eps, True, *tail)
        eps[q] = -eps[q]
        _, minus = kernel.fit_residuals(*head, eps, True, *tail)
        central[:, :, q] = 0.5 * (plus[:, :, q] + minus[:, :, q])
    scale = np.abs(jac).max(axis=1, keepdims=True)  # per row and state component
    assert np.all(np.abs(central - jac) <= 1e-6 * scale + 1e-12)
    # the fence rows (one inside the Huber corner, one beyond) and the prior are all there
    assert np.all(jac[np.arange(30) % 3 != 0, -2].any(axis=1)) and np.all(jac[:, -1].any(axis=1))


def test_fits_by_the_variational_jacobian_agree_with_forward_differences(monkeypatch):
    """Same class, launch and impact within 0.05 sigma, sigmas within 2%."""
    tracks = noisy_tracks(np.random.default_rng(5))
    a = backtrack_many(tracks, step_s=0.05)
    monkeypatch.setattr(projectile, "JACOBIAN", "difference")
    b = backtrack_many(tracks, step_s=0.05)
    for x, y in zip(a, b, strict=True):
        assert x.weapon == y.weapon
        for p, q in ((x.launch, y.launch), (x.impact, y.impact)):
            d = np.array([p.east_m - q.east_m, p.north_m - q.north_m])
            assert d @ np.linalg.solve(q.covariance[:2, :2], d) < 0.05**2
            np.testing.assert_allclose(
                np.sqrt(np.diag(p.covariance)), np.sqrt(np.diag(q.covariance)), rtol=0.02
            )
