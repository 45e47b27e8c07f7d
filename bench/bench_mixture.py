"""CPU of the acoustic stage's end of run: the reported (mixture) covariance and the records.

    PYTHONPATH=src python bench/bench_mixture.py [--lines 400000] [--save F.pkl] [--repeat 3]

Feeds the first `--lines` lines of a scenario's observations (acoustic and weather only, parsed
and validated by `ObservationReader`) to an `AcousticStage` (live=False, as `truceline process`
makes it), closes every event (`flush_batch`, then the associator's `flush`), and then, on that
state, times in CPU (`time.process_time`, the machine being shared) `--repeat` times each:
`ambiguity.mixture` over every event, and the records of `finish` (`AcousticStage._record`,
which calls it). `--save` writes what they gave (each event's mixture and record, the record's
creation time left out) for `--compare` with another version's file: run the same command with
PYTHONPATH pointing at each version's `src`.
"""

from __future__ import annotations

import argparse
import itertools
import pickle
import sys
import time
from pathlib import Path

import numpy as np

from truceline.associate.ambiguity import mixture
from truceline.associate.stage import AcousticStage
from truceline.config import Settings
from truceline.ingest.observations import ObservationReader
from truceline.ingest.sensors import read_sensors
from truceline.records import Observation

HERE = Path(__file__).resolve().parent


def build(data: Path, lines: int) -> AcousticStage:
    """A stage fed the first `lines` lines, every event closed (the state `finish` starts
    its records from)."""
    sensors = read_sensors(data / "sensors.geojson")
    reader = ObservationReader(sensors, source_name="observations.jsonl")
    stage = AcousticStage(sensors, Settings(), live=False)
    with open(data / "observations.jsonl", "rb") as f:
        for o in reader.read_lines(itertools.islice(f, lines)):
            if isinstance(o, Observation) and o.kind in ("acoustic", "weather"):
                stage.feed(o)
    stage.flush_batch()
    stage.associator.flush()
    return stage


def mixtures(stage: AcousticStage) -> list:
    assoc = stage.associator
    return [
        mixture(
            assoc,
            np.asarray(ev.det, dtype=np.int64),
            ev.projection,
            ev.speed,
            ev.tau_s,
            ev.solution.cov,
        )
        for ev in assoc.events
    ]


def decisions(stage: AcousticStage) -> tuple[list, list]:
    """`finish`'s labels and launch/impact decisions (not timed: no part of the records)."""
    from truceline.shots import ShotInput, decide

    events = stage.associator.events
    labels = [stage._label_counts(e) for e in events]
    shots = [
        ShotInput(e.lon, e.lat, e.tau_s, n["launch"], n["impact"])
        for e, n in zip(events, labels, strict=True)
    ]
    return labels, decide(shots, stage.settings.shots)


def records(stage: AcousticStage, labels: list, decided: list) -> list:
    """`finish`'s records (`_record`, the mixture within), creation time 0."""
    events = stage.associator.events
    return [
        stage._record(e, n, d, events, 0) for e, n, d in zip(events, labels, decided, strict=True)
    ]


def cpu(fn, *args):
    t0 = time.process_time()
    out = fn(*args)
    return time.process_time() - t0, out


def compare(a_path: str, b_path: str) -> int:
    with open(a_path, "rb") as f:
        a = pickle.load(f)
    with open(b_path, "rb") as f:
        b = pickle.load(f)
    bad = 0
    worst = 0.0
    for key in ("mixtures", "records"):
        xs, ys = a[key], b[key]
        if len(xs) != len(ys):
            print(f"{key}: {len(xs)} against {len(ys)}")
            return 1
        for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
            if x == y:
                continue
            bad += 1
            if key == "mixtures":
                cx, cy = np.frombuffer(x[0]), np.frombuffer(y[0])
                rel = np.max(np.abs(cx - cy) / np.maximum(np.abs(cx), 1e-300))
                worst = max(worst, float(rel))
            if bad <= 5:
                print(f"{key}[{i}] differs:\n  {x}\n  {y}")
    n = len(a["records"])
    print(f"{n} events; differing: {bad}; largest relative difference of a covariance: {worst}")
    return 1 if bad else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(HERE / ".cache" / "line-heavy-day-3"))
    p.add_argument("--lines", type=int, default=400_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--save")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"))
    p.add_argument("--profile", action="store_true", help="cProfile one pass of the records")
    args = p.parse_args()
    if args.compare:
        return compare(*args.compare)
    t0 = time.process_time()
    stage = build(Path(args.data), args.lines)
    n = len(stage.associator.events)
    built = time.process_time() - t0
    print(f"state: {stage.counts.acoustic} detections, {n} events, {built:.1f} s CPU")
    labels, decided = decisions(stage)
    mixtures(stage)  # warm: compiled kernels loaded, caches filled
    for _ in range(args.repeat):
        t_mix, mix = cpu(mixtures, stage)
        t_rec, rec = cpu(records, stage, labels, decided)
        print(
            f"mixture {t_mix:.3f} s ({t_mix / n * 1e6:.0f} us/event), "
            f"records {t_rec:.3f} s ({t_rec / n * 1e6:.0f} us/event)"
        )
    if args.profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
        records(stage, labels, decided)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    if args.save:
        saved = {
            "mixtures": [(m.cov, m.hypotheses, m.p_taken, m.relocations) for m in mix],
            "records": [repr(r) for r in rec],
        }
        # arrays compare by bytes
        saved["mixtures"] = [(c.tobytes(), h, p, r) for c, h, p, r in saved["mixtures"]]
        with open(args.save, "wb") as f:
            pickle.dump(saved, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
