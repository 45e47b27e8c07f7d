"""Drones and missiles: flight paths, where they cross the line, and where they detonate.

Each sortie is a path of waypoints (x, y in the agreement's projection, m; height above ground,
m; time since the scenario start, s), flown at constant speed along straight legs between
waypoints: take-off, climb to the cruise height over the first 5% of the ground distance,
cruise (long-range classes with one dog-leg), descent over the last 5%, and the end: a
detonation at the target (an impact sound source) or, for a lost attack, the end of the track
at a random point of the second half of the path. Sorties that do not cross the line fly to a
point near it on their own side and back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from numpy.typing import NDArray

from truceline.sim.activity import NS, poisson_times, profile_segments
from truceline.sim.geometry import SectorFrame, round_coords
from truceline.sim.scenario import Scenario
from truceline.weapons import weapon_classes

MAX_WAYPOINTS = 8


@dataclass
class AirObjects:
    """All sorties of the scenario. Waypoints are padded to MAX_WAYPOINTS by repeating the last;
    `count` says how many are real."""

    number: NDArray[np.int64]
    party: list[str]
    weapon: list[str]
    x: NDArray[np.float64]  # (n, W) projected metres
    y: NDArray[np.float64]
    alt: NDArray[np.float64]  # height above ground, m
    t_s: NDArray[np.float64]  # seconds since the scenario start
    count: NDArray[np.int64]
    crossing: NDArray[np.bool_]  # an attack across the line
    detonates: NDArray[np.bool_]
    crossings: list[list[dict]] = field(default_factory=list)

    @property
    def size(self) -> int:
        return int(self.number.size)

    @property
    def start_s(self) -> NDArray[np.float64]:
        return self.t_s[:, 0]

    @property
    def end_s(self) -> NDArray[np.float64]:
        return self.t_s[np.arange(self.size), self.count - 1]

    def state(
        self, obj: NDArray[np.int64], t_s: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], ...]:
        """(x, y, alt, vx, vy, valt) of objects `obj` at times `t_s` (clipped to the flight)."""
        tw = self.t_s[obj]
        last = self.count[obj] - 1
        seg = np.clip((tw <= t_s[:, None]).sum(axis=1) - 1, 0, np.maximum(last - 1, 0))
        nxt = np.minimum(seg + 1, last)
        ta, tb = tw[np.arange(obj.size), seg], tw[np.arange(obj.size), nxt]
        span = np.where(tb > ta, tb - ta, 1.0)
        w = np.clip((t_s - ta) / span, 0.0, 1.0)
        out = []
        for arr in (self.x, self.y, self.alt):
            a, b = arr[obj, seg], arr[obj, nxt]
            out.append(a + (b - a) * w)
        for arr in (self.x, self.y, self.alt):
            a, b = arr[obj, seg], arr[obj, nxt]
            out.append(np.where(tb > ta, (b - a) / span, 0.0))
        return tuple(out)


def sorties(frame: SectorFrame, scenario: Scenario, rng: np.random.Generator) -> AirObjects:
    """Every sortie of every party and air class over the scenario."""
    classes = weapon_classes()
    start, end = scenario.start_ns, scenario.start_ns + scenario.duration_ns
    rows: list[tuple] = []
    for party, act in scenario.activity.parties.items():
        segments = profile_segments(act, start, end, start)
        for cid, sortie in act.air.items():
            tactics = scenario.activity.flight(cid)
            times = poisson_times(rng, sortie.per_hour, segments)
            n = times.size
            if n == 0:
                continue
            crossing_p = (
                tactics.crossing_fraction
                if sortie.crossing_fraction is None
                else sortie.crossing_fraction
            )
            crossing = rng.random(n) < crossing_p
            speed = classes[cid].mean_speed_mps * (
                1 + tactics.speed_spread * (2 * rng.random(n) - 1)
            )
            alt = tactics.altitude_m[0] + (
                tactics.altitude_m[1] - tactics.altitude_m[0]
            ) * rng.random(n)
            km0 = frame.start_km + rng.random(n) * frame.length_km
            d0 = tactics.launch_depth_km[0] + np.diff(tactics.launch_depth_km)[0] * rng.random(n)
            lon0, lat0 = frame.place(rng, party, km0, d0)
            d1 = np.where(
                crossing,
                tactics.target_depth_km[0] + np.diff(tactics.target_depth_km)[0] * rng.random(n),
                0.5 + 1.5 * rng.random(n),
            )
            km1 = np.clip(km0 + rng.normal(0.0, 0.3, n) * (d0 + d1), frame.start_km, frame.end_km)
            lon1, lat1 = np.zeros(n), np.zeros(n)
            if np.any(crossing):
                lon1[crossing], lat1[crossing] = frame.place(
                    rng, frame.other(party), km1[crossing], d1[crossing]
                )
            if np.any(~crossing):
                lon1[~crossing], lat1[~crossing] = frame.place(
                    rng, party, km1[~crossing], d1[~crossing], min_fraction=0.0
                )
            detonates = crossing & (rng.random(n) < tactics.hit_fraction)
            lost_at = 0.5 + 0.5 * rng.random(n)
            dogleg = rng.normal(0.0, 0.1, n) if cid != "fpv-drone" else np.zeros(n)
            for i in range(n):
                rows.append(
                    (
                        party,
                        cid,
                        times[i],
                        lon0[i],
                        lat0[i],
                        lon1[i],
                        lat1[i],
                        bool(crossing[i]),
                        bool(detonates[i]),
                        lost_at[i],
                        dogleg[i],
                        speed[i],
                        alt[i],
                    )
                )
    rows.sort(key=lambda r: (r[2], r[0], r[1]))
    return _build(frame, scenario, rows)


def _build(frame: SectorFrame, scenario: Scenario, rows: list[tuple]) -> AirObjects:
    n = len(rows)
    shape = (n, MAX_WAYPOINTS)
    x = np.zeros(shape)
    y = np.zeros(shape)
    alt = np.zeros(shape)
    t = np.zeros(shape)
    count = np.zeros(n, np.int64)
    proj = frame.agreement.projection
    for i, (
        _,
        _,
        t0,
        lon0,
        lat0,
        lon1,
        lat1,
        crossing,
        detonates,
        lost_at,
        dogleg,
        speed,
        cruise,
    ) in enumerate(rows):
        (xa, xb), (ya, yb) = proj.forward([lon0, lon1], [lat0, lat1])
        dx, dy = xb - xa, yb - ya
        nx, ny = -dy, dx  # left normal (unnormalised: scales with length)
        if crossing:
            fr = [0.0, 0.05, 0.5, 0.95, 1.0]
            off = [0.0, 0.0, dogleg, 0.0, 0.0]
            hs = [0.0, cruise, cruise, cruise, 0.0]
            px = [xa + dx * f + nx * o for f, o in zip(fr, off, strict=True)]
            py = [ya + dy * f + ny * o for f, o in zip(fr, off, strict=True)]
            if not detonates:  # lost: the track ends part-way, in the air
                keep = [f < lost_at for f in fr]
                o = float(np.interp(lost_at, fr, off))
                px = [p for p, k in zip(px, keep, strict=True) if k] + [xa + dx * lost_at + nx * o]
                py = [p for p, k in zip(py, keep, strict=True) if k] + [ya + dy * lost_at + ny * o]
                hs = [h for h, k in zip(hs, keep, strict=True) if k] + [
                    float(np.interp(lost_at, fr, hs))
                ]
        else:  # patrol to near the line and back
            px = [xa, xa + dx * 0.05, xb, xa + dx * 0.05, xa]
            py = [ya, ya + dy * 0.05, yb, ya + dy * 0.05, ya]
            hs = [0.0, cruise, cruise, cruise, 0.0]
        px, py, hs = np.array(px), np.array(py), np.array(hs)
        leg = np.sqrt(np.diff(px) ** 2 + np.diff(py) ** 2 + np.diff(hs) ** 2)
        times = (t0 - scenario.start_ns) / NS + np.concatenate([[0.0], np.cumsum(leg)]) / speed
        k = px.size
        count[i] = k
        x[i, :k], y[i, :k], alt[i, :k], t[i, :k] = px, py, hs, times
        x[i, k:], y[i, k:], alt[i, k:], t[i, k:] = px[-1], py[-1], hs[-1], times[-1]
    objs = AirObjects(
        np.arange(1, n + 1),
        [r[0] for r in rows],
        [r[1] for r in rows],
        x,
        y,
        alt,
        t,
        count,
        np.array([r[7] for r in rows], bool),
        np.array([r[8] for r in rows], bool),
    )
    objs.crossings = _crossings(frame, objs, scenario.start_ns)
    return objs


def _crossings(frame: SectorFrame, objs: AirObjects, start_ns: int) -> list[list[dict]]:
    """Where and when each path crosses the line, and in which direction."""
    if objs.size == 0:
        return []
    line = frame.agreement.line_local
    shapely.prepare(line)
    paths = [
        shapely.LineString(
            np.column_stack([objs.x[i, : objs.count[i]], objs.y[i, : objs.count[i]]])
        )
        for i in range(objs.size)
    ]
    hits = shapely.intersection(np.array(paths, dtype=object), line)
    out = []
    for i, (path, hit) in enumerate(zip(paths, hits, strict=True)):
        pts = [g for g in shapely.get_parts(hit) if g.geom_type == "Point"]
        if not pts:
            out.append([])
            continue
        along = np.sort(shapely.line_locate_point(path, np.array(pts, dtype=object)))
        xy = np.column_stack([objs.x[i, : objs.count[i]], objs.y[i, : objs.count[i]]])
        cum = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))])
        tt = objs.t_s[i, : objs.count[i]]
        times = np.interp(along, cum, tt)
        where = shapely.line_interpolate_point(path, along)
        lon, lat = round_coords(
            *frame.agreement.projection.inverse(shapely.get_x(where), shapely.get_y(where))
        )
        own, other = objs.party[i], frame.other(objs.party[i])
        rows = []
        for j in range(along.size):
            a, b = (own, other) if j % 2 == 0 else (other, own)
            rows.append(
                {
                    "time_ns": start_ns + round(times[j] * NS),
                    "position": [float(lon[j]), float(lat[j])],
                    "direction": f"{a}->{b}",
                }
            )
        out.append(rows)
    return out
