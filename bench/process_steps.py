"""CPU seconds of each step of `truceline process` in the main process (the run's own step
clock reports wall seconds, which a shared machine makes unsteady).

    python bench/process_steps.py DATA_DIR OBSERVATIONS OUT [--json FILE]

DATA_DIR holds agreement.yaml and sensors.geojson (a simulated scenario, e.g.
bench/.cache/sector-day-1); OBSERVATIONS is its observations.jsonl or a slice of it; the store
is a fresh SQLite file in OUT and events.geojson is written there. With `pipeline.workers` 2 the
acoustic stage runs in its worker process: its CPU is not in these figures ("acoustic (rest)" is
the main process waiting for it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import truceline.process as pipeline
from truceline.config import load_settings


class CpuClock:
    """`truceline.process`'s step clock, also keeping the process's CPU seconds per step."""

    last: CpuClock | None = None

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        CpuClock.last = self

    def lap(self, name: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.laps[name] = self.laps.get(name, 0.0) + wall - self._wall
        self.cpu[name] = self.cpu.get(name, 0.0) + cpu - self._cpu
        self._wall, self._cpu = wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", type=Path)
    parser.add_argument("observations")
    parser.add_argument("out", type=Path)
    parser.add_argument("--json")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for f in args.out.glob("truceline.db*"):
        f.unlink()
    settings = load_settings(flags={"store.url": f"sqlite:///{args.out}/truceline.db"}).settings
    pipeline._Clock = CpuClock  # type: ignore[assignment]
    started = time.process_time()
    summary, _ = pipeline.process(
        args.data / "agreement.yaml",
        args.data / "sensors.geojson",
        args.observations,
        args.out,
        settings,
    )
    clock = CpuClock.last
    assert clock is not None
    figures = {
        "cpu_s": {k: round(v, 2) for k, v in clock.cpu.items()},
        "wall_s": {k: round(v, 2) for k, v in clock.laps.items()},
        "cpu_main_s": round(time.process_time() - started, 2),
        "elapsed_s": round(summary.elapsed_s, 2),
        "events": summary.events,
        "radar": summary.radar,
    }
    text = json.dumps(figures, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
