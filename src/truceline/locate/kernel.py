"""The locator's inner loop compiled with Numba: robust Gauss-Newton with outlier removal.

The same arithmetic as `truceline.locate.solver` (`travel_time`, `_residuals`, `_gauss_newton`
and the outlier loop of `locate`), written as scalar loops over the 5-40 arrivals of one event.
In NumPy each iteration costs ~100 µs of interpreter and array overhead for a few hundred
floating-point operations; compiled, the whole solve takes a few microseconds
(docs/performance.md, "Locator kernel"). `tests/locate/test_kernel.py` checks that both give the
same solutions.

Status codes: OK, TOO_FEW (fewer than 4 arrivals left), SINGULAR (normal equations singular),
REMOVED (`locate_rows_kernel`: an arrival was removed as an outlier).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

OK, TOO_FEW, SINGULAR, REMOVED = 0, 1, 2, 3
N_PARAMS = 6  # x, y, tau, w_e, w_n, c


@njit(cache=True)
def _solve6(a, b):
    """Solve a (6 x 6) x = b by Gaussian elimination with partial pivoting; None-free: returns
    (x, ok) with ok False on an exactly zero pivot (as LAPACK's getrf reports singular)."""
    n = a.shape[0]
    m = a.copy()
    v = b.copy()
    for k in range(n):
        p = k
        best = abs(m[k, k])
        for i in range(k + 1, n):
            if abs(m[i, k]) > best:
                best = abs(m[i, k])
                p = i
        if best == 0.0:
            return v, False
        if p != k:
            for j in range(n):
                m[k, j], m[p, j] = m[p, j], m[k, j]
            v[k], v[p] = v[p], v[k]
        for i in range(k + 1, n):
            f = m[i, k] / m[k, k]
            if f != 0.0:
                for j in range(k, n):
                    m[i, j] -= f * m[k, j]
                v[i] -= f * v[k]
    x = np.empty(n)
    for i in range(n - 1, -1, -1):
        s = v[i]
        for j in range(i + 1, n):
            s -= m[i, j] * x[j]
        x[i] = s / m[i, i]
    return x, True


@njit(cache=True)
def _time_row(dx, dy, dt, sig, we, wn, c, jitter_s_per_m, jac_row):
    """One arrival's normalised time residual and its sigma (s), returned, and its Jacobian row,
    written into `jac_row`, over (x, y, tau, wind east, wind north, c): sensor offset (dx, dy) m
    from the trial origin, arrival time dt s after the trial origin time, timing sigma `sig` s."""
    d = max(math.hypot(dx, dy), 1e-3)
    a = we * dx + wn * dy
    denom = c * d + a
    f = d * d / denom
    den2 = denom * denom
    ddx = -dx / d
    ddy = -dy / d
    s = math.sqrt(sig**2 + (jitter_s_per_m * d) ** 2)
    jac_row[0] = -((2 * d * ddx * denom - d * d * (c * ddx - we)) / den2) / s
    jac_row[1] = -((2 * d * ddy * denom - d * d * (c * ddy - wn)) / den2) / s
    jac_row[2] = -1.0 / s
    jac_row[3] = (d * d * dx / den2) / s
    jac_row[4] = (d * d * dy / den2) / s
    jac_row[5] = (d * d * d / den2) / s
    return (dt - f) / s, s


@njit(cache=True)
def _rows(theta, sx, sy, t, sig, az, az_sig, active, prior, jitter_s_per_m, r, jac):
    """Fill the normalised residuals r and Jacobian rows jac for the active arrivals: times,
    then azimuths, then the three weather priors. Returns the number of rows."""
    x, y, tau, we, wn, c = theta[0], theta[1], theta[2], theta[3], theta[4], theta[5]
    we0, wn0, c0, sw, sc = prior[0], prior[1], prior[2], prior[3], prior[4]
    k = 0
    for j in range(sx.size):
        if not active[j]:
            continue
        dx, dy = sx[j] - x, sy[j] - y
        r[k], _ = _time_row(dx, dy, t[j] - tau, sig[j], we, wn, c, jitter_s_per_m, jac[k])
        k += 1
    for j in range(sx.size):
        if not active[j] or not (math.isfinite(az[j]) and math.isfinite(az_sig[j])):
            continue
        ex = x - sx[j]
        ny = y - sy[j]
        d2 = max(ex * ex + ny * ny, 1.0)
        predicted = math.atan2(ex, ny)
        s = math.radians(az_sig[j])
        diff = math.radians(az[j]) - predicted
        r[k] = math.atan2(math.sin(diff), math.cos(diff)) / s
        for p in range(N_PARAMS):
            jac[k, p] = 0.0
        jac[k, 0] = -(ny / d2) / s
        jac[k, 1] = (ex / d2) / s
        k += 1
    for p in range(3):
        for q in range(N_PARAMS):
            jac[k + p, q] = 0.0
    r[k] = (we - we0) / sw
    jac[k, 3] = 1.0 / sw
    r[k + 1] = (wn - wn0) / sw
    jac[k + 1, 4] = 1.0 / sw
    r[k + 2] = (c - c0) / sc
    jac[k + 2, 5] = 1.0 / sc
    return k + 3


@njit(cache=True)
def _gauss_newton(theta, sx, sy, t, sig, az, az_sig, active, prior, jitter, huber_k, max_it, tol,
                  r, jac):  # fmt: skip
    """Huber-weighted Gauss-Newton from theta (modified in place). Returns (iterations,
    converged, ok)."""
    for iteration in range(1, max_it + 1):
        n = _rows(theta, sx, sy, t, sig, az, az_sig, active, prior, jitter, r, jac)
        a = np.zeros((N_PARAMS, N_PARAMS))
        g = np.zeros(N_PARAMS)
        for i in range(n):
            ai = abs(r[i])
            w = 1.0 if ai <= huber_k else huber_k / max(ai, 1e-12)
            for p in range(N_PARAMS):
                wp = w * jac[i, p]
                g[p] -= wp * r[i]
                for q in range(N_PARAMS):
                    a[p, q] += wp * jac[i, q]
        step, ok = _solve6(a, g)
        if not ok:
            return iteration, False, False
        length = math.hypot(step[0], step[1])
        if length > 2000.0:  # damp very long steps (far starting points): 2 km per iteration
            for p in range(N_PARAMS):
                step[p] *= 2000.0 / length
        for p in range(N_PARAMS):
            theta[p] += step[p]
        if math.hypot(step[0], step[1]) < tol:
            return iteration, True, True
    return max_it, False, True


@njit(cache=True)
def locate_kernel(sx, sy, t, sig, az, az_sig, start, prior, jitter_s_per_m, huber_k, max_it,
                  tol, outlier_sigma, max_outliers):  # fmt: skip
    """Robust origin: Gauss-Newton, then remove the worst time residual beyond outlier_sigma
    and solve again, at most max_outliers times. Returns (status, theta, keep, iterations,
    converged)."""
    n = sx.size
    keep = np.ones(n, dtype=np.bool_)
    theta = start.copy()
    r = np.empty(2 * n + 3)
    jac = np.empty((2 * n + 3, N_PARAMS))
    total = 0
    converged = False
    for _ in range(max_outliers + 1):
        if keep.sum() < 4:
            return TOO_FEW, theta, keep, total, converged
        iterations, converged, ok = _gauss_newton(
            theta, sx, sy, t, sig, az, az_sig, keep, prior, jitter_s_per_m, huber_k, max_it, tol,
            r, jac,
        )  # fmt: skip
        total += iterations
        if not ok:
            return SINGULAR, theta, keep, total, converged
        _rows(theta, sx, sy, t, sig, az, az_sig, keep, prior, jitter_s_per_m, r, jac)
        worst, worst_r, k = -1, -1.0, 0
        for j in range(n):
            if keep[j]:
                if abs(r[k]) > worst_r:
                    worst_r = abs(r[k])
                    worst = j
                k += 1
        if worst_r <= outlier_sigma:
            break
        keep[worst] = False
    if keep.sum() < 4:
        return TOO_FEW, theta, keep, total, converged
    return OK, theta, keep, total, converged


@njit(cache=True)
def time_rows(theta, sx, sy, t, sig, keep, jitter_s_per_m):
    """The normalised time residuals, their Jacobian rows and their sigmas for the kept
    arrivals at theta: the arithmetic of `solver._residuals`' time rows, so the same numbers
    (its azimuth and prior rows stay in NumPy: NumPy's arctan2 is not the C library's)."""
    x, y, tau, we, wn, c = theta[0], theta[1], theta[2], theta[3], theta[4], theta[5]
    m = keep.sum()
    r = np.empty(m)
    jac = np.empty((m, N_PARAMS))
    sigma = np.empty(m)
    k = 0
    for j in range(sx.size):
        if not keep[j]:
            continue
        dx, dy = sx[j] - x, sy[j] - y
        r[k], sigma[k] = _time_row(dx, dy, t[j] - tau, sig[j], we, wn, c, jitter_s_per_m, jac[k])
        k += 1
    return r, jac, sigma


@njit(cache=True)
def locate_rows_kernel(sx, sy, t, sig, az, az_sig, start, prior, jitter_s_per_m, huber_k, max_it,
                       tol, outlier_sigma, max_outliers, n_az):  # fmt: skip
    """`locate_kernel`, then, where it kept every arrival, the rows `solver._residuals` makes at
    the solution: the time rows (`time_rows`' numbers), `n_az` azimuth rows left for NumPy to
    fill (zero), and the three weather priors' rows. Returns (status, theta, r, jac); status
    REMOVED where an arrival was removed."""
    status, theta, keep, _, _ = locate_kernel(
        sx, sy, t, sig, az, az_sig, start, prior, jitter_s_per_m, huber_k, max_it, tol,
        outlier_sigma, max_outliers,
    )  # fmt: skip
    n = sx.size
    m = n + n_az + 3
    r = np.zeros(m)
    jac = np.zeros((m, N_PARAMS))
    if status != OK:
        return status, theta, r, jac
    for j in range(n):
        if not keep[j]:
            return REMOVED, theta, r, jac
    x, y, tau, we, wn, c = theta[0], theta[1], theta[2], theta[3], theta[4], theta[5]
    for j in range(n):
        r[j], _ = _time_row(sx[j] - x, sy[j] - y, t[j] - tau, sig[j], we, wn, c, jitter_s_per_m,
                            jac[j])  # fmt: skip
    k = n + n_az
    r[k] = (we - prior[0]) / prior[3]
    r[k + 1] = (wn - prior[1]) / prior[3]
    r[k + 2] = (c - prior[2]) / prior[4]
    jac[k, 3] = 1.0 / prior[3]
    jac[k + 1, 4] = 1.0 / prior[3]
    jac[k + 2, 5] = 1.0 / prior[4]
    return OK, theta, r, jac
