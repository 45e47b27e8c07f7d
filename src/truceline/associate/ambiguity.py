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
- each is relocated (the compiled locator, no outlier removal) and weighted against the taken
  set by its marginal likelihood: exp(-(chi2_h - chi2_0) / 2) sqrt(det C_h / det C_0), times,
  for leaving the sensor out, lambda_j (1 - P_j) / P_j sqrt(2 pi) sigma_j: the density of other
  sounds at that sensor (lambda_j, its rate of other detections near the predicted arrival)
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
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from truceline.associate.indices import KEY_STRIDE_S
from truceline.geo.projection import TangentPlane
from truceline.locate.solver import Arrivals, SoundSpeed, locate

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
) -> Ambiguity:
    """The mixture covariance of an event with detections `det` (global indices), located near
    the centre of `projection` at origin time `tau_s` with the weather prior `speed`, whose
    locator covariance is `cov` (3x3, x_m, y_m, tau_s)."""
    s = assoc.s
    det = np.asarray(det, dtype=np.int64)
    unchanged = Ambiguity(np.array(cov, dtype=float), 0, 1.0, 0)
    if det.size == 0 or s.ambiguity_max_hypotheses == 0:
        return unchanged
    settings = assoc.locator.model_copy(update={"max_outliers": 0})
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

    # Candidates with a first-order weight (no relocation), likeliest first.
    floor = s.ambiguity_min_weight / 10
    cands: list[tuple[float, int, int]] = []  # (approximate weight, position j, detection or -1)
    t_all = assoc.t.v
    for j in range(det.size):
        for g in order[lo_gate[j] : hi_gate[j]]:
            if g == det[j]:
                continue
            r_alt = (t_all[g] - predicted[j]) / sigma[j]
            approx = float(np.exp(-(r_alt**2 - r[j] ** 2) / 2))
            if approx >= floor:
                cands.append((approx, j, int(g)))
        approx = float(drop_prior[j] * np.exp(min(r[j] ** 2, 50.0) / 2))
        if approx >= floor:
            cands.append((approx, j, -1))
    if not cands:
        return replace(unchanged, relocations=relocations)
    cands.sort(key=lambda c_: -c_[0])
    cands = cands[: s.ambiguity_max_hypotheses]

    unscaled0 = base.cov / base.scale2
    logdet0 = np.linalg.slogdet(unscaled0)[1]
    x0 = np.array([base.x_m, base.y_m, base.tau_s])
    # Per sensor: sum of weights, and sum of weighted increments.
    weight_sum: dict[int, float] = {}
    increments: dict[int, F64] = {}
    n_hyp = 0
    for _, j, g in cands:
        if g < 0:
            keep = np.ones(det.size, dtype=bool)
            keep[j] = False
            arr_h = arr.subset(keep)
            prior = float(drop_prior[j])
        else:
            t_h = arr.t_s.copy()
            t_h[j] = t_all[g]
            arr_h = Arrivals(arr.x_m, arr.y_m, t_h, arr.sigma_s, arr.az_deg, arr.az_sigma_deg)
            prior = 1.0
        sol = locate(arr_h, speed, (base.x_m, base.y_m, base.tau_s), settings)
        relocations += 1
        if sol is None or not sol.converged or sol.n_used != arr_h.n:
            continue
        unscaled = sol.cov / sol.scale2
        log_w = (
            -(sol.chi2 - base.chi2) / 2
            + (np.linalg.slogdet(unscaled)[1] - logdet0) / 2
            + np.log(max(prior, 1e-300))
        )
        w = float(np.exp(min(log_w, 50.0)))
        if w < s.ambiguity_min_weight:
            continue
        n_hyp += 1
        shift = np.array([sol.x_m, sol.y_m, sol.tau_s]) - x0
        inc = np.outer(shift, shift)
        if g < 0:  # fewer arrivals: a wider solution (a swap has the same sensors' geometry)
            inc += (unscaled - unscaled0) * base.scale2
        weight_sum[j] = weight_sum.get(j, 0.0) + w
        increments[j] = increments.get(j, np.zeros((3, 3))) + w * inc
    if n_hyp == 0:
        return replace(unchanged, relocations=relocations)
    out = np.array(cov, dtype=float)
    p_taken = 1.0
    for j, total in weight_sum.items():
        out += increments[j] / (1.0 + total)
        p_taken /= 1.0 + total
    out = (out + out.T) / 2
    return Ambiguity(out, n_hyp, p_taken, relocations)


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
    n = ((dist[None, :] >= lo[:, None]) & (dist[None, :] <= hi[:, None])).sum(axis=1)
    heard = ((d_heard[None, :] >= lo[:, None]) & (d_heard[None, :] <= hi[:, None])).sum(axis=1)
    n = np.maximum(n, heard)
    return (heard + 1.0) / (n + 2.0)
