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

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

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
    max_reach = max((tb.max_range_m for _, tb, _ in tables), default=0.0)
    max_tof = max((float(tb.time_of_flight_s.max()) for _, tb, _ in tables), default=0.0)
    cand_a, cand_b, cand_score, cand_z, cand_w = [], [], [], [], []
    if n > 1 and tables:
        # Candidates close in space and in time at once: time scaled to metres so that the
        # longest reach and the longest flight weigh alike; within r * sqrt(2) of each other in
        # (x, y, z, v t) lies every pair with distance <= r and dt <= the longest flight. Space
        # alone would pair every event with every other in reach all day long.
        window_s = max_tof * 1.2
        speed = max_reach / max(window_s, 1e-9)
        tree = cKDTree(np.column_stack([to_ecef(lon, lat), t * speed]))
        pairs = tree.query_pairs(r=max_reach * 1.01 * np.sqrt(2.0), output_type="ndarray")
        if pairs.size:
            a, b = pairs[:, 0], pairs[:, 1]
            swap = t[a] > t[b]  # a: the earlier (launch candidate), b: the later
            a, b = np.where(swap, b, a), np.where(swap, a, b)
            dt = t[b] - t[a]
            keep = (dt > 0) & (dt <= window_s)
            a, b, dt = a[keep], b[keep], dt[keep]
            r = geodesic_distance_m(lon[a], lat[a], lon[b], lat[b])
            best_z = np.full(a.size, np.inf)
            best_w = np.full(a.size, -1)
            for k, (_, table, branch) in enumerate(tables):
                lo, hi = table.reach_m(branch)
                ok = (r >= lo) & (r <= hi)
                if not ok.any():
                    continue
                _, tof = table.solve(r[ok], branch)
                z = (dt[ok] - tof) / (settings.tof_relative_sigma * tof + settings.tof_sigma_s)
                better = np.abs(z) < np.abs(best_z[ok])
                idx = np.flatnonzero(ok)[better]
                best_z[idx], best_w[idx] = z[better], k
            labels = _log_sigmoid(odds[a]) + _log_sigmoid(-odds[b])
            # A pair must fit in time, and the labels must not speak strongly against its roles
            # (probability at least `min_label_probability` that a launched and b is an impact).
            good = (np.abs(best_z) <= settings.max_z) & (
                labels >= np.log(settings.min_label_probability)
            )
            a, b, z, w = a[good], b[good], best_z[good], best_w[good]
            score = -0.5 * z**2 + labels[good]
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


def _log_sigmoid(x: NDArray) -> NDArray:
    return -np.logaddexp(0.0, -x)
