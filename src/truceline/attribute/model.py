"""Attribution: for each event, the probability that each party is responsible for it.

The evidence, combined as likelihoods over the responsible party q (docs/methods.md, Attribution):

- **Where the origin is.** A(r): the probability that the origin lies in party r's control area,
  its Gaussian integrated over the area (`truceline.attribute.areas`).
- **What the event is.** A launch is fired from its party's own area: L_launch(q) = A(q). An
  impact lands on the other side, except for a share δ (`own_side_impact_share`) of short rounds:
  L_impact(q) = δ A(q) + (1 - δ) Σ_{r≠q} A(r) / (n - 1). An unpaired event is a launch with
  probability p_L from its sensors' labels, so L(q) = p_L L_launch(q) + (1 - p_L) L_impact(q).
- **Direction of fire.** A launch paired with an impact is one shot: its likelihood is the product
  of the launch's and the impact's, and both events get the same attribution. An impact on the
  other side of the line from the launch turns a launch near the line into a confident one.
- **Weapon range.** A pair is used only if the distance between launch and impact lies within
  the paired weapon class's range (with 5% slack); else the two are attributed separately. An
  impact whose class is known cannot come from a party whose area is beyond that class's reach.
- **Who operates the sensors.** Evidence resting only on one party's sensors that points at
  another party is flagged, and its trust-weighted probability (that party's probability times
  `one_party_trust`) is reported beside the attribution, in `attribution_detail.trust_weighted`;
  violations name and weigh the party by it. The attribution itself stays the calibrated
  probability, so that it can be checked against outcomes (docs/methods.md explains the choice).

The conditional posterior π(q) = L(q) / Σ L is calibrated (its top value through the map of
`truceline.attribute.calibration` for the event's condition: one party's sensors or mixed, near
the line or far); the probability mass of "in no party's area" stays undetermined, so the
attribution may sum to less than 1 (contract section 4).

Each shot also gets a weapon-class distribution (`truceline.attribute.weapon`), kept in the
event's `weapon_class` property; the withdrawal rules use it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import shapely

from truceline.agreement.model import Agreement
from truceline.attribute.areas import Integrator, covariance_2d, covariances_2d
from truceline.attribute.calibration import CalibrationMap, CalibrationSet
from truceline.attribute.weapon import Cadence, WeaponClassifier
from truceline.attribute.words import describe, yardstick
from truceline.config import AttributeSettings
from truceline.geo.projection import geodesic_distance_m
from truceline.records import Event, frozen_update
from truceline.weapons import weapon_classes

SHOT_TYPES = ("launch", "impact")
METHOD = "attribution/1"
PAIR_TYPE_CONFIDENCE = 0.99
"""Probability that a paired event is of the type its pairing gave it."""
RANGE_SLACK = 0.05


@dataclass(frozen=True)
class Attribution:
    """The outcome for one event: {party: probability}, the detail kept in the event's
    `attribution_detail` property, and the area probabilities of its origin."""

    probabilities: dict[str, float]
    detail: dict[str, Any]
    areas: dict[str, float]
    weapon: dict[str, Any] | None = None


@dataclass(frozen=True)
class _Shots:
    """What `Attributor.attribute` works out for all shot events at once, by event id: area
    probabilities, P(launch), cadence, loudness evidence, the parties out of reach, and the
    pairs' range and time-of-flight evidence by (launch id, impact id)."""

    areas: dict[str, dict[str, float]]
    p_launch: dict[str, float]
    cadence: Mapping[str, Cadence]
    levels: dict[str, tuple[np.ndarray, int]]
    pair_loglik: dict[tuple[str, str], np.ndarray]
    out_of_reach: dict[str, set[str]]


def _round(p: float) -> float:
    return round(float(p), 6)


def event_covariance(event: Event, settings: AttributeSettings) -> np.ndarray:
    return covariance_2d(
        event.origin.covariance, settings.default_sigma_m, settings.covariance_scale
    )


def p_launch(event: Event) -> float:
    """Probability that the event is a launch: from its pairing if paired, else its labels."""
    if event.paired is not None:
        return PAIR_TYPE_CONFIDENCE if event.type == "launch" else 1 - PAIR_TYPE_CONFIDENCE
    value = event.properties.get("p_launch_from_labels")
    if value is None:
        return 1.0 if event.type == "launch" else 0.0
    return float(np.clip(float(value), 0.0, 1.0))


def condition_of(one_party: bool, near: bool) -> str:
    """The calibration condition: `one-party-near`, `one-party-far`, `mixed-near`, `mixed-far`."""
    return f"{'one-party' if one_party else 'mixed'}-{'near' if near else 'far'}"


def operators_of(*events: Event) -> set[str]:
    """Operators of the sensors the events rest on (from `sensors_by_operator`)."""
    ops: set[str] = set()
    for event in events:
        ops.update(str(k) for k in event.properties.get("sensors_by_operator", {}) or {})
    return ops


class Attributor:
    """Attributes events against one agreement with one calibration map."""

    def __init__(
        self,
        agreement: Agreement,
        settings: AttributeSettings,
        calibration: CalibrationMap | CalibrationSet | None = None,
        integrator: Integrator | None = None,
        classifier: WeaponClassifier | None = None,
    ):
        self.agreement = agreement
        self.settings = settings
        self.calibration = CalibrationSet.of(calibration or CalibrationMap.identity())
        self.classifier = classifier or WeaponClassifier(settings)
        self._line_km: dict[str, float] = {}
        self.integrator = integrator or Integrator(agreement, settings.samples)
        self.parties = [p.id for p in agreement.parties if p.id in agreement.control_areas]
        self.yardstick = yardstick(settings.yardstick)

    # -- likelihoods ---------------------------------------------------------------------------

    def _likelihood(self, areas: Mapping[str, float], pl: float) -> dict[str, float]:
        n = len(self.parties)
        delta = self.settings.own_side_impact_share
        total = sum(areas.get(r, 0.0) for r in self.parties)
        out = {}
        for q in self.parties:
            a_q = areas.get(q, 0.0)
            other = (total - a_q) / (n - 1) if n > 1 else 0.0
            impact = delta * a_q + (1 - delta) * other
            out[q] = pl * a_q + (1 - pl) * impact
        return out

    def _reach_m(self, event: Event) -> float | None:
        fit = event.properties.get("weapon_fit")
        if not fit:
            return None
        weapon = weapon_classes().get(str(fit.get("class")))
        return None if weapon is None else weapon.max_range_km * 1e3

    def _pairs_fit(self, pairs: Sequence[tuple[Event, Event]]) -> list[bool]:
        """Whether each pair's distance lies within its paired weapon class's range (with
        `RANGE_SLACK`); a pair without a known class fits (paired on time of flight alone)."""
        out = [True] * len(pairs)
        ranges: list[tuple[int, float, float]] = []
        for k, (a, b) in enumerate(pairs):
            fit = a.properties.get("weapon_fit") or b.properties.get("weapon_fit")
            weapon = weapon_classes().get(str(fit.get("class"))) if fit else None
            if weapon is not None:
                lo = weapon.min_range_km * 1e3 * (1 - RANGE_SLACK)
                hi = weapon.max_range_km * 1e3 * (1 + RANGE_SLACK)
                ranges.append((k, lo, hi))
        if ranges:
            checked = [pairs[k] for k, _, _ in ranges]
            r = geodesic_distance_m(
                [a.origin.lon for a, _ in checked],
                [a.origin.lat for a, _ in checked],
                [b.origin.lon for _, b in checked],
                [b.origin.lat for _, b in checked],
            )
            for (k, lo, hi), rk in zip(ranges, r, strict=True):
                out[k] = bool(lo <= rk <= hi)
        return out

    def _out_of_reach(self, events: Sequence[Event], pl: Sequence[float]) -> list[set[str]]:
        """For each event, the parties that cannot have fired it: their area is farther than its
        known weapon class reaches (empty if the class is unknown or the event likely a
        launch)."""
        out: list[set[str]] = [set() for _ in events]
        rows = [
            (k, reach)
            for k, (e, p) in enumerate(zip(events, pl, strict=True))
            if p < 0.5 and (reach := self._reach_m(e)) is not None
        ]
        if not rows:
            return out
        a = self.agreement
        x, y = a.projection.forward(
            [events[k].origin.lon for k, _ in rows], [events[k].origin.lat for k, _ in rows]
        )
        points = shapely.points(np.atleast_1d(x), np.atleast_1d(y))
        limit = np.array([reach * (1 + RANGE_SLACK) for _, reach in rows])
        for q in self.parties:
            beyond = np.asarray(shapely.distance(a.control_local[q], points)) > limit
            for (k, _), far in zip(rows, beyond, strict=True):
                if far:
                    out[k].add(q)
        return out

    # -- the whole run -------------------------------------------------------------------------

    def attribute(self, events: Sequence[Event]) -> dict[str, Attribution]:
        """Attributions of the shot events (launch, impact) and air tracks among `events`."""
        shots = [e for e in events if e.type in SHOT_TYPES]
        by_id = {e.id: e for e in events}
        out: dict[str, Attribution] = {}
        if shots:
            lon = np.array([e.origin.lon for e in shots])
            lat = np.array([e.origin.lat for e in shots])
            covs = covariances_2d(
                [e.origin.covariance for e in shots],
                self.settings.default_sigma_m,
                self.settings.covariance_scale,
            )
            probs = self.integrator.party_probabilities(lon, lat, covs)
            areas = {e.id: {q: float(probs[q][i]) for q in probs} for i, e in enumerate(shots)}
            dist = self.agreement.distance_to_line_m(lon, lat)
            self._line_km = {e.id: float(d) / 1e3 for e, d in zip(shots, dist, strict=True)}
            pl = [p_launch(e) for e in shots]
            p_launch_of = {e.id: p for e, p in zip(shots, pl, strict=True)}
            cadence = self.classifier.cadence(shots, p_launch_of)
            # Each shot's partner, whether the pair is used, and the evidence of all at once.
            partners = [by_id.get(e.paired) if e.paired else None for e in shots]
            candidates = [
                (k, (e, p))
                for k, (e, p) in enumerate(zip(shots, partners, strict=True))
                if p is not None and p.id in areas
            ]
            fits = self._pairs_fit([pair for _, pair in candidates])
            used = {k for (k, _), ok in zip(candidates, fits, strict=True) if ok}
            pairs: dict[tuple[str, str], tuple[Event, Event]] = {}
            for k in sorted(used):
                e, p = shots[k], partners[k]
                assert p is not None
                pair = (e, p) if e.time_ns <= p.time_ns else (p, e)
                pairs.setdefault((pair[0].id, pair[1].id), pair)
            shot = _Shots(
                areas=areas,
                p_launch=p_launch_of,
                cadence=cadence,
                levels={
                    e.id: v
                    for e, v in zip(shots, self.classifier.level_logliks(shots, pl), strict=True)
                },
                pair_loglik=dict(
                    zip(pairs, self.classifier.pair_logliks(list(pairs.values())), strict=True)
                ),
                out_of_reach={
                    e.id: v for e, v in zip(shots, self._out_of_reach(shots, pl), strict=True)
                },
            )
            weapons: dict[tuple[str, str], dict[str, Any]] = {}  # a pair's class, for both
            for k, e in enumerate(shots):
                out[e.id] = self._attribute_shot(e, partners[k], k in used, shot, weapons)
        tracks = [e for e in events if e.type == "air-track"]
        out.update(self._attribute_tracks(tracks))
        return out

    def _attribute_shot(
        self,
        event: Event,
        partner: Event | None,
        pair_used: bool,
        shot: _Shots,
        weapons: dict[tuple[str, str], dict[str, Any]],
    ) -> Attribution:
        """`partner` is the event paired with this one, if at hand, and `pair_used` whether the
        pair is used; `weapons` keeps the weapon class of each (launch, impact) pair used, by
        their ids: the same for both events of the pair, so it is computed once."""
        areas = shot.areas
        members = [event]
        pair = None
        if pair_used and partner is not None:
            members.append(partner)
            pair = (event, partner) if event.time_ns <= partner.time_ns else (partner, event)
        key = (pair[0].id, pair[1].id) if pair is not None else None
        weapon = None if key is None else weapons.get(key)
        if weapon is None:
            weapon = self.classifier.classify(
                [(m, shot.p_launch[m.id]) for m in members],
                pair,
                shot.cadence,
                levels=shot.levels,
                pair_loglik=None if key is None else shot.pair_loglik[key],
            )
            if key is not None:
                weapons[key] = weapon
        line_km = max(self._line_km.get(m.id, 0.0) for m in members)
        factors = []
        totals = []
        evidence: dict[str, Any] = {}
        for m in members:
            pl = shot.p_launch[m.id]
            lik = self._likelihood(areas[m.id], pl)
            for q in shot.out_of_reach[m.id]:
                lik[q] = pl * areas[m.id].get(q, 0.0)
            total = sum(lik.values())
            totals.append(min(1.0, sum(areas[m.id].values())))
            role = "launch" if pl >= 0.5 else "impact"
            evidence[m.id] = {
                "role": role,
                "p_launch": _round(pl),
                "areas": {q: _round(v) for q, v in areas[m.id].items()},
            }
            if total > 1e-12:
                factors.append(lik)
        if not factors:
            return replace(
                self._undetermined(event, evidence, "origin in no party's area"), weapon=weapon
            )
        post = {q: math.prod(f[q] for f in factors) for q in self.parties}
        norm = sum(post.values())
        if norm <= 0:
            return replace(
                self._undetermined(event, evidence, "evidence contradicts every party"),
                weapon=weapon,
            )
        pi = {q: v / norm for q, v in post.items()}
        in_area = max(totals)
        ops = operators_of(*members)
        detail_extra: dict[str, Any] = {"pair_used": pair_used}
        if partner is not None and not pair_used:
            detail_extra["pair_rejected"] = "distance outside the paired weapon class's range"
        done = self._finish(event, pi, in_area, ops, evidence, detail_extra, line_km)
        return replace(done, weapon=weapon)

    def _attribute_tracks(self, tracks: Sequence[Event]) -> dict[str, Attribution]:
        """Air tracks, from where each starts: the first point of its path (else its origin)."""
        if not tracks:
            return {}
        start = [e.path[0] if e.path else (e.origin.lon, e.origin.lat) for e in tracks]
        lon = np.array([float(p[0]) for p in start])
        lat = np.array([float(p[1]) for p in start])
        cov = np.eye(2) * self.settings.track_sigma_m**2
        covs = np.broadcast_to(cov, (len(tracks), 2, 2))
        probs = self.integrator.party_probabilities(lon, lat, covs)
        line_m = self.agreement.distance_to_line_m(lon, lat)
        out = {}
        for k, event in enumerate(tracks):
            areas = {q: float(v[k]) for q, v in probs.items()}
            total = sum(areas.values())
            evidence = {event.id: {"role": "air-track start", "areas": areas}}
            if total <= 1e-12:
                out[event.id] = self._undetermined(
                    event, evidence, "track starts in no party's area"
                )
                continue
            pi = {q: areas.get(q, 0.0) / total for q in self.parties}
            line_km = float(line_m[k]) / 1e3
            out[event.id] = self._finish(
                event, pi, total, operators_of(event), evidence, {}, line_km
            )
        return out

    def _undetermined(self, event: Event, evidence: dict[str, Any], why: str) -> Attribution:
        detail = {
            "party": None,
            "probability": 0.0,
            "words": None,
            "undetermined": 1.0,
            "why": why,
            "evidence": evidence,
            "method": METHOD,
        }
        return Attribution({}, detail, {})

    def _finish(
        self,
        event: Event,
        pi: Mapping[str, float],
        in_area: float,
        operators: set[str],
        evidence: dict[str, Any],
        extra: dict[str, Any],
        line_km: float = float("inf"),
    ) -> Attribution:
        top = max(self.parties, key=lambda q: (pi[q], q))
        raw = pi[top]
        party_ops = operators & set(self.parties)
        one_party = None
        if len(operators) == 1 and len(party_ops) == 1:
            one_party = next(iter(party_ops))
        condition = condition_of(one_party is not None, line_km < self.settings.near_line_km)
        calibrated = float(np.clip(self.calibration.map_for(condition)(raw), 0.0, 1.0))
        rest = 1.0 - raw
        probs: dict[str, float] = {}
        for q in self.parties:
            if q == top:
                share = calibrated
            elif rest > 0:
                share = (1 - calibrated) * pi[q] / rest
            else:
                share = (1 - calibrated) / max(1, len(self.parties) - 1)
            probs[q] = share * in_area
        flags = []
        weighted = dict(probs)
        if one_party is not None:
            trust = self.settings.one_party_trust
            for q in self.parties:
                if q != one_party:
                    weighted[q] *= trust
            if top != one_party:
                flags.append(f"rests only on {one_party}'s sensors against {top}")
        top_p = probs[top]
        detail = {
            "party": top,
            "probability": _round(top_p),
            "words": describe(top_p, self.yardstick.id),
            "yardstick": self.yardstick.name,
            "undetermined": _round(max(0.0, 1.0 - sum(probs.values()))),
            "raw": _round(raw),
            "calibration": self.calibration.name,
            "condition": condition,
            "trust_weighted": {q: _round(p) for q, p in weighted.items()},
            "operators": sorted(operators),
            "one_party_evidence": one_party,
            "flags": flags,
            "evidence": evidence,
            "method": METHOD,
            **extra,
        }
        return Attribution({q: _round(p) for q, p in probs.items()}, detail, {})


def with_attribution(event: Event, attribution: Attribution | None) -> Event:
    """The event with its attribution and `attribution_detail` property set."""
    if attribution is None:
        return event
    changes: dict[str, Any] = {"attribution_detail": attribution.detail}
    if attribution.weapon is not None:
        changes["weapon_class"] = attribution.weapon
    # The event's properties are frozen already: only the new ones are frozen here.
    props = frozen_update(event.properties, changes)
    return event.refined(attribution=attribution.probabilities, properties=props)
