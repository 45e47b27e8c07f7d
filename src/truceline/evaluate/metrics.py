"""Scores of located events against truth, as named groups of rows (docs/methods.md, Evaluation).

A `MetricGroup` is a name, a title and a function `(matching, events, context) -> list[Row]`;
`METRIC_GROUPS` lists them in report order, so a later stage adds its group (violations per rule,
attribution, calibration, radar tracks) by appending one. A `Row` is one score with its unit and
target; a row whose value is None was skipped, and its `note` says why.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.interpolate import CubicSpline
from scipy.optimize import brentq
from scipy.special import ndtr

from truceline.config import LocateSettings
from truceline.evaluate.inputs import EventFeature, Inputs, SensorSite, TruthSource
from truceline.evaluate.match import (
    DUPLICATE,
    FALSE_REASONS,
    UNKNOWN_TYPE,
    Match,
    Matching,
)
from truceline.geo.projection import TangentPlane, geodesic_distance_m, to_ecef
from truceline.locate.solver import Arrivals, SoundSpeed, crb_covariance

F64 = NDArray[np.float64]

# ---------------------------------------------------------------------------------------------
# Rows and groups


@dataclass(frozen=True, slots=True)
class Target:
    """An acceptable range of a score: value >= `low` and/or value <= `high`."""

    low: float | None = None
    high: float | None = None

    def met(self, value: float | None) -> bool | None:
        """Whether `value` is in range; None when there is no value."""
        if value is None or not math.isfinite(value):
            return None
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    def __str__(self) -> str:
        if self.low is not None and self.high is not None:
            return f"{self.low:g}-{self.high:g}"
        if self.low is not None:
            return f">= {self.low:g}"
        return f"<= {self.high:g}"


@dataclass(frozen=True, slots=True)
class Row:
    """One score. `value` None: not computed (`note` says why). `unit`: "m", "s", "fraction" (a
    share in [0, 1]) or "" (a count or a ratio); `detail`: a short explanation, such as the
    numerator and denominator of a share."""

    key: str
    label: str
    value: float | int | None
    unit: str = ""
    target: Target | None = None
    detail: str = ""
    note: str = ""

    @property
    def passed(self) -> bool | None:
        return None if self.target is None else self.target.met(self.value)

    def as_dict(self) -> dict[str, Any]:
        value = self.value
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        return {
            "key": self.key,
            "label": self.label,
            "value": value,
            "unit": self.unit,
            "target": None
            if self.target is None
            else {"min": self.target.low, "max": self.target.high, "text": str(self.target)},
            "pass": self.passed,
            "detail": self.detail,
            "note": self.note,
        }


def skipped(key: str, label: str, why: str, unit: str = "", target: Target | None = None) -> Row:
    """A row for a score that could not be computed, saying why."""
    return Row(key, label, None, unit, target, note=why)


def fraction(
    key: str,
    label: str,
    hits: int,
    total: int,
    target: Target | None = None,
    empty: str = "nothing to count",
) -> Row:
    """A share hits/total as a row, skipped when total is 0."""
    if total == 0:
        return skipped(key, label, empty, "fraction", target)
    return Row(key, label, hits / total, "fraction", target, detail=f"{hits:,}/{total:,}")


# ---------------------------------------------------------------------------------------------
# Context: what the groups share (inputs, noise model, caches)


@dataclass
class Context:
    """Inputs and settings shared by the metric groups, with lazily built lookups.

    `min_sensors`: a source counts towards recall when at least this many distinct sensors
    heard it; `locator`: the noise model of the bound (`propagation_jitter_s_per_km`) and the
    temperature without weather reports (`default_temperature_c`); `noise_origin` says where the
    jitter came from."""

    inputs: Inputs
    min_sensors: int = 5
    locator: LocateSettings = field(default_factory=LocateSettings)
    noise_origin: str = "setting locate"
    agreement: Any = None
    """The agreement (`truceline.agreement.Agreement`) for the violation and attribution
    scores; None skips them."""
    _heard: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    _weather: Any = field(default=None, repr=False)
    _sensor_ecef: dict[str, F64] | None = field(default=None, repr=False)

    @property
    def has_observations(self) -> bool:
        return self.inputs.observations is not None

    def heard_by(self, source: TruthSource) -> tuple[str, ...] | None:
        """Distinct sensors of the source's acoustic observations, in list order; None without
        observations. Observations missing from the file are not counted."""
        observations = self.inputs.observations
        if observations is None:
            return None
        sensors = self._heard.get(source.id)
        if sensors is None:
            found = (observations.get(obs) for obs in source.observations)
            sensors = tuple(dict.fromkeys(o.sensor for o in found if o and o.kind == "acoustic"))
            self._heard[source.id] = sensors
        return sensors

    def eligible(self, source: TruthSource) -> bool | None:
        """Heard by at least `min_sensors` distinct sensors; None without observations."""
        sensors = self.heard_by(source)
        return None if sensors is None else len(sensors) >= self.min_sensors

    def sound_speed(self, lon: float, lat: float, time_ns: int | None) -> SoundSpeed:
        """Speed of sound and wind from the weather report nearest the place and time: the
        nearest station (if sensors are known) and its report nearest in time; without reports
        the locator's default temperature (20 °C) and no wind."""
        ecef = to_ecef(lon, lat)[0] if math.isfinite(lon + lat) else None
        return self.sound_speed_at(ecef, time_ns)

    def sound_speed_at(self, ecef: F64 | None, time_ns: int | None) -> SoundSpeed:
        """`sound_speed` for a place given in ECEF metres."""
        if self._weather is None:
            self._weather = _WeatherLookup(
                self.inputs.weather, self.inputs.sensors, self.locator.default_temperature_c
            )
        return self._weather.at(ecef, time_ns)

    def sensor_ecef(self, sensor_id: str) -> F64 | None:
        """ECEF position (m) of a known sensor."""
        if self._sensor_ecef is None:
            sites = [
                s for s in (self.inputs.sensors or {}).values() if math.isfinite(s.lon + s.lat)
            ]
            ecef = to_ecef([s.lon for s in sites], [s.lat for s in sites]) if sites else []
            self._sensor_ecef = {s.id: ecef[i] for i, s in enumerate(sites)}
        return self._sensor_ecef.get(sensor_id)


class _WeatherLookup:
    """Weather reports by station, sorted by time, with station positions (ECEF, m) where known."""

    def __init__(
        self,
        reports: Sequence[Any],
        sensors: dict[str, SensorSite] | None,
        default_temperature_c: float,
    ):
        by_station: dict[str, list[Any]] = {}
        for report in reports:
            by_station.setdefault(report.sensor, []).append(report)
        sites = {s: (sensors or {}).get(s) for s in by_station}
        placed = sorted(s for s, x in sites.items() if x and math.isfinite(x.lon + x.lat))
        # Stations of unknown position take part only when no station's position is known.
        self.stations = placed or sorted(by_station)
        self.reports = [sorted(by_station[s], key=lambda r: r.time_ns) for s in self.stations]
        self.times = [np.array([r.time_ns for r in rs], dtype=np.int64) for rs in self.reports]
        self.ecef = (
            to_ecef([sites[s].lon for s in placed], [sites[s].lat for s in placed])
            if placed
            else None
        )
        self.default = SoundSpeed.from_temperature(default_temperature_c)

    def at(self, ecef: F64 | None, time_ns: int | None) -> SoundSpeed:
        """The report of the station nearest `ecef` (straight-line distance) nearest in time to
        `time_ns`; without station positions, the report nearest in time of any station."""
        if not self.stations:
            return self.default
        if self.ecef is not None and ecef is not None and np.all(np.isfinite(ecef)):
            candidates = [int(np.argmin(np.sum((self.ecef - ecef) ** 2, axis=1)))]
        else:
            candidates = list(range(len(self.stations)))
        best: tuple[int, Any] | None = None
        for i in candidates:
            times = self.times[i]
            if time_ns is None:
                k = 0
            else:
                j = int(np.searchsorted(times, time_ns))
                k = min(
                    (k for k in (j - 1, j) if 0 <= k < times.size),
                    key=lambda k: abs(int(times[k]) - time_ns),
                )
            gap = 0 if time_ns is None else abs(int(times[k]) - time_ns)
            if best is None or gap < best[0]:
                best = (gap, self.reports[i][k])
        assert best is not None
        report = best[1]
        return SoundSpeed.from_temperature(
            report.temperature_c, report.wind_e_mps, report.wind_n_mps
        )


# ---------------------------------------------------------------------------------------------
# Geometry and statistics


def inside_ellipse(
    east_m: ArrayLike,
    north_m: ArrayLike,
    major_m: ArrayLike,
    minor_m: ArrayLike,
    azimuth_deg: ArrayLike,
) -> NDArray[np.bool_]:
    """Whether offsets (east, north, m) from an ellipse's centre lie inside or on it; semi-axes in
    metres (below 1 nm taken as 1 nm, so a degenerate ellipse is a segment), major axis
    `azimuth_deg` clockwise from north. Broadcasts."""
    az = np.radians(np.asarray(azimuth_deg, dtype=float))
    e, n = np.asarray(east_m, dtype=float), np.asarray(north_m, dtype=float)
    along = e * np.sin(az) + n * np.cos(az)  # component along the major axis
    across = e * np.cos(az) - n * np.sin(az)
    u = along / np.maximum(np.asarray(major_m, dtype=float), 1e-9)
    v = across / np.maximum(np.asarray(minor_m, dtype=float), 1e-9)
    return np.asarray(u * u + v * v <= 1.0)


_GL_X, _GL_W = np.polynomial.legendre.leggauss(96)
_THETA = (_GL_X + 1.0) * (np.pi / 4.0)  # Gauss-Legendre nodes on [0, pi/2]
_THETA_W = _GL_W * (np.pi / 4.0)
_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(80)  # weight exp(-z^2 / 2)
_GH_W = _GH_W / math.sqrt(2.0 * math.pi)
_Q_HERMITE = 0.004
"""Below this axis ratio the Gauss-Hermite form is used: r / sqrt(q) > 9 keeps its kink where the
normal density is below 1e-18."""


def _radial_cdf(r: F64, q: F64) -> F64:
    """P(sqrt(z1^2 + q z2^2) <= r) for independent standard normals z1, z2 and 0 <= q <= 1.

    For q >= 0.004, with z1 = r sin(t): P = 2 int_0^{pi/2} phi(r sin t) (2 Phi(r cos t / sqrt q)
    - 1) r cos t dt, a smooth integrand, by Gauss-Legendre quadrature. For smaller q that
    integrand has a boundary layer of width sqrt(q) / r at t = pi/2, so P = E[2 Phi(sqrt(r^2 -
    q z2^2)) - 1] over z2, smooth where the normal density matters, by Gauss-Hermite quadrature."""
    r = r[..., None]
    q = q[..., None]
    sq = np.sqrt(q)
    with np.errstate(divide="ignore", invalid="ignore"):
        inner = np.where(sq > 0, 2.0 * ndtr(r * np.cos(_THETA) / sq) - 1.0, 1.0)
    phi = np.exp(-0.5 * (r * np.sin(_THETA)) ** 2) / math.sqrt(2.0 * math.pi)
    legendre = 2.0 * np.sum(_THETA_W * phi * inner * r * np.cos(_THETA), axis=-1)
    reach = np.sqrt(np.clip(r * r - q * _GH_X**2, 0.0, None))
    hermite = np.sum(_GH_W * (2.0 * ndtr(reach) - 1.0), axis=-1)
    # Far out (r >= 9) the Legendre integrand is a spike of width ~1/r that fixed nodes miss;
    # there P >= P(z1^2 + z2^2 <= r^2) = 1 - exp(-r^2 / 2) > 1 - 3e-18, so P is 1.
    return np.where(r[..., 0] >= 9.0, 1.0, np.where(q[..., 0] < _Q_HERMITE, hermite, legendre))


def _radial_median_unit(q: F64) -> F64:
    """Median of sqrt(z1^2 + q z2^2), by bisection on the CDF (between 0.674 at q = 0 and
    sqrt(2 ln 2) = 1.177 at q = 1)."""
    lo, hi = np.full(q.shape, 0.5), np.full(q.shape, 1.5)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        below = _radial_cdf(mid, q) < 0.5
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return 0.5 * (lo + hi)


@cache
def _radial_median_spline() -> CubicSpline:
    q = np.linspace(0.0, 1.0, 513)
    return CubicSpline(q, _radial_median_unit(q))


def median_radial_error_m(cov: ArrayLike) -> F64:
    """Median of |e| for e ~ N(0, C), C a 2x2 position covariance (m^2), or a stack (..., 2, 2).

    With eigenvalues l1 >= l2 the median is sqrt(l1) g(l2 / l1), g computed on a grid of the
    axis ratio by quadrature and bisection and interpolated by a cubic spline (relative error
    below 1e-9); g(1) = sqrt(2 ln 2) (the Rayleigh median), g(0) = 0.6745."""
    l1, l2 = _axes(cov)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(l1 > 0, l2 / l1, 1.0)
    return np.sqrt(l1) * _radial_median_spline()(np.clip(q, 0.0, 1.0))


def _axes(cov: ArrayLike) -> tuple[F64, F64]:
    """Eigenvalues l1 >= l2 >= 0 (m^2) of a stack of 2x2 covariances."""
    vals = np.clip(np.linalg.eigvalsh(np.asarray(cov, dtype=float)), 0.0, None)
    return vals[..., 1], vals[..., 0]


def radial_error_cdf(radius_m: float, cov: ArrayLike, chunk: int = 4096) -> F64:
    """P(|e| <= radius_m) for e ~ N(0, C_i), for each 2x2 covariance C_i (m^2) of a stack."""
    l1, l2 = (np.atleast_1d(a) for a in _axes(cov))
    out = np.empty(l1.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(l1 > 0, radius_m / np.sqrt(l1), np.inf)
        q = np.clip(np.where(l1 > 0, l2 / l1, 1.0), 0.0, 1.0)
    for start in range(0, l1.size, chunk):
        part = slice(start, start + chunk)
        finite = np.isfinite(r[part])
        block = np.ones(finite.shape)
        block[finite] = _radial_cdf(r[part][finite], q[part][finite])
        out[part] = block
    return out


def pooled_median_radial_error_m(cov: ArrayLike) -> float:
    """The median of |e| over a set of events, e_i ~ N(0, C_i): the m with mean_i P(|e_i| <= m)
    = 1/2 (m). This is the median location error an efficient, unbiased locator would have on
    those events; it is not the median of the per-event medians when the C_i differ in size."""
    medians = np.atleast_1d(median_radial_error_m(cov))
    lo, hi = float(medians.min()), float(medians.max())
    if hi <= lo * (1 + 1e-12):
        return lo

    def excess(m: float) -> float:
        return float(radial_error_cdf(m, cov).mean()) - 0.5

    return float(brentq(excess, lo, hi, xtol=1e-9 * hi, rtol=1e-12))


def _percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (linear interpolation between order statistics)."""
    return float(np.percentile(np.asarray(values, dtype=float), p))


# ---------------------------------------------------------------------------------------------
# Per-match quantities


def _positions(matches: Sequence[Match]) -> tuple[F64, F64, F64, F64]:
    """Event and true longitudes and latitudes (deg) of the matches."""
    return (
        np.array([m.event.lon for m in matches], dtype=float),
        np.array([m.event.lat for m in matches], dtype=float),
        np.array([m.source.lon for m in matches], dtype=float),
        np.array([m.source.lat for m in matches], dtype=float),
    )


def location_errors_m(matches: Sequence[Match]) -> F64:
    """Geodesic distance from each event's origin to the true position, m (NaN if unknown)."""
    elon, elat, tlon, tlat = _positions(matches)
    out = np.full(len(matches), np.nan)
    ok = np.isfinite(elon + elat + tlon + tlat)
    if ok.any():
        out[ok] = geodesic_distance_m(elon[ok], elat[ok], tlon[ok], tlat[ok])
    return out


def truth_offsets_m(matches: Sequence[Match]) -> tuple[F64, F64]:
    """East and north (m) of each true position in the tangent plane at its event's origin: the
    rotation of `TangentPlane`, vectorised over events."""
    elon, elat, tlon, tlat = _positions(matches)
    if not matches:
        return np.empty(0), np.empty(0)
    d = to_ecef(tlon, tlat) - to_ecef(elon, elat)
    lam, phi = np.radians(elon), np.radians(elat)
    east = -np.sin(lam) * d[:, 0] + np.cos(lam) * d[:, 1]
    north = (
        -np.sin(phi) * np.cos(lam) * d[:, 0]
        - np.sin(phi) * np.sin(lam) * d[:, 1]
        + np.cos(phi) * d[:, 2]
    )
    return east, north


def covers_truth(matches: Sequence[Match]) -> list[bool | None]:
    """For each match, whether the event's 95% ellipse contains the true origin (in the tangent
    plane at the event); None without an ellipse or positions."""
    east, north = truth_offsets_m(matches)
    out: list[bool | None] = [None] * len(matches)
    for i, m in enumerate(matches):
        el = m.event.ellipse95
        if el is not None and math.isfinite(east[i] + north[i]):
            out[i] = bool(inside_ellipse(east[i], north[i], el.major_m, el.minor_m, el.azimuth_deg))
    return out


def crb_position_covariance(source: TruthSource, context: Context) -> tuple[F64 | None, str]:
    """The Cramér-Rao bound's 2x2 covariance (east, north; m^2) of the source's true origin, heard
    by the sensors that heard it, with their timing errors, azimuths where observed, the sound
    speed of the nearest weather report and the context's noise model; (None, reason) when it
    cannot be computed."""
    inputs = context.inputs
    if inputs.observations is None or inputs.sensors is None:
        return None, "needs --observations and --sensors"
    if not math.isfinite(source.lon + source.lat):
        return None, "no true position"
    rows: list[tuple[F64, float, float, float]] = []
    seen: set[str] = set()
    for obs_id in source.observations:
        obs = inputs.observations.get(obs_id)
        if obs is None or obs.kind != "acoustic" or obs.sensor in seen:
            continue
        site = inputs.sensors.get(obs.sensor)
        ecef = context.sensor_ecef(obs.sensor)
        if site is None or ecef is None:
            continue
        seen.add(obs.sensor)
        az_sigma = obs.azimuth_sigma_deg
        if not math.isfinite(az_sigma):
            az_sigma = site.azimuth_sigma_deg
        az = obs.azimuth_deg if math.isfinite(obs.azimuth_deg) and az_sigma > 0 else math.nan
        rows.append((ecef, site.timing_sigma_s, az, az_sigma if math.isfinite(az) else math.nan))
    n_az = sum(math.isfinite(r[2]) for r in rows)
    if len(rows) + n_az < 3:
        return None, "fewer than 3 measurements"
    plane = TangentPlane(source.lon, source.lat)
    x, y = plane.from_ecef(np.array([r[0] for r in rows]))
    arrivals = Arrivals(
        np.asarray(x, dtype=float),
        np.asarray(y, dtype=float),
        np.zeros(len(rows)),
        np.array([r[1] for r in rows]),
        np.array([r[2] for r in rows]),
        np.array([r[3] for r in rows]),
    )
    speed = context.sound_speed_at(plane.origin, source.time_ns)
    try:
        cov = crb_covariance(0.0, 0.0, arrivals, speed, context.locator)
    except np.linalg.LinAlgError:
        return None, "singular geometry"
    cov2 = cov[:2, :2]
    if not np.all(np.isfinite(cov2)) or cov2[0, 0] <= 0 or cov2[1, 1] <= 0:
        return None, "singular geometry"
    return cov2, ""


def crb_median_error_m(source: TruthSource, context: Context) -> tuple[float | None, str]:
    """Median radial error (m) the Cramér-Rao bound predicts for the source's true origin
    (`crb_position_covariance`); (None, reason) when it cannot be computed."""
    cov2, why = crb_position_covariance(source, context)
    return (None, why) if cov2 is None else (float(median_radial_error_m(cov2)), "")


# ---------------------------------------------------------------------------------------------
# Groups for acoustic events

ACOUSTIC = "acoustic"
RECALL_TARGET = Target(low=0.98)
PRECISION_TARGET = Target(low=0.98)
COVERAGE_TARGET = Target(low=0.93, high=0.97)
CRB_RATIO_TARGET = Target(high=1.25)
LAUNCH_IMPACT_TARGET = Target(low=0.97)

NEEDS_OBSERVATIONS = "needs --observations (which sensor made each observation)"


def count_rows(matching: Matching, events: Sequence[EventFeature], context: Context) -> list[Row]:
    """How many events, sources, matches, false and duplicate events; run time if recorded."""
    acoustic_events = {e.id for e in matching.events_of(ACOUSTIC)}
    sources = matching.sources_of(ACOUSTIC)
    reasons = Counter(r for eid, r in matching.unmatched.items() if eid in acoustic_events)
    rows = [
        Row("events", "events (all types)", len(events)),
        Row("acoustic_events", "acoustic events (launch, impact)", len(acoustic_events)),
        Row("sources", "true sources (launch, impact)", len(sources)),
    ]
    if context.has_observations:
        n = sum(bool(context.eligible(s)) for s in sources)
        rows.append(
            Row("eligible_sources", f"sources heard by >= {context.min_sensors} sensors", n)
        )
    else:
        rows.append(
            skipped(
                "eligible_sources",
                f"sources heard by >= {context.min_sensors} sensors",
                NEEDS_OBSERVATIONS,
            )
        )
    rows += [
        Row("matched", "matched events", len(matching.matches_of(ACOUSTIC))),
        Row(
            "false_events",
            "false events",
            sum(reasons[r] for r in FALSE_REASONS),
            detail="evidence mostly false alarms, or no source near",
        ),
        Row(
            "duplicate_events",
            "duplicate events",
            reasons[DUPLICATE],
            detail="their source matched a better event",
        ),
        Row(
            "unresolved_events",
            "unresolved events",
            sum(n for r, n in reasons.items() if r not in FALSE_REASONS and r != DUPLICATE),
            detail="no source caused a majority of the evidence",
        ),
    ]
    other = sum(1 for r in matching.unmatched.values() if r == UNKNOWN_TYPE)
    if other:
        rows.append(Row("unscored_events", "events of types not scored", other))
    run = context.inputs.run or {}
    elapsed = run.get("elapsed_s")
    if isinstance(elapsed, int | float) and math.isfinite(elapsed):
        rows.append(Row("run_elapsed_s", "run time", float(elapsed), "s"))
    return rows


def detection_rows(
    matching: Matching, events: Sequence[EventFeature], context: Context
) -> list[Row]:
    """Recall over sources heard by >= min_sensors sensors and over all sources; precision."""
    sources = matching.sources_of(ACOUSTIC)
    matched = {m.source.id for m in matching.matches_of(ACOUSTIC)}
    label = f"recall (heard by >= {context.min_sensors} sensors)"
    if context.has_observations:
        eligible = [s for s in sources if context.eligible(s)]
        recall = fraction(
            "recall",
            label,
            sum(s.id in matched for s in eligible),
            len(eligible),
            RECALL_TARGET,
            "no eligible sources",
        )
    else:
        recall = skipped("recall", label, NEEDS_OBSERVATIONS, "fraction", RECALL_TARGET)
    n_events = len(matching.events_of(ACOUSTIC))
    return [
        recall,
        fraction(
            "recall_all", "recall (all sources)", len(matched), len(sources), empty="no sources"
        ),
        fraction("precision", "precision", len(matched), n_events, PRECISION_TARGET, "no events"),
    ]


def location_rows(
    matching: Matching, events: Sequence[EventFeature], context: Context
) -> list[Row]:
    """Location error (median, 90th percentile, mean), origin-time error, ellipse coverage."""
    matches = matching.matches_of(ACOUSTIC)
    all_errors = location_errors_m(matches)
    errors = all_errors[np.isfinite(all_errors)]
    rows: list[Row] = []
    if errors.size:
        n = f"{errors.size:,} events"
        rows += [
            Row(
                "location_error_median_m",
                "location error, median",
                float(np.median(errors)),
                "m",
                detail=n,
            ),
            Row(
                "location_error_p90_m",
                "location error, 90th percentile",
                _percentile(errors, 90),
                "m",
                detail=n,
            ),
            Row(
                "location_error_mean_m",
                "location error, mean",
                float(np.mean(errors)),
                "m",
                detail=n,
            ),
        ]
    else:
        rows += [
            skipped(k, label, "no matched events with positions", "m")
            for k, label in (
                ("location_error_median_m", "location error, median"),
                ("location_error_p90_m", "location error, 90th percentile"),
                ("location_error_mean_m", "location error, mean"),
            )
        ]
    gaps = [
        abs(m.event.time_ns - m.source.time_ns) / 1e9
        for m in matches
        if m.event.time_ns is not None and m.source.time_ns is not None
    ]
    if gaps:
        rows.append(
            Row(
                "origin_time_error_median_s",
                "origin time error, median |dt|",
                float(np.median(gaps)),
                "s",
                detail=f"{len(gaps):,} events",
            )
        )
    else:
        rows.append(
            skipped(
                "origin_time_error_median_s",
                "origin time error, median |dt|",
                "no matched events with times",
                "s",
            )
        )
    covered = [c for c in covers_truth(matches) if c is not None]
    row = fraction(
        "ellipse_coverage",
        "95% ellipse coverage",
        sum(covered),
        len(covered),
        COVERAGE_TARGET,
        "no matched events with an ellipse",
    )
    without = len(matches) - len(covered)
    if without and row.value is not None:
        row = Row(
            row.key,
            row.label,
            row.value,
            row.unit,
            row.target,
            f"{row.detail}; {without:,} without ellipse",
        )
    rows.append(row)
    return rows


def crb_rows(matching: Matching, events: Sequence[EventFeature], context: Context) -> list[Row]:
    """The median location error against the Cramér-Rao bound, over the matched events where the
    bound could be computed: beside the median of the per-event predicted medians (and their
    ratio), beside the median error an efficient locator would have on the same events (the
    pooled median, and that ratio), and the median of each event's error over its own predicted
    median (1 for an efficient locator)."""
    labels = (
        ("crb_location_error_median_m", "location error, median (same events)", "m", None),
        ("crb_bound_median_m", "bound: median of per-event medians", "m", None),
        ("crb_ratio", "error / bound (medians)", "", CRB_RATIO_TARGET),
        ("crb_bound_pooled_median_m", "bound: median error of an efficient locator", "m", None),
        ("crb_pooled_ratio", "error / efficient locator's median", "", CRB_RATIO_TARGET),
        ("crb_normalised_error_median", "median of error / own bound median", "", None),
    )
    inputs = context.inputs
    if inputs.observations is None or inputs.sensors is None:
        missing = " and ".join(
            f"--{name}" for name in ("observations", "sensors") if getattr(inputs, name) is None
        )
        return [skipped(k, label, f"needs {missing}", unit, t) for k, label, unit, t in labels]
    actual: list[float] = []
    covs: list[F64] = []
    reasons: Counter[str] = Counter()
    matches = matching.matches_of(ACOUSTIC)
    for match, error in zip(matches, location_errors_m(matches), strict=True):
        if not math.isfinite(error):
            reasons["no position"] += 1
            continue
        cov2, why = crb_position_covariance(match.source, context)
        if cov2 is None:
            reasons[why] += 1
            continue
        actual.append(error)
        covs.append(cov2)
    if not actual:
        return [
            skipped(k, label, "no matched events with a computable bound", unit, t)
            for k, label, unit, t in labels
        ]
    detail = f"{len(actual):,} events"
    if reasons:
        detail += "; skipped " + ", ".join(f"{n:,} {why}" for why, n in reasons.most_common())
    errors, stack = np.asarray(actual), np.asarray(covs)
    predicted = median_radial_error_m(stack)
    median_actual, median_bound = float(np.median(errors)), float(np.median(predicted))
    pooled = pooled_median_radial_error_m(stack)
    with np.errstate(divide="ignore", invalid="ignore"):
        normalised = float(np.median(errors / predicted))
    noise = (
        f"timing_sigma_s per sensor + {context.locator.propagation_jitter_s_per_km:g} s/km "
        f"({context.noise_origin})"
    )
    values = (
        median_actual,
        median_bound,
        _ratio(median_actual, median_bound),
        pooled,
        _ratio(median_actual, pooled),
        normalised,
    )
    details = (detail, noise, "", "mean of per-event CDFs = 1/2", "", "1 for an efficient locator")
    return [
        Row(key, label, value, unit, target, info)
        for (key, label, unit, target), value, info in zip(labels, values, details, strict=True)
    ]


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else math.nan


def launch_impact_rows(
    matching: Matching, events: Sequence[EventFeature], context: Context
) -> list[Row]:
    """Share of matched events whose type (launch or impact) is the true source's type."""
    matches = matching.matches_of(ACOUSTIC)
    right = sum(m.event.type == m.source.type for m in matches)
    row = fraction(
        "launch_impact_accuracy",
        "launch/impact correct",
        right,
        len(matches),
        LAUNCH_IMPACT_TARGET,
        "no matched events",
    )
    wrong = Counter(
        f"{m.source.type} as {m.event.type}" for m in matches if m.event.type != m.source.type
    )
    if wrong:
        row = Row(
            row.key,
            row.label,
            row.value,
            row.unit,
            row.target,
            f"{row.detail}; " + ", ".join(f"{n:,} {w}" for w, n in sorted(wrong.items())),
        )
    return [row]


def pairing_rows(matching: Matching, events: Sequence[EventFeature], context: Context) -> list[Row]:
    """Pairing accuracy over true launch-impact pairs whose sources were both matched (their
    events named as paired, in either direction), and pairing precision over the events' pairs."""
    event_pairs = {
        frozenset((e.id, e.paired))
        for e in matching.events_of(ACOUSTIC)
        if e.paired and e.paired != e.id
    }
    by_source = matching.by_source
    sources = {s.id: s for s in matching.sources_of(ACOUSTIC)}
    true_pairs = {
        frozenset((s.id, s.paired))
        for s in sources.values()
        if s.paired in sources and s.paired != s.id
    }
    both_matched = [p for p in true_pairs if all(i in by_source for i in p)]
    right = sum(frozenset(by_source[i].event.id for i in p) in event_pairs for p in both_matched)
    by_event = matching.by_event

    def is_true(pair: frozenset[str]) -> bool:
        if not all(i in by_event for i in pair):
            return False
        return frozenset(by_event[i].source.id for i in pair) in true_pairs

    return [
        fraction(
            "pairing_accuracy",
            "pairing accuracy",
            right,
            len(both_matched),
            empty="no true pairs with both sources matched",
        ),
        fraction(
            "pairing_precision",
            "pairing precision",
            sum(map(is_true, event_pairs)),
            len(event_pairs),
            empty="no paired events",
        ),
    ]


# ---------------------------------------------------------------------------------------------
# Registry

GroupFunction = Callable[[Matching, Sequence[EventFeature], Context], list[Row]]


@dataclass(frozen=True, slots=True)
class MetricGroup:
    """A named section of the report: `compute(matching, events, context)` returns its rows."""

    name: str
    title: str
    compute: GroupFunction


METRIC_GROUPS: list[MetricGroup] = [
    MetricGroup("counts", "Counts", count_rows),
    MetricGroup("detection", "Detection (launch, impact)", detection_rows),
    MetricGroup("location", "Location (launch, impact)", location_rows),
    MetricGroup("crb", "Cramér-Rao bound (launch, impact)", crb_rows),
    MetricGroup("launch_impact", "Launch or impact", launch_impact_rows),
    MetricGroup("pairing", "Launch-impact pairing", pairing_rows),
]
"""The report's sections, in order. Later stages append theirs."""
