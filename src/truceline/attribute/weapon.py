"""Weapon class as a probability: P(class | what the sensors gave) for each shot event.

The classes are the catalogue's ground-fired ballistic ones (`truceline.weapons`: mortar,
artillery, MLRS, heavy MLRS, tactical missile, tank), with a uniform prior. Four kinds of
evidence, taken as independent given the class, multiply it (docs/methods.md, Weapon class):

- **Pair: range and time of flight.** A launch paired with an impact at distance r, dt apart:
  L(w) = max over the class's trajectory branches of φ(z) / σ_T / (r_max - r_min) for r within
  the branch's reach (else 0), with z = (dt - T_w(r)) / σ_T and σ_T = a T_w(r) + b as in
  `truceline.shots` (the same settings). The 1 / (reach width) is the density of a range that is
  uniform over the class's reach: a short range fits a long-range class less well.
  The pairing itself may be wrong (the impact another round's), with prior probability
  ε_p = `pair_error_share`; a wrong pair's (r, dt) is a coincidence that passed the pairing's
  gate, uniform over the gated region G = {(r, dt): |z_w| <= max_z for some class and branch}, so
  the pair contributes p (1 - ε_p) L(w) + ε_p / |G|: the classes that cannot reach r keep
  the coincidence's share instead of 0, and the other evidence can still speak for them.
  An event that carries a `weapon_fit` from a pairing whose partner is not at hand gives its
  class likelihood 1 and every other class 0.05.
- **Counter-battery radar.** When a radar track joined the event (its `radar` property, or the
  event is the radar's own), L(w) = exp(-(χ²_w - min χ²) / 2) from the backtrack's per-class fits
  (`class_chi2`) for the classes of the radar's reported kind, and `radar_misclass` for the rest.
- **Loudness (range-free).** Each acoustic detection reports its signal-to-noise ratio s_i, dB.
  With the sensor's noise N_i and threshold θ_i (sensors.geojson), the distance d_i from the
  located origin, and the class's source level L_w of a launch or an impact (weapons.yaml):
  μ_i = L_w - 20 log10 d_i - α d_i / 1000 - N_i, and the detection model is a normal of width
  σ truncated at θ_i (only what passed the threshold was reported):
  log L_i(w) = log φ((s_i - μ_i)/σ) - log σ - log Φ((μ_i - θ_i)/σ), mixed with a 2% outlier
  density (a false detection or a wrong association). The role mixes the launch and impact
  levels by P(launch). σ adds the position error's share, 8.7 σ_pos / d_i dB, to
  `level_sigma_db`.

- **Cadence (rate of fire).** A launch's nearest launches from the same place, before and after
  it within `cadence_window_s`, are gaps Δ between rounds. Under class w one launcher fires a
  round every τ, τ uniform over the class's published interval [a_w, b_w] (weapons.yaml
  `rate_of_fire`); a gap spans m intervals when m - 1 rounds between went unlocated, with
  probability π_m ∝ p (1 - p)^(m - 1) (p = `cadence_round_detection`); each interval varies
  about τ by `cadence_jitter` a and the two origin times add their variances, so
  h_w(Δ) ∝ Σ_m π_m [Φ((Δ - m a)/s_m) - Φ((Δ - m b)/s_m)] / (m (b - a)), normalised over
  (0, W], s_m² = m (jitter a)² + σ_t1² + σ_t2². A share ε (`cadence_outlier_share`) of
  neighbours are unrelated (another battery, a false event), their gap uniform over W, and a
  share δ (`cadence_duplicate_share`) the same round located twice, its gap zero but for the
  origin times' spread σ_Δ: f_w(Δ) = (1 - ε - δ) h_w(Δ) + ε / W + δ 2 φ(Δ/σ_Δ) / σ_Δ. The two
  sides multiply, and the event is a launch with probability p_L (if not, its neighbours are
  unrelated or duplicates). A launch with no neighbour gets no cadence factor
  (`neighbour_gaps`, `cadence_loglik`).

The posterior is mixed with `class_floor` of the prior so that no class is ever ruled out
entirely by a model that is only approximately right. An event with none of this evidence keeps
the prior: wide, and rightly so.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, NamedTuple

import numpy as np
from scipy.special import log_ndtr, ndtr

from truceline.attribute.areas import covariances_2d
from truceline.ballistics import BallisticTable, Projectile
from truceline.config import AttributeSettings, ShotsSettings
from truceline.geo.projection import GEOD, geodesic_distance_m
from truceline.records import Event, Sensor
from truceline.weapons import weapon_classes

OUTLIER_SHARE = 0.02
OUTLIER_DENSITY_PER_DB = 1.0 / 40.0
UNSEEN_PAIR_OTHERS = 0.05
"""Likelihood of the other classes, relative to the fitted one, for an event whose `weapon_fit`
came from a pairing not available to the classifier."""
DB_PER_RELATIVE_DISTANCE = 20.0 / np.log(10.0)
LEVEL_BLOCK = 32_768
"""Detections per block of `level_logliks`' arrays (each array about 14 x this x 8 bytes)."""


@dataclass(frozen=True, slots=True)
class ClassTable:
    """One weapon class: its ballistic table and branches, and its source levels."""

    id: str
    table: BallisticTable
    branches: tuple[str, ...]
    radar_class: str | None
    launch_db: float | None
    impact_db: float | None
    interval_s: tuple[float, float] | None = None


@cache
def class_tables() -> tuple[ClassTable, ...]:
    """The ground-fired ballistic classes of the catalogue, in catalogue order."""
    out = []
    for w in weapon_classes().values():
        if w.kind not in ("indirect-fire", "direct-fire") or not w.ballistic:
            continue
        table = BallisticTable.build(Projectile.for_weapon(w))
        branches = ["low"]
        lo, hi = table.reach_m("high")
        if hi > lo and w.trajectory == "high":
            branches = ["high"]
        elif hi > lo:
            branches.append("high")
        out.append(
            ClassTable(
                w.id,
                table,
                tuple(branches),
                w.radar_class,
                w.launch_level_db,
                w.impact_level_db,
                w.round_interval_s,
            )
        )
    return tuple(out)


class Detection(NamedTuple):
    """What the loudness evidence needs of one acoustic detection (a tuple: many are made)."""

    lon: float
    lat: float
    snr_db: float
    noise_db: float
    threshold_db: float


class DetectionIndex(Mapping[str, Detection]):
    """{observation id: Detection} for the detections whose sensor declares `noise_db` (and
    `threshold_db`, default 10 dB), each made when asked for: the classifier asks only for its
    events' evidence, a small part of all the detections."""

    def __init__(
        self, sensors: Sequence[Sensor], snr_by_observation: Mapping[str, tuple[str, float]]
    ):
        by_id = {s.id: s for s in sensors}
        self._sensors = {
            sid: (
                s.lon,
                s.lat,
                float(s.properties["noise_db"]),
                float(s.properties.get("threshold_db", 10.0)),
            )
            for sid, s in by_id.items()
            if s.properties.get("noise_db") is not None
        }
        self._snr = snr_by_observation

    def __getitem__(self, observation_id: str) -> Detection:
        sid, snr = self._snr[observation_id]
        lon, lat, noise, threshold = self._sensors[sid]  # KeyError: no noise declared
        return Detection(lon, lat, float(snr), noise, threshold)

    def __contains__(self, observation_id: object) -> bool:
        found = self._snr.get(observation_id)  # type: ignore[call-overload]
        return found is not None and found[0] in self._sensors

    def __iter__(self) -> Iterator[str]:
        return (oid for oid, (sid, _) in self._snr.items() if sid in self._sensors)

    def rows_among(self, observation_ids: Iterable[str]) -> list[tuple[float, ...]]:
        """The detections among `observation_ids`, in their order (one look-up each), as plain
        tuples (lon, lat, snr_db, noise_db, threshold_db): the fields of each `Detection`,
        without making one (for `level_logliks`, which wants arrays)."""
        snr_of, sensors = self._snr.get, self._sensors.get
        out = []
        for oid in observation_ids:
            found = snr_of(oid)
            if found is not None:
                sensor = sensors(found[0])
                if sensor is not None:
                    lon, lat, noise, threshold = sensor
                    out.append((lon, lat, float(found[1]), noise, threshold))
        return out

    def __len__(self) -> int:
        return sum(1 for _ in self)


def detection_index(
    sensors: Sequence[Sensor], snr_by_observation: Mapping[str, tuple[str, float]]
) -> DetectionIndex:
    """{observation id: Detection} for the detections whose sensor declares `noise_db` (and
    `threshold_db`, default 10 dB)."""
    return DetectionIndex(sensors, snr_by_observation)


# -- cadence: the rate of fire --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Gaps:
    """For each launch (`ids`), the time to the nearest launch from the same place before and
    after it (s; NaN: none within the window) and the variance of each gap from the two origin
    times (s²)."""

    ids: tuple[str, ...]
    before_s: np.ndarray
    after_s: np.ndarray
    before_var_s2: np.ndarray
    after_var_s2: np.ndarray


def _time_variance_s2(event: Event) -> float:
    cov = event.origin.covariance
    value = float(cov[2][2]) if cov is not None else 0.0
    return value if np.isfinite(value) and value > 0 else 0.0


def neighbour_gaps(events: Sequence[Event], settings: AttributeSettings) -> Gaps:
    """The gaps of each launch among `events` (type `launch`) to its nearest launches from the
    same place, before and after it.

    Two launches i, j come from the same place when d^T (C_i + C_j + s² I)^-1 d <= k², d their
    east-north offset (geodesic), C their origins' 2x2 covariances (as the areas' integral takes
    them: `covariance_scale`, `default_sigma_m`), s = `cadence_spread_m`,
    k = `cadence_k_sigma`; only launches within `cadence_window_s` of each other are compared.
    A sweep over the launches sorted by time: the k-th pass compares each launch with the k-th
    next one, so the first match found on each side is the nearest in time."""
    launches = [e for e in events if e.type == "launch"]
    n = len(launches)
    nan = np.full(n, np.nan)
    if n == 0:
        return Gaps((), nan, nan.copy(), nan.copy(), nan.copy())
    t_ns = np.array([e.origin.time_ns for e in launches], dtype=np.int64)
    order = np.argsort(t_ns, kind="stable")
    launches = [launches[i] for i in order]
    t = (t_ns[order] - t_ns[order[0]]) / 1e9
    lon = np.array([e.origin.lon for e in launches])
    lat = np.array([e.origin.lat for e in launches])
    pos = covariances_2d(
        [e.origin.covariance for e in launches], settings.default_sigma_m, settings.covariance_scale
    )
    var_t = np.array([_time_variance_s2(e) for e in launches])
    spread2 = settings.cadence_spread_m**2
    k2 = settings.cadence_k_sigma**2
    window = settings.cadence_window_s
    before, after = nan.copy(), nan.copy()
    before_var, after_var = nan.copy(), nan.copy()
    active = np.arange(n)
    step = 1
    while active.size:
        active = active[active + step < n]
        j = active + step
        dt = t[j] - t[active]
        near = dt <= window
        active, j, dt = active[near], j[near], dt[near]  # later steps are farther apart
        need = np.isnan(after[active]) | np.isnan(before[j])
        i, jj, gap = active[need], j[need], dt[need]
        if i.size:
            az, _, dist = GEOD.inv(lon[i], lat[i], lon[jj], lat[jj])
            rad = np.radians(az)
            de, dn = dist * np.sin(rad), dist * np.cos(rad)
            c = pos[i] + pos[jj]
            a, b, d = c[:, 0, 0] + spread2, c[:, 0, 1], c[:, 1, 1] + spread2
            det = np.maximum(a * d - b * b, 1e-12)
            m2 = (d * de * de - 2 * b * de * dn + a * dn * dn) / det
            same = m2 <= k2
            first = same & np.isnan(after[i])
            after[i[first]] = gap[first]
            after_var[i[first]] = var_t[i[first]] + var_t[jj[first]]
            first = same & np.isnan(before[jj])  # each j appears once per step
            before[jj[first]] = gap[first]
            before_var[jj[first]] = var_t[i[first]] + var_t[jj[first]]
        step += 1
    return Gaps(tuple(e.id for e in launches), before, after, before_var, after_var)


def _logsumexp_rows(a: np.ndarray) -> np.ndarray:
    """log Σ exp over the last axis (-inf for a row of -inf): scipy's `logsumexp` without its
    per-call overhead, which dominated on arrays of a few elements."""
    top = np.max(a, axis=-1)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return safe + np.log(np.sum(np.exp(a - safe[..., None]), axis=-1))


def _logsumexp(a: np.ndarray) -> float:
    """`_logsumexp_rows` of a 1-D array, as a float."""
    return float(_logsumexp_rows(np.asarray(a, float)))


def _ndtr_integral(x: np.ndarray) -> np.ndarray:
    """∫ Φ(u) du from -∞ to x = x Φ(x) + φ(x)."""
    return x * ndtr(x) + np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi)


def interval_density(
    gap_s: np.ndarray,
    var_s2: np.ndarray,
    interval_s: tuple[float, float],
    jitter: float,
    round_detection: float,
    window_s: float,
) -> np.ndarray:
    """h(Δ): the density (1/s) over (0, window] of a gap Δ between two located rounds of one
    launcher whose interval τ is uniform over `interval_s` = [a, b]. The gap spans m intervals
    with probability π_m ∝ p (1 - p)^(m - 1) (m - 1 rounds between went unlocated), so it is
    m τ plus a normal error of variance s_m² = m (jitter a)² + `var_s2` (the launcher's pace
    varying round to round, the two origin times):

        u_m(Δ) = [Φ((Δ - m a) / s_m) - Φ((Δ - m b) / s_m)] / (m (b - a)),
        h(Δ) = Σ_m π_m u_m(Δ) / Σ_m π_m ∫_0^W u_m,

    the denominator making it a density over the window (a gap beyond it is not looked at)."""
    lo, hi = interval_s
    m_max = max(1, int(window_s // lo) + 1)
    m = np.arange(1, m_max + 1, dtype=float)
    weight = round_detection * (1 - round_detection) ** (m - 1)
    keep = weight >= 1e-6 * weight[0]
    m, weight = m[keep], weight[keep] / weight[keep].sum()
    gap = np.asarray(gap_s, dtype=float)[..., None]
    var = np.asarray(var_s2, dtype=float)[..., None]
    s = np.maximum(np.sqrt(m * (jitter * lo) ** 2 + var), 1e-3)
    width = m * (hi - lo)
    dens = (ndtr((gap - m * lo) / s) - ndtr((gap - m * hi) / s)) / width
    mass = (
        s
        * (
            _ndtr_integral((window_s - m * lo) / s)
            - _ndtr_integral(-m * lo / s)
            - _ndtr_integral((window_s - m * hi) / s)
            + _ndtr_integral(-m * hi / s)
        )
        / width
    )
    return (dens * weight).sum(axis=-1) / np.maximum((mass * weight).sum(axis=-1), 1e-300)


def cadence_loglik(
    gaps: Gaps, p_launch: np.ndarray, tables: Sequence[ClassTable], settings: AttributeSettings
) -> np.ndarray:
    """log L(w) of each launch's gaps (rows as `gaps.ids`, columns as `tables`).

    Per side, f_w(Δ) = (1 - ε - δ) h_w(Δ) + b(Δ) with the class-free part
    b(Δ) = ε / W + δ 2 φ(Δ / σ_Δ) / σ_Δ: a share ε of neighbours unrelated (uniform over the
    window W), a share δ the same round located twice (a gap of zero seen through the two origin
    times' spread σ_Δ). The sides multiply; mixed with the event not being a launch (1 - p_L: its
    neighbours are then unrelated or duplicates, b(Δ) / (ε + δ) each). 0 for a launch with no
    neighbour; a class without a published interval takes the class-free part alone."""
    eps, dup = settings.cadence_outlier_share, settings.cadence_duplicate_share
    window = settings.cadence_window_s
    n = len(gaps.ids)
    out = np.zeros((n, len(tables)))
    sides = []
    for gap, var in ((gaps.before_s, gaps.before_var_s2), (gaps.after_s, gaps.after_var_s2)):
        ok = np.isfinite(gap)
        sigma = np.sqrt(np.maximum(np.where(ok, var, 1.0), 1e-6))
        z = np.where(ok, gap, 0.0) / sigma
        free = eps / window + dup * 2 * np.exp(-0.5 * z * z) / (np.sqrt(2 * np.pi) * sigma)
        sides.append((gap, var, ok, free))
    n_seen = sides[0][2].astype(int) + sides[1][2]
    other = sum(np.where(ok, np.log(free / (eps + dup)), 0.0) for _, _, ok, free in sides)
    pl = np.clip(np.asarray(p_launch, dtype=float), 1e-6, 1 - 1e-6)
    for k, c in enumerate(tables):
        total = np.zeros(n)
        for gap, var, ok, free in sides:
            if c.interval_s is None:
                f = free / (eps + dup)
            else:
                h = np.zeros(n)
                h[ok] = interval_density(
                    gap[ok],
                    var[ok],
                    c.interval_s,
                    settings.cadence_jitter,
                    settings.cadence_round_detection,
                    window,
                )
                f = (1 - eps - dup) * h + free
            total += np.where(ok, np.log(f), 0.0)
        out[:, k] = np.logaddexp(np.log(pl) + total, np.log1p(-pl) + other)
    out[n_seen == 0] = 0.0
    return out


@dataclass(frozen=True, slots=True)
class Cadence:
    """One launch's cadence evidence: log L per class and the gaps it rests on (s)."""

    loglik: np.ndarray
    before_s: float | None
    after_s: float | None

    def describe(self) -> str:
        parts = [
            f"{v:.2f} s {side}"
            for v, side in ((self.before_s, "before"), (self.after_s, "after"))
            if v is not None
        ]
        return f"cadence ({', '.join(parts)})"


class WeaponClassifier:
    """P(class) for shot events from pairing, radar, loudness and cadence."""

    def __init__(
        self,
        settings: AttributeSettings,
        shots: ShotsSettings | None = None,
        detections: Mapping[str, Detection] | None = None,
    ):
        self.settings = settings
        self.shots = shots or ShotsSettings()
        self.detections = detections or {}
        self.tables = class_tables()
        self.ids = [c.id for c in self.tables]
        self._source_levels = np.array(
            [[np.nan if v is None else v for v in (c.launch_db, c.impact_db)] for c in self.tables],
            float,
        )
        """Source level of each class's launch and impact, dB (NaN: that sound is not made)."""
        self._coincidence: float | None = None

    # -- one kind of evidence each ---------------------------------------------------------------

    def pair_loglik(self, launch: Event, impact: Event) -> np.ndarray:
        """log L(w) of one pair's range and time of flight (`pair_logliks` of one pair)."""
        return self.pair_logliks([(launch, impact)])[0]

    def pair_logliks(self, pairs: Sequence[tuple[Event, Event]]) -> np.ndarray:
        """log L(w) of each (launch, impact) pair's range and time of flight (rows as `pairs`,
        columns as the classes): the best of the class's branches that reach the range."""
        m = len(pairs)
        out = np.full((m, len(self.tables)), -np.inf)
        if m == 0:
            return out
        r = geodesic_distance_m(
            [launch.origin.lon for launch, _ in pairs],
            [launch.origin.lat for launch, _ in pairs],
            [impact.origin.lon for _, impact in pairs],
            [impact.origin.lat for _, impact in pairs],
        )
        dt = np.array([(impact.time_ns - launch.time_ns) / 1e9 for launch, impact in pairs])
        for k, c in enumerate(self.tables):
            best = out[:, k]
            for branch in c.branches:
                lo, hi = c.table.reach_m(branch)  # type: ignore[arg-type]
                ok = (lo * 0.95 <= r) & (r <= hi * 1.05)
                if hi <= lo or not ok.any():
                    continue
                _, tof = c.table.solve(r[ok], branch)  # type: ignore[arg-type]
                sigma = self.shots.tof_relative_sigma * tof + self.shots.tof_sigma_s
                z = (dt[ok] - tof) / sigma
                best[ok] = np.maximum(best[ok], -0.5 * z * z - np.log(sigma) - np.log(hi - lo))
        return out

    def coincidence_logdensity(self) -> float:
        """log(1 / |G|): the density (1/(m s)) of a wrong pair's range and time of flight,
        uniform over the region G of (r, dt) that the pairing's gate admits (|z| <= `max_z` for
        some class and branch, the same z as `pair_loglik`). |G| is the area of the union of the
        classes' bands, summed over a grid of ranges."""
        if self._coincidence is None:
            reach = max(c.table.max_range_m for c in self.tables)
            r = np.linspace(0.0, reach * 1.05, 4001)[1:]
            intervals = []
            for c in self.tables:
                for branch in c.branches:
                    lo, hi = c.table.reach_m(branch)  # type: ignore[arg-type]
                    if hi <= lo:
                        continue
                    ok = (r >= lo * 0.95) & (r <= hi * 1.05)
                    tof = np.full(r.size, np.nan)
                    _, t = c.table.solve(np.clip(r[ok], lo, hi), branch)  # type: ignore[arg-type]
                    tof[ok] = t
                    sigma = self.shots.tof_relative_sigma * tof + self.shots.tof_sigma_s
                    half = self.shots.max_z * sigma
                    intervals.append((tof - half, tof + half))
            lows = np.array([a for a, _ in intervals])  # (bands, ranges), NaN outside reach
            highs = np.array([b for _, b in intervals])
            # The union of the bands' dt intervals at each range: sort by start, sweep.
            order = np.argsort(np.where(np.isnan(lows), np.inf, lows), axis=0)
            lows = np.take_along_axis(lows, order, axis=0)
            highs = np.take_along_axis(highs, order, axis=0)
            length = np.zeros(r.size)
            end = np.full(r.size, -np.inf)
            for a, b in zip(lows, highs, strict=True):
                ok = np.isfinite(a)
                a, b = np.where(ok, np.maximum(a, 0.0), 0.0), np.where(ok, b, 0.0)
                start = np.maximum(a, end)
                length += np.where(ok, np.maximum(b - start, 0.0), 0.0)
                end = np.where(ok, np.maximum(end, b), end)
            area = float(np.sum(length) * (r[1] - r[0]))
            self._coincidence = -np.log(max(area, 1e-9))
        return self._coincidence

    def radar_loglik(self, event: Event) -> np.ndarray | None:
        block = event.properties.get("radar")
        chi2 = (block or {}).get("class_chi2") if isinstance(block, Mapping) else None
        if chi2 is None:
            chi2 = event.properties.get("class_chi2")
        if not chi2:
            return None
        values = {str(k): float(v) for k, v in dict(chi2).items() if v is not None}
        finite = [v for v in values.values() if np.isfinite(v)]
        if not finite:
            return None
        low = min(finite)
        miss = np.log(self.settings.radar_misclass)
        return np.array(
            [
                -0.5 * (values[c] - low) if np.isfinite(values.get(c, np.inf)) else miss
                for c in self.ids
            ]
        )

    def level_loglik(self, event: Event, p_launch: float) -> tuple[np.ndarray, int]:
        """log L(w) of one event's loudness and its number of detections (`level_logliks`)."""
        return self.level_logliks([event], [p_launch])[0]

    def level_logliks(
        self, events: Sequence[Event], p_launch: Sequence[float]
    ) -> list[tuple[np.ndarray, int]]:
        """For each event with its P(launch): log L(w) of its detections' loudness (0 without
        any) and the number of detections. The events with the same number of detections are
        taken together, as arrays (event, class, launch|impact, detection), in blocks of about
        `LEVEL_BLOCK` detections."""
        zero = np.zeros(len(self.tables))
        out: list[tuple[np.ndarray, int]] = [(zero, 0)] * len(events)
        index = self.detections
        if isinstance(index, DetectionIndex):
            found = [index.rows_among(e.evidence) for e in events]
        else:
            found = [[Detection(*index[o]) for o in e.evidence if o in index] for e in events]
        by_count: dict[int, list[int]] = {}
        for i, dets in enumerate(found):
            if dets:
                by_count.setdefault(len(dets), []).append(i)
        levels = self._source_levels
        known = np.isfinite(levels)
        source = np.where(known, levels, 0.0)[None, :, :, None]
        groups = [
            (n, rows[start : start + max(1, LEVEL_BLOCK // n)])
            for n, rows in by_count.items()
            for start in range(0, len(rows), max(1, LEVEL_BLOCK // n))
        ]
        for n, rows in groups:
            # (event, detection, field): lon, lat, snr_db, noise_db, threshold_db
            table = np.array([d for i in rows for d in found[i]], float).reshape(-1, n, 5)
            origins = [events[i].origin for i in rows]
            dist = np.maximum(
                geodesic_distance_m(
                    np.array([o.lon for o in origins])[:, None],
                    np.array([o.lat for o in origins])[:, None],
                    table[:, :, 0],
                    table[:, :, 1],
                ),
                1.0,
            )[:, None, None, :]
            snr, noise, theta = (table[:, None, None, :, k] for k in (2, 3, 4))
            trace = np.array(
                [o.covariance[0][0] + o.covariance[1][1] if o.covariance else 0.0 for o in origins]
            )
            pos_sigma = np.sqrt(np.maximum(trace, 0.0) / 2)[:, None, None, None]
            sigma = np.sqrt(
                self.settings.level_sigma_db**2 + (DB_PER_RELATIVE_DISTANCE * pos_sigma / dist) ** 2
            )
            loss = 20.0 * np.log10(dist) + self.settings.level_absorption_db_per_km * dist / 1e3
            pl = np.clip(np.array([p_launch[i] for i in rows], float), 1e-6, 1 - 1e-6)
            # Every class and both kinds of sound at once: (event, class, launch|impact, detection).
            mu = source - loss - noise
            z = (snr - mu) / sigma
            ll = -0.5 * z * z - np.log(sigma * np.sqrt(2 * np.pi)) - log_ndtr((mu - theta) / sigma)
            ll = np.logaddexp(
                np.log(1 - OUTLIER_SHARE) + ll, np.log(OUTLIER_SHARE * OUTLIER_DENSITY_PER_DB)
            )
            role = np.log(np.stack([pl, 1 - pl], axis=-1))[:, None, :]
            parts = np.where(known, role + ll.sum(axis=-1), -np.inf)
            for i, row in zip(rows, _logsumexp_rows(parts), strict=True):
                out[i] = (row, n)
        return out

    def cadence(self, events: Sequence[Event], p_launch: Mapping[str, float]) -> dict[str, Cadence]:
        """{launch id: Cadence} for the launches among `events` with a neighbour from the same
        place (`neighbour_gaps`); `p_launch` gives each launch's P(launch). Empty when
        `cadence` is off."""
        if not self.settings.cadence:
            return {}
        gaps = neighbour_gaps(events, self.settings)
        pl = np.array([p_launch.get(i, 1.0) for i in gaps.ids])
        ll = cadence_loglik(gaps, pl, self.tables, self.settings)
        out = {}
        for k, event_id in enumerate(gaps.ids):
            b, a = gaps.before_s[k], gaps.after_s[k]
            if np.isnan(b) and np.isnan(a):
                continue
            out[event_id] = Cadence(
                ll[k],
                None if np.isnan(b) else float(b),
                None if np.isnan(a) else float(a),
            )
        return out

    # -- the whole -------------------------------------------------------------------------------

    def _member_evidence(
        self,
        event: Event,
        pl: float,
        cadence: Mapping[str, Cadence] | None,
        radar_allowed: bool,
        levels: Mapping[str, tuple[np.ndarray, int]] | None = None,
    ) -> tuple[np.ndarray, bool, int, list[str]]:
        """One event's own evidence: log L per class from its radar fit (if `radar_allowed`),
        loudness and cadence; whether radar was used, the number of detections and the cadence's
        description."""
        total = np.zeros(len(self.tables))
        radar = self.radar_loglik(event) if radar_allowed else None
        if radar is not None:
            total += radar
        known = None if levels is None else levels.get(event.id)
        ll, n_levels = self.level_loglik(event, pl) if known is None else known
        total += ll
        described = []
        rate = (cadence or {}).get(event.id)
        if rate is not None:
            total += rate.loglik
            described.append(rate.describe())
        return total, radar is not None, n_levels, described

    def classify(
        self,
        members: Sequence[tuple[Event, float]],
        pair: tuple[Event, Event] | None,
        cadence: Mapping[str, Cadence] | None = None,
        *,
        levels: Mapping[str, tuple[np.ndarray, int]] | None = None,
        pair_loglik: np.ndarray | None = None,
    ) -> dict[str, Any]:
        """P(class) for one shot: `members` are its events (one, or a launch and its impact)
        with each one's P(launch); `pair` the (launch, impact) when the pair is used; `cadence`
        the launches' cadence evidence (`WeaponClassifier.cadence`), by event id: a paired
        impact takes its launch's. `levels` and `pair_loglik` may give what `level_logliks`
        (by event id, at the members' P(launch)) and `pair_logliks` (of `pair`) worked out for
        many events at once.

        A pair may be wrong (`pair_error_share` ε): the pair's range and time of flight and the
        impact's own evidence E_I speak for the launch's class only if it is right, so
        L(w) = E_L(w) [(1 - ε) L_pair(w) E_I(w) + ε Ē_I / |G|], Ē_I the impact's evidence
        averaged over the classes (a wrong pair's impact is another round, of any class) and
        |G| the area the pairing's gate admits (`coincidence_logdensity`)."""
        n = len(self.tables)
        total = np.zeros(n)
        used: list[str] = []
        radar_seen = False
        n_levels = 0
        cadence_used: list[str] = []
        pair_right = None
        pl_of = {m.id: pl for m, pl in members}
        if pair is not None:
            launch, impact = pair
            own, radar_seen, n_levels, cadence_used = self._member_evidence(
                launch, pl_of.get(launch.id, 1.0), cadence, True, levels
            )
            imp, imp_radar, k, imp_cadence = self._member_evidence(
                impact, pl_of.get(impact.id, 0.0), cadence, not radar_seen, levels
            )
            radar_seen = radar_seen or imp_radar
            n_levels += k
            cadence_used += imp_cadence
            if pair_loglik is None:
                pair_loglik = self.pair_loglik(launch, impact)
            right = pair_loglik + imp
            err = self.settings.pair_error_share
            if err > 0:
                finite = imp[np.isfinite(imp)]
                mean_imp = _logsumexp(finite) - np.log(n) if finite.size else -np.inf
                wrong = np.log(err) + self.coincidence_logdensity() + mean_imp
                right = np.log1p(-err) + right
                both = np.logaddexp(right, wrong)
                joint = own + both
                ok = np.isfinite(joint)
                if ok.any():
                    mixed = _logsumexp((own + right)[ok]) - _logsumexp(joint[ok])
                    pair_right = float(np.exp(mixed))
                total += joint
            else:
                total += own + right
            used.append("pair")
        else:
            for event, pl in members:
                ll, radar, k, described = self._member_evidence(
                    event,
                    pl,
                    cadence,
                    not radar_seen,  # both events of a radar pair share it
                    levels,
                )
                total += ll
                radar_seen = radar_seen or radar
                n_levels += k
                cadence_used += described
        if pair is None and not radar_seen:
            fits = [m.properties.get("weapon_fit") for m, _ in members]
            fit = next((f for f in fits if f), None)
            if fit and str(fit.get("class")) in self.ids:
                # A class fitted by a pairing whose partner is not at hand: weaker than the pair.
                total += np.where(
                    np.array(self.ids) == str(fit["class"]), 0.0, np.log(UNSEEN_PAIR_OTHERS)
                )
                used.append("weapon_fit")
        if radar_seen:
            used.append("radar")
        if n_levels:
            used.append(f"loudness ({n_levels} detections)")
        used += cadence_used
        prior = np.full(n, 1.0 / n)
        if np.all(~np.isfinite(total)):
            post = prior
        else:
            w = np.exp(total - np.max(total[np.isfinite(total)]))
            w = np.where(np.isfinite(total), w, 0.0) * prior
            post = w / w.sum()
        floor = self.settings.class_floor
        post = (1 - floor) * post + floor * prior
        probs = {c: round(float(p), 6) for c, p in zip(self.ids, post, strict=True)}
        top = max(probs, key=lambda c: probs[c])
        out = {"probabilities": probs, "class": top, "evidence": used or ["prior only"]}
        if pair_right is not None:
            out["pair_right"] = round(pair_right, 6)
        return out
