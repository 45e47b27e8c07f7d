"""Explaining away acoustic mixtures of rounds the radar already accounts for (docs/methods.md,
Radar, "Explaining away").

In a salvo the acoustic sensors hear every round, and association can build an event out of a
mixture of several rounds' detections: an origin that fits some of each round's arrivals, at a
place and time none of the rounds had. When counter-battery radar tracked those rounds, their
launches (or predicted impacts) are known, each with its covariance, and each detection of the
mixture is an arrival of one of them. After fusion, an acoustic launch or impact not fused with
a radar shot is tested against the radar-located events near it (radar shots and events fused
with one): detection i at sensor s_i, time t_i, and known event k with origin p_k, time tau_k and
(east, north, time) covariance C_k predict

    t_ik = tau_k + |s_i - p_k| / (c + w . u_ik),    u_ik = (s_i - p_k) / |s_i - p_k|,

(c, w the speed of sound and wind the event was located with), with variance

    sigma_ik² = sigma_i² + (k_p d_ik)² + g_ikᵀ C_k g_ik,    g_ik = (-u_ik / c_eff, 1),

the detection's timing error, the propagation term of the locator and the known origin's
uncertainty carried to the arrival. The detection is explained when some k has |t_i - t_ik| <=
`radar.explain_sigma` sigma_ik; of several, by the most likely, the largest Gaussian density
exp(-z²/2) / sigma_ik (a sharp prediction that fits beats a vague one: a radar shot's arrival is
uncertain by 0.1-0.3 s, an event located by the acoustic network too by 10-20 ms). The event is
a mixture of known rounds, and is dissolved, when at least `radar.explain_share` of its
detections are explained and they need two known events or more. An event all of whose
explained detections fit one known event is left alone: that is one shot or none, which fusion
has already judged.

An event already fused with a radar shot is tested the same way on its acoustic detections,
its shot's own origin (before fusion) standing among the known events for it. When they are a
mixture, and its own shot explains no more than half of them, the acoustic part is dissolved
and the event goes back to the radar shot alone (its id, origin and evidence; the pairing
follows).

The dissolved event is not published; each explaining event records it (`explains`: the
event's id and how many of its detections it explains), an event paired with it loses the
pairing, and the count is in the run's radar summary (`explained_away`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numba import njit

from truceline.config import Settings
from truceline.geo.projection import TangentPlane, to_ecef
from truceline.radar.joint import ArrivalsOf
from truceline.records import Event, frozen_update

_M_PER_DEG = 111_320.0  # metres per degree of latitude (and of longitude at the equator)
_MARGIN = 1.05  # the equirectangular distance's error over tens of km is far below 5%


@dataclass(frozen=True)
class Explained:
    """Why one acoustic event was dissolved: its detections and how many of them each known
    event explains."""

    event: str
    detections: int
    by: dict[str, int]


@dataclass(frozen=True)
class ArrivalTest:
    """How both steps test a detection against a known event's predicted arrival."""

    sigma: float
    """A detection is explained within this many standard deviations (0: the step is off)."""
    share: float
    """An event is dissolved when this share of its detections or more are explained."""
    propagation_s_per_km: float
    """Growth of the travel time's sigma with distance (s/km)."""
    reach_s: float
    """The longest a known event's origin can precede a detection it explains (s)."""
    reach_m: float
    """The farthest a source a sensor heard can be from it (m)."""

    @classmethod
    def of(cls, settings: Settings) -> ArrivalTest:
        """The test the settings give (`radar.explain_*`, the associator's reach in time and
        place, the locator's propagation term)."""
        far_m = settings.associate.max_source_distance_km * 1e3
        return cls(
            sigma=settings.radar.explain_sigma,
            share=settings.radar.explain_share,
            propagation_s_per_km=settings.locate.propagation_jitter_s_per_km,
            reach_s=far_m / settings.associate.min_speed_mps,
            reach_m=far_m,
        )


def is_radar_located(e: Event) -> bool:
    """A radar shot (`radar_track`) or an acoustic event fused with one (`radar` block)."""
    return "radar_track" in e.properties or isinstance(e.properties.get("radar"), dict)


def explain_away(
    events: list[Event],
    arrivals: ArrivalsOf,
    test: ArrivalTest,
    *,
    radar_shots: Mapping[str, Event] | None = None,
) -> tuple[list[Event], list[Explained]]:
    """Dissolve the acoustic launches and impacts not fused with a radar shot whose detections
    are, `test.share` of them or more, arrivals of two or more radar-located events (module
    docstring), within `test.sigma` standard deviations. `arrivals` gives an event's detections
    (`truceline.radar.joint.arrivals_from`); `test.reach_s` bounds how long before a detection
    a known event can have happened (the longest travel time the associator allows), and
    `test.reach_m`
    how far from a sensor a source it heard can be (the associator's farthest source): known
    events farther than that from every sensor of the event are not tried. Returns the
    events left, the explaining events with `explains` added, and what was dissolved."""
    if test.sigma <= 0:
        return events, []
    known = [
        e
        for e in events
        if e.type in ("launch", "impact") and is_radar_located(e) and e.origin.covariance
    ]
    if not known:
        return events, []
    origins = _Origins.in_time_order(known)
    known, known_ns, known_ecef = origins.events, origins.ns, origins.ecef
    known_cov = np.array([np.asarray(e.origin.covariance, float) for e in known])
    position = {e.id: k for k, e in enumerate(known)}
    shots = radar_shots or {}
    dissolved: list[Explained] = []
    back_to: dict[str, Event] = {}  # fused events whose acoustic part was dissolved: their shot
    for x in events:
        if x.type not in ("launch", "impact") or not x.evidence or not x.origin.covariance:
            continue
        own = None
        if is_radar_located(x):
            # An event fused with a radar shot: its acoustic part is tested, the shot's own
            # origin (before fusion) among the known events, the fused event not.
            block = x.properties.get("radar")
            own = shots.get(block.get("event")) if isinstance(block, dict) else None
            if own is None or not own.origin.covariance:
                continue
        found = arrivals(x)
        if found is None:
            continue
        arr, speed = found
        near = _within_hearing(x, arr, origins, test)
        mine = position.get(x.id)  # the event itself is not among those that explain it
        idx = near if mine is None else near[near != mine]
        ids = [known[k].id for k in idx.tolist()]
        cov = known_cov[idx]
        ns, ecef = known_ns[idx], known_ecef[idx]
        if own is not None:
            ids.append(x.id)  # the shot stands for the event it was fused into
            ns = np.append(ns, own.time_ns)
            ecef = np.concatenate([ecef, to_ecef(own.origin.lon, own.origin.lat)])
            cov = np.concatenate([cov, np.asarray(own.origin.covariance, float)[None]])
        if len(ids) < 2:
            continue
        by = _explained_by(x, arr, speed, ns, ecef, cov, test.sigma, test.propagation_s_per_km)
        explained = by >= 0
        kinds = np.unique(by[explained])
        if kinds.size >= 2 and explained.sum() >= test.share * arr.n:
            counts = {ids[int(k)]: int((by == k).sum()) for k in kinds}
            if own is not None and 2 * counts.get(x.id, 0) > arr.n:
                continue  # most of its detections are its own shot's: one shot, not a mixture
            if own is not None:
                back_to[x.id] = own
                counts = {(own.id if k == x.id else k): n for k, n in counts.items()}
            dissolved.append(Explained(x.id, arr.n, counts))
    if not dissolved:
        return events, []
    return _without(events, dissolved, back_to), dissolved


class _Origins(NamedTuple):
    """Events in order of origin time, with their origins as arrays."""

    events: list[Event]
    ns: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    east_per_deg: np.ndarray
    """Local metres per degree of longitude at each origin."""
    ecef: np.ndarray
    """Each origin Earth-centred (n, 3; m), once for all the tangent planes it is put in."""

    @classmethod
    def in_time_order(cls, events: list[Event]) -> _Origins:
        order = np.argsort([e.time_ns for e in events], kind="stable")
        events = [events[i] for i in order]
        lon = np.array([e.origin.lon for e in events])
        lat = np.array([e.origin.lat for e in events])
        return cls(
            events,
            np.array([e.time_ns for e in events], np.int64),
            lon,
            lat,
            _M_PER_DEG * np.cos(np.radians(lat)),
            to_ecef(lon, lat).reshape(-1, 3),
        )


def _within_hearing(x: Event, arr, origins: _Origins, test: ArrivalTest) -> np.ndarray:
    """Indices of the `origins` whose sound could be among event `x`'s arrivals `arr`: origin
    at most `test.reach_s` before its first arrival and not after its last, and within
    `test.reach_m` of one of its sensors, so within that plus the sensors' spread of its
    origin (an equirectangular bound, generous by the margin)."""
    t_abs = x.time_ns + np.round(arr.t_s * 1e9).astype(np.int64)
    lo = int(np.searchsorted(origins.ns, int(t_abs.min()) - round(test.reach_s * 1e9)))
    hi = int(np.searchsorted(origins.ns, int(t_abs.max()), side="right"))
    radius = test.reach_m + float(np.hypot(arr.x_m, arr.y_m).max())
    de = (origins.lon[lo:hi] - x.origin.lon) * origins.east_per_deg[lo:hi]
    dn = (origins.lat[lo:hi] - x.origin.lat) * _M_PER_DEG
    return np.arange(lo, hi)[de * de + dn * dn <= (_MARGIN * radius + 1000.0) ** 2]


def _explained_by(
    x: Event,
    arr,
    speed,
    known_ns: np.ndarray,
    known_ecef: np.ndarray,
    known_cov: np.ndarray,
    sigma: float,
    propagation_s_per_km: float,
) -> np.ndarray:
    """For each detection of `x` (its `arr`ivals, in the plane tangent at its origin, times
    relative to its origin time), the index of the known event that explains it best within
    `sigma` standard deviations, or -1."""
    plane = TangentPlane(x.origin.lon, x.origin.lat)
    ke, kn = plane.from_ecef(known_ecef)
    de = arr.x_m[:, None] - np.atleast_1d(ke)[None, :]
    dn = arr.y_m[:, None] - np.atleast_1d(kn)[None, :]
    d = np.maximum(np.hypot(de, dn), 1e-6)
    ue, un = de / d, dn / d
    c_eff = speed.c_mps + speed.wind_e_mps * ue + speed.wind_n_mps * un
    tau = (known_ns - x.time_ns) / 1e9
    predicted = tau[None, :] + d / c_eff
    g = np.stack([-ue / c_eff, -un / c_eff, np.ones_like(d)], axis=-1)  # (n, m, 3)
    var_origin = _origin_variance(g, known_cov)
    var = (arr.sigma_s**2)[:, None] + (propagation_s_per_km * 1e-3 * d) ** 2 + var_origin
    var = np.maximum(var, 1e-12)
    z2 = (arr.t_s[:, None] - predicted) ** 2 / var
    # The most likely of the events within the gate: the largest Gaussian density, so a sharp
    # prediction that fits beats a vague one that fits as well in standard deviations.
    cost = np.where(z2 <= sigma**2, 0.5 * (z2 + np.log(var)), np.inf)
    best = np.argmin(cost, axis=1)
    return np.where(np.isfinite(cost[np.arange(cost.shape[0]), best]), best, -1)


@njit(cache=True)
def _origin_variance(g: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """gᵀ C g for each (detection n, known event m): `np.einsum("nmi,mij,nmj->nm", g, cov, g)`
    bit for bit (the same products, (g_i C_ij) g_j, summed in the same order from 0, i then
    j), compiled: the einsum's setup was most of its cost on these small arrays."""
    n, m = g.shape[0], g.shape[1]
    out = np.empty((n, m))
    for a in range(n):
        for b in range(m):
            acc = 0.0
            for i in range(3):
                for j in range(3):
                    acc += g[a, b, i] * cov[b, i, j] * g[a, b, j]
            out[a, b] = acc
    return out


def is_acoustically_located(e: Event) -> bool:
    """An event the acoustic network located (alone or fused with a radar shot)."""
    return "sound_speed_mps" in e.properties


def _sharp_covariance(e: Event) -> np.ndarray:
    """The (east, north, time) covariance a known event predicts arrivals with: a fused event's
    own; an acoustic event's locator covariance, before the association mixture widened it."""
    if is_radar_located(e):
        return np.asarray(e.origin.covariance, float)
    return np.asarray(e.properties.get("covariance_locator", e.origin.covariance), float)


def _strengths(events: list[Event]) -> list[int]:
    """Each event's rank of support, higher for better supported: more evidence, then (of
    equal evidence) the smaller id."""
    order = sorted(range(len(events)), key=lambda i: (-len(events[i].evidence), events[i].id))
    rank = [0] * len(events)
    for r, i in enumerate(order):
        rank[i] = len(events) - r
    return rank


def explain_second_events(
    events: list[Event],
    arrivals: ArrivalsOf,
    test: ArrivalTest,
) -> tuple[list[Event], list[Explained]]:
    """Dissolve the acoustic launches and impacts (not fused with a radar shot) that are second
    events of shots other acoustic events located (docs/methods.md, Radar, "Second events of
    one shot"): `test.share` of their detections or more are arrivals, within `test.sigma`, of
    better supported acoustically located events (more evidence; alone or fused), one arrival
    per sensor and shot: a detection at a sensor where the explaining event holds a detection of
    its own that fits it does not count; and one of them explains more than half (the shot the
    event is a second event of; arrivals scattered over many events' predictions are
    coincidences in a busy field). Events are taken from the best supported down; a
    dissolved event explains nothing. Returns the events left, the explaining events with
    `explains` added, and what was dissolved."""
    if test.sigma <= 0:
        return events, []
    peers = [
        e
        for e in events
        if e.type in ("launch", "impact")
        and is_acoustically_located(e)
        and e.evidence
        and e.origin.covariance
    ]
    if len(peers) < 2:
        return events, []
    origins = _Origins.in_time_order(peers)
    peers, peer_ns, peer_ecef = origins.events, origins.ns, origins.ecef
    strength = np.asarray(_strengths(peers))
    peer_cov = np.array([_sharp_covariance(e) for e in peers])
    gone: set[int] = set()
    own_cache: dict[int, tuple[np.ndarray, np.ndarray] | None] = {}

    def own_fitting(k: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Longitude and latitude of the sensors where peer k holds a detection that fits it."""
        if k not in own_cache:
            e = peers[k]
            found = arrivals(e)
            if found is None:
                own_cache[k] = None
            else:
                arr, speed = found
                fit = _explained_by(
                    e,
                    arr,
                    speed,
                    np.array([e.time_ns], np.int64),
                    peer_ecef[k : k + 1],
                    _sharp_covariance(e)[None],
                    test.sigma,
                    test.propagation_s_per_km,
                )
                lon, lat = TangentPlane(e.origin.lon, e.origin.lat).inverse(
                    arr.x_m[fit >= 0], arr.y_m[fit >= 0]
                )
                own_cache[k] = (np.atleast_1d(lon), np.atleast_1d(lat))
        return own_cache[k]

    # Each event against all better supported ones, in the order of `events` (the order the
    # store is read in, `truceline.process`): for each of its detections, the peer explaining
    # it (-1 if none or not counted).
    position = {e.id: k for k, e in enumerate(peers)}
    tested: dict[int, tuple[int, np.ndarray]] = {}
    for x in events:
        xi = position.get(x.id)
        if xi is None or is_radar_located(x):
            continue  # a fused event: fusion and explaining away have judged it
        found = arrivals(x)
        if found is None:
            continue
        arr, speed = found
        near = _within_hearing(x, arr, origins, test)
        idx = near[strength[near] > strength[xi]]
        if not idx.size:
            continue
        cov = peer_cov[idx]
        by = _explained_by(
            x,
            arr,
            speed,
            peer_ns[idx],
            peer_ecef[idx],
            cov,
            test.sigma,
            test.propagation_s_per_km,
        )
        if (by >= 0).sum() < test.share * arr.n:
            continue
        # One arrival per sensor and shot: not where the explaining event has its own.
        plane = TangentPlane(x.origin.lon, x.origin.lat)
        peer_of = np.where(by >= 0, idx[np.maximum(by, 0)], -1)
        for k in np.unique(peer_of[peer_of >= 0]):
            own = own_fitting(int(k))
            mine = np.flatnonzero(peer_of == k)
            if own is None:
                peer_of[mine] = -1
            elif own[0].size:
                oe, on = plane.forward(own[0], own[1])
                gap = np.hypot(
                    arr.x_m[mine, None] - np.atleast_1d(oe)[None, :],
                    arr.y_m[mine, None] - np.atleast_1d(on)[None, :],
                )
                peer_of[mine[(gap < 1.0).any(axis=1)]] = -1
        if (peer_of >= 0).sum() >= test.share * arr.n:
            tested[xi] = (arr.n, peer_of)
    # From the best supported down: a dissolved event explains nothing (its detections count
    # as unexplained for the events after it).
    dissolved: list[Explained] = []
    for xi in sorted(tested, key=lambda i: strength[i], reverse=True):
        n, peer_of = tested[xi]
        counted = (peer_of >= 0) & ~np.isin(peer_of, list(gone))
        if counted.sum() < test.share * n:
            continue
        kinds, counts = np.unique(peer_of[counted], return_counts=True)
        if 2 * int(counts.max()) <= n:
            continue  # no shot holds most of its arrivals: scattered fits, not a second event
        by_id = {peers[int(k)].id: int(c) for k, c in zip(kinds, counts, strict=True)}
        dissolved.append(Explained(peers[xi].id, n, by_id))
        gone.add(xi)
    if not dissolved:
        return events, []
    return _without(events, dissolved, {}), dissolved


def _without(
    events: list[Event], dissolved: list[Explained], back_to: Mapping[str, Event]
) -> list[Event]:
    """`events` without the `dissolved` ones (those in `back_to` replaced by their radar shot),
    the explaining events recording what they explain, pairings to dissolved events dropped."""
    gone = {d.event for d in dissolved}
    renamed = {fid: shot.id for fid, shot in back_to.items()}
    explains: dict[str, list[dict]] = {}
    for d in dissolved:
        for kid, n in d.by.items():
            # A fused event that went back to its shot explains under the shot's id.
            explains.setdefault(renamed.get(kid, kid), []).append(
                {"event": d.event, "detections": n}
            )
    out = []
    for e in events:
        if e.id in back_to:
            e = back_to[e.id].refined(paired=renamed.get(e.paired, e.paired))
        elif e.id in gone:
            continue
        elif e.paired in renamed:
            e = e.refined(paired=renamed[e.paired])
        elif e.paired in gone:
            e = e.refined(paired=None)  # its partner was dissolved
        if e.id in explains:
            props = frozen_update(
                e.properties, {"explains": [*e.properties.get("explains", ()), *explains[e.id]]}
            )
            e = e.refined(properties=props)
        out.append(e)
    return out
