"""Benchmark: `truceline simulate` of a scenario (default line-heavy-day), run in a subprocess.

Measures wall time, CPU time and peak resident memory of the subprocess (and the load average:
other work on a shared machine slows the wall time), and reads the counts from its summary.
Usage: python bench/bench_simulate.py [--scenario NAME] [--seed N] [--out DIR] [--json FILE]
Targets (issue 3): line-heavy-day under 5 minutes and under 2 GiB on the 2-core dev machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import peak_rss_mib, write_result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="line-heavy-day")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--out", default=None, help="output directory (default: a temporary one)")
    parser.add_argument("--json", default=None, help="write the result here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-simulate-") as tmp:
        out = Path(args.out or tmp)
        command = [
            sys.executable,
            "-m",
            "truceline",
            "simulate",
            "--scenario",
            args.scenario,
            "--out",
            str(out),
            "--no-progress",
            "--json",
        ]
        if args.seed is not None:
            command += ["--seed", str(args.seed)]
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return done.returncode
        summary = json.loads(done.stdout)
        files = summary["files"]
        figures = {
            "scenario": args.scenario,
            "seed": summary["seed"],
            "wall_s": round(wall, 1),
            "simulate_s": summary["wall_s"],
            "cpu_s": round(
                resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
                + resource.getrusage(resource.RUSAGE_CHILDREN).ru_stime,
                1,
            ),
            "load_avg_1min_after": round(os.getloadavg()[0], 2),
            "peak_rss_mib": round(peak_rss_mib(children=True), 1),
            "acoustic_sensors": summary["sensors"]["acoustic"],
            "sources": sum(summary["sources"].values()),
            "sources_by_type": summary["sources"],
            "launches": sum(summary["launches_by_party"].values()),
            "launches_by_party": summary["launches_by_party"],
            "observations": sum(summary["observations"].values()),
            "observations_by_kind": summary["observations"],
            "false_alarms": summary["false_alarms"],
            "lines_written": summary["lines_written"],
            "observations_mib": round(files["observations.jsonl"] / 2**20, 1),
            "truth_mib": round(files["truth.jsonl"] / 2**20, 1),
            "command": " ".join(["truceline", *command[3:]]),
        }
        write_result(args.json, "simulate", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
