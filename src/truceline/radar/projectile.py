"""Projectile backtracking: a counter-battery radar track -> launch and impact points, with
uncertainty (docs/methods.md, "Radar: projectile backtracking").

For each weapon class the radar's class (`shell`, `rocket`, `mortar`) may be, the point-mass
model of `truceline.ballistics` (gravity, quadratic drag in an exponential atmosphere, drag
factor of the class) is fitted to the track points by Gauss-Newton: the unknown is the state
(east, north, up, v_east, v_north, v_up) at the track's middle time, the residuals are the
points' offsets over their sigma, the radar's search fence where the track has a `Fence`
(`truceline.radar.fence`: where the flight entered the coverage, one look before the first
point; linearised at the polynomial start, then again at the first fit), plus one prior
residual: the speed at launch height against the class's muzzle speed (relative sigma
`muzzle_speed_sigma`). Each class's fitted state and covariance is carried to the launch
(integrating back to height 0) and to the impact (forward to height 0) by the unscented
transform, giving the (east, north, time) covariance of each; the launch and impact reported are
the mixture over the classes, weighted by exp(-χ²/2) and the chance that the class reaches as
far as the fitted flight goes.

Coordinates: east and north in the plane tangent to the ellipsoid at the track's first point
(`TangentPlane`), up = the reported altitude, as the ballistic model's flat Earth assumes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy.special import log_ndtr

from truceline.ballistics import G0_MPS2, STANDARD_ATMOSPHERE, Projectile
from truceline.geo.projection import TangentPlane, to_ecef
from truceline.locate.solver import ellipse_axes
from truceline.radar.fence import Fence, FenceTerm, fence_term
from truceline.weapons import weapon_classes

CHI2_2D_95 = 5.991464547107979
"""95% quantile of the chi-square distribution with 2 degrees of freedom."""
MAX_FLIGHT_S = 600.0
GROUND_STEPS_FIT = 100
"""Steps over the vacuum time of fall to the ground in the fit's muzzle-speed prior..."""
GROUND_STEPS_UT = 400
"""... and in the unscented transform to launch and impact..."""
MIN_GROUND_STEP_S = 0.1
"""... and the shortest step there (s; `radar.step_s` if that is longer)."""
_MODEL = (STANDARD_ATMOSPHERE.density_kgpm3, STANDARD_ATMOSPHERE.scale_height_m, G0_MPS2)
"""The compiled kernel's model constants: sea-level density, scale height, gravity."""
MAX_ITERATIONS = 4
FENCE_HUBER = 2.0
"""The fence residual counts as Huber's loss beyond this many sigma: the look before the first
point is a model (a radar's revisit, `radar.fence_revisit_s`), and a flight that entered the
coverage earlier than it says (a longer revisit, the wrong boundary) pulls linearly, not
quadratically."""
"""Levenberg-Marquardt iterations per fit: the polynomial start is close, and more iterations
changed no backtracked launch point by more than a metre on sector-quick."""


JACOBIAN: Literal["variational", "difference"] = "variational"
"""The fit's Jacobian with the compiled kernel: `variational`, the derivative of the discrete
integration carried along with it (`kernel.fit_residuals_var`), or `difference`, forward
differences of 1 m and 0.1 m/s (7 integrations; what the NumPy reference always uses)."""

CLASS_WEIGHT_FLOOR = 1e-4
"""A candidate class whose chi-square weight is below this share of the best's is not carried
to the ground (its Δχ² > 18.4) and gets weight 0."""


@cache
def candidates(radar_class: str) -> tuple[tuple[str, float, float, float], ...]:
    """(weapon id, drag factor k m²/kg, muzzle speed m/s, maximum range m) of the ballistic
    classes a counter-battery radar reports as `radar_class`; every ballistic class if the name
    is unknown."""
    classes = [w for w in weapon_classes().values() if w.ballistic]
    chosen = [w for w in classes if w.radar_class == radar_class] or classes
    out = []
    for w in chosen:
        p = Projectile.for_weapon(w)
        out.append((w.id, p.drag_factor_m2pkg, float(p.muzzle_velocity_mps), w.max_range_km * 1e3))
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
    states: NDArray[np.float64],
    k,
    times_s: NDArray[np.float64],
    step_s: float,
    *,
    kernel: str = "numpy",
) -> NDArray[np.float64]:
    """States (m, 6) at time 0 carried to `times_s` (either sign): one set of times (p,) for
    every state, or one row per state (m, p). Shape (m, p, 6). Fixed-step RK4, each row on its
    own grid (per direction: its span of times over ceil(span / step_s) steps), cubic Hermite
    between steps. `kernel`: `numpy` (the reference) or `compiled`."""
    m = states.shape[0]
    times = np.broadcast_to(np.asarray(times_s, float), (m, np.shape(times_s)[-1]))
    k = np.broadcast_to(np.asarray(k, float), (m,))
    if kernel == "compiled":
        from truceline.radar import kernel as compiled

        return compiled.propagate(
            np.ascontiguousarray(states, float),
            np.ascontiguousarray(k),
            np.ascontiguousarray(times),
            step_s,
            *_MODEL,
        )
    out = np.empty((m, times.shape[1], 6))
    for sign in (1.0, -1.0):
        sel = times >= 0 if sign > 0 else times < 0
        if not np.any(sel):
            continue
        span = np.max(np.where(sel, np.abs(times), 0.0), axis=1)
        n = np.maximum(1, np.ceil(span / step_s)).astype(np.int64)
        h = np.where(span > 0, span / n, step_s)
        grid = [states]
        s = states
        for _ in range(int(n.max())):  # rows past their own n run on unused
            s = _rk4(s, k, sign * h)
            grid.append(s)
        g = np.stack(grid, axis=1)  # (m, max n + 1, 6)
        rows, cols = np.nonzero(sel)
        u = np.abs(times[rows, cols]) / h[rows]
        j = np.minimum(np.floor(u).astype(np.int64), n[rows] - 1)
        w = (u - j)[:, None]
        a, b = g[rows, j], g[rows, j + 1]
        da, db = _accel(a, k[rows]), _accel(b, k[rows])
        hs = (sign * h[rows])[:, None]
        h00 = 2 * w**3 - 3 * w**2 + 1
        h10 = w**3 - 2 * w**2 + w
        h01 = -2 * w**3 + 3 * w**2
        h11 = w**3 - w**2
        out[rows, cols] = h00 * a + h10 * hs * da + h01 * b + h11 * hs * db
    return out


def ground_step(states: NDArray[np.float64], step_s: float, steps: int) -> NDArray[np.float64]:
    """The step (s, positive) to the ground of each state (m, 6): about `steps` steps over its
    vacuum time of fall, at least `step_s`."""
    vz = np.abs(states[:, 5])
    t_guess = (vz + np.sqrt(vz**2 + 2 * G0_MPS2 * np.maximum(states[:, 2], 0))) / G0_MPS2
    guess = t_guess / steps
    return np.where(guess > step_s, guess, step_s)


def to_ground(
    states: NDArray[np.float64],
    k,
    *,
    backward: bool,
    step_s: float,
    steps: int = 200,
    h: NDArray[np.float64] | None = None,
    kernel: str = "numpy",
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Carry states (m, 6) forward (descending) or backward in time to height 0, each by its
    own step (`h`, positive, one per state; by default `ground_step`) until it gets there.
    Returns the states there (m, 6) and the signed times taken (m,), NaN where not reached
    within MAX_FLIGHT_S. `kernel`: `numpy` (the reference) or `compiled`."""
    m = states.shape[0]
    k = np.broadcast_to(np.asarray(k, float), (m,))
    sign = -1.0 if backward else 1.0
    h = (ground_step(states, step_s, steps) if h is None else np.asarray(h, float)) * sign
    if kernel == "compiled":
        from truceline.radar import kernel as compiled

        return compiled.to_ground(
            np.ascontiguousarray(states, float), np.ascontiguousarray(k), h, MAX_FLIGHT_S, *_MODEL
        )
    s = states.copy()
    t = np.zeros(m)
    elapsed = np.zeros(m)
    end = np.full((m, 6), np.nan)
    t_end = np.full(m, np.nan)
    done = states[:, 2] <= 0
    end[done], t_end[done] = states[done], 0.0
    while True:
        live = np.flatnonzero(~done & (elapsed < MAX_FLIGHT_S))
        if live.size == 0:
            break
        hl = h[live]
        nxt = _rk4(s[live], k[live], hl)
        lost = ~np.all(np.isfinite(nxt), axis=1)
        elapsed[live] += np.abs(hl)
        crossed = ~lost & (nxt[:, 2] <= 0)
        if np.any(crossed):
            rows = live[crossed]
            a, b = s[rows], nxt[crossed]
            f = a[:, 2] / (a[:, 2] - b[:, 2])
            # One RK4 step from the bracketing state by the interpolated time refines it.
            end[rows] = _rk4(a, k[rows], hl[crossed] * f)
            t_end[rows] = t[rows] + hl[crossed] * f
        done[live[lost | crossed]] = True
        s[live] = nxt
        t[live] = t[live] + hl
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
    """The most probable weapon class (largest `class_weights`): its state, covariance and drag
    are `state`, `state_covariance` and `drag_m2pkg`."""
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
    """Chi-square of each candidate class whose fit succeeded."""
    drag_m2pkg: float = 0.0
    """The chosen class's drag factor (what `propagate` needs to carry `state` in time)."""
    class_weights: dict[str, float] = field(default_factory=dict)
    """Posterior probability of each candidate class (likelihood exp(-χ²/2), a uniform prior
    over the candidates, the chance that the fitted flight's range is within the class's
    maximum); `launch` and `impact` are the mixture over these classes."""


def _fit(
    t: NDArray[np.float64],
    xyz: NDArray[np.float64],
    weight: NDArray[np.float64],
    k: NDArray[np.float64],
    v0: NDArray[np.float64],
    speed_sigma: float,
    x0: NDArray[np.float64],
    step_s: float,
    kernel: str = "compiled",
    fence_col: NDArray[np.int64] | None = None,
    fence_w: NDArray[np.float64] | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Levenberg-Marquardt fits of the reference state of many (track, candidate class) rows at
    once. Row r has point times `t[r]` (s from its reference time), positions `xyz[r]` (m) and
    weights `weight[r]` (1/sigma, 0 for padding), drag `k[r]`, muzzle speed `v0[r]` and start
    `x0[r]`. Each row is integrated on its own grid. The Jacobian (`JACOBIAN`): the
    variational equations of that integration with the compiled kernel, else the 6
    forward-difference perturbations of a row, on its unperturbed state's step to the ground.
    Only rows still iterating are evaluated, a Jacobian only where a row's state moved.
    `kernel`: `compiled` (Numba, `truceline.radar.kernel`) or `numpy` (the
    reference). A row's fence residual (`truceline.radar.fence`): the point of column
    `fence_col[r]` (weight 0 there; -1: none), residual `fence_w[r]`·(p − xyz). Returns states
    (r, 6), covariances (r, 6, 6) and chi-squares (r,), NaN where a fit failed."""
    c = k.size
    if fence_col is None:
        fence_col = np.full(c, -1, np.int64)
        fence_w = np.zeros((c, 3))
    scale = np.array([1.0, 1.0, 1.0, 0.1, 0.1, 0.1])  # finite-difference steps, m and m/s
    ground_step_s = max(step_s, MIN_GROUND_STEP_S)
    ground_steps = GROUND_STEPS_FIT
    eye = np.vstack([np.zeros(6), np.diag(scale)])

    def evaluate(x: NDArray, rows: NDArray, jacobian: bool) -> tuple[NDArray, NDArray | None]:
        """Residuals (and the Jacobian) of rows `rows` at states x (len(rows), 6)."""
        tt, pp, ww, kk, vv = t[rows], xyz[rows], weight[rows], k[rows], v0[rows]
        fc, fw = fence_col[rows], fence_w[rows]
        if kernel == "compiled":
            from truceline.radar import kernel as compiled

            if jacobian and JACOBIAN == "variational":
                return compiled.fit_residuals_var(
                    np.ascontiguousarray(x), tt, pp, ww, kk, vv, speed_sigma, step_s,
                    ground_step_s, ground_steps, MAX_FLIGHT_S, fc, fw, FENCE_HUBER, *_MODEL,
                )  # fmt: skip
            r, jac = compiled.fit_residuals(
                np.ascontiguousarray(x), tt, pp, ww, kk, vv, speed_sigma, step_s,
                ground_step_s, ground_steps, scale, jacobian, MAX_FLIGHT_S, fc, fw,
                FENCE_HUBER, *_MODEL,
            )  # fmt: skip
            return r, (jac if jacobian else None)
        h = ground_step(x, ground_step_s, ground_steps)
        n = 7 if jacobian else 1
        if jacobian:
            x = (x[:, None, :] + eye[None]).reshape(-1, 6)
            tt, pp, ww, kk, vv, h, fc, fw = (
                np.repeat(a, 7, axis=0) for a in (tt, pp, ww, kk, vv, h, fc, fw)
            )
        pos = propagate(x, kk, tt, step_s)[:, :, :3]
        res = ((pos - pp) * ww[..., None]).reshape(x.shape[0], -1)
        at = np.maximum(fc, 0)
        every_row = np.arange(x.shape[0])
        fence = np.where(
            fc >= 0, np.einsum("ri,ri->r", pos[every_row, at] - pp[every_row, at], fw), 0.0
        )
        u = np.abs(fence)
        fence = np.where(
            u > FENCE_HUBER,
            np.sign(fence) * np.sqrt(np.maximum(2 * FENCE_HUBER * u - FENCE_HUBER**2, 0.0)),
            fence,
        )
        launch, _ = to_ground(x, kk, backward=True, step_s=ground_step_s, h=h)
        speed = np.linalg.norm(launch[:, 3:], axis=1)
        prior = np.where(np.isfinite(speed), (speed - vv) / (speed_sigma * vv), 10.0)
        rr = np.column_stack([res, fence, prior]).reshape(rows.size, n, -1)
        if not jacobian:
            return rr[:, 0], None
        return rr[:, 0], ((rr[:, 1:] - rr[:, :1]) / scale[None, :, None]).transpose(0, 2, 1)

    every = np.arange(c)
    x = x0.copy()
    lam = np.full(c, 1e-3)
    active = np.ones(c, bool)
    # The residuals and normal equations at each row's current state, evaluated again only
    # where the state moved: after a rejected step the next iteration (or the covariance) needs
    # the same Jacobian at the same state, and the residuals at the start are those of the
    # first Jacobian's evaluation (the same numbers as evaluating them alone).
    r_at, jtj_at, g_at = _normal_equations(evaluate, x, every)
    stale = np.zeros(c, bool)
    cost = np.einsum("ij,ij->i", r_at, r_at)
    for _ in range(MAX_ITERATIONS):
        rows = np.flatnonzero(active)
        if rows.size == 0:
            break
        moved = rows[stale[rows]]
        if moved.size:
            r_at[moved], jtj_at[moved], g_at[moved] = _normal_equations(evaluate, x, moved)
            stale[moved] = False
        jtj, g = jtj_at[rows], g_at[rows]
        diag = np.einsum("cii->ci", jtj) + 1e-9
        damped = jtj + lam[rows, None, None] * np.einsum("ci,ij->cij", diag, np.eye(6))
        try:  # all rows in one call (LAPACK's gesv per row, as one at a time)
            dx = -np.linalg.solve(damped, g[..., None])[..., 0]
        except np.linalg.LinAlgError:  # a singular row: one at a time, that row stopped
            dx = np.zeros((rows.size, 6))
            for q in range(rows.size):
                try:
                    dx[q] = -np.linalg.solve(damped[q], g[q])
                except np.linalg.LinAlgError:
                    active[rows[q]] = False
        trial = x[rows] + dx
        rt, _ = evaluate(trial, rows, False)
        ct = np.einsum("ij,ij->i", rt, rt)
        better = active[rows] & (ct < cost[rows])
        gain = np.where(better, cost[rows] - ct, 0.0)
        x[rows[better]], cost[rows[better]] = trial[better], ct[better]
        stale[rows[better]] = True
        lam[rows] = np.where(better, np.maximum(lam[rows] / 10, 1e-7), lam[rows] * 10)
        small = np.all(np.abs(dx) < 1e-3 * scale, axis=1) | (better & (gain < 0.5))
        active[rows] &= ~small & (lam[rows] < 1e2)
    moved = np.flatnonzero(stale)
    if moved.size:
        r_at[moved], jtj_at[moved], g_at[moved] = _normal_equations(evaluate, x, moved)
    r, jtj = r_at, jtj_at
    chi2 = np.einsum("ij,ij->i", r, r)
    try:  # all rows in one call, as in the loop below
        cov = np.linalg.inv(jtj)
    except np.linalg.LinAlgError:  # a singular row: one at a time, NaN there
        cov = np.full((c, 6, 6), np.nan)
        for i in range(c):
            try:
                cov[i] = np.linalg.inv(jtj[i])
            except np.linalg.LinAlgError:
                chi2[i] = np.nan
    cov = 0.5 * (cov + cov.transpose(0, 2, 1))
    return x, cov, chi2


def _normal_equations(evaluate, x: NDArray, rows: NDArray) -> tuple[NDArray, NDArray, NDArray]:
    """The residuals r, JᵀJ and Jᵀr of rows `rows` at their states `x[rows]` (`_fit`'s
    `evaluate` with the Jacobian)."""
    r, jac = evaluate(x[rows], rows, True)
    return r, np.einsum("cri,crj->cij", jac, jac), np.einsum("cri,cr->ci", jac, r)


def _unscented(
    x: NDArray[np.float64],
    cov: NDArray[np.float64],
    k: NDArray[np.float64],
    backward: bool,
    step_s: float,
    kernel: str = "compiled",
) -> list[GroundPoint | None]:
    """The unscented transform of fitted states (m, 6) with covariances (m, 6, 6) to height 0
    (Julier's symmetric set, κ = 3 - n); the 2n + 1 sigma points of a state integrated with
    one step, that of the state itself (about 400 steps over its vacuum time of fall)."""
    m, n = x.shape
    kappa = 3.0 - n
    try:  # all rows in one call, as in the loop below
        roots = np.linalg.cholesky((n + kappa) * cov)
    except np.linalg.LinAlgError:  # one not positive definite: one at a time
        roots = np.empty((m, n, n))
        for i in range(m):
            try:
                roots[i] = np.linalg.cholesky((n + kappa) * cov[i])
            except np.linalg.LinAlgError:
                vals, vecs = np.linalg.eigh(cov[i])
                roots[i] = vecs * np.sqrt(np.maximum(vals, 0) * (n + kappa))
    spread = roots.transpose(0, 2, 1)
    pts = np.concatenate([x[:, None, :], x[:, None, :] + spread, x[:, None, :] - spread], axis=1)
    w = np.full(2 * n + 1, 1.0 / (2 * (n + kappa)))
    w[0] = kappa / (n + kappa)
    h = np.repeat(ground_step(x, step_s, GROUND_STEPS_UT), 2 * n + 1)
    end, t = to_ground(
        pts.reshape(-1, 6),
        np.repeat(k, 2 * n + 1),
        backward=backward,
        step_s=step_s,
        h=h,
        kernel=kernel,
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
    fence: Fence | None = None
    """The radar's coverage, for the fence residual (`truceline.radar.fence`); None: none."""


def backtrack(
    times_ns: Sequence[int],
    lon: Sequence[float],
    lat: Sequence[float],
    alt_m: Sequence[float],
    sigma_m: float,
    radar_class: str,
    *,
    step_s: float = 0.2,
    muzzle_speed_sigma: float = 0.002,
    kernel: str = "compiled",
) -> Backtrack | None:
    """Fit and backtrack one track. None if it has fewer than 2 points or no class fits."""
    track = TrackPoints(times_ns, lon, lat, alt_m, sigma_m, radar_class)
    return backtrack_many(
        [track], step_s=step_s, muzzle_speed_sigma=muzzle_speed_sigma, kernel=kernel
    )[0]


@dataclass
class _Prepared:
    t: NDArray[np.float64]
    xyz: NDArray[np.float64]
    ref: int
    plane: TangentPlane
    x0: NDArray[np.float64]
    sigma: float
    cands: tuple[tuple[str, float, float, float], ...]
    fence: FenceTerm | None = None


def _prepare_all(tracks: Sequence[TrackPoints]) -> list[_Prepared | None]:
    """`_prepare` of every track, the tangent planes and the points' ECEF coordinates computed
    for all tracks together (the same values as one track at a time)."""
    sorted_pts = []
    for track in tracks:
        n = len(track.times_ns)
        if n < 2 or not track.sigma_m > 0:
            sorted_pts.append(None)
            continue
        order = np.argsort(np.asarray(track.times_ns, np.int64), kind="stable")
        lon = np.asarray(track.lon, float)[order]
        lat = np.asarray(track.lat, float)[order]
        sorted_pts.append((order, lon, lat))
    live = [s for s in sorted_pts if s is not None]
    if not live:
        return [None] * len(tracks)
    planes = iter(TangentPlane.many([s[1][0] for s in live], [s[2][0] for s in live]))
    ecef = to_ecef(np.concatenate([s[1] for s in live]), np.concatenate([s[2] for s in live]))
    out: list[_Prepared | None] = []
    at = 0
    for track, pts in zip(tracks, sorted_pts, strict=True):
        if pts is None:
            out.append(None)
            continue
        size = pts[1].size
        out.append(_prepare(track, pts[0], next(planes), ecef[at : at + size]))
        at += size
    return out


def _prepare(
    track: TrackPoints, order: NDArray[np.int64], plane: TangentPlane, ecef: NDArray[np.float64]
) -> _Prepared | None:
    """One track's points in time order (`order`) in `plane` (tangent at its first point,
    `ecef`: the points' ECEF coordinates in that order), and the fit's starting state."""
    n = len(track.times_ns)
    tns = np.asarray(track.times_ns, np.int64)[order]
    ref = int(tns[n // 2])
    t = (tns - ref) / 1e9
    if t[-1] - t[0] <= 0:
        return None
    e, nn = plane.from_ecef(ecef)
    xyz = np.column_stack([e, nn, np.asarray(track.alt_m, float)[order]])
    # Start: a quadratic (n >= 3) or straight fit in time, gravity pulled on the vertical.
    deg = 2 if n >= 3 else 1
    coefs = []
    for axis in range(3):
        target = xyz[:, axis] + (0.5 * G0_MPS2 * t**2 if axis == 2 and deg == 1 else 0.0)
        coefs.append(np.polyfit(t, target, deg))
    pull = G0_MPS2 if deg == 1 else 0.0
    # np.polyval's Horner steps and np.polyder's coefficients for the three axes at once (the
    # same operations per element: the same numbers, without their per-call overhead).
    coef = np.array(coefs)  # (3, deg + 1), highest power first
    slope = coef[:, :-1] * np.arange(deg, 0, -1)

    def start(times: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        tt = times[:, None]
        pos = np.zeros((times.size, 3))
        for c in coef.T:
            pos = pos * tt + c
        vel = np.zeros((times.size, 3))
        for c in slope.T:
            vel = vel * tt + c
        pos[:, 2] -= 0.5 * pull * times**2
        vel[:, 2] -= pull * times
        return pos, vel

    p0, v0 = start(np.zeros(1))
    x0 = np.concatenate([p0[0], v0[0]])
    term = None if track.fence is None else fence_term(plane, track.fence, float(t[0]), start)
    return _Prepared(
        t, xyz, ref, plane, x0, float(track.sigma_m), candidates(track.radar_class), term
    )


def backtrack_many(
    tracks: Sequence[TrackPoints],
    *,
    step_s: float = 0.2,
    muzzle_speed_sigma: float = 0.002,
    kernel: str = "compiled",
) -> list[Backtrack | None]:
    """Fit and backtrack many tracks at once (every track against every candidate class of its
    radar class, in one batch); None for a track with fewer than 2 points or that no class
    fits. `kernel`: the integration, `compiled` (Numba) or `numpy` (the reference)."""
    return _backtrack_prepared(
        tracks, _prepare_all(tracks), step_s, muzzle_speed_sigma, kernel, impacts=True
    )


def backtrack_many_alone(
    tracks: Sequence[TrackPoints],
    *,
    step_s: float = 0.2,
    muzzle_speed_sigma: float = 0.002,
    kernel: str = "compiled",
) -> tuple[list[Backtrack | None], list[Backtrack | None]]:
    """`backtrack_many` of `tracks`, and their launch points fitted without the search fence
    (the battery refinement's, `truceline.radar.battery`): for a track with a fence, its fit
    with `fence=None`, impact left out (None); for one without, its own result. The same
    values as `backtrack_many` of the tracks with `fence=None`, for less: the points are
    prepared once for both fits, and the fenceless fits' impacts are carried to the ground
    only where the class weights need them (a track with more than one class in the running:
    the range weights; with one, its weight is 1 whatever its range)."""
    fitted, alone, _ = backtrack_chunk(
        tracks, step_s=step_s, muzzle_speed_sigma=muzzle_speed_sigma, kernel=kernel
    )
    return fitted, alone


def backtrack_chunk(
    tracks: Sequence[TrackPoints],
    *,
    widths: tuple[int, int] = (0, 0),
    refits: bool = True,
    step_s: float = 0.2,
    muzzle_speed_sigma: float = 0.002,
    kernel: str = "compiled",
) -> tuple[list[Backtrack | None], list[Backtrack | None], tuple[int, int]]:
    """`backtrack_many_alone` of one chunk of a larger set of tracks, padded (points) to at
    least `widths`: (the fits', the fenceless refits'). Returns the results and the widths
    used, the larger of `widths` and the chunk's own (`batch_widths`). Without `refits`, the
    fenceless results are the fits (as `backtrack_many`'s, for a caller that needs none).

    A track's result depends on the other tracks of its batch only through the padding width:
    a row's fence and prior residuals follow its padded points, so the padding moves them
    within the residual vector, and the sums over it (chi-square, JᵀJ, Jᵀr: `np.einsum`,
    accumulated in several lanes by position) can round differently in the last bit. A track
    backtracked in a chunk padded to the widths of the whole set has bit for bit the result it
    has in one batch of the whole set (`truceline.radar.stage.RadarStage` backtracks tracks in
    chunks as they arrive and does again, at the end, the chunks padded narrower)."""
    prepared = _prepare_all(tracks)
    own = batch_widths(tracks, prepared)
    used = (max(widths[0], own[0]), max(widths[1], own[1]))
    settings = dict(step_s=step_s, muzzle_speed_sigma=muzzle_speed_sigma, kernel=kernel)
    fitted = _backtrack_prepared(tracks, prepared, **settings, impacts=True, width=used[0])
    fenced = [q for q, tp in enumerate(tracks) if tp.fence is not None] if refits else []
    alone = list(fitted)
    if fenced:
        refit = _backtrack_prepared(
            [replace(tracks[q], fence=None) for q in fenced],
            [None if prepared[q] is None else replace(prepared[q], fence=None) for q in fenced],
            **settings,
            impacts=False,
            width=used[1],
        )
        for q, bt in zip(fenced, refit, strict=True):
            alone[q] = bt
    return fitted, alone, used


def batch_widths(
    tracks: Sequence[TrackPoints], prepared: list[_Prepared | None]
) -> tuple[int, int]:
    """The widths `backtrack_many_alone` pads these tracks' points to (0 where no track needs
    one): the fits' (points, and a track's fence point) and the fenceless refits' (the points
    of the tracks with a fence)."""
    live = [i for i, p in enumerate(prepared) if p is not None]
    fits = max((prepared[i].t.size + (tracks[i].fence is not None) for i in live), default=0)
    refits = max((prepared[i].t.size for i in live if tracks[i].fence is not None), default=0)
    return fits, refits


def _backtrack_prepared(
    tracks: Sequence[TrackPoints],
    prepared: list[_Prepared | None],
    step_s: float,
    muzzle_speed_sigma: float,
    kernel: str,
    *,
    impacts: bool,
    width: int = 0,
) -> list[Backtrack | None]:
    """`backtrack_many` of tracks already prepared (`_prepare_all`), their points padded to
    the widest track's or `width` if wider. Without `impacts`, each result's impact is None
    and impacts are carried to the ground only for the tracks with more than one class
    weighted (the range weights need them); the launches are the same."""
    live = [i for i, p in enumerate(prepared) if p is not None]
    out: list[Backtrack | None] = [None] * len(tracks)
    if not live:
        return out
    rows = [(i, j) for i in live for j in range(len(prepared[i].cands))]
    width = max(width, max(prepared[i].t.size + (tracks[i].fence is not None) for i in live))
    r = len(rows)
    t = np.zeros((r, width))
    xyz = np.zeros((r, width, 3))
    weight = np.zeros((r, width))
    k, v0, x0 = np.empty(r), np.empty(r), np.empty((r, 6))
    fence_col = np.full(r, -1, np.int64)
    fence_w = np.zeros((r, 3))
    for row, (i, j) in enumerate(rows):
        p = prepared[i]
        m = p.t.size
        t[row, :m], xyz[row, :m], weight[row, :m] = p.t, p.xyz, 1.0 / p.sigma
        t[row, m:] = p.t[-1]  # padding: weight 0, a time inside the track's span
        if p.fence is not None:  # the fence's point: weight 0, its own residual
            t[row, m], xyz[row, m] = p.fence.time_s, p.fence.point
            fence_col[row], fence_w[row] = m, p.fence.normal
        k[row], v0[row], x0[row] = p.cands[j][1], p.cands[j][2], p.x0
    with np.errstate(over="ignore", invalid="ignore"):
        states, covs, chi2s = _fit(
            t, xyz, weight, k, v0, muzzle_speed_sigma, x0, step_s, kernel, fence_col, fence_w
        )
        weights = _class_weights(rows, prepared, chi2s)
        # Second pass: each fence term linearised again around its track's fitted flight, and
        # the classes still in the running fitted again from where the first pass ended.
        again = _refence(rows, prepared, tracks, states, chi2s, weights, k, step_s, kernel)
        if again:
            sel = np.array(sorted(again))
            for row in sel:
                m = prepared[rows[row][0]].t.size
                term = again[row]
                if term is None:
                    t[row, m], xyz[row, m], fence_col[row], fence_w[row] = t[row, m - 1], 0, -1, 0
                else:
                    t[row, m], xyz[row, m] = term.time_s, term.point
                    fence_col[row], fence_w[row] = m, term.normal
            states[sel], covs[sel], chi2s[sel] = _fit(
                t[sel], xyz[sel], weight[sel], k[sel], v0[sel], muzzle_speed_sigma, states[sel],
                step_s, kernel, fence_col[sel], fence_w[sel],
            )  # fmt: skip
            weights = _class_weights(rows, prepared, chi2s)
        carried = [row for row in range(r) if weights[row] > 0]
        coarse = max(step_s, MIN_GROUND_STEP_S)
        launches: dict[int, GroundPoint | None] = {}
        ground: dict[int, GroundPoint | None] = {}  # impacts
        if carried:
            sel = np.array(carried)
            got = _unscented(states[sel], covs[sel], k[sel], True, coarse, kernel)
            launches = dict(zip(carried, got, strict=True))
            if not impacts:  # only those of tracks with more than one class carried
                per = np.bincount([rows[row][0] for row in carried], minlength=len(tracks))
                sel = np.array([row for row in carried if per[rows[row][0]] > 1], np.int64)
            if sel.size:
                got = _unscented(states[sel], covs[sel], k[sel], False, coarse, kernel)
                ground = dict(zip(sel.tolist(), got, strict=True))
        weights = _range_weights(rows, prepared, weights, launches, ground)
        per_track: dict[int, dict[str, float]] = {}
        members: dict[int, list[int]] = {}
        for row, (i, j) in enumerate(rows):
            fits = per_track.setdefault(i, {})
            if np.isfinite(chi2s[row]):  # a class whose fit failed has no chi-square to report
                fits[prepared[i].cands[j][0]] = round(float(chi2s[row]), 3)
            if weights[row] > 0 and launches.get(row) is not None:
                members.setdefault(i, []).append(row)
        for i, group in members.items():
            p = prepared[i]
            w = weights[group] / weights[group].sum()
            best = group[int(np.argmax(w))]
            out[i] = Backtrack(
                weapon=p.cands[rows[best][1]][0],
                plane=p.plane,
                reference_ns=p.ref,
                state=states[best],
                state_covariance=covs[best],
                launch=_mixture([launches[row] for row in group], w),
                impact=_mixture([ground[row] for row in group], w) if impacts else None,
                chi2=float(chi2s[best]),
                dof=max(3 * p.t.size + 1 + int(fence_col[best] >= 0) - 6, 1),
                class_chi2=per_track[i],
                drag_m2pkg=float(k[best]),
                class_weights={
                    p.cands[rows[row][1]][0]: round(float(q), 6)
                    for row, q in zip(group, w, strict=True)
                },
            )
    return out


def _class_weights(
    rows: list[tuple[int, int]], prepared: list, chi2s: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Each (track, class) row's weight exp(-(χ² - χ²_best)/2) within its track (a uniform prior
    over the track's candidate classes); 0 for a failed fit or one below CLASS_WEIGHT_FLOOR."""
    best: dict[int, float] = {}
    for row, (i, _) in enumerate(rows):
        if np.isfinite(chi2s[row]):
            best[i] = min(best.get(i, np.inf), float(chi2s[row]))
    w = np.zeros(len(rows))
    for row, (i, _) in enumerate(rows):
        if np.isfinite(chi2s[row]):
            w[row] = np.exp(-0.5 * (chi2s[row] - best[i]))
    return np.where(w >= CLASS_WEIGHT_FLOOR, w, 0.0)


def _range_weights(
    rows: list[tuple[int, int]],
    prepared: list,
    weights: NDArray[np.float64],
    launches: dict[int, GroundPoint | None],
    impacts: dict[int, GroundPoint | None],
) -> NDArray[np.float64]:
    """The weights times the chance that the class's flight (launch to impact, its variance
    along the flight the sum of the two ends', their correlation ignored) is no longer than the
    class's maximum range (the weapon library's). A track none of whose classes can reach keeps
    its chi-square weights."""
    out = weights.copy()
    for row, (i, j) in enumerate(rows):
        launch, impact = launches.get(row), impacts.get(row)
        if weights[row] <= 0 or launch is None or impact is None:
            continue
        d = np.array([impact.east_m - launch.east_m, impact.north_m - launch.north_m])
        reach = float(np.hypot(*d))
        u = d / max(reach, 1e-9)
        var = float(u @ (launch.covariance[:2, :2] + impact.covariance[:2, :2]) @ u)
        z = (prepared[i].cands[j][3] - reach) / np.sqrt(max(var, 1e-6))
        out[row] = weights[row] * np.exp(log_ndtr(z))
    by_track: dict[int, list[int]] = {}
    for row, (i, _) in enumerate(rows):
        by_track.setdefault(i, []).append(row)
    for mine in by_track.values():
        total = out[mine].sum()
        if not total > 0:
            out[mine] = weights[mine]
        else:
            peak = out[mine].max()
            out[mine] = np.where(out[mine] >= CLASS_WEIGHT_FLOOR * peak, out[mine], 0.0)
    return out


def _mixture(points: list[GroundPoint | None], w: NDArray[np.float64]) -> GroundPoint | None:
    """The Gaussian mixture of candidate classes' ground points with weights `w` as one point:
    its mean and covariance Σ w_c (C_c + (μ_c − μ)(μ_c − μ)ᵀ) over (east, north, time); the
    speed is the most probable class's. Classes without a point are left out (None if the most
    probable one has none)."""
    best = int(np.argmax(w))
    if points[best] is None:
        return None
    keep = [q for q, p in enumerate(points) if p is not None]
    if len(keep) == 1:
        return points[best]
    ww = w[keep] / w[keep].sum()
    mu = np.array([[points[q].east_m, points[q].north_m, points[q].time_s] for q in keep])
    mean = ww @ mu
    d = mu - mean
    cov = np.einsum("c,cij->ij", ww, np.stack([points[q].covariance for q in keep]))
    cov = cov + (ww[:, None] * d).T @ d
    return GroundPoint(
        float(mean[0]), float(mean[1]), float(mean[2]), 0.5 * (cov + cov.T),
        points[best].speed_mps,
    )  # fmt: skip


def _refence(
    rows: list[tuple[int, int]],
    prepared: list,
    tracks: Sequence[TrackPoints],
    states: NDArray[np.float64],
    chi2s: NDArray[np.float64],
    weights: NDArray[np.float64],
    k: NDArray[np.float64],
    step_s: float,
    kernel: str,
) -> dict[int, FenceTerm | None]:
    """The fence term of every track that has one, linearised around the flight of its best
    first-pass fit instead of the polynomial start (which boundary, the plane, its sigma), for
    each of its rows still weighted; {row: term (None: no boundary explains it now)}."""
    best: dict[int, int] = {}
    for row, (i, _) in enumerate(rows):
        if tracks[i].fence is None or not weights[row] > 0:
            continue
        if i not in best or chi2s[row] < chi2s[best[i]]:
            best[i] = row
    if not best:
        return {}
    order = list(best.items())
    sel = np.array([row for _, row in order])
    look = np.array([tracks[i].fence.revisit_s for i, _ in order])
    first = np.array([prepared[i].t[0] for i, _ in order])
    times = first[:, None] + look[:, None] * np.array([-1.0, -0.5, 0.0])
    flights = propagate(states[sel], k[sel], times, step_s, kernel=kernel)
    terms: dict[int, FenceTerm | None] = {}
    for q, (i, _) in enumerate(order):
        samples = {float(tq): flights[q, c] for c, tq in enumerate(times[q])}

        def start(at: NDArray[np.float64], samples=samples) -> tuple[NDArray, NDArray]:
            f = np.array([samples[float(a)] for a in at])
            return f[:, :3], f[:, 3:]

        terms[i] = fence_term(prepared[i].plane, tracks[i].fence, float(first[q]), start)
    return {row: terms[i] for row, (i, _) in enumerate(rows) if i in terms and weights[row] > 0}
