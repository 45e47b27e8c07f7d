"""Violation precision against truth: one to one, and substantiated by the evidence."""

from __future__ import annotations

from truceline.agreement import load_agreement
from truceline.evaluate.attribution import violation_counts
from truceline.evaluate.inputs import EventFeature, TruthSource
from truceline.evaluate.match import match_events

S = 1_000_000_000


def test_a_mixture_of_one_partys_breaching_rounds_is_substantiated_not_right():
    """Two rounds of one salvo (both breach no-fire, both RU's): an event of two detections of
    each matches neither round (no majority), so its violation is wrong one to one but rests on
    real breaches; naming the other party, or resting on false alarms, it is neither."""
    agreement = load_agreement("illustrative-2026")
    t0 = agreement.effective_ns + 3600 * S
    rounds = [
        TruthSource(
            f"R{k}", "launch", t0 + k * S // 2, 38.0, 48.0, tuple(f"R{k}-{j}" for j in range(9)),
            party="RU", weapon="mlrs",
        )
        for k in (1, 2)
    ]  # fmt: skip

    def event(eid: str, evidence: tuple[str, ...], party: str) -> EventFeature:
        violation = {"rule": "no-fire", "article": "1", "party": party, "probability": 0.99}
        return EventFeature(
            eid, "launch", t0, 38.0, 48.0, evidence=evidence, violations=(violation,)
        )

    events = [
        event("E1", ("R1-0", "R1-1", "R1-2", "R1-3", "R1-4"), "RU"),  # matches R1: right
        event("E2", ("R1-5", "R2-0", "R2-1", "R1-6"), "RU"),  # no majority: substantiated
        event("E3", ("R2-2", "R2-3", "R1-7", "R1-8"), "UA"),  # the wrong party: neither
        event("E4", ("FA-1", "FA-2", "FA-3", "FA-4"), "RU"),  # false alarms: neither
    ]
    counts = violation_counts(match_events(events, rounds), events, agreement)["no-fire"]
    assert counts.flagged == 4
    assert counts.right == 1
    assert counts.substantiated == 2
