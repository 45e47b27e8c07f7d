"""The acoustic stage: accepted observations in, located launch and impact events out.

It reads observations in the order they were received (weather reports set the speed of sound;
acoustic detections are associated and located in batches of `associate.batch_s` of arrival
time), then decides launch or impact and pairs launches with impacts (`truceline.shots`), and
makes `Event` records. The same object serves a file (`feed` then `finish`) and a stream (`feed`
returns the events each batch created, revised or withdrawn: a live stage also publishes
provisional events of salvos still arriving, `WorkingEvent.provisional`, and withdraws those the
settled search does not confirm, `WorkingEvent.withdrawn`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from truceline.associate.acoustic import LABEL_CODES, AcousticAssociator, WorkingEvent
from truceline.associate.network import AcousticNetwork
from truceline.config import Settings
from truceline.geo.projection import to_ecef
from truceline.locate.atmosphere import Atmosphere
from truceline.records import (
    Ellipse,
    Event,
    EvidenceArrivals,
    Observation,
    Origin,
    Provenance,
    Sensor,
)
from truceline.shots import ShotInput, decide

METHOD = "acoustic: link + RANSAC + Gauss-Newton (weather priors); shots: labels + ballistics"
_DAY_NS = 86_400_000_000_000


@dataclass(frozen=True)
class AcousticResult:
    """What the acoustic stage made of a whole input: its events, and their evidence's arrivals
    (which the merge with radar shots reads)."""

    events: list[Event]
    arrivals: EvidenceArrivals


@dataclass
class StageCounts:
    """What the stage saw and made."""

    weather: int = 0
    acoustic: int = 0
    other_kinds: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    seconds: float = 0.0
    association: dict[str, float] = field(default_factory=dict)
    """The associator's counts at the end (`AcousticAssociator.stats`)."""


def _no_arrivals() -> EvidenceArrivals:
    no = np.zeros(0)
    return EvidenceArrivals((), no.astype(np.int32), no.astype(np.int64), no, no, {})


class AcousticStage:
    """Associates and locates acoustic detections as they arrive."""

    def __init__(self, sensors: Sequence[Sensor], settings: Settings, *, live: bool = True):
        """`live`: a stream whose consumers act on each batch's events, so salvos still
        arriving are published provisionally; False for a file read whole (`truceline process`),
        where only the settled events are kept."""
        self.settings = settings
        self.live = live
        acoustic = [s for s in sensors if s.kind == "acoustic"]
        self.network = AcousticNetwork(acoustic)
        self._operator_names = [str(op) for op in self.network.operator]
        self.sensor_by_id = {s.id: s for s in sensors}
        self.atmosphere = Atmosphere(
            settings.locate.default_temperature_c, settings.locate.weather_max_age_h * 3600.0
        )
        self.associator: AcousticAssociator | None = None
        self.counts = StageCounts()
        self._batch: list[tuple[str, int, int, int, float, float]] = []
        self._batch_start_ns: int | None = None
        self._batch_span_ns = round(settings.associate.batch_s * 1e9)

    # -- input -----------------------------------------------------------------------------------

    def feed(self, obs: Observation) -> list[WorkingEvent]:
        """Take one accepted observation; return events created or revised by a finished batch."""
        if obs.kind == "weather":
            self._weather(obs)
            return []
        if obs.kind != "acoustic":
            self.counts.other_kinds[obs.kind] = self.counts.other_kinds.get(obs.kind, 0) + 1
            return []
        index = self.network.index_of.get(obs.sensor)
        if index is None:  # an acoustic observation from a sensor of another kind
            self.counts.other_kinds["acoustic-from-non-acoustic-sensor"] = (
                self.counts.other_kinds.get("acoustic-from-non-acoustic-sensor", 0) + 1
            )
            return []
        self.counts.acoustic += 1
        f = obs.fields
        done: list[WorkingEvent] = []
        if self._batch and obs.time_ns - self._batch_start_ns > self._batch_span_ns:
            done = self.flush_batch()
        if not self._batch:
            self._batch_start_ns = obs.time_ns
        self._batch.append(
            (
                obs.id,
                index,
                obs.time_ns,
                LABEL_CODES.get(f.get("signal", "unknown"), 0),
                float(f.get("azimuth_deg", math.nan)),
                float(f.get("azimuth_sigma_deg", math.nan)),
            )
        )
        return done

    @property
    def pending(self) -> bool:
        """Whether detections wait for their batch (`flush_batch`)."""
        return bool(self._batch)

    def _weather(self, obs: Observation) -> None:
        sensor = self.sensor_by_id.get(obs.sensor)
        if sensor is None or "temperature_c" not in obs.fields:
            return
        self.counts.weather += 1
        wind = obs.fields.get("wind_mps")
        self.atmosphere.add(
            sensor.id,
            tuple(to_ecef(sensor.lon, sensor.lat)[0]),
            obs.time_ns,
            float(obs.fields["temperature_c"]),
            (float(wind[0]), float(wind[1])) if wind else None,
        )

    def flush_batch(self) -> list[WorkingEvent]:
        """Associate the pending batch now."""
        if not self._batch:
            return []
        started = time.perf_counter()
        if self.associator is None:
            first = min(b[2] for b in self._batch)
            self.associator = AcousticAssociator(
                self.network,
                self.atmosphere,
                first - first % _DAY_NS,
                self.settings.associate,
                self.settings.locate,
                provisional=self.live,
            )
        cols = list(zip(*self._batch, strict=True))
        self._batch = []
        out = self.associator.add(*cols)
        self.counts.batches += 1
        self.counts.seconds += time.perf_counter() - started
        return out.created + out.updated + out.withdrawn

    def finish(self) -> AcousticResult:
        """End of input: close every event, decide launch or impact, pair, make records."""
        self.flush_batch()
        if self.associator is None:  # no acoustic detection: no events, no arrivals
            return AcousticResult([], _no_arrivals())
        started = time.perf_counter()
        self.associator.flush()
        events = self.associator.events
        labels = [self._label_counts(e) for e in events]
        decisions = decide(
            [
                ShotInput(e.lon, e.lat, e.tau_s, n["launch"], n["impact"])
                for e, n in zip(events, labels, strict=True)
            ],
            self.settings.shots,
        )
        created_ns = time.time_ns()
        # Each event's detections in time order: its evidence, and its rows of the arrivals.
        t = self.associator.t.v
        dets = (np.asarray(e.det, np.int64) for e in events)
        in_order = [d[np.argsort(t[d], kind="stable")] for d in dets]
        records = [
            self._record(e, det, n, d, events, created_ns)
            for e, det, n, d in zip(events, in_order, labels, decisions, strict=True)
        ]
        self.counts.seconds += time.perf_counter() - started
        self.counts.association = dict(self.associator.stats)
        return AcousticResult(records, self._arrivals(records, in_order))

    def records(self, events: Sequence[WorkingEvent]) -> AcousticResult:
        """Live: the records of events a batch created or revised, as they are published now,
        and their detections' arrivals: each launch or impact decided from its own labels and
        place (pairing waits for the whole input: `finish`), its ellipse and properties as
        `finish` reports them, with `provisional` for an event of a salvo still arriving."""
        assert self.associator is not None or not events
        created_ns = time.time_ns()
        out: list[Event] = []
        dets: list[np.ndarray] = []
        t = self.associator.t.v if events else None
        for ev in events:
            det = np.asarray(ev.det, np.int64)
            det = det[np.argsort(t[det], kind="stable")]
            labels = self._label_counts(ev)
            shot = ShotInput(ev.lon, ev.lat, ev.tau_s, labels["launch"], labels["impact"])
            (decision,) = decide([shot], self.settings.shots)
            record = self._record(ev, det, labels, decision, [ev], created_ns)
            if ev.provisional:
                record = replace(record, properties={**record.properties, "provisional": True})
            out.append(record)
            dets.append(det)
        if not out:
            return AcousticResult([], _no_arrivals())
        return AcousticResult(out, self._arrivals(out, dets))

    def _arrivals(self, records: list[Event], dets: list[np.ndarray]) -> EvidenceArrivals:
        """The arrivals of the records' detections (`dets`, each in its evidence's order)."""
        rows: dict[str, tuple[int, int]] = {}
        first = 0
        for r, det in zip(records, dets, strict=True):
            rows[r.id] = (first, first + det.size)
            first += det.size
        g = np.concatenate(dets) if dets else np.zeros(0, np.int64)
        a = self.associator
        assert a is not None
        return EvidenceArrivals(
            sensor_ids=tuple(self.network.ids),
            sensor=a.sensor.v[g].astype(np.int32),
            time_ns=a.t_ns.v[g],
            azimuth_deg=a.az.v[g],
            azimuth_sigma_deg=a.az_sigma.v[g],
            rows=rows,
        )

    # -- output ------------------------------------------------------------------------------------

    def _label_counts(self, ev: WorkingEvent) -> dict[str, int]:
        """How many of the event's detections their sensors labelled launch, impact, unknown."""
        codes = self.associator.label.v[ev.det]
        return {name: int(np.count_nonzero(codes == code)) for name, code in LABEL_CODES.items()}

    def _record(
        self,
        ev: WorkingEvent,
        det: np.ndarray,
        labels: dict[str, int],
        decision,
        events: list[WorkingEvent],
        created_ns: int,
    ) -> Event:
        assoc = self.associator
        assert assoc is not None
        sol, ambiguity = assoc.reported(ev)  # the covariance over association hypotheses
        major, minor, azimuth = sol.ellipse95()
        evidence = tuple([str(i) for i in assoc.obs_id.v[det].tolist()])  # `det` in time order
        names = self._operator_names
        operators: dict[str, int] = {}
        for s in ev.sensors:
            op = names[s]
            operators[op] = operators.get(op, 0) + 1
        properties = {
            "n_sensors": len(ev.sensors),
            "sensors_by_operator": dict(sorted(operators.items())),
            "labels": {k: labels[k] for k in ("launch", "impact", "unknown")},
            "p_launch_from_labels": round(decision.p_launch, 4),
            "rms_residual_s": round(sol.rms_s, 5),
            "chi2": round(sol.chi2, 3),
            "dof": sol.dof,
            "sound_speed_mps": round(sol.speed.c_mps, 2),
            "wind_mps": [round(sol.speed.wind_e_mps, 2), round(sol.speed.wind_n_mps, 2)],
        }
        if ambiguity is not None and ambiguity.hypotheses:
            properties["association_alternatives"] = ambiguity.hypotheses
            properties["p_association"] = round(ambiguity.p_taken, 4)
            # The locator's own covariance, which radar fusion gates on (radar.stage.merge).
            properties["covariance_locator"] = ev.solution.cov.tolist()
        if decision.weapon is not None:
            properties["weapon_fit"] = {"class": decision.weapon, "tof_z": round(decision.tof_z, 3)}
        origin = Origin(
            lon=ev.lon,
            lat=ev.lat,
            time_ns=assoc.epoch_ns + round(ev.tau_s * 1e9),
            ellipse95=Ellipse(major, minor, azimuth),
            covariance=sol.cov.tolist(),  # made tuples of floats by `Origin`
            rms_residual_s=sol.rms_s,
            n_sensors=len(ev.sensors),
        )
        return Event(
            id=ev.id,
            type=decision.type,
            origin=origin,
            evidence=evidence,
            paired=events[decision.paired].id if decision.paired is not None else None,
            provenance=Provenance.automatic(METHOD, evidence, created_ns),
            properties=properties,
        )
