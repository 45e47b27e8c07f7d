"""The scenario simulator: physics-based observations with exact ground truth.

`simulate(scenario, seed, out_dir)` writes, in `out_dir` (contract sections 2, 3, 5, 6):
`agreement.yaml` and `areas.geojson` (copies of the agreement used), `sensors.geojson`,
`observations.jsonl` (in delivery order), `truth.jsonl` (one object per true source),
`scenario.yaml` (the scenario as resolved: seed, sector chainage) and `truth_summary.json`.

Time is simulated in windows of `WINDOW_S` seconds. Every random draw of a window comes from
its own generator, `SeedSequence(seed, spawn_key=(purpose, window))`, so the output depends only
on the seed and the scenario: the same seed gives byte-identical files.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import yaml
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from truceline.agreement import load_agreement
from truceline.agreement.model import Agreement
from truceline.geo.projection import to_ecef
from truceline.sim import acoustics
from truceline.sim.activity import NS, FireModel, Shots, parked_weapons
from truceline.sim.air import AirObjects, sorties
from truceline.sim.delivery import DeliveryQueue
from truceline.sim.geometry import SectorFrame, round_coords
from truceline.sim.layout import Network, build_network
from truceline.sim.radar import air_plots, counter_battery_tracks, near_paths
from truceline.sim.scenario import Scenario, check_parties, load_scenario
from truceline.sim.signing import SensorSigner
from truceline.sim.writer import (
    acoustic_lines,
    format_times,
    observation_ids,
    plot_lines,
    track_lines,
    truth_line,
    weather_lines,
)
from truceline.timeutil import format_time
from truceline.weapons import weapon_classes

__all__ = ["WINDOW_S", "SimulationSummary", "simulate"]

WINDOW_S = 600
"""Length of a simulation window, s (also the unit of streaming and of random streams)."""

# Purposes of the random streams (the first element of each spawn key).
_LAYOUT, _BATTERIES, _AIR, _PARKED = 1, 2, 3, 4
_FIRE, _ACOUSTIC, _FALSE, _CB, _PLOTS, _WEATHER, _DELIVERY = 10, 11, 12, 13, 14, 15, 16
_KEYS, _SIGNING = 5, 17


def _rng(seed: int, purpose: int, window: int = 0) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(purpose, window)))


@dataclass
class SimulationSummary:
    """What a simulation produced."""

    scenario: str
    seed: int
    out_dir: str
    agreement: str
    sector_km: tuple[float, float]
    start: str
    duration_h: float
    sensors: dict[str, int]
    sources: dict[str, int]
    launches_by_party: dict[str, int]
    observations: dict[str, int]
    false_alarms: int
    lines_written: int
    resent: int
    late: int
    signing: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0
    files: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


class _Truth:
    """Writes truth.jsonl and counts what it wrote."""

    def __init__(self, out):
        self.out = out
        self.by_type: Counter[str] = Counter()
        self.launches_by_party: Counter[str] = Counter()
        self.caused = 0

    def write(self, obj: dict) -> None:
        self.by_type[obj["type"]] += 1
        self.caused += len(obj["observations"])
        if obj["type"] == "launch":
            self.launches_by_party[obj["party"]] += 1
        self.out.write(truth_line(obj))


def _pos(lon: float, lat: float) -> list[float]:
    return [float(lon), float(lat)]


def simulate(
    scenario: Scenario | str | Path,
    seed: int | None,
    out_dir: str | Path,
    progress: bool = True,
    *,
    base_dir: Path | None = None,
) -> SimulationSummary:
    """Run a scenario (a `Scenario`, a scenario file or a bundled name) with `seed` (None: the
    scenario's own) and write its files to `out_dir`. `base_dir` resolves a relative agreement
    path of a `Scenario` given as an object (default: the current directory)."""
    wall0 = time.perf_counter()
    if isinstance(scenario, Scenario):
        spec, file = scenario, None
        base = base_dir or Path.cwd()
    else:
        spec, file = load_scenario(scenario)
        base = file.parent
    seed = spec.seed if seed is None else int(seed)
    agreement = load_agreement(_agreement_ref(spec.agreement, base))
    check_parties(spec, [p.id for p in agreement.parties], str(file or spec.name))
    frame = SectorFrame.build(agreement, spec)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _copy_agreement(agreement, out)

    network = build_network(frame, spec, _rng(seed, _LAYOUT))
    sensors_geojson = network.geojson()
    signer = None
    if spec.signing.sensor_fraction > 0:
        ids = [f["properties"]["id"] for f in sensors_geojson["features"]]
        signer = SensorSigner(spec.signing, seed, ids, _rng(seed, _KEYS))
        signer.add_public_keys(sensors_geojson)
    (out / "sensors.geojson").write_text(
        json.dumps(sensors_geojson, separators=(",", ":")) + "\n", encoding="utf-8"
    )
    fire = FireModel(frame, spec, _rng(seed, _BATTERIES))
    objs = sorties(frame, spec, _rng(seed, _AIR))
    parked = parked_weapons(frame, spec, _rng(seed, _PARKED))
    resolved = spec.model_dump(mode="json")
    resolved.update(
        seed=seed,
        sector={"start_km": round(frame.start_km, 3), "end_km": round(frame.end_km, 3)},
        agreement=agreement.name if agreement.path is None else str(agreement.path),
    )
    (out / "scenario.yaml").write_text(
        yaml.safe_dump(resolved, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )

    run = _Run(spec, seed, frame, network, fire, objs, agreement)
    run.signer = signer
    windows = int(np.ceil(spec.duration_ns / (WINDOW_S * NS)))
    with (
        open(out / "observations.jsonl", "w", encoding="utf-8") as obs_file,
        open(out / "truth.jsonl", "w", encoding="utf-8") as truth_file,
    ):
        queue = DeliveryQueue(spec.delivery, obs_file)
        truth = _Truth(truth_file)
        run.write_parked(truth, parked)
        with _progress(progress) as bar:
            task = bar.add_task(f"simulating {spec.name}", total=windows)
            for w in range(windows):
                run.window(w, queue, truth)
                bar.update(
                    task,
                    advance=1,
                    description=f"simulating {spec.name} ({queue.stats.delivered:,} observations)",
                )
            run.finish(truth)
            queue.flush()
    summary = SimulationSummary(
        scenario=spec.name,
        seed=seed,
        out_dir=str(out),
        agreement=agreement.name,
        sector_km=(round(frame.start_km, 3), round(frame.end_km, 3)),
        start=spec.start,
        duration_h=spec.duration_h,
        sensors=network.counts(),
        sources=dict(truth.by_type),
        launches_by_party=dict(sorted(truth.launches_by_party.items())),
        observations=dict(run.kinds),
        false_alarms=run.false_alarms,
        lines_written=queue.stats.delivered,
        resent=queue.stats.resent,
        late=queue.stats.late,
        signing=dict(sorted(signer.counts.items())) if signer else {},
    )
    (out / "truth_summary.json").write_text(
        json.dumps(
            {
                k: v
                for k, v in summary.as_dict().items()
                if k not in ("wall_s", "files", "out_dir") and (k != "signing" or v)
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    summary.files = {p.name: p.stat().st_size for p in sorted(out.iterdir()) if p.is_file()}
    summary.wall_s = round(time.perf_counter() - wall0, 3)
    return summary


def _agreement_ref(name: str, base: Path) -> str | Path:
    candidate = base / name
    if ("/" in name or name.endswith(".yaml")) and candidate.exists():
        return candidate
    return name


def _copy_agreement(agreement: Agreement, out: Path) -> None:
    """Copy the agreement's two files; point the copy's `areas` at `areas.geojson`."""
    assert agreement.path is not None
    text = agreement.path.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    areas = (agreement.path.parent / data["areas"]).resolve()
    shutil.copyfile(areas, out / "areas.geojson")
    if data["areas"] != "areas.geojson":
        data["areas"] = "areas.geojson"
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    (out / "agreement.yaml").write_text(text, encoding="utf-8")


def _progress(enabled: bool) -> Progress:
    console = Console(stderr=True)
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not (enabled and sys.stderr.isatty()),
        transient=False,
    )


class _Run:
    """The state carried from window to window."""

    def __init__(
        self,
        spec: Scenario,
        seed: int,
        frame: SectorFrame,
        network: Network,
        fire: FireModel,
        objs: AirObjects,
        agreement: Agreement,
    ):
        self.spec, self.seed, self.frame, self.net = spec, seed, frame, network
        self.fire, self.objs, self.agreement = fire, objs, agreement
        self.classes = weapon_classes()
        self.kinds: Counter[str] = Counter()
        self.false_alarms = 0
        a = network.acoustic
        self.names: list[str] = list(a.ids)
        for groups in (network.counter_battery, network.air):
            for g in groups:
                self.names += g.ids
        for g in network.weather:
            self.names += g.ids
        self.index = {name: i for i, name in enumerate(self.names)}
        self.counters = np.zeros(len(self.names), np.int64)
        self.near = near_paths(network.air, objs, agreement.projection)
        self.air_obs: dict[int, list[str]] = {}
        self.air_written = np.zeros(objs.size, bool)
        self.end_s = spec.duration_ns / NS
        self.signer: SensorSigner | None = None

    # -- one window ---------------------------------------------------------------------------

    def window(self, w: int, queue: DeliveryQueue, truth: _Truth) -> None:
        spec, seed = self.spec, self.seed
        t0 = spec.start_ns + w * WINDOW_S * NS
        t1 = min(t0 + WINDOW_S * NS, spec.start_ns + spec.duration_ns)
        shots = self.fire.shots(t0, t1, _rng(seed, _FIRE, w))
        det_obj = self._detonations(t0, t1)
        sources = self._sources(shots, det_obj)
        det = acoustics.detect(
            sources, self.net.acoustic, spec.weather, spec.acoustics, _rng(seed, _ACOUSTIC, w)
        )
        fa = acoustics.false_alarms(
            self.net.acoustic, t0, t1, spec.acoustics, _rng(seed, _FALSE, w)
        )
        allac = acoustics.Detections.concat([det, fa])
        ac_ids = observation_ids(self.names, allac.sensor, allac.time_ns, self.counters)
        a = self.net.acoustic
        lines = acoustic_lines(
            ac_ids,
            self.names,
            allac.sensor,
            allac.time_ns,
            allac.snr_db,
            allac.signal,
            allac.azimuth_deg,
            a.azimuth_sigma_deg[allac.sensor],
        )
        observed = [allac.time_ns]
        self.kinds["acoustic"] += allac.size
        self.false_alarms += fa.size

        tracks = counter_battery_tracks(
            self.net.counter_battery,
            shots,
            self.fire.tables,
            self.agreement.projection,
            _rng(seed, _CB, w),
        )
        tr_ids: list[str] = []
        if tracks.size:
            first = tracks.time_ns[tracks.offsets[:-1]]
            last = tracks.time_ns[tracks.offsets[1:] - 1]
            tr_ids = observation_ids(
                self.names, np.array([self.index[s] for s in tracks.sensor]), first, self.counters
            )
            lines += track_lines(tr_ids, tracks)
            observed.append(last)
            self.kinds["radar_track"] += tracks.size

        plots = air_plots(
            self.net.air,
            self.near,
            self.objs,
            (t0 - spec.start_ns) / NS,
            (t1 - spec.start_ns) / NS,
            spec.start_ns,
            self.agreement.projection,
            _rng(seed, _PLOTS, w),
        )
        if plots.size:
            pl_ids = observation_ids(
                self.names,
                np.array([self.index[s] for s in plots.sensor]),
                plots.time_ns,
                self.counters,
            )
            lines += plot_lines(
                pl_ids,
                plots.sensor,
                plots.time_ns,
                plots.lon,
                plots.lat,
                plots.alt,
                plots.sigma_m,
                plots.velocity,
            )
            observed.append(plots.time_ns)
            self.kinds["radar_plot"] += plots.size
            self.false_alarms += int((plots.obj < 0).sum())
            for k in np.flatnonzero(plots.obj >= 0).tolist():
                self.air_obs.setdefault(int(plots.obj[k]), []).append(pl_ids[k])

        wx = self._weather(t0, t1, _rng(seed, _WEATHER, w))
        if wx is not None:
            names, times, temp, we, wn = wx
            ids = observation_ids(
                self.names, np.array([self.index[s] for s in names]), times, self.counters
            )
            lines += weather_lines(ids, names, times, temp, we, wn)
            observed.append(times)
            self.kinds["weather"] += len(ids)

        if self.signer is not None:
            lines = self.signer.sign(lines, _rng(seed, _SIGNING, w))
        queue.push(lines, np.concatenate(observed), _rng(seed, _DELIVERY, w))
        queue.flush(t1)
        self._write_truth(truth, shots, det_obj, det, ac_ids, tracks, tr_ids)
        ended = np.flatnonzero(~self.air_written & (self.objs.end_s < (t1 - spec.start_ns) / NS))
        self._write_air(truth, ended)

    def finish(self, truth: _Truth) -> None:
        self._write_air(truth, np.flatnonzero(~self.air_written))

    # -- sources ------------------------------------------------------------------------------

    def _detonations(self, t0: int, t1: int) -> np.ndarray:
        o = self.objs
        if o.size == 0:
            return np.zeros(0, np.int64)
        end_ns = self.spec.start_ns + np.rint(o.end_s * NS).astype(np.int64)
        return np.flatnonzero(o.detonates & (end_ns >= t0) & (end_ns < t1))

    def _detonation_place(self, i: int) -> tuple[int, float, float]:
        o = self.objs
        k = o.count[i] - 1
        lon, lat = round_coords(*self.agreement.projection.inverse(o.x[i, k], o.y[i, k]))
        return (self.spec.start_ns + round(o.t_s[i, k] * NS), float(lon), float(lat))

    def _sources(self, shots: Shots, det_obj: np.ndarray) -> acoustics.Sources:
        cls = self.classes
        n = shots.size
        d_t, d_lon, d_lat = [], [], []
        for i in det_obj.tolist():
            t, lon, lat = self._detonation_place(i)
            d_t.append(t)
            d_lon.append(lon)
            d_lat.append(lat)
        launch_level = np.array([cls[w].launch_level_db or 0.0 for w in shots.weapon])
        impact_level = np.array([cls[w].impact_level_db or 0.0 for w in shots.weapon])
        det_level = np.array(
            [cls[self.objs.weapon[i]].impact_level_db or 0.0 for i in det_obj.tolist()]
        )
        lon = np.concatenate([shots.launch_lon, shots.impact_lon, d_lon])
        lat = np.concatenate([shots.launch_lat, shots.impact_lat, d_lat])
        return acoustics.Sources(
            time_ns=np.concatenate(
                [shots.launch_ns, shots.impact_ns, np.array(d_t, np.int64)]
            ).astype(np.int64),
            lon=lon,
            lat=lat,
            xyz=to_ecef(lon, lat),
            level_db=np.concatenate([launch_level, impact_level, det_level]),
            signal=np.concatenate(
                [
                    np.full(n, acoustics.LAUNCH),
                    np.full(n, acoustics.IMPACT),
                    np.full(det_obj.size, acoustics.IMPACT),
                ]
            ).astype(np.int64),
        )

    def _weather(self, t0: int, t1: int, rng: np.random.Generator):
        names, times = [], []
        for g in self.net.weather:
            step = round(g.spec.interval_s * NS)
            for j, sid in enumerate(g.ids):
                phase = round((j * 0.6180339887498949) % 1.0 * step)
                k0 = -(-(t0 - self.spec.start_ns - phase) // step)
                t = self.spec.start_ns + phase + np.arange(k0, k0 + (t1 - t0) // step + 2) * step
                t = t[(t >= t0) & (t < t1)]
                names += [sid] * t.size
                times.append(t)
        if not names:
            return None
        times_a = np.concatenate(times).astype(np.int64)
        sig_t = np.concatenate(
            [np.full(len(g.ids), g.spec.temperature_sigma_c) for g in self.net.weather]
        )
        sig_w = np.concatenate(
            [np.full(len(g.ids), g.spec.wind_sigma_mps) for g in self.net.weather]
        )
        all_ids = [sid for g in self.net.weather for sid in g.ids]
        pos = {sid: i for i, sid in enumerate(all_ids)}
        k = np.array([pos[s] for s in names])
        n = len(names)
        w = self.spec.weather
        temp = acoustics.temperature_c(w, times_a) + rng.normal(0, 1, n) * sig_t[k]
        we = w.wind_mps[0] + rng.normal(0, 1, n) * sig_w[k]
        wn = w.wind_mps[1] + rng.normal(0, 1, n) * sig_w[k]
        return names, times_a, temp, we, wn

    # -- truth --------------------------------------------------------------------------------

    def write_parked(self, truth: _Truth, parked) -> None:
        start = format_time(self.spec.start_ns)
        until = format_time(self.spec.start_ns + self.spec.duration_ns)
        for i in range(len(parked.party)):
            truth.write(
                {
                    "id": f"P{i + 1}",
                    "type": "parked-weapon",
                    "time": start,
                    "position": _pos(parked.lon[i], parked.lat[i]),
                    "party": parked.party[i],
                    "weapon": parked.weapon[i],
                    "observations": [],
                    "until": until,
                    "rule": parked.rule[i],
                    "distance_to_line_km": round(float(parked.distance_km[i]), 3),
                }
            )

    def _write_truth(
        self,
        truth: _Truth,
        shots: Shots,
        det_obj: np.ndarray,
        det: acoustics.Detections,
        ac_ids: list[str],
        tracks,
        tr_ids: list[str],
    ) -> None:
        n = shots.size
        # Detections are the first det.size entries of ac_ids (false alarms follow).
        groups: list[list[str]] = [[] for _ in range(2 * n + det_obj.size)]
        order = np.argsort(det.source, kind="stable")
        for k in order.tolist():
            groups[int(det.source[k])].append(ac_ids[k])
        for k, s in enumerate(tracks.shot.tolist()):
            groups[s].append(tr_ids[k])
        t_launch = format_times(shots.launch_ns)
        t_impact = format_times(shots.impact_ns)
        for i in range(n):
            num = int(shots.number[i])
            common = {"party": shots.party[i], "weapon": shots.weapon[i]}
            link = {"shot": f"S{num}", "barrage": f"B{int(shots.barrage[i])}"}
            truth.write(
                {
                    "id": f"L{num}",
                    "type": "launch",
                    "time": t_launch[i],
                    "position": _pos(shots.launch_lon[i], shots.launch_lat[i]),
                    **common,
                    "observations": groups[i],
                    "paired": f"I{num}",
                    **link,
                    "aim": _pos(shots.aim_lon[i], shots.aim_lat[i]),
                    "range_m": round(float(shots.range_m[i]), 1),
                    "azimuth_deg": round(float(shots.azimuth_deg[i]), 4),
                    "elevation_deg": round(float(shots.elevation_deg[i]), 4),
                    "time_of_flight_s": round(float(shots.time_of_flight_s[i]), 4),
                }
            )
            truth.write(
                {
                    "id": f"I{num}",
                    "type": "impact",
                    "time": t_impact[i],
                    "position": _pos(shots.impact_lon[i], shots.impact_lat[i]),
                    **common,
                    "observations": groups[n + i],
                    "paired": f"L{num}",
                    **link,
                }
            )
        for j, i in enumerate(det_obj.tolist()):
            t, lon, lat = self._detonation_place(i)
            num = int(self.objs.number[i])
            truth.write(
                {
                    "id": f"T{num}-impact",
                    "type": "impact",
                    "time": format_time(t),
                    "position": _pos(lon, lat),
                    "party": self.objs.party[i],
                    "weapon": self.objs.weapon[i],
                    "observations": groups[2 * n + j],
                    "air_track": f"T{num}",
                }
            )

    def _write_air(self, truth: _Truth, which: np.ndarray) -> None:
        o = self.objs
        proj = self.agreement.projection
        for i in which.tolist():
            k = int(o.count[i])
            lon, lat = round_coords(*proj.inverse(o.x[i, :k], o.y[i, :k]))
            times = format_times(self.spec.start_ns + np.rint(o.t_s[i, :k] * NS).astype(np.int64))
            path = [
                [float(lon[j]), float(lat[j]), round(float(o.alt[i, j]), 1), times[j]]
                for j in range(k)
            ]
            in_time = o.end_s[i] < self.end_s
            outcome = (
                "returned"
                if not o.crossing[i]
                else "lost"
                if not o.detonates[i]
                else "detonated"
                if in_time
                else "detonates-after-end"
            )
            obj = {
                "id": f"T{int(o.number[i])}",
                "type": "air-track",
                "time": times[0],
                "position": path[0][:2],
                "party": o.party[i],
                "weapon": o.weapon[i],
                "observations": self.air_obs.pop(i, []),
                "path": path,
                "crossings": [
                    {
                        "time": format_time(c["time_ns"]),
                        "position": c["position"],
                        "direction": c["direction"],
                    }
                    for c in o.crossings[i]
                ],
                "outcome": outcome,
            }
            if o.detonates[i] and in_time:
                obj["impact"] = f"T{int(o.number[i])}-impact"
            truth.write(obj)
            self.air_written[i] = True
