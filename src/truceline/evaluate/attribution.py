"""Scores of violations and attribution against truth (docs/methods.md, Evaluation).

**Truth of violations** follows from the agreement and the true sources, with the rules engine's
own definitions (`truceline.comply.rules`), applied to the true position, time, type and weapon:
a true launch or impact at or after the effective time breaches `no-fire`; a true launch of a
class a `withdrawal` rule names, from within its distance of the line, breaches that rule; a true
launch inside a zone breaches the zone's `zone-exclusion` rule; a true air track whose
`crossings` are not empty breaches `no-crossing`. Parked weapons (`parked-weapon` truth) are seen
by no sensor the pipeline processes yet and take no part.

Per rule: *precision* is the share of events carrying a violation of the rule whose matched
source truly breaches it (an unmatched event counts as wrong); *recall* is the share of truly
breaching sources that were detected (matched to an event) whose event carries the violation;
*recall of all* divides by every truly breaching source, detected or not (no target: detection
limits it). *Substantiated* (no target) counts, besides the right ones, a violation on an event
whose evidence comes mostly (more than half of the observations that a true source caused) from
sources that truly breach the rule, all of the party the violation names: a violation on an
event that mixes the rounds of one launcher's salvo, or on a second event of one round, which
the one-to-one matching counts as wrong. The gap between the two says how many
stated violations rest on real breaches but are not one to one with them.

**Attribution**: an event is attributed right when its most probable party has probability of
more than 0.5 and is the source's party (the party that fired, for an impact too). Accuracy is
given per band of the true source's distance from the line. Calibration uses each matched
event's stated probability of its top party (its confidence; 0 when nothing is attributed)
against whether that party is the true one: the reliability table by the ICD 203 bands, the
expected calibration error over ten equal-width bins, the Brier score over parties (the
undetermined rest counting against the true party), and the share wrong among "almost certain"
(>= 0.95) attributions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely

from truceline.agreement.model import RuleKind
from truceline.attribute.words import ICD_203
from truceline.evaluate.inputs import EventFeature, TruthSource
from truceline.evaluate.match import Match, Matching
from truceline.evaluate.metrics import Context, MetricGroup, Row, Target, fraction, skipped

SHOT_TYPES = ("launch", "impact")
PRECISION_TARGET = Target(low=0.98)
RECALL_TARGET = Target(low=0.98)
FAR_ACCURACY_TARGET = Target(low=0.99)
ECE_TARGET = Target(high=0.02)
ALMOST_CERTAIN_TARGET = Target(high=0.01)
FAR_KM = 1.5
DISTANCE_BANDS_KM = ((0.0, 1.0), (1.0, 1.5), (1.5, 3.0), (3.0, 5.0), (5.0, 10.0), (10.0, math.inf))
ECE_BINS = 10
ALMOST_CERTAIN = 0.95


def true_breaches(sources: Sequence[TruthSource], agreement) -> dict[str, set[str]]:
    """{source id: ids of the rules it truly breaches} (module docstring)."""
    out: dict[str, set[str]] = {s.id: set() for s in sources}
    effective = agreement.effective_ns
    ok = [
        s
        for s in sources
        if s.time_ns is not None and s.time_ns >= effective and math.isfinite(s.lon + s.lat)
    ]
    if not ok:
        return out
    lon = np.array([s.lon for s in ok])
    lat = np.array([s.lat for s in ok])
    dist_km = agreement.distance_to_line_m(lon, lat) / 1e3
    for rule in agreement.rules:
        for i, s in enumerate(ok):
            if (
                (rule.kind is RuleKind.NO_FIRE and s.type in SHOT_TYPES)
                or (
                    rule.kind is RuleKind.WITHDRAWAL
                    and s.type == "launch"
                    and s.weapon in rule.classes
                    and rule.min_distance_km is not None
                    and dist_km[i] < rule.min_distance_km
                )
                or (rule.kind is RuleKind.NO_CROSSING and s.type == "air-track" and s.crossed)
            ):
                out[s.id].add(rule.id)
        if rule.kind is RuleKind.ZONE_EXCLUSION and rule.zone in agreement.zones:
            zone = agreement.zones[rule.zone].geometry
            shapely.prepare(zone)
            inside = shapely.contains_xy(zone, lon, lat)
            for i, s in enumerate(ok):
                if s.type == "launch" and inside[i]:
                    out[s.id].add(rule.id)
    return out


@dataclass(frozen=True, slots=True)
class RuleCounts:
    """Counts behind one rule's precision and recall."""

    flagged: int
    """Events carrying a violation of the rule."""
    right: int
    """... whose matched source truly breaches it."""
    breaching: int
    """True sources breaching the rule."""
    detected: int
    """... matched to an event."""
    found: int
    """... whose event carries the violation."""
    substantiated: int = 0
    """Flagged events whose evidence comes mostly from true breaches of the rule by the party
    the violation names."""


def violation_counts(
    matching: Matching, events: Sequence[EventFeature], agreement
) -> dict[str, RuleCounts]:
    """{rule id: counts} over the agreement's rules (module docstring)."""
    sources = [s for s in matching.sources if s.type in (*SHOT_TYPES, "air-track")]
    truth = true_breaches(sources, agreement)
    by_event = matching.by_event
    by_source = matching.by_source
    stated = {e.id: {v["rule"] for v in e.violations} for e in events}
    named = {(e.id, v["rule"]): v.get("party") for e in events for v in e.violations}
    cause = {o: s for s in matching.sources for o in s.observations}
    out = {}
    for rule in agreement.rules:
        flagged = [e for e in events if rule.id in stated[e.id]]
        right = substantiated = 0
        for e in flagged:
            if e.id in by_event and rule.id in truth.get(by_event[e.id].source.id, ()):
                right += 1
                continue
            causes = [cause[o] for o in e.evidence if o in cause]
            backing = [
                c
                for c in causes
                if rule.id in truth.get(c.id, ()) and c.party == named[(e.id, rule.id)]
            ]
            substantiated += bool(causes) and 2 * len(backing) > len(causes)
        breaching = [sid for sid, rules in truth.items() if rule.id in rules]
        detected = [sid for sid in breaching if sid in by_source]
        found = sum(rule.id in stated.get(by_source[sid].event.id, ()) for sid in detected)
        out[rule.id] = RuleCounts(
            len(flagged), right, len(breaching), len(detected), found, right + substantiated
        )
    return out


def violation_rows(
    matching: Matching, events: Sequence[EventFeature], context: Context
) -> list[Row]:
    """Precision and recall of violations per rule, and the share naming the right party."""
    agreement = context.agreement
    if agreement is None:
        return [skipped("violations", "violations", "no agreement (--agreement)")]
    counts = violation_counts(matching, events, agreement)
    by_event = matching.by_event
    rows: list[Row] = []
    for rule in agreement.rules:
        c = counts[rule.id]
        label = f"{rule.id} (art. {rule.article})"
        rows.append(
            fraction(
                f"precision_{rule.id}",
                f"{label} precision",
                c.right,
                c.flagged,
                PRECISION_TARGET,
                "no violations of this rule stated",
            )
        )
        rows.append(
            fraction(
                f"recall_{rule.id}",
                f"{label} recall (detected sources)",
                c.found,
                c.detected,
                RECALL_TARGET,
                "no detected source breaches this rule",
            )
        )
        rows.append(
            fraction(
                f"substantiated_{rule.id}",
                f"{label} substantiated (evidence mostly from its true breaches)",
                c.substantiated,
                c.flagged,
                empty="no violations of this rule stated",
            )
        )
        rows.append(
            fraction(
                f"recall_all_{rule.id}",
                f"{label} recall (all sources)",
                c.found,
                c.breaching,
                empty="no source breaches this rule",
            )
        )
    named = [
        (v, by_event[e.id].source)
        for e in events
        if e.id in by_event
        for v in e.violations
        if v.get("party")
    ]
    rows.append(
        fraction(
            "violation_party",
            "violations naming the right party",
            sum(v["party"] == s.party for v, s in named),
            len(named),
            empty="no violations name a party on matched events",
        )
    )
    return rows


@dataclass(frozen=True, slots=True)
class Scored:
    """One matched event's stated attribution against its source."""

    match: Match
    confidence: float
    correct: bool
    brier: float
    distance_km: float


def scored_events(matching: Matching, context: Context) -> list[Scored]:
    matches = [
        m for m in matching.matches if m.source.party and m.event.type in (*SHOT_TYPES, "air-track")
    ]
    if not matches:
        return []
    lon = np.array([m.source.lon for m in matches])
    lat = np.array([m.source.lat for m in matches])
    dist_km = context.agreement.distance_to_line_m(lon, lat) / 1e3
    parties = [p.id for p in context.agreement.parties]
    out = []
    for m, d in zip(matches, dist_km, strict=True):
        att = m.event.attribution
        top, top_p = max(att.items(), key=lambda kv: (kv[1], kv[0]), default=("", 0.0))
        correct = bool(top) and top_p > 0.5 and top == m.source.party
        brier = sum((att.get(q, 0.0) - (1.0 if q == m.source.party else 0.0)) ** 2 for q in parties)
        out.append(Scored(m, float(top_p), correct, float(brier), float(d)))
    return out


def reliability(scored: Sequence[Scored]) -> list[tuple[str, float, float, int, int]]:
    """(words, band low, band high, events, right) per ICD 203 band of the stated confidence."""
    out = []
    bands = ICD_203.bands
    for k, band in enumerate(bands):
        last = k == len(bands) - 1
        inside = [
            s for s in scored if band.low <= s.confidence and (s.confidence < band.high or last)
        ]
        out.append((band.words, band.low, band.high, len(inside), sum(s.correct for s in inside)))
    return out


def expected_calibration_error(confidence: Sequence[float], correct: Sequence[bool]) -> float:
    """Σ_b n_b / N |accuracy_b - mean confidence_b| over `ECE_BINS` equal-width bins."""
    c = np.asarray(confidence, float)
    y = np.asarray(correct, float)
    if c.size == 0:
        return math.nan
    bins = np.minimum((c * ECE_BINS).astype(int), ECE_BINS - 1)
    total = 0.0
    for b in range(ECE_BINS):
        sel = bins == b
        if sel.any():
            total += sel.sum() / c.size * abs(y[sel].mean() - c[sel].mean())
    return float(total)


def attribution_rows(
    matching: Matching, events: Sequence[EventFeature], context: Context
) -> list[Row]:
    """Accuracy per distance band, the reliability table, ECE, Brier, almost-certain errors."""
    if context.agreement is None:
        return [skipped("attribution", "attribution", "no agreement (--agreement)")]
    scored = scored_events(matching, context)
    if not scored:
        return [skipped("attribution", "attribution", "no matched events with a true party")]
    launches = [s for s in scored if s.match.source.type == "launch"]
    impacts = [s for s in scored if s.match.source.type == "impact"]
    far = [s for s in launches if s.distance_km > FAR_KM]
    rows = [
        fraction(
            "accuracy_far_launches",
            f"launches > {FAR_KM:g} km from the line attributed right",
            sum(s.correct for s in far),
            len(far),
            FAR_ACCURACY_TARGET,
            "no matched launches that far",
        )
    ]
    for lo, hi in DISTANCE_BANDS_KM:
        inside = [s for s in launches if lo <= s.distance_km < hi]
        name = f"{lo:g}-{hi:g} km" if math.isfinite(hi) else f">= {lo:g} km"
        rows.append(
            fraction(
                f"accuracy_launch_{lo:g}_{hi:g}km".replace("inf", "up"),
                f"launches {name} from the line attributed right",
                sum(s.correct for s in inside),
                len(inside),
                empty="no matched launches in this band",
            )
        )
    rows.append(
        fraction(
            "accuracy_impacts",
            "impacts attributed right (to the party that fired)",
            sum(s.correct for s in impacts),
            len(impacts),
            empty="no matched impacts",
        )
    )
    rows.append(
        fraction(
            "accuracy_all",
            "all matched events attributed right",
            sum(s.correct for s in scored),
            len(scored),
        )
    )
    confidence = [s.confidence for s in scored]
    correct = [s.correct for s in scored]
    for words, lo, hi, n, right in reliability(scored):
        mean = (
            np.mean(
                [
                    s.confidence
                    for s in scored
                    if lo <= s.confidence < hi or (hi == 1.0 and s.confidence >= lo)
                ]
            )
            if n
            else math.nan
        )
        rows.append(
            Row(
                f"reliability_{words.replace(' ', '_')}",
                f"stated {words} ({100 * lo:.0f}-{100 * hi:.0f}%): observed",
                right / n if n else None,
                "fraction",
                detail=f"{right:,}/{n:,} right; mean stated {mean:.3f}" if n else "",
                note="" if n else "no attributions in this band",
            )
        )
    rows.append(
        Row(
            "ece",
            f"expected calibration error ({ECE_BINS} bins)",
            expected_calibration_error(confidence, correct),
            "fraction",
            ECE_TARGET,
            detail=f"{len(scored):,} events",
        )
    )
    rows.append(
        Row(
            "brier",
            "Brier score (over parties)",
            float(np.mean([s.brier for s in scored])),
            "",
            detail=f"{len(scored):,} events",
        )
    )
    certain = [s for s in scored if s.confidence >= ALMOST_CERTAIN]
    rows.append(
        fraction(
            "almost_certain_wrong",
            'share wrong among "almost certain"',
            sum(not s.correct for s in certain),
            len(certain),
            ALMOST_CERTAIN_TARGET,
            'no "almost certain" attributions',
        )
    )
    undetermined = sum(s.confidence <= 0.5 for s in scored)
    rows.append(
        fraction(
            "undetermined",
            "events with no party above 50%",
            undetermined,
            len(scored),
        )
    )
    return rows


def calibration_samples(matching: Matching) -> list[tuple[float, bool, str, str]]:
    """(raw top probability, top party right, source type, calibration condition) of matched
    events with an `attribution_detail`: the data a calibration map is fitted on."""
    out = []
    for m in matching.matches:
        detail = m.event.detail
        if not m.source.party or not detail or detail.get("raw") is None:
            continue
        out.append(
            (
                float(detail["raw"]),
                detail.get("party") == m.source.party,
                m.source.type,
                str(detail.get("condition", "all")),
            )
        )
    return out


def ece_interval(
    confidence: Sequence[float], correct: Sequence[bool], draws: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """A 90% bootstrap interval of the expected calibration error (events resampled)."""
    c = np.asarray(confidence, float)
    y = np.asarray(correct, bool)
    if c.size == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    values = [
        expected_calibration_error(c[idx], y[idx])
        for idx in rng.integers(0, c.size, size=(draws, c.size))
    ]
    return float(np.quantile(values, 0.05)), float(np.quantile(values, 0.95))


def weapon_class_scores(matching: Matching) -> dict[str, float | int | None]:
    """Matched launches and impacts with a true weapon and a `weapon_class` distribution: how
    often its most probable class is the true one, the mean probability of the true class, and
    the expected calibration error of the top class's probability."""
    top_p, right, p_true = [], [], []
    for m in matching.matches:
        dist = m.event.weapon_class.get("probabilities")
        if not dist or not m.source.weapon or m.source.type not in SHOT_TYPES:
            continue
        top = max(dist, key=lambda c: dist[c])
        top_p.append(float(dist[top]))
        right.append(top == m.source.weapon)
        p_true.append(float(dist.get(m.source.weapon, 0.0)))
    n = len(right)
    return {
        "n": n,
        "accuracy": round(sum(right) / n, 4) if n else None,
        "mean_p_true": round(float(np.mean(p_true)), 4) if n else None,
        "ece": round(expected_calibration_error(top_p, right), 4) if n else None,
    }


ATTRIBUTION_GROUPS = [
    MetricGroup("violations", "Violations (per rule)", violation_rows),
    MetricGroup("attribution", "Attribution and calibration", attribution_rows),
]
