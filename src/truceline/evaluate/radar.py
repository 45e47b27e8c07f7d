"""Radar scores (docs/methods.md, "Radar: evaluation"): projectile origin error as a share of
range, air-track completeness and purity, OSPA and GOSPA, line-crossing recall, precision and
point error.

Matching rules:

- **Radar launch** events are those whose properties name a `radar_track` (radar-only events) or
  carry a `radar_all` list (events joined across radars or fused with acoustic ones: one block
  per track, with that track's own launch point). The true launch is the truth source
  whose observations list that track. The error is the geodesic distance from the radar's own
  launch point (before fusion) to the true one; the range is the radar's distance to the true
  launch point (needs `--sensors`).
- **Air tracks**: an `air-track` event belongs to the true object that caused most of its plots
  (its evidence); with none (clutter the majority) it is a false track. A true object is
  *observable* when at least `MIN_PLOTS` of its plots are in the observations given
  (`--observations`: the run's input, so objects outside a time slice, or seen only by radars
  left out, do not count; without it, all its plots and its whole path); *completeness* is the
  share of observable objects with at least one track, *purity* the mean share of a track's
  plots that come from its object.
- **OSPA / GOSPA** (Schuhmacher et al. 2008; Rahmathullah et al. 2017), c = 1,000 m, p = 2
  (GOSPA α = 2), in 3-D, every 5 s: true objects between their first and last plot (their path
  span without `--observations`), tracks within their path, positions linearly interpolated.
- **Crossings**: true crossings of the line by an observable object while it was observed
  (between its first and last plot, in the observations given); a track's crossing matches a
  true crossing of its object in the same direction within `CROSSING_WINDOW_S`, nearest in time
  first, one-to-one.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from truceline.evaluate.match import Matching
from truceline.evaluate.metrics import (
    METRIC_GROUPS,
    Context,
    MetricGroup,
    Row,
    Target,
    fraction,
    skipped,
)
from truceline.geo.projection import TangentPlane, geodesic_distance_m
from truceline.timeutil import parse_time

MIN_PLOTS = 5
OSPA_C_M = 1000.0
OSPA_P = 2
OSPA_STEP_S = 5.0
CROSSING_WINDOW_S = 60.0
ORIGIN_SHARE_TARGET = Target(high=0.005)
CROSSING_TARGET = Target(low=0.98)


def _load(context: Context) -> dict[str, Any]:
    """Truth air objects and launches, radar events and plot times, read once per context."""
    cached = getattr(context, "_radar_cache", None)
    if cached is not None:
        return cached
    paths = context.inputs.paths
    truth_air: dict[str, dict] = {}
    track_launch: dict[str, dict] = {}
    with open(paths["truth"], encoding="utf-8") as handle:
        for line in handle:
            if '"air-track"' not in line and '"launch"' not in line:
                continue
            obj = json.loads(line)
            if obj.get("type") == "air-track":
                truth_air[obj["id"]] = obj
            elif obj.get("type") == "launch":
                for o in obj.get("observations") or ():
                    track_launch[o] = obj
    data = json.loads(Path(paths["events"]).read_text(encoding="utf-8"))
    events = [f for f in data.get("features") or [] if isinstance(f, dict)]
    plot_time: dict[str, int] = {}
    if paths.get("observations"):
        with open(paths["observations"], encoding="utf-8") as handle:
            for line in handle:
                if '"radar_plot"' in line:
                    try:
                        obj = json.loads(line)
                        plot_time[obj["id"]] = parse_time(obj["time"])
                    except (ValueError, KeyError, TypeError):
                        continue
    cached = {
        "air": truth_air,
        "track_launch": track_launch,
        "events": events,
        "plot_time": plot_time,
    }
    context._radar_cache = cached  # type: ignore[attr-defined]
    return cached


# -- projectile origin ---------------------------------------------------------------------------


def origin_rows(matching: Matching, events: Sequence[Any], context: Context) -> list[Row]:
    data = _load(context)
    label = "radar launch error / range, median"
    if context.inputs.sensors is None:
        return [skipped("origin_share_median", label, "needs --sensors", "", ORIGIN_SHARE_TARGET)]
    shares, errors, fused_shares, alone_shares = [], [], [], []
    by_class: dict[str, list[float]] = defaultdict(list)
    for f in data["events"]:
        p = f.get("properties") or {}
        if p.get("type") != "launch":
            continue
        fused = p.get("radar_all") or []
        blocks = fused if fused else ([p] if p.get("radar_track") else [])
        for block in blocks:
            truth = data["track_launch"].get(block.get("radar_track"))
            sensor = context.inputs.sensors.get(str(block.get("radar") or ""))
            if truth is None or sensor is None:
                continue
            lon, lat = block.get("position") or f["geometry"]["coordinates"][:2]
            t_lon, t_lat = truth["position"]
            err = float(geodesic_distance_m(lon, lat, t_lon, t_lat))
            rng = float(geodesic_distance_m(sensor.lon, sensor.lat, t_lon, t_lat))
            if rng <= 0:
                continue
            errors.append(err)
            shares.append(err / rng)
            a_lon, a_lat = (block.get("battery") or {}).get("position_alone") or (lon, lat)
            alone_shares.append(float(geodesic_distance_m(a_lon, a_lat, t_lon, t_lat)) / rng)
            by_class[str(truth.get("weapon"))].append(err / rng)
            if p.get("acoustic_type"):
                flon, flat = f["geometry"]["coordinates"][:2]
                fused_shares.append(float(geodesic_distance_m(flon, flat, t_lon, t_lat)) / rng)
    if not shares:
        return [skipped("origin_share_median", label, "no radar launch events", "")]
    rows = [
        Row(
            "origin_share_median",
            label,
            float(np.median(shares)),
            "fraction",
            ORIGIN_SHARE_TARGET,
            detail=f"{len(shares):,} tracks",
        ),
        Row(
            "origin_share_p90",
            "radar launch error / range, 90th percentile",
            float(np.percentile(shares, 90)),
            "fraction",
        ),
        Row("origin_error_median_m", "radar launch error, median", float(np.median(errors)), "m"),
        Row(
            "origin_share_median_alone",
            "  each track alone (before its battery's other rounds): error / range, median",
            float(np.median(alone_shares)),
            "fraction",
        ),
    ]
    for weapon, values in sorted(by_class.items()):
        rows.append(
            Row(
                f"origin_share_median_{weapon}",
                f"  {weapon}: error / range, median",
                float(np.median(values)),
                "fraction",
                detail=f"{len(values):,} tracks",
            )
        )
    if fused_shares:
        rows.append(
            Row(
                "origin_share_median_fused",
                "fused with acoustic: error / range, median",
                float(np.median(fused_shares)),
                "fraction",
                detail=f"{len(fused_shares):,} events",
            )
        )
    return rows


# -- air tracks ----------------------------------------------------------------------------------


def _track_owner(evidence: Sequence[str], owner: dict[str, str]) -> tuple[str | None, float]:
    counts = Counter(owner.get(o) for o in evidence)
    if not counts:
        return None, 0.0
    best, n = counts.most_common(1)[0]
    return best, n / len(evidence)


def _air(context: Context) -> dict[str, Any]:
    data = _load(context)
    cached = data.get("_air")
    if cached is not None:
        return cached
    owner = {o: tid for tid, obj in data["air"].items() for o in obj.get("observations") or ()}
    tracks = [f for f in data["events"] if (f.get("properties") or {}).get("type") == "air-track"]
    assigned = []
    for f in tracks:
        p = f["properties"]
        obj, share = _track_owner(p.get("evidence") or (), owner)
        assigned.append((f, obj, share))
    observed: dict[str, tuple[int, int]] = {}
    with_observations = bool(context.inputs.paths.get("observations"))
    for tid, obj in data["air"].items():
        plots = obj.get("observations") or ()
        if with_observations:
            # Only the plots the run was given: an object the observations do not cover (a run
            # over a time slice, a radar left out) is not one the run could have tracked.
            times = [data["plot_time"][o] for o in plots if o in data["plot_time"]]
            if len(times) >= MIN_PLOTS:
                observed[tid] = (min(times), max(times))
        elif len(plots) >= MIN_PLOTS and obj.get("path"):
            path = obj["path"]
            observed[tid] = (parse_time(path[0][3]), parse_time(path[-1][3]))
    data["_air"] = {"tracks": assigned, "observed": observed}
    return data["_air"]


def air_rows(matching: Matching, events: Sequence[Any], context: Context) -> list[Row]:
    data = _load(context)
    air = _air(context)
    observed = air["observed"]
    tracks = air["tracks"]
    if not observed and not tracks:
        return [
            skipped("completeness", "air-track completeness", "no air tracks in truth or events")
        ]
    found = {obj for _, obj, _ in tracks if obj is not None}
    per_obj = Counter(obj for _, obj, _ in tracks if obj is not None)
    false = sum(1 for _, obj, _ in tracks if obj is None)
    purity = [share for _, obj, share in tracks if obj is not None]
    rows = [
        fraction(
            "completeness",
            f"air-track completeness (objects with >= {MIN_PLOTS} plots tracked)",
            len(found & set(observed)),
            len(observed),
        ),
        Row(
            "purity",
            "air-track purity (mean share of a track's plots from its object)",
            float(np.mean(purity)) if purity else None,
            "fraction",
        ),
        Row("false_tracks", "air tracks mostly of clutter", false),
        Row("duplicate_tracks", "extra tracks of one object", sum(n - 1 for n in per_obj.values())),
    ]
    ospa, gospa, n_times = _ospa(data, air)
    rows.append(
        Row(
            "ospa_m",
            f"OSPA (c = {OSPA_C_M:g} m, p = {OSPA_P}), mean",
            ospa,
            "m",
            detail=f"{n_times:,} times",
        )
    )
    rows.append(Row("gospa_m", "GOSPA (α = 2), mean per time", gospa, "m"))
    return rows


def _interp_path(path: list, times_ns: np.ndarray) -> np.ndarray:
    """Positions (lon, lat, alt) along a path [[lon, lat, alt, time], ...] at times (NaN
    outside)."""
    t = np.array([parse_time(p[3]) if isinstance(p[3], str) else int(p[3]) for p in path], float)
    pts = np.array([[p[0], p[1], p[2]] for p in path], float)
    out = np.full((times_ns.size, 3), np.nan)
    inside = (times_ns >= t[0]) & (times_ns <= t[-1])
    for a in range(3):
        out[inside, a] = np.interp(times_ns[inside], t, pts[:, a])
    return out


def ospa_gospa(
    truth_xyz: np.ndarray, est_xyz: np.ndarray, c: float = OSPA_C_M, p: int = OSPA_P
) -> tuple[float, float]:
    """OSPA and GOSPA (α = 2) between two point sets (m, 3) and (n, 3)."""
    m, n = len(truth_xyz), len(est_xyz)
    if m == 0 and n == 0:
        return 0.0, 0.0
    if m == 0 or n == 0:
        return c, (c**p / 2 * max(m, n)) ** (1 / p)
    d = np.linalg.norm(truth_xyz[:, None] - est_xyz[None], axis=2)
    dc = np.minimum(d, c) ** p
    rows, cols = linear_sum_assignment(dc)
    ospa = ((dc[rows, cols].sum() + c**p * abs(m - n)) / max(m, n)) ** (1 / p)
    # GOSPA (α = 2): assigned pairs closer than c count their distance, the rest c^p / 2 each.
    assigned = d[rows, cols] < c
    cost = (d[rows, cols][assigned] ** p).sum() + c**p / 2 * (m + n - 2 * int(assigned.sum()))
    return float(ospa), float(cost ** (1 / p))


def _ospa(data: dict, air: dict) -> tuple[float | None, float | None, int]:
    observed = air["observed"]
    if not observed:
        return None, None, 0
    start = min(a for a, _ in observed.values())
    end = max(b for _, b in observed.values())
    times = np.arange(start, end + 1, int(OSPA_STEP_S * 1e9), dtype=np.int64)
    first = data["air"][next(iter(observed))]["position"]
    plane = TangentPlane(first[0], first[1])

    def local(lonlatalt: np.ndarray) -> np.ndarray:
        e, n = plane.forward(lonlatalt[:, 0], lonlatalt[:, 1])
        return np.column_stack([e, n, lonlatalt[:, 2]])

    truth = []
    for tid, (a, b) in observed.items():
        pos = _interp_path(data["air"][tid]["path"], times)
        pos[(times < a) | (times > b)] = np.nan
        truth.append(local(pos))
    est = []
    for f, _, _ in air["tracks"]:
        path = f["properties"].get("path") or []
        if len(path) >= 2:
            est.append(local(_interp_path(path, times)))
    t_all = np.stack(truth, axis=1)  # (T, objects, 3)
    e_all = np.stack(est, axis=1) if est else np.zeros((times.size, 0, 3))
    o_sum = g_sum = 0.0
    for k in range(times.size):
        tx = t_all[k][np.isfinite(t_all[k][:, 0])]
        ex = e_all[k][np.isfinite(e_all[k][:, 0])]
        o, g = ospa_gospa(tx, ex)
        o_sum += o
        g_sum += g
    return o_sum / times.size, g_sum / times.size, int(times.size)


# -- crossings -----------------------------------------------------------------------------------


def crossing_rows(matching: Matching, events: Sequence[Any], context: Context) -> list[Row]:
    data = _load(context)
    air = _air(context)
    truth_x: dict[str, list[tuple[int, str, tuple[float, float]]]] = {}
    for tid, (a, b) in air["observed"].items():
        rows = []
        for c in data["air"][tid].get("crossings") or ():
            t = parse_time(c["time"])
            if a <= t <= b:
                rows.append((t, c["direction"], tuple(c["position"])))
        truth_x[tid] = rows
    n_truth = sum(len(v) for v in truth_x.values())
    estimated = []
    for f, obj, _ in air["tracks"]:
        for c in f["properties"].get("crossings") or ():
            if c.get("boundary", "line") == "line":
                estimated.append((obj, parse_time(c["time"]), c["direction"], tuple(c["position"])))
    if n_truth == 0 and not estimated:
        return [skipped("crossing_recall", "crossing recall", "no crossings in truth or events")]
    candidates = []
    for k, (obj, t, direction, pos) in enumerate(estimated):
        for j, (tt, td, tpos) in enumerate(truth_x.get(obj, ()) if obj else ()):
            if td == direction and abs(t - tt) <= CROSSING_WINDOW_S * 1e9:
                candidates.append((abs(t - tt), k, (obj, j), pos, tpos))
    candidates.sort(key=lambda c: c[0])
    used_e, used_t, errors, dts = set(), set(), [], []
    for dt, k, key, pos, tpos in candidates:
        if k in used_e or key in used_t:
            continue
        used_e.add(k)
        used_t.add(key)
        errors.append(float(geodesic_distance_m(pos[0], pos[1], tpos[0], tpos[1])))
        dts.append(dt / 1e9)
    return [
        fraction("crossing_recall", "crossing recall", len(used_t), n_truth, CROSSING_TARGET),
        fraction(
            "crossing_precision", "crossing precision", len(used_e), len(estimated), CROSSING_TARGET
        ),
        Row(
            "crossing_error_median_m",
            "crossing-point error, median",
            float(np.median(errors)) if errors else None,
            "m",
        ),
        Row(
            "crossing_error_p90_m",
            "crossing-point error, 90th percentile",
            float(np.percentile(errors, 90)) if errors else None,
            "m",
        ),
        Row(
            "crossing_time_error_median_s",
            "crossing time error, median",
            float(np.median(dts)) if dts else None,
            "s",
        ),
    ]


RADAR_GROUPS = [
    MetricGroup("radar_origin", "Radar: projectile point of origin", origin_rows),
    MetricGroup("air_tracks", "Radar: air tracks", air_rows),
    MetricGroup("crossings", "Radar: line crossings", crossing_rows),
]
for _group in RADAR_GROUPS:
    if all(g.name != _group.name for g in METRIC_GROUPS):
        METRIC_GROUPS.append(_group)
