"""`truceline process`: the pipeline on one machine, on the default store.

ingest (validate, deduplicate, quarantine, store) -> acoustic stage (associate, locate, shots)
-> attribution and rules (attribute.stage) -> events and violations in the store and in
`events.geojson`. Later stages (the evidence ledger) plug in after these; each stage talks only
through records, so the same stages can later run as separate workers on a stream. With
`pipeline.workers` 2 the acoustic stage and the radar stage each run in a worker process
(`truceline.worker`) while this process ingests: the acoustic stage associates and the radar
stage backtracks its projectile tracks as the observations come; at the end of ingest the radar
worker tracks the air plots and makes its events while this process builds the store's indexes.
With 1, both stages run here, in turn, with the same events.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from truceline import __version__
from truceline.agreement import load_agreement
from truceline.agreement.model import Agreement
from truceline.associate.stage import AcousticResult, AcousticStage
from truceline.attribute.stage import AttributionStage
from truceline.config import Settings
from truceline.ingest import Ingestion, IngestSummary, bulk_collection
from truceline.ingest.sensors import read_sensors
from truceline.ledger.keys import Ed25519PrivateKey, load_private_key
from truceline.publish.events import write_events
from truceline.radar.explain import ArrivalTest, explain_away, explain_second_events
from truceline.radar.joint import HeldArrivals
from truceline.radar.stage import RadarCounts, RadarStage, merge, merge_leftovers
from truceline.records import Event, Sensor, Violation
from truceline.store import Store, open_store
from truceline.worker import WORKER_BATCH, ChildTask, StageWorker


@dataclass
class ProcessSummary:
    """What a `process` run read, made and wrote."""

    run_id: str
    ingest: IngestSummary
    acoustic_detections: int = 0
    weather_reports: int = 0
    not_yet_processed: dict[str, int] = field(default_factory=dict)
    radar: dict[str, Any] = field(default_factory=dict)
    events: int = 0
    launches: int = 0
    impacts: int = 0
    paired: int = 0
    attributed: int = 0
    violations: int = 0
    associate_seconds: float = 0.0
    association: dict[str, float] = field(default_factory=dict)
    """The associator's own counts (events, relocations, rounds uncrossed, provisional
    searches, ...; `truceline.associate.acoustic.AcousticAssociator.stats`)."""
    stages_s: dict[str, float] = field(default_factory=dict)
    """Wall seconds of each step of the run, in order (with `pipeline.workers` 2, "ingest"
    includes feeding the acoustic and radar workers, which associate and backtrack meanwhile,
    and "radar (rest)" and "acoustic (rest)" are the waits for them after the store's
    indexes; with 1, "radar" is the whole radar stage)."""
    elapsed_s: float = 0.0
    """Wall seconds of the whole run, writing events.geojson included (the file's own
    `properties.run.elapsed_s` stops where its writing starts)."""
    cpu_s: dict[str, float] = field(default_factory=dict)
    """CPU seconds (user and system) of each process of the run: this one (`main`, from the
    run's start), and the acoustic and radar workers, if any (from their fork), so where the
    run's work went can be told apart from where it waited."""
    events_path: str = ""
    agreement: str = ""
    """The agreement the run checked events against: a bundled name or a file's absolute path."""
    ledger: dict[str, Any] = field(default_factory=dict)
    """The evidence ledger after the run: size, root, whether a head was signed (or why not)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "truceline": __version__,
            "ingest": self.ingest.as_dict(),
            "acoustic_detections": self.acoustic_detections,
            "weather_reports": self.weather_reports,
            "not_yet_processed": dict(sorted(self.not_yet_processed.items())),
            "radar": self.radar,
            "events": self.events,
            "launches": self.launches,
            "impacts": self.impacts,
            "paired": self.paired,
            "attributed": self.attributed,
            "violations": self.violations,
            "associate_seconds": round(self.associate_seconds, 3),
            "association": {
                k: round(v, 3) if isinstance(v, float) else v for k, v in self.association.items()
            },
            "stages_s": {k: round(v, 3) for k, v in self.stages_s.items()},
            "elapsed_s": round(self.elapsed_s, 3),
            "cpu_s": {k: round(v, 3) for k, v in self.cpu_s.items()},
            "detections_per_s": round(self.acoustic_detections / self.elapsed_s, 1)
            if self.elapsed_s
            else None,
            "events_path": self.events_path,
            "agreement": self.agreement,
            "ledger": self.ledger,
        }


class _Clock:
    """Wall time between laps, by name."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = self.laps.get(name, 0.0) + now - self._last
        self._last = now


def _agreement_reference(agreement: str | Path) -> str:
    """A bundled agreement's name as given; a file as its absolute path (for `report`)."""
    path = Path(agreement)
    return str(path.resolve()) if path.exists() else str(agreement)


def sign_run_head(store: Store, key: Ed25519PrivateKey | None) -> dict[str, Any]:
    """The evidence ledger's state after a run, its tree head signed with `key` (the monitor's,
    from `ledger.key_path`); without a key, says how to make one."""
    ledger = store.ledger
    if ledger is None:
        return {"enabled": False}
    if key is None:
        head = ledger.head()
        return {
            "tree_size": head.tree_size,
            "root_hash": head.root_hash.hex(),
            "signed": False,
            "note": "no key: make one with `truceline keys init KEYFILE`, then set "
            "ledger.key_path (or TRUCELINE_KEY) to sign a tree head after each run",
        }
    head = ledger.sign_head(key)
    return {
        "tree_size": head.tree_size,
        "root_hash": head.root_hash.hex(),
        "signed": True,
        "key_id": head.key_id,
    }


_ACOUSTIC_KINDS = frozenset({"acoustic", "weather"})
_RADAR_KINDS = frozenset({"radar_track", "radar_plot"})


def _acoustic_stage(sensors: list[Sensor], settings: Settings) -> AcousticStage | StageWorker:
    """The acoustic stage, in a worker process when `pipeline.workers` is 2 (same events)."""
    return _stage(partial(AcousticStage, sensors, settings, live=False), "acoustic", settings)


def _radar_stage(
    sensors: list[Sensor], settings: Settings, terms: Agreement
) -> RadarStage | StageWorker:
    """The radar stage, in a worker process when `pipeline.workers` is 2 and
    `pipeline.radar_worker` is on (same events)."""
    make = partial(RadarStage, sensors, settings, terms)
    return _stage(make, "radar", settings, worker=settings.pipeline.radar_worker)


def _stage(make: Callable[[], Any], name: str, settings: Settings, worker: bool = True) -> Any:
    """`make()`'s stage in a worker process (`StageWorker`) when `pipeline.workers` is 2 (and
    `worker`), else in this one; either way a context manager giving a stage."""
    if worker and settings.pipeline.workers >= 2:
        backlog = max(1, settings.pipeline.worker_backlog // WORKER_BATCH)
        return StageWorker(make, name=name, queue_batches=backlog)
    return nullcontext(make())


EVIDENCE_BLOCK = 2000
"""Events whose evidence the merge reads from the store at once when the acoustic stage did
not hand it on (`HeldArrivals`)."""


def _merged(
    acoustic: AcousticResult,
    radar_events: list[Event],
    counts: RadarCounts,
    store: Store,
    sensor_list: list[Sensor],
    settings: Settings,
) -> list[Event]:
    """The acoustic stage's events and the radar stage's merged: fused where they are one
    shot, mixtures the radar accounts for explained away, second events of one shot removed,
    shots sent back alone merged again. Fills the radar stage's `counts` of each."""
    # The acoustic events' arrivals, as the acoustic stage handed them on (others, such as
    # events the merge makes, are read from the store): what the joint fit of both merges
    # and explaining away (below) read.
    held = HeldArrivals(
        store.acoustic_arrivals,
        acoustic.events,
        sensor_list,
        block=EVIDENCE_BLOCK,
        columns=acoustic.arrivals,
    )
    # The gates of both merges: fusion's, and the joint fit's on the arrivals.
    r = settings.radar
    gates = {
        "arrivals": held if r.joint_search_m > 0 else None,
        "locate": settings.locate,
        "joint_search_m": r.joint_search_m,
    }
    events, merged = merge(
        acoustic.events,
        radar_events,
        r.merge_sigma,
        r.merge_window_s,
        r.standalone_shots,
        **gates,
    )
    counts.merged = merged
    # Mixtures of rounds the radar accounts for (docs/methods.md, Radar, "Explaining away").
    test = ArrivalTest.of(settings)
    events, dissolved = explain_away(
        events,
        held,
        test,
        radar_shots={e.id: e for e in radar_events},
    )
    counts.explained_away = len(dissolved)
    if settings.radar.explain_second_events:
        # Second events of one shot (docs/methods.md, Radar, "Second events of one shot").
        events, seconds = explain_second_events(events, held, test)
        counts.second_events = len(seconds)
    if settings.radar.merge_leftovers and counts.explained_away:
        # Shots sent back alone from dissolved mixtures, beside their rounds' own events.
        events, counts.merged_again = merge_leftovers(
            events, {e.id for e in radar_events}, r.merge_sigma, r.merge_window_s, **gates
        )
    return events


def _attributed(
    events: list[Event],
    terms: Agreement,
    settings: Settings,
    sensor_list: list[Sensor],
    snr: dict[str, tuple[str, float]],
    created_ns: int | None = None,
) -> tuple[list[Event], list[Violation]]:
    """The merged events attributed and checked against the agreement's rules (with the
    loudness evidence `snr`: observation id -> (sensor, SNR dB)), and their violations; under
    ingest's garbage-collector settings, as it makes many small records, none in cycles."""
    with bulk_collection():
        return AttributionStage(
            terms,
            settings.attribute,
            shots=settings.shots,
            sensors=sensor_list,
            snr_by_observation=snr,
        ).apply(events, created_ns)


def process(
    agreement: str | Path,
    sensors: str | Path,
    observations: str | Path,
    out_dir: str | Path,
    settings: Settings,
    *,
    progress: bool = False,
) -> tuple[ProcessSummary, list[Event]]:
    """Run the pipeline on files; write `out_dir/events.geojson` and fill the store."""
    started = time.perf_counter()
    cpu_started = time.process_time()
    # Validated up front: a broken agreement stops the run (exit 2).
    terms = load_agreement(agreement)
    sensor_list = read_sensors(sensors)
    key = None
    if settings.ledger.enabled and settings.ledger.key_path:
        key = load_private_key(settings.ledger.key_path)  # before the work, not after it
    out = Path(out_dir)
    other: dict[str, int] = {}  # kinds no stage processes yet
    with open_store(
        settings.store.url,
        batch_size=settings.store.batch_size,
        ledger=settings.ledger.enabled,
    ) as store:
        run_id = store.begin_run("process", settings.model_dump(mode="json"))
        ingestion = Ingestion(
            store,
            sensor_list,
            observations,
            run_id=run_id,
            settings=settings,
            progress=progress,
        )
        snr: dict[str, tuple[str, float]] = {}  # the weapon class's loudness evidence
        clock = _Clock()
        with (
            _acoustic_stage(sensor_list, settings) as stage,
            _radar_stage(sensor_list, settings, terms) as radar,
        ):
            # Both workers (if any) are forked before ingest, so they share nothing it makes.
            with store.bulk_load():
                with bulk_collection():  # in this process only: the workers are forked already
                    for batch in ingestion.batches():
                        for obs in batch:
                            kind = obs.kind
                            if kind in _RADAR_KINDS:
                                radar.feed(obs)
                            elif kind in _ACOUSTIC_KINDS:
                                stage.feed(obs)
                                if kind == "acoustic" and obs.fields.get("snr_db") is not None:
                                    snr[obs.id] = (obs.sensor, float(obs.fields["snr_db"]))
                            else:
                                other[kind] = other.get(kind, 0) + 1
                clock.lap("ingest")
                for worker in (radar, stage):
                    if isinstance(worker, StageWorker):
                        worker.end_input()  # each finishes its stage while this process goes on
                # In one process, the radar stage here; else what follows (the indexes of a
                # fresh SQLite store, `Store.bulk_load`) is built while the workers finish.
                if not isinstance(radar, StageWorker):
                    radar_events = radar.finish()
                    clock.lap("radar")
            clock.lap("store indexes")
            if isinstance(radar, StageWorker):
                radar_events = radar.finish()
                clock.lap("radar (rest)")
            acoustic = stage.finish()
            clock.lap("acoustic (rest)")
        with bulk_collection():  # it makes many small records, none in cycles
            events = _merged(acoustic, radar_events, radar.counts, store, sensor_list, settings)
        clock.lap("merge")
        events, violations = _attributed(events, terms, settings, sensor_list, snr)
        clock.lap("attribution")
        path = out / "events.geojson"
        # The file is written by a forked child while this process stores the events (the
        # two are independent, and this process would otherwise do both in turn); its run
        # time is up to here (it cannot count itself), the summary's includes everything.
        ready_s = time.perf_counter() - started
        run = {"id": run_id, "elapsed_s": round(ready_s, 3), "truceline": __version__}
        write = partial(write_events, path, events, run=run)
        with ChildTask(write, name="events file", fork=settings.pipeline.workers >= 2) as file:
            store.add_events(events, run_id=run_id)  # with their violations
            clock.lap("store events")
            file.wait()
        summary = ProcessSummary(run_id=run_id, ingest=ingestion.summary)
        summary.acoustic_detections = stage.counts.acoustic
        summary.weather_reports = stage.counts.weather
        summary.not_yet_processed = {**stage.counts.other_kinds, **other}
        summary.radar = {
            k: v if not isinstance(v, float) else round(v, 3) for k, v in vars(radar.counts).items()
        }
        summary.events = len(events)
        summary.launches = sum(e.type == "launch" for e in events)
        summary.impacts = sum(e.type == "impact" for e in events)
        summary.paired = sum(e.paired is not None for e in events) // 2
        summary.violations = len(violations)
        summary.attributed = sum(bool(e.attribution) for e in events)
        summary.associate_seconds = stage.counts.seconds
        summary.association = dict(stage.counts.association)
        summary.events_path = str(path)
        summary.agreement = _agreement_reference(agreement)
        summary.ledger = sign_run_head(store, key)
        clock.lap("events file, ledger head")  # the rest of the file's writing, if any
        summary.stages_s = clock.laps
        summary.elapsed_s = time.perf_counter() - started
        summary.cpu_s = {"main": time.process_time() - cpu_started}
        for name, part in (("acoustic worker", stage), ("radar worker", radar)):
            if isinstance(part, StageWorker) and part.cpu_s is not None:
                summary.cpu_s[name] = part.cpu_s
        store.finish_run(run_id, summary.as_dict())
    return summary, events
