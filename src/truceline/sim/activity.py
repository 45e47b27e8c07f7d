"""What the parties do: batteries behind their side of the line firing barrages across it, and
heavy weapons parked inside withdrawal zones.

Barrages of each party and weapon class arrive as a Poisson process whose rate is the party's
`launches_per_hour` × the class's share × the profile factor ÷ the class's mean rounds per
barrage. A barrage picks one of the class's batteries, aims at a point on the other side, and
fires 1 + Poisson(rounds_mean - 1) rounds at intervals uniform in [0.5, 1.5] × interval_s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from truceline.agreement.model import RuleKind
from truceline.ballistics import BallisticTable, Projectile
from truceline.geo.projection import GEOD
from truceline.sim.geometry import SectorFrame, round_coords
from truceline.sim.scenario import PartyActivity, Scenario
from truceline.weapons import WeaponClass, weapon_classes

NS = 1_000_000_000


def profile_segments(
    party: PartyActivity, start_ns: int, end_ns: int, scenario_start_ns: int
) -> list[tuple[int, int, float]]:
    """The pieces (from_ns, to_ns, factor) of the party's profile overlapping [start, end)."""
    steps = sorted(party.profile, key=lambda s: s.from_h)
    out = []
    for i, step in enumerate(steps):
        a = scenario_start_ns + round(step.from_h * 3600 * NS)
        b = (
            scenario_start_ns + round(steps[i + 1].from_h * 3600 * NS)
            if i + 1 < len(steps)
            else end_ns
        )
        a, b = max(a, start_ns), min(b, end_ns)
        if b > a and step.factor > 0:
            out.append((a, b, step.factor))
    return out


def poisson_times(
    rng: np.random.Generator, rate_per_h: float, segments: list[tuple[int, int, float]]
) -> NDArray[np.int64]:
    """Event times (ns, sorted) of a Poisson process of `rate_per_h` × each segment's factor."""
    times = []
    for a, b, factor in segments:
        count = rng.poisson(rate_per_h * factor * (b - a) / (3600 * NS))
        times.append(a + np.floor(rng.random(count) * (b - a)).astype(np.int64))
    return np.sort(np.concatenate(times)) if times else np.zeros(0, np.int64)


@dataclass
class Batteries:
    """Firing positions of one party's weapon class: lon, lat (deg), chainage (km), depth (km)."""

    party: str
    weapon: WeaponClass
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    km: NDArray[np.float64]
    depth_km: NDArray[np.float64]


@dataclass
class Shots:
    """Rounds fired (one entry each). Times in ns; positions in degrees; `aim_*` the barrage's
    aim point; `elevation_deg`, `time_of_flight_s`, `range_m`, `azimuth_deg` of the trajectory."""

    number: NDArray[np.int64]
    barrage: NDArray[np.int64]
    party: list[str]
    weapon: list[str]
    launch_ns: NDArray[np.int64]
    impact_ns: NDArray[np.int64]
    launch_lon: NDArray[np.float64]
    launch_lat: NDArray[np.float64]
    impact_lon: NDArray[np.float64]
    impact_lat: NDArray[np.float64]
    aim_lon: NDArray[np.float64]
    aim_lat: NDArray[np.float64]
    elevation_deg: NDArray[np.float64]
    time_of_flight_s: NDArray[np.float64]
    range_m: NDArray[np.float64]
    azimuth_deg: NDArray[np.float64]

    @property
    def size(self) -> int:
        return int(self.launch_ns.size)


class FireModel:
    """Batteries of every party and class, and the barrages they fire in each time window."""

    def __init__(self, frame: SectorFrame, scenario: Scenario, rng: np.random.Generator):
        self.frame = frame
        self.scenario = scenario
        self.classes = weapon_classes()
        self.batteries: dict[tuple[str, str], Batteries] = {}
        self.tables: dict[str, BallisticTable] = {}
        self.next_shot = 1
        self.next_barrage = 1
        for party, act in scenario.activity.parties.items():
            total = sum(act.mix.values())
            if act.launches_per_hour <= 0 or total <= 0:
                continue
            for wid, weight in act.mix.items():
                if weight <= 0:
                    continue
                weapon = self.classes[wid]
                tactics = scenario.activity.fire(wid)
                count = max(1, round(act.batteries_per_100km * frame.length_km / 100))
                km = frame.start_km + rng.random(count) * frame.length_km
                lo, hi = tactics.depth_fraction
                depth = weapon.max_range_km * (lo + (hi - lo) * rng.random(count))
                lon, lat = frame.place(rng, party, km, depth)
                self.batteries[(party, wid)] = Batteries(party, weapon, lon, lat, km, depth)
                if wid not in self.tables:
                    self.tables[wid] = BallisticTable.build(Projectile.for_weapon(weapon))

    def shots(self, start_ns: int, end_ns: int, rng: np.random.Generator) -> Shots:
        """All rounds of barrages starting in [start_ns, end_ns)."""
        parts = []
        act = self.scenario.activity
        for (party, wid), bat in self.batteries.items():
            pa = act.parties[party]
            tactics = act.fire(wid)
            share = pa.mix[wid] / sum(pa.mix.values())
            segments = profile_segments(pa, start_ns, end_ns, self.scenario.start_ns)
            starts = poisson_times(
                rng, pa.launches_per_hour * share / tactics.rounds_mean, segments
            )
            if starts.size:
                parts.append(self._barrages(party, bat, starts, rng))
        if not parts:
            return _empty_shots()
        shots = Shots(
            *(
                np.concatenate([getattr(p, f) for p in parts])
                if not isinstance(getattr(parts[0], f), list)
                else [x for p in parts for x in getattr(p, f)]
                for f in Shots.__dataclass_fields__
            )
        )
        order = np.argsort(shots.launch_ns, kind="stable")
        return _take(shots, order)

    def _barrages(
        self, party: str, bat: Batteries, starts: NDArray[np.int64], rng: np.random.Generator
    ) -> Shots:
        frame, weapon = self.frame, bat.weapon
        act = self.scenario.activity
        tactics = act.fire(weapon.id)
        table = self.tables[weapon.id]
        branch = weapon.trajectory
        nb = starts.size
        which = rng.integers(0, bat.lon.size, nb)
        # Aim point: across the line near the battery's chainage, within reach.
        max_km = weapon.max_range_km
        lateral = np.clip(
            rng.normal(0.0, act.lateral_fraction * max_km, nb), -0.3 * max_km, 0.3 * max_km
        )
        km = np.clip(bat.km[which] + lateral, frame.start_km, frame.end_km)
        lo, hi = tactics.target_fraction
        depth = max_km * (lo + (hi - lo) * rng.random(nb))
        other = frame.other(party)
        aim_lon, aim_lat = frame.place(rng, other, km, depth)
        az, _, dist = GEOD.inv(bat.lon[which], bat.lat[which], aim_lon, aim_lat)
        reach_lo, reach_hi = table.reach_m(branch)
        reach_lo, reach_hi = reach_lo * 1.02, min(reach_hi, max_km * 1e3) * 0.97
        clamped = np.clip(dist, reach_lo, reach_hi)
        moved = clamped != dist
        if np.any(moved):
            lo_m, la_m, _ = GEOD.fwd(
                bat.lon[which][moved], bat.lat[which][moved], az[moved], clamped[moved]
            )
            lo_m, la_m = round_coords(lo_m, la_m)
            across = frame.agreement.party_at(lo_m, la_m) == other
            idx = np.flatnonzero(moved)[across]
            aim_lon[idx], aim_lat[idx] = lo_m[across], la_m[across]
        # Rounds.
        rounds = 1 + rng.poisson(tactics.rounds_mean - 1, nb)
        barrage = np.repeat(np.arange(nb), rounds)
        n = barrage.size
        first = np.repeat(np.cumsum(rounds) - rounds, rounds)
        k = np.arange(n) - first
        gaps = tactics.interval_s * (0.5 + rng.random(n))
        gaps[k == 0] = 0.0
        offset_s = np.cumsum(gaps)
        offset_s -= np.repeat(offset_s[first[k == 0]], rounds)
        launch_ns = starts[barrage] + np.rint(offset_s * NS).astype(np.int64)
        sp = act.battery_spread_m
        b = which[barrage]
        x, y = frame.agreement.projection.forward(bat.lon[b], bat.lat[b])
        l_lon, l_lat = frame.to_lonlat(
            x + rng.normal(0, sp, n) if sp else x, y + rng.normal(0, sp, n) if sp else y
        )
        az_r, _, rng_r = GEOD.inv(l_lon, l_lat, aim_lon[barrage], aim_lat[barrage])
        sigma = tactics.dispersion_fraction * rng_r
        range_m = np.clip(rng_r + rng.normal(0.0, 1.0, n) * sigma, reach_lo, reach_hi)
        azimuth = np.mod(az_r + np.degrees(rng.normal(0.0, 1.0, n) * sigma / rng_r), 360.0)
        i_lon, i_lat, _ = GEOD.fwd(l_lon, l_lat, azimuth, range_m)
        i_lon, i_lat = round_coords(i_lon, i_lat)
        # The trajectory is computed for the geodesic distance between the rounded positions.
        _, _, range_m = GEOD.inv(l_lon, l_lat, i_lon, i_lat)
        elevation, tof = table.solve(range_m, branch)
        impact_ns = launch_ns + np.rint(tof * NS).astype(np.int64)
        numbers = np.arange(self.next_shot, self.next_shot + n)
        self.next_shot += n
        barrages = np.arange(self.next_barrage, self.next_barrage + nb)[barrage]
        self.next_barrage += nb
        return Shots(
            numbers,
            barrages,
            [party] * n,
            [weapon.id] * n,
            launch_ns,
            impact_ns,
            l_lon,
            l_lat,
            i_lon,
            i_lat,
            aim_lon[barrage],
            aim_lat[barrage],
            elevation,
            tof,
            range_m,
            azimuth,
        )


def _take(shots: Shots, idx: NDArray[np.int64]) -> Shots:
    values = {}
    for f in Shots.__dataclass_fields__:
        v = getattr(shots, f)
        values[f] = [v[i] for i in idx] if isinstance(v, list) else v[idx]
    return Shots(**values)


def _empty_shots() -> Shots:
    z = np.zeros(0)
    zi = np.zeros(0, np.int64)
    return Shots(zi, zi, [], [], zi, zi, z, z, z, z, z, z, z, z, z, z)


# -- parked heavy weapons ----------------------------------------------------------------------


@dataclass
class Parked:
    """Heavy weapons parked inside withdrawal zones for the whole scenario (truth only)."""

    party: list[str]
    weapon: list[str]
    rule: list[str]
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    distance_km: NDArray[np.float64]


def parked_weapons(frame: SectorFrame, scenario: Scenario, rng: np.random.Generator) -> Parked:
    """Place each party's parked weapons: a withdrawal rule at random, one of its classes, at a
    depth uniform in [0.2, 0.9] × the rule's distance; kept only if inside the zone."""
    rules = [
        r
        for r in frame.agreement.rules
        if r.kind is RuleKind.WITHDRAWAL and r.classes and r.min_distance_km
    ]
    out = Parked([], [], [], np.zeros(0), np.zeros(0), np.zeros(0))
    if not rules:
        return out
    lons, lats, dists = [], [], []
    for party, act in scenario.activity.parties.items():
        count = round(act.parked_per_100km * frame.length_km / 100)
        if count == 0:
            continue
        pick = rng.integers(0, len(rules), count)
        limit = np.array([rules[i].min_distance_km for i in pick])
        depth = limit * (0.2 + 0.7 * rng.random(count))
        km = frame.start_km + rng.random(count) * frame.length_km
        lon, lat = frame.place(rng, party, km, depth)
        dist = frame.agreement.distance_to_line_m(lon, lat) / 1e3
        inside = (dist < limit) & (frame.agreement.party_at(lon, lat) == party)
        for i in np.flatnonzero(inside):
            rule = rules[pick[i]]
            out.party.append(party)
            out.weapon.append(rule.classes[int(rng.integers(0, len(rule.classes)))])
            out.rule.append(rule.id)
        lons.append(lon[inside])
        lats.append(lat[inside])
        dists.append(dist[inside])
    if lons:
        out.lon, out.lat, out.distance_km = (
            np.concatenate(lons),
            np.concatenate(lats),
            np.concatenate(dists),
        )
    return out
