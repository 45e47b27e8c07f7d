"""Ingest: sensors and observations in; validated, deduplicated and stored; bad input quarantined.

```python
from truceline.ingest import Ingestion, ingest, read_sensors

sensors = read_sensors("sensors.geojson")                  # InputError (exit 2) if broken
summary = ingest(store, sensors, "observations.jsonl", run_id=run_id, settings=settings)

# or, for the processing pipeline: the observations as they are stored, in the order received
ingestion = Ingestion(store, sensors, "observations.jsonl", run_id=run_id, settings=settings)
for batch in ingestion.batches():
    ...                                                      # tuple of Observation
summary = ingestion.summary
```

Nothing is lost: every line is accepted (stored), a duplicate (a re-send of an observation
already accepted in this run or stored by an earlier one: a no-op), quarantined with a reason
(stored in the quarantine table), or blank, and the summary's counts add up to the lines read.
Bad input never raises; only a broken sensors file (configuration) does.
"""

from __future__ import annotations

import gc
import itertools
import os
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from truceline.config import Settings
from truceline.errors import UsageError
from truceline.ingest.observations import (
    OBSERVATION_KINDS,
    ObservationReader,
    ReadCounts,
    TimeWindow,
)
from truceline.ingest.sensors import parse_sensors, read_sensors
from truceline.records import Observation, Quarantined, QuarantineReason, Sensor
from truceline.store import Store
from truceline.timeutil import format_time

__all__ = [
    "GC_THRESHOLD",
    "OBSERVATION_KINDS",
    "IngestSummary",
    "Ingestion",
    "ObservationReader",
    "ReadCounts",
    "TimeWindow",
    "bulk_collection",
    "ingest",
    "parse_sensors",
    "read_sensors",
]

READ_CHUNK_BYTES = 1 << 20
"""Bytes of a file read at a time (whole lines); progress is reported per chunk."""

GC_THRESHOLD = 50_000
"""Allocations of container objects between two young-generation runs of Python's cyclic
garbage collector while ingesting (`bulk_collection`; Python's default is 700)."""


@contextmanager
def bulk_collection(threshold: int = GC_THRESHOLD) -> Iterator[None]:
    """Python's cyclic garbage collector made to run less often while ingesting: the objects
    alive on entry (modules, sensors, stages) are frozen out of its scans (`gc.freeze`) and its
    young generation collected every `threshold` allocations instead of 700. Ingest makes
    millions of records that hold no cycles; with the defaults the collector took about 8 µs of
    CPU a line on line-heavy-day (15% of the main process's ingest), 1.5 µs with this
    (docs/performance.md, Ingest). Garbage in cycles is still collected, less often; the
    collector's settings are restored, and the frozen objects released to it, on exit."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(threshold, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


@dataclass
class IngestSummary:
    """What one ingest did. `accepted + duplicates + quarantined_total + blank == lines`."""

    source: str
    """The observations' source: a path, `<stdin>` or `<lines>`."""
    sensors: int = 0
    """Sensors stored (added or replaced)."""
    lines: int = 0
    blank: int = 0
    accepted: int = 0
    """Observations stored for the first time."""
    duplicates_in_run: int = 0
    """Re-sends of an observation accepted earlier in this run (same id, same content)."""
    duplicates_in_store: int = 0
    """Observations stored already, with the same content, by an earlier run."""
    quarantined: Counter[str] = field(default_factory=Counter)
    """Reason code -> inputs quarantined."""
    examples: dict[str, str] = field(default_factory=dict)
    """Reason code -> the first input quarantined for it, as `source: reason`."""
    unsigned_accepted: int = 0
    """Unsigned observations from sensors with a public key, accepted because
    `ingest.unsigned_policy` is `accept-flagged` (also counted in `accepted`)."""
    window: str = ""
    """The time window applied, in words."""
    seconds: float = 0.0
    """Wall-clock time taken, s."""

    @property
    def duplicates(self) -> int:
        """All re-sends: within the run and against the store."""
        return self.duplicates_in_run + self.duplicates_in_store

    @property
    def quarantined_total(self) -> int:
        return sum(self.quarantined.values())

    def balanced(self) -> bool:
        """Whether every line is accounted for."""
        total = self.accepted + self.duplicates + self.quarantined_total + self.blank
        return total == self.lines

    def as_dict(self) -> dict[str, Any]:
        """For the run's summary in the store and for `--json`."""
        return {
            "source": self.source,
            "sensors": self.sensors,
            "lines": self.lines,
            "blank": self.blank,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "duplicates_in_run": self.duplicates_in_run,
            "duplicates_in_store": self.duplicates_in_store,
            "quarantined": dict(sorted(self.quarantined.items())),
            "quarantined_total": self.quarantined_total,
            "examples": dict(sorted(self.examples.items())),
            "unsigned_accepted": self.unsigned_accepted,
            "window": self.window,
            "seconds": round(self.seconds, 3),
        }


class Ingestion:
    """One ingest run: reads `observations`, stores what is accepted and quarantines the rest.

    `observations` is a path (`-` for standard input) or an iterable of lines (bytes or str).
    `window` fixes the run's time window, `(since_ns, until_ns)` half open; by default it is
    inferred from the data (`TimeWindow`). With `progress`, a progress bar by bytes is drawn on
    standard error for files when it is a terminal.

    `batches()` runs it, yielding each stored batch's observations in the order received: those
    stored now and, unless `new_only`, those an earlier run stored with the same content (so
    processing the same file again sees the same observations). Re-sends within the run and
    conflicting observations are never yielded.
    """

    def __init__(
        self,
        store: Store,
        sensors: Iterable[Sensor],
        observations: str | os.PathLike[str] | Iterable[bytes | str],
        *,
        run_id: str | None,
        settings: Settings | None = None,
        source: str | None = None,
        window: tuple[int, int] | None = None,
        progress: bool = False,
        new_only: bool = False,
    ) -> None:
        self.store = store
        self.sensors = list(sensors)
        self.run_id = run_id
        self.settings = settings or Settings()
        self.observations = observations
        self.progress = progress
        self.new_only = new_only
        if isinstance(observations, str | os.PathLike):
            default_source = (
                "<stdin>" if os.fspath(observations) == "-" else os.fspath(observations)
            )
        else:
            default_source = "<lines>"
        self.reader = ObservationReader(
            self.sensors, self.settings.ingest, source or default_source, window=window
        )
        self.summary = IngestSummary(source=self.reader.source_name)
        self._quarantine: list[Quarantined] = []
        self._started = False

    def batches(self) -> Iterator[tuple[Observation, ...]]:
        """Run the ingest (once), yielding the observations of each stored batch."""
        if self._started:
            raise RuntimeError("an Ingestion runs once; make a new one")
        self._started = True
        start = time.perf_counter()
        batch_size = self.settings.store.batch_size
        self.summary.sensors = self.store.add_sensors(self.sensors)
        pending: list[Observation] = []
        # On a fresh SQLite store, the secondary indexes are built once at the end.
        with self.store.bulk_load(), self._lines() as source_lines:
            for result in self.reader.read_lines(source_lines):
                if type(result) is Observation:
                    pending.append(result)
                    if len(pending) >= batch_size:
                        yield from self._store(pending)
                        pending = []
                else:
                    self._quarantined(result)
            if pending:
                yield from self._store(pending)
            self._flush_quarantine()
        counts = self.reader.counts
        summary = self.summary
        summary.lines, summary.blank = counts.lines, counts.blank
        summary.duplicates_in_run = counts.duplicates
        summary.unsigned_accepted = counts.unsigned_accepted
        summary.window = _describe_window(self.reader.window)
        summary.seconds = time.perf_counter() - start

    def run(self) -> IngestSummary:
        """Run the ingest without looking at the batches; returns the summary."""
        with bulk_collection():
            for _ in self.batches():
                pass
        return self.summary

    # -- internals --------------------------------------------------------------------------

    def _store(self, batch: list[Observation]) -> Iterator[tuple[Observation, ...]]:
        result = self.store.add_observations(batch, run_id=self.run_id, batch_size=len(batch))
        self.summary.accepted += result.inserted
        self.summary.duplicates_in_store += result.duplicates
        conflicting = {observation.id for observation in result.conflicts}
        for observation in result.conflicts:
            self._quarantined(
                Quarantined(
                    raw=observation.raw,
                    reason=f"id {observation.id!r} is stored already, from an earlier run, "
                    f"with different content",
                    reason_code=QuarantineReason.DUPLICATE_CONFLICT,
                    source=self.reader.source_of(observation.id),
                    received_ns=observation.received_ns,
                    observation_id=observation.id,
                )
            )
        if self.new_only and result.duplicates:
            kept = [o for o in batch if o.id not in conflicting and self._stored_now(o)]
        elif conflicting:
            kept = [o for o in batch if o.id not in conflicting]
        else:
            kept = batch
        if kept:
            yield tuple(kept)

    def _stored_now(self, observation: Observation) -> bool:
        """Whether `observation` was stored by this run (its receipt time is the stored one's)."""
        stored = self.store.observation(observation.id)
        return stored is not None and stored.received_ns == observation.received_ns

    def _quarantined(self, item: Quarantined) -> None:
        code = str(item.reason_code)
        self.summary.quarantined[code] += 1
        self.summary.examples.setdefault(code, f"{item.source}: {item.reason}")
        self._quarantine.append(item)
        if len(self._quarantine) >= self.settings.store.batch_size:
            self._flush_quarantine()

    def _flush_quarantine(self) -> None:
        if self._quarantine:
            self.store.quarantine(self._quarantine, run_id=self.run_id)
            self._quarantine = []

    @contextmanager
    def _lines(self) -> Iterator[Iterable[bytes | str]]:
        observations = self.observations
        if not isinstance(observations, str | os.PathLike):
            yield observations
            return
        if os.fspath(observations) == "-":
            yield sys.stdin.buffer
            return
        path = Path(observations)
        try:
            file = open(path, "rb")  # noqa: SIM115 (closed below)
        except OSError as exc:
            raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None
        with file, _progress(self.progress, path) as advance:
            yield itertools.chain.from_iterable(_chunks(file, advance))


def _chunks(file: IO[bytes], advance: Any) -> Iterator[list[bytes]]:
    while lines := file.readlines(READ_CHUNK_BYTES):
        yield lines
        advance(sum(map(len, lines)))


@contextmanager
def _progress(enabled: bool, path: Path) -> Iterator[Any]:
    """A rich progress bar on standard error by bytes of `path`, off when not a terminal;
    yields `advance(n_bytes)`."""
    if not enabled or not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    with Progress(
        TextColumn("ingesting {task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(path.name, total=path.stat().st_size)
        yield lambda n: bar.advance(task, n)


def _describe_window(window: TimeWindow) -> str:
    if window.given is not None:
        text = f"{format_time(window.since_ns)} to {format_time(window.until_ns)} (given)"
    elif window.centre_ns is None:
        text = "none (no observation had a valid time)"
    else:
        centre_s = window.centre_ns - window.centre_ns % 1_000_000_000
        text = (
            f"{format_time(centre_s)} ± {window.half_width_ns / 3_600_000_000_000:g} h "
            f"(median time of the data)"
        )
    if window.future_tolerance_ns is not None:
        text += f", at most {window.future_tolerance_ns / 1e9:g} s after receipt"
    return text


def ingest(
    store: Store,
    sensors: Iterable[Sensor],
    observations: str | os.PathLike[str] | Iterable[bytes | str],
    *,
    run_id: str | None,
    settings: Settings | None = None,
    progress: bool = False,
    source: str | None = None,
    window: tuple[int, int] | None = None,
) -> IngestSummary:
    """Store `sensors`, then read, validate and store `observations` (a path, `-` for standard
    input, or lines), quarantining what is not accepted; see `Ingestion`. Returns the counts."""
    return Ingestion(
        store,
        sensors,
        observations,
        run_id=run_id,
        settings=settings,
        progress=progress,
        source=source,
        window=window,
    ).run()
