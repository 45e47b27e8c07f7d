"""Projectile backtracking: a counter-battery radar track -> launch and impact points, with
uncertainty (docs/methods.md, "Radar: projectile backtracking").

For each weapon class the radar's class (`shell`, `rocket`, `mortar`) may be, the point-mass
model of `truceline.ballistics` (gravity, quadratic drag in an exponential atmosphere, drag
factor of the class) is fitted to the track points by Gauss-Newton: the unknown is the state
(east, north, up, v_east, v_north, v_up) at the track's middle time, the residuals are the
points' offsets over their sigma, plus one prior residual: the speed at launch height against
the class's muzzle speed (relative sigma `muzzle_speed_sigma`). The class with the smallest
total chi-square is kept. The fitted state's covariance is carried to the launch (integrating
back to height 0) and to the impact (forward to height 0) by the unscented transform, giving the
(east, north, time) covariance and the 95% ellipse of each.

Coordinates: east and north in the plane tangent to the ellipsoid at the track's first point
(`TangentPlane`), up = the reported altitude, as the ballistic model's flat Earth assumes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
from numpy.typing import NDArray

from truceline.ballistics import G0_MPS2, STANDARD_ATMOSPHERE, Projectile
from truceline.geo.projection import TangentPlane
from truceline.weapons import weapon_classes

CHI2_2D_95 = 5.991464547107979
"""95% quantile of the chi-square distribution with 2 degrees of freedom."""
MAX_FLIGHT_S = 600.0
MAX_ITERATIONS = 4
"""Levenberg-Marquardt iterations per fit: the polynomial start is close, and more iterations
changed no backtracked launch point by more than a metre on sector-quick."""


@cache
def candidates(radar_class: str) -> tuple[tuple[str, float, float], ...]:
    """(weapon id, drag factor k m²/kg, muzzle speed m/s) of the ballistic classes a counter-
    battery radar reports as `radar_class`; every ballistic class if the name is unknown."""
    classes = [w for w in weapon_classes().values() if w.ballistic]
    chosen = [w for w in classes if w.radar_class == radar_class] or classes
    out = []
    for w in chosen:
        p = Projectile.for_weapon(w)
        out.append((w.id, p.drag_factor_m2pkg, float(p.muzzle_velocity_mps)))
    return tuple(out)


def _accel(states: NDArray[np.float64], k) -> NDArray[np.float64]:
    """Time derivative of states (m, 6); `k` is the drag factor, one or one per state."""
    rho0 = STANDARD_ATMOSPHERE.density_kgpm3
    scale = STANDARD_ATMOSPHERE.scale_height_m
    v = states[..., 3:]
    speed = np.sqrt(np.einsum("...i,...i->...", v, v))
    drag = k * rho0 * np.exp(-states[..., 2] / scale) * speed
    out = np.empty_like(states)
    out[..., :3] = v
    out[..., 3:] = -drag[..., None] * v
    out[..., 5] -= G0_MPS2
    return out


def _rk4(states: NDArray[np.float64], k: float, h) -> NDArray[np.float64]:
    """One RK4 step of size `h` (a number, or one per state)."""
    h = np.asarray(h, float)
    if h.ndim:
        h = h[:, None]
    k1 = _accel(states, k)
    k2 = _accel(states + 0.5 * h * k1, k)
    k3 = _accel(states + 0.5 * h * k2, k)
    k4 = _accel(states + h * k3, k)
    return states + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)


def propagate(
    states: NDArray[np.float64], k: float, times_s: NDArray[np.float64], step_s: float
) -> NDArray[np.float64]:
    """States (m, 6) at time 0 carried to each of `times_s` (sorted or not, either sign):
    shape (m, len(times), 6). Fixed-step RK4, cubic Hermite between steps."""
    times = np.asarray(times_s, float)
    k = np.broadcast_to(np.asarray(k, float), (states.shape[0],))
    out = np.empty((states.shape[0], times.size, 6))
    for sign in (1.0, -1.0):
        sel = np.flatnonzero(times * sign >= 0)
        if sel.size == 0:
            continue
        span = float(np.max(np.abs(times[sel])))
        n = max(1, math.ceil(span / step_s))
        h = span / n if span > 0 else step_s
        grid = [states]
        s = states
        for _ in range(n):
            s = _rk4(s, k, sign * h)
            grid.append(s)
        g = np.stack(grid, axis=1)  # (m, n + 1, 6)
        u = np.abs(times[sel]) / h
        j = np.minimum(np.floor(u).astype(np.int64), n - 1) if n > 0 else np.zeros(sel.size, int)
        w = (u - j)[None, :, None]
        a, b = g[:, j], g[:, j + 1]
        da, db = _accel(a, k[:, None]), _accel(b, k[:, None])
        hs = sign * h
        h00 = 2 * w**3 - 3 * w**2 + 1
        h10 = w**3 - 2 * w**2 + w
        h01 = -2 * w**3 + 3 * w**2
        h11 = w**3 - w**2
        out[:, sel] = h00 * a + h10 * hs * da + h01 * b + h11 * hs * db
    return out


def to_ground(
    states: NDArray[np.float64], k, *, backward: bool, step_s: float, steps: int = 200
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Carry states (m, 6) forward (descending) or backward in time to height 0. Returns the
    states there (m, 6) and the signed times taken (m,), NaN where not reached."""
    m = states.shape[0]
    k = np.broadcast_to(np.asarray(k, float), (m,))
    s = states.copy()
    t = np.zeros(m)
    done = np.zeros(m, bool)
    end = np.full((m, 6), np.nan)
    t_end = np.full(m, np.nan)
    sign = -1.0 if backward else 1.0
    # A coarser step for long flights: about `steps` steps over the vacuum time to the ground.
    vz = np.abs(states[:, 5])
    t_guess = (vz + np.sqrt(vz**2 + 2 * G0_MPS2 * np.maximum(states[:, 2], 0))) / G0_MPS2
    h = max(step_s, float(np.nanmax(t_guess)) / steps) * sign
    if np.any(states[:, 2] <= 0):
        low = states[:, 2] <= 0
        end[low], t_end[low], done[low] = states[low], 0.0, True
    elapsed = 0.0
    while not np.all(done) and elapsed < MAX_FLIGHT_S:
        nxt = _rk4(s, k, h)
        lost = ~done & ~np.all(np.isfinite(nxt), axis=1)
        done |= lost
        elapsed += abs(h)
        crossed = ~done & (nxt[:, 2] <= 0)
        if np.any(crossed):
            a, b = s[crossed], nxt[crossed]
            f = a[:, 2] / (a[:, 2] - b[:, 2])
            # One RK4 step from the bracketing state by the interpolated time refines it.
            est = _rk4(a, k[crossed], h * f)
            end[crossed] = est
            t_end[crossed] = t[crossed] + h * f
            done |= crossed
        s = nxt
        t = t + h
    return end, t_end


@dataclass(frozen=True)
class GroundPoint:
    """Where a fitted flight meets height 0: east, north (m, tangent plane) and time (s from
    the track's reference time), their 3x3 covariance (m², m·s, s²) and the 95% ellipse."""

    east_m: float
    north_m: float
    time_s: float
    covariance: NDArray[np.float64]
    speed_mps: float

    def ellipse95(self) -> tuple[float, float, float]:
        """(major_m, minor_m, azimuth_deg) of the 95% ellipse of the position."""
        return ellipse95(self.covariance[:2, :2])


def ellipse95(cov2: NDArray[np.float64]) -> tuple[float, float, float]:
    """Semi-axes (m) and major-axis azimuth (deg from north) of the 95% ellipse of an
    east-north covariance."""
    vals, vecs = np.linalg.eigh(np.asarray(cov2, float))
    vals = np.maximum(vals, 0.0)
    major_vec = vecs[:, 1]
    azimuth = math.degrees(math.atan2(major_vec[0], major_vec[1])) % 180.0
    return (
        math.sqrt(CHI2_2D_95 * vals[1]),
        math.sqrt(CHI2_2D_95 * vals[0]),
        azimuth,
    )


@dataclass(frozen=True)
class Backtrack:
    """The result of backtracking one track."""

    weapon: str
    """The weapon class whose drag and muzzle speed fit best."""
    plane: TangentPlane
    reference_ns: int
    """The time the fitted state refers to (the track's middle point)."""
    state: NDArray[np.float64]
    state_covariance: NDArray[np.float64]
    launch: GroundPoint | None
    impact: GroundPoint | None
    chi2: float
    dof: int
    class_chi2: dict[str, float]


def _fit_classes(
    t: NDArray[np.float64],
    xyz: NDArray[np.float64],
    sigma: float,
    k: NDArray[np.float64],
    v0: NDArray[np.float64],
    speed_sigma: float,
    x0: NDArray[np.float64],
    step_s: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Levenberg-Marquardt fits of the reference state, one per candidate class (drag `k`,
    muzzle speed `v0`), all classes integrated together. Returns states (c, 6), covariances
    (c, 6, 6) and chi-squares (c,), NaN where a fit failed."""
    c = k.size
    scale = np.array([1.0, 1.0, 1.0, 0.1, 0.1, 0.1])  # finite-difference steps, m and m/s
    ground_step = max(step_s, 0.1)

    def residuals(batch: NDArray[np.float64], kk: NDArray[np.float64], vv) -> NDArray:
        pos = propagate(batch, kk, t, step_s)[:, :, :3]
        r = ((pos - xyz[None]) / sigma).reshape(batch.shape[0], -1)
        launch, _ = to_ground(batch, kk, backward=True, step_s=ground_step, steps=50)
        speed = np.linalg.norm(launch[:, 3:], axis=1)
        prior = np.where(np.isfinite(speed), (speed - vv) / (speed_sigma * vv), 10.0)
        return np.column_stack([r, prior])

    k7, v7 = np.repeat(k, 7), np.repeat(v0, 7)
    eye = np.vstack([np.zeros(6), np.diag(scale)])

    def jacobians(x: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
        rr = residuals((x[:, None, :] + eye[None]).reshape(-1, 6), k7, v7).reshape(c, 7, -1)
        jac = ((rr[:, 1:] - rr[:, :1]) / scale[None, :, None]).transpose(0, 2, 1)
        return rr[:, 0], jac

    x = np.repeat(x0[None], c, axis=0)
    lam = np.full(c, 1e-3)
    active = np.ones(c, bool)
    r0 = residuals(x, k, v0)
    cost = np.einsum("ij,ij->i", r0, r0)
    for _ in range(MAX_ITERATIONS):
        if not np.any(active):
            break
        r, jac = jacobians(x)
        jtj = np.einsum("cri,crj->cij", jac, jac)
        g = np.einsum("cri,cr->ci", jac, r)
        diag = np.einsum("cii->ci", jtj) + 1e-9
        damped = jtj + lam[:, None, None] * np.einsum("ci,ij->cij", diag, np.eye(6))
        try:
            dx = -np.linalg.solve(damped, g[..., None])[..., 0]
        except np.linalg.LinAlgError:
            break
        dx[~active] = 0.0
        trial = x + dx
        rt = residuals(trial, k, v0)
        ct = np.einsum("ij,ij->i", rt, rt)
        better = active & (ct < cost)
        gain = np.where(better, cost - ct, 0.0)
        x[better], cost[better] = trial[better], ct[better]
        lam = np.where(better, np.maximum(lam / 10, 1e-7), lam * 10)
        small = np.all(np.abs(dx) < 1e-3 * scale, axis=1) | (better & (gain < 0.5))
        active &= ~small & (lam < 1e2)
    r, jac = jacobians(x)
    jtj = np.einsum("cri,crj->cij", jac, jac)
    cov = np.full((c, 6, 6), np.nan)
    for i in range(c):
        try:
            cov[i] = np.linalg.inv(jtj[i])
        except np.linalg.LinAlgError:
            cost[i] = np.nan
    cov = 0.5 * (cov + cov.transpose(0, 2, 1))
    return x, cov, np.einsum("ij,ij->i", r, r)


def _unscented(
    x: NDArray[np.float64], cov: NDArray[np.float64], k: float, backward: bool, step_s: float
) -> GroundPoint | None:
    """The unscented transform of the fitted state to height 0 (Julier's symmetric set, κ =
    3 - n)."""
    n = x.size
    kappa = 3.0 - n
    try:
        root = np.linalg.cholesky((n + kappa) * cov)
    except np.linalg.LinAlgError:
        vals, vecs = np.linalg.eigh(cov)
        root = vecs * np.sqrt(np.maximum(vals, 0) * (n + kappa))
    pts = np.vstack([x, x + root.T, x - root.T])
    w = np.full(2 * n + 1, 1.0 / (2 * (n + kappa)))
    w[0] = kappa / (n + kappa)
    end, t = to_ground(pts, k, backward=backward, step_s=step_s)
    if not np.all(np.isfinite(t)):
        return None
    y = np.column_stack([end[:, 0], end[:, 1], t])
    mean = w @ y
    d = y - y[0]  # centred on the transformed mean state, which is PSD-safe with κ < 0
    ycov = (w[:, None] * d).T @ d - np.outer(w @ d, w @ d)
    centre = y[0]
    ycov = 0.5 * (ycov + ycov.T)
    del mean
    return GroundPoint(
        float(centre[0]),
        float(centre[1]),
        float(centre[2]),
        ycov,
        float(np.linalg.norm(end[0, 3:])),
    )


def backtrack(
    times_ns: Sequence[int],
    lon: Sequence[float],
    lat: Sequence[float],
    alt_m: Sequence[float],
    sigma_m: float,
    radar_class: str,
    *,
    step_s: float = 0.2,
    muzzle_speed_sigma: float = 0.05,
) -> Backtrack | None:
    """Fit and backtrack one track (points in time order). None if it has fewer than 2 points
    or no class fits."""
    n = len(times_ns)
    if n < 2 or not sigma_m > 0:
        return None
    order = np.argsort(np.asarray(times_ns, np.int64), kind="stable")
    tns = np.asarray(times_ns, np.int64)[order]
    ref = int(tns[n // 2])
    t = (tns - ref) / 1e9
    if t[-1] - t[0] <= 0:
        return None
    plane = TangentPlane(float(lon[order[0]]), float(lat[order[0]]))
    e, nn = plane.forward(np.asarray(lon, float)[order], np.asarray(lat, float)[order])
    xyz = np.column_stack([e, nn, np.asarray(alt_m, float)[order]])
    # Start: a quadratic (n >= 3) or straight fit in time, gravity pulled on the vertical.
    deg = 2 if n >= 3 else 1
    x0 = np.empty(6)
    for axis in range(3):
        target = xyz[:, axis] + (0.5 * G0_MPS2 * t**2 if axis == 2 and deg == 1 else 0.0)
        coef = np.polyfit(t, target, deg)
        x0[axis] = np.polyval(coef, 0.0)
        x0[3 + axis] = np.polyval(np.polyder(coef), 0.0)
    cands = candidates(radar_class)
    with np.errstate(over="ignore", invalid="ignore"):
        return _backtrack(t, xyz, tns, ref, plane, cands, sigma_m, muzzle_speed_sigma, x0, step_s)


def _backtrack(t, xyz, tns, ref, plane, cands, sigma_m, muzzle_speed_sigma, x0, step_s):
    n = tns.size
    ks = np.array([c[1] for c in cands])
    v0s = np.array([c[2] for c in cands])
    states, covs, chi2s = _fit_classes(t, xyz, sigma_m, ks, v0s, muzzle_speed_sigma, x0, step_s)
    if not np.any(np.isfinite(chi2s)):
        return None
    class_chi2 = {c[0]: round(float(q), 3) for c, q in zip(cands, chi2s, strict=True)}
    i = int(np.nanargmin(chi2s))
    weapon, k, x, chi2, cov = cands[i][0], ks[i], states[i], float(chi2s[i]), covs[i]
    coarse = max(step_s, 0.1)
    launch = _unscented(x, cov, k, True, coarse)
    impact = _unscented(x, cov, k, False, coarse)
    return Backtrack(
        weapon=weapon,
        plane=plane,
        reference_ns=ref,
        state=x,
        state_covariance=cov,
        launch=launch,
        impact=impact,
        chi2=chi2,
        dof=max(3 * n + 1 - 6, 1),
        class_chi2=class_chi2,
    )
