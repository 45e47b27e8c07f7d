"""Matching events to true sources: the evidence rule, one event per source, false events, the
proximity fallback."""

from __future__ import annotations

from truceline.evaluate import EventFeature, MatchSettings, TruthSource, match_events
from truceline.evaluate.match import (
    DUPLICATE,
    FALSE_ALARMS,
    NO_EVIDENCE,
    NO_MAJORITY,
    NOTHING_NEAR,
    UNKNOWN_TYPE,
    match_by_evidence,
    match_by_proximity,
)

from .conftest import CENTRE, T0, S, offset


def source(
    sid: str,
    type_: str,
    obs: list[str],
    t_s: float = 0.0,
    at: tuple[float, float] = CENTRE,
    paired: str | None = None,
) -> TruthSource:
    return TruthSource(sid, type_, T0 + int(t_s * S), at[0], at[1], tuple(obs), paired)


def ev(
    eid: str, type_: str, evidence: list[str], t_s: float = 0.0, at: tuple[float, float] = CENTRE
) -> EventFeature:
    return EventFeature(eid, type_, T0 + int(t_s * S), at[0], at[1], None, tuple(evidence))


A = source("A", "launch", ["a1", "a2", "a3", "a4", "a5"])
B = source("B", "impact", ["b1", "b2", "b3", "b4"], t_s=30.0)
PARKED = source("P", "parked-weapon", [])
TRACK = source("T", "air-track", ["r1", "r2", "r3"])
TRUTH = [A, B, PARKED, TRACK]


def test_majority_share_matches():
    m = match_events([ev("E", "launch", ["a1", "a2", "a3", "b1"])], TRUTH)
    assert [(x.event.id, x.source.id) for x in m.matches] == [("E", "A")]
    assert m.matches[0].shared == 3
    assert m.matches[0].share == 0.75
    assert m.matches[0].rule == "evidence"


def test_half_is_not_a_majority():
    m = match_events([ev("E", "launch", ["a1", "a2", "b1", "b2"])], TRUTH)
    assert m.matches == []
    assert m.unmatched == {"E": NO_MAJORITY}


def test_repeated_evidence_counts_once():
    m = match_events([ev("E", "launch", ["a1", "a1", "a1", "b1", "b2"])], TRUTH)
    match = m.by_event["E"]  # distinct evidence a1, b1, b2: B caused two thirds
    assert (match.source.id, match.shared, match.share) == ("B", 2, 2 / 3)


def test_a_wrong_launch_impact_label_still_matches():
    m = match_events([ev("E", "launch", ["b1", "b2", "b3"], t_s=30.0)], TRUTH)
    assert m.by_event["E"].source.id == "B"


def test_one_event_per_source_the_most_shared_wins():
    events = [
        ev("E1", "launch", ["a1", "a2", "a3"]),
        ev("E2", "launch", ["a1", "a2", "a3", "a4"]),
        ev("E3", "launch", ["a5", "a4"]),
    ]
    m = match_events(events, TRUTH)
    assert [(x.event.id, x.source.id) for x in m.matches] == [("E2", "A")]
    assert m.unmatched == {"E1": DUPLICATE, "E3": DUPLICATE}
    assert m.by_source["A"].event.id == "E2"


def test_one_event_per_source_ties_go_to_the_nearer_in_time():
    events = [
        ev("E1", "launch", ["a1", "a2"], t_s=2.0),
        ev("E2", "launch", ["a3", "a4"], t_s=-0.5),
        ev("E3", "launch", ["a5", "a1"], t_s=1.0),
    ]
    m = match_events(events, TRUTH)
    assert m.by_source["A"].event.id == "E2"
    assert m.unmatched == {"E1": DUPLICATE, "E3": DUPLICATE}


def test_false_events_rest_mostly_on_false_alarms():
    events = [
        ev("F", "impact", ["x1", "x2", "x3", "a1"]),  # 3 of 4 in no source's list
        ev("G", "impact", ["x1", "x2", "a1", "a2"]),
    ]  # half: not a majority either way
    m = match_events(events, TRUTH)
    assert m.matches == []
    assert m.unmatched == {"F": FALSE_ALARMS, "G": NO_MAJORITY}


def test_observations_of_other_classes_are_not_false_alarms_and_do_not_match():
    # An acoustic event resting on radar plots of an air track: no acoustic source, not false.
    m = match_events([ev("E", "impact", ["r1", "r2", "r3"])], TRUTH)
    assert m.unmatched == {"E": NO_MAJORITY}
    # An air-track event matches the air-track source; launch/impact sources take no part.
    m = match_events(
        [ev("T1", "air-track", ["r1", "r2"]), ev("T2", "air-track", ["a1", "a2"])], TRUTH
    )
    assert [(x.event.id, x.source.id) for x in m.matches] == [("T1", "T")]
    assert m.unmatched == {"T2": NO_MAJORITY}


def test_only_sources_of_scored_types_take_part():
    m = match_events([ev("E", "explosion", ["a1", "a2"])], TRUTH)
    assert m.unmatched == {"E": UNKNOWN_TYPE}
    assert {s.id for s in m.sources} == {"A", "B", "T"}
    assert {s.id for s in m.sources_of("acoustic")} == {"A", "B"}


def test_evidence_rule_leaves_events_without_evidence_unmatched():
    m = match_events([ev("E", "launch", [])], TRUTH, MatchSettings(rule="evidence"))
    assert m.unmatched == {"E": NO_EVIDENCE}


def test_proximity_fallback_for_events_without_evidence():
    near_a = ev("N", "launch", [], t_s=1.0, at=offset(*CENTRE, 10.0, 300.0))
    far = ev("F", "launch", [], t_s=0.0, at=offset(*CENTRE, 10.0, 1500.0))
    late = ev("L", "launch", [], t_s=8.0)
    m = match_events([near_a, far, late], TRUTH)
    assert [(x.event.id, x.source.id, x.rule) for x in m.matches] == [("N", "A", "proximity")]
    assert m.unmatched == {"F": NOTHING_NEAR, "L": NOTHING_NEAR}
    assert "proximity rule" in m.describe()


def test_auto_rule_does_not_give_a_source_twice():
    with_evidence = ev("E", "launch", ["a1", "a2", "a3"])
    without = ev("N", "launch", [], t_s=0.5)
    m = match_events([with_evidence, without], TRUTH)
    assert m.by_source["A"].event.id == "E"
    assert m.unmatched == {"N": NOTHING_NEAR}
    assert m.rule_counts() == {"evidence": 1}


def test_proximity_takes_the_nearest_pairs_first():
    a2 = source("A2", "launch", [], t_s=2.0, at=offset(*CENTRE, 90.0, 100.0))
    e1 = ev("E1", "launch", [], t_s=0.1, at=offset(*CENTRE, 0.0, 20.0))  # at A
    e2 = ev("E2", "launch", [], t_s=1.0, at=offset(*CENTRE, 90.0, 50.0))  # between A and A2
    matches, unmatched = match_by_proximity([e1, e2], [A, a2], window_s=5.0, distance_m=1000.0)
    assert [(x.event.id, x.source.id) for x in matches] == [("E1", "A"), ("E2", "A2")]
    assert unmatched == {}


def test_proximity_rule_for_every_event():
    m = match_events(
        [ev("E", "impact", ["a1", "a2"], t_s=29.0)],
        TRUTH,
        MatchSettings(rule="proximity", window_s=2.0, distance_m=100.0),
    )
    assert m.by_event["E"].source.id == "B"


def test_match_by_evidence_needs_all_sources_for_false_alarms():
    # Without the full truth, an observation of a parked or unscored source counts as false.
    matches, unmatched = match_by_evidence([ev("E", "launch", ["r1", "r2", "a1"])], [A, B])
    assert matches == [] and unmatched == {"E": FALSE_ALARMS}
    matches, unmatched = match_by_evidence(
        [ev("E", "launch", ["r1", "r2", "a1"])], [A, B], all_sources=TRUTH
    )
    assert unmatched == {"E": NO_MAJORITY}
