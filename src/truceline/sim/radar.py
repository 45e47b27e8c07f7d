"""Radars: counter-battery tracks of projectiles, air-surveillance plots of drones and missiles.

Counter-battery radar: a projectile is acquired when it first rises above the radar's search
fence (elevation ≥ `min_elevation_deg`) inside its coverage (slant range ≤ `range_km`, azimuth
within `sector_width_deg` of the radar's facing), with probability `pd`; it is then tracked for
`track_duration_s` (or to impact) with a point every `point_interval_s`. Each point is the true
position plus N(0, σ²) on each of east, north and up, σ = sigma_m + sigma_per_km_m · slant
range at acquisition (km); `sigma_m` in the observation is that σ.

Air-surveillance radar: the antenna turns once per `scan_period_s`, so an object at azimuth α is
seen at scan start + α/360 · period. It yields a plot with probability `pd` if within `range_km`
and above the radar horizon (4/3-Earth: ground distance ≤ 4,120 m · (√h_radar + √h_object), h
in m). Plot = true position + N(0, sigma_m²) per axis; velocity = true + N(0,
velocity_sigma_mps²) per axis. Clutter: Poisson(`clutter_per_scan`) plots per scan, uniform over
the coverage disc, 0-3,000 m high, velocity N(0, 10²) m/s per axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray

from truceline.ballistics import BallisticTable
from truceline.geo.projection import GEOD, to_ecef
from truceline.sim.activity import NS, Shots
from truceline.sim.air import AirObjects
from truceline.sim.geometry import round_coords
from truceline.sim.layout import RadarGroup
from truceline.weapons import weapon_classes

HORIZON_M_PER_SQRT_M = 4120.0
"""Radar horizon over a 4/3-radius Earth: 4.12 km per √(height in m)."""
CLUTTER_MAX_ALT_M = 3000.0
CLUTTER_SPEED_SIGMA_MPS = 10.0


@dataclass
class Tracks:
    """Counter-battery radar tracks (one entry each); points flattened with `offsets`."""

    sensor: list[str]
    shot: NDArray[np.int64]  # index into the window's Shots
    sigma_m: NDArray[np.float64]
    radar_class: list[str]
    offsets: NDArray[np.int64]  # points of track i: offsets[i]:offsets[i+1]
    time_ns: NDArray[np.int64]
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    alt: NDArray[np.float64]

    @property
    def size(self) -> int:
        return len(self.sensor)


@dataclass
class Plots:
    """Air-radar plots (one entry each); `obj` is the index of the air object, -1 for clutter."""

    sensor: list[str]
    obj: NDArray[np.int64]
    time_ns: NDArray[np.int64]
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    alt: NDArray[np.float64]
    sigma_m: NDArray[np.float64]
    velocity: NDArray[np.float64]  # (n, 3) east, north, up; NaN rows where not reported

    @property
    def size(self) -> int:
        return len(self.sensor)


def _wrap180(a: NDArray[np.float64]) -> NDArray[np.float64]:
    return (a + 180.0) % 360.0 - 180.0


def _relative(
    group: RadarGroup, r: NDArray[np.int64], xyz: NDArray[np.float64]
) -> tuple[NDArray[np.float64], ...]:
    """Slant range (m), azimuth (deg) and elevation (deg) of points from radars `r`."""
    rel = xyz - group.xyz[r]
    basis = group.basis[r]
    e = np.einsum("ij,ij->i", rel, basis[:, 0])
    n = np.einsum("ij,ij->i", rel, basis[:, 1])
    u = np.einsum("ij,ij->i", rel, basis[:, 2])
    slant = np.sqrt(e * e + n * n + u * u)
    return (
        slant,
        np.degrees(np.arctan2(e, n)) % 360.0,
        np.degrees(np.arcsin(np.clip(u / np.maximum(slant, 1e-9), -1, 1))),
        np.hypot(e, n),
    )


def counter_battery_tracks(
    groups: list[RadarGroup],
    shots: Shots,
    tables: dict[str, BallisticTable],
    projection,
    rng: np.random.Generator,
) -> Tracks:
    """Tracks of the window's shots by every counter-battery radar that acquires them."""
    classes = weapon_classes()
    empty = Tracks(
        [],
        np.zeros(0, np.int64),
        np.zeros(0),
        [],
        np.zeros(1, np.int64),
        np.zeros(0, np.int64),
        np.zeros(0),
        np.zeros(0),
        np.zeros(0),
    )
    if shots.size == 0 or not groups:
        return empty
    launch = to_ecef(shots.launch_lon, shots.launch_lat)
    impact = to_ecef(shots.impact_lon, shots.impact_lat)
    mid = (launch + impact) / 2
    weapons = np.array(shots.weapon)
    parts: list[tuple] = []
    samples = np.linspace(0.0, 1.0, 129)
    for group in groups:
        spec = group.spec
        reach = spec.range_km * 1e3
        for r in range(len(group.ids)):
            d = np.min(
                [np.linalg.norm(p - group.xyz[r], axis=1) for p in (launch, mid, impact)], axis=0
            )
            cand = np.flatnonzero(d <= reach + 0.5 * shots.range_m)
            if cand.size == 0:
                continue
            for wid in np.unique(weapons[cand]):
                s = cand[weapons[cand] == wid]
                table = tables[wid]
                t = samples[None, :] * shots.time_of_flight_s[s, None]
                x, z = table.position(shots.elevation_deg[s, None], t)
                m = s.size
                lon, lat, _ = GEOD.fwd(
                    np.repeat(shots.launch_lon[s], 129),
                    np.repeat(shots.launch_lat[s], 129),
                    np.repeat(shots.azimuth_deg[s], 129),
                    x.ravel(),
                )
                xyz = to_ecef(lon, lat, z.ravel())
                slant, az, el, _ = _relative(group, np.full(m * 129, r), xyz)
                vis = (
                    (slant <= reach)
                    & (el >= spec.min_elevation_deg)
                    & (np.abs(_wrap180(az - group.facing_deg[r])) <= spec.sector_width_deg / 2)
                ).reshape(m, 129)
                vis[:, 0] = False
                seen = vis.any(axis=1) & (rng.random(m) < spec.pd)
                if not np.any(seen):
                    continue
                s, t, vis, slant = s[seen], t[seen], vis[seen], slant.reshape(m, 129)[seen]
                j0 = np.argmax(vis, axis=1)
                rows = np.arange(s.size)
                t_first = t[rows, j0]
                sigma = spec.sigma_m + spec.sigma_per_km_m * slant[rows, j0] / 1e3
                t_end = np.minimum(t_first + spec.track_duration_s, shots.time_of_flight_s[s])
                npts = np.floor((t_end - t_first) / spec.point_interval_s).astype(np.int64) + 1
                # A track needs two points at least (contract section 3): a shell glimpsed for
                # less than one point interval is not tracked.
                tracked = npts >= 2
                if not np.any(tracked):
                    continue
                s, t_first, sigma, npts = (
                    s[tracked],
                    t_first[tracked],
                    sigma[tracked],
                    npts[tracked],
                )
                rows = np.arange(s.size)
                owner = np.repeat(rows, npts)
                k = np.arange(owner.size) - np.repeat(np.cumsum(npts) - npts, npts)
                tp = t_first[owner] + k * spec.point_interval_s
                xp, zp = table.position(shots.elevation_deg[s][owner], tp)
                plon, plat, _ = GEOD.fwd(
                    shots.launch_lon[s][owner],
                    shots.launch_lat[s][owner],
                    shots.azimuth_deg[s][owner],
                    xp,
                )
                px, py = projection.forward(plon, plat)
                sg = sigma[owner]
                px = px + rng.normal(0, 1, px.size) * sg
                py = py + rng.normal(0, 1, px.size) * sg
                zp = zp + rng.normal(0, 1, px.size) * sg
                plon, plat = round_coords(*projection.inverse(px, py))
                tns = shots.launch_ns[s][owner] + np.rint(tp * NS).astype(np.int64)
                parts.append(
                    (
                        [group.ids[r]] * s.size,
                        s,
                        sigma,
                        [classes[wid].radar_class or "shell"] * s.size,
                        npts,
                        tns,
                        plon,
                        plat,
                        np.round(zp, 1),
                    )
                )
    if not parts:
        return empty
    npts = np.concatenate([p[4] for p in parts])
    return Tracks(
        [x for p in parts for x in p[0]],
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
        [x for p in parts for x in p[3]],
        np.concatenate([[0], np.cumsum(npts)]).astype(np.int64),
        *(np.concatenate([p[i] for p in parts]) for i in range(5, 9)),
    )


def near_paths(groups: list[RadarGroup], objs: AirObjects, projection) -> list[NDArray]:
    """For each air-radar group, a boolean (objects × radars): does the path come within
    range of the radar (in the projection, with a 2% margin)?"""
    out = []
    paths = np.array(
        [
            shapely.LineString(
                np.column_stack(
                    [objs.x[i, : max(objs.count[i], 2)], objs.y[i, : max(objs.count[i], 2)]]
                )
            )
            for i in range(objs.size)
        ],
        dtype=object,
    )
    for group in groups:
        gx, gy = projection.forward(group.lon, group.lat)
        pts = shapely.points(gx, gy)
        if objs.size == 0:
            out.append(np.zeros((0, len(group.ids)), bool))
            continue
        dist = shapely.distance(paths[:, None], pts[None, :])
        out.append(dist <= group.spec.range_km * 1e3 * 1.02)
    return out


def air_plots(
    groups: list[RadarGroup],
    near: list[NDArray],
    objs: AirObjects,
    start_s: float,
    end_s: float,
    epoch_ns: int,
    projection,
    rng: np.random.Generator,
) -> Plots:
    """Plots and clutter of every air radar with detection times in [start_s, end_s) (seconds
    since the scenario start `epoch_ns`)."""
    parts = []
    for group, near_g in zip(groups, near, strict=True):
        spec = group.spec
        period = spec.scan_period_s
        for r in range(len(group.ids)):
            phase = (r * 0.6180339887498949) % 1.0 * period
            k0 = int(np.floor((start_s - phase) / period)) - 1
            k1 = int(np.ceil((end_s - phase) / period))
            scans = phase + np.arange(k0, k1 + 1) * period
            scans = scans[(scans + period > start_s) & (scans < end_s)]
            alive = np.flatnonzero(
                near_g[:, r] & (objs.start_s < end_s) & (objs.end_s > start_s - period)
            )
            if alive.size and scans.size:
                parts.append(
                    _object_plots(
                        group, r, objs, alive, scans, start_s, end_s, epoch_ns, projection, rng
                    )
                )
            parts.append(_clutter(group, r, scans, start_s, end_s, epoch_ns, projection, rng))
    parts = [p for p in parts if p.size]
    if not parts:
        return Plots(
            [],
            np.zeros(0, np.int64),
            np.zeros(0, np.int64),
            np.zeros(0),
            np.zeros(0),
            np.zeros(0),
            np.zeros(0),
            np.zeros((0, 3)),
        )
    plots = Plots(
        [x for p in parts for x in p.sensor],
        *(
            np.concatenate([getattr(p, f) for p in parts])
            for f in ("obj", "time_ns", "lon", "lat", "alt", "sigma_m", "velocity")
        ),
    )
    return plots


def _true_north_angle(projection, lon, lat) -> NDArray[np.float64]:
    """Grid bearing of true north in the projection, radians."""
    x0, y0 = projection.forward(lon, lat)
    x1, y1 = projection.forward(lon, np.asarray(lat) + 1e-4)
    return np.arctan2(x1 - x0, y1 - y0)


def _object_plots(
    group: RadarGroup,
    r: int,
    objs: AirObjects,
    alive,
    scans,
    start_s,
    end_s,
    epoch_ns,
    projection,
    rng,
) -> Plots:
    spec = group.spec
    obj = np.repeat(alive, scans.size)
    scan = np.tile(scans, alive.size)
    x, y, h, *_ = objs.state(obj, scan)
    lon, lat = projection.inverse(x, y)
    _, az, _, _ = _relative(group, np.full(obj.size, r), to_ecef(lon, lat, h))
    t = scan + az / 360.0 * spec.scan_period_s
    ok = (t >= start_s) & (t < end_s) & (t >= objs.start_s[obj]) & (t <= objs.end_s[obj])
    obj, t = obj[ok], t[ok]
    x, y, h, vx, vy, vh = objs.state(obj, t)
    lon, lat = projection.inverse(x, y)
    slant, _, _, ground = _relative(group, np.full(obj.size, r), to_ecef(lon, lat, h))
    horizon = HORIZON_M_PER_SQRT_M * (np.sqrt(spec.antenna_height_m) + np.sqrt(np.maximum(h, 0)))
    seen = (slant <= spec.range_km * 1e3) & (ground <= horizon) & (rng.random(obj.size) < spec.pd)
    obj, t, x, y, h, vx, vy, vh, lon, lat = (
        a[seen] for a in (obj, t, x, y, h, vx, vy, vh, lon, lat)
    )
    n = obj.size
    sg = spec.sigma_m
    px = x + rng.normal(0, 1, n) * sg
    py = y + rng.normal(0, 1, n) * sg
    ph = h + rng.normal(0, 1, n) * sg
    theta = _true_north_angle(projection, lon, lat)
    ve = vx * np.cos(theta) - vy * np.sin(theta)
    vn = vx * np.sin(theta) + vy * np.cos(theta)
    vel = np.column_stack([ve, vn, vh]) + rng.normal(0, 1, (n, 3)) * spec.velocity_sigma_mps
    if not spec.report_velocity:
        vel[:] = np.nan
    plon, plat = round_coords(*projection.inverse(px, py))
    tns = epoch_ns + np.rint(t * NS).astype(np.int64)
    return Plots([group.ids[r]] * n, obj, tns, plon, plat, np.round(ph, 1), np.full(n, sg), vel)


def _clutter(group: RadarGroup, r: int, scans, start_s, end_s, epoch_ns, projection, rng) -> Plots:
    spec = group.spec
    counts = rng.poisson(spec.clutter_per_scan, scans.size)
    n = int(counts.sum())
    scan = np.repeat(scans, counts)
    az = rng.random(n) * 360.0
    dist = spec.range_km * 1e3 * np.sqrt(rng.random(n))
    lon, lat, _ = GEOD.fwd(np.full(n, group.lon[r]), np.full(n, group.lat[r]), az, dist)
    alt = rng.random(n) * CLUTTER_MAX_ALT_M
    vel = rng.normal(0, CLUTTER_SPEED_SIGMA_MPS, (n, 3))
    t = scan + az / 360.0 * spec.scan_period_s
    ok = (t >= start_s) & (t < end_s)
    if not spec.report_velocity:
        vel[:] = np.nan
    lon, lat = round_coords(lon[ok], lat[ok])
    m = int(ok.sum())
    return Plots(
        [group.ids[r]] * m,
        np.full(m, -1, np.int64),
        epoch_ns + np.rint(t[ok] * NS).astype(np.int64),
        lon,
        lat,
        np.round(alt[ok], 1),
        np.full(m, spec.sigma_m),
        vel[ok],
    )
