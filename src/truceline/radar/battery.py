"""Launch points of one battery's rounds refined together (docs/methods.md, Radar, "Rounds of
one battery").

A counter-battery radar that tracks several rounds of one battery locates the battery better
than any one round: each round's gun stands at the battery position plus a spread of
`spread_m` per axis (the guns of a battery tens of metres apart), and each backtracked launch
point is that gun's position plus the track's error (its covariance). So

    launch_i ~ N(battery, S² I),    x_i ~ N(launch_i, C_i),

and the rounds other than i (the leave-one-out estimate, independent of i's own track) locate
the battery at b_i = (Σ_j W_j)⁻¹ Σ_j W_j x_j, W_j = (C_j + S² I)⁻¹, with covariance
B_i = (Σ_j W_j)⁻¹, widened by max(1, χ²/(2(m − 1))), χ² = Σ_j (x_j − b_i)ᵀ W_j (x_j − b_i) over
the m other rounds, when they scatter more than that says. Round i's launch is then its own
estimate updated by the measurement b_i ~ N(launch_i, B_i + S² I) of its east-north position
(a Kalman update of the (east, north, time) origin: the time moves through its correlation with
the position). Which rounds are one
battery is not known: those of the same weapon class whose launch times are within `window_s`
and whose launch points agree, x_i − x_j ~ N(0, C_i + C_j + 2 S² I), within `gate_sigma`.

Only the radars' own launch points enter: the result is still the radars' estimate, and each
round's own point stays on the event (`battery.position_alone`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from truceline.geo.projection import (
    TangentPlane,
    enu_basis,
    planes_forward,
    planes_inverse,
    to_ecef,
)


@dataclass(frozen=True)
class BatteryPoints:
    """For each round: the battery position located by the other rounds (WGS 84 degrees), its
    east-north covariance (n, 2, 2; m², in the round's tangent plane) and how many other rounds
    located it (0: none, the position is NaN)."""

    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    covariance: NDArray[np.float64]
    rounds: NDArray[np.int64]

    def take(self, index: ArrayLike) -> BatteryPoints:
        """The battery points of the rounds `index` (an integer array), in that order."""
        k = np.asarray(index, np.int64)
        return BatteryPoints(self.lon[k], self.lat[k], self.covariance[k], self.rounds[k])


def _inv2(c: NDArray[np.float64]) -> NDArray[np.float64]:
    """Inverses of 2x2 matrices (m, 2, 2) in closed form."""
    det = c[:, 0, 0] * c[:, 1, 1] - c[:, 0, 1] * c[:, 1, 0]
    out = np.empty_like(c)
    out[:, 0, 0] = c[:, 1, 1] / det
    out[:, 1, 1] = c[:, 0, 0] / det
    out[:, 0, 1] = -c[:, 0, 1] / det
    out[:, 1, 0] = -c[:, 1, 0] / det
    return out


def battery_points(
    lon: ArrayLike,
    lat: ArrayLike,
    time_ns: ArrayLike,
    covariance: ArrayLike,
    weapon: ArrayLike,
    shot: ArrayLike | None = None,
    *,
    spread_m: float,
    window_s: float,
    gate_sigma: float,
) -> BatteryPoints:
    """The leave-one-out battery position of each of n rounds' launch points (`lon`, `lat`
    degrees, `time_ns`, `covariance` (n, 2, 2) or (n, 3, 3): east-north(-time) in each point's
    tangent plane, `weapon` the fitted class; `shot`: a label per point, points of one shot,
    several radars' tracks of one round, do not locate each other): the other rounds of the
    same class launched within `window_s` whose points agree with this one within `gate_sigma`
    (under
    C_i + C_j + 2 `spread_m`² I), information-weighted with their covariances widened by
    `spread_m`² (module docstring)."""
    lon = np.atleast_1d(np.asarray(lon, float))
    lat = np.atleast_1d(np.asarray(lat, float))
    t = np.atleast_1d(np.asarray(time_ns, np.int64))
    cov = np.asarray(covariance, float).reshape(lon.size, *np.shape(covariance)[1:])[:, :2, :2]
    weapon = np.asarray(weapon, object)
    n = lon.size
    b_cov = np.full((n, 2, 2), np.nan)
    out = BatteryPoints(np.full(n, np.nan), np.full(n, np.nan), b_cov, np.zeros(n, np.int64))
    if n < 2 or window_s <= 0:
        return out
    # Pairs of rounds within the window, both ways (i the round located, j the other).
    order = np.argsort(t, kind="stable")
    ts = t[order]
    hi = np.searchsorted(ts, ts + round(window_s * 1e9), side="right")
    counts = hi - np.arange(n) - 1
    first = np.repeat(np.arange(n), counts)
    second = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts) + first + 1
    a, b = order[first], order[second]
    same = weapon[a] == weapon[b]
    if shot is not None:
        label = np.asarray(shot, object)
        same &= label[a] != label[b]
    a, b = a[same], b[same]
    i, j = np.concatenate([a, b]), np.concatenate([b, a])
    if i.size == 0:
        return out
    # j's point in i's tangent plane.
    ecef, rot = to_ecef(lon, lat), enu_basis(lon, lat)
    d = ((ecef[j] - ecef[i])[:, None, :] @ rot[i, :2, :].transpose(0, 2, 1))[:, 0, :]
    s2 = spread_m * spread_m
    eye = np.eye(2)
    gate = _inv2(cov[i] + cov[j] + 2 * s2 * eye)
    d2 = np.einsum("qa,qab,qb->q", d, gate, d)
    keep = d2 < gate_sigma * gate_sigma
    i, j, d = i[keep], j[keep], d[keep]
    if i.size == 0:
        return out
    w = _inv2(cov[j] + s2 * eye)
    info = np.zeros((n, 2, 2))
    vec = np.zeros((n, 2))
    np.add.at(info, i, w)
    np.add.at(vec, i, np.einsum("qab,qb->qa", w, d))
    rounds = np.bincount(i, minlength=n)
    has = np.flatnonzero(rounds)
    c_b = _inv2(info[has])
    mean = np.einsum("qab,qb->qa", c_b, vec[has])
    # Other rounds scattered more widely than their covariances and the spread say (two
    # batteries' rounds in one group, guns further apart than the spread): B widened by their
    # chi-square per degree of freedom about b, when above 1.
    at_b = np.zeros((n, 2))
    at_b[has] = mean
    r = d - at_b[i]
    chi2 = np.bincount(i, weights=np.einsum("qa,qab,qb->q", r, w, r), minlength=n)
    dof = 2 * (rounds - 1)
    scatter = np.where(dof > 0, np.maximum(chi2 / np.maximum(dof, 1), 1.0), 1.0)
    c_b = c_b * scatter[has, None, None]
    planes = TangentPlane.many(lon[has], lat[has])
    b_lon, b_lat = planes_inverse(planes, mean[:, 0], mean[:, 1])
    out.lon[has], out.lat[has] = b_lon, b_lat
    b_cov[has] = c_b
    out.rounds[:] = rounds
    return out


def with_battery(
    lon: ArrayLike,
    lat: ArrayLike,
    time_ns: ArrayLike,
    covariance: ArrayLike,
    battery: BatteryPoints,
    spread_m: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64], NDArray[np.float64]]:
    """Launch points (`lon`, `lat`, `time_ns`, (east, north, time) `covariance` (n, 3, 3)) each
    updated by its round's `battery` position as a measurement of its east-north position with
    covariance B + `spread_m`² I; points whose round has no battery position are returned as
    they are. Returns (lon, lat, time_ns, covariance)."""
    lon = np.array(np.atleast_1d(lon), float)
    lat = np.array(np.atleast_1d(lat), float)
    t = np.array(np.atleast_1d(time_ns), np.int64)
    cov = np.array(covariance, float).reshape(lon.size, 3, 3)
    has = np.flatnonzero(battery.rounds > 0)
    if has.size == 0:
        return lon, lat, t, cov
    planes = TangentPlane.many(lon[has], lat[has])
    be, bn = planes_forward(planes, battery.lon[has], battery.lat[has])
    y = np.column_stack([be, bn])
    p = cov[has]
    s = p[:, :2, :2] + battery.covariance[has] + spread_m * spread_m * np.eye(2)
    k = p[:, :, :2] @ _inv2(s)  # (m, 3, 2)
    x = np.einsum("qab,qb->qa", k, y)
    p_new = p - k @ p[:, :2, :]
    p_new = 0.5 * (p_new + p_new.transpose(0, 2, 1))
    new_lon, new_lat = planes_inverse(planes, x[:, 0], x[:, 1])
    lon[has], lat[has] = new_lon, new_lat
    t[has] = t[has] + np.rint(x[:, 2] * 1e9).astype(np.int64)
    cov[has] = p_new
    return lon, lat, t, cov
