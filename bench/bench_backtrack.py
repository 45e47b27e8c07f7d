"""Radar launch error of a scenario's counter-battery tracks, backtracked alone (offline): every
`radar_track` of the observations through `backtrack_many` with the radar settings (and the
radars' fences, as the radar stage builds them), against the truth launch that lists the track;
error / distance from the radar to the true launch (evaluate's `origin_rows` measure), 95%
ellipse coverage, by class and by first-point time after launch, and the CPU time of the batch.

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
from pathlib import Path

import numpy as np

from common import track_points, write_result  # type: ignore[import-not-found]
from truceline.config import RadarSettings
from truceline.geo.projection import geodesic_distance_m
from truceline.ingest.sensors import read_sensors
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
    rows = defaultdict(list)  # key -> [(share, inside 95%)]
    for (obs, tp), bt in zip(tracks, results, strict=True):
        if bt is None or bt.launch is None:
            continue
        truth = launch[obs["id"]]
        t_lon, t_lat = truth["position"][:2]
        radar = sensors[obs["sensor"]]
        lon, lat = bt.plane.inverse(bt.launch.east_m, bt.launch.north_m)
        share = float(geodesic_distance_m(lon[0], lat[0], t_lon, t_lat)) / float(
            geodesic_distance_m(radar.lon, radar.lat, t_lon, t_lat)
        )
        e, n = bt.plane.forward(t_lon, t_lat)
        d = np.array([bt.launch.east_m - e[0], bt.launch.north_m - n[0]])
        inside = float(d @ np.linalg.solve(bt.launch.covariance[:2, :2], d)) < CHI2_2D_95
        first_s = (min(tp.times_ns) - parse_time(truth["time"])) / 1e9
        lo = max(b for b in FIRST_POINT_BINS_S if b <= first_s)
        for key in ("all", truth["weapon"], f"{truth['weapon']}, first point {lo:02g} s+"):
            rows[key].append((share, inside))
    figures = {"tracks": len(tracks), "backtrack_cpu_s": round(cpu, 1)}
    print(f"{len(tracks):,} tracks, backtracking CPU {cpu:.1f} s")
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
    if args.json:
        write_result(args.json, "backtrack", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
