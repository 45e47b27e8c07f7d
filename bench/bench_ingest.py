"""Benchmark: ingest of observation lines, validation alone and validation plus storing (SQLite).

By default ~1M synthetic lines in line-heavy-day's mix (65% acoustic, 33% radar plots, 1%
counter-battery tracks, some weather; 0.5% re-sent, 1% late by minutes, 0.1% bad), formatted as
the simulator writes them; or a real file with --sensors and --observations. Reports lines per
second by wall-clock and by CPU time (the steadier figure on a shared machine), and the cost of
freezing the fields of an observation with `FrozenDict(...)` against ingest's own path.
Usage: python bench/bench_ingest.py [--lines N] [--sensors S --observations O] [--json FILE]
Target (issue 4): validation >= 100,000 lines/s on the 2-core dev machine.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import peak_rss_mib, write_result
from truceline.config import Settings
from truceline.ingest import ObservationReader, ingest, read_sensors
from truceline.ingest.observations import _frozen
from truceline.records import FrozenDict, Sensor
from truceline.store import open_store
from truceline.timeutil import format_time, parse_time

START_NS = parse_time("2026-03-04T00:00:00Z")
N_ACOUSTIC = 13_000


def synthetic(n: int, seed: int = 1) -> tuple[list[Sensor], list[bytes]]:
    """`n` lines over 24 hours in line-heavy-day's mix, in delivery order."""
    rng = random.Random(seed)
    sensors = [
        Sensor(id=f"A{i:05d}", kind="acoustic", operator="monitor", lon=37.0, lat=48.0)
        for i in range(N_ACOUSTIC)
    ]
    sensors += [
        Sensor(id=f"AR{i}", kind="radar", operator="monitor", lon=37.0, lat=48.0) for i in range(6)
    ]
    sensors += [
        Sensor(id=f"WX{i}", kind="weather", operator="monitor", lon=37.0, lat=48.0)
        for i in range(20)
    ]
    step_ns = 86_400 * 10**9 // n
    lines: list[bytes] = []
    for k in range(n):
        t = START_NS + k * step_ns + rng.randrange(2 * 10**9)
        roll = rng.random()
        if roll < 0.01:
            t -= rng.randrange(60, 900) * 10**9  # late
        when = format_time(t)
        kind = rng.random()
        if kind < 0.65:
            s = rng.randrange(N_ACOUSTIC)
            az = (
                f',"azimuth_deg":{rng.uniform(0, 359.9):.1f},"azimuth_sigma_deg":5'
                if rng.random() < 0.2
                else ""
            )
            text = (
                f'{{"id":"A{s:05d}-{k}","kind":"acoustic","sensor":"A{s:05d}",'
                f'"time":"{when}","snr_db":{rng.uniform(3, 40):.1f},'
                f'"signal":"{rng.choice(("launch", "impact", "unknown"))}"{az}}}'
            )
        elif kind < 0.98:
            s = rng.randrange(6)
            text = (
                f'{{"id":"AR{s}-{k}","kind":"radar_plot","sensor":"AR{s}","time":"{when}",'
                f'"position":[{rng.uniform(36, 39):.7f},{rng.uniform(47, 49):.7f},'
                f'{rng.uniform(50, 3000):.1f}],"sigma_m":50,"velocity_mps":'
                f"[{rng.uniform(-30, 30):.1f},{rng.uniform(-30, 30):.1f},"
                f"{rng.uniform(-5, 5):.1f}]}}"
            )
        elif kind < 0.999:
            s = rng.randrange(6)
            points = ",".join(
                f'{{"time":"{format_time(t + j * 500_000_000)}","position":'
                f"[{37 + j * 1e-4:.7f},{48 + j * 1e-4:.7f},{100 + j * 120:.1f}]}}"
                for j in range(13)
            )
            text = (
                f'{{"id":"CB{s}-{k}","kind":"radar_track","sensor":"AR{s}","time":"{when}",'
                f'"points":[{points}],"sigma_m":30.0,"class":"mortar"}}'
            )
        else:
            s = rng.randrange(20)
            text = (
                f'{{"id":"WX{s}-{k}","kind":"weather","sensor":"WX{s}","time":"{when}",'
                f'"temperature_c":{rng.uniform(-5, 10):.1f},"wind_mps":[3.0,1.0]}}'
            )
        if roll > 0.999:
            text = text.replace('"sensor":"', '"sensor":"X')  # unknown sensor
        lines.append(text.encode() + b"\n")
        if rng.random() < 0.005:
            lines.append(lines[-1])  # re-sent
    return sensors, lines


def freeze_costs() -> dict[str, float]:
    """µs to freeze an acoustic observation's fields: `FrozenDict(...)` against ingest's path."""
    fields = {"snr_db": 19.5, "signal": "launch", "azimuth_deg": 120.5, "azimuth_sigma_deg": 5}
    n = 200_000
    slow = min(timeit.repeat(lambda: FrozenDict(fields), number=n, repeat=5)) / n * 1e6
    fast = min(timeit.repeat(lambda: _frozen(fields), number=n, repeat=5)) / n * 1e6
    return {"frozendict_us": round(slow, 2), "ingest_freeze_us": round(fast, 2)}


def store_figures(sensors: list[Sensor], lines: list[bytes], db: Path) -> dict[str, object]:
    """Validation plus storing into a new SQLite file (batches of 5000)."""
    with open_store(db) as store:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        summary = ingest(store, sensors, lines, run_id="bench", settings=Settings())
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    assert summary.balanced()
    return {
        "store": "SQLite file, batch 5000",
        "store_wall_s": round(wall, 1),
        "store_lines_per_s_wall": round(summary.lines / wall),
        "store_lines_per_s_cpu": round(summary.lines / cpu),
        "stored": summary.accepted,
        "db_mib": round(os.path.getsize(db) / 2**20, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--sensors", default=None)
    parser.add_argument("--observations", default=None)
    parser.add_argument("--no-store", action="store_true", help="validation only")
    parser.add_argument("--json", default=None, help="write the result here")
    args = parser.parse_args()

    if args.observations:
        sensors = read_sensors(args.sensors)
        with open(args.observations, "rb") as file:
            lines = file.readlines()
        source = args.observations
    else:
        sensors, lines = synthetic(args.lines)
        source = f"synthetic ({len(lines):,} lines, line-heavy-day mix)"
    size_mib = sum(map(len, lines)) / 2**20

    reader = ObservationReader(sensors, source_name="bench")
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for _ in reader.read_lines(lines):
        pass
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    counts = reader.counts
    figures = {
        "source": source,
        "lines": counts.lines,
        "mib": round(size_mib, 1),
        "accepted": counts.accepted,
        "duplicates": counts.duplicates,
        "quarantined": {str(code): n for code, n in counts.quarantined.items()},
        "validate_wall_s": round(wall, 2),
        "validate_lines_per_s_wall": round(counts.lines / wall),
        "validate_lines_per_s_cpu": round(counts.lines / cpu),
        "validate_us_per_line_cpu": round(cpu / counts.lines * 1e6, 2),
    }
    del reader

    if not args.no_store:
        with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
            figures.update(store_figures(sensors, lines, Path(tmp) / "bench.db"))
    figures.update(freeze_costs())
    figures["load_avg_1min_after"] = round(os.getloadavg()[0], 2)
    figures["peak_rss_mib"] = round(peak_rss_mib(), 1)
    write_result(args.json, "ingest", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
