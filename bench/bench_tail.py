"""CPU of the serial tail of `truceline process`: the merge of the acoustic and radar stages'
events (`process._merged`: fusion, explaining away, second events, merging again) and the
attribution and rules (`AttributionStage`), on inputs saved from a run.

    python bench/bench_tail.py save DATA_DIR OBSERVATIONS OUT
    python bench/bench_tail.py time OUT [--repeat N] [--steps merge,attribution] [--json FILE]
    python bench/bench_tail.py [--json FILE]

Without a command (as `make bench` runs it) it saves sector-day seed 1's tail
(bench/.cache/sector-day-1, made by bench_process.py or `truceline simulate`) to
bench/.cache/tail-sector-day-1 once, and times it.

`save` runs `truceline process` on DATA_DIR's agreement.yaml and sensors.geojson and
OBSERVATIONS (a fresh SQLite store in OUT, events.geojson there too) and pickles what the two
steps were given and gave to OUT/tail/: `merge_in.pkl` (the acoustic stage's result, the radar
events, the radar counts, the sensors, the settings, the loudness evidence), `attr_in.pkl` (the
merged events) and `attr_out.pkl` (the attributed events and violations), with `tail.json` (the
agreement and the attribution's creation time). `time` runs each step again on them, N times
(the merge reads arrivals from OUT's store, as in `process`), prints the CPU seconds
(`time.process_time`) of each run, and checks that every run's result is the saved one: equal
value by value with the same types (floats bit for bit), and the same ledger texts and store rows
(`truceline.ledger.store.event_texts`, `violation_text`).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import pickle
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import truceline.process as pipeline
from truceline.agreement import load_agreement
from truceline.config import load_settings
from truceline.ledger.store import event_text, event_texts, violation_text
from truceline.store import open_store

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_result


def save(data: Path, observations: str, out: Path) -> None:
    """Run `process` with the tail's inputs and outputs pickled to OUT/tail/."""
    tail = out / "tail"
    tail.mkdir(parents=True, exist_ok=True)
    for f in out.glob("truceline.db*"):
        f.unlink()
    settings = load_settings(flags={"store.url": f"sqlite:///{out}/truceline.db"}).settings
    merged, stage_class = pipeline._merged, pipeline.AttributionStage
    created: dict[str, int] = {}

    def merged_saved(acoustic, radar_events, counts, store, sensors, settings):
        with open(tail / "merge_in.pkl", "wb") as f:
            snr = saved_snr.get("snr", {})
            pickle.dump((acoustic, radar_events, counts, sensors, settings, snr), f, protocol=5)
        events = merged(acoustic, radar_events, counts, store, sensors, settings)
        with open(tail / "attr_in.pkl", "wb") as f:
            pickle.dump((events, counts), f, protocol=5)
        return events

    saved_snr: dict[str, Any] = {}

    class StageSaved(stage_class):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            saved_snr["snr"] = kwargs.get("snr_by_observation")
            super().__init__(*args, **kwargs)

        def apply(self, events, created_ns=None):
            created["ns"] = time.time_ns() if created_ns is None else created_ns
            result = super().apply(events, created["ns"])
            with open(tail / "attr_out.pkl", "wb") as f:
                pickle.dump(result, f, protocol=5)
            return result

    # The loudness evidence is only handed to the attribution stage, after the merge: the
    # merge's pickle is rewritten with it once it is known.
    pipeline._merged = merged_saved  # type: ignore[assignment]
    pipeline.AttributionStage = StageSaved  # type: ignore[misc]
    try:
        pipeline.process(
            data / "agreement.yaml", data / "sensors.geojson", observations, out, settings
        )
    finally:
        pipeline._merged, pipeline.AttributionStage = merged, stage_class  # type: ignore[misc]
    with open(tail / "merge_in.pkl", "rb") as f:
        inputs = pickle.load(f)
    with open(tail / "merge_in.pkl", "wb") as f:
        pickle.dump((*inputs[:5], saved_snr["snr"]), f, protocol=5)
    (tail / "tail.json").write_text(
        json.dumps(
            {
                "agreement": str((data / "agreement.yaml").resolve()),
                "store": str((out / "truceline.db").resolve()),
                "created_ns": created["ns"],
            }
        )
        + "\n"
    )


def same(a: Any, b: Any, where: str = "") -> str | None:
    """Where two values differ in value or type (floats bit for bit), or None."""
    if type(a) is not type(b):
        return f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, float):
        ok = (a == b and math.copysign(1, a) == math.copysign(1, b)) or (a != a and b != b)
        return None if ok else f"{where}: {a!r} != {b!r}"
    if isinstance(a, np.ndarray):
        ok = a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
        return None if ok else f"{where}: arrays differ"
    if isinstance(a, dict):
        if list(a) != list(b):
            return f"{where}: keys {list(a)} != {list(b)}"
        for k in a:
            if (d := same(a[k], b[k], f"{where}.{k}")) is not None:
                return d
        return None
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return f"{where}: length {len(a)} != {len(b)}"
        for k, (x, y) in enumerate(zip(a, b, strict=True)):
            if (d := same(x, y, f"{where}[{k}]")) is not None:
                return d
        return None
    if dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            if (d := same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")) is not None:
                return d
        return None
    return None if a == b else f"{where}: {a!r} != {b!r}"


def texts(events: list[Any]) -> list[Any]:
    """Each event's ledger text and row texts, and its violations' ledger texts."""
    out = []
    for e in events:
        t = event_texts(e)
        out.append((event_text(t.parts), t.covariance, t.inputs))
        out.extend(violation_text(v) for v in e.violations)
    return out


def check(got: Any, want: Any, what: str) -> None:
    if (d := same(got, want, what)) is not None:
        raise SystemExit(f"{what} differs from the saved result: {d}")


def time_steps(out: Path, repeat: int, steps: list[str], json_path: str | None) -> None:
    tail = out / "tail"
    meta = json.loads((tail / "tail.json").read_text())
    with open(tail / "merge_in.pkl", "rb") as f:
        acoustic, radar_events, counts, sensors, settings, snr = pickle.load(f)
    with open(tail / "attr_in.pkl", "rb") as f:
        merged_want, counts_want = pickle.load(f)
    with open(tail / "attr_out.pkl", "rb") as f:
        attributed_want, violations_want = pickle.load(f)
    terms = load_agreement(meta["agreement"])
    cpu: dict[str, list[float]] = {s: [] for s in steps}
    with open_store(f"sqlite:///{meta['store']}", ledger=False) as store:
        for _ in range(repeat):
            if "merge" in steps:
                run_counts = copy.deepcopy(counts)
                started = time.process_time()
                with pipeline.bulk_collection():
                    merged = pipeline._merged(
                        acoustic, radar_events, run_counts, store, sensors, settings
                    )
                cpu["merge"].append(time.process_time() - started)
                check(merged, merged_want, "merged events")
                check(run_counts, counts_want, "radar counts")
                del merged
            if "attribution" in steps:
                started = time.process_time()
                events, violations = pipeline._attributed(
                    merged_want, terms, settings, sensors, snr, meta["created_ns"]
                )
                cpu["attribution"].append(time.process_time() - started)
                check(events, attributed_want, "attributed events")
                check(violations, violations_want, "violations")
                if texts(events) != texts(attributed_want):
                    raise SystemExit("ledger texts differ from the saved result's")
                del events, violations
    figures: dict[str, Any] = {
        "inputs": str(out),
        "acoustic_events": len(acoustic.events),
        "radar_events": len(radar_events),
        "merged_events": len(merged_want),
        "violations": len(violations_want),
        "identical": True,
    }
    for s in steps:
        figures[f"{s}_cpu_s"] = [round(c, 2) for c in cpu[s]]
        figures[f"{s}_cpu_best_s"] = round(min(cpu[s]), 2)
    write_result(json_path, "tail", figures)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", help="without a command: write the timing here")
    sub = parser.add_subparsers(dest="command")
    s = sub.add_parser("save")
    s.add_argument("data", type=Path)
    s.add_argument("observations")
    s.add_argument("out", type=Path)
    t = sub.add_parser("time")
    t.add_argument("out", type=Path)
    t.add_argument("--repeat", type=int, default=2)
    t.add_argument("--steps", default="merge,attribution")
    t.add_argument("--json")
    args = parser.parse_args()
    if args.command is None:
        here = Path(__file__).resolve().parent / ".cache"
        data, out = here / "sector-day-1", here / "tail-sector-day-1"
        if not (out / "tail" / "attr_out.pkl").exists():
            save(data, str(data / "observations.jsonl"), out)
        time_steps(out, 2, ["merge", "attribution"], args.json)
    elif args.command == "save":
        save(args.data, args.observations, args.out)
    else:
        time_steps(args.out, args.repeat, args.steps.split(","), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
