"""Streaming association of acoustic detections into located events.

Detections arrive in batches, in the order they reach the monitor (not the order they were made).
Each batch goes through four steps (docs/methods.md, "Association"):

1. **Attach**: a detection whose arrival time fits an existing event's predicted arrival at its
   sensor (within `attach_sigma` standard deviations) joins that event. Events are found by time
   (origin time within the longest travel time before the arrival), so the work per detection
   does not grow with the network.
2. **Link**: the other detections join a pool of recent unassociated detections, linked to those
   at neighbouring sensors whose time difference sound could make: |t_i - t_j| <= d_ij / c_min +
   tol. Each sensor's neighbours come from a k-d tree built once.
3. **Extract**: a connected component of the link graph with detections at `min_sensors` or more
   sensors is searched for events: RANSAC over four-detection subsets solved in closed form
   (`truceline.locate.start`), then the locator (`truceline.locate.solver`) on the best
   consensus set. Each event found removes its detections, and the search repeats, so a barrage
   heard by the same sensors seconds apart becomes several events.
4. **Maintain**: events that gained detections are relocated; outliers the locator removes go
   back to the pool; events whose origin is older than `close_after_s` behind the newest arrival
   are closed. Late detections can still attach to closed events, which are then revised.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray
from scipy.special import pdtrc

from truceline.associate.ambiguity import Ambiguity, mixture
from truceline.associate.indices import KEY_STRIDE_S, isin
from truceline.associate.kernel import (
    TRIAL_NONE,
    TRIAL_OK,
    chance_terms,
    choose_many,
    component_labels,
    consensus_kernel,
    hypothesis_consensus,
    line_ratio,
    seed_pools,
    silent_candidates,
    silent_count,
    trial_solve,
    within_reach,
)
from truceline.associate.network import AcousticNetwork
from truceline.associate.provisional import ProvisionalEvents
from truceline.associate.stack import coarse_regions, fine_peaks, salvo
from truceline.config import AssociateSettings, LocateSettings
from truceline.geo.projection import TangentPlane, enu_basis, from_ecef
from truceline.locate.atmosphere import Atmosphere
from truceline.locate.solver import (
    Arrivals,
    Solution,
    SoundSpeed,
    locate,
    prior_row,
    solution_at,
)
from truceline.locate.start import solve_many

log = logging.getLogger(__name__)

LABEL_CODES = {"unknown": 0, "launch": 1, "impact": 2}
_NOT_A_LINE = 0.25 * (1 + 1e-4)
"""Above this `kernel.line_ratio` (closed form, to rounding) the SVD's ratio is surely above
the mirror test's 0.25, so the sensors are not nearly on one line."""
_DIRECT_PAIRS = 2000
"""Up to this many (detection, event) pairs in a batch, attaching tests them all rather than
first keeping those within hearing distance."""


@dataclass
class WorkingEvent:
    """An event while association still works on it; `det` are global detection indices."""

    id: str
    det: list[int]
    sensors: set[int]
    lon: float
    lat: float
    tau_s: float
    ecef: NDArray[np.float64]
    enu: NDArray[np.float64]
    speed: SoundSpeed
    solution: Solution
    projection: TangentPlane
    n_at_solve: int
    closed: bool = False
    dirty: bool = False
    version: int = 1
    provisional: bool = False
    """Found in a salvo that is still arriving: published at once, then revised (the same id)
    or withdrawn when the salvo's group has settled and is searched whole."""
    withdrawn: bool = False

    @property
    def sigma_pred_s(self) -> float:
        """Rough one-sigma error of a predicted arrival from the origin's own uncertainty."""
        cov = self.solution.cov
        return float(np.sqrt(max(cov[2, 2], 0.0) + (cov[0, 0] + cov[1, 1]) / self.speed.c_mps**2))


@dataclass
class AssociationOutput:
    """What one batch changed: events created, revised (new detections or relocation), closed,
    and provisional events withdrawn (their salvo, searched whole, did not confirm them)."""

    created: list[WorkingEvent] = field(default_factory=list)
    updated: list[WorkingEvent] = field(default_factory=list)
    closed: list[WorkingEvent] = field(default_factory=list)
    withdrawn: list[WorkingEvent] = field(default_factory=list)

    def extend(self, other: AssociationOutput) -> None:
        self.created += other.created
        self.updated += other.updated
        self.closed += other.closed
        self.withdrawn += other.withdrawn


class _Grow:
    """A growable NumPy column."""

    def __init__(self, dtype, capacity: int = 1024):
        self.a = np.empty(capacity, dtype=dtype)
        self.n = 0

    def extend(self, values) -> None:
        values = np.asarray(values)
        need = self.n + values.size
        if need > self.a.size:
            new = np.empty(max(need, 2 * self.a.size), dtype=self.a.dtype)
            new[: self.n] = self.a[: self.n]
            self.a = new
        self.a[self.n : need] = values
        self.n = need

    @property
    def v(self):
        return self.a[: self.n]


class _EventColumns:
    """The events' origins as arrays, row i for `events[i]`, rewritten whenever the event is
    located: what attaching and maintenance read for every recent event on every batch (origin
    time, ECEF position, east and north unit vectors, fitted sound speed and wind, the sigma of
    a predicted arrival), and the closed and dirty flags."""

    def __init__(self, capacity: int = 256):
        self.n = 0
        self.tau = np.empty(capacity)
        self.ecef = np.empty((capacity, 3))
        self.enu = np.empty((capacity, 2, 3))
        self.c = np.empty(capacity)
        self.wind = np.empty((capacity, 2))
        self.sig = np.empty(capacity)
        self.closed = np.zeros(capacity, dtype=bool)
        self.dirty = np.zeros(capacity, dtype=bool)
        self.floor = 0
        """Rows before it are older than the last `recent` call's cut-off: that call found row
        floor - 1 older, and no row before floor has been rewritten since (0 when one has)."""
        self.horizon = -np.inf
        """The last `recent` call's horizon (s)."""

    def set(self, i: int, ev: WorkingEvent) -> None:
        """Row i from the event (a new row when i is the next one)."""
        if i < self.floor:
            self.floor = 0
        if i >= self.tau.size:
            for name in ("tau", "ecef", "enu", "c", "wind", "sig", "closed", "dirty"):
                old = getattr(self, name)
                new = np.zeros((2 * old.shape[0], *old.shape[1:]), dtype=old.dtype)
                new[: self.n] = old[: self.n]
                setattr(self, name, new)
        self.n = max(self.n, i + 1)
        speed = ev.solution.speed
        self.tau[i] = ev.tau_s
        self.ecef[i] = ev.ecef
        self.enu[i] = ev.enu
        self.c[i] = speed.c_mps
        self.wind[i] = (speed.wind_e_mps, speed.wind_n_mps)
        self.sig[i] = ev.sigma_pred_s
        self.closed[i] = ev.closed
        self.dirty[i] = ev.dirty

    def recent(self, horizon_s: float) -> NDArray[np.int64]:
        """Rows with origin time from `horizon_s` on, newest first. Rows are appended in
        roughly increasing origin time, so the search starts after the last row more than 600 s
        older than the horizon. The cut-off only grows (horizons do), so the rows before the
        last call's cut-off are not scanned again (all are when the horizon goes back, as at the
        end of input): the result is that of a scan of all rows."""
        if horizon_s < self.horizon:
            self.floor = 0
        self.horizon = horizon_s
        tau = self.tau[: self.n]
        older = self.floor + np.flatnonzero(tau[self.floor :] < horizon_s - 600)
        first = int(older[-1]) + 1 if older.size else self.floor
        self.floor = first
        recent = first + np.flatnonzero(tau[first:] >= horizon_s)
        return recent[::-1]


class AcousticAssociator:
    """Turns batches of acoustic detections into located events, as a stream."""

    def __init__(
        self,
        network: AcousticNetwork,
        atmosphere: Atmosphere,
        epoch_ns: int,
        settings: AssociateSettings | None = None,
        locator: LocateSettings | None = None,
        id_prefix: str = "ac",
        provisional: bool = False,
    ):
        """`provisional`: publish provisional events of salvos still arriving (a live stream;
        a file read whole needs only the settled events)."""
        self.net = network
        self.atmosphere = atmosphere
        self.epoch_ns = epoch_ns
        self.s = settings = settings or AssociateSettings()
        self.locator = locator or LocateSettings()
        # the locator without outlier removal (the ambiguity mixture's), made once
        self.locator_without_outliers = self.locator.model_copy(update={"max_outliers": 0})
        self.jitter_s_per_m = self.locator.propagation_jitter_s_per_km * 1e-3
        self.max_source_m = self.s.max_source_distance_km * 1e3
        self.id_prefix = id_prefix
        self.rng = np.random.default_rng(settings.seed)
        self.graph = network.neighbours(
            settings.link_neighbours,
            settings.link_max_distance_km * 1e3,
            settings.link_min_distance_km * 1e3,
        )
        # Every detection ever added, by global index.
        self.obs_id = _Grow(object)
        self.sensor = _Grow(np.int64)
        self.t = _Grow(np.float64)  # s since epoch_ns
        self.t_ns = _Grow(np.int64)  # the same, exactly: ns since the Unix epoch
        self.label = _Grow(np.int8)
        self.az = _Grow(np.float64)
        self.az_sigma = _Grow(np.float64)
        self.owner = _Grow(np.int64)  # index into self.events, -1 if none
        self.pool = np.zeros(0, dtype=np.int64)  # unassociated, recent
        self.deferred = np.zeros(0, dtype=np.int64)  # pool detections of unsettled dense groups
        self.edges = np.zeros((0, 2), dtype=np.int64)  # links among pool detections
        self.events: list[WorkingEvent] = []
        self._columns = _EventColumns()
        self._ids: set[str] = set()
        self._sandbox = False  # searching for provisional events: record nothing
        self.watermark_s = -np.inf
        self._keys = np.zeros(0)
        self._keys_at = -1
        self._keys_floor = 0  # detections before it are older than `_keys_horizon`
        self._keys_horizon = -np.inf
        self._sorted: tuple[NDArray[np.float64], NDArray[np.int64]] = (
            np.zeros(0),
            np.zeros(0, int),
        )
        self._sorted_at = -1
        self.max_travel_s = self.max_source_m / settings.min_speed_mps
        self.stats = {
            "detections": 0,
            "attached": 0,
            "extract_calls": 0,
            "events": 0,
            "expired_unassociated": 0,
            "relocations": 0,
            "uncrossed": 0,
            "provisional_searches": 0,
            "provisional_events": 0,
            "provisional_withdrawn": 0,
            "provisional_retries": 0,
            "provisional_leftover_searches": 0,
            "ambiguity_s": 0.0,
            "ambiguity_relocations": 0,
        }
        self.provisional = ProvisionalEvents(self, on=provisional)

    # -- public API ---------------------------------------------------------------------------

    def add(
        self, obs_ids, sensor_idx, t_ns, labels, az_deg=None, az_sigma_deg=None
    ) -> AssociationOutput:
        """Add one batch of detections (arrays of equal length) and do all the work it allows."""
        n = len(obs_ids)
        out = AssociationOutput()
        if n == 0:
            return out
        start = self.obs_id.n
        self.obs_id.extend(np.asarray(obs_ids, dtype=object))
        self.sensor.extend(np.asarray(sensor_idx, dtype=np.int64))
        t_ns = np.asarray(t_ns, dtype=np.int64)
        self.t_ns.extend(t_ns)
        t = (t_ns - self.epoch_ns) / 1e9
        self.t.extend(t)
        self.label.extend(np.asarray(labels, dtype=np.int8))
        nan = np.full(n, np.nan)
        self.az.extend(nan if az_deg is None else np.asarray(az_deg, float))
        self.az_sigma.extend(nan if az_sigma_deg is None else np.asarray(az_sigma_deg, float))
        self.owner.extend(np.full(n, -1, dtype=np.int64))
        self.stats["detections"] += n
        self.watermark_s = max(self.watermark_s, float(t.max()))
        new = np.arange(start, start + n, dtype=np.int64)

        loose = self._attach(new, out)
        self._link(loose)
        self._extract_touched(np.concatenate([loose, self.deferred]), out)
        self._maintain(out)
        self.provisional.withdraw_orphans(out)
        return out

    def flush(self) -> AssociationOutput:
        """Close every open event (end of input)."""
        out = AssociationOutput()
        self.watermark_s = np.inf
        self._extract_touched(self.deferred, out)
        self._maintain(out)
        self.provisional.withdraw_orphans(out)
        return out

    def reported(self, ev: WorkingEvent) -> tuple[Solution, Ambiguity | None]:
        """The event's solution as published: with `ambiguity` on, its covariance is the
        mixture over association hypotheses (`truceline.associate.ambiguity`), the origin
        unchanged; and what went into it (None when off). Association never uses it, so it
        changes no event and no detection's owner."""
        if not self.s.ambiguity:
            return ev.solution, None
        started = time.perf_counter()
        result = mixture(
            self,
            np.asarray(ev.det, dtype=np.int64),
            ev.projection,
            ev.speed,
            ev.tau_s,
            ev.solution.cov,
        )
        self.stats["ambiguity_s"] += time.perf_counter() - started
        self.stats["ambiguity_relocations"] += result.relocations
        if result.hypotheses == 0:
            return ev.solution, result
        return replace(ev.solution, cov=result.cov), result

    def sorted_detections(self) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        """Sorted (sensor, time) keys of every detection so far, and their global indices;
        rebuilt when detections were added."""
        if self._sorted_at != self.obs_id.n:
            keys = self.sensor.v * KEY_STRIDE_S + self.t.v
            order = np.argsort(keys, kind="stable")
            self._sorted = (keys[order], order)
            self._sorted_at = self.obs_id.n
        return self._sorted

    # -- step 1: attach -------------------------------------------------------------------------

    def _event_arrays(self, events: NDArray[np.int64]):
        col = self._columns
        return (
            col.tau[events],
            col.ecef[events],
            col.enu[events],
            col.c[events],
            col.wind[events],
            col.sig[events],
        )

    def predicted_arrival(self, ev_ecef, ev_enu, ev_c, ev_wind, ev_tau, sensor_idx):
        """Predicted arrival (s) at sensors from origins, pairwise over equal-length arrays;
        also the distance (m)."""
        vec = self.net.ecef[sensor_idx] - ev_ecef
        d = np.maximum(np.linalg.norm(vec, axis=1), 1e-3)
        ue = np.einsum("ij,ij->i", vec, ev_enu[:, 0, :]) / d
        un = np.einsum("ij,ij->i", vec, ev_enu[:, 1, :]) / d
        c_eff = ev_c + ev_wind[:, 0] * ue + ev_wind[:, 1] * un
        return ev_tau + d / c_eff, d

    def _attach(self, new: NDArray[np.int64], out: AssociationOutput) -> NDArray[np.int64]:
        if not self.events:
            return new
        horizon = self.watermark_s - 4 * self.s.close_after_s - self.s.pool_retention_s
        cand = self._recent_events(horizon)
        if not cand.size:
            return new
        tau, ecef, enu, c, wind, sig = self._event_arrays(cand)
        order = np.argsort(tau)
        tau_sorted = tau[order]
        t_new = self.t.v[new]
        lo = np.searchsorted(tau_sorted, t_new - self.max_travel_s)
        hi = np.searchsorted(tau_sorted, t_new + 0.5)
        counts = hi - lo
        if counts.sum() == 0:
            return new
        pd, position = self._within_reach(new, order, ecef, lo, counts)
        pe = order[position]
        s_idx = self.sensor.v[new[pd]]
        pred, d = self.predicted_arrival(ecef[pe], enu[pe], c[pe], wind[pe], tau[pe], s_idx)
        sigma = np.sqrt(
            self.net.timing_sigma_s[s_idx] ** 2 + (self.jitter_s_per_m * d) ** 2 + sig[pe] ** 2
        )
        z = np.abs(t_new[pd] - pred) / sigma
        ok = (z <= self.s.attach_sigma) & (d <= self.max_source_m)
        if not ok.any():
            return new
        pd, pe, z = pd[ok], pe[ok], z[ok]
        # Best event per detection; then at most one detection per (event, sensor).
        best = np.lexsort((z, pd))
        pd, pe, z = pd[best], pe[best], z[best]
        first = np.ones(pd.size, dtype=bool)
        first[1:] = pd[1:] != pd[:-1]
        attached = np.zeros(new.size, dtype=bool)
        for k in np.flatnonzero(first):
            e = int(cand[pe[k]])
            ev = self.events[e]
            g = int(new[pd[k]])
            sensor = int(self.sensor.v[g])
            if sensor in ev.sensors:
                continue
            ev.det.append(g)
            ev.sensors.add(sensor)
            ev.dirty = True
            self._columns.dirty[e] = True
            self.owner.a[g] = e
            attached[pd[k]] = True
        self.stats["attached"] += int(attached.sum())
        return new[~attached]

    def _within_reach(
        self,
        new: NDArray[np.int64],
        order: NDArray[np.int64],
        ecef: NDArray[np.float64],
        lo: NDArray[np.int64],
        counts: NDArray[np.int64],
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """The (detection, event) pairs attaching tests: detection i of `new` with the events
        at positions lo[i] .. lo[i] + counts[i] - 1 of `order` (the candidate events by origin
        time), less those farther from the detection's sensor than a source can be heard
        (which the test would refuse): along a whole line most events in the time window are
        hundreds of kilometres away. Returns the detections and positions, in the order of
        testing every pair (by detection, then position)."""
        pd = np.repeat(np.arange(new.size), counts)
        position = _ranges(lo, counts)
        if pd.size <= _DIRECT_PAIRS:  # few: testing them all costs less than the call
            return pd, position
        reach = self.max_source_m * (1 + 1e-9) + 1.0  # beyond rounding: a superset
        keep = within_reach(
            self.net.ecef, ecef, self.sensor.v[new][pd], order[position], reach
        )  # (compiled: a pass over the pairs costs less than two k-d trees and their query)
        return pd[keep], position[keep]

    def _recent_events(self, horizon_s: float) -> NDArray[np.int64]:
        """Indices of the events with origin time from `horizon_s` on, newest first (see
        `_EventColumns.recent`)."""
        return self._columns.recent(horizon_s)

    # -- step 2: link -------------------------------------------------------------------------

    def _link(self, loose: NDArray[np.int64]) -> None:
        if loose.size == 0:
            return
        self.pool = np.concatenate([self.pool, loose])
        keys = self.sensor.v[self.pool] * KEY_STRIDE_S + self.t.v[self.pool]
        order = np.argsort(keys)
        keys, pool_sorted = keys[order], self.pool[order]
        g = self.graph
        s_new = self.sensor.v[loose]
        n_nb = g.start[s_new + 1] - g.start[s_new]
        rep = np.repeat(np.arange(loose.size), n_nb)
        nb_pos = _ranges(g.start[s_new], n_nb)
        nb = g.index[nb_pos]
        window = g.distance_m[nb_pos] / self.s.min_speed_mps + self.s.link_tolerance_s
        t_rep = self.t.v[loose[rep]]
        lo = np.searchsorted(keys, nb * KEY_STRIDE_S + t_rep - window)
        hi = np.searchsorted(keys, nb * KEY_STRIDE_S + t_rep + window, side="right")
        counts = hi - lo
        src = np.repeat(loose[rep], counts)
        dst = pool_sorted[_ranges(lo, counts)]
        if src.size:
            self.edges = np.vstack([self.edges, np.column_stack([src, dst])])

    # -- step 3: extract ----------------------------------------------------------------------

    def _components(self) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Component label of each pool detection (pool order)."""
        n = self.pool.size
        order = np.argsort(self.pool)
        sorted_pool = self.pool[order]

        def position(g: NDArray[np.int64]) -> NDArray[np.int64]:
            at = np.minimum(np.searchsorted(sorted_pool, g), max(n - 1, 0))
            return np.where((n > 0) & (sorted_pool[at] == g), order[at], -1)

        if self.edges.size:
            a, b = position(self.edges[:, 0]), position(self.edges[:, 1])
            ok = (a >= 0) & (b >= 0)
            a, b = a[ok], b[ok]
            self.edges = self.edges[ok]
        else:
            a = b = np.zeros(0, dtype=np.int64)
        return component_labels(n, a, b), self.pool

    def _extract_touched(self, loose: NDArray[np.int64], out: AssociationOutput) -> None:
        retry = self.provisional.retry_due()
        if (loose.size == 0 and retry.size == 0) or self.pool.size == 0:
            return
        labels, pool = self._components()
        touched = set(labels[isin(pool, loose)].tolist())
        retried = set(labels[isin(pool, retry)].tolist()) - touched
        sizes = np.bincount(labels)
        removed: list[int] = []
        deferred: list[NDArray[np.int64]] = []
        settled_before = self.watermark_s - self.s.settle_s
        waited_before = self.watermark_s - self.s.settle_max_s
        for comp in touched:
            if sizes[comp] < self.s.min_sensors:
                continue
            members = pool[labels == comp]
            n_sensors, dense = self._breadth(members)
            if n_sensors < self.s.min_sensors:
                continue
            # A dense group (a salvo) is searched once it has stopped growing: searched while
            # its rounds are still arriving, a partial view lets mixed rounds pass as events.
            t_members = self.t.v[members]
            if dense and t_members.max() > settled_before and t_members.min() > waited_before:
                deferred.append(members)
                if self.provisional.on:
                    self.provisional.search(members, out)
                continue
            found = self._extract(members, dense)
            self.provisional.succeed(members, found, out)
            removed.extend(g for ev in found for g in ev.det)
            self.provisional.queue_retry(members, found, out)
        for comp in retried:
            members = pool[labels == comp]
            n_sensors, dense = self._breadth(members)
            if n_sensors >= self.s.min_sensors:
                self.stats["provisional_retries"] += 1
                self.provisional.search(members, out, dense=dense, again=True)
        self.deferred = np.concatenate(deferred) if deferred else np.zeros(0, dtype=np.int64)
        if removed:
            self._drop_from_pool(np.array(removed, dtype=np.int64))

    def _breadth(self, members: NDArray[np.int64]) -> tuple[int, bool]:
        """How many sensors heard a group's detections, and whether the group is dense (a salvo
        or barrage: `stack_density` or more detections per sensor)."""
        n_sensors = int(np.unique(self.sensor.v[members]).size)
        return n_sensors, members.size >= self.s.stack_density * n_sensors

    def _drop_from_pool(self, gone: NDArray[np.int64]) -> None:
        self.pool = self.pool[~isin(self.pool, gone)]
        if self.edges.size:
            keep = ~(isin(self.edges[:, 0], gone) | isin(self.edges[:, 1], gone))
            self.edges = self.edges[keep]

    def _arrivals(self, det: NDArray[np.int64], projection: TangentPlane) -> Arrivals:
        s = self.sensor.v[det]
        x, y = projection.from_ecef(self.net.ecef[s])
        return Arrivals(
            np.atleast_1d(x),
            np.atleast_1d(y),
            self.t.v[det],
            self.net.timing_sigma_s[s],
            self.az.v[det],
            self.az_sigma.v[det],
        )

    def _frame(self, members: NDArray[np.int64]) -> tuple[TangentPlane, Arrivals, SoundSpeed]:
        """A group's tangent plane (at its sensors' mean position), its arrivals in that
        plane, and the speed of sound at the plane's origin at the group's median time."""
        s_idx = self.sensor.v[members]
        lon0, lat0 = float(np.mean(self.net.lon[s_idx])), float(np.mean(self.net.lat[s_idx]))
        projection = TangentPlane(lon0, lat0)
        arr_all = self._arrivals(members, projection)
        t_mid = float(np.median(arr_all.t_s))
        speed = self.atmosphere.sound_speed(projection.origin, self.epoch_ns + int(t_mid * 1e9))
        return projection, arr_all, speed

    def _extract(self, members: NDArray[np.int64], dense: bool) -> list[WorkingEvent]:
        """Find events in one component's detections, best first, until none is left; a dense
        component (a salvo) is first searched at its places, then also by stacking."""
        if not self._sandbox:
            self.stats["extract_calls"] += 1
        s_idx = self.sensor.v[members]
        projection, arr_all, speed = self._frame(members)
        remaining = np.ones(members.size, dtype=bool)
        found: list[WorkingEvent] = []
        # Dense groups (salvos) are first searched round by round at the salvos' places, then
        # also by stacking; the coarse search for the areas where sources lie is done once per
        # group, the fine one for each event.
        regions = None
        if dense:
            regions = coarse_regions(
                arr_all.x_m,
                arr_all.y_m,
                arr_all.t_s,
                speed,
                margin_m=min(self.max_source_m / 2, 8_000.0),
            )
            found = self._salvo_rounds(members, remaining, arr_all, speed, projection, regions)
        retries = self.s.search_retries
        for _ in range(64):
            idx = np.flatnonzero(remaining)
            if np.unique(s_idx[idx]).size < self.s.min_sensors:
                break
            event = self._best_event(members, idx, arr_all, speed, projection, regions)
            if event is None:
                if retries > 0:  # RANSAC draws afresh: another try may find what one missed
                    retries -= 1
                    continue
                break
            found.append(event)
            used = isin(members, np.array(event.det))
            remaining &= ~used
        if self.s.uncross and len(found) > 1:
            self._uncross(found, members, arr_all, speed, projection)
        return found

    def _rounds_through(
        self,
        members: NDArray[np.int64],
        events: list[WorkingEvent],
        seeds: NDArray[np.int64],
    ) -> list[WorkingEvent]:
        """Rounds of a salvo through each of `seeds` (detections of the group `members` that
        `events` do not hold), at the places of `events` (each seed's time there fixes the
        origin time), gathered from all of the group's detections, held ones included. A
        round that a greedy search missed because other events hold part of it is found so;
        what is found may share detections with `events` (provisional searches only: the search
        for good decides). A round holding most of an event's detections is that event."""
        if not events or seeds.size == 0:
            return []
        projection, arr_all, speed = self._frame(members)
        px, py = projection.from_ecef(np.array([ev.ecef for ev in events]))
        keep: list[int] = []
        for k in range(px.size):  # distinct places: 200 m apart
            if all(np.hypot(px[k] - px[j], py[k] - py[j]) >= 200.0 for j in keep):
                keep.append(k)
        px, py = px[keep], py[keep]
        pos = np.flatnonzero(isin(members, seeds))
        everything = np.arange(members.size)
        known = [set(ev.det) for ev in events]
        found: list[WorkingEvent] = []
        taken: set[int] = set()
        for p in pos[np.argsort(-arr_all.t_s[pos], kind="stable")]:  # newest first
            g = int(members[p])
            if g in taken:
                continue
            travel, _ = speed.travel_time_s(arr_all.x_m[p] - px, arr_all.y_m[p] - py)
            event = self._try_hypotheses(
                members, everything, arr_all, speed, projection,
                px, py, arr_all.t_s[p] - travel, n_forced=px.size,
            )  # fmt: skip
            if event is None or g not in event.det:
                continue
            det = set(event.det)
            if any(2 * len(det & other) > min(len(det), len(other)) for other in known):
                continue
            found.append(event)
            known.append(det)
            taken |= det
        return found

    def _uncross(
        self,
        found: list[WorkingEvent],
        members: NDArray[np.int64],
        arr_all: Arrivals,
        speed: SoundSpeed,
        projection: TangentPlane,
    ) -> None:
        """Rounds located crosswise (docs/methods.md, Association, "Rounds located crosswise"):
        two rounds fired from one place a fraction of a second apart reach every sensor in the
        same order, but a search can give each event the first round's arrivals at some sensors
        and the second's at others, both located between the rounds. For each pair of the
        group's events within `uncross_distance_m` and `uncross_window_s` that hold detections
        at `min_sensors` or more of the same sensors, the earlier detection at each of those
        sensors goes to one round and the later to the other; each is solved, every detection
        of the pair then goes to the round it fits better (one per sensor and round), and both
        are solved again. The pair is replaced (in place: same ids) when both solutions are
        acceptable, keep every detection and their total χ² is smaller."""
        pos = {int(g): k for k, g in enumerate(members)}
        sensor_of = self.sensor.v[members]
        n_min = self.s.min_sensors
        for i, j in itertools.combinations(range(len(found)), 2):
            a, b = found[i], found[j]
            if abs(a.tau_s - b.tau_s) > self.s.uncross_window_s:
                continue
            shared = a.sensors & b.sensors
            if len(shared) < n_min:
                continue
            ax, ay = projection.forward(a.lon, a.lat)
            bx, by = projection.forward(b.lon, b.lat)
            if float(np.hypot(ax[0] - bx[0], ay[0] - by[0])) > self.s.uncross_distance_m:
                continue
            if any(g not in pos for g in a.det + b.det):
                continue
            pair = np.array([pos[g] for g in a.det + b.det], np.int64)
            if np.unique(pair).size != pair.size:
                continue
            at = sensor_of[pair]
            early, late = [], []
            for s_ in shared:
                here = pair[at == s_]
                if here.size != 2:
                    break
                first = int(np.argmin(arr_all.t_s[here]))
                early.append(int(here[first]))
                late.append(int(here[1 - first]))
            else:
                rounds = (np.array(early, np.int64), np.array(late, np.int64))
                places = ((float(ax[0]), float(ay[0])), (float(bx[0]), float(by[0])))
                self._uncross_pair(
                    (a, b), places, pair, rounds, members, arr_all, speed, projection
                )

    def _uncross_pair(
        self,
        events: tuple[WorkingEvent, WorkingEvent],
        places: tuple[tuple[float, float], tuple[float, float]],
        pair: NDArray[np.int64],
        rounds: tuple[NDArray[np.int64], NDArray[np.int64]],
        members: NDArray[np.int64],
        arr_all: Arrivals,
        speed: SoundSpeed,
        projection: TangentPlane,
    ) -> None:
        """One pair of `_uncross`: the detections `pair` (positions in `members`) of two
        `events` at `places` (east, north in the group's `projection`), the earlier and the
        later detections at their shared sensors (`rounds`): solve the two rounds, reassign,
        solve again, keep if better."""
        t, at = arr_all.t_s[pair], self.sensor.v[members[pair]]
        order = (0, 1) if events[0].tau_s <= events[1].tau_s else (1, 0)
        first, second = (events[k] for k in order)
        starts = [(*places[k], events[k].tau_s) for k in order]
        sols = []
        for chosen, start in zip(rounds, starts, strict=True):
            sol = locate(
                arr_all.subset(_mask(arr_all.n, chosen)),
                speed,
                start,
                self.locator_without_outliers,
            )
            if sol is None or not sol.converged:
                return
            sols.append(sol)
        # Every detection of the pair to the round it fits better, one per sensor and round.
        z = np.empty((2, pair.size))
        for k, sol in enumerate(sols):
            travel, d = sol.speed.travel_time_s(
                arr_all.x_m[pair] - sol.x_m, arr_all.y_m[pair] - sol.y_m
            )
            sigma = np.sqrt(arr_all.sigma_s[pair] ** 2 + (self.jitter_s_per_m * d) ** 2)
            z[k] = np.abs(t - sol.tau_s - travel) / sigma
        take: list[list[int]] = [[], []]
        for s_ in np.unique(at):
            here = np.flatnonzero(at == s_)
            if here.size == 1:
                take[int(np.argmin(z[:, here[0]]))].append(int(pair[here[0]]))
            else:
                p, q = here[0], here[1]
                straight = z[0, p] ** 2 + z[1, q] ** 2
                crossed = z[0, q] ** 2 + z[1, p] ** 2
                take[0].append(int(pair[p if straight <= crossed else q]))
                take[1].append(int(pair[q if straight <= crossed else p]))
        if min(len(take[0]), len(take[1])) < self.s.min_sensors:
            return
        new = []
        for chosen, sol in zip(take, sols, strict=True):
            chosen_arr = np.array(sorted(chosen), np.int64)
            sol = locate(
                arr_all.subset(_mask(arr_all.n, chosen_arr)),
                speed,
                (sol.x_m, sol.y_m, sol.tau_s),
                self.locator,
            )
            if sol is None or not self._acceptable(sol) or not sol.keep.all():
                return
            new.append((chosen_arr, sol))
        if new[0][1].chi2 + new[1][1].chi2 >= first.solution.chi2 + second.solution.chi2:
            return
        if not self._sandbox:
            self.stats["uncrossed"] += 1
        for ev, (chosen_arr, sol) in zip((first, second), new, strict=True):
            self._reset(ev, members[chosen_arr], sol, projection)

    def _place(
        self, ev: WorkingEvent, det: NDArray[np.int64], sol: Solution, projection: TangentPlane
    ) -> None:
        """Event `ev` with detections `det` (global indices) and their solution `sol` (in
        `projection`), its projection re-centred on the new origin so later solves stay
        exact; a new version."""
        lon, lat = projection.inverse(sol.x_m, sol.y_m)
        ev.lon, ev.lat = float(np.atleast_1d(lon)[0]), float(np.atleast_1d(lat)[0])
        ev.tau_s, ev.solution = sol.tau_s, sol
        ev.projection = TangentPlane(ev.lon, ev.lat)
        ev.ecef, ev.enu = ev.projection.origin, ev.projection.rotation[:2]
        ev.det = det.tolist()
        ev.sensors = set(self.sensor.v[det].tolist())
        ev.n_at_solve = len(ev.det)
        ev.version += 1

    def _reset(
        self, ev: WorkingEvent, det: NDArray[np.int64], sol: Solution, projection: TangentPlane
    ) -> None:
        """Give event `ev` new detections `det` and their solution `sol` in the group's
        `projection` (`_place`), and own them."""
        self._place(ev, det, sol, projection)
        if self._sandbox:
            return
        # (from the end: the group's events were made last; a scan from the start grows with
        # the day's events)
        index = next(k for k in range(len(self.events) - 1, -1, -1) if self.events[k] is ev)
        self.owner.a[det] = index
        self._columns.set(index, ev)

    def _salvo_rounds(
        self,
        members: NDArray[np.int64],
        remaining: NDArray[np.bool_],
        arr_all: Arrivals,
        speed: SoundSpeed,
        projection: TangentPlane,
        regions: list[tuple[float, float]],
    ) -> list[WorkingEvent]:
        """The rounds of the salvos in a dense group, place by place: where the most
        detections agree in rounds (`stack.salvo`), each round's origin time with that place
        is a trial origin solved on its own tight consensus; repeated while a place yields
        rounds. A round found this way is pure: with the place fixed, the rounds of a salvo
        fall apart in origin time, where a search over place and time lets them mix. The
        rounds' detections are taken out of `remaining` (in place)."""
        found: list[WorkingEvent] = []
        for _ in range(8):
            idx = np.flatnonzero(remaining)
            sensors = self.sensor.v[members[idx]]
            if np.unique(sensors).size < self.s.min_sensors:
                break
            place = salvo(
                arr_all.x_m[idx],
                arr_all.y_m[idx],
                arr_all.t_s[idx],
                sensors,
                speed,
                regions,
                self.s.min_sensors,
                false_rounds=self.s.salvo_false_rounds,
            )
            if place is None:
                break
            before = len(found)
            for tau in place.taus:
                idx = np.flatnonzero(remaining)
                event = self._try_hypotheses(
                    members,
                    idx,
                    arr_all,
                    speed,
                    projection,
                    np.array([place.x_m]),
                    np.array([place.y_m]),
                    np.array([tau]),
                    n_forced=1,
                )
                if event is not None:
                    found.append(event)
                    remaining &= ~isin(members, np.array(event.det))
            if len(found) == before:
                break
        return found

    def _hypotheses(
        self, arr: Arrivals, idx: NDArray[np.int64], c: float, sensors: NDArray[np.int64]
    ) -> tuple[NDArray, NDArray, NDArray]:
        """Closed-form origins from four-detection subsets: half of each sensor's first
        arrivals, half of a seed and three detections at other sensors whose time differences
        from the seed sound could make. `sensors` gives the sensor of each detection in `idx`."""
        x, y, t = arr.x_m[idx], arr.y_m[idx], arr.t_s[idx]
        m = idx.size
        budget = self.s.ransac_hypotheses
        subsets = []
        # First arrivals: each sensor's earliest detection. In a salvo these are the first round
        # (and, once it is extracted, the next), so subsets of them are pure.
        order = np.lexsort((t, sensors))
        first = order[np.r_[True, sensors[order][1:] != sensors[order][:-1]]]
        if first.size >= 4:
            subsets += _choices(self.rng, [first] * (budget // 2), 4).tolist()
        seeds = self.rng.permutation(m)[: budget - len(subsets)]
        # Which detections sound could join to each seed, and of those the 8 nearest in time
        # (compiled, `kernel.seed_pools`; NumPy's order decides where |dt| ties).
        drawn, pool_cat, starts, ties = seed_pools(
            x, y, t, seeds, self.s.min_speed_mps, self.s.link_tolerance_s, 8
        )
        if not ties:
            if drawn.size:  # three of each seed's near neighbours (the draws in the seeds' order)
                picks = choose_many(self.rng, pool_cat, starts, 3)
                subsets += np.column_stack([drawn, picks]).tolist()
            if not subsets:
                return np.zeros(0), np.zeros(0), np.zeros(0)
            sub = np.array(subsets)
            return solve_many(x[sub], y[sub], t[sub], c)
        # Which detections sound could join to each seed (the seeds' rows only).
        dist = np.hypot(x[seeds, None] - x[None, :], y[seeds, None] - y[None, :])
        compatible = (
            np.abs(t[seeds, None] - t[None, :])
            <= dist / self.s.min_speed_mps + self.s.link_tolerance_s
        ) & (dist > 1.0)
        drawn, pools = [], []
        for row, seed in enumerate(seeds):
            others = np.flatnonzero(compatible[row])
            if others.size < 3:
                continue
            # Prefer near neighbours in time: they are most likely the same event.
            drawn.append(seed)
            pools.append(others[np.argsort(np.abs(t[others] - t[seed]))[:8]])
        if pools:  # three of each seed's near neighbours (the draws in the seeds' order)
            picks = _choices(self.rng, pools, 3)
            subsets += np.column_stack([np.array(drawn), picks]).tolist()
        if not subsets:
            return np.zeros(0), np.zeros(0), np.zeros(0)
        sub = np.array(subsets)
        return solve_many(x[sub], y[sub], t[sub], c)

    def _best_event(
        self,
        members,
        idx,
        arr_all: Arrivals,
        speed: SoundSpeed,
        projection: TangentPlane,
        regions: list[tuple[float, float]] | None,
    ) -> WorkingEvent | None:
        """The best event among the detections `idx` of a group: trial origins from RANSAC,
        and from stacking within `regions` (dense groups), else from a polar grid."""
        sensors = self.sensor.v[members[idx]]
        hx, hy, ht = self._hypotheses(arr_all, idx, speed.c_mps, sensors)
        peaks = []
        if regions is not None:
            peaks = fine_peaks(arr_all.x_m[idx], arr_all.y_m[idx], arr_all.t_s[idx], speed, regions)
            hx = np.concatenate([[p.x_m for p in peaks], hx])
            hy = np.concatenate([[p.y_m for p in peaks], hy])
            ht = np.concatenate([[p.tau_s for p in peaks], ht])
        event = self._try_hypotheses(
            members, idx, arr_all, speed, projection, hx, hy, ht, n_forced=len(peaks)
        )
        if event is None:
            gx, gy, gt = self._grid_start(arr_all, idx, speed)
            event = self._try_hypotheses(members, idx, arr_all, speed, projection, gx, gy, gt)
        return event

    def _try_hypotheses(
        self,
        members,
        idx,
        arr_all: Arrivals,
        speed: SoundSpeed,
        projection: TangentPlane,
        hx,
        hy,
        ht,
        n_forced: int = 0,
    ) -> WorkingEvent | None:
        """Rank trial origins (hx, hy, ht) by consensus and solve the best few; the first
        `n_forced` are always solved."""
        valid = np.isfinite(hx) & (np.hypot(hx, hy) < self.max_source_m)
        if not valid.any():
            return None
        forced = np.arange(int(valid[:n_forced].sum()))  # the forced ones lead the arrays
        hx, hy, ht = hx[valid], hy[valid], ht[valid]
        x, y, t = arr_all.x_m[idx], arr_all.y_m[idx], arr_all.t_s[idx]
        # Consensus: the detections within the loose and the tight tolerance of each trial
        # origin's predicted arrivals (compiled; the residuals of the few solved are below).
        score, tight = hypothesis_consensus(
            x, y, t, hx, hy, ht, speed.c_mps, speed.wind_e_mps, speed.wind_n_mps,
            self.s.inlier_tolerance_s, self.s.tight_tolerance_s,
        )  # fmt: skip
        # Rank by the tight consensus first: a subset of one sound's detections predicts the
        # others closely, one mixing the rounds of a salvo does not; then by the loose one.
        rank = tight * (idx.size + 1) + score
        log.debug(
            "component of %d: %d hypotheses, best consensus %d (tight %d)",
            idx.size,
            hx.size,
            score.max(),
            tight.max(),
        )
        # Solve from the best few distinct trial origins and keep the origin that explains the
        # most sensors: any five detections fit some origin, so a mix of a salvo's rounds can pass
        # the misfit test, but it does not gather the other sensors the way one round does.
        tried: list[tuple[float, float]] = []
        best: tuple[NDArray[np.int64], Solution] | None = None
        trial = self._trial_inputs(members, arr_all, speed)
        order = np.argsort(-rank, kind="stable")
        for h in np.concatenate([forced, order[~isin(order, forced)]]):
            if len(tried) >= self.s.solve_candidates + forced.size:
                break
            if score[h] < self.s.min_sensors:
                continue
            if any(np.hypot(hx[h] - a, hy[h] - b) < 200.0 for a, b in tried):
                continue  # the same place as one already tried
            tried.append((hx[h], hy[h]))
            # Start from the tight consensus where it suffices: within the loose tolerance, a
            # sensor that missed this sound may offer another round of a salvo instead.
            found = self._solve_trial(
                members, idx, arr_all, speed, projection, (hx[h], hy[h], ht[h]),
                bool(tight[h] >= self.s.min_sensors), trial, None if best is None else best[1],
            )  # fmt: skip
            if found is not None and (best is None or _better(found[1], best[1])):
                best = found
        if best is None:
            return None
        return self._new_event(members[best[0]], best[1], speed, projection)

    def _grid_start(self, arr: Arrivals, idx, speed: SoundSpeed):
        """Starting points that do not depend on the sensors' geometry: a polar grid around the
        sensors of the earliest arrivals (the first sensor to hear a sound is usually the
        nearest), each node's origin time fixed by that arrival; the nodes where most other
        arrivals fit are returned, best first."""
        x, y, t = arr.x_m[idx], arr.y_m[idx], arr.t_s[idx]
        radii = np.concatenate([[0.0], 150.0 * 1.15 ** np.arange(33)])
        radii = radii[radii <= self.max_source_m / 2]
        angles = np.radians(np.arange(0, 360, 5.0))
        px = (radii[:, None] * np.sin(angles)[None, :]).ravel()
        py = (radii[:, None] * np.cos(angles)[None, :]).ravel()
        pr = np.repeat(radii, angles.size)
        out_x, out_y, out_t, out_s = [], [], [], []
        for seed in np.argsort(t)[:3]:
            gx, gy = x[seed] + px, y[seed] + py
            gt = t[seed] - pr / speed.c_mps
            score = consensus_kernel(x, y, t, gx, gy, gt, speed.c_mps, self.s.inlier_tolerance_s)
            best = np.argsort(-score, kind="stable")[:3]
            out_x += gx[best].tolist()
            out_y += gy[best].tolist()
            out_t += gt[best].tolist()
            out_s += score[best].tolist()
        order = np.argsort(-np.array(out_s), kind="stable")
        return (np.array(out_x)[order], np.array(out_y)[order], np.array(out_t)[order])

    def _trial_inputs(self, members, arr_all: Arrivals, speed: SoundSpeed) -> tuple | None:
        """What `kernel.trial_solve` takes of a group, made once per set of trial origins: its
        arrivals as contiguous arrays, their sensors, the speed and the weather prior (None
        with the NumPy locator: the trials are then solved by `_solve_new` alone)."""
        if self.locator.kernel != "compiled":
            return None
        loc = self.locator

        def f64(a):
            return np.ascontiguousarray(a, dtype=np.float64)

        return (
            f64(arr_all.x_m), f64(arr_all.y_m), f64(arr_all.t_s), f64(arr_all.sigma_s),
            f64(arr_all.az_deg), f64(arr_all.az_sigma_deg), self.sensor.v[members],
            np.array([speed.c_mps, speed.wind_e_mps, speed.wind_n_mps]),
            prior_row(speed, loc),
            loc.propagation_jitter_s_per_km * 1e-3, loc.huber_k, loc.max_iterations,
            loc.tolerance_m, loc.outlier_sigma, loc.max_outliers,
        )  # fmt: skip

    def _solve_trial(
        self, members, idx, arr_all: Arrivals, speed, projection, origin, use_tight, trial, beat
    ) -> tuple[NDArray[np.int64], Solution] | None:
        """A trial origin of `_try_hypotheses`: its consensus (the detections of `idx` within
        the tight tolerance of its predicted arrivals if `use_tight`, else the loose one; the
        closest per sensor) solved from it and checked by `_solve_new`. The consensus, the
        solves and the gathering are one compiled call (`kernel.trial_solve`, the same numbers);
        where it cannot be sure of a solve (a nearly singular covariance) or the locator is
        NumPy's, `_solve_new` does it all. `beat`: the best solution so far (or None); a trial
        that cannot be better (`_better`) is not made a solution nor checked, since the caller
        would drop it: fewer sensors used (or fewer than `min_sensors`: rejected), where the
        mirror test surely keeps the solution (its mirror image may use other sensors)."""
        if trial is not None:
            x, y, t, sig, az, az_sig, sensor_of, sp, prior, *loc = trial
            status, theta, keep, iterations, converged, chosen = trial_solve(
                x, y, t, sig, az, az_sig, sensor_of, idx, np.array(origin, dtype=float),
                use_tight, sp, prior, *loc, self.s.tight_tolerance_s,
                self.s.inlier_tolerance_s, self.s.attach_sigma, self.max_source_m,
                self.s.min_sensors,
            )  # fmt: skip
            if status == TRIAL_NONE:
                return None
            if status == TRIAL_OK:
                n_used = int(np.count_nonzero(keep))
                if n_used < self.s.min_sensors or (beat is not None and n_used < beat.n_used):
                    used = chosen[keep]
                    if line_ratio(arr_all.x_m[used], arr_all.y_m[used]) > _NOT_A_LINE:
                        return None  # (rejected by `_checked`, or dropped by the caller)
                sol = solution_at(
                    arr_all.subset(_mask(arr_all.n, chosen)), speed, self.locator, theta, keep,
                    iterations, converged,
                )  # fmt: skip
                if sol is not None:
                    return self._checked(sol, chosen, members, arr_all, speed, projection)
        x, y, t = arr_all.x_m[idx], arr_all.y_m[idx], arr_all.t_s[idx]
        travel, _ = speed.travel_time_s(x - origin[0], y - origin[1])
        resid = np.abs(t - origin[2] - travel)
        tolerance = self.s.tight_tolerance_s if use_tight else self.s.inlier_tolerance_s
        near = resid <= tolerance
        chosen = _one_per_sensor(idx[near], resid[near], self.sensor.v[members[idx[near]]])
        return self._solve_new(members, chosen, arr_all, idx, speed, projection, origin)

    def _solve_new(
        self, members, chosen, arr_all: Arrivals, idx, speed, projection, start
    ) -> tuple[NDArray[np.int64], Solution] | None:
        """Locate from a trial origin and its consensus, gather every consistent detection and
        check the result; returns the detections used (positions in `members`) and the
        solution, or None."""
        sol = locate(arr_all.subset(_mask(arr_all.n, chosen)), speed, start, self.locator)
        if sol is None:
            log.debug("no solution from %d detections", chosen.size)
            return None
        # Gather, and repeat: every remaining detection consistent with the solution, the
        # closest one per sensor, then solve again, until the set stops changing.
        x, y, t = arr_all.x_m[idx], arr_all.y_m[idx], arr_all.t_s[idx]
        for _ in range(4):
            travel, d = sol.speed.travel_time_s(x - sol.x_m, y - sol.y_m)
            sigma = np.sqrt(arr_all.sigma_s[idx] ** 2 + (self.jitter_s_per_m * d) ** 2)
            z = np.abs(t - sol.tau_s - travel) / sigma
            near = (z <= self.s.attach_sigma) & (d <= self.max_source_m)
            gathered = _one_per_sensor(idx[near], z[near], self.sensor.v[members[idx[near]]])
            if gathered.size < self.s.min_sensors or np.array_equal(gathered, chosen[sol.keep]):
                break
            sol2 = locate(
                arr_all.subset(_mask(arr_all.n, gathered)),
                speed,
                (sol.x_m, sol.y_m, sol.tau_s),
                self.locator,
            )
            if sol2 is None:
                break
            sol, chosen = sol2, gathered
        return self._checked(sol, chosen, members, arr_all, speed, projection)

    def _checked(
        self, sol: Solution, chosen, members, arr_all: Arrivals, speed, projection
    ) -> tuple[NDArray[np.int64], Solution] | None:
        """`_solve_new`'s checks of a gathered solution (on the detections `chosen`, positions
        in `members`): the mirror image, the solution's own test, the silent sensors, chance."""
        sol = self._resolve_mirror(sol, chosen, arr_all, speed, projection)
        used = chosen[sol.keep]
        # The solution's own test first: it needs neither the silent sensors nor the chance.
        if used.size < self.s.min_sensors or not self._acceptable(sol):
            log.debug(
                "rejected: %d used, converged %s, chi2 %.1f on %d dof",
                used.size,
                sol.converged,
                sol.chi2,
                sol.dof,
            )
            return None
        silent = self._silent(
            sol,
            self.sensor.v[members[used]],
            arr_all.x_m[used],
            arr_all.y_m[used],
            projection,
            speed,
            self.s.silent_radius_fraction,
        )
        if silent > self.s.max_silent_sensors:
            log.debug("rejected: %d sensors near the origin heard nothing", silent)
            return None
        chance = self._chance(sol, members, arr_all, used.size)
        if chance > self.s.chance_alpha:
            log.debug("rejected: %d sensors could agree by chance (p = %.2g)", used.size, chance)
            return None
        return used, sol

    def _chance(self, sol: Solution, members, arr_all: Arrivals, n_used: int) -> float:
        """Probability that `n_used` or more of the group's sensors have a detection within the
        gathering tolerance of the origin's predicted arrivals by chance: each sensor's rate is
        that of its detections in the group (in a provisional search with
        `provisional_chance_all`, of all its recent detections) within `chance_window_s` of its
        predicted arrival, the count Poisson with the sum of the sensors' chances
        (docs/methods.md, Association). The group's counts and tolerances are compiled
        (`kernel.chance_terms`, the numbers of `_chance_terms`)."""
        window = self.s.chance_window_s
        if self._sandbox and self.s.provisional_chance_all:
            near, tolerance = self._chance_terms(sol, members, arr_all, every_recent=True)
        else:
            sp = sol.speed
            near, tolerance = chance_terms(
                self.sensor.v[members],
                arr_all.x_m,
                arr_all.y_m,
                arr_all.t_s,
                arr_all.sigma_s,
                sol.x_m,
                sol.y_m,
                sol.tau_s,
                sp.c_mps,
                sp.wind_e_mps,
                sp.wind_n_mps,
                self.jitter_s_per_m,
                window,
                self.s.attach_sigma,
            )
        expected = float(np.sum(1.0 - np.exp(-near / window * tolerance)))
        # P(N >= n_used), N ~ Poisson(expected): scipy.stats.poisson.sf's own arithmetic
        # (pdtrc) without its ~40 µs of argument handling per call.
        return 1.0 if n_used < 1 else float(pdtrc(n_used - 1, expected))

    def _chance_terms(self, sol: Solution, members, arr_all: Arrivals, every_recent=False):
        """`_chance`'s per-sensor counts within the window and tolerances in NumPy: the
        reference of `kernel.chance_terms` (the group's detections counted), and with
        `every_recent` the form of a provisional search with `provisional_chance_all`."""
        sensors = self.sensor.v[members]
        travel, d = sol.speed.travel_time_s(arr_all.x_m - sol.x_m, arr_all.y_m - sol.y_m)
        offset = arr_all.t_s - sol.tau_s - travel
        window = self.s.chance_window_s
        uniq, first, inverse = np.unique(sensors, return_index=True, return_inverse=True)
        if every_recent:
            # Every recent detection at the sensor, whatever became of it: a leftover of a
            # group whose events took the rest is no quieter than the group was.
            keys = self._recent_keys()
            predicted = uniq * KEY_STRIDE_S + (arr_all.t_s - offset)[first]
            near = (
                np.searchsorted(keys, predicted + window, side="right")
                - np.searchsorted(keys, predicted - window)
            ).astype(float)
        else:
            near = np.bincount(inverse, weights=np.abs(offset) <= window, minlength=uniq.size)
        sigma = np.sqrt(arr_all.sigma_s**2 + (self.jitter_s_per_m * d) ** 2)
        tolerance = np.zeros(uniq.size)
        tolerance[inverse] = self.s.attach_sigma * sigma
        return near, tolerance

    def _silent(
        self,
        sol: Solution,
        heard: NDArray[np.int64],
        hx: NDArray,
        hy: NDArray,
        projection: TangentPlane,
        speed: SoundSpeed,
        fraction: float,
    ) -> int:
        """Sensors nearer the origin than `fraction` of the median distance of those that heard
        it, that have no detection at all within the inlier tolerance of the predicted arrival
        (a detection taken by another event still counts as hearing). Compiled
        (`kernel.silent_candidates`, `kernel.silent_count`) but where those cannot be sure of
        the NumPy form's result (a sensor on the sphere, a detection at a window's edge to a
        few ulps): then that form (`_silent_numpy`) decides."""
        radius = fraction * _median(np.hypot(hx - sol.x_m, hy - sol.y_m))
        origin_ecef = projection.to_ecef(sol.x_m, sol.y_m)
        origin = origin_ecef[0]
        net = self.net
        near, unsure = silent_candidates(
            *net.cells()[:1], net.cell_ids(), *net.cells()[1:], origin, radius, heard
        )
        if not unsure:
            if near.size == 0:
                return 0
            sp = sol.speed
            cov = sol.cov
            sigma_origin2 = max(cov[2, 2], 0.0) + (cov[0, 0] + cov[1, 1]) / sp.c_mps**2
            count, unsure = silent_count(
                net.ecef, near, origin,
                np.ascontiguousarray(enu_basis(*from_ecef(origin_ecef)[:2])[0, :2]),
                sp.c_mps, sp.wind_e_mps, sp.wind_n_mps, sol.tau_s, net.timing_sigma_s,
                self.jitter_s_per_m, sigma_origin2, self.s.silent_sigma, self._recent_keys(),
                KEY_STRIDE_S,
            )  # fmt: skip
            if not unsure:
                return count
        return self._silent_numpy(sol, heard, origin_ecef, radius)

    def _silent_numpy(
        self, sol: Solution, heard: NDArray[np.int64], origin_ecef: NDArray, radius: float
    ) -> int:
        """`_silent`'s count in NumPy, about the origin `origin_ecef` (1 x 3) within `radius`:
        the reference."""
        origin = origin_ecef[0]
        near = np.array(self.net.tree.query_ball_point(origin, r=radius), dtype=np.int64)
        # (a few dozen sensors each: a comparison table, not np.isin's sort)
        near = near[~(near[:, None] == heard[None, :]).any(axis=1)]
        if near.size == 0:
            return 0
        n = near.size
        sp = sol.speed
        predicted, d = self.predicted_arrival(
            np.broadcast_to(origin, (n, 3)),
            # (`projection.inverse` of the origin: from_ecef of the same point)
            np.broadcast_to(enu_basis(*from_ecef(origin_ecef)[:2])[0, :2], (n, 2, 3)),
            np.full(n, sp.c_mps),
            np.broadcast_to([sp.wind_e_mps, sp.wind_n_mps], (n, 2)),
            np.full(n, sol.tau_s),
            near,
        )
        keys = self._recent_keys()
        cov = sol.cov
        sigma_origin2 = max(cov[2, 2], 0.0) + (cov[0, 0] + cov[1, 1]) / sp.c_mps**2
        tol = self.s.silent_sigma * np.sqrt(
            self.net.timing_sigma_s[near] ** 2 + (self.jitter_s_per_m * d) ** 2 + sigma_origin2
        )
        lo = np.searchsorted(keys, near * KEY_STRIDE_S + predicted - tol)
        hi = np.searchsorted(keys, near * KEY_STRIDE_S + predicted + tol)
        return int(np.count_nonzero(hi == lo))

    def _recent_keys(self) -> NDArray[np.float64]:
        """Sorted (sensor, time) keys of every detection recent enough to matter, whatever
        became of it; rebuilt once per batch. Detections before `_keys_floor` are all older
        than an earlier horizon, so older than this one (horizons only grow while finite): the
        scan starts there, not at the day's first detection, and finds the same ones."""
        if self._keys_at != self.obs_id.n:
            horizon = self.watermark_s - self.s.pool_retention_s - 2 * self.max_travel_s
            t = self.t.v
            if not np.isfinite(horizon):
                recent = np.arange(t.size)
            else:
                if horizon < self._keys_horizon:
                    self._keys_floor = 0
                self._keys_horizon = horizon
                floor = self._keys_floor
                recent = floor + np.flatnonzero(t[floor:] >= horizon)
                self._keys_floor = int(recent[0]) if recent.size else t.size
            self._keys = np.sort(self.sensor.v[recent] * KEY_STRIDE_S + t[recent])
            self._keys_at = self.obs_id.n
        return self._keys

    def _resolve_mirror(
        self, sol: Solution, chosen, arr_all: Arrivals, speed: SoundSpeed, projection: TangentPlane
    ) -> Solution:
        """Sensors nearly on one line cannot tell a source from its mirror image across that line
        by timing alone. Solve from both sides and keep the side where fewer sensors that did not
        hear the sound lie closer to it than the sensors that did. A sensor has heard it on a
        side when it has a detection at that side's predicted arrival: a sensor of the chosen
        detections whose detection does not fit a side counts against that side."""
        used = chosen[sol.keep]
        x, y = arr_all.x_m[used], arr_all.y_m[used]
        # The singular values' ratio in closed form decides where it is clearly above the
        # threshold (most groups: spread sensors); near it and below, the SVD as always.
        if line_ratio(x, y) > _NOT_A_LINE:
            return sol
        pts = np.column_stack([x - x.mean(), y - y.mean()])
        _, sv, vt = np.linalg.svd(pts, full_matrices=False)
        if sv.size < 2 or sv[1] > 0.25 * sv[0]:
            return sol
        normal = vt[1]
        offset = np.array([sol.x_m - x.mean(), sol.y_m - y.mean()]) @ normal
        mx, my = sol.x_m - 2 * offset * normal[0], sol.y_m - 2 * offset * normal[1]
        alt = locate(
            arr_all.subset(_mask(arr_all.n, chosen)), speed, (mx, my, sol.tau_s), self.locator
        )
        if (
            alt is None
            or not self._acceptable(alt)
            or np.hypot(alt.x_m - sol.x_m, alt.y_m - sol.y_m) < 1.0
        ):
            return sol
        if not self._acceptable(sol):
            return alt
        nobody = np.zeros(0, dtype=np.int64)  # (every sensor is tested by its detections)

        def silent_nearer(candidate: Solution) -> int:
            return self._silent(
                candidate, nobody, arr_all.x_m[chosen], arr_all.y_m[chosen], projection, speed, 1.0
            )

        a, b = silent_nearer(sol), silent_nearer(alt)
        if b < a or (b == a and alt.chi2 < sol.chi2):
            return alt
        return sol

    def _acceptable(self, sol: Solution) -> bool:
        return (
            sol.converged
            and sol.n_used >= self.s.min_sensors
            and sol.chi2 / max(sol.dof, 1) <= self.s.max_reduced_chi2
        )

    def _new_event(
        self, det: NDArray[np.int64], sol: Solution, speed: SoundSpeed, projection: TangentPlane
    ) -> WorkingEvent:
        lon, lat = projection.inverse(sol.x_m, sol.y_m)
        lon, lat = float(np.atleast_1d(lon)[0]), float(np.atleast_1d(lat)[0])
        plane = TangentPlane(lon, lat)  # its origin and axes are the event's ECEF position and axes
        event = WorkingEvent(
            id="" if self._sandbox else self._event_id(sol.tau_s),
            det=[int(g) for g in det],
            sensors=set(self.sensor.v[det].tolist()),
            lon=lon,
            lat=lat,
            tau_s=sol.tau_s,
            ecef=plane.origin,
            enu=plane.rotation[:2],
            speed=speed,
            solution=sol,
            projection=plane,
            n_at_solve=len(det),
        )
        if self._sandbox:  # a provisional event: the caller names it; nothing is recorded
            return event
        # Re-express the solution in the event's own projection (centred on the origin).
        index = len(self.events)
        self.events.append(event)
        self._columns.set(index, event)
        self.owner.a[det] = index
        self.stats["events"] += 1
        return event

    def _event_id(self, tau_s: float) -> str:
        from truceline.timeutil import format_time

        ns = self.epoch_ns + round(tau_s * 1e9)
        stamp = format_time(ns - ns % 1_000_000).replace("-", "").replace(":", "")
        base = f"{self.id_prefix}-{stamp}"
        event_id, k = base, 1
        while event_id in self._ids:
            k += 1
            event_id = f"{base}-{k}"
        self._ids.add(event_id)
        return event_id

    # -- step 4: maintain ---------------------------------------------------------------------

    def relocate(self, ev: WorkingEvent, index: int | None = None) -> list[int]:
        """Relocate an event (`index` in `events`, found if not given) on all its detections;
        return the detections it gave up."""
        if index is None:
            index = next(i for i, e in enumerate(self.events) if e is ev)
        self.stats["relocations"] += 1
        det = np.array(ev.det, dtype=np.int64)
        arr = self._arrivals(det, ev.projection)
        sol = locate(arr, ev.speed, (0.0, 0.0, ev.tau_s), self.locator)  # plane centred on it
        ev.dirty = False
        self._columns.dirty[index] = False
        if sol is None:
            return []
        released = det[~sol.keep].tolist()
        kept = det[sol.keep]
        self._place(ev, kept, sol, ev.projection)
        if released:
            self.owner.a[np.array(released)] = -1
        self._columns.set(index, ev)
        return released

    def _maintain(self, out: AssociationOutput) -> None:
        released: list[int] = []
        close_before = self.watermark_s - self.s.close_after_s
        horizon = self.watermark_s - 4 * self.s.close_after_s - self.s.pool_retention_s
        created = {id(ev) for ev in out.created}  # by identity: events compare field by field
        recent = self._recent_events(horizon if np.isfinite(horizon) else -np.inf)
        col = self._columns
        # Only the dirty and the closing have anything to do (relocating one changes only its
        # own row, so the selection made first is the one a loop over all would make).
        closing = ~col.closed[recent] & (col.tau[recent] < close_before)
        recent = recent[col.dirty[recent] | closing]
        for i in recent.tolist():
            ev = self.events[i]
            closing = not ev.closed and ev.tau_s < close_before
            grown = len(ev.det) >= ev.n_at_solve * (1 + self.s.relocate_growth)
            if ev.dirty and (grown or closing or ev.closed):
                released += self.relocate(ev, i)
                if id(ev) not in created:
                    out.updated.append(ev)
            if closing:
                if ev.dirty:
                    released += self.relocate(ev, i)
                ev.closed = True
                col.closed[i] = True
                out.closed.append(ev)
        if released:
            back = np.array(released, dtype=np.int64)
            back = back[self.t.v[back] >= self.watermark_s - self.s.pool_retention_s]
            self.pool = np.concatenate([self.pool, back])
        # Forget pool detections too old to join anything new.
        if np.isfinite(self.watermark_s):
            old = self.t.v[self.pool] < self.watermark_s - self.s.pool_retention_s
        else:
            old = np.ones(self.pool.size, dtype=bool)
        if old.any():
            self.stats["expired_unassociated"] += int(old.sum())
            self._drop_from_pool(self.pool[old])


def _ranges(starts: NDArray[np.int64], counts: NDArray[np.int64]) -> NDArray[np.int64]:
    """Concatenation of arange(s, s + c) for each (s, c), vectorised."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(counts)
    offsets = np.repeat(ends - counts, counts)
    return np.repeat(np.asarray(starts, dtype=np.int64), counts) + (np.arange(total) - offsets)


def _choices(rng: np.random.Generator, pools: list[NDArray[np.int64]], k: int) -> NDArray:
    """`rng.choice(pool, size=k, replace=False)` for each pool in turn, (len(pools), k): the
    same draws, in one compiled call (`kernel.choose_many`) unless a pool is beyond its reach
    (more than 10,000 elements: NumPy then shuffles instead of sampling by Floyd's algorithm)."""
    if any(p.size > 10_000 for p in pools):
        return np.array([rng.choice(p, size=k, replace=False) for p in pools])
    starts = np.zeros(len(pools) + 1, dtype=np.int64)
    starts[1:] = np.cumsum([p.size for p in pools])
    return choose_many(rng, np.concatenate(pools).astype(np.int64), starts, k)


def _median(v: NDArray[np.float64]) -> float:
    """`np.median` of a short array, the same number (the middle value, or the mean of the two
    middle ones as (a + b) / 2), without its general machinery."""
    s = np.sort(v)
    k = s.size // 2
    return float(s[k]) if s.size % 2 else float((s[k - 1] + s[k]) / 2)


def _better(a: Solution, b: Solution) -> bool:
    """Whether origin `a` beats `b`: more sensors explained, then the smaller misfit."""
    if a.n_used != b.n_used:
        return a.n_used > b.n_used
    return a.chi2 / max(a.dof, 1) < b.chi2 / max(b.dof, 1)


def _one_per_sensor(
    idx: NDArray[np.int64], score: NDArray[np.float64], sensors: NDArray[np.int64]
) -> NDArray[np.int64]:
    """Of detections `idx`, keep the best-scoring (lowest) one per sensor."""
    order = np.lexsort((score, sensors))
    s = sensors[order]
    first = np.ones(s.size, dtype=bool)
    first[1:] = s[1:] != s[:-1]
    return np.sort(idx[order][first])


def _mask(n: int, chosen: NDArray[np.int64]) -> NDArray[np.bool_]:
    m = np.zeros(n, dtype=bool)
    m[chosen] = True
    return m
