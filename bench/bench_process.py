"""Benchmark of `truceline process`: throughput end to end (ingest, association, location, shots,
store, events.geojson) and accuracy by `truceline evaluate`, on a simulated scenario.

    python bench/bench_process.py [--scenario sector-day] [--seed 1] [--json FILE]

The scenario is simulated once into bench/.cache/SCENARIO-SEED/ and reused.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import simulated, truceline, write_result

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenario", default="sector-day")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json")
    args = parser.parse_args()
    data = simulated(args.scenario, args.seed)
    work = HERE / ".cache" / f"run-{args.scenario}-{args.seed}"
    work.mkdir(parents=True, exist_ok=True)
    db = work / "truceline.db"
    for f in work.glob("truceline.db*"):
        f.unlink()
    started = time.perf_counter()
    out = truceline(
        "--db",
        str(db),
        "process",
        "--agreement",
        str(data / "agreement.yaml"),
        "--sensors",
        str(data / "sensors.geojson"),
        "--observations",
        str(data / "observations.jsonl"),
        "--out",
        str(work),
        "--no-progress",
        "--json",
    )
    wall = time.perf_counter() - started
    summary = json.loads(out.stdout)
    truceline(
        "evaluate",
        "--truth",
        str(data / "truth.jsonl"),
        "--events",
        str(work / "events.geojson"),
        "--observations",
        str(data / "observations.jsonl"),
        "--sensors",
        str(data / "sensors.geojson"),
        "--json",
        str(work / "evaluation.json"),
    )
    scores = json.loads((work / "evaluation.json").read_text())["groups"]
    m = {k: v for group in scores.values() for k, v in group["metrics"].items()}
    figures = {
        "scenario": f"{args.scenario} seed {args.seed}",
        "lines": summary["ingest"]["lines"],
        "acoustic_detections": summary["acoustic_detections"],
        "events": summary["events"],
        "wall_s": round(wall, 1),
        "detections_per_s": round(summary["acoustic_detections"] / wall),
        "lines_per_s": round(summary["ingest"]["lines"] / wall),
        "associate_s": summary["associate_seconds"],
        "ingest_s": summary["ingest"]["seconds"],
        "stages_s": summary.get("stages_s", {}),
        **{
            k: m.get(k)
            for k in (
                "recall",
                "precision",
                "location_error_median_m",
                "location_error_p90_m",
                "ellipse_coverage",
                "crb_ratio",
                "crb_pooled_ratio",
                "launch_impact_accuracy",
                "pairing_accuracy",
                "pairing_precision",
            )
        },
    }
    write_result(args.json, "process", figures)


if __name__ == "__main__":
    main()
