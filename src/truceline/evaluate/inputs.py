"""Reading what `truceline evaluate` scores: truth.jsonl, events.geojson and, optionally,
observations.jsonl and sensors.geojson (contract sections 2 to 5).

The readers keep only what scoring needs. Truth lines of every type are kept (the matcher picks
the types it can score); observations are kept only when a truth source lists them (their
sensor, kind and azimuth) or when they are `weather` reports (for the speed of sound). Unreadable
truth or events files raise `InputError` with every problem found; unreadable observation lines
are skipped and counted, as the ingest stage would quarantine them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from truceline.errors import InputError, Problem
from truceline.records import Ellipse
from truceline.timeutil import parse_time

DEFAULT_TIMING_SIGMA_S = 0.01
"""Contract section 2: an acoustic sensor's `timing_sigma_s` when absent."""


@dataclass(frozen=True, slots=True)
class TruthSource:
    """One true source from truth.jsonl: WGS 84 degrees, time in ns since the epoch (None if the
    line has none), and the ids of the observations it caused."""

    id: str
    type: str
    time_ns: int | None
    lon: float
    lat: float
    observations: tuple[str, ...] = ()
    paired: str | None = None
    """Id of the paired launch or impact source (a simulator extension of the contract)."""
    party: str | None = None
    weapon: str | None = None
    crossed: bool = False
    """Air tracks: whether the track crossed the contact line (truth `crossings` not empty)."""


@dataclass(frozen=True, slots=True)
class EventFeature:
    """One feature of events.geojson: origin in WGS 84 degrees (NaN without geometry), origin time
    in ns (None if absent), the 95% ellipse if given, the evidence and the paired event's id."""

    id: str
    type: str
    time_ns: int | None
    lon: float
    lat: float
    ellipse95: Ellipse | None = None
    evidence: tuple[str, ...] = ()
    paired: str | None = None
    attribution: dict[str, float] = field(default_factory=dict)
    """Party id -> probability (contract section 4); empty if not attributed."""
    violations: tuple[dict[str, Any], ...] = ()
    """The event's violations as written: `rule`, `article`, `party`, `probability`, ..."""
    detail: dict[str, Any] = field(default_factory=dict)
    """`attribution_detail` (a truceline extension), if present."""
    weapon_class: dict[str, Any] = field(default_factory=dict)
    """`weapon_class` (a truceline extension: `probabilities` per class), if present."""


@dataclass(frozen=True, slots=True)
class ObservationInfo:
    """What scoring needs of one observation; azimuths in degrees, NaN when not measured."""

    sensor: str
    kind: str
    azimuth_deg: float = math.nan
    azimuth_sigma_deg: float = math.nan


@dataclass(frozen=True, slots=True)
class SensorSite:
    """A sensor from sensors.geojson: position in degrees, timing error (s, one sigma) and the
    azimuth error (deg, one sigma; NaN if it measures none)."""

    id: str
    kind: str
    lon: float
    lat: float
    timing_sigma_s: float = DEFAULT_TIMING_SIGMA_S
    azimuth_sigma_deg: float = math.nan


@dataclass(frozen=True, slots=True)
class WeatherReport:
    """One `weather` observation: station id, time (ns), air temperature (°C), wind (m/s)."""

    sensor: str
    time_ns: int
    temperature_c: float
    wind_e_mps: float = 0.0
    wind_n_mps: float = 0.0


@dataclass
class Inputs:
    """Everything the scores are computed from. `observations` and `sensors` are None when the
    file was not given; `notes` say what was skipped while reading."""

    truth: list[TruthSource]
    events: list[EventFeature]
    run: dict[str, Any] | None = None
    """`properties.run` of the events FeatureCollection, if present (`elapsed_s`, ...)."""
    observations: dict[str, ObservationInfo] | None = None
    weather: list[WeatherReport] = field(default_factory=list)
    sensors: dict[str, SensorSite] | None = None
    paths: dict[str, str | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _time(value: Any, file: str, problems: list[Problem], **where: Any) -> int | None:
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError as exc:
        problems.append(Problem(file, str(exc), **where))
        return None


def read_truth(path: Path) -> list[TruthSource]:
    """All sources of a truth.jsonl file, in file order. Raises `InputError` listing every bad line
    (not JSON, no `id` or `type`, a bad time)."""
    file = str(path)
    problems: list[Problem] = []
    sources: list[TruthSource] = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(Problem(file, f"not JSON: {exc.msg}", line=number))
                continue
            if not isinstance(obj, dict) or not obj.get("id") or not obj.get("type"):
                problems.append(Problem(file, "a truth line needs `id` and `type`", line=number))
                continue
            position = obj.get("position") or (math.nan, math.nan)
            sources.append(
                TruthSource(
                    id=str(obj["id"]),
                    type=str(obj["type"]),
                    time_ns=_time(obj.get("time"), file, problems, line=number),
                    lon=_float(position[0]) if len(position) > 1 else math.nan,
                    lat=_float(position[1]) if len(position) > 1 else math.nan,
                    observations=tuple(str(o) for o in obj.get("observations") or ()),
                    paired=obj.get("paired"),
                    party=obj.get("party"),
                    weapon=obj.get("weapon"),
                    crossed=bool(obj.get("crossings")),
                )
            )
    if problems:
        raise InputError(problems)
    return sources


def _load_feature_collection(path: Path) -> dict[str, Any]:
    file = str(path)
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except json.JSONDecodeError as exc:
        raise InputError([Problem(file, f"not JSON: {exc.msg} (line {exc.lineno})")]) from None
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise InputError([Problem(file, "not a GeoJSON FeatureCollection")])
    if not isinstance(data.get("features", []), list):
        raise InputError([Problem(file, "`features` is not a list")])
    return data


def _ellipse(value: Any) -> Ellipse | None:
    if not isinstance(value, dict):
        return None
    major, minor = _float(value.get("major_m")), _float(value.get("minor_m"))
    azimuth = _float(value.get("azimuth_deg", 0.0))
    if not (math.isfinite(major) and math.isfinite(minor) and math.isfinite(azimuth)):
        return None
    return Ellipse(major, minor, azimuth)


def _point(geometry: Any) -> tuple[float, float]:
    if isinstance(geometry, dict) and geometry.get("type") == "Point":
        coords = geometry.get("coordinates") or ()
        if len(coords) >= 2:
            return _float(coords[0]), _float(coords[1])
    return math.nan, math.nan


def _attribution(value: Any) -> dict[str, float]:
    if not isinstance(value, dict):
        return {}
    out = {str(k): _float(v) for k, v in value.items()}
    return {k: v for k, v in out.items() if math.isfinite(v)}


def read_events(path: Path) -> tuple[list[EventFeature], dict[str, Any] | None]:
    """The events of an events.geojson file and its `properties.run` (None if absent). Features
    without a Point geometry get NaN coordinates, without `ellipse95` no ellipse; a feature
    without `id` is named `#INDEX`. Raises `InputError` for a file that is not a FeatureCollection
    or for bad times."""
    file = str(path)
    data = _load_feature_collection(path)
    problems: list[Problem] = []
    events: list[EventFeature] = []
    for index, feature in enumerate(data.get("features") or []):
        if not isinstance(feature, dict):
            problems.append(Problem(file, "not a GeoJSON Feature", feature_index=index))
            continue
        props = feature.get("properties") or {}
        event_id = str(props.get("id") or feature.get("id") or f"#{index}")
        lon, lat = _point(feature.get("geometry"))
        events.append(
            EventFeature(
                id=event_id,
                type=str(props.get("type") or "unknown"),
                time_ns=_time(
                    props.get("time"), file, problems, feature_index=index, feature_id=event_id
                ),
                lon=lon,
                lat=lat,
                ellipse95=_ellipse(props.get("ellipse95")),
                evidence=tuple(str(o) for o in props.get("evidence") or ()),
                paired=props.get("paired"),
                attribution=_attribution(props.get("attribution")),
                violations=tuple(
                    v
                    for v in props.get("violations") or ()
                    if isinstance(v, dict) and v.get("rule")
                ),
                detail=props.get("attribution_detail") or {},
                weapon_class=props.get("weapon_class") or {},
            )
        )
    if problems:
        raise InputError(problems)
    run = (data.get("properties") or {}).get("run")
    return events, run if isinstance(run, dict) else None


def read_sensors(path: Path) -> dict[str, SensorSite]:
    """Sensors by id from a sensors.geojson file (Point features)."""
    data = _load_feature_collection(path)
    sensors: dict[str, SensorSite] = {}
    for feature in data.get("features") or []:
        if not isinstance(feature, dict):
            continue
        props = feature.get("properties") or {}
        if not props.get("id"):
            continue
        lon, lat = _point(feature.get("geometry"))
        sigma = _float(props.get("timing_sigma_s", DEFAULT_TIMING_SIGMA_S))
        sensors[str(props["id"])] = SensorSite(
            id=str(props["id"]),
            kind=str(props.get("kind") or ""),
            lon=lon,
            lat=lat,
            timing_sigma_s=sigma if math.isfinite(sigma) and sigma > 0 else DEFAULT_TIMING_SIGMA_S,
            azimuth_sigma_deg=_float(props.get("azimuth_sigma_deg")),
        )
    return sensors


_ID = re.compile(r'"id"\s*:\s*"([^"\\]*)"')
"""An `"id": "..."` member whose value has no escapes (which would make the text differ from the
decoded id); more than one match on a line means nested objects, and the line is parsed."""


def read_observations(
    path: Path, wanted: set[str] | None = None
) -> tuple[dict[str, ObservationInfo], list[WeatherReport], int]:
    """Observations by id (only the ids in `wanted`, if given), the weather reports, and the
    number of lines that could not be read. The same id again is a no-op (first one kept).

    With `wanted`, a line whose only `"id": "..."` is neither wanted nor already read, and that
    does not mention weather, is skipped without being parsed (a regular expression costs a tenth
    of `json.loads`; most lines of a simulated day are radar plots and false alarms)."""
    observations: dict[str, ObservationInfo] = {}
    weather: list[WeatherReport] = []
    seen_weather: set[str] = set()
    bad = 0
    sensors: dict[str, str] = {}  # interned sensor ids: millions of observations, few sensors
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if not line.strip():
                continue
            if wanted is not None and "weather" not in line:
                ids = _ID.findall(line)
                if len(ids) == 1 and (ids[0] not in wanted or ids[0] in observations):
                    continue
            try:
                obj = json.loads(line)
                obs_id, kind, sensor = obj["id"], obj["kind"], obj["sensor"]
            except (json.JSONDecodeError, KeyError, TypeError):
                bad += 1
                continue
            if kind == "weather":
                if obs_id in seen_weather:
                    continue
                try:
                    wind = obj.get("wind_mps") or (0.0, 0.0)
                    report = WeatherReport(
                        str(sensor),
                        parse_time(obj["time"]),
                        float(obj["temperature_c"]),
                        float(wind[0]),
                        float(wind[1]),
                    )
                except (KeyError, TypeError, ValueError, IndexError):
                    bad += 1
                    continue
                if math.isfinite(report.temperature_c):
                    seen_weather.add(obs_id)
                    weather.append(report)
                continue
            if (wanted is not None and obs_id not in wanted) or obs_id in observations:
                continue
            sensor = sensors.setdefault(sensor, str(sensor))
            observations[obs_id] = ObservationInfo(
                sensor,
                str(kind),
                _float(obj.get("azimuth_deg", math.nan)),
                _float(obj.get("azimuth_sigma_deg", math.nan)),
            )
    return observations, weather, bad


def read_propagation_sigma(truth_path: Path) -> float | None:
    """`acoustics.propagation_jitter_s_per_km` of the scenario.yaml that `truceline simulate`
    writes beside truth.jsonl, s/km; None if there is no such file or value."""
    scenario = truth_path.parent / "scenario.yaml"
    if not scenario.is_file():
        return None
    try:
        data = yaml.safe_load(scenario.read_text(encoding="utf-8"))
        value = float(data["acoustics"]["propagation_jitter_s_per_km"])
    except (yaml.YAMLError, KeyError, TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value >= 0 else None


def load(
    truth: Path,
    events: Path,
    observations: Path | None = None,
    sensors: Path | None = None,
    wanted_types: Iterable[str] | None = None,
) -> Inputs:
    """Read the files for one evaluation. Only observations listed by truth sources of
    `wanted_types` (default: all types) are kept."""
    sources = read_truth(truth)
    event_list, run = read_events(events)
    inputs = Inputs(
        truth=sources,
        events=event_list,
        run=run,
        paths={
            "truth": str(truth),
            "events": str(events),
            "observations": str(observations) if observations else None,
            "sensors": str(sensors) if sensors else None,
        },
    )
    if observations is not None:
        types = None if wanted_types is None else set(wanted_types)
        wanted = {
            obs for s in sources if types is None or s.type in types for obs in s.observations
        }
        inputs.observations, inputs.weather, bad = read_observations(observations, wanted)
        if bad:
            inputs.notes.append(f"{bad:,} unreadable observation lines skipped")
    if sensors is not None:
        inputs.sensors = read_sensors(sensors)
    return inputs
