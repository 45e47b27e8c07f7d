"""Radar launch error of a scenario's counter-battery tracks, backtracked alone (offline): every
`radar_track` of the observations through `backtrack_many` with the radar settings (and the
radars' fences, as the radar stage builds them), against the truth launch that lists the track;
error / distance from the radar to the true launch (evaluate's `origin_rows` measure), 95%
ellipse coverage, by class and by first-point time after launch, and the CPU time of the batch.
With `radar.battery_window_s` > 0 (the default) each launch is then refined by the other rounds
of its battery (`truceline.radar.battery`, from the tracks fitted again without the search
fence, as the radar stage does; offline every track is its own shot, where the stage keeps the
tracks of one shot joined across radars from locating each other), and the figures of the
tracks alone are printed first.

Usage: python bench/bench_backtrack.py DATA [--set radar.KEY=VALUE ...] [--json FILE]
(DATA: a simulated scenario directory with observations.jsonl, truth.jsonl, sensors.geojson,
e.g. bench/.cache/sector-day-1).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np

from common import track_points, write_result  # type: ignore[import-not-found]
from truceline.config import RadarSettings
from truceline.geo.projection import TangentPlane, geodesic_distance_m
from truceline.ingest.sensors import read_sensors
from truceline.radar.battery import BatteryPoints, battery_points, with_battery
from truceline.radar.projectile import CHI2_2D_95, backtrack_many
from truceline.radar.stage import radar_fence
from truceline.timeutil import parse_time

FIRST_POINT_BINS_S = (0, 3, 6, 10, 15, 25, 1e9)


def load(data: Path, settings: RadarSettings):
    """Tracks (first copy of each id), their radars and true launches."""
    sensors = {s.id: s for s in read_sensors(data / "sensors.geojson")}
    fences = {i: radar_fence(s, settings) for i, s in sensors.items()}
    launch = {}
    with open(data / "truth.jsonl", encoding="utf-8") as handle:
        for line in handle:
            if '"launch"' in line:
                o = json.loads(line)
                if o.get("type") == "launch":
                    launch.update((ob, o) for ob in o.get("observations") or ())
    tracks, seen = [], set()
    with open(data / "observations.jsonl", encoding="utf-8") as handle:
        for line in handle:
            if '"radar_track"' not in line:
                continue
            o = json.loads(line)
            if o["id"] in seen or o["id"] not in launch:
                continue
            seen.add(o["id"])
            tracks.append((o, track_points(o, fences.get(o["sensor"]))))
    return tracks, launch, sensors


def report(tracks, lon, lat, cov, launch, sensors) -> dict:
    """Print and return error / range and 95% coverage of launch points (`lon`, `lat`, (east,
    north, ...) covariance `cov` in each point's tangent plane) of `tracks` [(obs, points)]."""
    rows = defaultdict(list)  # key -> [(share, inside 95%)]
    for (obs, tp), lo, la, c in zip(tracks, lon, lat, cov, strict=True):
        truth = launch[obs["id"]]
        t_lon, t_lat = truth["position"][:2]
        radar = sensors[obs["sensor"]]
        share = float(geodesic_distance_m(lo, la, t_lon, t_lat)) / float(
            geodesic_distance_m(radar.lon, radar.lat, t_lon, t_lat)
        )
        e, n = TangentPlane(lo, la).forward(t_lon, t_lat)
        d = np.array([e[0], n[0]])
        inside = float(d @ np.linalg.solve(c[:2, :2], d)) < CHI2_2D_95
        first_s = (min(tp.times_ns) - parse_time(truth["time"])) / 1e9
        lo_s = max(b for b in FIRST_POINT_BINS_S if b <= first_s)
        for key in ("all", truth["weapon"], f"{truth['weapon']}, first point {lo_s:02g} s+"):
            rows[key].append((share, inside))
    figures = {}
    for key in sorted(rows, key=lambda k: (k != "all", k)):
        share = np.array([r[0] for r in rows[key]])
        cover = np.mean([r[1] for r in rows[key]])
        med, p90 = np.median(share) * 100, np.percentile(share, 90) * 100
        print(f"{key:45s} n={share.size:6d} median {med:.3f}% p90 {p90:.2f}% coverage {cover:.3f}")
        figures[key] = {
            "n": int(share.size),
            "median_pct": round(float(med), 4),
            "p90_pct": round(float(p90), 3),
            "coverage95": round(float(cover), 4),
        }
    return figures


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", type=Path)
    ap.add_argument("--set", action="append", default=[], help="radar.KEY=VALUE")
    ap.add_argument("--json")
    args = ap.parse_args()
    overrides = {}
    for item in args.set:
        key, value = item.split("=", 1)
        overrides[key.removeprefix("radar.")] = value
    settings = RadarSettings(**overrides)
    tracks, launch, sensors = load(args.data, settings)
    cpu = time.process_time()
    results = backtrack_many(
        [tp for _, tp in tracks],
        step_s=settings.step_s,
        muzzle_speed_sigma=settings.muzzle_speed_sigma,
        kernel=settings.kernel,
    )
    cpu = time.process_time() - cpu
    ok = [q for q, bt in enumerate(results) if bt is not None and bt.launch is not None]
    bts = [results[q] for q in ok]
    lon, lat = (
        np.array([bt.plane.inverse(bt.launch.east_m, bt.launch.north_m)[a][0] for bt in bts])
        for a in (0, 1)
    )
    time_ns = np.array([bt.reference_ns + round(bt.launch.time_s * 1e9) for bt in bts])
    cov = np.array([bt.launch.covariance for bt in bts])
    figures = {"tracks": len(tracks), "backtrack_cpu_s": round(cpu, 1)}
    print(f"{len(tracks):,} tracks, backtracking CPU {cpu:.1f} s")
    alone = report([tracks[q] for q in ok], lon, lat, cov, launch, sensors)
    if settings.battery_window_s > 0:
        cpu_b = time.process_time()
        unfenced = backtrack_many(
            [replace(tracks[q][1], fence=None) for q in ok],
            step_s=settings.step_s,
            muzzle_speed_sigma=settings.muzzle_speed_sigma,
            kernel=settings.kernel,
        )
        keep = [q for q, bt in enumerate(unfenced) if bt is not None and bt.launch is not None]
        ub = [unfenced[q] for q in keep]
        u_lon, u_lat = (
            np.array([bt.plane.inverse(bt.launch.east_m, bt.launch.north_m)[a][0] for bt in ub])
            for a in (0, 1)
        )
        found = battery_points(
            u_lon,
            u_lat,
            [bt.reference_ns + round(bt.launch.time_s * 1e9) for bt in ub],
            np.array([bt.launch.covariance for bt in ub]),
            [bts[q].weapon for q in keep],
            spread_m=settings.battery_spread_m,
            window_s=settings.battery_window_s,
            gate_sigma=settings.battery_gate_sigma,
        )
        full = BatteryPoints(
            np.full(len(ok), np.nan),
            np.full(len(ok), np.nan),
            np.full((len(ok), 2, 2), np.nan),
            np.zeros(len(ok), np.int64),
        )
        full.lon[keep], full.lat[keep] = found.lon, found.lat
        full.covariance[keep], full.rounds[keep] = found.covariance, found.rounds
        lon, lat, _, cov = with_battery(lon, lat, time_ns, cov, full, settings.battery_spread_m)
        cpu_b = time.process_time() - cpu_b
        print(
            f"\nwith the battery's other rounds (refit without fence and refinement: CPU "
            f"{cpu_b:.1f} s; {np.count_nonzero(full.rounds)} tracks refined, other rounds "
            f"median {np.median(full.rounds):.0f})"
        )
        figures["battery_cpu_s"] = round(cpu_b, 1)
        figures["alone"] = alone
        figures.update(report([tracks[q] for q in ok], lon, lat, cov, launch, sensors))
    else:
        figures.update(alone)
    if args.json:
        write_result(args.json, "backtrack", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
