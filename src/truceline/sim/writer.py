"""Formatting observations and truth as JSON lines (contract sections 3 and 5), fast.

Observation lines are assembled from pre-formatted columns (the ids and labels need no JSON
escaping), so that millions of lines cost one string format each. Times use the canonical form
of `truceline.timeutil.format_time`: UTC, `Z`, the fraction trimmed of trailing zeros.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from truceline.sim.acoustics import SIGNALS

_FRACTION_CUTS = np.array([10**k for k in range(1, 10)], dtype=np.int64)


def format_times(time_ns: NDArray[np.int64]) -> list[str]:
    """RFC 3339 texts of ns times, identical to `format_time` for each (vectorised)."""
    t = np.asarray(time_ns, dtype=np.int64)
    if t.size == 0:
        return []
    text = np.datetime_as_string(t.astype("datetime64[ns]"), unit="ns").tolist()
    frac = t % 1_000_000_000
    zeros = (frac[:, None] % _FRACTION_CUTS[None, :] == 0).sum(axis=1)
    keep = np.where(zeros == 9, 19, 29 - zeros).tolist()
    return [s[:k] + "Z" for s, k in zip(text, keep, strict=True)]


def observation_ids(
    sensor_names: Sequence[str],
    sensor: NDArray[np.int64],
    time_ns: NDArray[np.int64],
    counters: NDArray[np.int64],
) -> list[str]:
    """Ids `SENSOR-N`, N counting each sensor's observations in time order from 1; `counters`
    (one per sensor, updated in place) carries the counts across windows."""
    n = sensor.size
    if n == 0:
        return []
    order = np.lexsort((np.arange(n), time_ns, sensor))
    s_sorted = sensor[order]
    starts = np.flatnonzero(np.concatenate([[True], s_sorted[1:] != s_sorted[:-1]]))
    group_start = np.repeat(starts, np.diff(np.concatenate([starts, [n]])))
    rank = np.arange(n) - group_start
    number = np.empty(n, np.int64)
    number[order] = counters[s_sorted] + rank + 1
    np.add.at(counters, sensor, 1)
    return [f"{sensor_names[s]}-{k}" for s, k in zip(sensor.tolist(), number.tolist(), strict=True)]


def acoustic_lines(
    ids: list[str],
    sensor_names: Sequence[str],
    sensor: NDArray[np.int64],
    time_ns: NDArray[np.int64],
    snr_db: NDArray[np.float64],
    signal: NDArray[np.int64],
    azimuth_deg: NDArray[np.float64],
    azimuth_sigma_deg: NDArray[np.float64],
) -> list[str]:
    times = format_times(time_ns)
    snr = [f"{v:.1f}" for v in snr_db.tolist()]
    has_az = ~np.isnan(azimuth_deg)
    tails = [""] * len(ids)
    for i in np.flatnonzero(has_az).tolist():
        tails[i] = (
            # Round, then wrap: 359.96 must be written 0.0, not 360.0 (azimuths are in [0, 360)).
            f',"azimuth_deg":{round(float(azimuth_deg[i]), 1) % 360.0:.1f},'
            f'"azimuth_sigma_deg":{azimuth_sigma_deg[i]:g}'
        )
    return [
        f'{{"id":"{i}","kind":"acoustic","sensor":"{sensor_names[s]}","time":"{t}",'
        f'"snr_db":{q},"signal":"{SIGNALS[g]}"{a}}}\n'
        for i, s, t, q, g, a in zip(
            ids, sensor.tolist(), times, snr, signal.tolist(), tails, strict=True
        )
    ]


def plot_lines(
    ids: list[str], sensor: list[str], time_ns, lon, lat, alt, sigma_m, velocity
) -> list[str]:
    times = format_times(time_ns)
    out = []
    vel_ok = ~np.isnan(velocity[:, 0]) if len(ids) else np.zeros(0, bool)
    for k, (i, s, t, x, y, z, sg) in enumerate(
        zip(
            ids,
            sensor,
            times,
            lon.tolist(),
            lat.tolist(),
            alt.tolist(),
            sigma_m.tolist(),
            strict=True,
        )
    ):
        v = (
            f',"velocity_mps":[{velocity[k, 0]:.1f},{velocity[k, 1]:.1f},{velocity[k, 2]:.1f}]'
            if vel_ok[k]
            else ""
        )
        out.append(
            f'{{"id":"{i}","kind":"radar_plot","sensor":"{s}","time":"{t}",'
            f'"position":[{x:.7f},{y:.7f},{z:.1f}],"sigma_m":{sg:g}{v}}}\n'
        )
    return out


def track_lines(ids: list[str], tracks) -> list[str]:
    times = format_times(tracks.time_ns)
    out = []
    lon, lat, alt = tracks.lon.tolist(), tracks.lat.tolist(), tracks.alt.tolist()
    off = tracks.offsets.tolist()
    for k, i in enumerate(ids):
        pts = ",".join(
            f'{{"time":"{times[j]}","position":[{lon[j]:.7f},{lat[j]:.7f},{alt[j]:.1f}]}}'
            for j in range(off[k], off[k + 1])
        )
        out.append(
            f'{{"id":"{i}","kind":"radar_track","sensor":"{tracks.sensor[k]}",'
            f'"time":"{times[off[k]]}","points":[{pts}],'
            f'"sigma_m":{tracks.sigma_m[k]:.1f},"class":"{tracks.radar_class[k]}"}}\n'
        )
    return out


def weather_lines(
    ids: list[str], sensor: list[str], time_ns, temperature_c, wind_e, wind_n
) -> list[str]:
    times = format_times(time_ns)
    return [
        f'{{"id":"{i}","kind":"weather","sensor":"{s}","time":"{t}",'
        f'"temperature_c":{c:.1f},"wind_mps":[{e:.1f},{n:.1f}]}}\n'
        for i, s, t, c, e, n in zip(
            ids,
            sensor,
            times,
            temperature_c.tolist(),
            wind_e.tolist(),
            wind_n.tolist(),
            strict=True,
        )
    ]


def truth_line(obj: dict) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False) + "\n"
