"""Acoustic association and location alone, scored against the truth: the quick loop for tuning.

    python bench/bench_association.py [--scenario sector-day] [--seed 1] [--start-h H --hours N]
        [--set associate.chance_alpha=0.01 ...] [--json FILE] [--events FILE]

Replays the scenario's acoustic detections and weather reports (bench/.cache/SCENARIO-SEED/,
simulated once if absent) in file order, in batches of `associate.batch_s` of detection time,
into one `AcousticAssociator`, with no store, radar, shots or attribution. An event matches the
source that caused more than half of its detections (the evidence rule of `truceline evaluate`),
one event per source; recall is over sources heard by 5+ sensors whose origin is at least 300 s
before the last detection (so the replay could finish them), precision over all events. The
location error and 95% ellipse coverage are of the matched events. A `--start-h` / `--hours`
slice keeps the detections and sources in that window.

Coverage is also shown by the number of sensors used, for pure events (every detection caused by
the matched source) and contaminated ones (some from another source or a false alarm), and after
relocating each matched event on its source's own detections alone: coverage if association
were perfect, so a shortfall can be put on the locator or on association.

Time is given as wall and as CPU seconds of this process (the machine is shared: CPU time is the
steadier measure). `--events FILE` writes every event (id, version, its detections' ids, origin,
covariance and the reported covariance, repr of each float) as JSON lines, so two versions of
the code can be checked to give the same events (`cmp` or `diff` the files).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter

import numpy as np

from common import simulated, write_result
from truceline.associate.acoustic import LABEL_CODES, AcousticAssociator
from truceline.associate.ambiguity import mixture
from truceline.associate.network import AcousticNetwork
from truceline.config import load_settings, parse_assignment
from truceline.geo.projection import to_ecef
from truceline.locate.atmosphere import Atmosphere
from truceline.locate.solver import ellipse_k2, locate
from truceline.records import Sensor
from truceline.timeutil import parse_time

HOUR_NS = 3_600_000_000_000
TAIL_S = 300.0
SENSOR_BINS = ((4, 8), (8, 10), (10, 14), (14, 20), (20, 10_000))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="sector-day")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start-h", type=float, default=0.0)
    parser.add_argument("--hours", type=float, default=None)
    parser.add_argument("--set", action="append", default=[], help="SECTION.NAME=VALUE")
    parser.add_argument("--json", default=None)
    parser.add_argument("--events", default=None, help="write the events here (JSON lines)")
    args = parser.parse_args()
    data = simulated(args.scenario, args.seed)

    settings = load_settings(flags=dict(parse_assignment(item) for item in args.set)).settings
    feats = json.loads((data / "sensors.geojson").read_text())["features"]
    sensors = [
        Sensor(
            id=f["properties"]["id"],
            kind=f["properties"]["kind"],
            operator=f["properties"]["operator"],
            lon=f["geometry"]["coordinates"][0],
            lat=f["geometry"]["coordinates"][1],
            timing_sigma_s=f["properties"].get("timing_sigma_s", 0.01),
        )
        for f in feats
    ]
    net = AcousticNetwork([s for s in sensors if s.kind == "acoustic"])
    weather = {s.id: s for s in sensors if s.kind == "weather"}
    obs, seen = [], set()
    with open(data / "observations.jsonl") as lines:
        for line in lines:
            o = json.loads(line)
            if o["kind"] in ("acoustic", "weather") and o["id"] not in seen:
                seen.add(o["id"])
                o["t"] = parse_time(o["time"])
                obs.append(o)
    day0 = min(o["t"] for o in obs)
    day0 -= day0 % (24 * HOUR_NS)
    lo = day0 + round(args.start_h * HOUR_NS)
    hi = lo + round(args.hours * HOUR_NS) if args.hours else None
    obs = [o for o in obs if o["t"] >= lo - HOUR_NS and (hi is None or o["t"] < hi)]
    obs = [o for o in obs if o["kind"] == "weather" or o["t"] >= lo]

    atmosphere = Atmosphere()
    assoc = AcousticAssociator(net, atmosphere, day0, settings.associate, settings.locate)
    batch: list[tuple] = []

    def flush() -> None:
        if batch:
            assoc.add(*(list(c) for c in zip(*batch, strict=True)))
            batch.clear()

    start, cpu_start = time.perf_counter(), time.process_time()
    for o in obs:
        if o["kind"] == "weather":
            s = weather[o["sensor"]]
            wind = tuple(o.get("wind_mps", (0.0, 0.0)))
            atmosphere.add(s.id, to_ecef(s.lon, s.lat)[0], o["t"], o["temperature_c"], wind)
            continue
        if batch and (o["t"] - batch[0][2]) / 1e9 > settings.associate.batch_s:
            flush()
        batch.append(
            (
                o["id"],
                net.index_of[o["sensor"]],
                o["t"],
                LABEL_CODES[o.get("signal", "unknown")],
                o.get("azimuth_deg", np.nan),
                o.get("azimuth_sigma_deg", np.nan),
            )
        )
    flush()
    assoc.flush()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    if args.events:
        with open(args.events, "w") as f:
            for ev in assoc.events:
                sol = ev.solution
                record = {
                    "id": ev.id,
                    "version": ev.version,
                    "closed": ev.closed,
                    "detections": [assoc.obs_id.v[g] for g in ev.det],
                    "origin": [repr(v) for v in (ev.lon, ev.lat, ev.tau_s, sol.x_m, sol.y_m)],
                    "speed": [repr(v) for v in (sol.speed.c_mps, sol.speed.wind_e_mps)],
                    "cov": [repr(float(v)) for v in sol.cov.ravel()],
                    "reported_cov": [repr(float(v)) for v in assoc.reported(ev)[0].cov.ravel()],
                    "chi2": repr(sol.chi2),
                }
                f.write(json.dumps(record) + "\n")

    truth = [json.loads(line) for line in (data / "truth.jsonl").read_text().splitlines()]
    cause = {oid: s for s in truth for oid in s["observations"]}
    sensor_of = {o["id"]: o["sensor"] for o in obs if o["kind"] == "acoustic"}
    matched: dict[str, object] = {}
    errors, covered, mixed = [], 0, 0
    inside, n_used, pure, inside_own = [], [], [], []
    inside_locator, inside_own_locator, area_ratio = [], [], []
    for ev in assoc.events:
        ids = [assoc.obs_id.v[g] for g in ev.det]
        sources = [cause[i]["id"] for i in ids if i in cause]
        if not sources:
            continue
        k, c = Counter(sources).most_common(1)[0]
        if c / len(ids) <= 0.5:
            mixed += 1
            continue
        if k in matched:
            continue
        matched[k] = ev
        source = cause[next(i for i in ids if i in cause and cause[i]["id"] == k)]
        e, n = ev.projection.forward(*source["position"][:2])
        offset = np.array([float(np.atleast_1d(e)[0]), float(np.atleast_1d(n)[0])])
        errors.append(float(np.hypot(*offset)))
        sol = ev.solution
        k2 = ellipse_k2(0.95, sol.dof, sol.prior_dof)
        reported, _ = assoc.reported(ev)
        hit = bool(offset @ np.linalg.solve(reported.cov[:2, :2], offset) <= k2)
        covered += hit
        inside.append(hit)
        inside_locator.append(bool(offset @ np.linalg.solve(sol.cov[:2, :2], offset) <= k2))
        area_ratio.append(
            float(np.sqrt(np.linalg.det(reported.cov[:2, :2]) / np.linalg.det(sol.cov[:2, :2])))
        )
        n_used.append(sol.n_used)
        own = np.array([i in cause and cause[i]["id"] == k for i in ids])
        pure.append(bool(own.all()))
        # The same event relocated on its source's own detections (the solution is at the
        # centre of the event's projection, so the truth's offset is the error), with its
        # reported covariance as association would give it for those detections.
        own_det = np.asarray(ev.det, dtype=np.int64)[own]
        arr = assoc._arrivals(own_det, ev.projection)
        alone = locate(arr, ev.speed, (0.0, 0.0, sol.tau_s), settings.locate) if own.any() else None
        if alone is not None:
            d = offset - (alone.x_m, alone.y_m)
            k2_own = ellipse_k2(0.95, alone.dof, alone.prior_dof)
            inside_own_locator.append(bool(d @ np.linalg.solve(alone.cov[:2, :2], d) <= k2_own))
            cov_own = alone.cov
            if settings.associate.ambiguity:
                cov_own = mixture(
                    assoc, own_det[alone.keep], ev.projection, ev.speed, alone.tau_s, alone.cov
                ).cov
            inside_own.append(bool(d @ np.linalg.solve(cov_own[:2, :2], d) <= k2_own))
    last = max(o["t"] for o in obs if o["kind"] == "acoustic")
    heard = Counter()
    for s in truth:
        heard[s["id"]] = len({sensor_of[x] for x in s["observations"] if x in sensor_of})
    eligible = [
        s["id"]
        for s in truth
        if s["type"] in ("launch", "impact")
        and heard[s["id"]] >= 5
        and lo <= parse_time(s["time"]) < last - TAIL_S * 1e9
    ]
    n_events = len(assoc.events)
    inside_a, n_used_a, pure_a = np.array(inside), np.array(n_used), np.array(pure, dtype=bool)

    def share(mask: np.ndarray) -> list:
        return [round(float(inside_a[mask].mean()), 3) if mask.any() else None, int(mask.sum())]

    def share_of(hits: np.ndarray, mask: np.ndarray) -> list:
        return [round(float(hits[mask].mean()), 3) if mask.any() else None, int(mask.sum())]

    by_sensors = {
        f"{lo}-{hi - 1}" if hi < 10_000 else f"{lo}+": share((n_used_a >= lo) & (n_used_a < hi))
        for lo, hi in SENSOR_BINS
    }
    figures = {
        "scenario": f"{args.scenario} seed {args.seed}",
        "slice_h": [args.start_h, args.hours],
        "settings": args.set,
        "detections": assoc.stats["detections"],
        "elapsed_s": round(elapsed, 1),
        "cpu_s": round(cpu, 2),
        "cpu_ms_per_detection": round(1e3 * cpu / assoc.stats["detections"], 3),
        "detections_per_s": round(assoc.stats["detections"] / elapsed),
        "events": n_events,
        "eligible_sources": len(eligible),
        "recall": sum(k in matched for k in eligible) / max(len(eligible), 1),
        "precision": len(matched) / max(n_events, 1),
        "mixed_events": mixed,
        "location_error_median_m": float(np.median(errors)) if errors else None,
        "location_error_p90_m": float(np.percentile(errors, 90)) if errors else None,
        "ellipse_coverage": covered / max(len(errors), 1),
        "ellipse_coverage_by_sensors": by_sensors,
        "ellipse_coverage_pure": share(pure_a),
        "ellipse_coverage_contaminated": share(~pure_a),
        "ellipse_coverage_own_detections": [
            round(float(np.mean(inside_own)), 3) if inside_own else None,
            len(inside_own),
        ],
        "locator_coverage": round(float(np.mean(inside_locator)), 3) if inside_locator else None,
        "locator_coverage_pure": share_of(np.array(inside_locator), pure_a),
        "locator_coverage_contaminated": share_of(np.array(inside_locator), ~pure_a),
        "locator_coverage_own_detections": (
            round(float(np.mean(inside_own_locator)), 3) if inside_own_locator else None
        ),
        "ellipse_area_ratio": {
            "median": float(np.median(area_ratio)) if area_ratio else None,
            "mean": float(np.mean(area_ratio)) if area_ratio else None,
            "inflated_share": float(np.mean(np.array(area_ratio) > 1.0001)) if area_ratio else None,
            "pure_mean": float(np.mean(np.array(area_ratio)[pure_a])) if pure_a.any() else None,
            "contaminated_mean": (
                float(np.mean(np.array(area_ratio)[~pure_a])) if (~pure_a).any() else None
            ),
        },
        "ambiguity_s": round(assoc.stats["ambiguity_s"], 2),
        "ambiguity_relocations": assoc.stats["ambiguity_relocations"],
    }
    print(
        f"{figures['detections']:,} detections in {elapsed:.1f} s, CPU {cpu:.2f} s "
        f"({figures['detections_per_s']:,}/s); {n_events:,} events; recall "
        f"{figures['recall']:.3f} of {len(eligible):,}; precision {figures['precision']:.3f} "
        f"({mixed} mixed); error median {figures['location_error_median_m']:.1f} m; "
        f"coverage {figures['ellipse_coverage']:.3f}"
    )
    print(
        "coverage by sensors used: "
        + ", ".join(f"{k} {v[0]} ({v[1]})" for k, v in by_sensors.items())
        + "; pure {} ({}), contaminated {} ({}); relocated on own detections {}".format(
            *figures["ellipse_coverage_pure"],
            *figures["ellipse_coverage_contaminated"],
            figures["ellipse_coverage_own_detections"][0],
        )
    )
    print(
        "locator alone (no ambiguity): coverage {}, pure {} , contaminated {}, own detections "
        "{}; ellipse area ratio mean {:.3f} (pure {}, contaminated {}), inflated {:.3f}; "
        "ambiguity {} s, {} relocations".format(
            figures["locator_coverage"],
            figures["locator_coverage_pure"][0],
            figures["locator_coverage_contaminated"][0],
            figures["locator_coverage_own_detections"],
            figures["ellipse_area_ratio"]["mean"],
            figures["ellipse_area_ratio"]["pure_mean"],
            figures["ellipse_area_ratio"]["contaminated_mean"],
            figures["ellipse_area_ratio"]["inflated_share"],
            figures["ambiguity_s"],
            figures["ambiguity_relocations"],
        )
    )
    write_result(args.json, "association", figures)


if __name__ == "__main__":
    main()
