"""Attribution and violations (issue 6): simulate, process and evaluate the calibration
scenarios over several seeds, pooling the scores.

    python bench/bench_attribution.py                 # evaluation seeds, bundled calibration
    python bench/bench_attribution.py --fit           # fit the bundled map on training seeds
    python bench/bench_attribution.py --set attribute.one_party_trust=1.0

The training seeds (`TRAIN`) and the evaluation seeds (`TEST`) are disjoint: the map shipped in
src/truceline/data/attribution-calibration.json is fitted on `TRAIN` only. Writes
bench/results/attribution.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from common import write_result
from truceline.agreement import load_agreement
from truceline.attribute.calibration import BUNDLED, CalibrationSet, fit_calibration
from truceline.config import load_settings, parse_assignment
from truceline.evaluate import Context, MatchSettings, evaluate, load
from truceline.evaluate.attribution import (
    ALMOST_CERTAIN,
    DISTANCE_BANDS_KM,
    FAR_KM,
    calibration_samples,
    ece_interval,
    expected_calibration_error,
    reliability,
    scored_events,
    violation_counts,
    weapon_class_scores,
)
from truceline.process import process

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SCENARIOS = ("sector-quick", "attribution-near-line", "attribution-one-party")
TEST = {
    "sector-quick": (1, 2, 3, 4),
    "attribution-near-line": (1, 2, 3),
    "attribution-one-party": (1, 2),
}
TRAIN = {
    "sector-quick": (101, 102, 103, 104),
    "attribution-near-line": (101, 102, 103, 104, 105, 106),
    "attribution-one-party": (101, 102, 103, 104, 105, 106),
}


def run_one(scenario: str, seed: int, work: Path, flags: dict[str, str]):
    out = work / f"{scenario}-{seed}"
    subprocess.run(
        [sys.executable, "-m", "truceline", "simulate", "--scenario", scenario, "--seed",
         str(seed), "--out", str(out / "sim")],
        check=True, capture_output=True,
    )  # fmt: skip
    settings = load_settings(
        flags={**flags, "store.url": f"sqlite:///{out / 'store.db'}"}, environ={}
    ).settings
    started = time.perf_counter()
    summary, _ = process(
        out / "sim" / "agreement.yaml",
        out / "sim" / "sensors.geojson",
        out / "sim" / "observations.jsonl",
        out,
        settings,
    )
    elapsed = time.perf_counter() - started
    inputs = load(out / "sim" / "truth.jsonl", out / "events.geojson")
    agreement = load_agreement(out / "sim" / "agreement.yaml")
    context = Context(inputs, agreement=agreement)
    report = evaluate(inputs, MatchSettings(), context)
    return report, agreement, summary, elapsed


MIN_CONDITION_EVENTS = 30
"""A condition gets its own calibration map only with at least this many training events."""


def pooled(runs) -> dict:
    scored = []
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    classes = defaultdict(float)
    for report, agreement, _, _ in runs:
        scored += scored_events(report.matching, report.context)
        wc = weapon_class_scores(report.matching)
        if wc["n"]:
            classes["n"] += wc["n"]
            classes["right"] += wc["accuracy"] * wc["n"]
            classes["p_true"] += wc["mean_p_true"] * wc["n"]
        for rule, c in violation_counts(report.matching, report.inputs.events, agreement).items():
            for i, v in enumerate((c.flagged, c.right, c.breaching, c.detected, c.found)):
                counts[rule][i] += v
    launches = [s for s in scored if s.match.source.type == "launch"]
    far = [s for s in launches if s.distance_km > FAR_KM]

    def share(hits: int, total: int):
        return round(hits / total, 4) if total else None

    bands = {}
    for lo, hi in DISTANCE_BANDS_KM:
        inside = [s for s in launches if lo <= s.distance_km < hi]
        name = f"{lo:g}-{hi:g} km" if math.isfinite(hi) else f">= {lo:g} km"
        bands[name] = {"accuracy": share(sum(s.correct for s in inside), len(inside)),
                       "n": len(inside)}  # fmt: skip
    impacts = [s for s in scored if s.match.source.type == "impact"]
    certain = [s for s in scored if s.confidence >= ALMOST_CERTAIN]
    conf, right = [s.confidence for s in scored], [s.correct for s in scored]
    lo, hi = ece_interval(conf, right)
    by_condition = defaultdict(list)
    for s in scored:
        by_condition[str(s.match.event.detail.get("condition", "none"))].append(s)
    return {
        "events_scored": len(scored),
        "accuracy_far_launches": share(sum(s.correct for s in far), len(far)),
        "far_launches": len(far),
        "accuracy_by_band_launches": bands,
        "accuracy_impacts": share(sum(s.correct for s in impacts), len(impacts)),
        "accuracy_all": share(sum(s.correct for s in scored), len(scored)),
        "ece": round(
            expected_calibration_error([s.confidence for s in scored], [s.correct for s in scored]),
            4,
        ),
        "ece_90": [round(lo, 4), round(hi, 4)],
        "ece_by_condition": {
            k: {
                "n": len(v),
                "ece": round(
                    expected_calibration_error([s.confidence for s in v], [s.correct for s in v]),
                    4,
                ),
                "ece_90": [
                    round(x, 4)
                    for x in ece_interval([s.confidence for s in v], [s.correct for s in v])
                ],
            }
            for k, v in sorted(by_condition.items())
        },
        "weapon_class": {
            "n": int(classes["n"]),
            "accuracy": round(classes["right"] / classes["n"], 4) if classes["n"] else None,
            "mean_p_true": round(classes["p_true"] / classes["n"], 4) if classes["n"] else None,
        },
        "brier": round(float(np.mean([s.brier for s in scored])), 5) if scored else None,
        "almost_certain": len(certain),
        "almost_certain_wrong": share(sum(not s.correct for s in certain), len(certain)),
        "undetermined_share": share(sum(s.confidence < 0.5 for s in scored), len(scored)),
        "reliability": [
            {
                "words": w,
                "band": [lo, hi],
                "n": n,
                "observed": share(r, n),
                "mean_stated": round(
                    float(
                        np.mean(
                            [
                                s.confidence
                                for s in scored
                                if lo <= s.confidence < hi or (hi == 1.0 and s.confidence >= lo)
                            ]
                        )
                    ),
                    4,
                )
                if n
                else None,
            }
            for w, lo, hi, n, r in reliability(scored)
        ],
        "violations": {
            rule: {
                "precision": share(c[1], c[0]),
                "recall_detected": share(c[4], c[3]),
                "recall_all": share(c[4], c[2]),
                "stated": c[0],
                "true": c[2],
            }
            for rule, c in counts.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", action="store_true", help="fit the bundled calibration map")
    parser.add_argument("--out", default=str(HERE / "results" / "attribution.json"))
    parser.add_argument("--set", action="append", default=[], help="section.name=value")
    args = parser.parse_args()
    flags = dict(parse_assignment(s) for s in args.set)
    seeds = TRAIN if args.fit else TEST
    if args.fit:
        flags["attribute.calibration"] = "none"
    runs: dict[str, list] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-attribution-") as tmp:
        for scenario in SCENARIOS:
            for seed in seeds[scenario]:
                runs.setdefault(scenario, []).append(run_one(scenario, seed, Path(tmp), flags))
                print(f"{scenario} seed {seed} done", file=sys.stderr)
    if args.fit:
        samples = [
            s for rs in runs.values() for r in rs for s in calibration_samples(r[0].matching)
        ]
        about = {
            "name": "bundled",
            "fitted_on": {k: list(v) for k, v in TRAIN.items()},
            "date": time.strftime("%Y-%m-%d"),
            "command": "python bench/bench_attribution.py --fit",
        }
        maps = {"all": fit_calibration([s[0] for s in samples], [s[1] for s in samples])}
        for condition in sorted({s[3] for s in samples}):
            part = [s for s in samples if s[3] == condition]
            if len(part) >= MIN_CONDITION_EVENTS:
                maps[condition] = fit_calibration(
                    [s[0] for s in part], [s[1] for s in part], about={"condition": condition}
                )
        cal = CalibrationSet(maps, about)
        path = ROOT / "src" / "truceline" / "data" / BUNDLED
        path.write_text(json.dumps(cal.as_dict(), indent=1) + "\n", encoding="utf-8")
        sizes = {k: m.about["n"] for k, m in maps.items()}
        print(f"wrote {path}: maps {sizes} from {len(samples)} events")
    figures = {
        "mode": "fit (training seeds, no calibration)" if args.fit else "evaluation seeds",
        "seeds": {k: list(v) for k, v in seeds.items()},
        "settings": flags,
        "all": pooled([r for rs in runs.values() for r in rs]),
        "per_scenario": {k: pooled(v) for k, v in runs.items()},
        "process_s": round(sum(r[3] for rs in runs.values() for r in rs), 1),
        "elapsed_s": round(time.perf_counter() - started, 1),
    }
    write_result(args.out, "attribution", figures)


if __name__ == "__main__":
    main()
