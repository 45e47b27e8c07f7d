"""Shared helpers for benchmarks: the machine's description and the JSON result file."""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def machine() -> dict[str, Any]:
    """Where the figures were measured: CPU model, cores, memory, Python."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def peak_rss_mib(children: bool = False) -> float:
    """Peak resident memory of this process (or of its finished children), MiB."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_result(path: str | None, name: str, figures: dict[str, Any]) -> dict[str, Any]:
    """Print the figures and write them, with date, commit and machine, as JSON."""
    result = {
        "benchmark": name,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git_commit(),
        "machine": machine(),
        "figures": figures,
    }
    for key, value in figures.items():
        print(f"{key}: {value}")
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(result, indent=2) + "\n")
    sys.stdout.flush()
    return result


def truceline(*args: str) -> subprocess.CompletedProcess:
    """Run a truceline command in a child process; on failure, show its stderr and stop."""
    done = subprocess.run(
        [sys.executable, "-m", "truceline", *args], capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"truceline {args[0] if args else ''} failed (exit {done.returncode})")
    return done


def simulated(scenario: str, seed: int) -> Path:
    """bench/.cache/SCENARIO-SEED/, simulated once and reused."""
    data = Path(__file__).resolve().parent / ".cache" / f"{scenario}-{seed}"
    if not (data / "truth.jsonl").is_file():
        truceline("simulate", "--scenario", scenario, "--seed", str(seed), "--out", str(data),
                  "--no-progress")  # fmt: skip
    return data


def track_points(track: dict[str, Any], fence: Any = None) -> Any:
    """A `radar_track` observation (its parsed JSON line) as the backtracker's `TrackPoints`;
    `fence` is the radar's coverage (`truceline.radar.stage.radar_fence`), if wanted."""
    from truceline.radar.projectile import TrackPoints
    from truceline.timeutil import parse_time

    points = track["points"]
    return TrackPoints(
        [parse_time(p["time"]) for p in points],
        [p["position"][0] for p in points],
        [p["position"][1] for p in points],
        [p["position"][2] for p in points],
        float(track["sigma_m"]),
        str(track["class"]),
        fence,
    )
