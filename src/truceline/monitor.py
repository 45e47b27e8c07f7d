"""The live monitor: accepted observations in arrival order in, a stream of published events out.

The stream form of `truceline process` for the two networks that locate shots: acoustic
detections are associated in batches of `associate.batch_s` (`AcousticStage`, live: salvos still
arriving are published provisionally), counter-battery radar tracks are backtracked as they come
(`RadarStage.flush_shots`), and `LiveFusion` joins the two streams' events of one shot, so an
event is published by whichever network locates it first and refined as the other's part
arrives (`truceline.radar.live`). A driver feeds observations as they arrive and calls
`flush_acoustic` and `flush_radar` when its clock is `associate.batch_s` past the first input
either is holding (`acoustic_pending`, `radar_pending`); `feed` itself publishes an acoustic
batch when a detection comes more than `batch_s` after the batch's first.

Not live yet: air-radar plots (the air tracker smooths whole tracks), batteries of radar launches,
attribution and violations; `held` counts what the monitor did not process, which the file run
(`truceline process`) does. Each stage is one object here; on the stream engine each becomes a
worker and the fusion a consumer of both. `truceline live` replays a file through it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from truceline.agreement.model import Agreement
from truceline.associate.acoustic import WorkingEvent
from truceline.associate.stage import AcousticStage
from truceline.config import Settings
from truceline.radar.explain import ArrivalTest
from truceline.radar.joint import HeldArrivals
from truceline.radar.live import LiveFusion, Publication
from truceline.radar.stage import RadarStage
from truceline.records import Observation, Sensor

_ACOUSTIC_KINDS = frozenset({"acoustic", "weather"})


class LiveMonitor:
    """Acoustic and counter-battery radar events, published as their inputs arrive."""

    def __init__(self, sensors: Sequence[Sensor], settings: Settings, agreement: Agreement):
        self.acoustic = AcousticStage(sensors, settings, live=True)
        self.radar = RadarStage(sensors, settings, agreement, live=True)
        self.fusion = LiveFusion(settings.radar, ArrivalTest.of(settings))
        self.sensors = list(sensors)
        self.held: dict[str, int] = {}
        """Observations by kind that the live monitor does not process."""
        self.acoustic_changes: list[WorkingEvent] = []
        """What the last acoustic batch created, revised or withdrew, before fusion (the
        acoustic stage's own output; empty when the last call ran no acoustic batch)."""

    def feed(self, obs: Observation) -> list[Publication]:
        """Take one accepted observation; what a batch it completed published."""
        kind = obs.kind
        self.acoustic_changes = []
        if kind in _ACOUSTIC_KINDS:
            return self._acoustic(self.acoustic.feed(obs))
        if kind == "radar_track":
            self.radar.feed(obs)
        else:
            self.held[kind] = self.held.get(kind, 0) + 1
        return []

    @property
    def acoustic_pending(self) -> bool:
        """Whether acoustic detections wait for their batch (`flush_acoustic`)."""
        return self.acoustic.pending

    @property
    def radar_pending(self) -> bool:
        """Whether radar tracks wait to be backtracked (`flush_radar`)."""
        return self.radar.pending

    def flush_acoustic(self) -> list[Publication]:
        """Associate the pending acoustic batch now; what it published."""
        self.acoustic_changes = []
        return self._acoustic(self.acoustic.flush_batch())

    def flush_radar(self) -> list[Publication]:
        """Backtrack the pending radar tracks now; what their shots published."""
        return self.fusion.radar(*self.radar.flush_shots())

    def _acoustic(self, changed: list[WorkingEvent]) -> list[Publication]:
        self.acoustic_changes = changed
        if not changed:
            return []
        made = self.acoustic.records([e for e in changed if not e.withdrawn])
        arrivals = HeldArrivals(_none, made.events, self.sensors, columns=made.arrivals)
        gone = [e.id for e in changed if e.withdrawn]
        return self.fusion.acoustic(made.events, gone, arrivals)


def _none(ids: list[str]) -> list:
    """No arrivals to read: a batch's records hold their own (`HeldArrivals` columns)."""
    return []


def replay(
    monitor: LiveMonitor, observations: Iterable[Observation], batch_s: float
) -> Iterator[tuple[int, Publication]]:
    """A file of accepted observations (in the order received) as a live feed on its own clock,
    the latest sensor time seen: each network's pending batch is flushed once the clock is
    `batch_s` past the arrival of its first input, and everything at the end. Yields each
    publication with the clock (ns) when it was made."""
    span = round(batch_s * 1e9)
    opened: dict[str, int | None] = {"acoustic": None, "radar": None}
    flush = {"acoustic": monitor.flush_acoustic, "radar": monitor.flush_radar}
    clock: int | None = None
    for obs in observations:
        clock = obs.time_ns if clock is None else max(clock, obs.time_ns)
        for network, since in sorted(opened.items(), key=lambda kv: kv[1] or 0):
            if since is not None and clock >= since + span:
                opened[network] = None
                for publication in flush[network]():
                    yield since + span, publication
        for publication in monitor.feed(obs):
            yield clock, publication
        if not monitor.acoustic_pending:
            opened["acoustic"] = None
        elif opened["acoustic"] is None:
            opened["acoustic"] = clock
        if monitor.radar_pending and opened["radar"] is None:
            opened["radar"] = clock
    for network in opened:
        for publication in flush[network]():
            yield clock or 0, publication
