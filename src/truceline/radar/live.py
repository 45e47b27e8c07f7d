"""Live fusion of the acoustic and radar streams: one published event per shot, at once.

A live monitor publishes an event as soon as either network has located it: a counter-battery
radar's backtracked track (its launch and predicted impact, `RadarStage.flush_shots`) or an
acoustic event (`AcousticStage.records`). The radar often has a shot first: it tracks a round in
flight, while the acoustic event of a round in a ripple salvo waits for enough of its own
detections to stand apart from its neighbours' (docs/performance.md, "where the streaming
latency's tail comes from"). `LiveFusion` joins each new part to the published event of the same
shot, with the gate of `truceline.radar.stage.merge` (origin times within `merge_window_s` or
the gate's reach, origins within `merge_sigma` sigma of the combined (east, north, time)
covariance; docs/methods.md, Radar, "Merging"):

- a radar shot joins another radar's shot of the same type whose fitted flight agrees with its
  own at a common time (the test of `join_radar_shots`, `_flight_distance2`: rounds of a ripple
  share a launch point within its uncertainty but are hundreds of metres apart in the air),
  the closest in flight; failing that, the closest gated acoustic event no radar shot has
  joined yet: a revision of that event;
- an acoustic event not yet joined joins the closest gated event made of radar shots alone;
  failing that, one whose detections are arrivals of two or more radar-located published
  events (`truceline.radar.explain`, the test of `explain_away`) is a mixture of rounds the
  radar has already published, and is held back (`held`) until a revision makes it more;
- an acoustic event already joined revises its event; a withdrawn one leaves it (the radar's
  shots stay published) or, alone, withdraws it.

A published event keeps the id of its first part, so a consumer sees one event refined as its
parts arrive; its origin is the parts' fusion as `merge` makes it (`_fuse`, several radars'
shots by `_fuse_radar`). Joining is greedy, in arrival order, and once made is kept: the live
stream is the first answer, and `truceline process` on the whole input (one-to-one assignment,
joint fits of arrivals, explaining mixtures away, batteries) is the record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from truceline.config import RadarSettings
from truceline.records import Event

from .explain import ArrivalTest, explain_away
from .joint import ArrivalsOf
from .stage import (
    Flight,
    _distance2,
    _flight_distance2,
    _fuse,
    _fuse_radar,
    in_time_reach,
)
from .stage import _time_variance as _time_variances

NS = 1_000_000_000
SLOT_NS = 10 * NS
"""Width of the time slots the published events are indexed by (origin time)."""


@dataclass(frozen=True)
class Publication:
    """One message of the live stream: an event `created`, `revised` (the same id, new
    content) or `withdrawn` (its last content), and the part it is about: the id of the
    acoustic event or radar shot that arrived, changed or, `left`, was withdrawn."""

    action: Literal["created", "revised", "withdrawn"]
    event: Event
    part: str
    left: bool = False


@dataclass
class _Published:
    """A published event and its parts: at most one acoustic event and radar shots of
    different radars."""

    id: str
    acoustic: Event | None = None
    radar: list[Event] = field(default_factory=list)
    event: Event | None = None
    slot: int = 0

    def anchor(self) -> Event:
        """What a new part is gated against: the acoustic event (the gate is tuned on its
        locator covariance) or, without one, the radar shots fused."""
        assert self.event is not None
        return self.acoustic if self.acoustic is not None else self.event

    def radars(self) -> set[str]:
        return {str(r.properties.get("radar")) for r in self.radar}


class LiveFusion:
    """Joins the acoustic and radar streams' events of one shot as they are published."""

    def __init__(self, radar: RadarSettings, test: ArrivalTest | None = None):
        """`test`: how a detection is explained by a known event's arrival (`ArrivalTest.of`);
        without it, no mixture is held back."""
        self.test = test
        self.held: set[str] = set()
        """Acoustic events held back as mixtures of rounds the radar has published."""
        self.sigma = radar.merge_sigma
        self.window_s = radar.merge_window_s
        self.retain_ns = round(radar.live_retain_s * NS)
        self.kernel = radar.kernel
        self._flights: dict[str, Flight] = {}  # radar shot id -> its fitted flight
        self._of_part: dict[str, _Published] = {}  # part id -> its published event
        self._slots: dict[int, set[str]] = {}  # time slot -> published ids there
        self._events: dict[str, _Published] = {}
        self._var_max = 0.0  # the largest origin-time variance published, s^2
        self._newest_ns: int | None = None
        self.counts = {"joined_radar": 0, "joined_acoustic": 0, "retired": 0}

    # -- the two streams -------------------------------------------------------------------------

    def radar(self, shots: Iterable[Event], flights: Mapping[str, Flight]) -> list[Publication]:
        """Radar launches and impacts just backtracked, with the fitted flight behind each
        (`RadarStage.flush_shots`): each joins a published event or is a new one."""
        out: list[Publication] = []
        for shot in shots:
            flight = flights.get(shot.id)
            if flight is not None:
                self._flights[shot.id] = flight
            best = self._same_flight(shot, flight)
            if best is None:
                best = self._closest(shot, lambda p: p.acoustic is not None and not p.radar)
            mine, action = self._joined(best, shot.id, "joined_radar")
            mine.radar.append(shot)
            out.append(self._publish(mine, action, shot.id))
        return out

    def acoustic(
        self,
        records: Sequence[Event],
        withdrawn: Iterable[str] = (),
        arrivals: ArrivalsOf | None = None,
    ) -> list[Publication]:
        """Acoustic events a batch created or revised (`AcousticStage.records`), the ids of
        those it withdrew, and the records' detections (`arrivals`: without them, no mixture
        is held back)."""
        out: list[Publication] = []
        for record in records:
            mine = self._of_part.get(record.id)
            if mine is not None:
                mine.acoustic = record
                out.append(self._publish(mine, "revised", record.id))
                continue
            best = self._closest(record, lambda p: p.acoustic is None)
            if best is None and arrivals is not None and self._mixture(record, arrivals):
                self.held.add(record.id)
                continue
            self.held.discard(record.id)
            mine, action = self._joined(best, record.id, "joined_acoustic")
            mine.acoustic = record
            out.append(self._publish(mine, action, record.id))
        for part in withdrawn:
            self.held.discard(part)
            mine = self._of_part.pop(part, None)
            if mine is None or mine.acoustic is None or mine.acoustic.id != part:
                continue
            mine.acoustic = None
            if mine.radar:
                out.append(self._publish(mine, "revised", part, left=True))
            else:
                self._drop(mine)
                out.append(Publication("withdrawn", mine.event, part, left=True))
        return out

    def published_id(self, part: str) -> str | None:
        """The id under which a part (an acoustic event's or a radar shot's id) is published."""
        mine = self._of_part.get(part)
        return mine.id if mine is not None else None

    # -- inside ------------------------------------------------------------------------------------

    def _joined(self, best: _Published | None, part: str, count: str) -> tuple[_Published, str]:
        """The event `part` joins (`best`, counted under `count`) or a new one of its own, and
        the action its publication is."""
        self._of_part[part] = mine = best if best is not None else _Published(id=part)
        if best is None:
            return mine, "created"
        self.counts[count] += 1
        return mine, "revised"

    def _publish(
        self, mine: _Published, action: str, part: str, *, left: bool = False
    ) -> Publication:
        radar = None
        for shot in mine.radar:
            radar = shot if radar is None else _fuse_radar(radar, shot)
        if mine.acoustic is not None:
            event = _fuse(mine.acoustic, radar) if radar is not None else mine.acoustic
        else:
            assert radar is not None
            event = radar
        if event.paired is not None:
            partner = self._of_part.get(event.paired)
            event = replace(event, paired=partner.id if partner is not None else event.paired)
        mine.event = replace(event, id=mine.id)
        self._index(mine)
        return Publication(action, mine.event, part, left)  # type: ignore[arg-type]

    def _index(self, mine: _Published) -> None:
        anchor = mine.anchor()
        slot = anchor.time_ns // SLOT_NS
        if self._events.get(mine.id) is mine and slot != mine.slot:
            self._slots.get(mine.slot, set()).discard(mine.id)
        self._events[mine.id] = mine
        mine.slot = slot
        self._slots.setdefault(slot, set()).add(mine.id)
        self._var_max = max(self._var_max, _time_variance(anchor))
        if self._newest_ns is None or anchor.time_ns > self._newest_ns:
            self._newest_ns = anchor.time_ns
            self._retire()

    def _drop(self, mine: _Published) -> None:
        self._events.pop(mine.id, None)
        self._slots.get(mine.slot, set()).discard(mine.id)

    def _retire(self) -> None:
        """Forget published events whose origin is more than `live_retain_s` before the
        newest: parts arriving later start events of their own."""
        assert self._newest_ns is not None
        below = (self._newest_ns - self.retain_ns) // SLOT_NS
        for slot in [s for s in self._slots if s < below]:
            for pid in self._slots.pop(slot):
                mine = self._events.pop(pid)
                parts = [mine.acoustic] if mine.acoustic is not None else []
                for part in parts + mine.radar:
                    self._of_part.pop(part.id, None)
                    self._flights.pop(part.id, None)
                self.counts["retired"] += 1

    def _mixture(self, record: Event, arrivals: ArrivalsOf) -> bool:
        """Whether `record`'s detections are, `explain_share` of them or more, arrivals of two
        or more radar-located published events (`explain_away`'s test)."""
        if self.test is None or self.test.sigma <= 0:
            return False
        lo = (record.time_ns - round(self.test.reach_s * NS)) // SLOT_NS
        hi = (record.time_ns + round(self.test.reach_s * NS)) // SLOT_NS
        known = [
            mine.event
            for slot in range(lo, hi + 1)
            for pid in sorted(self._slots.get(slot, ()))
            if (mine := self._events[pid]).radar and mine.event is not None
        ]
        if len(known) < 2:
            return False
        _, dissolved = explain_away([record, *known], arrivals, self.test)
        return any(x.event == record.id for x in dissolved)

    def _same_flight(self, shot: Event, flight: Flight | None) -> _Published | None:
        """The published event holding another radar's shot of the same type whose flight
        agrees with `flight` within the gate, the closest in flight; None if none does."""
        if flight is None:
            return None
        radar_id = str(shot.properties.get("radar"))
        candidates: list[tuple[_Published, Flight]] = []
        for mine in self._near(shot):
            if radar_id in mine.radars():
                continue
            other = next(
                (
                    self._flights[r.id]
                    for r in mine.radar
                    if r.type == shot.type and r.id in self._flights
                ),
                None,
            )
            if other is not None:
                candidates.append((mine, other))
        if not candidates:
            return None
        d2 = _flight_distance2([f for _, f in candidates], [flight] * len(candidates), self.kernel)
        best = int(np.argmin(d2))
        return candidates[best][0] if d2[best] < self.sigma**2 else None

    def _near(self, part: Event) -> list[_Published]:
        """The published events whose anchor is within the gate's reach of `part` in time, in
        the order of their ids."""
        var = _time_variance(part)
        reach_ns = round(max(self.window_s, self.sigma * (var + self._var_max) ** 0.5) * NS)
        lo = (part.time_ns - reach_ns) // SLOT_NS
        hi = (part.time_ns + reach_ns) // SLOT_NS
        ids = sorted(pid for slot in range(lo, hi + 1) for pid in self._slots.get(slot, ()))
        out = []
        for pid in ids:
            mine = self._events[pid]
            anchor = mine.anchor()
            dt = (anchor.time_ns - part.time_ns) / NS
            if in_time_reach(dt, self.window_s, self.sigma, var + _time_variance(anchor)):
                out.append(mine)
        return out

    def _closest(self, part: Event, allowed: Callable[[_Published], bool]) -> _Published | None:
        """The published event, among those `allowed`, whose anchor is closest to `part` within
        the gate (`_distance2`); None if none is."""
        best, best_d2 = None, self.sigma**2
        for mine in self._near(part):
            if allowed(mine):
                d2 = _distance2(mine.anchor(), part)
                if d2 < best_d2:
                    best, best_d2 = mine, d2
        return best


def _time_variance(event: Event) -> float:
    """The origin-time variance (s^2) the gate uses (`truceline.radar.stage._time_variance`)."""
    return float(_time_variances((event,))[0])
