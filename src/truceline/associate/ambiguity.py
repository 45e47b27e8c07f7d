"""Association ambiguity: an event's reported covariance as a mixture over which detections are
its own (docs/methods.md, Association, step 7).

The locator's covariance assumes the event's detections are all of its source. In a salvo a
sensor often has another round's detection inside the gate as well, and a far sensor's
detection may be another sound's; both fit about as well as the right one, so no residual test
can tell. Instead of choosing, the uncertainty is widened by the alternatives, weighted by how
likely each is (probabilistic data association, Bar-Shalom & Tse 1975, per sensor):

- at sensor j, the event took detection d_j; another detection a inside the gate (predicted
  arrival +- `attach_sigma` sigma, as when attaching) is the hypothesis "a is the source's and
  d_j another sound"; "neither is, the sensor missed it" is another;
- each is solved by a linear update from the taken set's solution (`linearised`: the changed
  or deleted rows of the normal equations, the locator's Huber weights to their fixed point,
  checked against the model's chi-square there and relocated where it departs by more than
  `ambiguity_linear_tolerance`), and weighted against the taken set by its marginal
  likelihood: exp(-(chi2_h - chi2_0) / 2) sqrt(det C_h / det C_0), times, for leaving the
  sensor out, lambda_j (1 - P_j) / P_j sqrt(2 pi) sigma_j: the density of other sounds
  at that sensor (lambda_j, its rate of other detections near the predicted arrival)
  against the density of the source's own arrival, and the odds that the sensor missed a sound
  it had chance P_j to hear (P_j the share of network sensors at about its distance from the
  origin that heard this event);
- per sensor the weights are normalised with the taken detection's (1), and the covariance of
  (x, y, tau) becomes C_0 + sum_jh p_jh ((C_h - C_0) + (x_h - x_0)(x_h - x_0)^T): the mixture's
  second moment about the reported origin x_0, sensor by sensor (to first order, ambiguities at
  different sensors add). C_h - C_0 is kept for leaving a sensor out only (a swap keeps the
  sensors, so their geometry), so the reported covariance is never smaller than the locator's.

The reported origin and the event's detections are not changed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

import numpy as np
from numpy.typing import NDArray

from truceline.associate.indices import KEY_STRIDE_S
from truceline.config import LocateSettings
from truceline.geo.projection import TangentPlane
from truceline.locate.solver import (
    N_PARAMS,
    Arrivals,
    Solution,
    SoundSpeed,
    locate,
    locate_all_rows,
    misfit,
)

if TYPE_CHECKING:
    from truceline.associate.acoustic import AcousticAssociator

F64 = NDArray[np.float64]
_SQRT_2PI = float(np.sqrt(2 * np.pi))
# Sensors at about sensor j's distance: within max(25%, 1 km) of it, from the origin.
_RING_FRACTION = 0.25
_RING_MIN_M = 1000.0


@dataclass(frozen=True)
class Ambiguity:
    """The reported covariance of (x_m, y_m, tau_s) and what went into it."""

    cov: F64
    hypotheses: int
    """Alternatives that entered the mixture (weight at least `ambiguity_min_weight`)."""
    p_taken: float
    """Probability that every sensor's taken detection is the source's (product over sensors)."""
    relocations: int


def mixture(
    assoc: AcousticAssociator,
    det: NDArray[np.int64],
    projection: TangentPlane,
    speed: SoundSpeed,
    tau_s: float,
    cov: F64,
    method: Literal["linear", "exact"] = "linear",
    kernel: Literal["compiled", "numpy"] = "compiled",
) -> Ambiguity:
    """The mixture covariance of an event with detections `det` (global indices), located near
    the centre of `projection` at origin time `tau_s` with the weather prior `speed`, whose
    locator covariance is `cov` (3x3, x_m, y_m, tau_s). `method`: each hypothesis solved by a
    linear update from the taken set's solution, relocated where the check fails (`linearised`,
    `ambiguity_linear_tolerance`), or every one relocated (`exact`, the reference the tests
    and the benchmark compare with). `kernel`: the linear method's steps compiled
    (`associate.kernel`, `_mixture_compiled`), or in NumPy (the reference: the same numbers)."""
    s = assoc.s
    det = np.asarray(det, dtype=np.int64)
    unchanged = Ambiguity(np.array(cov, dtype=float), 0, 1.0, 0)
    if det.size == 0 or s.ambiguity_max_hypotheses == 0:
        return unchanged
    settings = assoc.locator_without_outliers
    if method == "linear" and kernel == "compiled":
        return _mixture_compiled(assoc, det, projection, speed, tau_s, cov, unchanged)
    arr = assoc._arrivals(det, projection)
    base = locate(arr, speed, (0.0, 0.0, tau_s), settings)
    relocations = 1
    if base is None or base.n_used != det.size:
        return replace(unchanged, relocations=relocations)
    sensors = assoc.sensor.v[det]
    travel, d = base.speed.travel_time_s(arr.x_m - base.x_m, arr.y_m - base.y_m)
    sigma = np.sqrt(arr.sigma_s**2 + (assoc.jitter_s_per_m * d) ** 2)
    predicted = base.tau_s + travel
    r = (arr.t_s - predicted) / sigma
    c = base.speed.c_mps
    sigma_pred2 = max(cov[2, 2], 0.0) + (cov[0, 0] + cov[1, 1]) / c**2
    gate = s.attach_sigma * np.sqrt(sigma**2 + sigma_pred2)

    keys, order = assoc.sorted_detections()
    at = sensors * KEY_STRIDE_S + predicted

    def count(half: F64 | float) -> NDArray[np.int64]:
        lo = np.searchsorted(keys, at - half)
        hi = np.searchsorted(keys, at + half, side="right")
        return hi - lo

    lo_gate = np.searchsorted(keys, at - gate)
    hi_gate = np.searchsorted(keys, at + gate, side="right")
    w_short, w_long = s.chance_window_s, s.pool_retention_s
    rate = np.maximum(
        (count(w_short) - 1) / (2 * w_short), (count(w_long) - 1) / (2 * w_long)
    ).clip(0.0)
    p_heard = _detection_probability(assoc, projection, base.x_m, base.y_m, d, d)
    drop_prior = rate * (1 - p_heard) / p_heard * _SQRT_2PI * sigma

    # Candidates with a first-order weight (residuals at the solution), likeliest first; in
    # ties, by sensor, then the detections in the gate in time order, then leaving it out.
    floor = s.ambiguity_min_weight / 10
    t_all = assoc.t.v
    n_gate = hi_gate - lo_gate
    j_swap = np.repeat(np.arange(det.size), n_gate)
    within = np.arange(j_swap.size) - np.repeat(np.cumsum(n_gate) - n_gate, n_gate)
    g_swap = order[lo_gate[j_swap] + within]
    r_alt = (t_all[g_swap] - predicted[j_swap]) / sigma[j_swap]
    approx_swap = np.exp(-(r_alt**2 - r[j_swap] ** 2) / 2)
    approx_drop = drop_prior * np.exp(np.minimum(r**2, 50.0) / 2)
    swap = (g_swap != det[j_swap]) & (approx_swap >= floor)
    leave = approx_drop >= floor
    pos = np.concatenate([j_swap[swap], np.flatnonzero(leave)])
    if pos.size == 0:
        return replace(unchanged, relocations=relocations)
    g = np.concatenate([g_swap[swap], np.full(int(leave.sum()), -1)])
    approx = np.concatenate([approx_swap[swap], approx_drop[leave]])
    rank = np.concatenate([within[swap], n_gate[leave]])
    sequence = np.lexsort((rank, pos))
    chosen = sequence[np.argsort(-approx[sequence], kind="stable")][: s.ambiguity_max_hypotheses]
    pos, g = pos[chosen], g[chosen]
    t_new = np.where(g >= 0, t_all[g], np.nan)

    x0 = np.array([base.x_m, base.y_m, base.tau_s])
    if method == "exact":
        shifts, chi2, unscaled, ok = _relocated(arr, speed, base, settings, pos, t_new)
        chi2_0, unscaled_0 = base.chi2, base.cov / base.scale2
        relocations += pos.size
    else:
        theta0 = np.array([*x0, base.speed.wind_e_mps, base.speed.wind_n_mps, base.speed.c_mps])
        shifts, chi2, chi2_model, unscaled, ok, chi2_0, unscaled_0 = linearised(
            arr, speed, theta0, settings, pos, t_new
        )
        # Where the model's chi^2 at the stepped solution departs from the linear one, the
        # linearisation is not trusted: few arrivals, a near-degenerate geometry.
        gap = np.abs(np.subtract(chi2_model, chi2, out=np.zeros_like(chi2), where=ok))
        redo = np.flatnonzero(gap > s.ambiguity_linear_tolerance)
        if redo.size:
            exact = _relocated(arr, speed, base, settings, pos[redo], t_new[redo])
            shifts[redo], chi2[redo], unscaled[redo], ok[redo] = exact
            relocations += redo.size
    logdet = np.linalg.slogdet(unscaled)[1]
    logdet_0 = float(np.linalg.slogdet(unscaled_0)[1])
    prior = np.where(np.isnan(t_new), drop_prior[pos], 1.0)
    return _weighted(
        s.ambiguity_min_weight, det.size, cov, base.scale2, chi2_0, unscaled_0, logdet,
        logdet_0, np.log(np.maximum(prior, 1e-300)), t_new, pos, shifts, chi2, unscaled, ok,
        relocations, unchanged,
    )  # fmt: skip


def _mixture_compiled(
    assoc: AcousticAssociator,
    det: NDArray[np.int64],
    projection: TangentPlane,
    speed: SoundSpeed,
    tau_s: float,
    cov: F64,
    unchanged: Ambiguity,
) -> Ambiguity:
    """`mixture`'s linear method with its steps compiled: the taken set located with the rows
    and inverse its covariance is made from (`locate_all_rows`: `linearised`'s rows at that
    solution), then `associate.kernel`'s `ambiguity_setup` (gates, P_j, candidates),
    `ambiguity_hypotheses`, `ambiguity_log_weights`, `ambiguity_terms` and
    `ambiguity_covariance`, with NumPy's exponentials, logarithms, sums and LAPACK and BLAS
    calls between them (and the KD-tree's query where the sensors' cubes cannot decide): the
    same numbers as the NumPy form in `mixture`."""
    from truceline.associate.kernel import (
        ambiguity_candidates,
        ambiguity_covariance,
        ambiguity_hypotheses,
        ambiguity_log_weights,
        ambiguity_setup,
        ambiguity_terms,
        distances,
    )

    s = assoc.s
    net = assoc.net
    settings = assoc.locator_without_outliers
    # `assoc._arrivals`, the positions contiguous (Numba takes strided arrays slowly)
    sensors = assoc.sensor.v[det]
    enu = (net.ecef[sensors] - projection.origin) @ projection.rotation[:2].T
    x, y = np.ascontiguousarray(enu[:, 0]), np.ascontiguousarray(enu[:, 1])
    t_all = assoc.t.v
    arr = Arrivals(
        x, y, t_all[det], net.timing_sigma_s[sensors], assoc.az.v[det], assoc.az_sigma.v[det]
    )
    found = locate_all_rows(arr, speed, (0.0, 0.0, tau_s), settings)
    if found is None:  # as `locate`: unsolvable, or an arrival removed
        return Ambiguity(unchanged.cov, 0, 1.0, 1)
    theta, r_rows, jac, cov_full, chi2_0, scale2 = found
    bx, by, btau, c = float(theta[0]), float(theta[1]), float(theta[2]), float(theta[5])
    sigma_pred2 = max(cov[2, 2], 0.0) + (cov[0, 0] + cov[1, 1]) / c**2
    keys, order = assoc.sorted_detections()
    origin = projection.point_to_ecef(bx, by)
    fw, iw, radius, values, swaps, unsure = ambiguity_setup(
        x, y, arr.t_s, arr.sigma_s, bx, by, btau, c, theta[3], theta[4], assoc.jitter_s_per_m,
        float(sigma_pred2), s.attach_sigma, sensors, keys, KEY_STRIDE_S, s.chance_window_s,
        s.pool_retention_s, *net.cells(), origin, order, t_all, _SQRT_2PI,
    )  # fmt: skip
    if unsure:  # a sensor on the sphere, to rounding: the KD-tree's answer
        near = np.asarray(net.tree.query_ball_point(origin, r=radius), dtype=np.int64)
        dist = distances(net.ecef, near, origin)
        values, swaps = ambiguity_candidates(dist, fw, iw, order, t_all, _SQRT_2PI)
    n = det.size
    drop_prior = values[:n]
    approx_drop = drop_prior * np.exp(values[n : 2 * n])
    approx_swap = np.exp(values[2 * n :])
    pos, values, shifts, unscaled, flags = ambiguity_hypotheses(
        det, approx_swap, approx_drop, drop_prior, swaps, iw, s.ambiguity_min_weight / 10,
        s.ambiguity_max_hypotheses, t_all, jac, r_rows, arr.az_deg, arr.az_sigma_deg,
        settings.huber_k, settings.max_iterations, settings.tolerance_m, theta, x, y,
        arr.t_s, arr.sigma_s, settings.propagation_jitter_s_per_km * 1e-3,
        s.ambiguity_linear_tolerance, cov_full[:3, :3],
    )  # fmt: skip
    relocations = 1
    if pos.size == 0:
        return Ambiguity(unchanged.cov, 0, 1.0, relocations)
    t_new, chi2, prior = values
    ok, redo = flags
    if redo.any():  # the taken set's Solution (located again: the same) for relocating
        base = locate(arr, speed, (0.0, 0.0, tau_s), settings)
        redo = np.flatnonzero(redo)
        exact = _relocated(arr, speed, base, settings, pos[redo], t_new[redo])
        shifts[redo], chi2[redo], unscaled[redo], ok[redo] = exact
        relocations += redo.size
    # `_weighted`, its elementwise steps compiled
    logdet = np.linalg.slogdet(unscaled)[1]  # the taken set's last
    w = np.exp(ambiguity_log_weights(chi2, chi2_0, logdet, np.log(prior)))
    n_hyp, p_drop, total, shifts, scaled, unscaled = ambiguity_terms(
        w, ok, s.ambiguity_min_weight, pos, t_new, shifts, unscaled, n
    )
    if n_hyp == 0:
        return Ambiguity(unchanged.cov, 0, 1.0, relocations)
    spread = np.dot(p_drop.reshape(1, -1), unscaled).reshape(3, 3)
    out = ambiguity_covariance(
        unchanged.cov, scaled.T @ shifts, spread, p_drop.sum(), cov_full[:3, :3], scale2
    )
    p_taken = float(np.exp(-np.log1p(total).sum()))
    return Ambiguity(out, n_hyp, p_taken, relocations)


def _weighted(
    min_weight: float,
    n: int,
    cov: F64,
    scale2: float,
    chi2_0: float,
    unscaled_0: F64,
    logdet: F64,
    logdet_0: float,
    log_prior: F64,
    t_new: F64,
    pos: NDArray[np.int64],
    shifts: F64,
    chi2: F64,
    unscaled: F64,
    ok: NDArray[np.bool_],
    relocations: int,
    unchanged: Ambiguity,
) -> Ambiguity:
    """The hypotheses weighted against the taken set (n arrivals, chi^2 `chi2_0`, unscaled
    covariance `unscaled_0` and its log-determinant `logdet_0`, variance factor `scale2`),
    `log_prior` the log of each one's prior, and the mixture's covariance."""
    log_w = -(chi2 - chi2_0) / 2 + (logdet - logdet_0) / 2 + log_prior
    w = np.exp(np.minimum(log_w, 50.0))
    kept = ok & (w >= min_weight)
    n_hyp = int(kept.sum())
    if n_hyp == 0:
        return replace(unchanged, relocations=relocations)
    drop = np.isnan(t_new)
    # Per sensor, the weights normalised with the taken detection's 1.
    pos, w, shifts, drop, unscaled = pos[kept], w[kept], shifts[kept], drop[kept], unscaled[kept]
    total = np.bincount(pos, weights=w, minlength=n)
    p = w / (1.0 + total[pos])
    # fewer arrivals: a wider solution (a swap has the same sensors' geometry);
    # sum_h p_h unscaled_h as np.tensordot(p_drop, unscaled, 1) makes it, without its wrapper
    p_drop = np.where(drop, p, 0.0)
    spread = np.dot(p_drop.reshape(1, -1), unscaled.reshape(-1, 9)).reshape(3, 3)
    widen = (spread - p_drop.sum() * unscaled_0) * scale2
    out = np.array(cov, dtype=float) + (shifts.T * p) @ shifts + widen
    p_taken = float(np.exp(-np.log1p(total).sum()))
    out = (out + out.T) / 2
    return Ambiguity(out, n_hyp, p_taken, relocations)


def linearised(
    arr: Arrivals,
    speed: SoundSpeed,
    theta0: F64,
    settings: LocateSettings,
    pos: NDArray[np.int64],
    t_new: F64,
    kernel: Literal["compiled", "numpy"] = "compiled",
) -> tuple[F64, F64, F64, F64, NDArray[np.bool_], float, F64]:
    """Each hypothesis solved linearly about the solution `theta0` = (x_m, y_m, tau_s, w_e,
    w_n, c) of `arr` (weather prior `speed`): arrival `pos[h]` takes time `t_new[h]` (s), or is
    left out where NaN (its azimuth too). The Jacobian is held at theta0 and the locator's
    Huber weights are iterated to their fixed point (docs/methods.md, Association, step 7).
    Returns per hypothesis the shift of (x_m, y_m, tau_s), chi^2 at the shifted solution to
    first order and by the model (its time residuals recomputed there), the unscaled (x, y, tau)
    block of (J^T J)^-1, and whether it was solvable; then chi^2 and that covariance of the
    taken set. `kernel`: compiled (`associate.kernel`) or the NumPy reference."""
    r, jac = misfit(theta0, arr, speed, settings)
    n, m, n_h = arr.n, r.size, pos.size
    sigma_t = -1.0 / jac[:n, 2]
    has_az = np.isfinite(arr.az_deg) & np.isfinite(arr.az_sigma_deg)
    az_row = np.full(n, -1, dtype=np.int64)
    az_row[has_az] = n + np.arange(int(has_az.sum()))
    drop = np.isnan(t_new)
    unscaled_0 = np.linalg.inv(jac.T @ jac)[:3, :3]
    if kernel == "compiled":
        from truceline.associate.kernel import linearised_kernel

        change = np.where(drop, np.nan, (t_new - arr.t_s[pos]) / sigma_t[pos])
        shifts, chi2, chi2_model, unscaled, ok = linearised_kernel(
            np.ascontiguousarray(jac), r, n, pos, change, np.where(drop, az_row[pos], -1),
            settings.huber_k, settings.max_iterations, settings.tolerance_m, theta0,
            arr.x_m, arr.y_m, arr.t_s, arr.sigma_s, settings.propagation_jitter_s_per_km * 1e-3,
        )  # fmt: skip
        unscaled[~ok] = np.eye(3)
        return shifts, chi2, chi2_model, unscaled, ok, float(r @ r), unscaled_0
    hs = np.arange(n_h)
    res = np.broadcast_to(r, (n_h, m)).copy()
    swap = ~drop
    res[hs[swap], pos[swap]] += (t_new[swap] - arr.t_s[pos[swap]]) / sigma_t[pos[swap]]
    keep = np.ones((n_h, m))
    keep[hs[drop], pos[drop]] = 0.0
    with_az = drop & (az_row[pos] >= 0)
    keep[hs[with_az], az_row[pos[with_az]]] = 0.0
    ok = keep[:, :n].sum(axis=1) >= 4  # the locator's fewest arrivals
    unscaled = _inverse(np.einsum("hr,ri,rk->hik", keep, jac, jac), ok)[:, :3, :3]
    # Huber's weights at the linearised residuals, iterated to their fixed point (as the
    # locator's reweighting converges) with the Jacobian held at theta0.
    k = settings.huber_k
    step = np.zeros((n_h, N_PARAMS))
    for _ in range(settings.max_iterations):
        a = np.abs(res + step @ jac.T)
        w = np.where(a <= k, 1.0, k / np.maximum(a, 1e-12)) * keep
        normal = np.einsum("hr,ri,rk->hik", w, jac, jac)
        new = -np.einsum("hik,hk->hi", _inverse(normal, ok), np.einsum("hr,ri,hr->hi", w, jac, res))
        moved = np.hypot(*(new - step)[:, :2].T).max()
        step = new
        if moved < settings.tolerance_m:
            break
    res1 = res + step @ jac.T
    chi2 = np.einsum("hr,hr->h", keep, res1 * res1)
    # The model's time residuals at the stepped solutions (the other rows as linearised).
    theta = theta0 + step
    t_h = np.broadcast_to(arr.t_s, (n_h, n)).copy()
    t_h[hs[swap], pos[swap]] = t_new[swap]
    dx, dy = arr.x_m - theta[:, :1], arr.y_m - theta[:, 1:2]
    d = np.maximum(np.hypot(dx, dy), 1e-3)
    f = d * d / (theta[:, 5:6] * d + theta[:, 3:4] * dx + theta[:, 4:5] * dy)
    sigma = np.sqrt(arr.sigma_s**2 + (settings.propagation_jitter_s_per_km * 1e-3 * d) ** 2)
    r_t = (t_h - theta[:, 2:3] - f) / sigma
    res1[:, :n] = r_t
    chi2_model = np.einsum("hr,hr->h", keep, res1 * res1)
    return step[:, :3], chi2, chi2_model, unscaled, ok, float(r @ r), unscaled_0


def _inverse(normal: F64, ok: NDArray[np.bool_]) -> F64:
    """Inverses of a stack of normal matrices (h, p, p); where not `ok`, or singular (`ok` is
    then cleared), the identity."""
    normal = normal.copy()
    normal[~ok] = np.eye(normal.shape[-1])
    try:
        return np.linalg.inv(normal)
    except np.linalg.LinAlgError:  # some hypothesis singular: one by one
        out = np.broadcast_to(np.eye(normal.shape[-1]), normal.shape).copy()
        for h in np.flatnonzero(ok):
            try:
                out[h] = np.linalg.inv(normal[h])
            except np.linalg.LinAlgError:
                ok[h] = False
        return out


def _relocated(
    arr: Arrivals,
    speed: SoundSpeed,
    base: Solution,
    settings: LocateSettings,
    pos: NDArray[np.int64],
    t_new: F64,
) -> tuple[F64, F64, F64, NDArray[np.bool_]]:
    """The same as `linearised`, each hypothesis relocated by the locator from `base`."""
    n_h = pos.size
    shifts, chi2 = np.zeros((n_h, 3)), np.full(n_h, np.inf)
    unscaled = np.broadcast_to(base.cov / base.scale2, (n_h, 3, 3)).copy()
    ok = np.zeros(n_h, dtype=bool)
    for h in range(n_h):
        if np.isnan(t_new[h]):
            keep = np.ones(arr.n, dtype=bool)
            keep[pos[h]] = False
            arr_h = arr.subset(keep)
        else:
            t_h = arr.t_s.copy()
            t_h[pos[h]] = t_new[h]
            arr_h = Arrivals(arr.x_m, arr.y_m, t_h, arr.sigma_s, arr.az_deg, arr.az_sigma_deg)
        sol = locate(arr_h, speed, (base.x_m, base.y_m, base.tau_s), settings)
        if sol is None or not sol.converged or sol.n_used != arr_h.n:
            continue
        ok[h] = True
        shifts[h] = (sol.x_m - base.x_m, sol.y_m - base.y_m, sol.tau_s - base.tau_s)
        chi2[h] = sol.chi2
        unscaled[h] = sol.cov / sol.scale2
    return shifts, chi2, unscaled, ok


def _detection_probability(
    assoc: AcousticAssociator,
    projection: TangentPlane,
    x_m: float,
    y_m: float,
    d: F64,
    d_heard: F64,
) -> F64:
    """For each of an event's sensors at distance `d` (m) from its origin, the chance a sensor
    at that distance heard it: of the network's sensors within max(25%, 1 km) of that distance
    from the origin, the share among the event's own, by Laplace's rule ((heard + 1) / (n +
    2)); sensors whose detection another event took count as not having heard."""
    origin = projection.to_ecef(x_m, y_m)[0]
    half = np.maximum(_RING_FRACTION * d, _RING_MIN_M)
    near = assoc.net.tree.query_ball_point(origin, r=float((d + half).max()))
    dist = np.linalg.norm(assoc.net.ecef[np.asarray(near, dtype=np.int64)] - origin, axis=1)
    lo, hi = d - half, d + half
    # the network's sensors with lo <= distance <= hi: counted in the sorted distances
    dist.sort()
    n = np.searchsorted(dist, hi, side="right") - np.searchsorted(dist, lo, side="left")
    heard = ((d_heard[None, :] >= lo[:, None]) & (d_heard[None, :] <= hi[:, None])).sum(axis=1)
    n = np.maximum(n, heard)
    return (heard + 1.0) / (n + 2.0)
