"""Shots: whether an acoustic event is a launch or an impact, and which launch fired which impact.

**Labels.** Each detection carries its sensor's own label (launch, impact, unknown), right with
probability 1 - e - u, wrong with probability e, unknown with probability u. For an event with
n_L launch and n_I impact labels the log-odds of "launch" against "impact" are

    lambda_labels = (n_L - n_I) * log((1 - e - u) / e),

unknown labels carrying no information.

**Pairs.** A launch L and an impact I are a shot of weapon class w when the impact lies within the
class's reach of the launch and the time between them fits the class's time of flight at that
range (`truceline.ballistics`, low or high branch): z = (t_I - t_L - T_w(r)) / sigma_T with
sigma_T = a * T_w(r) + b (charge, atmosphere and the origin times' own errors). Candidate pairs
have |z| <= z_max, and labels that give the roles (L launched, I is an impact) a probability of
at least `min_label_probability`; their score is log-likelihood: -z^2/2 plus the label log-odds
of L being a launch and I an impact. The candidates are assigned one to one, the most pairs and
then the largest summed score (`truceline.assign`, each event in one pair at most), so the rounds
of a barrage pair with their own impacts. Pairing decides the type (the earlier event of a pair is
the launch); unpaired events keep the type their labels favour.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
from numpy.typing import NDArray

from truceline.assign import assign
from truceline.ballistics import BallisticTable, Projectile
from truceline.config import ShotsSettings
from truceline.geo.projection import geodesic_distance_m, to_ecef
from truceline.weapons import weapon_classes


@dataclass(frozen=True, slots=True)
class ShotInput:
    """What pairing needs of one event: its place (deg), origin time (s from an epoch) and the
    counts of launch and impact labels among its detections."""

    lon: float
    lat: float
    t_s: float
    n_launch: int
    n_impact: int


@dataclass(frozen=True, slots=True)
class ShotDecision:
    """The outcome for one event: its type, the probability it is a launch (labels alone), and the
    index of its paired event with the weapon class that fits, if any."""

    type: str
    p_launch: float
    paired: int | None
    weapon: str | None
    tof_z: float | None


@cache
def _tables() -> tuple[tuple[str, BallisticTable, str], ...]:
    """Ballistic tables of the indirect-fire classes that have ballistic figures."""
    out = []
    for w in weapon_classes().values():
        if w.kind != "indirect-fire":
            continue
        try:
            table = BallisticTable.build(Projectile.for_weapon(w))
        except ValueError:
            continue
        out.append((w.id, table, "low"))
        if table.reach_m("high")[1] > table.reach_m("high")[0]:
            out.append((w.id, table, "high"))
    return tuple(out)


def label_log_odds(n_launch: NDArray, n_impact: NDArray, s: ShotsSettings) -> NDArray:
    """Log-odds of launch versus impact from the detections' labels."""
    right = 1.0 - s.label_error_fraction - s.label_unknown_fraction
    weight = np.log(right / max(s.label_error_fraction, 1e-6))
    return (np.asarray(n_launch, float) - np.asarray(n_impact, float)) * weight


def decide(
    events: Sequence[ShotInput], settings: ShotsSettings | None = None
) -> list[ShotDecision]:
    """Type and pairing for a set of events (any order)."""
    settings = settings or ShotsSettings()
    n = len(events)
    if n == 0:
        return []
    lon = np.array([e.lon for e in events])
    lat = np.array([e.lat for e in events])
    t = np.array([e.t_s for e in events])
    odds = label_log_odds([e.n_launch for e in events], [e.n_impact for e in events], settings)
    p_launch = 1.0 / (1.0 + np.exp(-odds))

    tables = _tables()
    cand_a, cand_b, cand_score, cand_z, cand_w = [], [], [], [], []
    if n > 1 and tables:
        least = np.log(settings.min_label_probability)

        def labels_of(a: NDArray, b: NDArray) -> NDArray:
            return _log_sigmoid(odds[a]) + _log_sigmoid(-odds[b])

        # A pair must fit in time, and the labels must not speak strongly against its roles
        # (probability at least `min_label_probability` that a launched and b is an impact).
        a, b, z, w = _candidates(
            lon, lat, t, tables, settings, lambda a, b: labels_of(a, b) >= least
        )
        score = -0.5 * z**2 + labels_of(a, b)
        cand_a, cand_b, cand_score, cand_z, cand_w = a, b, score, z, w

    paired = np.full(n, -1)
    pair_z = np.full(n, np.nan)
    pair_w = np.full(n, -1)
    if len(cand_a):
        # Each event is a launch (row) or an impact (column) of at most one pair.
        ks = assign(cand_a, cand_b, cand_score, maximise=True, shared=True)
        for x, y in ((cand_a[ks], cand_b[ks]), (cand_b[ks], cand_a[ks])):
            paired[x], pair_z[x], pair_w[x] = y, cand_z[ks], cand_w[ks]

    decisions = []
    for i in range(n):
        j = int(paired[i])
        if j >= 0:
            kind = "launch" if t[i] < t[j] else "impact"
            weapon = tables[pair_w[i]][0]
            decisions.append(ShotDecision(kind, float(p_launch[i]), j, weapon, float(pair_z[i])))
        else:
            kind = "launch" if p_launch[i] >= 0.5 else "impact"
            decisions.append(ShotDecision(kind, float(p_launch[i]), None, None, None))
    return decisions


_BLOCK = 512
"""Events taken as launch candidates at once in the candidate search (bounds its memory)."""


def _candidates(
    lon: NDArray,
    lat: NDArray,
    t: NDArray,
    tables,
    settings: ShotsSettings,
    pair_ok: Callable[[NDArray, NDArray], NDArray[np.bool_]] | None = None,
) -> tuple[NDArray, NDArray, NDArray, NDArray]:
    """Pairs (a, b) with b later than a whose range r and time dt fit some class branch
    (|z| <= `max_z`, r within the branch's reach), each with its best-fitting branch (smallest
    |z|; the first branch on a tie) and that z, sorted by (a, b); only pairs `pair_ok` passes
    (event indices a, b -> a mask), tested before the costlier range and flight.

    A branch can only fit a pair whose dt lies within its times of flight widened by `max_z`
    sigmas (and within 1.2 times the longest flight of any class) and whose chord is within its
    reach (a chord is never longer than the geodesic). The events are taken `_BLOCK` at a time
    as a, against the events b in the time window after them, so that memory stays bounded:
    all pairs at once within the longest reach and flight (a 500 km, 9-minute missile) would be
    every pair of a day's events within 500 km and 9 minutes of each other, hundreds of
    millions on line-heavy-day."""
    max_flight = max(tb.flight_s(branch)[1] for _, tb, branch in tables)
    window_s = 1.2 * max_flight
    spread = settings.max_z * settings.tof_relative_sigma
    slack_s = settings.max_z * settings.tof_sigma_s
    gates = []  # per branch: shortest and longest dt, longest reach
    for _, table, branch in tables:
        tofs = table.flight_s(branch)
        gates.append(
            (
                min(tof * (1 - spread) for tof in tofs) - slack_s,
                min(max(tofs) * (1 + spread) + slack_s, window_s),
                table.reach_m(branch),
            )
        )
    dt_min = max(min(g[0] for g in gates), 0.0)
    dt_max = max(g[1] for g in gates)
    reach_max = max(g[2][1] for g in gates)
    order = np.argsort(t, kind="stable")
    ts = t[order]
    xyz = to_ecef(lon, lat)[order]
    found: list[tuple[NDArray, ...]] = []
    for start in range(0, ts.size, _BLOCK):
        ia = np.arange(start, min(start + _BLOCK, ts.size))
        first = np.searchsorted(ts, ts[ia[0]] + dt_min, side="left")
        last = np.searchsorted(ts, ts[ia[-1]] + dt_max, side="right")
        if last <= first:
            continue
        ib = np.arange(first, last)
        dt = ts[ib][None, :] - ts[ia][:, None]
        chord = np.linalg.norm(xyz[ib][None, :, :] - xyz[ia][:, None, :], axis=2)
        pa, pb = np.nonzero((dt > 0) & (dt >= dt_min) & (dt <= dt_max) & (chord <= reach_max))
        if not pa.size:
            continue
        a, b, d = order[ia[pa]], order[ib[pb]], dt[pa, pb]
        chord_ab = chord[pa, pb]
        if pair_ok is not None:
            good = pair_ok(a, b)
            a, b, d, chord_ab = a[good], b[good], d[good], chord_ab[good]
        # Only pairs that some branch may fit have their geodesic computed: it lies within
        # the chord's bracket (`_range_bracket`), and z falls as the flight grows, so a branch
        # whose z over the bracket misses [-max_z, max_z] cannot fit (the same pairs as the
        # geodesic for all, at a fraction of its cost: most pairs fit no branch).
        maybe = _may_fit(d, chord_ab, tables, gates, settings)
        a, b, d = a[maybe], b[maybe], d[maybe]
        r = geodesic_distance_m(lon[a], lat[a], lon[b], lat[b])
        best_z = np.full(a.size, np.inf)
        best_w = np.full(a.size, -1)
        for k, (_, table, branch) in enumerate(tables):
            dt_lo, dt_hi, (lo, hi) = gates[k]
            ok = (r >= lo) & (r <= hi) & (d >= dt_lo) & (d <= dt_hi)
            if not ok.any():
                continue
            _, flight = table.solve(r[ok], branch)
            z = _tof_z(d[ok], flight, settings)
            better = np.abs(z) < np.abs(best_z[ok])
            idx = np.flatnonzero(ok)[better]
            best_z[idx], best_w[idx] = z[better], k
        fit = np.abs(best_z) <= settings.max_z
        found.append((a[fit], b[fit], best_z[fit], best_w[fit]))
    if not found:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0), empty
    a, b, z, w = (np.concatenate(parts) for parts in zip(*found, strict=True))
    by_pair = np.lexsort((b, a))
    return a[by_pair], b[by_pair], z[by_pair], w[by_pair]


def _tof_z(dt: NDArray, flight: NDArray, settings: ShotsSettings) -> NDArray:
    """How many sigmas a pair's time `dt` (s) lies from a branch's time of `flight` (s)."""
    return (dt - flight) / (settings.tof_relative_sigma * flight + settings.tof_sigma_s)


_M_MIN_M = 6_335_439.0
"""The smallest radius of curvature of WGS 84 (meridional, at the equator: a (1 - e²)), m."""


def _range_bracket(chord_m: NDArray) -> tuple[NDArray, NDArray]:
    """Bounds of the geodesic distance between two points on the ellipsoid `chord_m` apart in
    a straight line: a geodesic's curvature is at most 1 / `_M_MIN_M`, so it is no longer than
    the arc of that radius over the chord, 2 M asin(c / 2M) <= c (1 + c² / (24 M²)) within
    the reach of any class (with a millimetre for round-off)."""
    return chord_m, chord_m * (1.0 + chord_m**2 / (24.0 * _M_MIN_M**2)) + 1e-3


def _may_fit(
    dt: NDArray, chord_m: NDArray, tables, gates: list, settings: ShotsSettings
) -> NDArray[np.bool_]:
    """Pairs some class branch may fit given their time `dt` (s) and `chord_m` (m): within its
    gates, and with |z| <= `max_z` somewhere over the range bracket (z is monotone in the
    flight time, and the flight in the range along a branch)."""
    r_lo, r_hi = _range_bracket(chord_m)
    max_z = settings.max_z
    keep = np.zeros(dt.size, bool)
    for k, (_, table, branch) in enumerate(tables):
        dt_lo, dt_hi, (lo, hi) = gates[k]
        ok = np.flatnonzero(~keep & (r_hi >= lo) & (r_lo <= hi) & (dt >= dt_lo) & (dt <= dt_hi))
        if not ok.size:
            continue
        _, f1 = table.solve(r_lo[ok], branch)
        _, f2 = table.solve(r_hi[ok], branch)
        shortest, longest = np.minimum(f1, f2), np.maximum(f1, f2)
        d = dt[ok]
        z_most, z_least = _tof_z(d, shortest, settings), _tof_z(d, longest, settings)
        keep[ok[(z_least <= max_z + 1e-9) & (z_most >= -max_z - 1e-9)]] = True
    return keep


def _log_sigmoid(x: NDArray) -> NDArray:
    return -np.logaddexp(0.0, -x)
