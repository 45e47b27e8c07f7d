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

The fit's Jacobian (`fit_residuals_var`, `projectile.JACOBIAN = "variational"`) is the exact
derivative of the same discrete integration, carried along with it: each RK4 step's stages
differentiated (`_rk4_var`: the 6x6 sensitivities to the fitted state, the drag's derivative a
rank-one term, no further exponentials or square roots), the Hermite weights fixed by the times,
the ground crossing's interpolated time differentiated. One integration with its sensitivities
costs about 3 of the 7 that forward differences need (`fit_residuals` with `jacobian`, kept as
`JACOBIAN = "difference"` and for the NumPy reference); `tests/radar/test_jacobian.py` checks it
against central differences of the residuals.

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


@njit(cache=True)
def _accel_tangent(z, vx, vy, vz, tz, tx, ty, tw, k, rho0, scale, g0):
    """`_accel` (the same arithmetic) and its derivative along (δz, δv) = (tz, tx, ty, tw)."""
    speed = math.sqrt(vx * vx + vy * vy + vz * vz)
    c = k * rho0 * math.exp(-z / scale)
    drag = c * speed
    m = drag / scale * tz - (c / speed if speed > 0 else 0.0) * (vx * tx + vy * ty + vz * tw)
    return (
        -drag * vx, -drag * vy, -drag * vz - g0, vx * m - drag * tx, vy * m - drag * ty,
        vz * m - drag * tw,
    )  # fmt: skip


@njit(cache=True)
def _rk4_var(s, p, k, h, out, pout, rho0, scale, g0):
    """`_rk4` (the same arithmetic for the state) and the derivative of the step: the
    sensitivities p (6, 6) of state s to the start state carried to pout (6, 6)
    (pout = (∂ step / ∂ s) p; RK4's stages differentiated exactly). A stage's acceleration
    a = -c|v|v - g (c = k ρ0 exp(-z/H)) moves by δa = v (c|v|/H δz - c/|v| v·δv) - c|v| δv."""
    x, y, z, vx, vy, vz = s[0], s[1], s[2], s[3], s[4], s[5]
    hh = 0.5 * h
    sp = math.sqrt(vx * vx + vy * vy + vz * vz)
    c = k * rho0 * math.exp(-z / scale)
    dr1 = c * sp
    w1, e1 = (c / sp if sp > 0 else 0.0), dr1 / scale
    a1x, a1y, a1z = -dr1 * vx, -dr1 * vy, -dr1 * vz - g0
    z2 = z + hh * vz
    vx2, vy2, vz2 = vx + hh * a1x, vy + hh * a1y, vz + hh * a1z
    sp = math.sqrt(vx2 * vx2 + vy2 * vy2 + vz2 * vz2)
    c = k * rho0 * math.exp(-z2 / scale)
    dr2 = c * sp
    w2, e2 = (c / sp if sp > 0 else 0.0), dr2 / scale
    a2x, a2y, a2z = -dr2 * vx2, -dr2 * vy2, -dr2 * vz2 - g0
    z3 = z + hh * vz2
    vx3, vy3, vz3 = vx + hh * a2x, vy + hh * a2y, vz + hh * a2z
    sp = math.sqrt(vx3 * vx3 + vy3 * vy3 + vz3 * vz3)
    c = k * rho0 * math.exp(-z3 / scale)
    dr3 = c * sp
    w3, e3 = (c / sp if sp > 0 else 0.0), dr3 / scale
    a3x, a3y, a3z = -dr3 * vx3, -dr3 * vy3, -dr3 * vz3 - g0
    z4 = z + h * vz3
    vx4, vy4, vz4 = vx + h * a3x, vy + h * a3y, vz + h * a3z
    sp = math.sqrt(vx4 * vx4 + vy4 * vy4 + vz4 * vz4)
    c = k * rho0 * math.exp(-z4 / scale)
    dr4 = c * sp
    w4, e4 = (c / sp if sp > 0 else 0.0), dr4 / scale
    a4x, a4y, a4z = -dr4 * vx4, -dr4 * vy4, -dr4 * vz4 - g0
    h6 = h / 6.0
    out[0] = x + h6 * (vx + 2 * vx2 + 2 * vx3 + vx4)
    out[1] = y + h6 * (vy + 2 * vy2 + 2 * vy3 + vy4)
    out[2] = z + h6 * (vz + 2 * vz2 + 2 * vz3 + vz4)
    out[3] = vx + h6 * (a1x + 2 * a2x + 2 * a3x + a4x)
    out[4] = vy + h6 * (a1y + 2 * a2y + 2 * a3y + a4y)
    out[5] = vz + h6 * (a1z + 2 * a2z + 2 * a3z + a4z)
    for q in range(6):
        pz, pvx, pvy, pvz = p[2, q], p[3, q], p[4, q], p[5, q]
        m = e1 * pz - w1 * (vx * pvx + vy * pvy + vz * pvz)
        d1x, d1y, d1z = vx * m - dr1 * pvx, vy * m - dr1 * pvy, vz * m - dr1 * pvz
        t2z = pz + hh * pvz
        t2x, t2y, t2w = pvx + hh * d1x, pvy + hh * d1y, pvz + hh * d1z
        m = e2 * t2z - w2 * (vx2 * t2x + vy2 * t2y + vz2 * t2w)
        d2x, d2y, d2z = vx2 * m - dr2 * t2x, vy2 * m - dr2 * t2y, vz2 * m - dr2 * t2w
        t3z = pz + hh * t2w
        t3x, t3y, t3w = pvx + hh * d2x, pvy + hh * d2y, pvz + hh * d2z
        m = e3 * t3z - w3 * (vx3 * t3x + vy3 * t3y + vz3 * t3w)
        d3x, d3y, d3z = vx3 * m - dr3 * t3x, vy3 * m - dr3 * t3y, vz3 * m - dr3 * t3w
        t4z = pz + h * t3w
        t4x, t4y, t4w = pvx + h * d3x, pvy + h * d3y, pvz + h * d3z
        m = e4 * t4z - w4 * (vx4 * t4x + vy4 * t4y + vz4 * t4w)
        d4x, d4y, d4z = vx4 * m - dr4 * t4x, vy4 * m - dr4 * t4y, vz4 * m - dr4 * t4w
        pout[0, q] = p[0, q] + h6 * (pvx + 2 * t2x + 2 * t3x + t4x)
        pout[1, q] = p[1, q] + h6 * (pvy + 2 * t2y + 2 * t3y + t4y)
        pout[2, q] = pz + h6 * (pvz + 2 * t2w + 2 * t3w + t4w)
        pout[3, q] = pvx + h6 * (d1x + 2 * d2x + 2 * d3x + d4x)
        pout[4, q] = pvy + h6 * (d1y + 2 * d2y + 2 * d3y + d4y)
        pout[5, q] = pvz + h6 * (d1z + 2 * d2z + 2 * d3z + d4z)


@njit(cache=True)
def _rk4_velocity_by_step(s, k, h, rho0, scale, g0):
    """The derivative of `_rk4`'s velocity after one step of size h from s by h itself (its
    stages differentiated: stage i's input s + c_i·h·k_(i-1) moves with h)."""
    z, vx, vy, vz = s[2], s[3], s[4], s[5]
    hh = 0.5 * h
    a1x, a1y, a1z = _accel(z, vx, vy, vz, k, rho0, scale, g0)
    z2 = z + hh * vz
    vx2, vy2, vz2 = vx + hh * a1x, vy + hh * a1y, vz + hh * a1z
    t2z, t2x, t2y, t2w = 0.5 * vz, 0.5 * a1x, 0.5 * a1y, 0.5 * a1z
    a2x, a2y, a2z, b2x, b2y, b2z = _accel_tangent(
        z2, vx2, vy2, vz2, t2z, t2x, t2y, t2w, k, rho0, scale, g0
    )
    z3 = z + hh * vz2
    vx3, vy3, vz3 = vx + hh * a2x, vy + hh * a2y, vz + hh * a2z
    t3z, t3w = 0.5 * vz2 + hh * t2w, 0.5 * a2z + hh * b2z
    t3x, t3y = 0.5 * a2x + hh * b2x, 0.5 * a2y + hh * b2y
    a3x, a3y, a3z, b3x, b3y, b3z = _accel_tangent(
        z3, vx3, vy3, vz3, t3z, t3x, t3y, t3w, k, rho0, scale, g0
    )
    z4 = z + h * vz3
    vx4, vy4, vz4 = vx + h * a3x, vy + h * a3y, vz + h * a3z
    t4z, t4x, t4y, t4w = vz3 + h * t3w, a3x + h * b3x, a3y + h * b3y, a3z + h * b3z
    a4x, a4y, a4z, b4x, b4y, b4z = _accel_tangent(
        z4, vx4, vy4, vz4, t4z, t4x, t4y, t4w, k, rho0, scale, g0
    )
    h6 = h / 6.0
    return (
        (a1x + 2 * a2x + 2 * a3x + a4x) / 6.0 + h6 * (2 * b2x + 2 * b3x + b4x),
        (a1y + 2 * a2y + 2 * a3y + a4y) / 6.0 + h6 * (2 * b2y + 2 * b3y + b4y),
        (a1z + 2 * a2z + 2 * a3z + a4z) / 6.0 + h6 * (2 * b2z + 2 * b3z + b4z),
    )


@njit(cache=True)
def _propagate_positions_var(s0, k, times, step_s, pos, dpos, rho0, scale, g0):
    """The positions of `_propagate_row` (the same arithmetic) into pos (p, 3) and their
    derivatives by the state s0 into dpos (p, 3, 6): the RK4 grid carried with its
    sensitivities (`_rk4_var`), the cubic Hermite's weights fixed by the times."""
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
        sens = np.empty((n + 1, 6, 6))
        grid[0] = s0
        sens[0] = 0.0
        for a in range(6):
            sens[0, a, a] = 1.0
        for i in range(n):
            _rk4_var(grid[i], sens[i], k, hs, grid[i + 1], sens[i + 1], rho0, scale, g0)
        for i in range(p):
            if not ((times[i] >= 0) if sign > 0 else (times[i] < 0)):
                continue
            u = abs(times[i]) / h
            j = min(math.floor(u), n - 1)
            w = u - j
            a, b = grid[j], grid[j + 1]
            h00 = 2 * w**3 - 3 * w**2 + 1
            h10 = w**3 - 2 * w**2 + w
            h01 = -2 * w**3 + 3 * w**2
            h11 = w**3 - w**2
            c10, c11 = h10 * hs, h11 * hs
            pos[i, 0] = h00 * a[0] + c10 * a[3] + h01 * b[0] + c11 * b[3]
            pos[i, 1] = h00 * a[1] + c10 * a[4] + h01 * b[1] + c11 * b[4]
            pos[i, 2] = h00 * a[2] + c10 * a[5] + h01 * b[2] + c11 * b[5]
            sa, sb = sens[j], sens[j + 1]
            for ax in range(3):
                for q in range(6):
                    dpos[i, ax, q] = (
                        h00 * sa[ax, q] + c10 * sa[3 + ax, q] + h01 * sb[ax, q]
                        + c11 * sb[3 + ax, q]
                    )  # fmt: skip


@njit(cache=True)
def _launch_speed_var(s0, k, h, max_flight_s, grad, rho0, scale, g0):
    """The speed (m/s) where `_to_ground_row` (the same arithmetic) carries s0 by steps h, and
    its gradient by s0 into grad (6,): the steps' sensitivities (`_rk4_var`), the crossing's
    interpolated time differentiated and with it the refining step's length
    (`_rk4_velocity_by_step`). NaN (gradient 0) where the ground is not reached."""
    grad[:] = 0.0
    if s0[2] <= 0:
        speed = math.sqrt(s0[3] ** 2 + s0[4] ** 2 + s0[5] ** 2)
        if speed > 0:
            for a in range(3):
                grad[3 + a] = s0[3 + a] / speed
        return speed
    end = np.empty(6)
    s = s0.copy()
    nxt = np.empty(6)
    ps = np.zeros((6, 6))
    for a in range(6):
        ps[a, a] = 1.0
    pn = np.empty((6, 6))
    pe = np.empty((6, 6))
    elapsed = 0.0
    while elapsed < max_flight_s:
        _rk4_var(s, ps, k, h, nxt, pn, rho0, scale, g0)
        for a in range(6):
            if not math.isfinite(nxt[a]):
                return np.nan
        elapsed += abs(h)
        if nxt[2] <= 0:
            gap = s[2] - nxt[2]
            f = s[2] / gap
            _rk4_var(s, ps, k, h * f, end, pe, rho0, scale, g0)
            speed = math.sqrt(end[3] ** 2 + end[4] ** 2 + end[5] ** 2)
            ax, ay, az = _rk4_velocity_by_step(s, k, h * f, rho0, scale, g0)
            for q in range(6):
                df = (s[2] * pn[2, q] - nxt[2] * ps[2, q]) / gap**2
                dvx = pe[3, q] + ax * h * df
                dvy = pe[4, q] + ay * h * df
                dvz = pe[5, q] + az * h * df
                grad[q] = (end[3] * dvx + end[4] * dvy + end[5] * dvz) / speed
            return speed
        s[:] = nxt
        ps[:] = pn
    return np.nan


@njit(cache=True)
def fit_residuals_var(x, t, xyz, weight, k, v0, speed_sigma, step_s, ground_step_s,
                      ground_steps, max_flight_s, fence_col, fence_w, fence_huber,
                      rho0, scale, g0):  # fmt: skip
    """`fit_residuals` with the Jacobian, the Jacobian by the variational equations instead of
    forward differences: the derivative of the same discrete integration (RK4's stages, the
    Hermite interpolation, the Huber fence, the ground crossing), carried along with the state
    in one integration. The residuals are those of `fit_residuals`, bit for bit."""
    c, p = t.shape
    n_res = 3 * p + 2
    r_out = np.empty((c, n_res))
    j_out = np.empty((c, n_res, 6))
    pos = np.empty((p, 3))
    dpos = np.empty((p, 3, 6))
    grad = np.empty(6)
    for row in range(c):
        h = -_ground_step(x[row], ground_step_s, ground_steps, g0)
        _propagate_positions_var(x[row], k[row], t[row], step_s, pos, dpos, rho0, scale, g0)
        for i in range(p):
            for a in range(3):
                r_out[row, 3 * i + a] = (pos[i, a] - xyz[row, i, a]) * weight[row, i]
                for q in range(6):
                    j_out[row, 3 * i + a, q] = dpos[i, a, q] * weight[row, i]
        f = fence_col[row]
        u = 0.0
        for q in range(6):
            j_out[row, n_res - 2, q] = 0.0
        if f >= 0:
            for a in range(3):
                u += (pos[f, a] - xyz[row, f, a]) * fence_w[row, a]
                for q in range(6):
                    j_out[row, n_res - 2, q] += dpos[f, a, q] * fence_w[row, a]
            au = abs(u)
            if au > fence_huber:
                root = math.sqrt(2 * fence_huber * au - fence_huber**2)
                u = math.copysign(root, u)
                for q in range(6):
                    j_out[row, n_res - 2, q] *= fence_huber / root
        r_out[row, n_res - 2] = u
        speed = _launch_speed_var(x[row], k[row], h, max_flight_s, grad, rho0, scale, g0)
        if math.isfinite(speed):
            r_out[row, n_res - 1] = (speed - v0[row]) / (speed_sigma * v0[row])
            for q in range(6):
                j_out[row, n_res - 1, q] = grad[q] / (speed_sigma * v0[row])
        else:
            r_out[row, n_res - 1] = 10.0
            for q in range(6):
                j_out[row, n_res - 1, q] = 0.0
    return r_out, j_out
