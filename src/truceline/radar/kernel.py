"""The ballistic integration of projectile backtracking compiled with Numba, one row at a time.

The same arithmetic as the NumPy reference in `truceline.radar.projectile` (`_accel`, `_rk4`,
`propagate`, `to_ground` and the residuals of `_fit`): point mass, gravity, quadratic drag in
the exponential atmosphere, fixed-step RK4, cubic Hermite between steps, the ground crossing
refined by one RK4 step from the bracketing state. Each row is integrated on its own: its own
step (from its own span of point times, or its own vacuum time of fall) and it stops when it
reaches the ground. (The NumPy reference steps the rows still in flight together, each with its
own step; before this kernel every row of a batch stepped on one grid until the slowest reached
the ground, at ~130 µs of array overhead per derivative.) Here one RK4 step of one row is a few
dozen floating-point operations (docs/performance.md, "Backtracking kernel and tracker rounds").
`tests/radar/test_kernel.py` checks that both give the same results.

The model's constants (sea-level density kg/m³, scale height m, gravity m/s²) are arguments,
not globals, so that Numba's on-disk cache never holds stale values.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def _accel(z, vx, vy, vz, k, rho0, scale, g0):
    """Acceleration (m/s²) of a point mass at height z (m) with velocity v (m/s)."""
    speed = math.sqrt(vx * vx + vy * vy + vz * vz)
    drag = k * rho0 * math.exp(-z / scale) * speed
    return -drag * vx, -drag * vy, -drag * vz - g0


@njit(cache=True)
def _rk4(s, k, h, out, rho0, scale, g0):
    """One RK4 step of size h (s, either sign) from state s (6,) into out (6,)."""
    x, y, z, vx, vy, vz = s[0], s[1], s[2], s[3], s[4], s[5]
    a1x, a1y, a1z = _accel(z, vx, vy, vz, k, rho0, scale, g0)
    hh = 0.5 * h
    z2 = z + hh * vz
    vx2, vy2, vz2 = vx + hh * a1x, vy + hh * a1y, vz + hh * a1z
    a2x, a2y, a2z = _accel(z2, vx2, vy2, vz2, k, rho0, scale, g0)
    z3 = z + hh * vz2
    vx3, vy3, vz3 = vx + hh * a2x, vy + hh * a2y, vz + hh * a2z
    a3x, a3y, a3z = _accel(z3, vx3, vy3, vz3, k, rho0, scale, g0)
    z4 = z + h * vz3
    vx4, vy4, vz4 = vx + h * a3x, vy + h * a3y, vz + h * a3z
    a4x, a4y, a4z = _accel(z4, vx4, vy4, vz4, k, rho0, scale, g0)
    h6 = h / 6.0
    out[0] = x + h6 * (vx + 2 * vx2 + 2 * vx3 + vx4)
    out[1] = y + h6 * (vy + 2 * vy2 + 2 * vy3 + vy4)
    out[2] = z + h6 * (vz + 2 * vz2 + 2 * vz3 + vz4)
    out[3] = vx + h6 * (a1x + 2 * a2x + 2 * a3x + a4x)
    out[4] = vy + h6 * (a1y + 2 * a2y + 2 * a3y + a4y)
    out[5] = vz + h6 * (a1z + 2 * a2z + 2 * a3z + a4z)


@njit(cache=True)
def _propagate_row(s0, k, times, step_s, out, rho0, scale, g0):
    """State s0 (6,) at time 0 carried to each of `times` (p,) (either sign) into out (p, 6):
    RK4 on the row's own grid (per direction, span / ceil(span / step_s)), cubic Hermite
    between steps."""
    p = times.size
    for sign in (1.0, -1.0):
        span = -1.0
        for i in range(p):
            if (times[i] >= 0) if sign > 0 else (times[i] < 0):
                span = max(span, abs(times[i]))
        if span < 0:
            continue
        n = max(1, math.ceil(span / step_s))
        h = span / n if span > 0 else step_s
        hs = sign * h
        grid = np.empty((n + 1, 6))
        grid[0] = s0
        for i in range(n):
            _rk4(grid[i], k, hs, grid[i + 1], rho0, scale, g0)
        for i in range(p):
            if not ((times[i] >= 0) if sign > 0 else (times[i] < 0)):
                continue
            u = abs(times[i]) / h
            j = min(math.floor(u), n - 1)
            w = u - j
            a, b = grid[j], grid[j + 1]
            dax, day, daz = _accel(a[2], a[3], a[4], a[5], k, rho0, scale, g0)
            dbx, dby, dbz = _accel(b[2], b[3], b[4], b[5], k, rho0, scale, g0)
            h00 = 2 * w**3 - 3 * w**2 + 1
            h10 = w**3 - 2 * w**2 + w
            h01 = -2 * w**3 + 3 * w**2
            h11 = w**3 - w**2
            c10, c11 = h10 * hs, h11 * hs
            out[i, 0] = h00 * a[0] + c10 * a[3] + h01 * b[0] + c11 * b[3]
            out[i, 1] = h00 * a[1] + c10 * a[4] + h01 * b[1] + c11 * b[4]
            out[i, 2] = h00 * a[2] + c10 * a[5] + h01 * b[2] + c11 * b[5]
            out[i, 3] = h00 * a[3] + c10 * dax + h01 * b[3] + c11 * dbx
            out[i, 4] = h00 * a[4] + c10 * day + h01 * b[4] + c11 * dby
            out[i, 5] = h00 * a[5] + c10 * daz + h01 * b[5] + c11 * dbz


@njit(cache=True)
def _to_ground_row(s0, k, h, max_flight_s, end, rho0, scale, g0):
    """State s0 (6,) carried by steps h (s; negative: backward in time) to height 0, the
    crossing refined by one RK4 step from the bracketing state by the interpolated time. Writes
    the state there into end (6,) and returns the signed time taken; NaN (both) where not
    reached within max_flight_s or the state stopped being finite."""
    if s0[2] <= 0:
        end[:] = s0
        return 0.0
    s = s0.copy()
    nxt = np.empty(6)
    t = 0.0
    elapsed = 0.0
    while elapsed < max_flight_s:
        _rk4(s, k, h, nxt, rho0, scale, g0)
        for a in range(6):
            if not math.isfinite(nxt[a]):
                end[:] = np.nan
                return np.nan
        elapsed += abs(h)
        if nxt[2] <= 0:
            f = s[2] / (s[2] - nxt[2])
            _rk4(s, k, h * f, end, rho0, scale, g0)
            return t + h * f
        s[:] = nxt
        t = t + h
    end[:] = np.nan
    return np.nan


@njit(cache=True)
def _ground_step(s, step_s, steps, g0):
    """The step (s, positive) to the ground from state s: about `steps` steps over its vacuum
    time of fall, at least step_s."""
    vz = abs(s[5])
    t_guess = (vz + math.sqrt(vz**2 + 2 * g0 * max(s[2], 0.0))) / g0
    guess = t_guess / steps
    return guess if guess > step_s else step_s


@njit(cache=True)
def propagate(states, k, times, step_s, rho0, scale, g0):
    """States (m, 6) carried to times (m, p), each row on its own grid. Shape (m, p, 6)."""
    m, p = times.shape
    out = np.empty((m, p, 6))
    for r in range(m):
        _propagate_row(states[r], k[r], times[r], step_s, out[r], rho0, scale, g0)
    return out


@njit(cache=True)
def to_ground(states, k, h, max_flight_s, rho0, scale, g0):
    """States (m, 6) carried to height 0 by their own signed steps h (m,). Returns the states
    there (m, 6) and the signed times taken (m,), NaN where not reached."""
    m = states.shape[0]
    end = np.empty((m, 6))
    t_end = np.empty(m)
    for r in range(m):
        t_end[r] = _to_ground_row(states[r], k[r], h[r], max_flight_s, end[r], rho0, scale, g0)
    return end, t_end


@njit(cache=True)
def fit_residuals(x, t, xyz, weight, k, v0, speed_sigma, step_s, ground_step_s, ground_steps,
                  fd_scale, jacobian, max_flight_s, fence_col, fence_w, fence_huber,
                  rho0, scale, g0):  # fmt: skip
    """The residuals of `projectile._fit` for states x (c, 6): per point and axis
    (p(t_i; x) - z_i) / σ (row r's points t[r], xyz[r], weights weight[r] = 1/σ, 0 for padding),
    then the fence residual u = fence_w[r]·(p(t_f) - z_f) of the point in column fence_col[r] (0
    where fence_col[r] < 0), as sign(u) √(2c|u| − c²) beyond c = fence_huber (Huber's loss),
    then the muzzle-speed prior (|v| at launch height - v0) /
    (speed_sigma · v0), 10 where the ground is not reached. With `jacobian`, also the
    forward-difference Jacobian (steps fd_scale): the 6 perturbed states use the unperturbed
    state's step to the ground, so that the differences hold no change of grid. Returns r
    (c, 3p + 2) and J (c, 3p + 2, 6) (empty without `jacobian`)."""
    c, p = t.shape
    n_res = 3 * p + 2
    r_out = np.empty((c, n_res))
    j_out = np.empty((c if jacobian else 0, n_res, 6))
    pos = np.empty((p, 6))
    launch = np.empty(6)
    rq = np.empty(n_res)
    s = np.empty(6)
    n_eval = 7 if jacobian else 1
    for row in range(c):
        h = -_ground_step(x[row], ground_step_s, ground_steps, g0)
        for q in range(n_eval):
            s[:] = x[row]
            if q > 0:
                s[q - 1] += fd_scale[q - 1]
            _propagate_row(s, k[row], t[row], step_s, pos, rho0, scale, g0)
            for i in range(p):
                for a in range(3):
                    rq[3 * i + a] = (pos[i, a] - xyz[row, i, a]) * weight[row, i]
            f = fence_col[row]
            rq[n_res - 2] = 0.0
            if f >= 0:
                for a in range(3):
                    rq[n_res - 2] += (pos[f, a] - xyz[row, f, a]) * fence_w[row, a]
                u = abs(rq[n_res - 2])
                if u > fence_huber:
                    rq[n_res - 2] = math.copysign(
                        math.sqrt(2 * fence_huber * u - fence_huber**2), rq[n_res - 2]
                    )
            _to_ground_row(s, k[row], h, max_flight_s, launch, rho0, scale, g0)
            speed = math.sqrt(launch[3] ** 2 + launch[4] ** 2 + launch[5] ** 2)
            if math.isfinite(speed):
                rq[n_res - 1] = (speed - v0[row]) / (speed_sigma * v0[row])
            else:
                rq[n_res - 1] = 10.0
            if q == 0:
                r_out[row] = rq
            else:
                for i in range(n_res):
                    j_out[row, i, q - 1] = (rq[i] - r_out[row, i]) / fd_scale[q - 1]
    return r_out, j_out
