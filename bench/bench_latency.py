"""Benchmark of streaming latency (issue 4): from the arrival of the last detection an event needs
to the event being emitted by `AcousticStage.feed` / `flush_batch`.

    python bench/bench_latency.py [--scenario sector-day] [--seed 1] [--start-h 0] [--hours 24]
                                  [--warmup-min 10] [--batch-s 0.25] [--mode both] [--json FILE]

Replay of a simulated day (bench/.cache/SCENARIO-SEED/, made by bench_process.py or
`truceline simulate`) as a live feed on a simulated clock:

* `observations.jsonl` is in delivery order (out of order in sensor time). Each accepted
  observation arrives at its position in the file; its **arrival time** is the running maximum of
  the sensor `time` of every observation read so far (the monitor's clock): an observation
  delivered late arrives when the clock is already past its own time, an on-time one arrives at
  its own time.
* Observations are parsed and validated up front with `ObservationReader` (ingest's cost is
  measured by bench_ingest.py), then fed to one `AcousticStage` with
  `associate.batch_s = --batch-s`, as fast as possible. Weather reports from the start of the day
  are fed (they set the speed of sound); acoustic detections from `--warmup-min` before the slice
  (so the associator's pool and events are in a steady state) to its end.
* An event's **first emission** is the first `feed` / `flush_batch` call that returns it. Its
  **completing detection** is the last to arrive (file order) of the detections it holds at that
  moment (`WorkingEvent.det` -> `associator.obs_id`).
* **latency** = (wall clock when that call returns) - (wall clock when the completing detection
  was fed) + **batching wait**: the simulated time from the completing detection's arrival to the
  moment the batch that emitted the event was ready (the arrival whose `feed` flushed it, or the
  timer's moment, below), since a live system waits that long. When an event is emitted by a
  later batch than its completing detection's, both parts include that delay (the wall part holds
  the processing of every call in between, so it overstates the cost a little).
* **latency with queueing**: the same events on a live single-threaded monitor: batch k is
  ready at its flushing arrival a_k and done at d_k = max(a_k, d_{k-1}) + p_k, where p_k is
  the measured wall time of the call that processed it; latency = d_k - arrival of the completing
  detection. It differs from the first figure only where processing fell behind real time.
* **keep-up**: processing seconds (all `feed` / `flush_batch` calls) per simulated second.

Two ways of flushing batches (`--mode both` runs each on its own new stage):

* `feed`: the stage as it is; a batch is only processed when `feed` receives an acoustic
  detection more than `batch_s` (sensor time) after the batch's first, so in a lull the batch waits
  for the next detection.
* `timer`: a live driver that also calls `flush_batch()` once the monitor's clock is `batch_s`
  past the arrival of the batch's first detection (checked at each arrival in the replay; the
  batch counts as ready at that exact moment).

Events counted: those whose completing detection arrived inside the slice; the JSON lists the
events over 1 s (`late`), with whether they were first published as provisional events. The
stage is live (`AcousticStage(live=True)`): salvos still arriving are published as provisional
events; a provisional event later withdrawn is not counted (the JSON reports how many were
published and withdrawn), one later confirmed counts from its first, provisional, publication.
With the scenario's truth.jsonl beside its observations, each late event names the source most
of its detections came from and whether all did (`source`, `source_pure`), the late events are
counted by cause (`late_causes`: the source's type, weapon class, whether it was fired in a
barrage, mixed or pure, first published as provisional or not) and the latency is also given
per weapon class (`by_weapon`).

By default (`--radar`; `--no-radar` for the acoustic stage alone, as above) the slice goes
through the live monitor (`truceline.monitor.LiveMonitor`) instead:
counter-battery `radar_track` observations are fed too (from the warm-up on), and backtracked on
a timer of their own (`batch_s` after the arrival of the first track waiting, as the acoustic
batches; in `feed` mode each track at once); the acoustic batches are the same as without
radar, so the figures are given three ways:

* `acoustic`: the acoustic stage's own events, counted as above (the same figures as without
  `--radar`);
* `published`: the events of the fused stream (`truceline.radar.live.LiveFusion`), each from its
  first publication, whichever network's part made it; an event's completing input is the last
  to arrive of the inputs it held then (`provenance.inputs`: its detections, or the radar track
  it was backtracked from); events withdrawn are not counted, acoustic mixtures held back are
  never published so never counted;
* `published_with_acoustic`: those of `published` that hold acoustic detections at the end, the
  same population as `acoustic` (less the mixtures held back or withdrawn): for a round whose
  radar track came first, the latency is the radar path's.

`first_published_by_radar` counts the events of the last kind first published by a radar shot,
`fusion` the joins (`LiveFusion.counts`, and the mixtures held at the end).
`--set SECTION.NAME=VALUE` changes a setting.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import peak_rss_mib, write_result
from truceline.agreement.load import load_agreement
from truceline.associate.stage import AcousticStage
from truceline.config import Settings, load_settings, parse_assignment
from truceline.ingest.observations import ObservationReader
from truceline.ingest.sensors import read_sensors
from truceline.monitor import LiveMonitor
from truceline.records import Observation

HERE = Path(__file__).resolve().parent
NS = 1_000_000_000


def load(data: Path) -> tuple[list, list[Observation], np.ndarray]:
    sensors = read_sensors(data / "sensors.geojson")
    reader = ObservationReader(sensors, source_name="observations.jsonl")
    with open(data / "observations.jsonl", "rb") as f:
        obs = [o for o in reader.read_lines(f) if isinstance(o, Observation)]
    times = np.fromiter((o.time_ns for o in obs), dtype=np.int64, count=len(obs))
    arrival = np.maximum.accumulate(times)  # the monitor's clock: latest sensor time seen
    return sensors, obs, arrival


def load_truth(data: Path) -> dict[str, tuple[str, str, str, bool]]:
    """{acoustic observation id: (source id, type, weapon class, fired in a barrage)} from the
    scenario's truth.jsonl (empty without one): what each late event is made of."""
    path = data / "truth.jsonl"
    if not path.exists():
        return {}
    cause: dict[str, tuple[str, str, str, bool]] = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            source = json.loads(line)
            what = (
                str(source.get("id")),
                str(source.get("type", "")),
                str(source.get("weapon") or "-"),
                bool(source.get("barrage")),
            )
            for observation_id in source.get("observations") or ():
                cause[observation_id] = what
    return cause


def sources_of(det_ids: list[str], truth: dict) -> tuple[tuple[str, str, str, bool], bool]:
    """The source most of an event's detections came from (false alarms count as their own
    "source"), and whether all of them came from it."""
    counts = Counter(truth.get(d, ("false alarm", "-", "-", False)) for d in det_ids)
    ((source, n),) = counts.most_common(1)
    return source, n == len(det_ids)


def pct(values: np.ndarray, q: float) -> float:
    return round(float(np.percentile(values, q)), 4) if values.size else float("nan")


def replay(
    sensors, obs, arrival, window, settings: Settings, mode: str, truth: dict | None = None
) -> dict:
    """Feed one slice to a new stage; latency figures for the events first emitted. With
    `truth` (`load_truth`), each late event names its source, and the figures are also given
    per weapon class of the events' sources."""
    warm_ns, start_ns, end_ns = window
    batch_s = settings.associate.batch_s
    span_ns = round(batch_s * NS)
    stage = AcousticStage(sensors, settings)
    fed_wall: dict[str, float] = {}  # acoustic obs id -> wall clock when fed
    arr_of: dict[str, int] = {}  # acoustic obs id -> arrival (ns)
    pos_of: dict[str, int] = {}  # acoustic obs id -> position in the file
    first: dict[str, tuple] = {}  # event id -> (wall at return, batch ready ns, det ids, batch)
    batches: list[tuple[int, float]] = []  # (batch ready: simulated ns, processing wall s)
    withdrawn: set[str] = set()  # provisional events withdrawn (not counted in the latency)
    provisional: set[str] = set()  # ids ever published as provisional
    busy = 0.0
    opened: int | None = None  # arrival of the first detection of the pending batch
    clock = time.perf_counter

    def emitted(events, wall: float, ready_ns: int) -> None:
        if not events:
            return
        ids = stage.associator.obs_id.v
        for ev in events:
            if ev.withdrawn:
                withdrawn.add(ev.id)
                continue
            if ev.provisional:
                provisional.add(ev.id)
            if ev.id not in first:
                first[ev.id] = (wall, ready_ns, [ids[g] for g in ev.det], len(batches) - 1)

    def tick(ready_ns: int) -> float:
        """A clock-driven flush of the pending batch, ready at simulated time `ready_ns`."""
        nonlocal opened
        w0 = clock()
        out = stage.flush_batch()
        w1 = clock()
        batches.append((ready_ns, w1 - w0))
        emitted(out, w1, ready_ns)
        opened = None
        return w1 - w0

    for i, o in enumerate(obs):
        a = int(arrival[i])
        if a >= end_ns:
            break
        if o.kind == "acoustic":
            if a < warm_ns:
                continue
        elif o.kind != "weather":
            continue  # other kinds cost nothing in the stage; they still advance the clock
        if mode == "timer" and opened is not None and a >= opened + span_ns:
            busy += tick(opened + span_ns)
        n_before = stage.counts.batches
        w0 = clock()
        if o.kind == "acoustic":
            fed_wall[o.id] = w0
            arr_of[o.id] = a
            pos_of[o.id] = i
        out = stage.feed(o)
        w1 = clock()
        busy += w1 - w0
        if stage.counts.batches != n_before:  # feed flushed the batch before this detection
            batches.append((a, w1 - w0))
            opened = None
        emitted(out, w1, a)
        if opened is None and stage._batch:
            opened = a
    # End of the slice: the last batch, as a timer would flush it.
    if stage._batch:
        busy += tick(max(opened + span_ns, max(arr_of.values())))

    return summarise(
        first,
        withdrawn,
        provisional,
        batches,
        (pos_of, arr_of, fed_wall),
        window,
        truth,
        busy,
        mode,
    ) | {
        "acoustic_detections_in_slice": sum(1 for a in arr_of.values() if start_ns <= a < end_ns),
        "acoustic_fed_incl_warmup": len(arr_of),
        "associator_stats": dict(stage.associator.stats) if stage.associator else {},
    }


def replay_monitor(
    sensors, obs, arrival, window, settings: Settings, terms, mode: str, truth: dict | None = None
) -> dict:
    """Feed one slice to a new `LiveMonitor` (acoustic detections and counter-battery radar
    tracks, each network on its own batch timer); latency figures of the acoustic events alone
    (`acoustic`: the same batches as `replay`'s, so the same events) and of the published
    stream (`published`: events as `LiveFusion` publishes them, a radar shot and the acoustic
    event of one shot being one event; `published_with_acoustic`: those holding an acoustic
    event at the end, the population of `acoustic`)."""
    warm_ns, _, end_ns = window
    span_ns = round(settings.associate.batch_s * NS)
    monitor = LiveMonitor(sensors, settings, terms)
    fed_wall: dict[str, float] = {}  # input id -> wall clock when fed
    arr_of: dict[str, int] = {}  # input id -> arrival (ns)
    pos_of: dict[str, int] = {}  # input id -> position in the file
    acoustic_ids: set[str] = set()
    views = {
        name: {"first": {}, "withdrawn": set(), "provisional": set(), "last": {}}
        for name in ("acoustic", "published")
    }
    batches: list[tuple[int, float]] = []
    busy = 0.0
    opened = {"acoustic": None, "radar": None}  # arrival of each network's first pending input
    clock = time.perf_counter

    def emitted(pubs, wall: float, ready_ns: int) -> None:
        k = len(batches) - 1
        published = views["published"]
        for pub in pubs:
            ev = pub.event
            if pub.action == "withdrawn":
                published["withdrawn"].add(ev.id)
            else:
                if ev.properties.get("provisional"):
                    published["provisional"].add(ev.id)
                published["first"].setdefault(
                    ev.id, (wall, ready_ns, list(ev.provenance.inputs), k)
                )
            published["last"][ev.id] = ev
        # The acoustic stage's own output, as `replay` counts it.
        alone = views["acoustic"]
        ids = monitor.acoustic.associator.obs_id.v if monitor.acoustic_changes else None
        for ev in monitor.acoustic_changes:
            if ev.withdrawn:
                alone["withdrawn"].add(ev.id)
                continue
            if ev.provisional:
                alone["provisional"].add(ev.id)
            if ev.id not in alone["first"]:
                alone["first"][ev.id] = (wall, ready_ns, [ids[g] for g in ev.det], k)

    def tick(network: str, ready_ns: int) -> float:
        w0 = clock()
        out = monitor.flush_acoustic() if network == "acoustic" else monitor.flush_radar()
        w1 = clock()
        batches.append((ready_ns, w1 - w0))
        emitted(out, w1, ready_ns)
        opened[network] = None
        return w1 - w0

    for i, o in enumerate(obs):
        a = int(arrival[i])
        if a >= end_ns:
            break
        if o.kind in ("acoustic", "radar_track"):
            if a < warm_ns:
                continue
        elif o.kind != "weather":
            continue
        if mode == "timer":
            due = sorted((t + span_ns, n) for n, t in opened.items() if t is not None)
            for ready, network in due:
                if a >= ready:
                    busy += tick(network, ready)
        n_before = monitor.acoustic.counts.batches
        w0 = clock()
        if o.kind != "weather":
            fed_wall[o.id] = w0
            arr_of[o.id] = a
            pos_of[o.id] = i
            if o.kind == "acoustic":
                acoustic_ids.add(o.id)
        out = monitor.feed(o)
        if mode == "feed" and o.kind == "radar_track":
            out += monitor.flush_radar()  # no timer: each track at once
        w1 = clock()
        busy += w1 - w0
        if monitor.acoustic.counts.batches != n_before or out or monitor.acoustic_changes:
            batches.append((a, w1 - w0))
            if monitor.acoustic.counts.batches != n_before:
                opened["acoustic"] = None
        emitted(out, w1, a)
        if opened["acoustic"] is None and monitor.acoustic_pending:
            opened["acoustic"] = a
        if opened["radar"] is None and monitor.radar_pending:
            opened["radar"] = a
    for network, t in opened.items():  # the end of the slice, as the timer would flush it
        if t is not None:
            busy += tick(network, max(t + span_ns, max(arr_of.values())))

    fed = (pos_of, arr_of, fed_wall)
    published = views["published"]
    with_acoustic = {
        eid
        for eid, ev in published["last"].items()
        if eid not in published["withdrawn"] and any(d in acoustic_ids for d in ev.evidence)
    }
    out = {}
    for name, view, keep in (
        ("acoustic", views["acoustic"], None),
        ("published", published, None),
        ("published_with_acoustic", published, with_acoustic),
    ):
        out[name] = summarise(
            view["first"],
            view["withdrawn"],
            view["provisional"],
            batches,
            fed,
            window,
            truth,
            busy,
            mode,
            keep=keep,
        )
    out["first_published_by_radar"] = sum(
        1 for eid in with_acoustic if eid.startswith(("RL-", "RI-"))
    )
    out["fusion"] = dict(monitor.fusion.counts) | {"held_at_end": len(monitor.fusion.held)}
    out["held"] = dict(monitor.held)
    out["associator_stats"] = (
        dict(monitor.acoustic.associator.stats) if monitor.acoustic.associator else {}
    )
    return out


def summarise(
    first: dict[str, tuple],
    withdrawn: set[str],
    provisional: set[str],
    batches: list[tuple[int, float]],
    fed: tuple[dict, dict, dict],
    window: tuple[int, int, int],
    truth: dict | None,
    busy: float,
    mode: str,
    keep: set[str] | None = None,
) -> dict:
    """Latency figures of the events first emitted (`first`: event id -> (wall at return,
    batch ready ns, input ids, batch index)), withdrawn ones left out; `fed`: each input's
    position in the file, arrival (ns) and wall clock when fed; only the ids in `keep` if
    given."""
    pos_of, arr_of, fed_wall = fed
    warm_ns, start_ns, end_ns = window
    # Queueing model: when each batch would be done on a live single-threaded monitor.
    done = np.empty(len(batches))
    prev = -np.inf
    for k, (ready, p) in enumerate(batches):
        prev = max(ready / NS, prev) + p
        done[k] = prev

    lat, wait, proc, queued, late = [], [], [], [], []
    weapon_of: list[str] = []  # the weapon class of each counted event's source
    causes: Counter = Counter()
    for event_id, (wall, ready_ns, det_ids, k) in first.items():
        if event_id in withdrawn or (keep is not None and event_id not in keep):
            continue
        known = [d for d in det_ids if d in pos_of]
        if not known:
            continue
        last = max(known, key=pos_of.__getitem__)
        a = arr_of[last]
        if not start_ns <= a < end_ns:
            continue
        w = (ready_ns - a) / NS
        p = wall - fed_wall[last]
        wait.append(w)
        proc.append(p)
        lat.append(w + p)
        queued.append(done[k] - a / NS)
        source, pure = sources_of(det_ids, truth) if truth else (None, None)
        weapon_of.append(source[2] if source else "-")
        if w + p > 1.0:
            if source:
                _, kind, weapon, barrage = source
                cause = (kind, weapon, barrage, pure, event_id in provisional)
                causes[cause] += 1
            late.append(
                {
                    "id": event_id,
                    "source": source[0] if source else None,
                    "source_pure": pure,
                    "first_provisional": event_id in provisional,
                    "detections": len(det_ids),
                    "completing_arrival_h": round((a % (86_400 * NS)) / 3600 / NS, 5),
                    "latency_s": round(w + p, 3),
                    "wait_s": round(w, 3),
                    "processing_s": round(p, 3),
                }
            )
    lat_a, wait_a, proc_a, q_a = map(np.array, (lat, wait, proc, queued))
    classes = np.array(weapon_of)
    by_weapon = {
        weapon: {
            "events": int(np.count_nonzero(classes == weapon)),
            "over_1s": int(np.count_nonzero(lat_a[classes == weapon] > 1.0)),
            "wait_over_1s": int(np.count_nonzero(wait_a[classes == weapon] > 1.0)),
            "latency_p99_s": pct(lat_a[classes == weapon], 99),
        }
        for weapon in sorted(set(weapon_of))
    }
    sim_s = (end_ns - warm_ns) / NS
    proc_b = np.array([p for _, p in batches])

    def top(v: np.ndarray) -> float | None:
        return round(float(v.max()), 4) if v.size else None

    return {
        "flush": mode,
        "inputs_in_slice": sum(1 for a in arr_of.values() if start_ns <= a < end_ns),
        "batches": len(batches),
        "events_emitted": len(first) - len(withdrawn & first.keys()),
        "provisional_published": len(provisional),
        "provisional_withdrawn": len(withdrawn),
        "events_counted": int(lat_a.size),
        "latency_p50_s": pct(lat_a, 50),
        "latency_p90_s": pct(lat_a, 90),
        "latency_p99_s": pct(lat_a, 99),
        "latency_max_s": top(lat_a),
        "share_under_1s": round(float(np.mean(lat_a < 1.0)), 5) if lat_a.size else None,
        "processing_p50_s": pct(proc_a, 50),
        "processing_p99_s": pct(proc_a, 99),
        "processing_max_s": top(proc_a),
        "batching_wait_p50_s": pct(wait_a, 50),
        "batching_wait_p99_s": pct(wait_a, 99),
        "batching_wait_max_s": top(wait_a),
        "events_wait_over_1s": int(np.count_nonzero(wait_a > 1.0)),
        "events_over_1s": int(np.count_nonzero(lat_a > 1.0)),
        "queued_latency_p50_s": pct(q_a, 50),
        "queued_latency_p99_s": pct(q_a, 99),
        "queued_latency_max_s": top(q_a),
        "batch_processing_p99_s": pct(proc_b, 99),
        "batch_processing_max_s": top(proc_b),
        "processing_s": round(busy, 2),
        "simulated_s": round(sim_s, 1),
        "processing_s_per_simulated_s": round(busy / sim_s, 4),
        "by_weapon": by_weapon if truth else None,
        "late_causes": [
            {
                "type": kind,
                "weapon": weapon,
                "barrage": barrage,
                "pure": pure,
                "first_provisional": first_provisional,
                "events": n,
            }
            for (kind, weapon, barrage, pure, first_provisional), n in causes.most_common()
        ]
        if truth
        else None,
        "late": sorted(late, key=lambda e: e["completing_arrival_h"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenario", default="sector-day")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start-h", type=float, default=0.0, help="slice start, hours into day")
    parser.add_argument("--hours", type=float, default=24.0, help="slice length, hours")
    parser.add_argument(
        "--warmup-min", type=float, default=10.0, help="acoustic detections fed before the slice"
    )
    parser.add_argument("--batch-s", type=float, default=0.25)
    parser.add_argument(
        "--mode",
        choices=("feed", "timer", "both"),
        default="both",
        help="feed: batches flushed only by feed(); timer: also by a clock tick (see above)",
    )
    parser.add_argument(
        "--radar",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="replay counter-battery radar tracks too, through the live monitor (see above); "
        "--no-radar: the acoustic stage alone",
    )
    parser.add_argument("--set", action="append", default=[], help="SECTION.NAME=VALUE")
    parser.add_argument("--json")
    args = parser.parse_args()
    flags = dict(parse_assignment(item) for item in args.set)
    flags["associate.batch_s"] = args.batch_s
    settings = load_settings(flags=flags).settings
    data = HERE / ".cache" / f"{args.scenario}-{args.seed}"

    t0 = time.perf_counter()
    sensors, obs, arrival = load(data)
    load_s = time.perf_counter() - t0
    day0 = int(arrival[0]) - int(arrival[0]) % (86_400 * NS)
    start_ns = day0 + round(args.start_h * 3600 * NS)
    end_ns = start_ns + round(args.hours * 3600 * NS)
    warm_ns = start_ns - round(args.warmup_min * 60 * NS)

    truth = load_truth(data)
    modes = ("feed", "timer") if args.mode == "both" else (args.mode,)
    figures = {
        "scenario": f"{args.scenario} seed {args.seed}",
        "slice": f"{args.start_h:g} h to {args.start_h + args.hours:g} h of arrival time "
        f"(+{args.warmup_min:g} min warm-up)",
        "batch_s": args.batch_s,
        "load_and_validate_s": round(load_s, 1),
    }
    for mode in modes:
        window = (warm_ns, start_ns, end_ns)
        if args.radar:
            terms = load_agreement(data / "agreement.yaml")
            result = replay_monitor(sensors, obs, arrival, window, settings, terms, mode, truth)
        else:
            result = replay(sensors, obs, arrival, window, settings, mode, truth)
        figures[mode] = result
    figures["peak_rss_mib"] = round(peak_rss_mib(), 0)
    write_result(args.json, "latency", figures)


if __name__ == "__main__":
    main()
