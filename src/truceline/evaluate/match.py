"""Matching located events to the true sources that caused them (docs/methods.md, Evaluation).

**Evidence rule** (the default). Each event lists the observations it rests on; each true source
lists the observations it caused. An event's candidate is the source of its class that caused the
largest share of its distinct evidence, if that share exceeds `min_share` (0.5, so at most one
source qualifies). A source claimed by several events goes to the one sharing the most
observations with it, ties to the nearer in origin time, then the smaller event id; the others are
*duplicates*. An event whose evidence is mostly in no source's list is a *false event* (false
alarms); one with neither majority is *unresolved*.

**Proximity rule** (the fallback for events without evidence, or for every event if asked): the
candidates of an event are the unmatched sources of its class within `window_s` in time and
`distance_m` (geodesic) in space; pairs are taken greedily in ascending order of
hypot(dt / window_s, d / distance_m), each event and source at most once.

Classes say which truth types an event type can represent: `launch` and `impact` events match
`launch` and `impact` sources (so that a wrong launch/impact label is scored, not unmatched);
`air-track` events match `air-track` sources. Other truth types (such as `parked-weapon`) take no
part; events of other types are left unmatched (`unknown-type`).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from truceline.evaluate.inputs import EventFeature, TruthSource
from truceline.geo.projection import geodesic_distance_m

EVENT_CLASSES: dict[str, frozenset[str]] = {
    "acoustic": frozenset({"launch", "impact"}),
    "air": frozenset({"air-track"}),
}
"""Class name -> the event types it holds, which are also the truth types its events match."""

Rule = Literal["auto", "evidence", "proximity"]

# Reasons an event is left unmatched.
FALSE_ALARMS = "false-alarms"
"""More than half of the evidence is in no truth source's list."""
DUPLICATE = "duplicate"
"""The majority source was matched to another event with more shared evidence."""
NO_MAJORITY = "no-majority"
"""No source caused more than half of the evidence, nor are false alarms the majority."""
NO_EVIDENCE = "no-evidence"
"""Evidence rule: the event lists no evidence."""
NOTHING_NEAR = "nothing-near"
"""Proximity rule: no unmatched source of the class within the time window and distance."""
UNKNOWN_TYPE = "unknown-type"
"""The event's type belongs to no class."""
NO_ORIGIN = "no-origin"
"""Proximity rule: the event has no time or no position."""

FALSE_REASONS = frozenset({FALSE_ALARMS, NOTHING_NEAR})
"""Reasons that make an event a false event (as opposed to a duplicate or an unresolved one)."""


def event_class(event_type: str) -> str | None:
    """The class (`acoustic`, `air`) an event or truth type belongs to, None if none."""
    for name, types in EVENT_CLASSES.items():
        if event_type in types:
            return name
    return None


@dataclass(frozen=True, slots=True)
class MatchSettings:
    """How events are matched: `rule` `auto` uses evidence where an event has it and proximity
    otherwise; `min_share` is the share of evidence a source must exceed; the proximity rule's
    time window (s) and distance (m)."""

    rule: Rule = "auto"
    min_share: float = 0.5
    window_s: float = 5.0
    distance_m: float = 1000.0


@dataclass(frozen=True, slots=True)
class Match:
    """One event matched to one source. `shared` observations in both lists and their `share` of
    the event's distinct evidence (evidence rule; 0 for proximity); `rule` that made the match."""

    event: EventFeature
    source: TruthSource
    rule: str
    shared: int = 0
    share: float = 0.0


@dataclass
class Matching:
    """The result of matching: matches, the reason each unmatched event was left out, and the
    sources that took part (those of a class), by class."""

    matches: list[Match]
    unmatched: dict[str, str]
    events: list[EventFeature]
    sources: list[TruthSource]
    settings: MatchSettings
    by_event: dict[str, Match] = field(init=False)
    by_source: dict[str, Match] = field(init=False)

    def __post_init__(self) -> None:
        self.by_event = {m.event.id: m for m in self.matches}
        self.by_source = {m.source.id: m for m in self.matches}

    def matches_of(self, cls: str) -> list[Match]:
        """Matches whose event is of class `cls`."""
        types = EVENT_CLASSES[cls]
        return [m for m in self.matches if m.event.type in types]

    def events_of(self, cls: str) -> list[EventFeature]:
        types = EVENT_CLASSES[cls]
        return [e for e in self.events if e.type in types]

    def sources_of(self, cls: str) -> list[TruthSource]:
        types = EVENT_CLASSES[cls]
        return [s for s in self.sources if s.type in types]

    def rule_counts(self) -> dict[str, int]:
        """Number of matches made by each rule."""
        return dict(Counter(m.rule for m in self.matches))

    def describe(self) -> str:
        """One sentence saying which rule was used, for the report."""
        s = self.settings
        counts = self.rule_counts()
        evidence = (
            f"evidence rule: an event matches the source that caused more than "
            f"{s.min_share:.0%} of its evidence, one event per source"
        )
        proximity = (
            f"proximity rule: nearest unmatched source of the class within {s.window_s:g} s "
            f"and {s.distance_m:g} m"
        )
        if s.rule == "evidence":
            return evidence
        if s.rule == "proximity":
            return proximity
        used = [f"{evidence} ({counts.get('evidence', 0):,} matches)"]
        if counts.get("proximity") or any(not e.evidence for e in self.events):
            used.append(
                f"{proximity}, for events without evidence ({counts.get('proximity', 0):,} matches)"
            )
        return "; ".join(used)


def _time_gap_s(event: EventFeature, source: TruthSource) -> float:
    if event.time_ns is None or source.time_ns is None:
        return math.inf
    return abs(event.time_ns - source.time_ns) / 1e9


def match_by_evidence(
    events: Sequence[EventFeature],
    sources: Sequence[TruthSource],
    min_share: float = 0.5,
    all_sources: Sequence[TruthSource] | None = None,
) -> tuple[list[Match], dict[str, str]]:
    """Match events to `sources` by shared observations (module docstring). `all_sources` (default
    `sources`) decides which observations are false alarms: those in none of their lists.
    Events of no class are `unknown-type`. Returns the matches and {event id: reason} for the
    events left unmatched."""
    owners: dict[str, list[int]] = defaultdict(list)
    for i, source in enumerate(sources):
        for obs in source.observations:
            owners[obs].append(i)
    caused: set[str] = set(owners)
    for source in all_sources or ():
        caused.update(source.observations)
    classes = [event_class(s.type) for s in sources]

    unmatched: dict[str, str] = {}
    candidates: dict[int, list[tuple[int, int, float]]] = defaultdict(list)  # source -> events
    for ei, event in enumerate(events):
        cls = event_class(event.type)
        if cls is None:
            unmatched[event.id] = UNKNOWN_TYPE
            continue
        evidence = list(dict.fromkeys(event.evidence))
        if not evidence:
            unmatched[event.id] = NO_EVIDENCE
            continue
        n = len(evidence)
        counts: Counter[int] = Counter()
        n_false = 0
        for obs in evidence:
            if obs not in caused:
                n_false += 1
            for si in owners.get(obs, ()):
                if classes[si] == cls:
                    counts[si] += 1
        if n_false / n > min_share:
            unmatched[event.id] = FALSE_ALARMS
            continue
        best = max(
            counts.items(),
            key=lambda kv: (kv[1], -_time_gap_s(event, sources[kv[0]])),
            default=None,
        )
        if best is None or best[1] / n <= min_share:
            unmatched[event.id] = NO_MAJORITY
            continue
        candidates[best[0]].append((ei, best[1], best[1] / n))

    matches: list[Match] = []
    for si, claims in candidates.items():
        source = sources[si]
        claims.sort(key=lambda c: (-c[1], _time_gap_s(events[c[0]], source), events[c[0]].id))
        ei, shared, share = claims[0]
        matches.append(Match(events[ei], source, "evidence", shared, share))
        for other, _, _ in claims[1:]:
            unmatched[events[other].id] = DUPLICATE
    matches.sort(key=lambda m: m.event.id)
    return matches, unmatched


def match_by_proximity(
    events: Sequence[EventFeature],
    sources: Sequence[TruthSource],
    window_s: float = 5.0,
    distance_m: float = 1000.0,
) -> tuple[list[Match], dict[str, str]]:
    """Match events to sources of their class by time and place (module docstring). Returns the
    matches and {event id: reason} for the events left unmatched."""
    unmatched: dict[str, str] = {}
    triples: list[tuple[float, int, int]] = []
    by_class: dict[str, list[int]] = defaultdict(list)
    for si, source in enumerate(sources):
        cls = event_class(source.type)
        if cls and source.time_ns is not None and math.isfinite(source.lon + source.lat):
            by_class[cls].append(si)
    tables = {}
    for cls, idx in by_class.items():
        idx.sort(key=lambda i: sources[i].time_ns)
        tables[cls] = (
            np.array(idx, dtype=np.int64),
            np.array([sources[i].time_ns for i in idx], dtype=np.int64),
            np.array([sources[i].lon for i in idx]),
            np.array([sources[i].lat for i in idx]),
        )
    window_ns = int(window_s * 1e9)
    for ei, event in enumerate(events):
        cls = event_class(event.type)
        if cls is None:
            unmatched[event.id] = UNKNOWN_TYPE
            continue
        if event.time_ns is None or not math.isfinite(event.lon + event.lat):
            unmatched[event.id] = NO_ORIGIN
            continue
        unmatched[event.id] = NOTHING_NEAR
        if cls not in tables:
            continue
        idx, times, lons, lats = tables[cls]
        lo = np.searchsorted(times, event.time_ns - window_ns, side="left")
        hi = np.searchsorted(times, event.time_ns + window_ns, side="right")
        if lo == hi:
            continue
        d = geodesic_distance_m(event.lon, event.lat, lons[lo:hi], lats[lo:hi])
        dt = np.abs((times[lo:hi] - event.time_ns) / 1e9)
        near = np.flatnonzero(d <= distance_m)
        cost = np.hypot(dt[near] / window_s, d[near] / distance_m)
        triples.extend((float(c), ei, int(idx[lo + k])) for c, k in zip(cost, near, strict=True))
    triples.sort()
    taken_events: set[int] = set()
    taken_sources: set[int] = set()
    matches: list[Match] = []
    for _, ei, si in triples:
        if ei in taken_events or si in taken_sources:
            continue
        taken_events.add(ei)
        taken_sources.add(si)
        matches.append(Match(events[ei], sources[si], "proximity"))
        del unmatched[events[ei].id]
    matches.sort(key=lambda m: m.event.id)
    return matches, unmatched


def match_events(
    events: Sequence[EventFeature],
    truth: Sequence[TruthSource],
    settings: MatchSettings = MatchSettings(),
) -> Matching:
    """Match events to truth by `settings.rule`: `evidence`, `proximity`, or `auto` (evidence for
    events that carry it, then proximity for the rest against the sources still unmatched)."""
    sources = [s for s in truth if event_class(s.type) is not None]
    events = list(events)
    if settings.rule == "proximity":
        matches, unmatched = match_by_proximity(
            events, sources, settings.window_s, settings.distance_m
        )
    elif settings.rule == "evidence":
        matches, unmatched = match_by_evidence(events, sources, settings.min_share, truth)
    else:
        with_evidence = [e for e in events if e.evidence]
        without = [e for e in events if not e.evidence]
        matches, unmatched = match_by_evidence(with_evidence, sources, settings.min_share, truth)
        if without:
            taken = {m.source.id for m in matches}
            free = [s for s in sources if s.id not in taken]
            more, more_unmatched = match_by_proximity(
                without, free, settings.window_s, settings.distance_m
            )
            matches = sorted(matches + more, key=lambda m: m.event.id)
            unmatched.update(more_unmatched)
    return Matching(matches, unmatched, events, sources, settings)
