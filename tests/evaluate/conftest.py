"""A small hand-made world for the evaluation tests, written to files in a temporary directory.

Eight acoustic sensors on a 3 km ring around CENTRE; a weather station. True sources:

    L1 launch at CENTRE, t0,         heard by S1-S6 (6 sensors), paired I1, also a radar track
    I1 impact 5 km north, t0 + 20 s, heard by S1-S5 (5 sensors), paired L1
    L2 launch 2 km east,  t0 + 60 s, heard by S1-S4 (4 sensors), paired I2
    I2 impact 6 km NE,    t0 + 90 s, heard by S2-S7 (6 sensors), paired L2
    P1 parked-weapon, A1 air-track (radar plots only)

False alarms: S1-9 ... S8-9. The default events (see `default_events`):

    E1 launch 10 m north of L1, +0.1 s, evidence L1, paired E2, ellipse circle 50 m  (covered)
    E2 impact 20 m east of I1,  -0.3 s, evidence I1, paired E1, ellipse 15 x 10 m N  (not covered)
    E3 launch 30 m north of I2, +0 s,   evidence I2 (a launch/impact error), no ellipse
    E4 impact, evidence four false alarms                                         (false event)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from truceline.geo.projection import destination
from truceline.timeutil import format_time, parse_time

CENTRE = (37.0, 48.2)
T0 = parse_time("2026-03-02T06:00:00Z")
S = 1_000_000_000


def offset(lon: float, lat: float, azimuth_deg: float, distance_m: float) -> tuple[float, float]:
    """The point `distance_m` from (lon, lat) along the geodesic at `azimuth_deg`."""
    x, y = destination(lon, lat, azimuth_deg, distance_m)
    return float(x), float(y)


SENSORS = {f"S{k + 1}": offset(*CENTRE, 45.0 * k, 3000.0) for k in range(8)}
WEATHER_SITE = offset(*CENTRE, 200.0, 1000.0)


def _obs(sensors: range, n: int = 1) -> list[str]:
    return [f"S{k}-{n}" for k in sensors]


SOURCES: dict[str, dict[str, Any]] = {
    "L1": {
        "type": "launch",
        "time": T0,
        "position": CENTRE,
        "paired": "I1",
        "observations": [*_obs(range(1, 7)), "CB1-1"],
    },
    "I1": {
        "type": "impact",
        "time": T0 + 20 * S,
        "position": offset(*CENTRE, 0.0, 5000.0),
        "paired": "L1",
        "observations": _obs(range(1, 6), 2),
    },
    "L2": {
        "type": "launch",
        "time": T0 + 60 * S,
        "position": offset(*CENTRE, 90.0, 2000.0),
        "paired": "I2",
        "observations": _obs(range(1, 5), 3),
    },
    "I2": {
        "type": "impact",
        "time": T0 + 90 * S,
        "position": offset(*CENTRE, 45.0, 6000.0),
        "paired": "L2",
        "observations": _obs(range(2, 8), 4),
    },
    "P1": {
        "type": "parked-weapon",
        "time": T0,
        "position": offset(*CENTRE, 180.0, 9000.0),
        "observations": [],
    },
    "A1": {
        "type": "air-track",
        "time": T0 + 5 * S,
        "position": offset(*CENTRE, 270.0, 4000.0),
        "observations": ["AR1-1", "AR1-2"],
    },
}
FALSE_ALARMS = [f"S{k}-9" for k in range(1, 9)]


def truth_lines() -> list[dict[str, Any]]:
    lines = []
    for sid, src in SOURCES.items():
        line = {
            "id": sid,
            "type": src["type"],
            "time": format_time(src["time"]),
            "position": list(src["position"]),
            "party": "RU",
            "weapon": "x",
            "observations": src["observations"],
        }
        if "paired" in src:
            line["paired"] = src["paired"]
        lines.append(line)
    return lines


def observation_lines() -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = [
        {
            "id": "W1-1",
            "kind": "weather",
            "sensor": "W1",
            "time": format_time(T0),
            "temperature_c": 10.0,
            "wind_mps": [3.0, -1.0],
        },
        {
            "id": "W1-2",
            "kind": "weather",
            "sensor": "W1",
            "time": format_time(T0 + 3600 * S),
            "temperature_c": 25.0,
            "wind_mps": [0.0, 0.0],
        },
    ]
    for src in SOURCES.values():
        for obs in src["observations"]:
            sensor = obs.split("-")[0]
            kind = "acoustic" if sensor.startswith("S") else "radar_plot"
            line = {"id": obs, "kind": kind, "sensor": sensor, "time": format_time(src["time"])}
            if sensor == "S1":
                line |= {"azimuth_deg": 123.0, "azimuth_sigma_deg": 5.0}
            lines.append(line)
    lines += [
        {
            "id": fa,
            "kind": "acoustic",
            "sensor": fa.split("-")[0],
            "time": format_time(T0 + 300 * S),
        }
        for fa in FALSE_ALARMS
    ]
    lines.append(lines[3])  # the same observation again: a no-op
    return lines


def sensor_features() -> list[dict[str, Any]]:
    features = []
    for sid, (lon, lat) in SENSORS.items():
        props: dict[str, Any] = {
            "id": sid,
            "kind": "acoustic",
            "operator": "monitor",
            "timing_sigma_s": 0.02 if sid == "S2" else 0.01,
        }
        if sid == "S1":
            props["azimuth_sigma_deg"] = 5.0
        features.append(props | {"_at": (lon, lat)})
    features.append({"id": "W1", "kind": "weather", "operator": "monitor", "_at": WEATHER_SITE})
    return [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": list(p.pop("_at"))},
            "properties": p,
        }
        for p in features
    ]


def event(
    eid: str,
    type_: str,
    at: tuple[float, float],
    time_ns: int,
    evidence: list[str],
    paired: str | None = None,
    ellipse: tuple[float, float, float] | None = None,
) -> dict[str, Any]:
    """One events.geojson feature."""
    props: dict[str, Any] = {
        "id": eid,
        "type": type_,
        "time": format_time(time_ns),
        "attribution": {},
        "violations": [],
        "evidence": evidence,
    }
    if paired:
        props["paired"] = paired
    if ellipse:
        props["ellipse95"] = dict(zip(("major_m", "minor_m", "azimuth_deg"), ellipse, strict=True))
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": list(at)},
        "properties": props,
    }


def default_events() -> list[dict[str, Any]]:
    l1, i1, i2 = SOURCES["L1"], SOURCES["I1"], SOURCES["I2"]
    return [
        event(
            "E1",
            "launch",
            offset(*l1["position"], 0.0, 10.0),
            l1["time"] + S // 10,
            l1["observations"][:6],
            "E2",
            (50.0, 50.0, 0.0),
        ),
        event(
            "E2",
            "impact",
            offset(*i1["position"], 90.0, 20.0),
            i1["time"] - 3 * S // 10,
            i1["observations"],
            "E1",
            (15.0, 10.0, 0.0),
        ),
        event("E3", "launch", offset(*i2["position"], 0.0, 30.0), i2["time"], i2["observations"]),
        event("E4", "impact", CENTRE, T0 + 300 * S, FALSE_ALARMS[:4]),
    ]


@dataclass
class World:
    """Paths of the files of one hand-made world."""

    dir: Path
    truth: Path
    events: Path
    observations: Path
    sensors: Path

    def write_events(self, features: list[dict[str, Any]], run: dict | None = None) -> Path:
        fc: dict[str, Any] = {"type": "FeatureCollection", "features": features}
        if run is not None:
            fc["properties"] = {"run": run}
        self.events.write_text(json.dumps(fc), encoding="utf-8")
        return self.events


def write_world(
    directory: Path, events: list[dict[str, Any]] | None = None, run: dict | None = None
) -> World:
    directory.mkdir(parents=True, exist_ok=True)
    world = World(
        directory,
        directory / "truth.jsonl",
        directory / "events.geojson",
        directory / "observations.jsonl",
        directory / "sensors.geojson",
    )
    world.truth.write_text("".join(json.dumps(t) + "\n" for t in truth_lines()))
    world.observations.write_text(
        "".join(json.dumps(o) + "\n" for o in observation_lines()) + "not json\n"
    )
    world.sensors.write_text(
        json.dumps({"type": "FeatureCollection", "features": sensor_features()})
    )
    world.write_events(default_events() if events is None else events, run)
    return world


@pytest.fixture
def world(tmp_path: Path) -> World:
    return write_world(tmp_path / "world", run={"elapsed_s": 1.5})
