"""Multi-target tracking of drones and missiles from air-surveillance radar plots
(docs/methods.md, "Radar: air tracks").

`GnnTracker` (setting `radar.tracker = "gnn-cv"`): each track is a Kalman filter over (x, y, z,
vx, vy, vz) in the agreement's projection (metres) with a nearly-constant-velocity model
(white-noise acceleration, horizontal and vertical intensities apart). Plots are taken in
batches of `batch_s`; within a batch, each candidate pair (track, plot) is predicted to the
plot's own time and gated on the Mahalanobis distance of the position innovation (chi-square, 3
dof, `gate_probability`); the gated pairs are assigned one-to-one by global nearest neighbour
(Hungarian algorithm on d² + ln det S), in rounds so that one batch may hold plots of the same
object from several radars; a plot inside a confirmed track's gate may go only to a confirmed
track (so a tentative duplicate started by an outlying plot cannot take an object's plots from
its confirmed track). Plots left over start tentative tracks (plots of several radars
within a few sigma of each other start one); a tentative track is confirmed after
`confirm_hits` plots and dropped after `tentative_coast_s` without one; a confirmed track ends
after `coast_s` without a plot. Ended confirmed tracks are smoothed (Rauch-Tung-Striebel).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import compress

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree
from scipy.stats import chi2

from truceline.assign import SPLIT_CELLS, assign
from truceline.config import RadarSettings
from truceline.radar.tracker_kernel import (
    assign_small,
    candidate_pairs,
    compact,
    gate_pairs,
    rts_recursion,
    stale_tracks,
    start_tracks,
    update_pairs,
)


@dataclass
class PlotBatch:
    """Plots as columns: time (ns), position (m, projection x, y and altitude), sigma (m),
    velocity (m/s, NaN rows where not reported), and an index back to the caller's plots."""

    time_ns: NDArray[np.int64]
    xyz: NDArray[np.float64]
    sigma_m: NDArray[np.float64]
    velocity: NDArray[np.float64]
    sensor: NDArray[np.int64]

    @property
    def size(self) -> int:
        return int(self.time_ns.size)


@dataclass
class AirTrack:
    """A finished confirmed track: smoothed states at each plot's time."""

    number: int
    time_ns: NDArray[np.int64]
    states: NDArray[np.float64]  # (n, 6)
    covariances: NDArray[np.float64]  # (n, 6, 6)
    plots: list[int]  # indices into the plots given to the tracker
    segments: int = 1  # tracks joined into this one by track-segment association


@dataclass
class _History:
    time_ns: list[int] = field(default_factory=list)
    x: list[NDArray[np.float64]] = field(default_factory=list)
    p: list[NDArray[np.float64]] = field(default_factory=list)
    plots: list[int] = field(default_factory=list)


_BRUTE_PAIRS = 1 << 18
"""Up to this many (track, plot) combinations the candidates of a round are found by computing
every distance; beyond it with a k-d tree of the plots."""


def _median_ns(sorted_ns: NDArray[np.int64]) -> int:
    """`int(np.median(t))` of sorted times, computed as NumPy does (the two middle values
    converted to float and averaged) without its partition and mean machinery."""
    n = sorted_ns.size
    k = n // 2
    if n % 2:
        return int(float(sorted_ns[k]))
    return int((float(sorted_ns[k - 1]) + float(sorted_ns[k])) / 2.0)


def _within(
    centre: NDArray[np.float64], radius: NDArray[np.float64], xyz: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(centre, point) index pairs with the point within the centre's radius (distance <=
    radius, as `cKDTree.query_ball_point`), in no particular order."""
    if centre.shape[0] * xyz.shape[0] <= _BRUTE_PAIRS:
        d = centre[:, None, :] - xyz[None, :, :]
        close = np.einsum("tpi,tpi->tp", d, d) <= radius[:, None] ** 2
        a, b = np.nonzero(close)
        return a.astype(np.int64), b.astype(np.int64)
    near = cKDTree(xyz).query_ball_point(centre, radius)
    a = np.repeat(np.arange(centre.shape[0]), [len(n) for n in near])
    if a.size == 0:
        return a.astype(np.int64), np.zeros(0, np.int64)
    return a.astype(np.int64), np.concatenate([np.asarray(n, np.int64) for n in near if n])


def transition(dt: NDArray[np.float64]) -> NDArray[np.float64]:
    """Constant-velocity transition matrices for time steps `dt` (s): shape (n, 6, 6)."""
    f = np.broadcast_to(np.eye(6), (dt.size, 6, 6)).copy()
    for a in range(3):
        f[:, a, 3 + a] = dt
    return f


def process_noise(dt: NDArray[np.float64], q_h: float, q_v: float) -> NDArray[np.float64]:
    """White-noise-acceleration covariance for steps `dt` (s), intensities q (m²/s³) per axis."""
    d = np.abs(dt)
    q = np.zeros((dt.size, 6, 6))
    for a, qa in ((0, q_h), (1, q_h), (2, q_v)):
        q[:, a, a] = qa * d**3 / 3
        q[:, a, 3 + a] = q[:, 3 + a, a] = qa * d**2 / 2 * np.sign(dt)
        q[:, 3 + a, 3 + a] = qa * d
    return q


def manoeuvre_noise(dt: NDArray[np.float64], sigma_mps: float) -> NDArray[np.float64]:
    """Covariance of one change of horizontal velocity, N(0, sigma²) per axis, at a time uniform
    over a gap of `dt` (s): the velocity is off by Δv, the position by Δv (dt - τ), so
    E[(dt - τ)²] = dt²/3 and E[dt - τ] = dt/2. Shape (n, 6, 6)."""
    d = np.abs(dt)
    q = np.zeros((dt.size, 6, 6))
    v = sigma_mps**2
    for a in (0, 1):
        q[:, a, a] = v * d**2 / 3
        q[:, a, 3 + a] = q[:, 3 + a, a] = v * d / 2
        q[:, 3 + a, 3 + a] = v
    return q


class GnnTracker:
    """Global-nearest-neighbour multi-target tracker with a nearly-constant-velocity filter."""

    name = "gnn-cv"

    def __init__(self, settings: RadarSettings, compiled: bool = True):
        """`compiled`: a round's gating and update and the grouping of new plots by the Numba
        kernels (`truceline.radar.tracker_kernel`); False, by the NumPy reference."""
        self.s = settings
        self.compiled = compiled
        self.q_h = settings.accel_sigma_mps2**2
        self.q_v = settings.vertical_accel_sigma_mps2**2
        self.gate = float(chi2.ppf(settings.gate_probability, 3))
        self.x = np.zeros((0, 6))
        self.p = np.zeros((0, 6, 6))
        self.t_ns = np.zeros(0, np.int64)
        self.hits = np.zeros(0, np.int64)
        self.number = np.zeros(0, np.int64)
        self.histories: list[_History] = []
        self.finished: list[AirTrack] = []
        self._next = 1
        self.counts = {
            "plots": 0,
            "assigned": 0,
            "initiated": 0,
            "confirmed": 0,
            "dropped": 0,
            "stitched": 0,
        }

    # -- the filter -----------------------------------------------------------------------------

    def _predict(self, tracks: NDArray[np.int64], t_ns: NDArray[np.int64]):
        dt = (t_ns - self.t_ns[tracks]) / 1e9
        f = transition(dt)
        x = np.einsum("nij,nj->ni", f, self.x[tracks])
        p = f @ self.p[tracks] @ f.transpose(0, 2, 1) + process_noise(dt, self.q_h, self.q_v)
        return x, p

    def _gate(self, tracks, plots, batch: PlotBatch):
        """Predicted states, covariances, innovation covariances and d² for pairs."""
        x, p = self._predict(tracks, batch.time_ns[plots])
        nu = batch.xyz[plots] - x[:, :3]
        s = p[:, :3, :3] + (batch.sigma_m[plots] ** 2)[:, None, None] * np.eye(3)
        sinv = np.linalg.inv(s)
        d2 = np.einsum("ni,nij,nj->n", nu, sinv, nu)
        return x, p, nu, s, sinv, d2

    def _assign_round(
        self, batch: PlotBatch, members: NDArray[np.int64], free: NDArray[np.bool_]
    ) -> int:
        """Gate the batch's free plots (`members`: its plots in ascending order; `free`, one
        flag each, cleared as they are taken) against all tracks, assign, update. Returns
        assignments made."""
        if self.compiled:
            return self._assign_round_compiled(batch, members, free)
        at = np.flatnonzero(free)
        idx = members[at]
        n_tracks = self.x.shape[0]
        if idx.size == 0 or n_tracks == 0:
            return 0
        times = np.sort(batch.time_ns[idx])
        mid = _median_ns(times)
        dt = (mid - self.t_ns) / 1e9
        centre = self.x[:, :3] + self.x[:, 3:] * dt[:, None]
        spread = np.sqrt(np.trace(self.p[:, :3, :3], axis1=1, axis2=2))
        span = (times[-1] - times[0]) / 1e9
        radius = (
            np.sqrt(self.gate)
            * (spread + np.sqrt(3) * batch.sigma_m[idx].max() + np.sqrt(self.q_h * np.abs(dt) ** 3))
            + np.linalg.norm(self.x[:, 3:], axis=1) * span
            + np.sqrt(np.trace(self.p[:, 3:, 3:], axis1=1, axis2=2)) * np.abs(dt) * 3
        )
        # Candidate pairs (track, plot within its radius): local plot numbers into idx.
        pairs_t, local = _within(centre, radius, batch.xyz[idx])
        if pairs_t.size == 0:
            return 0
        pairs_p = idx[local]
        x, p, nu, s, sinv, d2 = self._gate(pairs_t, pairs_p, batch)
        ok = d2 < self.gate
        if not np.any(ok):
            return 0
        confirmed = self.hits[pairs_t] >= self.s.confirm_hits
        # A plot inside a confirmed track's gate is that track's to take, now or in a later
        # round, never a tentative track's.
        reserved = np.zeros(idx.size, bool)
        reserved[local[ok & confirmed]] = True
        ok &= confirmed | ~reserved[local]
        pairs_t, local, confirmed = pairs_t[ok], local[ok], confirmed[ok]
        pairs_p = idx[local]
        x, p, nu, s, sinv, d2 = x[ok], p[ok], nu[ok], s[ok], sinv[ok], d2[ok]
        cost = d2 + np.log(np.linalg.det(s)) - np.where(confirmed, 2.0, 0.0)
        ks = assign(pairs_t, local, cost)
        if ks.size == 0:
            return 0
        tr, pl = pairs_t[ks], pairs_p[ks]
        gain = p[ks][:, :, :3] @ sinv[ks]  # (k, 6, 3)
        xn = x[ks] + np.einsum("nij,nj->ni", gain, nu[ks])
        pn = p[ks] - gain @ p[ks][:, :3, :]
        self.x[tr] = xn
        self.p[tr] = 0.5 * (pn + pn.transpose(0, 2, 1))
        self.t_ns[tr] = batch.time_ns[pl]
        self.hits[tr] += 1
        for k in range(tr.size):
            h = self.histories[tr[k]]
            h.time_ns.append(int(batch.time_ns[pl[k]]))
            h.x.append(xn[k])
            h.p.append(self.p[tr[k]].copy())
            h.plots.append(int(pl[k]))
        free[at[local[ks]]] = False
        self.counts["assigned"] += int(tr.size)
        return int(tr.size)

    def _assign_round_compiled(
        self, batch: PlotBatch, members: NDArray[np.int64], free: NDArray[np.bool_]
    ) -> int:
        """`_assign_round` by the compiled kernels."""
        at = np.flatnonzero(free)
        if at.size == 0 or self.x.shape[0] == 0:
            return 0
        idx = members[at]
        pairs_t, local, dts = candidate_pairs(
            self.x, self.p, self.t_ns, idx, batch.time_ns, batch.xyz, batch.sigma_m, self.gate,
            self.q_h,
        )  # fmt: skip
        if pairs_t.size == 0:
            return 0
        # |dt|³ by NumPy's power (its SIMD routine on some machines), as the reference has it.
        cubes = np.abs(dts) ** 3
        kept, cost, apart = gate_pairs(
            self.x, self.p, self.hits, self.s.confirm_hits, pairs_t, local, dts, cubes, idx,
            batch.xyz, batch.sigma_m, self.gate, self.q_h, self.q_v,
        )  # fmt: skip
        if kept.size == 0:
            return 0
        pairs_t, local = pairs_t[kept], local[kept]
        # Pairs sharing no track and no plot are all chosen (as `assign` would choose them).
        if apart:
            ks = np.arange(kept.size)
        else:
            ks = assign_small(pairs_t, local, cost, SPLIT_CELLS)
            if ks is None:
                ks = assign(pairs_t, local, cost)
        if ks.size == 0:
            return 0
        tr, pl = pairs_t[ks], idx[local[ks]]
        xn, pn = update_pairs(
            self.x, self.p, self.t_ns, self.hits, tr, pl, dts[kept[ks]], cubes[kept[ks]],
            batch.time_ns, batch.xyz, batch.sigma_m, self.q_h, self.q_v,
        )  # fmt: skip
        times = batch.time_ns[pl].tolist()
        plots = pl.tolist()
        for k, t in enumerate(tr.tolist()):
            h = self.histories[t]
            h.time_ns.append(times[k])
            h.x.append(xn[k])
            h.p.append(pn[k])
            h.plots.append(plots[k])
        free[at[local[ks]]] = False
        self.counts["assigned"] += int(tr.size)
        return int(tr.size)

    def _first_state(self, batch: PlotBatch, plots: NDArray[np.int64]):
        """The state and covariance a track starts from at each of `plots`: the plot's position
        and, if reported, velocity (else zero velocity, `initial_speed_sigma_mps`)."""
        n = plots.size
        x = np.zeros((n, 6))
        x[:, :3] = batch.xyz[plots]
        p = np.zeros((n, 6, 6))
        var = batch.sigma_m[plots] ** 2
        for a in range(3):
            p[:, a, a] = var
        vel = batch.velocity[plots]
        has_v = np.all(np.isfinite(vel), axis=1)
        x[has_v, 3:] = vel[has_v]
        v_var = np.where(has_v, self.s.velocity_sigma_mps**2, self.s.initial_speed_sigma_mps**2)
        for a in range(3, 6):
            p[:, a, a] = v_var
        return x, p

    def _initiate(
        self, batch: PlotBatch, members: NDArray[np.int64], free: NDArray[np.bool_]
    ) -> None:
        """Start a tentative track from each group of free plots that may be one object: the
        same gate as for a plot and a track, on the difference of two plots (each with its own
        sigma), plus how far the fastest reported velocity carries an object over the batch.
        (`members`, `free`: as for `_assign_round`.)"""
        at = np.flatnonzero(free)
        if at.size == 0:
            return
        idx = members[at]
        by_time = np.argsort(batch.time_ns[idx], kind="stable")
        order = idx[by_time]
        starters, taken_at = order, at[by_time]
        if self.compiled:
            keep, x, p = start_tracks(
                order, batch.time_ns, batch.xyz, batch.sigma_m, batch.velocity, self.gate,
                self.s.velocity_sigma_mps**2, self.s.initial_speed_sigma_mps**2,
            )  # fmt: skip
            self._add_tracks(batch, order[keep], x, p)
            free[taken_at[keep]] = False
            return
        if order.size > 1:
            speed = np.linalg.norm(batch.velocity[order], axis=1)
            speed = speed[np.isfinite(speed)]
            span_s = (batch.time_ns[order[-1]] - batch.time_ns[order[0]]) / 1e9
            radius = np.sqrt(self.gate * 2) * float(batch.sigma_m[order].max()) + (
                float(speed.max()) * span_s if speed.size else 0.0
            )
            xyz = batch.xyz[order]
            a, b = _within(xyz, np.full(order.size, radius), xyz)
            # Each plot's neighbours within the radius (itself among them).
            counts = np.bincount(a, minlength=order.size)
            near = np.split(b[np.argsort(a, kind="stable")], np.cumsum(counts)[:-1])
            taken = np.zeros(order.size, bool)
            keep = []
            for i in range(order.size):
                if taken[i]:
                    continue
                keep.append(i)
                taken[near[i]] = True
            starters = order[np.asarray(keep, np.int64)]
            taken_at = taken_at[np.asarray(keep, np.int64)]
        x, p = self._first_state(batch, starters)
        self._add_tracks(batch, starters, x, p)
        free[taken_at] = False

    def _add_tracks(
        self,
        batch: PlotBatch,
        starters: NDArray[np.int64],
        x: NDArray[np.float64],
        p: NDArray[np.float64],
    ) -> None:
        """Tentative tracks started at plots `starters` with states `x` and covariances `p`."""
        n = starters.size
        self.x = np.vstack([self.x, x])
        self.p = np.concatenate([self.p, p])
        self.t_ns = np.concatenate([self.t_ns, batch.time_ns[starters]])
        self.hits = np.concatenate([self.hits, np.ones(n, np.int64)])
        self.number = np.concatenate([self.number, np.arange(self._next, self._next + n)])
        self._next += n
        times = batch.time_ns[starters].tolist()
        self.histories.extend(
            _History([t], [xk], [pk], [j])
            for t, xk, pk, j in zip(times, x, p, starters.tolist(), strict=True)
        )
        self.counts["initiated"] += n

    def _end_stale(self, now_ns: int, final: bool = False) -> None:
        if self.x.shape[0] == 0:
            return
        if final:
            stale = np.ones(self.x.shape[0], bool)
        elif self.compiled:
            stale, anything = stale_tracks(
                now_ns, self.t_ns, self.hits, self.s.confirm_hits, self.s.coast_s,
                self.s.tentative_coast_s,
            )  # fmt: skip
            if not anything:
                return
        else:
            idle = (now_ns - self.t_ns) / 1e9
            confirmed = self.hits >= self.s.confirm_hits
            stale = np.where(confirmed, idle > self.s.coast_s, idle > self.s.tentative_coast_s)
            if not np.any(stale):
                return
        ended = np.flatnonzero(stale)
        hits = self.hits[ended].tolist()
        least = max(self.s.confirm_hits, self.s.min_track_plots)
        for i, n in zip(ended.tolist(), hits, strict=True):
            if n >= least:
                self.finished.append(smooth(int(self.number[i]), self.histories[i], self))
                self.counts["confirmed"] += 1
            else:
                self.counts["dropped"] += 1
        keep = ~stale
        if self.compiled:
            self.x, self.p, self.t_ns, self.hits, self.number = compact(
                keep, self.x, self.p, self.t_ns, self.hits, self.number
            )
        else:
            self.x, self.p, self.t_ns = self.x[keep], self.p[keep], self.t_ns[keep]
            self.hits, self.number = self.hits[keep], self.number[keep]
        self.histories = list(compress(self.histories, keep.tolist()))

    # -- the driver -------------------------------------------------------------------------

    def run(self, plots: PlotBatch) -> list[AirTrack]:
        """Track all plots (any order); returns the confirmed tracks, in order of their end."""
        if plots.size == 0:
            return []
        self.counts["plots"] += plots.size
        order = np.argsort(plots.time_ns, kind="stable")
        t = plots.time_ns[order]
        span = round(self.s.batch_s * 1e9)
        cuts = np.flatnonzero(np.diff((t - t[0]) // span)) + 1
        for chunk in np.split(order, cuts):
            # The batch's plots in ascending order and which are still free: a round's work
            # grows with the batch, not with all the plots.
            members = np.sort(chunk)
            free = np.ones(members.size, bool)
            self._end_stale(int(plots.time_ns[chunk].min()))
            for _ in range(3):
                if not self._assign_round(plots, members, free):
                    break
            if np.any(free):
                self._initiate(plots, members, free)
                self._assign_round(plots, members, free)
        self._end_stale(int(t[-1]), final=True)
        if self.s.stitch_gap_s > 0 and len(self.finished) > 1:
            self.finished = self._stitch(plots, self.finished)
        return self.finished

    # -- track-segment association --------------------------------------------------------------

    def stitch_pairs(self, tracks: list[AirTrack]) -> list[tuple[int, int, float]]:
        """Which ended track continues as which later one: (earlier, later, d²) index pairs.

        For every track `a` and every track `b` born after `a`'s last plot and at most
        `stitch_gap_s` later, `a`'s last smoothed state is predicted over the gap (the tracker's
        motion model plus one velocity change, `manoeuvre_noise`) and compared with `b`'s first
        smoothed state: d² = νᵀ(P_pred + P_b)⁻¹ν over all six components, gated at the
        chi-square (6 dof) quantile `gate_probability`. Gated pairs are assigned one-to-one
        (Hungarian algorithm on d² + ln det S), so a track has at most one successor and at most
        one predecessor."""
        n = len(tracks)
        if n < 2:
            return []
        start = np.array([int(tr.time_ns[0]) for tr in tracks], np.int64)
        end = np.array([int(tr.time_ns[-1]) for tr in tracks], np.int64)
        order = np.argsort(start, kind="stable")
        first = start[order]
        lo = np.searchsorted(first, end, side="right")
        hi = np.searchsorted(first, end + round(self.s.stitch_gap_s * 1e9), side="right")
        a = np.repeat(np.arange(n), hi - lo)
        if a.size == 0:
            return []
        b = np.concatenate([order[i:j] for i, j in zip(lo, hi, strict=True)])
        dt = (start[b] - end[a]) / 1e9
        f = transition(dt)
        x_end = np.array([tr.states[-1] for tr in tracks])
        p_end = np.array([tr.covariances[-1] for tr in tracks])
        x_first = np.array([tr.states[0] for tr in tracks])
        p_first = np.array([tr.covariances[0] for tr in tracks])
        xp = np.einsum("nij,nj->ni", f, x_end[a])
        pp = f @ p_end[a] @ f.transpose(0, 2, 1) + process_noise(dt, self.q_h, self.q_v)
        pp += manoeuvre_noise(dt, self.s.stitch_manoeuvre_mps)
        s = pp + p_first[b]
        nu = x_first[b] - xp
        d2 = np.einsum("ni,ni->n", nu, np.linalg.solve(s, nu[:, :, None])[:, :, 0])
        # Heights: over the gap the ended track must not fly into the ground, nor the new one
        # (run backwards) out of it. A track diving at its end has landed or detonated, one
        # climbing at its birth was launched; another object's launch near where a drone came
        # down is otherwise the likeliest false join over a long gap.
        above = (x_end[a, 2] + x_end[a, 5] * dt >= 0) & (x_first[b, 2] - x_first[b, 5] * dt >= 0)
        ok = (d2 < chi2.ppf(self.s.gate_probability, 6)) & above
        if not np.any(ok):
            return []
        a, b, d2, s = a[ok], b[ok], d2[ok], s[ok]
        ks = assign(a, b, d2 + np.linalg.slogdet(s)[1])
        return [(int(a[k]), int(b[k]), float(d2[k])) for k in ks]

    def _stitch(self, batch: PlotBatch, tracks: list[AirTrack]) -> list[AirTrack]:
        """Join each chain of stitched tracks into one track: its plots filtered and smoothed
        again as one track (so the path runs on across the gap), the first track's number.
        Keeps the order of the tracks' ends."""
        successor = {a: b for a, b, _ in self.stitch_pairs(tracks)}
        if not successor:
            return tracks
        has_pred = set(successor.values())
        chain_of_tail: dict[int, list[int]] = {}
        for head in range(len(tracks)):
            if head in has_pred or head not in successor:
                continue
            chain = [head]
            while chain[-1] in successor:
                chain.append(successor[chain[-1]])
            chain_of_tail[chain[-1]] = chain
        inner = {k for chain in chain_of_tail.values() for k in chain[:-1]}
        out = []
        for k, tr in enumerate(tracks):
            if k in inner:
                continue
            chain = chain_of_tail.get(k)
            if chain is None:
                out.append(tr)
                continue
            plots = [j for c in chain for j in tracks[c].plots]
            joined = smooth(tracks[chain[0]].number, self._filter(batch, plots), self)
            joined.segments = sum(tracks[c].segments for c in chain)
            out.append(joined)
            self.counts["stitched"] += len(chain) - 1
        return out

    def _filter(self, batch: PlotBatch, plots: list[int]) -> _History:
        """The Kalman filter over known plots of one object, in time order, no gating."""
        idx = np.asarray(plots, np.int64)
        idx = idx[np.argsort(batch.time_ns[idx], kind="stable")]
        t = batch.time_ns[idx]
        x0, p0 = self._first_state(batch, idx[:1])
        x, p = x0[0], p0[0]
        h = _History([int(t[0])], [x], [p], [int(idx[0])])
        dt = np.diff(t) / 1e9
        f = transition(dt)
        q = process_noise(dt, self.q_h, self.q_v)
        for k in range(dt.size):
            j = int(idx[k + 1])
            xp = f[k] @ x
            pp = f[k] @ p @ f[k].T + q[k]
            s = pp[:3, :3] + batch.sigma_m[j] ** 2 * np.eye(3)
            gain = pp[:, :3] @ np.linalg.inv(s)
            x = xp + gain @ (batch.xyz[j] - xp[:3])
            p = pp - gain @ pp[:3, :]
            p = 0.5 * (p + p.T)
            h.time_ns.append(int(t[k + 1]))
            h.x.append(x)
            h.p.append(p)
            h.plots.append(j)
        return h


def smooth(number: int, h: _History, tracker: GnnTracker) -> AirTrack:
    """Rauch-Tung-Striebel smoothing of a track's filtered states."""
    t = np.asarray(h.time_ns, np.int64)
    x = np.array(h.x)
    p = np.array(h.p)
    n = t.size
    xs, ps = x.copy(), p.copy()
    if n > 1:
        dt = np.diff(t) / 1e9
        f = transition(dt)
        ft = f.transpose(0, 2, 1)
        q = process_noise(dt, tracker.q_h, tracker.q_v)
        # The predictions and gains hang on the filtered states alone: all steps at once (one
        # product and inverse per step, the same values as step by step).
        xp = (f @ x[:-1, :, None])[:, :, 0]
        pp = f @ p[:-1] @ ft + q
        usable = np.ones(n - 1, bool)
        try:
            gain = p[:-1] @ ft @ np.linalg.inv(pp)
        except np.linalg.LinAlgError:  # a singular prediction: that step is not smoothed
            gain = np.full_like(pp, np.nan)
            for k in range(n - 1):
                try:
                    gain[k] = p[k] @ ft[k] @ np.linalg.inv(pp[k])
                except np.linalg.LinAlgError:
                    usable[k] = False
        if tracker.compiled:
            rts_recursion(x, p, xp, pp, gain, usable, xs, ps)
        else:
            for k in range(n - 2, -1, -1):
                if not usable[k]:
                    continue
                c = gain[k]
                xs[k] = x[k] + c @ (xs[k + 1] - xp[k])
                ps[k] = p[k] + c @ (ps[k + 1] - pp[k]) @ c.T
    return AirTrack(number, t, xs, ps, list(h.plots))
