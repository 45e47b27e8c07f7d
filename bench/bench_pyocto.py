"""Peer comparison: PyOcto (PyPI `pyocto`, a seismic phase associator) against `truceline process`
on the same acoustic detections, both scored by `truceline evaluate`.

    python bench/bench_pyocto.py [--scenario sector-day] [--seed 1] [--hours 2] [--json FILE]

A slice of the simulated scenario (bench/.cache/SCENARIO-SEED/, simulated once if absent) is cut
by time: every observation (all kinds) with `time` in [start, start + HOURS), and the true
sources whose origin time is in that range. truceline processes the slice end to end; PyOcto
associates and locates its acoustic detections as single-phase "P" picks in a homogeneous
(0-D) model whose velocity is the speed of sound at the slice's mean measured temperature. Its
events are written as an events.geojson (type "launch": PyOcto cannot tell launch from impact;
evidence = the ids of its picks; no ellipse) and scored like truceline's.

pyocto 0.2.x requires numpy < 2 on Python 3.11 while the project pins numpy 2.4.6, so PyOcto
runs in its own interpreter: --pyocto-python, else $PYOCTO_PYTHON, else
bench/.cache/pyocto-venv/bin/python, else this interpreter. On Python >= 3.12 the project's
constraints resolve with it (`pip install -c constraints.txt pyocto==0.2.2`, the `bench` extra).
This script calls itself there with --associate DIR; that mode imports only pyocto and pandas.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

# PyOcto's parameters. Its defaults are tuned for earthquakes (P at ~6 km/s, node sizes of
# kilometres, seconds of tolerance); sound travels ~18x slower, so times and sizes are rescaled.
PYOCTO = {
    # Velocity model (VelocityModel0D): p_velocity = speed of sound (set at run time);
    # s_velocity is required by the API but unused: every pick is labelled "P", and
    # n_s_picks = n_p_and_s_picks = 0, so no pick can be associated as S (checked below).
    "s_velocity_factor": 0.5,
    # Travel-time tolerance, s: timing 0.01 s + propagation jitter 0.005 s/km + the wind the
    # 0-D model ignores (5 m/s over a 9 km path ~ 0.4 s).
    "tolerance_s": 0.5,
    # Stations farther than this from a candidate node are ignored in association, km: the
    # farthest detection in sector-day is 9.1 km from its source.
    "association_cutoff_distance_km": 10.0,
    # Depth range of the search, km. Sources and sensors are on the ground (elevation 0); a
    # thin slab keeps depth from trading off against origin time (with (0, 1) the median depth
    # found was 0.2 km, and recall and precision were lower).
    "zlim_km": (0.0, 0.05),
    # Overlap of consecutive time blocks = longest travel time through the network (27.5 s).
    "time_before_s": 30.0,
    # Octree node size at which association stops splitting and locates (default 10 km).
    "min_node_size_km": 1.0,
    # Discretisation of the location search (default 1.5 km).
    "min_node_size_location_km": 0.01,
    # Max |observed - predicted| to keep a pick in the refinement step (default 1.5 s).
    "pick_match_tolerance_s": 0.5,
    # Minimum time between two events (default 3 s); salvos fire rockets 0.5 s apart.
    "min_interevent_time_s": 0.3,
    # Minimum picks per event: 5 P picks, no S (truceline's recall counts sources heard by 5+).
    "n_picks": 5,
    "n_p_picks": 5,
    "n_s_picks": 0,
    "n_p_and_s_picks": 0,
    # Left at PyOcto's defaults: max_pick_overlap 4, refinement_iterations 3, time_slicing
    # 1200 s, location_split_depth 6 / return 4, min_pick_fraction 0.25, exponential_edt off,
    # n_threads = all cores (2 on dev-2c; truceline process uses one).
}


def parse_ns(text: str) -> int:
    """RFC 3339 UTC time -> integer ns since the epoch (keeps all 9 fraction digits)."""
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1]
        offset = ""
    else:
        offset = text[-6:]
        text = text[:-6]
    frac = 0
    if "." in text:
        text, f = text.split(".", 1)
        frac = int((f + "000000000")[:9])
    dt = datetime.fromisoformat(text + (offset or "+00:00"))
    return int(dt.timestamp()) * 1_000_000_000 + frac


def format_ns(ns: int) -> str:
    s, frac = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(s, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"


def truceline(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "truceline", *args], check=True, capture_output=True, text=True
    )


def cut_slice(data: Path, work: Path, hours: float) -> dict[str, Any]:
    """Write WORK/observations.jsonl and WORK/truth.jsonl for [start, start + hours)."""
    import yaml

    scenario = yaml.safe_load((data / "scenario.yaml").read_text())
    start = parse_ns(str(scenario["start"]).replace("+00:00", "Z"))
    end = start + int(hours * 3600e9)
    acoustic, temps, lines = [], [], 0
    with (
        (data / "observations.jsonl").open() as src,
        (work / "observations.jsonl").open("w") as dst,
    ):
        for line in src:
            obs = json.loads(line)
            t = parse_ns(obs["time"])
            if not start <= t < end:
                continue
            dst.write(line)
            lines += 1
            if obs["kind"] == "acoustic":
                acoustic.append((obs["id"], obs["sensor"], t))
            elif obs["kind"] == "weather" and "temperature_c" in obs:
                temps.append(float(obs["temperature_c"]))
    sources = 0
    with (data / "truth.jsonl").open() as src, (work / "truth.jsonl").open("w") as dst:
        for line in src:
            if start <= parse_ns(json.loads(line)["time"]) < end:
                dst.write(line)
                sources += 1
    return {
        "start": start,
        "end": end,
        "lines": lines,
        "acoustic": acoustic,
        "temperatures": temps,
        "sources": sources,
    }


def metrics(evaluation: Path) -> dict[str, Any]:
    groups = json.loads(evaluation.read_text())["groups"]
    return {k: v for g in groups.values() for k, v in g["metrics"].items()}


def evaluate(data: Path, work: Path, events: Path, out: Path) -> dict[str, Any]:
    truceline(
        "evaluate",
        "--truth",
        str(work / "truth.jsonl"),
        "--events",
        str(events),
        "--observations",
        str(work / "observations.jsonl"),
        "--sensors",
        str(data / "sensors.geojson"),
        "--json",
        str(out),
    )
    return metrics(out)


def run_truceline(data: Path, work: Path) -> tuple[float, dict[str, Any]]:
    out = work / "truceline"
    out.mkdir(exist_ok=True)
    for f in out.glob("truceline.db*"):
        f.unlink()
    started = time.perf_counter()
    result = truceline(
        "--db",
        str(out / "truceline.db"),
        "process",
        "--agreement",
        str(data / "agreement.yaml"),
        "--sensors",
        str(data / "sensors.geojson"),
        "--observations",
        str(work / "observations.jsonl"),
        "--out",
        str(out),
        "--no-progress",
        "--json",
    )
    wall = time.perf_counter() - started
    json.loads(result.stdout)
    return wall, evaluate(data, work, out / "events.geojson", out / "evaluation.json")


def pyocto_python(arg: str | None) -> str:
    if arg:
        return arg
    if os.environ.get("PYOCTO_PYTHON"):
        return os.environ["PYOCTO_PYTHON"]
    venv = HERE / ".cache" / "pyocto-venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def run_pyocto(data: Path, work: Path, cut: dict[str, Any], python: str) -> dict[str, Any]:
    out = work / "pyocto"
    out.mkdir(exist_ok=True)
    sensors = json.loads((data / "sensors.geojson").read_text())["features"]
    stations = [
        {
            "id": f["properties"]["id"],
            "lon": f["geometry"]["coordinates"][0],
            "lat": f["geometry"]["coordinates"][1],
        }
        for f in sensors
        if f["properties"].get("kind") == "acoustic"
    ]
    temp_c = sum(cut["temperatures"]) / len(cut["temperatures"])
    c_km_s = 331.3 * math.sqrt(1 + temp_c / 273.15) / 1000
    start = cut["start"]
    picks = [(sensor, (t - start) / 1e9) for _, sensor, t in cut["acoustic"]]
    (out / "input.json").write_text(
        json.dumps({"stations": stations, "picks": picks, "p_velocity": c_km_s, "params": PYOCTO})
    )
    started = time.perf_counter()
    subprocess.run([python, str(Path(__file__).resolve()), "--associate", str(out)], check=True)
    wall = time.perf_counter() - started
    result = json.loads((out / "output.json").read_text())
    ids = [oid for oid, _, _ in cut["acoustic"]]
    features = []
    for n, ev in enumerate(result["events"]):
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [ev["lon"], ev["lat"]]},
                "properties": {
                    "id": f"PYOCTO-{n + 1}",
                    "type": "launch",
                    "time": format_ns(start + round(ev["time"] * 1e9)),
                    "evidence": [ids[i] for i in ev["picks"]],
                },
            }
        )
    events = out / "events.geojson"
    events.write_text(json.dumps({"type": "FeatureCollection", "features": features}) + "\n")
    m = evaluate(data, work, events, out / "evaluation.json")
    return {
        "wall_s": wall,
        "associate_s": result["associate_s"],
        "events": len(features),
        "s_assignments": result["s_assignments"],
        "temperature_c": temp_c,
        "c_km_s": c_km_s,
        "version": result["version"],
        "metrics": m,
    }


def associate(directory: Path) -> None:
    """Runs in PyOcto's interpreter: input.json -> output.json."""
    import pandas as pd
    import pyocto

    inp = json.loads((directory / "input.json").read_text())
    p = inp["params"]
    c = inp["p_velocity"]
    stations = pd.DataFrame(
        {
            "id": [s["id"] for s in inp["stations"]],
            "latitude": [s["lat"] for s in inp["stations"]],
            "longitude": [s["lon"] for s in inp["stations"]],
            "elevation": 0.0,
        }
    )
    picks = pd.DataFrame(inp["picks"], columns=["station", "time"])
    picks["phase"] = "P"
    model = pyocto.VelocityModel0D(
        p_velocity=c,
        s_velocity=c * p["s_velocity_factor"],
        tolerance=p["tolerance_s"],
        association_cutoff_distance=p["association_cutoff_distance_km"],
    )
    associator = pyocto.OctoAssociator.from_area(
        lat=(stations["latitude"].min() - 0.1, stations["latitude"].max() + 0.1),
        lon=(stations["longitude"].min() - 0.15, stations["longitude"].max() + 0.15),
        zlim=tuple(p["zlim_km"]),
        time_before=p["time_before_s"],
        velocity_model=model,
        min_node_size=p["min_node_size_km"],
        min_node_size_location=p["min_node_size_location_km"],
        pick_match_tolerance=p["pick_match_tolerance_s"],
        min_interevent_time=p["min_interevent_time_s"],
        n_picks=p["n_picks"],
        n_p_picks=p["n_p_picks"],
        n_s_picks=p["n_s_picks"],
        n_p_and_s_picks=p["n_p_and_s_picks"],
    )
    associator.transform_stations(stations)
    started = time.perf_counter()
    events, assignments = associator.associate(picks, stations)
    elapsed = time.perf_counter() - started
    out = []
    if len(events):
        associator.transform_events(events)
        by_event = assignments.groupby("event_idx")["pick_idx"].apply(list).to_dict()
        for row in events.itertuples():
            out.append(
                {
                    "time": float(row.time),
                    "lat": float(row.latitude),
                    "lon": float(row.longitude),
                    "depth_km": float(row.depth),
                    "picks": [int(i) for i in by_event.get(row.idx, [])],
                }
            )
    s_assign = int((assignments["phase"] == "S").sum()) if len(assignments) else 0
    (directory / "output.json").write_text(
        json.dumps(
            {
                "events": out,
                "associate_s": elapsed,
                "s_assignments": s_assign,
                "version": getattr(pyocto, "__version__", "?"),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenario", default="sector-day")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hours", type=float, default=2.0, help="length of the slice, h")
    parser.add_argument("--pyocto-python", help="interpreter with pyocto installed")
    parser.add_argument("--json")
    parser.add_argument("--associate", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.associate:
        associate(Path(args.associate))
        return

    sys.path.insert(0, str(HERE))
    from common import simulated, write_result

    data = simulated(args.scenario, args.seed)
    work = HERE / ".cache" / f"pyocto-{args.scenario}-{args.seed}-{args.hours:g}h"
    work.mkdir(parents=True, exist_ok=True)
    cut = cut_slice(data, work, args.hours)
    n_acoustic = len(cut["acoustic"])

    tl_wall, tl = run_truceline(data, work)
    po = run_pyocto(data, work, cut, pyocto_python(args.pyocto_python))
    pm = po["metrics"]

    keys = (
        "recall",
        "recall_all",
        "precision",
        "location_error_median_m",
        "location_error_p90_m",
        "origin_time_error_median_s",
    )
    figures: dict[str, Any] = {
        "scenario": f"{args.scenario} seed {args.seed}",
        "slice": f"{format_ns(cut['start'])} + {args.hours:g} h",
        "lines": cut["lines"],
        "acoustic_detections": n_acoustic,
        "true_sources": cut["sources"],
        "eligible_sources": tl.get("eligible_sources"),
        "temperature_c": round(po["temperature_c"], 2),
        "sound_speed_km_s": round(po["c_km_s"], 5),
        "pyocto_version": po["version"],
        "pyocto_params": PYOCTO,
        "truceline_events": tl.get("events"),
        "truceline_wall_s": round(tl_wall, 1),
        "truceline_detections_per_s": round(n_acoustic / tl_wall),
        **{f"truceline_{k}": tl.get(k) for k in keys},
        "pyocto_events": po["events"],
        "pyocto_s_assignments": po["s_assignments"],
        "pyocto_wall_s": round(po["wall_s"], 1),
        "pyocto_associate_s": round(po["associate_s"], 1),
        "pyocto_detections_per_s": round(n_acoustic / po["wall_s"]),
        "pyocto_associate_detections_per_s": round(n_acoustic / po["associate_s"]),
        **{f"pyocto_{k}": pm.get(k) for k in keys},
        "pyocto_duplicate_events": pm.get("duplicate_events"),
        "pyocto_unresolved_events": pm.get("unresolved_events"),
        "pyocto_false_events": pm.get("false_events"),
        "truceline_duplicate_events": tl.get("duplicate_events"),
        "truceline_unresolved_events": tl.get("unresolved_events"),
        "truceline_false_events": tl.get("false_events"),
    }
    write_result(args.json, "pyocto", figures)


if __name__ == "__main__":
    main()
