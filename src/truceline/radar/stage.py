"""The radar stage: `radar_track` and `radar_plot` observations in, events out.

- Each counter-battery track is backtracked (`truceline.radar.projectile`) to a launch event and
  carried forward to an impact event, paired, with 95% ellipses.
- Air-radar plots are tracked (`truceline.radar.tracker`); each confirmed track (segments of
  one object joined across gaps, `segments`) is an
  `air-track` event whose `path` is the smoothed track, with its origin side, its crossings of
  the contact line and entries into zones (`truceline.radar.crossings`), and the violations they
  make under the agreement's `no-crossing` and `zone-exclusion` rules (the plain rule: the party
  on whose side the track began, probability 1, until attribution supplies one).
- `merge` joins a radar launch or impact with the acoustic event of the same shot: one event
  with both kinds of evidence and the fused position.

The stage backtracks counter-battery tracks in chunks as they are fed (each `radar_track` is a
whole flight; `radar.backtrack_chunk`), bit for bit as one batch of all of them, and keeps the
results and the air plots for `finish`, which does the rest: the air tracker (tracks need their
whole history to be smoothed), joining radar shots, batteries, events. With `pipeline.workers`
2, `truceline process` runs it in a worker process of its own (`truceline.worker`) beside
ingest, so the backtracking is done while ingest runs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from truceline.agreement.model import NO_PARTY, Agreement, RuleKind
from truceline.assign import assign
from truceline.config import LocateSettings, RadarSettings, Settings
from truceline.geo.projection import (
    TangentPlane,
    enu_basis,
    planes_forward,
    planes_inverse,
    to_ecef,
)
from truceline.radar.battery import battery_points, with_battery
from truceline.radar.crossings import Crossing, line_crossings, origin_side, zone_entries
from truceline.radar.fence import Fence
from truceline.radar.joint import ArrivalsOf, JointFit, joint_fit
from truceline.radar.projectile import (
    Backtrack,
    TrackPoints,
    backtrack_chunk,
    ellipse95,
    propagate,
)
from truceline.radar.tracker import AirTrack, GnnTracker, PlotBatch
from truceline.records import (
    Ellipse,
    Event,
    Observation,
    Origin,
    Provenance,
    Sensor,
    Violation,
    frozen_update,
)
from truceline.timeutil import format_time

BACKTRACK_METHOD = (
    "radar: ballistic fit (class drag, muzzle-speed prior, search fence) + unscented transform, "
    "classes mixed"
)
TRACK_METHOD = (
    "radar: GNN tracker, nearly-constant-velocity Kalman filter, RTS smoother, "
    "track-segment association"
)
CROSSING_RULE = "plain rule: the party on whose side the track began"
PROPAGATE_STEP_S = 0.1
"""Integration step carrying one track's fitted flight to another's time, s."""


@dataclass
class RadarCounts:
    tracks: int = 0
    plots: int = 0
    backtracked: int = 0
    not_backtracked: int = 0
    air_tracks: int = 0
    crossings: int = 0
    violations: int = 0
    merged: int = 0
    joined: int = 0
    """Radar launch or impact events joined into another radar's event of the same shot."""
    explained_away: int = 0
    """Acoustic events dissolved as mixtures of radar-located rounds (`truceline.radar.explain`)."""
    second_events: int = 0
    """Acoustic events dissolved as second events of shots other acoustic events located
    (`truceline.radar.explain.explain_second_events`)."""
    merged_again: int = 0
    """Radar shots fused with an acoustic event after explaining away (`merge_leftovers`)."""
    battery_refined: int = 0
    """Radar launch events refined by other rounds of their battery (`truceline.radar.battery`)."""
    tracker: dict[str, int] = field(default_factory=dict)
    chunks_again: int = 0
    """Chunks of tracks backtracked again at the end, padded as wide as the whole set
    (`RadarStage.feed`; those before the widest track came)."""
    seconds: float = 0.0
    """The stage's own work, s: backtracking chunks as they come and `finish`."""


@dataclass
class _Chunk:
    """Tracks backtracked together (`RadarStage.feed`): the observations with their points,
    the results (`backtrack_chunk`'s fits and fenceless refits) and the padding widths."""

    fed: list[tuple[Observation, TrackPoints]]
    results: list[Backtrack | None]
    alone: list[Backtrack | None]
    widths: tuple[int, int]


def radar_fence(sensor: Sensor, radar: RadarSettings) -> Fence | None:
    """The coverage of a counter-battery radar (`radar: counter-battery` with `range_m` and
    `sector`) for the fence residual; its own `fence_elevation_deg` and `fence_revisit_s` if it
    declares them, else the settings'. None for other sensors, or with a revisit of 0."""
    p = sensor.properties
    sector = p.get("sector")
    if sensor.kind != "radar" or p.get("radar") != "counter-battery":
        return None
    try:
        revisit = float(p.get("fence_revisit_s", radar.fence_revisit_s))
        fence = Fence(
            sensor.lon,
            sensor.lat,
            float(sensor.elevation_m or 0.0),
            float(sector["azimuth_deg"]),
            float(sector["width_deg"]),
            float(p["range_m"]),
            float(p.get("fence_elevation_deg", radar.fence_elevation_deg)),
            revisit,
        )
    except (KeyError, TypeError, ValueError):
        return None
    return fence if revisit > 0 else None


class RadarStage:
    """Backtracks projectile tracks and tracks air plots."""

    def __init__(
        self,
        sensors: Sequence[Sensor],
        settings: Settings,
        agreement: Agreement,
        *,
        live: bool = False,
    ):
        """`live`: a stream's stage, whose tracks are backtracked when its consumer calls
        `flush_shots` (not in chunks for `finish`)."""
        self.live = live
        self.settings = settings
        self.radar = settings.radar
        self.agreement = agreement
        self.sensor_ids = {s.id for s in sensors}
        self.fences = {s.id: f for s in sensors if (f := radar_fence(s, settings.radar))}
        self.counts = RadarCounts()
        self._pending: list[tuple[Observation, TrackPoints]] = []
        self._chunks: list[_Chunk] = []
        self._widths = (0, 0)  # the backtracks' padding widths so far (`backtrack_chunk`)
        self._plot_ids: list[str] = []
        self._plot_cols: list[tuple] = []

    def feed(self, obs: Observation) -> bool:
        """Take one observation; True if it was a radar kind (kept for `finish`; a chunk of
        `radar.backtrack_chunk` tracks is backtracked as soon as it is complete)."""
        f = obs.fields
        if obs.kind == "radar_track":
            self.counts.tracks += 1
            track = self._track_points(obs)
            if track is None:
                self.counts.not_backtracked += 1
                return True
            self._pending.append((obs, track))
            if not self.live and len(self._pending) >= self.radar.backtrack_chunk:
                started = time.perf_counter()
                self._backtrack_pending()
                self.counts.seconds += time.perf_counter() - started
            return True
        if obs.kind == "radar_plot":
            pos = f.get("position") or ()
            vel = f.get("velocity_mps")
            if len(pos) < 3:
                return True
            v = tuple(float(a) for a in vel) if vel and len(vel) == 3 else (math.nan,) * 3
            self._plot_ids.append(obs.id)
            self._plot_cols.append(
                (
                    obs.time_ns,
                    float(pos[0]),
                    float(pos[1]),
                    float(pos[2]),
                    float(f.get("sigma_m", 50.0)),
                    *v,
                )
            )
            self.counts.plots += 1
            return True
        return False

    # -- projectiles ----------------------------------------------------------------------------

    def _track_points(self, obs: Observation) -> TrackPoints | None:
        """A `radar_track` observation's points; None if they cannot be read."""
        pts = obs.fields.get("points") or ()
        try:
            times = [_point_time(p) for p in pts]
            lon = [float(p["position"][0]) for p in pts]
            lat = [float(p["position"][1]) for p in pts]
            alt = [float(p["position"][2]) for p in pts]
        except (KeyError, IndexError, TypeError, ValueError):
            return None
        return TrackPoints(
            times,
            lon,
            lat,
            alt,
            float(obs.fields.get("sigma_m", 0.0)),
            str(obs.fields.get("class", "")),
            self.fences.get(obs.sensor),
        )

    def _backtrack(
        self, tracks: list[TrackPoints], widths: tuple[int, int]
    ) -> tuple[list[Backtrack | None], list[Backtrack | None], tuple[int, int]]:
        """`backtrack_chunk` of tracks, padded to at least `widths`. The battery's other rounds
        locate a round's battery from their launch points fitted without the search fence
        (the fence's error is shared by one radar's rounds of one battery: their flights enter
        the coverage alike, so it would not average out); without batteries, no refits."""
        return backtrack_chunk(
            tracks,
            widths=widths,
            refits=self.radar.battery_window_s > 0,
            step_s=self.radar.step_s,
            muzzle_speed_sigma=self.radar.muzzle_speed_sigma,
            kernel=self.radar.kernel,
        )

    def _backtrack_pending(self) -> None:
        """Backtrack the tracks fed since the last chunk, padded as wide as every track so far."""
        if not self._pending:
            return
        fed, self._pending = self._pending, []
        results, alone, self._widths = self._backtrack([t for _, t in fed], self._widths)
        self._chunks.append(_Chunk(fed, results, alone, self._widths))

    def _backtrack_all(self, created_ns: int) -> list[Event]:
        # The tracks are backtracked in chunks as they come (`feed`), each chunk padded as wide
        # as the tracks before it; chunks padded narrower than the whole set are done again
        # here at its width, so every result is bit for bit that of one batch of all tracks
        # (`truceline.radar.projectile.backtrack_chunk`).
        self._backtrack_pending()
        kept: list[Observation] = []
        results: list[Backtrack | None] = []
        alone: list[Backtrack | None] = []
        for chunk in self._chunks:
            if chunk.widths != self._widths:
                got, got_alone, widths = self._backtrack([t for _, t in chunk.fed], self._widths)
                chunk = _Chunk(chunk.fed, got, got_alone, widths)
                self.counts.chunks_again += 1
            kept += [obs for obs, _ in chunk.fed]
            results += chunk.results
            alone += chunk.alone
        self._chunks = []
        events, flights, unfenced = self._track_events(kept, results, alone, created_ns)
        tracks_of = {e.id: e for e in events}
        # Several radars tracking one shot give one event per track: join them here, where the
        # fitted flights can be compared, so a shot the acoustic network did not hear is one event.
        events, joined_id = join_radar_shots(
            events,
            self.radar.merge_sigma,
            self.radar.merge_window_s,
            flights,
            kernel=self.radar.kernel,
        )
        events = [
            replace(r, paired=joined_id.get(r.paired, r.paired)) if r.paired else r for r in events
        ]
        if self.radar.battery_window_s > 0:
            events = self._with_batteries(events, tracks_of, unfenced, joined_id)
        partner_of = {r.paired: r.id for r in events if r.paired}
        self.counts.joined = len(joined_id)
        return [r if r.paired else replace(r, paired=partner_of.get(r.id)) for r in events]

    def _track_events(
        self,
        kept: list[Observation],
        results: list[Backtrack | None],
        alone: list[Backtrack | None],
        created_ns: int,
    ) -> tuple[list[Event], dict[str, Flight], dict[str, Backtrack]]:
        """Each backtracked track's launch and impact events (`_shot_events`), the fitted flight
        behind each event, and each launch's track fitted without the fence (by event id)."""
        events: list[Event] = []
        # Where every launch and impact point is, in one go (each in its track's plane).
        ends = [
            (bt.plane, point)
            for bt in results
            if bt is not None and bt.launch is not None
            for point in (bt.launch, bt.impact)
            if point is not None
        ]
        lon, lat = planes_inverse(
            [plane for plane, _ in ends], [p.east_m for _, p in ends], [p.north_m for _, p in ends]
        )
        where = iter(zip(lon.tolist(), lat.tolist(), strict=True))
        flights: dict[str, Flight] = {}
        unfenced: dict[str, Backtrack] = {}  # launch event id -> its track fitted without fence
        for obs, bt, bt_alone in zip(kept, results, alone, strict=True):
            if bt is None or bt.launch is None:
                self.counts.not_backtracked += 1
                continue
            self.counts.backtracked += 1
            places = [next(where) for point in (bt.launch, bt.impact) if point is not None]
            made = self._shot_events(obs, bt, places, created_ns)
            flight = Flight(bt.plane, bt.reference_ns, bt.state, bt.state_covariance, bt.drag_m2pkg)
            flights.update((e.id, flight) for e in made)
            if bt_alone is not None and bt_alone.launch is not None:
                unfenced[made[0].id] = bt_alone
            events.extend(made)
        return events, flights, unfenced

    @property
    def pending(self) -> bool:
        """Whether tracks wait to be backtracked (`flush_shots`, or the next chunk)."""
        return bool(self._pending)

    def flush_shots(self) -> tuple[list[Event], dict[str, Flight]]:
        """Live: backtrack the tracks fed since the last call now; each one's launch and impact
        events, one radar's track each (as `finish` makes them before it joins several radars'
        tracks of one shot and refines launches by their battery; a live stream joins them
        with `truceline.radar.live.LiveFusion`), and the fitted flight behind each event. The
        tracks are not kept for `finish`: a live stage is not finished as a file is."""
        if not self._pending:
            return [], {}
        started = time.perf_counter()
        fed, self._pending = self._pending, []
        results, alone, _ = self._backtrack([t for _, t in fed], (0, 0))
        kept = [obs for obs, _ in fed]
        events, flights, _ = self._track_events(kept, results, alone, time.time_ns())
        self.counts.seconds += time.perf_counter() - started
        return events, flights

    def _with_batteries(
        self,
        events: list[Event],
        tracks_of: dict[str, Event],
        unfenced: dict[str, Backtrack],
        joined_id: dict[str, str],
    ) -> list[Event]:
        """Radar launches refined by the other rounds of their battery (`truceline.radar.
        battery`): each track's launch point and each (joined) launch event's origin updated
        by the battery position that the other shots' tracks locate; the point before is kept
        as `battery.position_alone`."""
        ids = list(unfenced)
        if len(ids) < 2:
            return events
        bts = [unfenced[i] for i in ids]
        lon, lat = planes_inverse(
            [bt.plane for bt in bts], [bt.launch.east_m for bt in bts],
            [bt.launch.north_m for bt in bts],
        )  # fmt: skip
        battery = battery_points(
            lon,
            lat,
            [bt.reference_ns + round(bt.launch.time_s * 1e9) for bt in bts],
            np.array([bt.launch.covariance for bt in bts]),
            [tracks_of[i].properties["weapon_fit"]["class"] for i in ids],
            [joined_id.get(i, i) for i in ids],
            spread_m=self.radar.battery_spread_m,
            window_s=self.radar.battery_window_s,
            gate_sigma=self.radar.battery_gate_sigma,
        )
        at = {i: q for q, i in enumerate(ids)}
        # What is refined: each launch event's origin (with its own track's battery point; for
        # joined tracks that excludes the other tracks of the shot) and each track behind a
        # joined launch (`radar_all`, with its own).
        targets: list[tuple[int, int, Origin]] = []  # (event index, block index or -1, origin)
        which: list[int] = []
        for n, e in enumerate(events):
            if e.type != "launch" or e.id not in at:
                continue
            targets.append((n, -1, e.origin))
            which.append(at[e.id])
            for k, block in enumerate(e.properties.get("radar_all", ())):
                if block.get("event") in at:
                    targets.append((n, k, tracks_of[block["event"]].origin))
                    which.append(at[block["event"]])
        if not targets:
            return events
        lon_n, lat_n, t_n, cov_n = with_battery(
            [o.lon for _, _, o in targets],
            [o.lat for _, _, o in targets],
            [o.time_ns for _, _, o in targets],
            np.array([o.covariance for _, _, o in targets], float),
            battery.take(which),
            self.radar.battery_spread_m,
        )
        out = list(events)
        for q, ((n, k, before), w) in enumerate(zip(targets, which, strict=True)):
            if battery.rounds[w] == 0:
                continue
            note = {
                "rounds": int(battery.rounds[w]),
                "position_alone": [round(before.lon, 7), round(before.lat, 7)],
                "ellipse95_alone": [
                    round(v, 1) for v in (before.ellipse95.major_m, before.ellipse95.minor_m)
                ]
                + [round(before.ellipse95.azimuth_deg, 1)],
            }
            e = out[n]
            props = dict(e.properties)
            if k < 0:
                self.counts.battery_refined += 1
                major, minor, az = ellipse95(cov_n[q, :2, :2])
                origin = replace(
                    before,
                    lon=float(lon_n[q]),
                    lat=float(lat_n[q]),
                    time_ns=int(t_n[q]),
                    ellipse95=Ellipse(major, minor, az),
                    covariance=tuple(tuple(float(v) for v in row) for row in cov_n[q]),
                )
                props["battery"] = note
                out[n] = replace(e, origin=origin, properties=props)
            else:
                blocks = list(props["radar_all"])
                blocks[k] = {
                    **blocks[k],
                    "position": [round(float(lon_n[q]), 7), round(float(lat_n[q]), 7)],
                    "battery": note,
                }
                props["radar_all"] = blocks
                out[n] = replace(e, properties=props)
        return out

    def _shot_events(
        self, obs: Observation, bt: Backtrack, places: list[tuple[float, float]], created_ns: int
    ) -> list[Event]:
        """The launch and impact events of one backtracked track; `places`: the (lon, lat) of
        its launch point and of its impact point if it has one."""
        launch_id, impact_id = f"RL-{obs.id}", f"RI-{obs.id}"
        has_impact = (
            bt.impact is not None and bt.impact.ellipse95()[0] <= self.radar.max_impact_ellipse_m
        )
        props = {
            "radar_track": obs.id,
            "radar": obs.sensor,
            "weapon_fit": {"class": bt.weapon, "chi2": round(bt.chi2, 3), "dof": bt.dof},
            "class_chi2": dict(bt.class_chi2),
            "class_weights": dict(bt.class_weights),
        }
        out = []
        for (kind, point, eid, evidence), (lon, lat) in zip(
            (
                ("launch", bt.launch, launch_id, (obs.id,)),
                ("impact", bt.impact, impact_id, ()),
            ),
            places,
            strict=False,
        ):
            if point is None:
                continue
            if kind == "impact" and point.ellipse95()[0] > self.radar.max_impact_ellipse_m:
                continue  # too uncertain a prediction to place an impact
            major, minor, az = point.ellipse95()
            origin = Origin(
                lon=lon,
                lat=lat,
                time_ns=bt.reference_ns + round(point.time_s * 1e9),
                ellipse95=Ellipse(major, minor, az),
                covariance=tuple(tuple(float(v) for v in row) for row in point.covariance),
                n_sensors=1,
            )
            extra = {"speed_mps": round(point.speed_mps, 1)}
            if kind == "impact":
                extra["predicted_from"] = obs.id  # a prediction, not an observation of it
            out.append(
                Event(
                    id=eid,
                    type=kind,
                    origin=origin,
                    evidence=evidence,
                    paired=(impact_id if kind == "launch" else launch_id) if has_impact else None,
                    provenance=Provenance.automatic(BACKTRACK_METHOD, (obs.id,), created_ns),
                    properties={**props, **extra},
                )
            )
        return out

    # -- air tracks -----------------------------------------------------------------------------

    def _air_tracks(self, created_ns: int) -> list[Event]:
        if not self._plot_cols:
            return []
        cols = np.array(self._plot_cols, dtype=float)
        t_ns = np.array([c[0] for c in self._plot_cols], np.int64)
        proj = self.agreement.projection
        x, y = proj.forward(cols[:, 1], cols[:, 2])
        ok = np.isfinite(x) & np.isfinite(y) & (cols[:, 4] > 0)
        plots = PlotBatch(
            t_ns[ok],
            np.column_stack([x, y, cols[:, 3]])[ok],
            cols[ok, 4],
            cols[ok, 5:8],
            np.zeros(int(ok.sum()), np.int64),
        )
        ids = [i for i, k in zip(self._plot_ids, ok, strict=True) if k]
        tracker = GnnTracker(self.radar)
        tracks = tracker.run(plots)
        self.counts.tracker = dict(tracker.counts)
        zones = {z: proj.to_local(zone.geometry) for z, zone in self.agreement.zones.items()}
        events = [self._track_event(tr, ids, zones, created_ns) for tr in tracks]
        self.counts.air_tracks = len(events)
        return events

    def _track_event(self, tr: AirTrack, ids: list[str], zones: dict, created_ns: int) -> Event:
        proj = self.agreement.projection
        s = tr.states
        lon, lat = proj.inverse(s[:, 0], s[:, 1])
        path = [
            (float(a), float(b), round(float(h), 1), int(t))
            for a, b, h, t in zip(lon, lat, s[:, 2], tr.time_ns, strict=True)
        ]
        evidence = tuple(ids[j] for j in tr.plots)
        event_id = f"AT-{evidence[0]}"
        side = origin_side(self.agreement, s[:, 0], s[:, 1])
        margin = self.radar.crossing_margin_m
        crossings = line_crossings(self.agreement, s[:, 0], s[:, 1], tr.time_ns, margin)
        crossings += zone_entries(self.agreement, zones, s[:, 0], s[:, 1], tr.time_ns, margin)
        crossings.sort(key=lambda c: c.time_ns)
        self.counts.crossings += len(crossings)
        violations = self._violations(event_id, side, crossings, created_ns, evidence)
        self.counts.violations += len(violations)
        cov0 = tr.covariances[0]
        major, minor, az = ellipse95(cov0[:2, :2])
        speed = np.hypot(s[:, 3], s[:, 4])
        origin = Origin(
            lon=float(lon[0]),
            lat=float(lat[0]),
            time_ns=int(tr.time_ns[0]),
            ellipse95=Ellipse(major, minor, az),
            covariance=(
                (float(cov0[0, 0]), float(cov0[0, 1]), 0.0),
                (float(cov0[1, 0]), float(cov0[1, 1]), 0.0),
                (0.0, 0.0, 0.0),
            ),
            n_sensors=len({i.rsplit("-", 1)[0] for i in evidence}),
        )
        props = {
            "origin_side": side or None,
            "n_plots": len(evidence),
            "segments": tr.segments,
            "duration_s": round((int(tr.time_ns[-1]) - int(tr.time_ns[0])) / 1e9, 1),
            "median_speed_mps": round(float(np.median(speed)), 1),
            "crossings": [self._crossing_dict(c) for c in crossings],
        }
        return Event(
            id=event_id,
            type="air-track",
            origin=origin,
            evidence=evidence,
            path=path,
            violations=tuple(violations),
            provenance=Provenance.automatic(TRACK_METHOD, evidence, created_ns),
            properties=props,
        )

    def _crossing_dict(self, c: Crossing) -> dict:
        lon, lat = self.agreement.projection.inverse(c.x, c.y)
        return {
            "time": format_time(c.time_ns),
            "position": [round(float(lon), 7), round(float(lat), 7)],
            "direction": c.direction,
            "boundary": c.boundary,
        }

    def _violations(
        self,
        event_id: str,
        side: str,
        crossings: list[Crossing],
        created_ns: int,
        evidence: tuple[str, ...],
    ) -> list[Violation]:
        if side == NO_PARTY:
            return []
        out: list[Violation] = []
        effective = self.agreement.effective_ns
        for rule in self.agreement.rules:
            if rule.kind is RuleKind.NO_CROSSING:
                hits = [
                    c
                    for c in crossings
                    if c.boundary == "line" and c.direction.startswith(f"{side}->")
                ]
            elif rule.kind is RuleKind.ZONE_EXCLUSION:
                hits = [c for c in crossings if c.boundary == rule.zone]
            else:
                continue
            hits = [c for c in hits if c.time_ns >= effective]
            if not hits:
                continue
            first = hits[0]
            lon, lat = self.agreement.projection.inverse(first.x, first.y)
            where = "the contact line" if first.boundary == "line" else f"zone {first.boundary}"
            out.append(
                Violation(
                    id=f"{event_id}:{rule.id}",
                    rule=rule.id,
                    article=rule.article,
                    event_id=event_id,
                    party=side,
                    probability=1.0,
                    explanation=(
                        f"air track that began on {side}'s side crossed {where} "
                        f"({first.direction}) at {format_time(first.time_ns)}, "
                        f"{float(lat):.5f} N {float(lon):.5f} E; {CROSSING_RULE}"
                    ),
                    provenance=Provenance.automatic(CROSSING_RULE, (event_id,), created_ns),
                )
            )
        return out

    # -- output ----------------------------------------------------------------------------------

    def finish(self) -> list[Event]:
        """Backtrack every projectile track and track every plot; the radar events."""
        started = time.perf_counter()
        created_ns = time.time_ns()
        events = self._backtrack_all(created_ns) + self._air_tracks(created_ns)
        self.counts.seconds += time.perf_counter() - started
        return events


def _point_time(point) -> int:
    from truceline.timeutil import parse_time

    value = point["time"]
    return value if isinstance(value, int) else parse_time(str(value))


# -- merging radar shots with acoustic events ------------------------------------------------------


def merge(
    acoustic: list[Event],
    radar: list[Event],
    merge_sigma: float,
    window_s: float,
    standalone: bool = True,
    *,
    arrivals: ArrivalsOf | None = None,
    locate: LocateSettings | None = None,
    joint_search_m: float = 2000.0,
) -> tuple[list[Event], int]:
    """Join each radar launch or impact with the acoustic event of the same shot (within
    `window_s` in time and `merge_sigma` in the combined (east, north, time) covariance; one
    radar shot per acoustic event, as many pairs as possible, then the closest). Given the
    acoustic events' `arrivals`, the radar shots and acoustic events left apart are then gated
    on the joint fit of the arrivals with the radar's origin (`truceline.radar.joint`), within
    `joint_search_m` of each other, and fused at its minimum. Radar shots that join none are
    kept only if `standalone`. Returns all events and the number of radar events merged."""
    is_shot = [e.type in ("launch", "impact") and bool(e.origin.covariance) for e in radar]
    shots = [e for e, shot in zip(radar, is_shot, strict=True) if shot]
    others = [e for e, shot in zip(radar, is_shot, strict=True) if not shot]
    # (Several radars' events of one shot were joined by the radar stage, `join_radar_shots`.)
    cands = [e for e in acoustic if e.type in ("launch", "impact") and e.origin.covariance]
    if not shots or not cands:
        return acoustic + (shots + others if standalone else others), 0
    at, ct = GateOrigins.of(shots), GateOrigins.of(cands)
    order = np.argsort(ct.time_ns)
    times_sorted = ct.time_ns[order]
    var_sorted = ct.time_variance()[order]
    ri, ki = _within_time_reach(
        at.time_ns, at.time_variance(), (times_sorted, order, var_sorted), window_s, merge_sigma
    )
    d2 = gate_distance2(at, ri, ct, ki)
    near = np.flatnonzero(d2 < merge_sigma**2)
    pairs = [
        (d, shots[i].id, k)
        for d, i, k in zip(d2[near].tolist(), ri[near].tolist(), ki[near].tolist(), strict=True)
    ]
    # One shot each way (the radars of one shot were joined above), as many pairs as the gates
    # allow, then the closest in place and time: the rounds of a salvo are tens of metres and
    # half a second apart, and taking the closest pair first can leave a round's radar shot
    # without its acoustic event.
    used_r = {shots[i].id: k for i, k in _one_to_one(pairs, [r.id for r in shots])}
    joint: dict[str, JointFit] = {}
    if arrivals is not None:
        left = [i for i, r in enumerate(shots) if r.id not in used_r]
        joint = _joint_pairs(
            [shots[i] for i in left],
            cands,
            set(used_r.values()),
            (times_sorted, order, var_sorted),
            window_s,
            merge_sigma,
            arrivals,
            locate or LocateSettings(),
            joint_search_m,
        )
        used_r.update({rid: k for rid, (k, _) in joint.items()})
    by_id = {e.id: e for e in shots}
    final_id = {rid: cands[k].id for rid, k in used_r.items()}
    fused: dict[str, Event] = {}
    # The information weighting's inverses of the pairs fused without a joint fit, all at once.
    plain = [(rid, k) for rid, k in used_r.items() if rid not in joint]
    weights = dict(
        zip(
            [rid for rid, _ in plain],
            _fusion_weights([cands[k] for _, k in plain], [by_id[rid] for rid, _ in plain]),
            strict=True,
        )
    )
    for rid, k in used_r.items():
        fit = joint[rid][1] if rid in joint else None
        a = fused.get(cands[k].id, cands[k])
        given = weights.get(rid) if a is cands[k] else None  # (fused once, as a rule)
        fused[cands[k].id] = _fuse(a, by_id[rid], fit, given)
    # Pairing follows the radar: a merged launch pairs with its radar impact (merged or not).
    out_radar = []
    new_pair: dict[str, str | None] = {}
    for r in shots:
        partner = final_id.get(r.paired, r.paired) if r.paired else None
        mine = final_id.get(r.id, r.id)
        new_pair[mine] = partner
        if r.id not in final_id and standalone:
            out_radar.append(r.refined(paired=partner))
    kept = {e.id for e in acoustic} | {e.id for e in out_radar}
    new_pair = {k: (v if v in kept else None) for k, v in new_pair.items()}
    repaired = set(new_pair)
    out_acoustic = []
    for a in acoustic:
        ev = fused.get(a.id, a)
        if a.id in fused:
            ev = ev.refined(paired=new_pair[a.id])
        elif a.paired in repaired and new_pair.get(a.paired) != a.id:
            ev = ev.refined(paired=None)  # its partner is now paired through the radar
        out_acoustic.append(ev)
    return out_acoustic + out_radar + others, len(used_r)


def merge_leftovers(
    events: list[Event],
    radar_ids: set[str],
    merge_sigma: float,
    window_s: float,
    *,
    arrivals: ArrivalsOf | None = None,
    locate: LocateSettings | None = None,
    joint_search_m: float = 2000.0,
) -> tuple[list[Event], int]:
    """`merge` once more, after explaining away, between the radar shots still standing alone
    (ids in `radar_ids`) and the acoustic launches and impacts fused with none. The one-to-one
    assignment of the first `merge` can give a round's radar shot to a mixture of rounds rather
    than to the round's own acoustic event; explaining away then dissolves the mixture and sends
    the shot back alone, beside its round's event (docs/methods.md, Radar, "Merging again").
    The events keep their order; a shot fused here disappears under the acoustic event's id,
    its `explains` going with it, and pairings to it follow. Returns the events and the number
    of shots fused."""
    shots = [
        e
        for e in events
        if e.id in radar_ids and e.type in ("launch", "impact") and e.origin.covariance
    ]
    shot_ids = {e.id for e in shots}
    free = [
        e
        for e in events
        if e.id not in shot_ids
        and e.type in ("launch", "impact")
        and "sound_speed_mps" in e.properties  # acoustically located
        and not isinstance(e.properties.get("radar"), dict)  # and fused with no radar shot
    ]
    if not shots or not free:
        return events, 0
    out, fused = merge(
        free,
        shots,
        merge_sigma,
        window_s,
        True,
        arrivals=arrivals,
        locate=locate,
        joint_search_m=joint_search_m,
    )
    if not fused:
        return events, 0
    now = {e.id: e for e in out}
    final_id: dict[str, str] = {}
    for e in out:
        block = e.properties.get("radar")
        if e.id not in shot_ids and isinstance(block, dict) and block.get("event") in shot_ids:
            final_id[block["event"]] = e.id
            if "explains" in block:  # what the shot explained, the event now explains
                props = frozen_update(
                    e.properties,
                    {
                        "radar": {k: v for k, v in block.items() if k != "explains"},
                        "explains": [*e.properties.get("explains", ()), *block["explains"]],
                    },
                )
                now[e.id] = e.refined(properties=props)
    changed = set(final_id) | set(final_id.values())
    result = []
    for e in events:
        if e.id in final_id:
            continue  # fused into its acoustic event
        e = now.get(e.id, e)
        if e.paired in final_id:
            e = e.refined(paired=final_id[e.paired])
        result.append(e)
    # A pairing to an event whose partner changed here holds only if it holds both ways.
    by_id = {e.id: e for e in result}
    for k, e in enumerate(result):
        if not e.paired or not (e.paired in changed or e.id in changed):
            continue
        p = by_id.get(e.paired)
        if p is None or p.paired != e.id:
            result[k] = e.refined(paired=None)
    return result, fused


def _joint_pairs(
    shots: list[Event],
    cands: list[Event],
    taken: set[int],
    by_time: tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]],
    window_s: float,
    merge_sigma: float,
    arrivals: ArrivalsOf,
    locate: LocateSettings,
    search_m: float,
) -> dict[str, tuple[int, JointFit]]:
    """The second pass of `merge`: radar `shots` left apart against the acoustic `cands` not
    `taken`, within the time reach of the gate and `search_m` in place, gated on the joint fit
    (Δχ² < `merge_sigma`²), one to one (least total Δχ² among the most pairs). Returns {radar
    id: (acoustic index, the fit)}."""
    shot_ns = np.array([r.time_ns for r in shots], np.int64)
    ri, ki = _within_time_reach(shot_ns, _time_variance(shots), by_time, window_s, merge_sigma)
    pairs: list[tuple[float, str, int]] = []
    fits: dict[tuple[str, int], JointFit] = {}
    known: dict[int, tuple | None] = {}
    planes: dict[int, TangentPlane] = {}
    for i, k in zip(ri.tolist(), ki.tolist(), strict=True):
        if k in taken:
            continue
        r, a = shots[i], cands[k]
        if i not in planes:
            planes[i] = TangentPlane(r.origin.lon, r.origin.lat)
        e, n = planes[i].forward(a.origin.lon, a.origin.lat)
        if math.hypot(e[0], n[0]) > search_m:
            continue
        if k not in known:
            known[k] = arrivals(a)
        if known[k] is None:
            continue
        fit = joint_fit(a, r, *known[k], locate)
        if fit is not None and fit.delta_chi2 < merge_sigma**2:
            pairs.append((fit.delta_chi2, r.id, k))
            fits[(r.id, k)] = fit
    chosen = _one_to_one(pairs, [r.id for r in shots])
    return {shots[i].id: (k, fits[(shots[i].id, k)]) for i, k in chosen}


def _within_time_reach(
    time_ns: NDArray[np.int64],
    var_s2: NDArray[np.float64],
    by_time: tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]],
    window_s: float,
    merge_sigma: float,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Every (event i, candidate k) pair within the time reach of the fusion gate: events at
    `time_ns` with origin-time variances `var_s2` (s²) against candidates given `by_time` as
    (times sorted, the order that sorts them, variances in that order); within `window_s`, or
    as far as the gate of `merge_sigma` can reach (`search_window_s`, `in_time_reach`). In the
    order of the events, then of the candidates' times."""
    times_sorted, order, var_sorted = by_time
    if time_ns.size == 0 or times_sorted.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    var_max = float(var_sorted.max())
    reach = np.array(
        [round(search_window_s(window_s, merge_sigma, v, var_max) * 1e9) for v in var_s2],
        np.int64,
    )
    lo = np.searchsorted(times_sorted, time_ns - reach)
    hi = np.searchsorted(times_sorted, time_ns + reach, side="right")
    ri = np.repeat(np.arange(time_ns.size), hi - lo)
    sorted_k = _ranges(lo, hi)
    dt = (times_sorted[sorted_k] - time_ns[ri]) / 1e9
    near = in_time_reach(dt, window_s, merge_sigma, var_s2[ri] + var_sorted[sorted_k])
    return ri[near], order[sorted_k[near]]


def _time_variance(events: Sequence[Event]) -> NDArray[np.float64]:
    """Each event's origin-time variance (s²) as a fusion gate sees it (`_gate_covariance`)."""
    out = np.zeros(len(events))
    for k, e in enumerate(events):
        c = _gate_covariance(e)
        if c.shape == (3, 3) and np.isfinite(c[2, 2]):
            out[k] = c[2, 2]
    return out


def search_window_s(
    window_s: float, merge_sigma: float, var_s2: float, other_var_s2: float
) -> float:
    """How far in time (s) to look for the partner of an event whose origin-time variance is
    `var_s2` among events whose largest is `other_var_s2`: `window_s`, or as far as the gate of
    `merge_sigma` can reach, `merge_sigma` times the combined time sigma, whichever is longer
    (docs/methods.md, Radar, "Merging")."""
    return max(window_s, merge_sigma * math.sqrt(max(var_s2 + other_var_s2, 0.0)))


def in_time_reach(dt_s, window_s: float, merge_sigma: float, var_s2):
    """Whether origin times `dt_s` apart (s; arrays allowed) can be one shot: within `window_s`,
    or within `merge_sigma` of their combined time sigma (`var_s2`, the sum of their time
    variances): a pair the gate itself can admit is not cut by the window."""
    dt = np.abs(dt_s)
    return (dt <= window_s) | (dt < merge_sigma * np.sqrt(np.maximum(var_s2, 0.0)))


def _one_to_one(pairs: list[tuple[float, str, int]], ids: list[str]) -> list[tuple[int, int]]:
    """Pairs (radar index, acoustic index) from gated candidates (cost, radar id, acoustic
    index): one each way, the most pairs and then the least total cost (`truceline.assign`)."""
    if not pairs:
        return []
    index = {rid: i for i, rid in enumerate(ids)}
    r = np.array([index[rid] for _, rid, _ in pairs])
    a = np.array([k for _, _, k in pairs])
    ks = assign(r, a, [c for c, _, _ in pairs])
    return [(int(r[k]), int(a[k])) for k in ks]


def _ranges(lo: NDArray[np.int64], hi: NDArray[np.int64]) -> NDArray[np.int64]:
    """The integers of each half-open range [lo[i], hi[i]), one range after another."""
    counts = hi - lo
    total = int(counts.sum())
    starts = np.repeat(lo - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    return (np.arange(total) + starts).astype(np.int64)


GATE_BLOCK = 100_000
"""Pairs gated together by `gate_distance2` (about 30 MB of work arrays)."""


@dataclass(frozen=True)
class GateOrigins:
    """Events' origins as columns for the fusion gates: ECEF points on the ellipsoid (n, 3; m),
    the east-north-up axes of each one's tangent plane (n, 3, 3, as `TangentPlane.rotation`),
    times (ns) and (east, north, time) gate covariances (n, 3, 3, `_gate_covariance`)."""

    ecef: NDArray[np.float64]
    rotation: NDArray[np.float64]
    time_ns: NDArray[np.int64]
    covariance: NDArray[np.float64]

    @classmethod
    def of(cls, events: Sequence[Event]) -> GateOrigins:
        lon = np.array([e.origin.lon for e in events], float)
        lat = np.array([e.origin.lat for e in events], float)
        cov = np.array([_gate_covariance(e) for e in events], float).reshape(-1, 3, 3)
        return cls(
            to_ecef(lon, lat) if lon.size else np.zeros((0, 3)),
            enu_basis(lon, lat),
            np.array([e.time_ns for e in events], np.int64),
            cov,
        )

    def time_variance(self) -> NDArray[np.float64]:
        """`_time_variance` of the events, from their gate covariances (the same values)."""
        var = self.covariance[:, 2, 2]
        return np.where(np.isfinite(var), var, 0.0)


def gate_distance2(
    a: GateOrigins, i: NDArray[np.int64], b: GateOrigins, j: NDArray[np.int64]
) -> NDArray[np.float64]:
    """`_distance2` of each pair (a[i[q]], b[j[q]]), all at once and bit for bit the same: `b`'s
    offset in `a`'s tangent plane and time under the sum of their covariances, one pair per
    matrix product and solve; infinite where that sum is singular. In blocks of `GATE_BLOCK`
    pairs."""
    if i.size > GATE_BLOCK:
        return np.concatenate(
            [
                gate_distance2(a, i[k : k + GATE_BLOCK], b, j[k : k + GATE_BLOCK])
                for k in range(0, i.size, GATE_BLOCK)
            ]
        )
    if i.size == 0:
        return np.zeros(0)
    diff = b.ecef[j] - a.ecef[i]
    en = (diff[:, None, :] @ a.rotation[i, :2, :].transpose(0, 2, 1))[:, 0, :]
    d = np.column_stack([en, (b.time_ns[j] - a.time_ns[i]) / 1e9])
    return _mahalanobis2(d, a.covariance[i] + b.covariance[j])


def _mahalanobis2(d: NDArray[np.float64], c: NDArray[np.float64]) -> NDArray[np.float64]:
    """d[q]ᵀ c[q]⁻¹ d[q] for each row q of d (m, 3) and c (m, 3, 3): one solve and product per
    row, bit for bit those of a single row; infinite where c[q] is singular."""
    try:
        x = np.linalg.solve(c, d[:, :, None])
    except np.linalg.LinAlgError:  # one singular matrix: each row on its own
        out = np.empty(d.shape[0])
        for q in range(d.shape[0]):
            try:
                out[q] = float(d[q] @ np.linalg.solve(c[q], d[q]))
            except np.linalg.LinAlgError:
                out[q] = math.inf
        return out
    return (d[:, None, :] @ x)[:, 0, 0]


def _distance2(a: Event, b: Event) -> float:
    """Squared Mahalanobis distance of two origins over (east, north, time) under the sum of
    their covariances; infinite when that sum is singular."""
    d, c = _offset(a, b)
    try:
        return float(d @ np.linalg.solve(c, d))
    except np.linalg.LinAlgError:
        return math.inf


def _offset(a: Event, b: Event) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """`b`'s origin relative to `a`'s as (east m, north m, time s), and the sum of their
    (east, north, time) covariances."""
    plane = TangentPlane(a.origin.lon, a.origin.lat)
    e, n = plane.forward(b.origin.lon, b.origin.lat)
    d = np.array([e[0], n[0], (b.origin.time_ns - a.origin.time_ns) / 1e9])
    return d, _gate_covariance(a) + _gate_covariance(b)


def _gate_covariance(e: Event) -> NDArray[np.float64]:
    """The (east, north, time) covariance a fusion gate uses: an acoustic event's locator
    covariance, before the association mixture widened it (`covariance_locator`, docs/methods.md,
    Association, step 7): the gate was tuned on it, and a salvo's neighbouring round's radar shot
    falls inside the widened one."""
    return np.asarray(e.properties.get("covariance_locator", e.origin.covariance), dtype=float)


@dataclass(frozen=True)
class Flight:
    """A projectile's fitted state in flight, from one radar's track: (east, north, up m,
    v_east, v_north, v_up m/s) in `plane` at `reference_ns`, its covariance, and the drag
    factor that carries it in time."""

    plane: TangentPlane
    reference_ns: int
    state: NDArray[np.float64]
    covariance: NDArray[np.float64]
    drag_m2pkg: float


def join_radar_shots(
    shots: list[Event],
    merge_sigma: float,
    window_s: float,
    flights: dict[str, Flight] | None = None,
    *,
    kernel: str = "compiled",
) -> tuple[list[Event], dict[str, str]]:
    """Join radar launches (or impacts) of one shot seen by different radars: pairs of the same
    type from different radars whose origins differ by less than `merge_sigma` in the combined
    (east, north, time) covariance and `window_s` in time and, where both tracks' `flights` are
    known, whose flights agree within `merge_sigma` in position at a common time
    (`_flight_distance2`: rockets of a ripple half a second apart share a launch point within
    its uncertainty but are hundreds of metres apart in the air). Closest pairs first (in flight
    when known), one track per radar in a group. Returns the events (a group fused into its
    best-located member, by information weighting) and the id each joined event now goes by."""
    if len(shots) < 2:
        return shots, {}
    flights = flights or {}
    origins = GateOrigins.of(shots)
    order = np.argsort(origins.time_ns, kind="stable")
    var = _time_variance(shots)
    var_max = float(var.max())
    # Every pair (earlier, later in time order) within the time reach of the gate (`window_s`,
    # or further for uncertain times), of one type, from two radars.
    times = origins.time_ns[order]
    reach = np.array(
        [round(search_window_s(window_s, merge_sigma, v, var_max) * 1e9) for v in var[order]],
        np.int64,
    )
    pos = np.arange(len(shots))
    hi = np.searchsorted(times, times + reach, side="right")
    first = np.repeat(pos, hi - pos - 1)
    i, j = order[first], order[_ranges(pos + 1, hi)]
    kinds, radar = np.empty(len(shots), object), np.empty(len(shots), object)
    kinds[:] = [e.type for e in shots]
    radar[:] = [e.properties.get("radar") for e in shots]
    same = (kinds[i] == kinds[j]) & (radar[i] != radar[j])
    i, j = i[same], j[same]
    dt = (origins.time_ns[j] - origins.time_ns[i]) / 1e9
    reachable = in_time_reach(dt, window_s, merge_sigma, var[i] + var[j])
    i, j = i[reachable], j[reachable]
    d2 = gate_distance2(origins, i, origins, j)
    near = np.flatnonzero(d2 < merge_sigma**2)
    pairs = [(float(d2[q]), int(i[q]), int(j[q])) for q in near]
    known = [
        k for k, (_, i, j) in enumerate(pairs) if shots[i].id in flights and shots[j].id in flights
    ]
    if known:
        in_flight = _flight_distance2(
            [flights[shots[pairs[k][1]].id] for k in known],
            [flights[shots[pairs[k][2]].id] for k in known],
            kernel,
        )
        for k, d2 in zip(known, in_flight, strict=True):
            pairs[k] = (float(d2), pairs[k][1], pairs[k][2])
        pairs = [p for p in pairs if p[0] < merge_sigma**2]
    if not pairs:
        return shots, {}
    pairs = _one_per_radar_pair(pairs, radar)
    group = list(range(len(shots)))  # each event's group, named by one member
    members = {k: [k] for k in range(len(shots))}
    radars = [{e.properties.get("radar")} for e in shots]
    for _, i, j in pairs:
        gi, gj = group[i], group[j]
        if gi == gj or radars[gi] & radars[gj]:
            continue
        for k in members[gj]:  # a group holds one track per radar: a few events at most
            group[k] = gi
        members[gi].extend(members.pop(gj))
        radars[gi] |= radars[gj]
    out, ids = [], {}
    for ks in sorted((sorted(ks) for ks in members.values()), key=lambda ks: ks[0]):
        if len(ks) == 1:
            out.append(shots[ks[0]])
            continue
        ks.sort(key=lambda k: np.linalg.det(np.asarray(shots[k].origin.covariance)[:2, :2]))
        ev = shots[ks[0]]
        for k in ks[1:]:
            ev = _fuse_radar(ev, shots[k])
            ids[shots[k].id] = ev.id
        out.append(ev)
    return out, ids


def _one_per_radar_pair(
    pairs: list[tuple[float, int, int]], radar: NDArray[np.object_]
) -> list[tuple[float, int, int]]:
    """Of the gated pairs (cost, i, j) of tracks from two radars, those chosen one to one for
    each pair of radars (`truceline.assign`: the most pairs, then the least total cost), in
    ascending cost. Taking the closest pair first joined the rounds of a ripple crosswise: with
    costs 1.1 (A's round 1 with B's round 2), 2.0 and 2.1 (each round with itself) and 9.1
    (A's round 2 with B's round 1), closest first takes 1.1 and then 9.1 (both events hold one
    track of each round); the assignment takes 2.0 and 2.1."""
    by_radars: dict[tuple, list[int]] = {}
    for q, (_, i, j) in enumerate(pairs):
        by_radars.setdefault(tuple(sorted((str(radar[i]), str(radar[j])))), []).append(q)
    chosen: list[tuple[float, int, int]] = []
    for key, qs in by_radars.items():
        sub = [pairs[q] for q in qs]
        rows = [i if str(radar[i]) == key[0] else j for _, i, j in sub]
        cols = [j if str(radar[i]) == key[0] else i for _, i, j in sub]
        chosen.extend(sub[k] for k in assign(rows, cols, [c for c, _, _ in sub]))
    return sorted(chosen)


def _flight_distance2(
    first: list[Flight], second: list[Flight], kernel: str
) -> NDArray[np.float64]:
    """Squared Mahalanobis distance between the positions of paired flights halfway between
    their reference times: each state carried there by the ballistic model (its covariance by
    the linear motion over half the gap, short against the flight), the first's position in the
    second's plane, under the sum of the two carried position covariances. Meeting halfway
    keeps each carry (and the error of its linearisation) to half the gap and makes the test
    symmetric in the two tracks. All pairs at once (planes and solves together)."""
    if not first:
        return np.zeros(0)
    half = np.array(
        [(g.reference_ns - f.reference_ns) / 2e9 for f, g in zip(first, second, strict=True)]
    )
    a, cov_a = _carry(first, half, kernel)
    b, cov_b = _carry(second, -half, kernel)
    # The first's carried position on the ellipsoid below it, in the second's plane.
    lon, lat = planes_inverse([f.plane for f in first], a[:, 0], a[:, 1])
    e, n = planes_forward([g.plane for g in second], lon, lat)
    d = np.column_stack([e, n, a[:, 2]]) - b[:, :3]
    return _mahalanobis2(d, cov_a + cov_b)


def _carry(
    flights: list[Flight], gap_s: NDArray[np.float64], kernel: str
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Each flight's state carried `gap_s` (s, either sign) from its reference time by the
    ballistic model, in its own plane, and its position covariance carried by the linear motion
    (P_pos + Δ(P_pv + P_vp) + Δ² P_vv)."""
    states = np.array([f.state for f in flights])
    moved = propagate(
        states,
        np.array([f.drag_m2pkg for f in flights]),
        gap_s[:, None],
        PROPAGATE_STEP_S,
        kernel=kernel,
    )[:, 0, :]
    c = np.array([f.covariance for f in flights])
    dt = gap_s[:, None, None]
    cov = c[:, :3, :3] + dt * (c[:, :3, 3:] + c[:, 3:, :3]) + dt * dt * c[:, 3:, 3:]
    return moved, cov


def _radar_blocks(r: Event) -> list[dict]:
    """Each radar track's own result behind a radar event: its properties, event id and
    position (before any joining or fusion)."""
    if "radar_all" in r.properties:
        return list(r.properties["radar_all"])
    block = dict(r.properties)
    block["event"] = r.id
    block["position"] = [round(r.origin.lon, 7), round(r.origin.lat, 7)]
    return [block]


def _fuse_radar(a: Event, b: Event) -> Event:
    """One radar event from two radars' events of one shot: information-weighted origin and
    time, both evidences, `a`'s id and properties, and each track's own result in `radar_all`."""
    d, _ = _offset(a, b)
    ca, cb = np.asarray(a.origin.covariance), np.asarray(b.origin.covariance)
    ia, ib = np.linalg.pinv(ca), np.linalg.pinv(cb)
    cov = np.linalg.pinv(ia + ib)
    cov = 0.5 * (cov + cov.T)
    mean = cov @ (ib @ d)
    plane = TangentPlane(a.origin.lon, a.origin.lat)
    lon, lat = plane.inverse(mean[0], mean[1])
    major, minor, az = ellipse95(cov[:2, :2])
    origin = replace(
        a.origin,
        lon=float(lon[0]),
        lat=float(lat[0]),
        time_ns=a.origin.time_ns + round(float(mean[2]) * 1e9),
        ellipse95=Ellipse(major, minor, az),
        covariance=tuple(tuple(float(v) for v in row) for row in cov),
        n_sensors=a.origin.n_sensors + b.origin.n_sensors,
    )
    props = dict(a.properties)
    props["radar_all"] = _radar_blocks(a) + _radar_blocks(b)
    prov = replace(
        a.provenance,
        inputs=tuple(dict.fromkeys(a.provenance.inputs + b.provenance.inputs)),
    )
    return replace(
        a,
        origin=origin,
        evidence=tuple(dict.fromkeys(a.evidence + b.evidence)),
        properties=props,
        provenance=prov,
    )


def _fusion_weights(
    acoustic: Sequence[Event], radar: Sequence[Event]
) -> list[tuple[NDArray[np.float64], NDArray[np.float64]]]:
    """For each pair (acoustic[q], radar[q]) to be fused by information weighting (`_fuse`
    without a joint fit): (the radar covariance's pseudo-inverse, the fused covariance),
    the pseudo-inverses of all pairs computed as stacks, each bit for bit that of its matrix
    alone (the same SVD per matrix, the same products)."""
    if not acoustic:
        return []
    ca = np.array([a.origin.covariance for a in acoustic], float)
    cr = np.array([r.origin.covariance for r in radar], float)
    ir = np.linalg.pinv(cr)
    cov = np.linalg.pinv(np.linalg.pinv(ca) + ir)
    return [(ir[q], cov[q]) for q in range(len(acoustic))]


def _fuse(
    a: Event,
    r: Event,
    joint: JointFit | None = None,
    weights: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None,
) -> Event:
    """One event from an acoustic event and a radar event of the same shot: the information-
    weighted position and time (or, given the `joint` fit of the acoustic arrivals with the
    radar's origin, its minimum and covariance), the radar's launch/impact decision, both
    evidences. `weights`: the radar covariance's pseudo-inverse and the fused covariance, if
    `_fusion_weights` has computed them."""
    plane = TangentPlane(a.origin.lon, a.origin.lat)
    if joint is None:
        e, n = plane.forward(r.origin.lon, r.origin.lat)
        if weights is None:
            ca = np.asarray(a.origin.covariance)
            cr = np.asarray(r.origin.covariance)
            ia, ir = np.linalg.pinv(ca), np.linalg.pinv(cr)
            cov = np.linalg.pinv(ia + ir)
        else:
            ir, cov = weights
        tr = (r.time_ns - a.time_ns) / 1e9
        mean = cov @ (ir @ np.array([e[0], n[0], tr]))
        lon, lat = plane.inverse(mean[0], mean[1])
        lon, lat = float(lon[0]), float(lat[0])
        time_ns = a.time_ns + round(float(mean[2]) * 1e9)
    else:
        cov, lon, lat, time_ns = joint.covariance, joint.lon, joint.lat, joint.time_ns
    cov = 0.5 * (cov + cov.T)
    major, minor, az = ellipse95(cov[:2, :2])
    origin = replace(
        a.origin,
        lon=lon,
        lat=lat,
        time_ns=time_ns,
        ellipse95=Ellipse(major, minor, az),
        covariance=tuple(tuple(float(v) for v in row) for row in cov),
        n_sensors=a.origin.n_sensors + 1,
    )
    evidence = tuple(dict.fromkeys(a.evidence + r.evidence))
    radar = {k: v for k, v in r.properties.items() if k != "radar_all"}
    radar["event"] = r.id
    radar["position"] = [round(r.origin.lon, 7), round(r.origin.lat, 7)]
    if joint is not None:
        radar["joint_delta_chi2"] = round(joint.delta_chi2, 3)
    # `a`'s properties are frozen already: only the new ones are frozen (`frozen_update`), and
    # the event is made by `Event.refined`, not normalised whole again (the same event).
    props = frozen_update(
        a.properties,
        {
            "radar": radar,
            "radar_all": [*a.properties.get("radar_all", ()), *_radar_blocks(r)],
            "acoustic_type": a.type,
        },
    )
    prov = replace(
        a.provenance,
        method=f"{a.provenance.method}; fused with {r.provenance.method}",
        inputs=tuple(dict.fromkeys(a.provenance.inputs + r.provenance.inputs)),
    )
    return a.refined(
        type=r.type, origin=origin, evidence=evidence, properties=props, provenance=prov
    )
