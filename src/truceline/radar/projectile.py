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
from truceline.locate.solver import ellipse_axes
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
    states: NDArray[np.float64], k, times_s: NDArray[np.float64], step_s: float
) -> NDArray[np.float64]:
    """States (m, 6) at time 0 carried to `times_s` (either sign): one set of times (p,) for
    every state, or one row per state (m, p). Shape (m, p, 6). Fixed-step RK4 on one grid for
    all states, cubic Hermite between steps."""
    m = states.shape[0]
    times = np.broadcast_to(np.asarray(times_s, float), (m, np.shape(times_s)[-1]))
    k = np.broadcast_to(np.asarray(k, float), (m,))
    out = np.empty((m, times.shape[1], 6))
    for sign in (1.0, -1.0):
        sel = times * sign >= 0 if sign > 0 else times < 0
        if not np.any(sel):
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
        rows, cols = np.nonzero(sel)
        u = np.abs(times[rows, cols]) / h
        j = np.minimum(np.floor(u).astype(np.int64), n - 1)
        w = (u - j)[:, None]
        a, b = g[rows, j], g[rows, j + 1]
        da, db = _accel(a, k[rows]), _accel(b, k[rows])
        hs = sign * h
        h00 = 2 * w**3 - 3 * w**2 + 1
        h10 = w**3 - 2 * w**2 + w
        h01 = -2 * w**3 + 3 * w**2
        h11 = w**3 - w**2
        out[rows, cols] = h00 * a + h10 * hs * da + h01 * b + h11 * hs * db
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
    return ellipse_axes(np.asarray(cov2, float), CHI2_2D_95)


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


def _fit(
    t: NDArray[np.float64],
    xyz: NDArray[np.float64],
    weight: NDArray[np.float64],
    k: NDArray[np.float64],
    v0: NDArray[np.float64],
    speed_sigma: float,
    x0: NDArray[np.float64],
    step_s: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Levenberg-Marquardt fits of the reference state of many (track, candidate class) rows at
    once, all integrated together. Row r has point times `t[r]` (s from its reference time),
    positions `xyz[r]` (m) and weights `weight[r]` (1/sigma, 0 for padding), drag `k[r]`,
    muzzle speed `v0[r]` and start `x0[r]`. Returns states (r, 6), covariances (r, 6, 6) and
    chi-squares (r,), NaN where a fit failed."""
    c = k.size
    scale = np.array([1.0, 1.0, 1.0, 0.1, 0.1, 0.1])  # finite-difference steps, m and m/s
    ground_step = max(step_s, 0.1)

    def residuals(batch, tt, pp, ww, kk, vv) -> NDArray:
        pos = propagate(batch, kk, tt, step_s)[:, :, :3]
        r = ((pos - pp) * ww[..., None]).reshape(batch.shape[0], -1)
        launch, _ = to_ground(batch, kk, backward=True, step_s=ground_step, steps=100)
        speed = np.linalg.norm(launch[:, 3:], axis=1)
        prior = np.where(np.isfinite(speed), (speed - vv) / (speed_sigma * vv), 10.0)
        return np.column_stack([r, prior])

    rep = (np.repeat(a, 7, axis=0) for a in (t, xyz, weight, k, v0))
    t7, xyz7, w7, k7, v7 = rep
    eye = np.vstack([np.zeros(6), np.diag(scale)])

    def jacobians(x: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
        batch = (x[:, None, :] + eye[None]).reshape(-1, 6)
        rr = residuals(batch, t7, xyz7, w7, k7, v7).reshape(c, 7, -1)
        jac = ((rr[:, 1:] - rr[:, :1]) / scale[None, :, None]).transpose(0, 2, 1)
        return rr[:, 0], jac

    x = x0.copy()
    lam = np.full(c, 1e-3)
    active = np.ones(c, bool)
    r0 = residuals(x, t, xyz, weight, k, v0)
    cost = np.einsum("ij,ij->i", r0, r0)
    for _ in range(MAX_ITERATIONS):
        if not np.any(active):
            break
        r, jac = jacobians(x)
        jtj = np.einsum("cri,crj->cij", jac, jac)
        g = np.einsum("cri,cr->ci", jac, r)
        diag = np.einsum("cii->ci", jtj) + 1e-9
        damped = jtj + lam[:, None, None] * np.einsum("ci,ij->cij", diag, np.eye(6))
        dx = np.zeros_like(x)
        for i in np.flatnonzero(active):
            try:
                dx[i] = -np.linalg.solve(damped[i], g[i])
            except np.linalg.LinAlgError:
                active[i] = False
        trial = x + dx
        rt = residuals(trial, t, xyz, weight, k, v0)
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
    chi2 = np.einsum("ij,ij->i", r, r)
    for i in range(c):
        try:
            cov[i] = np.linalg.inv(jtj[i])
        except np.linalg.LinAlgError:
            chi2[i] = np.nan
    cov = 0.5 * (cov + cov.transpose(0, 2, 1))
    return x, cov, chi2


def _unscented(
    x: NDArray[np.float64],
    cov: NDArray[np.float64],
    k: NDArray[np.float64],
    backward: bool,
    step_s: float,
) -> list[GroundPoint | None]:
    """The unscented transform of fitted states (m, 6) with covariances (m, 6, 6) to height 0
    (Julier's symmetric set, κ = 3 - n), the 2n + 1 sigma points of every state integrated
    together."""
    m, n = x.shape
    kappa = 3.0 - n
    pts = np.empty((m, 2 * n + 1, 6))
    for i in range(m):
        try:
            root = np.linalg.cholesky((n + kappa) * cov[i])
        except np.linalg.LinAlgError:
            vals, vecs = np.linalg.eigh(cov[i])
            root = vecs * np.sqrt(np.maximum(vals, 0) * (n + kappa))
        pts[i] = np.vstack([x[i], x[i] + root.T, x[i] - root.T])
    w = np.full(2 * n + 1, 1.0 / (2 * (n + kappa)))
    w[0] = kappa / (n + kappa)
    end, t = to_ground(
        pts.reshape(-1, 6), np.repeat(k, 2 * n + 1), backward=backward, step_s=step_s, steps=400
    )
    end, t = end.reshape(m, 2 * n + 1, 6), t.reshape(m, 2 * n + 1)
    out: list[GroundPoint | None] = []
    for i in range(m):
        if not np.all(np.isfinite(t[i])):
            out.append(None)
            continue
        y = np.column_stack([end[i, :, 0], end[i, :, 1], t[i]])
        d = y - y[0]  # centred on the transformed mean state, which is PSD-safe with κ < 0
        ycov = (w[:, None] * d).T @ d - np.outer(w @ d, w @ d)
        ycov = 0.5 * (ycov + ycov.T)
        out.append(
            GroundPoint(
                float(y[0, 0]),
                float(y[0, 1]),
                float(y[0, 2]),
                ycov,
                float(np.linalg.norm(end[i, 0, 3:])),
            )
        )
    return out


@dataclass(frozen=True)
class TrackPoints:
    """One counter-battery track as reported: point times (ns), positions, sigma, class."""

    times_ns: Sequence[int]
    lon: Sequence[float]
    lat: Sequence[float]
    alt_m: Sequence[float]
    sigma_m: float
    radar_class: str


def backtrack(
    times_ns: Sequence[int],
    lon: Sequence[float],
    lat: Sequence[float],
    alt_m: Sequence[float],
    sigma_m: float,
    radar_class: str,
    *,
    step_s: float = 0.2,
    muzzle_speed_sigma: float = 0.01,
) -> Backtrack | None:
    """Fit and backtrack one track. None if it has fewer than 2 points or no class fits."""
    track = TrackPoints(times_ns, lon, lat, alt_m, sigma_m, radar_class)
    return backtrack_many([track], step_s=step_s, muzzle_speed_sigma=muzzle_speed_sigma)[0]


@dataclass
class _Prepared:
    t: NDArray[np.float64]
    xyz: NDArray[np.float64]
    ref: int
    plane: TangentPlane
    x0: NDArray[np.float64]
    sigma: float
    cands: tuple[tuple[str, float, float], ...]


def _prepare(track: TrackPoints) -> _Prepared | None:
    n = len(track.times_ns)
    if n < 2 or not track.sigma_m > 0:
        return None
    order = np.argsort(np.asarray(track.times_ns, np.int64), kind="stable")
    tns = np.asarray(track.times_ns, np.int64)[order]
    ref = int(tns[n // 2])
    t = (tns - ref) / 1e9
    if t[-1] - t[0] <= 0:
        return None
    lon = np.asarray(track.lon, float)[order]
    lat = np.asarray(track.lat, float)[order]
    plane = TangentPlane(float(lon[0]), float(lat[0]))
    e, nn = plane.forward(lon, lat)
    xyz = np.column_stack([e, nn, np.asarray(track.alt_m, float)[order]])
    # Start: a quadratic (n >= 3) or straight fit in time, gravity pulled on the vertical.
    deg = 2 if n >= 3 else 1
    x0 = np.empty(6)
    for axis in range(3):
        target = xyz[:, axis] + (0.5 * G0_MPS2 * t**2 if axis == 2 and deg == 1 else 0.0)
        coef = np.polyfit(t, target, deg)
        x0[axis] = np.polyval(coef, 0.0)
        x0[3 + axis] = np.polyval(np.polyder(coef), 0.0)
    return _Prepared(t, xyz, ref, plane, x0, float(track.sigma_m), candidates(track.radar_class))


def backtrack_many(
    tracks: Sequence[TrackPoints], *, step_s: float = 0.2, muzzle_speed_sigma: float = 0.01
) -> list[Backtrack | None]:
    """Fit and backtrack many tracks at once (every track against every candidate class of its
    radar class, all integrated together); None for a track with fewer than 2 points or that no
    class fits."""
    prepared = [_prepare(tr) for tr in tracks]
    live = [i for i, p in enumerate(prepared) if p is not None]
    out: list[Backtrack | None] = [None] * len(tracks)
    if not live:
        return out
    rows = [(i, j) for i in live for j in range(len(prepared[i].cands))]
    width = max(prepared[i].t.size for i in live)
    r = len(rows)
    t = np.zeros((r, width))
    xyz = np.zeros((r, width, 3))
    weight = np.zeros((r, width))
    k, v0, x0 = np.empty(r), np.empty(r), np.empty((r, 6))
    for row, (i, j) in enumerate(rows):
        p = prepared[i]
        m = p.t.size
        t[row, :m], xyz[row, :m], weight[row, :m] = p.t, p.xyz, 1.0 / p.sigma
        t[row, m:] = p.t[-1]  # padding: weight 0, a time inside the track's span
        k[row], v0[row], x0[row] = p.cands[j][1], p.cands[j][2], p.x0
    with np.errstate(over="ignore", invalid="ignore"):
        states, covs, chi2s = _fit(t, xyz, weight, k, v0, muzzle_speed_sigma, x0, step_s)
        best: dict[int, int] = {}
        for row, (i, _) in enumerate(rows):
            if np.isfinite(chi2s[row]) and (i not in best or chi2s[row] < chi2s[best[i]]):
                best[i] = row
        chosen = list(best.values())
        coarse = max(step_s, 0.1)
        if chosen:
            sel = np.array(chosen)
            launches = _unscented(states[sel], covs[sel], k[sel], True, coarse)
            impacts = _unscented(states[sel], covs[sel], k[sel], False, coarse)
        per_track: dict[int, dict[str, float]] = {}
        for row, (i, j) in enumerate(rows):
            per_track.setdefault(i, {})[prepared[i].cands[j][0]] = round(float(chi2s[row]), 3)
        for q, row in enumerate(chosen):
            i, j = rows[row]
            p = prepared[i]
            class_chi2 = per_track[i]
            out[i] = Backtrack(
                weapon=p.cands[j][0],
                plane=p.plane,
                reference_ns=p.ref,
                state=states[row],
                state_covariance=covs[row],
                launch=launches[q],
                impact=impacts[q],
                chi2=float(chi2s[row]),
                dof=max(3 * p.t.size + 1 - 6, 1),
                class_chi2=class_chi2,
            )
    return out
