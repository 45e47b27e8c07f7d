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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import shapely

from truceline.agreement.model import Agreement
from truceline.attribute.areas import Integrator, covariance_2d
from truceline.attribute.calibration import CalibrationMap, CalibrationSet
from truceline.attribute.weapon import Cadence, WeaponClassifier
from truceline.attribute.words import describe, yardstick
from truceline.config import AttributeSettings
from truceline.geo.projection import geodesic_distance_m
from truceline.records import Event
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

    def _pair_fits(self, a: Event, b: Event) -> bool:
        fit = a.properties.get("weapon_fit") or b.properties.get("weapon_fit")
        if not fit:
            return True  # paired on time of flight without a class: trust the pairing
        weapon = weapon_classes().get(str(fit.get("class")))
        if weapon is None:
            return True
        r = float(
            np.asarray(
                geodesic_distance_m(a.origin.lon, a.origin.lat, b.origin.lon, b.origin.lat)
            ).ravel()[0]
        )
        lo = weapon.min_range_km * 1e3 * (1 - RANGE_SLACK)
        hi = weapon.max_range_km * 1e3 * (1 + RANGE_SLACK)
        return lo <= r <= hi

    def _out_of_reach(self, event: Event, pl: float) -> set[str]:
        """Parties that cannot have fired this impact: their area is farther than the known
        weapon class reaches (empty if the class is unknown or the event is likely a launch)."""
        reach = self._reach_m(event)
        if reach is None or pl >= 0.5:
            return set()
        a = self.agreement
        x, y = a.projection.forward(event.origin.lon, event.origin.lat)
        point = shapely.points(float(np.asarray(x).ravel()[0]), float(np.asarray(y).ravel()[0]))
        return {
            q
            for q in self.parties
            if float(shapely.distance(a.control_local[q], point)) > reach * (1 + RANGE_SLACK)
        }

    # -- the whole run -------------------------------------------------------------------------

    def attribute(self, events: Sequence[Event]) -> dict[str, Attribution]:
        """Attributions of the shot events (launch, impact) and air tracks among `events`."""
        shots = [e for e in events if e.type in SHOT_TYPES]
        by_id = {e.id: e for e in events}
        out: dict[str, Attribution] = {}
        if shots:
            lon = np.array([e.origin.lon for e in shots])
            lat = np.array([e.origin.lat for e in shots])
            covs = np.array([event_covariance(e, self.settings) for e in shots])
            probs = self.integrator.party_probabilities(lon, lat, covs)
            areas = {e.id: {q: float(probs[q][i]) for q in probs} for i, e in enumerate(shots)}
            dist = self.agreement.distance_to_line_m(lon, lat)
            self._line_km = {e.id: float(d) / 1e3 for e, d in zip(shots, dist, strict=True)}
            cadence = self.classifier.cadence(shots, {e.id: p_launch(e) for e in shots})
            weapons: dict[tuple[str, str], dict[str, Any]] = {}  # a pair's class, for both
            for e in shots:
                out[e.id] = self._attribute_shot(e, areas, by_id, cadence, weapons)
        tracks = [e for e in events if e.type == "air-track"]
        for e in tracks:
            out[e.id] = self._attribute_track(e)
        return out

    def _attribute_shot(
        self,
        event: Event,
        areas: Mapping[str, Mapping[str, float]],
        by_id: Mapping[str, Event],
        cadence: Mapping[str, Cadence] | None = None,
        weapons: dict[tuple[str, str], dict[str, Any]] | None = None,
    ) -> Attribution:
        """`weapons` keeps the weapon class of each (launch, impact) pair used, by their ids:
        the same for both events of the pair, so it is computed once."""
        members = [event]
        partner = by_id.get(event.paired) if event.paired else None
        pair_used = False
        if partner is not None and partner.id in areas and self._pair_fits(event, partner):
            members.append(partner)
            pair_used = True
        pair = None
        if pair_used and partner is not None:
            pair = (event, partner) if event.time_ns <= partner.time_ns else (partner, event)
        key = (pair[0].id, pair[1].id) if pair is not None else None
        weapon = None if key is None or weapons is None else weapons.get(key)
        if weapon is None:
            weapon = self.classifier.classify([(m, p_launch(m)) for m in members], pair, cadence)
            if key is not None and weapons is not None:
                weapons[key] = weapon
        line_km = max(self._line_km.get(m.id, 0.0) for m in members)
        factors = []
        totals = []
        evidence: dict[str, Any] = {}
        for m in members:
            pl = p_launch(m)
            lik = self._likelihood(areas[m.id], pl)
            for q in self._out_of_reach(m, pl):
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
        post = {q: float(np.prod([f[q] for f in factors])) for q in self.parties}
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

    def _attribute_track(self, event: Event) -> Attribution:
        if event.path:
            lon, lat = event.path[0][0], event.path[0][1]
        else:
            lon, lat = event.origin.lon, event.origin.lat
        cov = np.eye(2) * self.settings.track_sigma_m**2
        probs = self.integrator.party_probabilities(np.array([lon]), np.array([lat]), cov[None])
        areas = {q: float(v[0]) for q, v in probs.items()}
        total = sum(areas.values())
        evidence = {event.id: {"role": "air-track start", "areas": areas}}
        if total <= 1e-12:
            return self._undetermined(event, evidence, "track starts in no party's area")
        pi = {q: areas.get(q, 0.0) / total for q in self.parties}
        line_km = float(self.agreement.distance_to_line_m(np.array([lon]), np.array([lat]))[0])
        return self._finish(event, pi, total, operators_of(event), evidence, {}, line_km / 1e3)

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
    props = dict(event.properties)
    props["attribution_detail"] = attribution.detail
    if attribution.weapon is not None:
        props["weapon_class"] = attribution.weapon
    return replace(event, attribution=attribution.probabilities, properties=props)
