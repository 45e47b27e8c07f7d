"""The rules engine: which events breach which rules of the agreement (contract section 1).

Every rule applies from the agreement's `effective` time. For each event and rule the engine
computes the probability that the rule was breached, whoever breached it; at or above
`attribute.violation_threshold` it records a `Violation` naming the top attributed party when
that party's probability exceeds `attribute.party_threshold` (else the party is undetermined,
None). The party's probability is its trust-weighted one (`attribution_detail.trust_weighted`:
evidence from one party's sensors against another is weighted by `attribute.one_party_trust`).
The violation's probability is then P(breach) × P(party), or P(breach) without a party.

- `no-fire`: a launch or an impact (a firing; every explosion counts, as the OSCE counted them)
  timed at or after the effective time. P(breach) = 1 for a located event.
- `withdrawal`: a launch of one of the rule's weapon classes from within `min_distance_km` of
  the line. P(breach) = P(class in the rule's classes) × P(launch) × P(origin within the
  distance), the class probability from the event's `weapon_class` distribution
  (`truceline.attribute.weapon`: pairing, radar, loudness) and the origin's Gaussian integrated
  over the band along the line. An event without a distribution falls back on its `weapon_fit`
  (probability 1 for the fitted class).
- `zone-exclusion`: a launch from inside the zone: P(launch) × P(origin in the zone).
- `no-crossing`: an air track (`type: air-track` with `path: [[lon, lat, alt_m, time], ...]`)
  whose points lie in more than one party's area. P(breach) = Φ(d / σ) with d the farthest
  distance of a point beyond the line from the area the track started in and σ =
  `attribute.track_sigma_m`; the party is the one the track came from.

Explanations are short and regular, for people and for programs:
`launch 6.2 km inside RU-controlled area, 41 min after effect`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtr

from truceline.agreement.model import NO_PARTY, Agreement, Rule, RuleKind
from truceline.attribute.areas import Integrator, covariances_2d
from truceline.attribute.model import SHOT_TYPES, p_launch
from truceline.config import AttributeSettings
from truceline.records import Event, Provenance, Violation

METHOD = "rules/1"
NS = 1_000_000_000


def after_effect(time_ns: int, effective_ns: int) -> str:
    """`41 min after effect`, `3.2 h after effect`, `2 d after effect`, `12 min before effect`."""
    dt = (time_ns - effective_ns) / NS
    word = "after" if dt >= 0 else "before"
    dt = abs(dt)
    if dt < 3600:
        text = f"{dt / 60:.0f} min"
    elif dt < 2 * 86400:
        text = f"{dt / 3600:.1f} h"
    else:
        text = f"{dt / 86400:.0f} d"
    return f"{text} {word} effect"


def where(party: str, distance_m: float) -> str:
    """`6.2 km inside RU-controlled area` or `in no party's area`."""
    if party == NO_PARTY:
        return "in no party's area"
    return f"{distance_m / 1e3:.1f} km inside {party}-controlled area"


def class_probability(event: Event, classes: set[str]) -> float:
    """P(the event's weapon is one of `classes`): from its `weapon_class` distribution, else 1
    if its `weapon_fit` class is one of them, else 0."""
    dist = (event.properties.get("weapon_class") or {}).get("probabilities")
    if dist:
        return float(min(1.0, sum(float(p) for c, p in dist.items() if c in classes)))
    fit = str((event.properties.get("weapon_fit") or {}).get("class"))
    return 1.0 if fit in classes else 0.0


def class_words(event: Event, classes: set[str], p_class: float) -> str:
    """`mortar (P 0.97)` or `mortar or tank (P 0.81)`: the rule's most probable classes."""
    dist = (event.properties.get("weapon_class") or {}).get("probabilities") or {}
    ranked = sorted((c for c in classes if dist.get(c, 0.0) >= 0.1), key=lambda c: -dist[c])
    if not ranked:
        ranked = [str((event.properties.get("weapon_fit") or {}).get("class", "/".join(classes)))]
    return f"{' or '.join(ranked)} (P {p_class:.2f})"


def trust_weighted(event: Event) -> Mapping[str, float]:
    """The event's attribution weighted by the trust in one party's sensors, if it says so."""
    detail = event.properties.get("attribution_detail") or {}
    weighted = detail.get("trust_weighted")
    return dict(weighted) if weighted else event.attribution


@dataclass(frozen=True)
class Breach:
    """One rule breached by one event, before it becomes a `Violation`."""

    rule: Rule
    probability: float
    explanation: str


class RulesEngine:
    """Checks events against one agreement's rules."""

    def __init__(
        self,
        agreement: Agreement,
        settings: AttributeSettings,
        integrator: Integrator | None = None,
    ):
        self.agreement = agreement
        self.settings = settings
        self.integrator = integrator or Integrator(agreement, settings.samples)

    def breaches(self, events: Sequence[Event]) -> dict[str, list[Breach]]:
        """{event id: breaches at or above the threshold}, rules in the agreement's order."""
        a = self.agreement
        out: dict[str, list[Breach]] = {e.id: [] for e in events}
        if not events:
            return out
        effective = a.effective_ns
        lon = np.array([e.origin.lon for e in events])
        lat = np.array([e.origin.lat for e in events])
        side = a.party_at(lon, lat)
        dist = a.distance_to_line_m(lon, lat)
        covs = covariances_2d(
            [e.origin.covariance for e in events],
            self.settings.default_sigma_m,
            self.settings.covariance_scale,
        )
        pl = np.array([p_launch(e) if e.type in SHOT_TYPES else 0.0 for e in events])
        is_shot = np.array([e.type in SHOT_TYPES for e in events])
        after = np.array([e.time_ns >= effective for e in events])
        threshold = self.settings.violation_threshold
        idx_launch = np.flatnonzero(is_shot & after & (pl > 0))

        def describe_shot(i: int) -> str:
            e = events[i]
            role = "launch" if pl[i] >= 0.5 else "impact"
            return f"{role} {where(side[i], dist[i])}, {after_effect(e.time_ns, effective)}"

        for rule in a.rules:
            if rule.kind is RuleKind.NO_FIRE:
                for i in np.flatnonzero(is_shot & after):
                    text = describe_shot(i)
                    partner = events[i].paired
                    if partner:
                        text += f"; paired with {partner}"
                    out[events[i].id].append(Breach(rule, 1.0, text))
            elif rule.kind is RuleKind.WITHDRAWAL and rule.min_distance_km is not None:
                classes = set(rule.classes)
                p_class = np.array([class_probability(events[i], classes) for i in idx_launch])
                keep = pl[idx_launch] * p_class >= threshold  # P(within) <= 1 cannot lift it
                sel = idx_launch[keep]
                if sel.size == 0:
                    continue
                within = self.integrator.probability(
                    f"band:{rule.min_distance_km:g}", lon[sel], lat[sel], covs[sel]
                )
                for i, pc, p_in in zip(sel, p_class[keep], within, strict=True):
                    p = float(pl[i] * pc * p_in)
                    if p >= threshold:
                        text = (
                            f"{class_words(events[i], classes, pc)} {describe_shot(i)}; "
                            f"within {rule.min_distance_km:g} km of the line"
                        )
                        out[events[i].id].append(Breach(rule, p, text))
            elif rule.kind is RuleKind.ZONE_EXCLUSION and rule.zone in a.zones:
                if idx_launch.size == 0:
                    continue
                inside = self.integrator.probability(
                    f"zone:{rule.zone}", lon[idx_launch], lat[idx_launch], covs[idx_launch]
                )
                for i, p_in in zip(idx_launch, inside, strict=True):
                    p = float(pl[i] * p_in)
                    if p >= threshold:
                        text = f"{describe_shot(i)}; inside zone {rule.zone}"
                        out[events[i].id].append(Breach(rule, p, text))
            elif rule.kind is RuleKind.NO_CROSSING:
                tracks = [
                    e for e in events if e.type == "air-track" and e.path and e.time_ns >= effective
                ]
                for e, breach in zip(tracks, self._crossings(tracks, rule), strict=True):
                    if breach is not None and breach.probability >= threshold:
                        out[e.id].append(breach)
        return out

    def _crossings(self, events: Sequence[Event], rule: Rule) -> list[Breach | None]:
        """The crossing of each air track (each with a path), or None: all tracks' points
        placed and measured against the line at once."""
        a = self.agreement
        # Longitude and latitude of each point (the whole path converted at once, its
        # altitude and time dropped after: the same numbers as point by point).
        paths = [np.array(event.path or (), float).reshape(-1, 4)[:, :2] for event in events]
        if not paths:
            return []
        ends = np.cumsum([len(path) for path in paths])
        points = np.concatenate(paths)
        parties_all = a.party_at(points[:, 0], points[:, 1])
        found: list[tuple[int, str, NDArray[np.str_], NDArray[np.intp]]] = []
        for k, path in enumerate(paths):
            parties = parties_all[ends[k] - len(path) : ends[k]]
            start = next((p for p in parties if p != NO_PARTY), NO_PARTY)
            if start == NO_PARTY:
                continue
            beyond = np.flatnonzero((parties != NO_PARTY) & (parties != start))
            if beyond.size:
                found.append((k, start, parties, beyond))
        out: list[Breach | None] = [None] * len(paths)
        if not found:
            return out
        far = np.concatenate([paths[k][beyond] for k, _, _, beyond in found])
        d_all = a.distance_to_line_m(far[:, 0], far[:, 1])
        ends = np.cumsum([beyond.size for _, _, _, beyond in found])
        for (k, start, parties, beyond), end in zip(found, ends, strict=True):
            d = d_all[end - beyond.size : end]
            i = int(np.argmax(d))
            p = float(ndtr(d[i] / self.settings.track_sigma_m))
            other = parties[beyond[i]]
            first = int(beyond[0])
            time_ns = (events[k].path or ())[first][3]
            text = (
                f"air track from {start}-controlled area {d[i] / 1e3:.1f} km into "
                f"{other}-controlled area, {after_effect(time_ns, a.effective_ns)}"
            )
            out[k] = Breach(rule, p, text)
        return out

    def violations(
        self,
        events: Sequence[Event],
        attributions: Mapping[str, Mapping[str, float]] | None = None,
        created_ns: int = 0,
    ) -> dict[str, list[Violation]]:
        """{event id: violations}, each naming the top attributed party (from `attributions`,
        else the event's own) when its probability exceeds `party_threshold`."""
        breaches = self.breaches(events)
        out: dict[str, list[Violation]] = {}
        for event in events:
            attribution = (attributions or {}).get(event.id) or trust_weighted(event)
            top, top_p = max(attribution.items(), key=lambda kv: (kv[1], kv[0]), default=("", 0.0))
            party = top if top and top_p > self.settings.party_threshold else None
            found = breaches[event.id]
            provenance = Provenance.automatic(METHOD, (event.id,), created_ns) if found else None
            out[event.id] = [
                Violation(
                    id=f"{event.id}:{b.rule.id}",
                    rule=b.rule.id,
                    article=b.rule.article,
                    event_id=event.id,
                    party=party,
                    probability=round(b.probability * (top_p if party is not None else 1.0), 6),
                    explanation=b.explanation + ("" if party else "; party undetermined"),
                    provenance=provenance,  # type: ignore[arg-type]
                )
                for b in found
            ]
        return out
