"""The joint fit of an acoustic event's arrivals and a radar shot's origin (docs/methods.md,
Radar, "Merging: the joint fit").

The fusion gate of `truceline.radar.stage.merge` compares two origins under the sum of their
covariances: the acoustic event's is the locator's linearisation at its minimum. Where the
sensors of an event lie nearly on a line, the arrival times fit the source and its mirror image
across the line about equally well: the locator reports one minimum with its local ellipse (tens
of metres), and the radar's launch point of the same shot, near the other minimum, lies 5-11
linearised sigma away. Here the gate is posed on the arrivals themselves: the rise of the
least-squares misfit when the radar's origin is added as a Gaussian prior,

    Δχ² = min_θ [χ²_a(θ) / s² + (p(θ) - p_r)ᵀ C_r⁻¹ (p(θ) - p_r)] - min_θ χ²_a(θ) / s²,

θ = (east, north, origin time, wind east, wind north, speed of sound), p(θ) its first three,
χ²_a the locator's misfit (arrival times, azimuths, weather priors; `truceline.locate.solver`),
s² the locator's variance factor at the acoustic minimum (Jordan-Sverdrup, as in its
covariance), p_r and C_r the radar's origin and covariance. For a linear model Δχ² is the
squared Mahalanobis distance under the sum of the covariances (the linear gate); it is
chi-square with 3 degrees of freedom when the two are one shot, and is compared with the same
`merge_sigma`². The minimum of the joint misfit is the fused origin, its covariance the inverse
of the joint Gauss-Newton matrix.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from truceline.config import LocateSettings
from truceline.geo.projection import TangentPlane, to_ecef
from truceline.locate.solver import Arrivals, SoundSpeed, misfit
from truceline.records import AcousticArrival, Event, EvidenceArrivals, Sensor

MAX_ITERATIONS = 40
"""Levenberg-Marquardt iterations of one fit (from a start within a few hundred metres)."""
STEP_TOLERANCE_M = 1e-3
"""A fit has converged when its last step moved the origin less than this (m)."""

ArrivalsOf = Callable[[Event], "tuple[Arrivals, SoundSpeed] | None"]
"""An acoustic event's arrivals in the plane tangent at its origin, times relative to its
origin time, and the speed of sound and wind it was located with; None if not known."""


@dataclass(frozen=True)
class JointFit:
    """The result of fitting one acoustic event's arrivals with one radar origin."""

    delta_chi2: float
    """The rise of the misfit from the radar's origin as a prior (module docstring)."""
    lon: float
    lat: float
    time_ns: int
    covariance: NDArray[np.float64]
    """3x3 covariance of (east m, north m, time s) of the joint origin."""


def arrivals_from(
    arrivals_of: Callable[[list[str]], Iterable[AcousticArrival]], sensors: Iterable[Sensor]
) -> ArrivalsOf:
    """An `ArrivalsOf` reading an event's evidence through `arrivals_of` (ids -> the acoustic
    detections among them, e.g. `Store.acoustic_arrivals`) and the acoustic sensors' places and
    timing sigmas."""
    sites: Mapping[str, Sensor] = {s.id: s for s in sensors if s.kind == "acoustic"}

    def of(event: Event) -> tuple[Arrivals, SoundSpeed] | None:
        p = event.properties
        if "sound_speed_mps" not in p:
            return None
        rows = []
        for arrival in arrivals_of(list(event.evidence)):
            site = sites.get(arrival.sensor)
            if site is None:
                continue
            rows.append(
                (
                    site.lon,
                    site.lat,
                    (arrival.time_ns - event.time_ns) / 1e9,
                    site.timing_sigma_s,
                    math.nan if arrival.azimuth_deg is None else float(arrival.azimuth_deg),
                    math.nan
                    if arrival.azimuth_sigma_deg is None
                    else float(arrival.azimuth_sigma_deg),
                )
            )
        if len(rows) < 4:
            return None
        a = np.array(rows, dtype=float)
        x, y = TangentPlane(event.origin.lon, event.origin.lat).forward(a[:, 0], a[:, 1])
        arrivals = Arrivals(np.atleast_1d(x), np.atleast_1d(y), a[:, 2], a[:, 3], a[:, 4], a[:, 5])
        return arrivals, _sound_speed(p)

    return of


def _sound_speed(properties: Mapping) -> SoundSpeed:
    """The speed of sound and wind an acoustic event was located with (its properties)."""
    wind = properties.get("wind_mps") or (0.0, 0.0)
    return SoundSpeed(float(properties["sound_speed_mps"]), float(wind[0]), float(wind[1]))


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


class HeldArrivals:
    """An `ArrivalsOf` for many acoustic events, their evidence read once and held as columns.

    The acoustic launches and impacts among `events` (those located with a speed of sound) have
    their evidence read through `arrivals_of` `block` events at a time on the first call, not a
    query per event (about 3 ms each) nor all at once (the detections of a whole day as records),
    and kept as one row per detection: its sensor, time and bearing (28 bytes). Every later call
    for one of them, or for an event whose evidence begins with one's (the event fused from it
    with a radar shot, whose radar observations are no acoustic arrivals), takes its rows from
    there, so the steps of the merge (`truceline.radar.explain`: explaining away, second events)
    share one read. The arrivals are those of `arrivals_from` on the same reader, in the order
    of the evidence; other events are read through `arrivals_of` as asked. Events whose rows
    `columns` holds (the acoustic stage's `EvidenceArrivals`, the same values) are not read at
    all."""

    def __init__(
        self,
        arrivals_of: Callable[[list[str]], Iterable[AcousticArrival]],
        events: Iterable[Event],
        sensors: Iterable[Sensor],
        *,
        block: int = 2000,
        columns: EvidenceArrivals | None = None,
    ) -> None:
        self._read = arrivals_of
        self._columns = columns
        self._events = [
            e
            for e in events
            if e.type in ("launch", "impact") and e.evidence and "sound_speed_mps" in e.properties
        ]
        self._block = block
        sites: dict[str, Sensor] = {s.id: s for s in sensors if s.kind == "acoustic"}
        self._other = arrivals_from(arrivals_of, sites.values())
        self._site_of = {sid: k for k, sid in enumerate(sites)}
        sensor_list = list(sites.values())
        self._site_sigma = np.array([s.timing_sigma_s for s in sensor_list], float)
        # Earth-centred once per sensor: the same points `TangentPlane.forward` makes per event.
        self._site_ecef = to_ecef(
            np.array([s.lon for s in sensor_list], float),
            np.array([s.lat for s in sensor_list], float),
        ).reshape(-1, 3)
        self._index: dict[str, tuple[tuple[str, ...], int, int]] | None = None

    def _hold(self) -> None:
        """Hold the events' evidence as columns: those `columns` has as they are, the others
        read a block at a time (a block's arrivals as records only while it is read)."""
        index: dict[str, tuple[tuple[str, ...], int, int]] = {}
        columns: list[tuple[np.ndarray, ...]] = []
        site_of = self._site_of
        total = 0
        to_read = self._events
        if (given := self._columns) is not None:
            spans = given.rows
            to_read = [e for e in self._events if e.id not in spans]
            for e in self._events:
                if (span := spans.get(e.id)) is not None:
                    index[e.evidence[0]] = (e.evidence, *span)
            lookup = np.array([site_of.get(sid, -1) for sid in given.sensor_ids], np.int32)
            site = lookup[given.sensor]
            if (site < 0).any():
                raise ValueError("arrivals from sensors that are not acoustic sensors")
            columns.append((site, given.time_ns, given.azimuth_deg, given.azimuth_sigma_deg))
            total = int(given.time_ns.size)
        for start in range(0, len(to_read), self._block):
            shots = to_read[start : start + self._block]
            held = {a.id: a for a in self._read([o for e in shots for o in e.evidence])}
            rows: list[AcousticArrival] = []
            for e in shots:
                first = total + len(rows)
                for i in e.evidence:
                    a = held.get(i)
                    if a is not None and a.sensor in site_of:
                        rows.append(a)
                index[e.evidence[0]] = (e.evidence, first, total + len(rows))
            n = len(rows)
            columns.append(
                (
                    np.fromiter((site_of[a.sensor] for a in rows), np.int32, n),
                    np.fromiter((a.time_ns for a in rows), np.int64, n),
                    np.fromiter((_or_nan(a.azimuth_deg) for a in rows), float, n),
                    np.fromiter((_or_nan(a.azimuth_sigma_deg) for a in rows), float, n),
                )
            )
            total += n
        site, time_ns, azimuth, azimuth_sigma = (
            np.concatenate([c[k] for c in columns]) if columns else np.zeros(0, dtype)
            for k, dtype in enumerate((np.int32, np.int64, float, float))
        )
        self._site, self._time_ns = site, time_ns
        self._azimuth, self._azimuth_sigma = azimuth, azimuth_sigma
        self._index = index
        self._events, self._columns = [], None  # held: not needed any more

    def __call__(self, event: Event) -> tuple[Arrivals, SoundSpeed] | None:
        p = event.properties
        if "sound_speed_mps" not in p:
            return None
        if self._index is None:
            self._hold()
        assert self._index is not None
        held = self._index.get(event.evidence[0]) if event.evidence else None
        if held is None or event.evidence[: len(held[0])] != held[0]:
            return self._other(event)
        _, start, stop = held
        if stop - start < 4:
            return None
        site = self._site[start:stop]
        x, y = TangentPlane(event.origin.lon, event.origin.lat).from_ecef(self._site_ecef[site])
        arrivals = Arrivals(
            np.atleast_1d(x),
            np.atleast_1d(y),
            (self._time_ns[start:stop] - event.time_ns) / 1e9,
            self._site_sigma[site],
            self._azimuth[start:stop],
            self._azimuth_sigma[start:stop],
        )
        return arrivals, _sound_speed(p)


def joint_fit(
    acoustic: Event,
    radar: Event,
    arrivals: Arrivals,
    speed: SoundSpeed,
    settings: LocateSettings,
) -> JointFit | None:
    """Fit `arrivals` (of `acoustic`, in the plane tangent at its origin, times relative to its
    origin time) alone and with `radar`'s origin as a prior (module docstring); None if a fit
    fails."""
    weather = np.array([speed.wind_e_mps, speed.wind_n_mps, speed.c_mps])

    def alone(theta: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        return misfit(theta, arrivals, speed, settings)

    plane = TangentPlane(acoustic.origin.lon, acoustic.origin.lat)
    e, n = plane.forward(radar.origin.lon, radar.origin.lat)
    p_r = np.array([e[0], n[0], (radar.time_ns - acoustic.time_ns) / 1e9])
    # The arrivals alone, from the acoustic origin and from the radar's: where the misfit has
    # two minima (a line of sensors and its mirror image), the lower one is its minimum.
    theta_a, chi2_a = np.concatenate([np.zeros(3), weather]), math.inf
    for start in (theta_a, np.concatenate([p_r, weather])):
        theta, chi2, _ = _least_squares(alone, start)
        if chi2 < chi2_a:
            theta_a, chi2_a = theta, chi2
    if not math.isfinite(chi2_a):
        return None
    n_rows = alone(theta_a)[0].size
    dof = max(n_rows - theta_a.size, 0)
    scale = math.sqrt((settings.prior_dof + chi2_a) / (settings.prior_dof + dof))
    try:
        root = np.linalg.cholesky(np.linalg.inv(np.asarray(radar.origin.covariance, float))).T
    except np.linalg.LinAlgError:
        return None
    prior_jac = np.zeros((3, theta_a.size))
    prior_jac[:, :3] = root

    def joint(theta: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        r, jac = alone(theta)
        return (
            np.concatenate([r / scale, root @ (theta[:3] - p_r)]),
            np.vstack([jac / scale, prior_jac]),
        )

    best = None
    for start in (theta_a, np.concatenate([p_r, theta_a[3:]])):
        theta, chi2, jac = _least_squares(joint, start.copy())
        if math.isfinite(chi2) and (best is None or chi2 < best[1]):
            best = (theta, chi2, jac)
    if best is None:
        return None
    theta, chi2, jac = best
    try:
        cov = np.linalg.inv(jac.T @ jac)[:3, :3]
    except np.linalg.LinAlgError:
        return None
    lon, lat = plane.inverse(theta[0], theta[1])
    return JointFit(
        delta_chi2=float(chi2 - chi2_a / scale**2),
        lon=float(lon[0]),
        lat=float(lat[0]),
        time_ns=acoustic.time_ns + round(float(theta[2]) * 1e9),
        covariance=0.5 * (cov + cov.T),
    )


def _least_squares(
    fun: Callable[[NDArray[np.float64]], tuple[NDArray[np.float64], NDArray[np.float64]]],
    theta: NDArray[np.float64],
) -> tuple[NDArray[np.float64], float, NDArray[np.float64]]:
    """Levenberg-Marquardt on the residuals `fun` returns with their Jacobian: (theta, sum of
    squares, Jacobian) at the minimum found; the sum is infinite if no finite start."""
    r, jac = fun(theta)
    cost = float(r @ r)
    if not math.isfinite(cost):
        return theta, math.inf, jac
    damping = 1e-3
    for _ in range(MAX_ITERATIONS):
        h = jac.T @ jac
        g = jac.T @ r
        try:
            step = np.linalg.solve(h + damping * np.diag(np.diag(h) + 1e-12), -g)
        except np.linalg.LinAlgError:
            break
        trial = theta + step
        r2, jac2 = fun(trial)
        cost2 = float(r2 @ r2)
        if math.isfinite(cost2) and cost2 < cost:
            theta, r, jac, cost = trial, r2, jac2, cost2
            damping = max(damping / 10, 1e-9)
            if math.hypot(step[0], step[1]) < STEP_TOLERANCE_M:
                break
        else:
            damping *= 10
            if damping > 1e8:
                break
    return theta, cost, jac
