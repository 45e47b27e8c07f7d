"""Weapon class as a probability: P(class | what the sensors gave) for each shot event.

The classes are the catalogue's ground-fired ballistic ones (`truceline.weapons`: mortar,
artillery, MLRS, heavy MLRS, tactical missile, tank), with a uniform prior. Three independent
kinds of evidence multiply it (docs/methods.md, Weapon class):

- **Pair: range and time of flight.** A launch paired with an impact at distance r, dt apart:
  L(w) = max over the class's trajectory branches of φ(z) / σ_T / (r_max - r_min) for r within
  the branch's reach (else 0), with z = (dt - T_w(r)) / σ_T and σ_T = a T_w(r) + b as in
  `truceline.shots` (the same settings). The 1 / (reach width) is the density of a range that is
  uniform over the class's reach: a short range fits a long-range class less well.
  An event that carries a `weapon_fit` from a pairing whose partner is not at hand gives its
  class likelihood 1 and every other class 0.05.
- **Counter-battery radar.** When a radar track joined the event (its `radar` property, or the
  event is the radar's own), L(w) = exp(-(χ²_w - min χ²) / 2) from the backtrack's per-class fits
  (`class_chi2`) for the classes of the radar's reported kind, and `radar_misclass` for the rest.
- **Loudness (range-free).** Each acoustic detection reports its signal-to-noise ratio s_i, dB.
  With the sensor's noise N_i and threshold θ_i (sensors.geojson), the distance d_i from the
  located origin, and the class's source level L_w of a launch or an impact (weapons.yaml):
  μ_i = L_w - 20 log10 d_i - α d_i / 1000 - N_i, and the detection model is a normal of width
  σ truncated at θ_i (only what passed the threshold was reported):
  log L_i(w) = log φ((s_i - μ_i)/σ) - log σ - log Φ((μ_i - θ_i)/σ), mixed with a 2% outlier
  density (a false detection or a wrong association). The role mixes the launch and impact
  levels by P(launch). σ adds the position error's share, 8.7 σ_pos / d_i dB, to
  `level_sigma_db`.

The posterior is mixed with `class_floor` of the prior so that no class is ever ruled out
entirely by a model that is only approximately right. An event with none of this evidence keeps
the prior: wide, and rightly so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from scipy.special import log_ndtr, logsumexp

from truceline.ballistics import BallisticTable, Projectile
from truceline.config import AttributeSettings, ShotsSettings
from truceline.geo.projection import geodesic_distance_m
from truceline.records import Event, Sensor
from truceline.weapons import weapon_classes

OUTLIER_SHARE = 0.02
OUTLIER_DENSITY_PER_DB = 1.0 / 40.0
UNSEEN_PAIR_OTHERS = 0.05
"""Likelihood of the other classes, relative to the fitted one, for an event whose `weapon_fit`
came from a pairing not available to the classifier."""
DB_PER_RELATIVE_DISTANCE = 20.0 / np.log(10.0)


@dataclass(frozen=True, slots=True)
class ClassTable:
    """One weapon class: its ballistic table and branches, and its source levels."""

    id: str
    table: BallisticTable
    branches: tuple[str, ...]
    radar_class: str | None
    launch_db: float | None
    impact_db: float | None


@cache
def class_tables() -> tuple[ClassTable, ...]:
    """The ground-fired ballistic classes of the catalogue, in catalogue order."""
    out = []
    for w in weapon_classes().values():
        if w.kind not in ("indirect-fire", "direct-fire") or not w.ballistic:
            continue
        table = BallisticTable.build(Projectile.for_weapon(w))
        branches = ["low"]
        lo, hi = table.reach_m("high")
        if hi > lo and w.trajectory == "high":
            branches = ["high"]
        elif hi > lo:
            branches.append("high")
        out.append(
            ClassTable(
                w.id, table, tuple(branches), w.radar_class, w.launch_level_db, w.impact_level_db
            )
        )
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Detection:
    """What the loudness evidence needs of one acoustic detection."""

    lon: float
    lat: float
    snr_db: float
    noise_db: float
    threshold_db: float


def detection_index(
    sensors: Sequence[Sensor], snr_by_observation: Mapping[str, tuple[str, float]]
) -> dict[str, Detection]:
    """{observation id: Detection} for the detections whose sensor declares `noise_db` (and
    `threshold_db`, default 10 dB)."""
    by_id = {s.id: s for s in sensors}
    out = {}
    for oid, (sid, snr) in snr_by_observation.items():
        s = by_id.get(sid)
        if s is None or s.properties.get("noise_db") is None:
            continue
        out[oid] = Detection(
            s.lon,
            s.lat,
            float(snr),
            float(s.properties["noise_db"]),
            float(s.properties.get("threshold_db", 10.0)),
        )
    return out


class WeaponClassifier:
    """P(class) for shot events from pairing, radar and loudness."""

    def __init__(
        self,
        settings: AttributeSettings,
        shots: ShotsSettings | None = None,
        detections: Mapping[str, Detection] | None = None,
    ):
        self.settings = settings
        self.shots = shots or ShotsSettings()
        self.detections = detections or {}
        self.tables = class_tables()
        self.ids = [c.id for c in self.tables]

    # -- one kind of evidence each ---------------------------------------------------------------

    def pair_loglik(self, launch: Event, impact: Event) -> np.ndarray:
        r = float(
            np.asarray(
                geodesic_distance_m(
                    launch.origin.lon, launch.origin.lat, impact.origin.lon, impact.origin.lat
                )
            ).ravel()[0]
        )
        dt = (impact.time_ns - launch.time_ns) / 1e9
        out = np.full(len(self.tables), -np.inf)
        for k, c in enumerate(self.tables):
            best = -np.inf
            for branch in c.branches:
                lo, hi = c.table.reach_m(branch)  # type: ignore[arg-type]
                if not lo * 0.95 <= r <= hi * 1.05 or hi <= lo:
                    continue
                _, tof = c.table.solve(r, branch)  # type: ignore[arg-type]
                tof = float(tof)
                sigma = self.shots.tof_relative_sigma * tof + self.shots.tof_sigma_s
                z = (dt - tof) / sigma
                best = max(best, -0.5 * z * z - np.log(sigma) - np.log(hi - lo))
            out[k] = best
        return out

    def radar_loglik(self, event: Event) -> np.ndarray | None:
        block = event.properties.get("radar")
        chi2 = (block or {}).get("class_chi2") if isinstance(block, Mapping) else None
        if chi2 is None:
            chi2 = event.properties.get("class_chi2")
        if not chi2:
            return None
        values = {str(k): float(v) for k, v in dict(chi2).items() if v is not None}
        finite = [v for v in values.values() if np.isfinite(v)]
        if not finite:
            return None
        low = min(finite)
        miss = np.log(self.settings.radar_misclass)
        return np.array(
            [
                -0.5 * (values[c] - low) if np.isfinite(values.get(c, np.inf)) else miss
                for c in self.ids
            ]
        )

    def level_loglik(self, event: Event, p_launch: float) -> tuple[np.ndarray, int]:
        dets = [self.detections[o] for o in event.evidence if o in self.detections]
        if not dets:
            return np.zeros(len(self.tables)), 0
        lon = np.array([d.lon for d in dets])
        lat = np.array([d.lat for d in dets])
        dist = np.maximum(
            np.asarray(geodesic_distance_m(event.origin.lon, event.origin.lat, lon, lat), float),
            1.0,
        )
        snr = np.array([d.snr_db for d in dets])
        noise = np.array([d.noise_db for d in dets])
        theta = np.array([d.threshold_db for d in dets])
        cov = np.asarray(event.origin.covariance, float) if event.origin.covariance else None
        pos_sigma = float(np.sqrt(max(np.trace(cov[:2, :2]), 0.0) / 2)) if cov is not None else 0.0
        sigma = np.sqrt(
            self.settings.level_sigma_db**2 + (DB_PER_RELATIVE_DISTANCE * pos_sigma / dist) ** 2
        )
        loss = 20.0 * np.log10(dist) + self.settings.level_absorption_db_per_km * dist / 1e3
        pl = float(np.clip(p_launch, 1e-6, 1 - 1e-6))
        out = np.zeros(len(self.tables))
        for k, c in enumerate(self.tables):
            parts = []
            for level, weight in ((c.launch_db, pl), (c.impact_db, 1 - pl)):
                if level is None:
                    continue
                mu = level - loss - noise
                z = (snr - mu) / sigma
                ll = (
                    -0.5 * z * z
                    - np.log(sigma * np.sqrt(2 * np.pi))
                    - log_ndtr((mu - theta) / sigma)
                )
                ll = np.logaddexp(
                    np.log(1 - OUTLIER_SHARE) + ll, np.log(OUTLIER_SHARE * OUTLIER_DENSITY_PER_DB)
                )
                parts.append(np.log(weight) + ll.sum())
            out[k] = logsumexp(parts) if parts else -np.inf
        return out, len(dets)

    # -- the whole -------------------------------------------------------------------------------

    def classify(
        self, members: Sequence[tuple[Event, float]], pair: tuple[Event, Event] | None
    ) -> dict[str, Any]:
        """P(class) for one shot: `members` are its events (one, or a launch and its impact)
        with each one's P(launch); `pair` the (launch, impact) when the pair is used."""
        n = len(self.tables)
        total = np.zeros(n)
        used: list[str] = []
        if pair is not None:
            total += self.pair_loglik(*pair)
            used.append("pair")
        radar_seen = False
        n_levels = 0
        for event, pl in members:
            radar = self.radar_loglik(event)
            if radar is not None and not radar_seen:  # both events of a radar pair share it
                total += radar
                radar_seen = True
            ll, k = self.level_loglik(event, pl)
            total += ll
            n_levels += k
        if pair is None and not radar_seen:
            fits = [m.properties.get("weapon_fit") for m, _ in members]
            fit = next((f for f in fits if f), None)
            if fit and str(fit.get("class")) in self.ids:
                # A class fitted by a pairing whose partner is not at hand: weaker than the pair.
                total += np.where(
                    np.array(self.ids) == str(fit["class"]), 0.0, np.log(UNSEEN_PAIR_OTHERS)
                )
                used.append("weapon_fit")
        if radar_seen:
            used.append("radar")
        if n_levels:
            used.append(f"loudness ({n_levels} detections)")
        prior = np.full(n, 1.0 / n)
        if np.all(~np.isfinite(total)):
            post = prior
        else:
            w = np.exp(total - np.max(total[np.isfinite(total)]))
            w = np.where(np.isfinite(total), w, 0.0) * prior
            post = w / w.sum()
        floor = self.settings.class_floor
        post = (1 - floor) * post + floor * prior
        probs = {c: round(float(p), 6) for c, p in zip(self.ids, post, strict=True)}
        top = max(probs, key=lambda c: probs[c])
        return {"probabilities": probs, "class": top, "evidence": used or ["prior only"]}
