"""Acoustic propagation and detection: the model the locator assumes (docs/methods.md).

For a source of level L (dB re 20 µPa at 1 m) at origin time t0 and a sensor at straight-line
(ECEF) distance d metres:

    SNR  = L - 20·log10(d / 1 m) - a·d/1000 - N                  (nominal signal-to-noise, dB)
    SNR' = SNR + ε_L,       ε_L ~ N(0, σ_L²)                      (realised; reported as snr_db)
    detected  iff  SNR' ≥ θ,   so  P_detect = Φ((SNR - θ) / σ_L)
    c     = 331.3 · sqrt(1 + T/273.15)                             (m/s, T in °C at t0)
    c_eff = c + w·u                                                (w wind, u horizontal unit
                                                                    vector source→sensor)
    t_arr = t0 + d / c_eff + ε_s + ε_p,  ε_s ~ N(0, σ_s²), ε_p ~ N(0, (k·d/1000)²)

with a the excess attenuation (dB/km), N the sensor's noise and θ its threshold (dB), σ_s the
sensor's `timing_sigma_s`, k the propagation jitter (s/km).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr

from truceline.geo.projection import enu_basis, geodesic_azimuth_deg
from truceline.sim.layout import AcousticNetwork
from truceline.sim.scenario import AcousticsSpec, WeatherSpec

LAUNCH, IMPACT, UNKNOWN = 0, 1, 2
SIGNALS = ("launch", "impact", "unknown")
CUTOFF_SIGMA = 5.5
"""Sensors farther than the distance where even the best sensor's P_detect falls to
Φ(-5.5) ≈ 2e-8 are not considered (a bounded search; the effect on any statistic is nil)."""
FALSE_ALARM_LABELS = (0.4, 0.4, 0.2)
"""Probabilities of a false alarm's label being launch, impact, unknown."""


def speed_of_sound_mps(temperature_c: ArrayLike) -> NDArray[np.float64]:
    """Speed of sound in dry air, m/s: 331.3 · sqrt(1 + T/273.15), T in °C."""
    return 331.3 * np.sqrt(1.0 + np.asarray(temperature_c, float) / 273.15)


def temperature_c(weather: WeatherSpec, time_ns: ArrayLike) -> NDArray[np.float64]:
    """Air temperature at a time (uniform in space), °C."""
    hour = (np.asarray(time_ns, dtype=np.int64) % 86_400_000_000_000) / 3.6e12
    return weather.temperature_c + weather.diurnal_range_c / 2 * np.cos(
        2 * np.pi * (hour - weather.warmest_hour_utc) / 24.0
    )


def nominal_snr_db(
    level_db: ArrayLike, distance_m: ArrayLike, noise_db: ArrayLike, absorption_db_per_km: float
) -> NDArray[np.float64]:
    """SNR before fluctuation, dB: level - 20 log10(d) - a d/1000 - noise (d at least 1 m)."""
    d = np.maximum(np.asarray(distance_m, float), 1.0)
    return (
        np.asarray(level_db, float)
        - 20.0 * np.log10(d)
        - absorption_db_per_km * d / 1e3
        - np.asarray(noise_db, float)
    )


def detection_probability(
    level_db: ArrayLike,
    distance_m: ArrayLike,
    noise_db: ArrayLike,
    threshold_db: ArrayLike,
    spec: AcousticsSpec,
) -> NDArray[np.float64]:
    """P_detect = Φ((SNR - θ) / σ_L), the curve the simulator draws detections from."""
    snr = nominal_snr_db(level_db, distance_m, noise_db, spec.absorption_db_per_km)
    return ndtr((snr - np.asarray(threshold_db, float)) / spec.sigma_db)


def timing_sigma_s(
    distance_m: ArrayLike, sensor_sigma_s: ArrayLike, spec: AcousticsSpec
) -> NDArray[np.float64]:
    """Total one-sigma arrival-time error: sqrt(σ_s² + (k·d/1000)²), s."""
    return np.hypot(
        np.asarray(sensor_sigma_s, float),
        spec.propagation_jitter_s_per_km * np.asarray(distance_m, float) / 1e3,
    )


def cutoff_distance_m(
    level_db: ArrayLike, min_noise_plus_threshold_db: float, spec: AcousticsSpec
) -> NDArray[np.float64]:
    """Distance beyond which P_detect < Φ(-CUTOFF_SIGMA) for the most sensitive sensor, m."""
    level = np.atleast_1d(np.asarray(level_db, float))
    lo = np.zeros_like(level)  # log10 metres
    hi = np.full_like(level, 7.0)
    for _ in range(60):
        mid = (lo + hi) / 2
        margin = (
            level
            - 20 * mid
            - spec.absorption_db_per_km * 10**mid / 1e3
            - min_noise_plus_threshold_db
            + CUTOFF_SIGMA * spec.sigma_db
        )
        lo = np.where(margin > 0, mid, lo)
        hi = np.where(margin > 0, hi, mid)
    return 10**hi


@dataclass
class Sources:
    """Impulsive sound sources (one entry each): origin time (ns), position (degrees, ECEF m),
    source level (dB re 20 µPa at 1 m) and true signal (LAUNCH or IMPACT)."""

    time_ns: NDArray[np.int64]
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    xyz: NDArray[np.float64]
    level_db: NDArray[np.float64]
    signal: NDArray[np.int64]

    @property
    def size(self) -> int:
        return int(self.time_ns.size)


@dataclass
class Detections:
    """Acoustic observations (one entry each); `source` is -1 for false alarms."""

    source: NDArray[np.int64]
    sensor: NDArray[np.int64]
    time_ns: NDArray[np.int64]
    snr_db: NDArray[np.float64]
    signal: NDArray[np.int64]
    azimuth_deg: NDArray[np.float64]  # NaN where the sensor reports no azimuth

    @property
    def size(self) -> int:
        return int(self.time_ns.size)

    @staticmethod
    def concat(parts: list[Detections]) -> Detections:
        return Detections(
            *(
                np.concatenate([getattr(p, f) for p in parts])
                for f in ("source", "sensor", "time_ns", "snr_db", "signal", "azimuth_deg")
            )
        )


def detect(
    sources: Sources,
    net: AcousticNetwork,
    weather: WeatherSpec,
    spec: AcousticsSpec,
    rng: np.random.Generator,
) -> Detections:
    """Draw every sensor's detections of the sources, with arrival times and labels."""
    if sources.size == 0 or net.size == 0:
        return _empty()
    reach = cutoff_distance_m(
        sources.level_db, float(np.min(net.noise_db + net.threshold_db)), spec
    )
    near = net.tree.query_ball_point(sources.xyz, r=reach, return_sorted=True)
    counts = np.fromiter((len(n) for n in near), dtype=np.int64, count=len(near))
    sensor = np.fromiter(
        itertools.chain.from_iterable(near), dtype=np.int64, count=int(counts.sum())
    )
    source = np.repeat(np.arange(sources.size), counts)
    diff = net.xyz[sensor] - sources.xyz[source]
    dist = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    snr = nominal_snr_db(
        sources.level_db[source], dist, net.noise_db[sensor], spec.absorption_db_per_km
    ) + rng.normal(0.0, spec.sigma_db, dist.size)
    hit = snr >= net.threshold_db[sensor]
    source, sensor, dist, snr, diff = source[hit], sensor[hit], dist[hit], snr[hit], diff[hit]
    n = source.size

    basis = enu_basis(sources.lon, sources.lat)  # per source: east, north, up
    east = np.einsum("ij,ij->i", diff, basis[source, 0])
    north = np.einsum("ij,ij->i", diff, basis[source, 1])
    horiz = np.hypot(east, north)
    horiz[horiz == 0] = 1.0
    t0 = sources.time_ns[source]
    c = speed_of_sound_mps(temperature_c(weather, t0))
    c_eff = c + (weather.wind_mps[0] * east + weather.wind_mps[1] * north) / horiz
    noise_s = (
        rng.normal(0.0, 1.0, n) * net.timing_sigma_s[sensor]
        + rng.normal(0.0, 1.0, n) * spec.propagation_jitter_s_per_km * dist / 1e3
    )
    arrival = t0 + np.rint((dist / c_eff + noise_s) * 1e9).astype(np.int64)

    truth = sources.signal[source]
    u = rng.random(n)
    signal = np.where(
        u < spec.label_error_fraction,
        1 - truth,
        np.where(u < spec.label_error_fraction + spec.label_unknown_fraction, UNKNOWN, truth),
    )
    azimuth = np.full(n, np.nan)
    arrays = net.azimuth[sensor]
    az_noise = rng.normal(0.0, 1.0, n)
    if np.any(arrays):
        s_a, q_a = sensor[arrays], source[arrays]
        back = geodesic_azimuth_deg(net.lon[s_a], net.lat[s_a], sources.lon[q_a], sources.lat[q_a])
        azimuth[arrays] = np.mod(back + az_noise[arrays] * net.azimuth_sigma_deg[s_a], 360.0)
    return Detections(source, sensor, arrival, snr, signal.astype(np.int64), azimuth)


def false_alarms(
    net: AcousticNetwork, start_ns: int, end_ns: int, spec: AcousticsSpec, rng: np.random.Generator
) -> Detections:
    """Detections no source caused: Poisson per sensor at its rate, uniform in [start, end)."""
    hours = (end_ns - start_ns) / 3.6e12
    counts = rng.poisson(net.false_alarms_per_hour * hours)
    sensor = np.repeat(np.arange(net.size), counts)
    n = sensor.size
    time_ns = start_ns + (rng.random(n) * (end_ns - start_ns)).astype(np.int64)
    snr = net.threshold_db[sensor] + rng.exponential(spec.false_alarm_snr_scale_db, n)
    signal = rng.choice(3, size=n, p=FALSE_ALARM_LABELS).astype(np.int64)
    azimuth = np.where(net.azimuth[sensor], rng.random(n) * 360.0, np.nan)
    return Detections(np.full(n, -1, dtype=np.int64), sensor, time_ns, snr, signal, azimuth)


def _empty() -> Detections:
    return Detections(
        np.zeros(0, np.int64),
        np.zeros(0, np.int64),
        np.zeros(0, np.int64),
        np.zeros(0),
        np.zeros(0, np.int64),
        np.zeros(0),
    )
