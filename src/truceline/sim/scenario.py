"""The scenario file: every parameter of a simulation, declared once with its unit and default.

A scenario is YAML validated by the models below (unknown fields are errors). Each field's
description states its unit and where its default comes from; `reference_markdown()` renders
these declarations as the tables of docs/scenarios.md.

Scenarios are found by `resolve_scenario_path`: a path to a file; else `scenarios/NAME.yaml`
under the current directory; else a scenario shipped with truceline
(`src/truceline/data/scenarios/`, which `scenarios/` in the repository links to).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from truceline.errors import InputError, Problem, UsageError
from truceline.timeutil import parse_time
from truceline.weapons import weapon_classes

BUNDLED = "scenarios"


def param(
    default: Any,
    description: str,
    *,
    unit: str | None = None,
    source: str | None = None,
    **constraints: Any,
) -> Any:
    """Declare one scenario parameter: default, description, unit and where the default is from."""
    return Field(
        default,
        description=description,
        json_schema_extra={"unit": unit, "source": source},
        **constraints,
    )


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- where and when ----------------------------------------------------------------------------


class SectorSpec(_Strict):
    """A stretch of the contact line: by chainage (`start_km`, `end_km`) or by a place near the
    line (`around`) and a length."""

    start_km: float | None = param(
        None, "Start of the sector along the line from its first vertex.", unit="km", ge=0
    )
    end_km: float | None = param(None, "End of the sector along the line.", unit="km", gt=0)
    around: tuple[float, float] | None = param(
        None,
        "A point [lon, lat] near the line; the sector is centred on its nearest point "
        "of the line (robust to edits of the line's geometry).",
        unit="degrees",
    )
    length_km: float | None = param(
        None, "Length of the sector centred on `around`.", unit="km", gt=0
    )

    @model_validator(mode="after")
    def _one_form(self) -> SectorSpec:
        by_km = self.start_km is not None or self.end_km is not None
        by_place = self.around is not None or self.length_km is not None
        if by_km == by_place:
            raise ValueError("give either start_km and end_km, or around and length_km")
        if by_km and (self.start_km is None or self.end_km is None or self.end_km <= self.start_km):
            raise ValueError("start_km and end_km are both needed, with end_km > start_km")
        if by_place and (self.around is None or self.length_km is None):
            raise ValueError("around and length_km are both needed")
        return self


class WeatherSpec(_Strict):
    """Uniform weather over the sector. Temperature follows a daily cosine:
    T(t) = temperature_c + diurnal_range_c/2 · cos(2π (h_utc(t) - warmest_hour_utc)/24)."""

    temperature_c: float = param(
        2.0,
        "Daily mean air temperature.",
        unit="°C",
        source="early-March climate of Donetsk oblast (about 0-3 °C)",
        ge=-50,
        le=60,
    )
    diurnal_range_c: float = param(
        8.0,
        "Peak-to-peak daily temperature swing.",
        unit="°C",
        source="typical continental spring day",
        ge=0,
        le=40,
    )
    warmest_hour_utc: float = param(
        12.0,
        "Hour of the daily maximum.",
        unit="h UTC",
        source="mid-afternoon local (UTC+2/+3)",
        ge=0,
        lt=24,
    )
    wind_mps: tuple[float, float] = param(
        (3.0, 1.0),
        "Wind vector [east, north], uniform and constant.",
        unit="m/s",
        source="a light westerly breeze",
    )


# -- sensors -----------------------------------------------------------------------------------


class AcousticRow(_Strict):
    """A row of acoustic sensors parallel to the line, on one party's side."""

    side: str = param(..., "Party id whose side of the line the row lies on.")
    offset_km: float = param(
        ...,
        "Distance of the row from the line (an offset curve of the "
        "line in the agreement's projection).",
        unit="km",
        gt=0,
    )
    spacing_km: float = param(..., "Spacing of sensors along the row.", unit="km", gt=0)
    operator: str = param("monitor", "Who operates the row: `monitor` or a party id.")
    jitter_m: float = param(
        100.0,
        "One-sigma random displacement of each sensor from its nominal place (east and north).",
        unit="m",
        source="siting freedom of a field deployment",
        ge=0,
    )
    timing_sigma_s: float = param(
        0.01,
        "One-sigma error of the arrival times each sensor reports (written to sensors.geojson).",
        unit="s",
        source="contract default (GPS-timed, 10 ms)",
        ge=0,
    )
    noise_db: float = param(
        60.0,
        "Ambient noise level in the detection band.",
        unit="dB re 20 µPa",
        source="rural background with distant traffic and wind, low-frequency band",
        ge=0,
    )
    threshold_db: float = param(
        10.0,
        "Signal-to-noise ratio at which a detection is 50% likely.",
        unit="dB",
        source="a typical impulse detector's trigger",
        ge=0,
    )
    azimuth_fraction: float = param(
        0.0,
        "Fraction of the row's sensors that are arrays reporting a back-azimuth.",
        unit="fraction",
        ge=0,
        le=1,
    )
    azimuth_sigma_deg: float = param(
        5.0,
        "One-sigma error of reported back-azimuths.",
        unit="deg",
        source="small-aperture microphone arrays",
        gt=0,
    )
    false_alarms_per_hour: float = param(
        1.0, "Rate of detections no source caused, per sensor (Poisson).", unit="1/h", ge=0
    )


class RadarPlacement(_Strict):
    """Radars placed along the sector behind one side, or at explicit positions."""

    side: str = param(..., "Party id whose side the radars are on.")
    operator: str = param("monitor", "Who operates them: `monitor` or a party id.")
    spacing_km: float | None = param(
        None, "Spacing along the sector (first at half a spacing from its start).", unit="km", gt=0
    )
    depth_km: float = param(8.0, "Distance behind the line.", unit="km", ge=0)
    positions: list[tuple[float, float]] | None = param(
        None, "Explicit positions [lon, lat] instead of `spacing_km`.", unit="degrees"
    )

    @model_validator(mode="after")
    def _placed(self) -> RadarPlacement:
        if (self.spacing_km is None) == (self.positions is None):
            raise ValueError("give either spacing_km or positions")
        return self


class CounterBatteryRadars(RadarPlacement):
    """Counter-battery radars: each tracks part of the flight of projectiles in its coverage."""

    range_km: float = param(
        25.0,
        "Maximum slant range of tracking.",
        unit="km",
        source="AN/TPQ-36 class (24 km artillery)",
        gt=0,
    )
    sector_width_deg: float = param(
        90.0,
        "Width of the azimuth sector, centred on the direction of the line.",
        unit="deg",
        source="AN/TPQ-36/37 (90°)",
        gt=0,
        le=360,
    )
    min_elevation_deg: float = param(
        1.0,
        "Elevation of the search fence: a projectile is acquired once it rises above this angle.",
        unit="deg",
        ge=0,
        lt=90,
    )
    pd: float = param(
        0.9,
        "Probability that a projectile crossing the coverage is tracked.",
        unit="probability",
        ge=0,
        le=1,
    )
    track_duration_s: float = param(
        6.0,
        "Length of the tracked part of the flight.",
        unit="s",
        source="a few seconds of track suffice to extrapolate (Firefinder practice)",
        gt=0,
    )
    point_interval_s: float = param(0.5, "Time between track points.", unit="s", gt=0)
    sigma_m: float = param(
        10.0, "Position error of a track point at zero range (one sigma per axis).", unit="m", ge=0
    )
    sigma_per_km_m: float = param(
        2.0,
        "Growth of that error with slant range.",
        unit="m/km",
        source="angular accuracy of a few mrad",
        ge=0,
    )


class AirRadars(RadarPlacement):
    """Air-surveillance radars: plots of airborne objects once per scan."""

    range_km: float = param(
        80.0,
        "Instrumented range.",
        unit="km",
        source="short-range air-defence surveillance radars",
        gt=0,
    )
    scan_period_s: float = param(
        5.0,
        "Time of one antenna revolution.",
        unit="s",
        source="rotating 2-D/3-D surveillance radars (2-10 s)",
        gt=0,
    )
    sigma_m: float = param(50.0, "Position error of a plot, one sigma per axis.", unit="m", ge=0)
    velocity_sigma_mps: float = param(
        5.0, "Error of the reported velocity, one sigma per axis.", unit="m/s", ge=0
    )
    report_velocity: bool = param(True, "Whether plots carry `velocity_mps`.")
    pd: float = param(
        0.85,
        "Probability of a plot per scan for an object in coverage.",
        unit="probability",
        ge=0,
        le=1,
    )
    clutter_per_scan: float = param(
        2.0,
        "Mean number of false plots per scan (Poisson), spread uniformly over the coverage.",
        unit="1/scan",
        ge=0,
    )
    antenna_height_m: float = param(
        10.0,
        "Antenna height, for the radar horizon "
        "(4/3-Earth: 4.12 km·(√h_radar + √h_target), "
        "heights in m).",
        unit="m",
        ge=0,
    )


class WeatherStations(_Strict):
    """Weather sensors along the sector reporting temperature and wind."""

    side: str = param(..., "Party id whose side they are on.")
    operator: str = param("monitor", "Who operates them.")
    offset_km: float = param(3.0, "Distance from the line.", unit="km", gt=0)
    spacing_km: float = param(25.0, "Spacing along the sector.", unit="km", gt=0)
    interval_s: float = param(
        600.0, "Time between reports.", unit="s", source="10-minute synoptic averaging", gt=0
    )
    temperature_sigma_c: float = param(0.3, "Measurement error of temperature.", unit="°C", ge=0)
    wind_sigma_mps: float = param(
        0.5, "Measurement error of each wind component.", unit="m/s", ge=0
    )


class SensorLayout(_Strict):
    acoustic: list[AcousticRow] = param(..., "Rows of acoustic sensors.", min_length=1)
    counter_battery: list[CounterBatteryRadars] = param([], "Counter-battery radar groups.")
    air: list[AirRadars] = param([], "Air-surveillance radar groups.")
    weather: list[WeatherStations] = param([], "Weather-station groups.")


# -- activity ----------------------------------------------------------------------------------


class ProfileStep(_Strict):
    from_h: float = param(
        ..., "Hours after the scenario start from which `factor` applies.", unit="h", ge=0
    )
    factor: float = param(..., "Multiplier of the party's rates.", unit="ratio", ge=0)


class AirSorties(_Strict):
    per_hour: float = param(..., "Sorties launched per hour (Poisson).", unit="1/h", ge=0)
    crossing_fraction: float | None = param(
        None,
        "Fraction that attack across the line (the rest patrol their own side); "
        "default from the class's tactics.",
        unit="fraction",
        ge=0,
        le=1,
    )


class PartyActivity(_Strict):
    """One party's firing and flying."""

    launches_per_hour: float = param(
        0.0,
        "Rounds fired per hour over the sector, before the profile (barrages: see tactics).",
        unit="1/h",
        ge=0,
    )
    mix: dict[str, float] = param(
        {
            "artillery-100mm-plus": 0.5,
            "mortar": 0.25,
            "mlrs": 0.15,
            "tank": 0.07,
            "heavy-mlrs": 0.03,
        },
        "Share of rounds per weapon class (normalised).",
        unit="weights",
        source="open-source estimates of the 2022-23 mix: tube artillery dominant",
    )
    profile: list[ProfileStep] = param(
        [ProfileStep(from_h=0.0, factor=1.0)],
        "Piecewise-constant multiplier of all the party's rates over time.",
    )
    batteries_per_100km: float = param(
        12.0, "Firing positions per weapon class per 100 km of sector.", unit="1/(100 km)", gt=0
    )
    air: dict[str, AirSorties] = param(
        {}, "Drones and missiles per class (fpv-drone, long-range-drone, cruise-missile)."
    )
    parked_per_100km: float = param(
        0.0,
        "Heavy weapons parked inside withdrawal zones (truth only), per 100 km of sector.",
        unit="1/(100 km)",
        ge=0,
    )

    @field_validator("mix")
    @classmethod
    def _known_ballistic(cls, mix: dict[str, float]) -> dict[str, float]:
        classes = weapon_classes()
        for name, weight in mix.items():
            if name not in classes or not classes[name].ballistic:
                known = [c.id for c in classes.values() if c.ballistic]
                raise ValueError(
                    f"'{name}' is not a ballistic weapon class (known: {', '.join(known)})"
                )
            if weight < 0:
                raise ValueError(f"weight of '{name}' is negative")
        return mix

    @field_validator("air")
    @classmethod
    def _known_air(cls, air: dict[str, AirSorties]) -> dict[str, AirSorties]:
        for name in air:
            if name not in AIR_TACTICS:
                raise ValueError(f"'{name}' is not an air class (known: {', '.join(AIR_TACTICS)})")
        return air


class FireTactics(_Strict):
    """How one weapon class is employed."""

    rounds_mean: float = param(..., "Mean rounds per barrage (1 + Poisson).", unit="rounds", ge=1)
    interval_s: float = param(..., "Mean time between rounds of a barrage.", unit="s", ge=0)
    dispersion_fraction: float = param(
        ...,
        "One-sigma impact dispersion in range and deflection, as a fraction of range.",
        unit="fraction",
        ge=0,
    )
    depth_fraction: tuple[float, float] = param(
        ...,
        "Depth of firing positions behind the line, as fractions of max range.",
        unit="fraction",
    )
    target_fraction: tuple[float, float] = param(
        ..., "Depth of targets beyond the line, as fractions of max range.", unit="fraction"
    )


FIRE_TACTICS: dict[str, FireTactics] = {
    "mortar": FireTactics(
        rounds_mean=3,
        interval_s=6,
        dispersion_fraction=0.01,
        depth_fraction=(0.1, 0.45),
        target_fraction=(0.05, 0.35),
    ),
    "artillery-under-100mm": FireTactics(
        rounds_mean=3,
        interval_s=8,
        dispersion_fraction=0.006,
        depth_fraction=(0.1, 0.4),
        target_fraction=(0.05, 0.35),
    ),
    "artillery-100mm-plus": FireTactics(
        rounds_mean=4,
        interval_s=10,
        dispersion_fraction=0.005,
        depth_fraction=(0.1, 0.45),
        target_fraction=(0.02, 0.35),
    ),
    "mlrs": FireTactics(
        rounds_mean=16,
        interval_s=0.5,
        dispersion_fraction=0.015,
        depth_fraction=(0.15, 0.4),
        target_fraction=(0.05, 0.3),
    ),
    "heavy-mlrs": FireTactics(
        rounds_mean=6,
        interval_s=2,
        dispersion_fraction=0.008,
        depth_fraction=(0.15, 0.4),
        target_fraction=(0.05, 0.35),
    ),
    "tactical-missile": FireTactics(
        rounds_mean=1,
        interval_s=0,
        dispersion_fraction=0.0005,
        depth_fraction=(0.05, 0.15),
        target_fraction=(0.03, 0.15),
    ),
    "tank": FireTactics(
        rounds_mean=3,
        interval_s=12,
        dispersion_fraction=0.002,
        depth_fraction=(0.2, 0.6),
        target_fraction=(0.1, 0.4),
    ),
}
"""Default tactics per class (sources: artillery doctrine's fire missions of a few rounds per
gun; a BM-21 ripple of up to 40 rockets at 0.5 s; firing positions at 10-45% of max range)."""


class AirTactics(_Strict):
    """How one air class flies."""

    altitude_m: tuple[float, float] = param(..., "Cruise height range above ground.", unit="m")
    launch_depth_km: tuple[float, float] = param(
        ..., "Depth of launch points behind the line.", unit="km"
    )
    target_depth_km: tuple[float, float] = param(
        ..., "Depth of targets beyond the line.", unit="km"
    )
    speed_spread: float = param(
        0.2,
        "Speeds are uniform within ± this fraction of the class's mean_speed_mps.",
        unit="fraction",
        ge=0,
        lt=1,
    )
    hit_fraction: float = param(
        ...,
        "Fraction of attacks that detonate at the target (the rest are lost: jammed or shot down).",
        unit="fraction",
        ge=0,
        le=1,
    )
    crossing_fraction: float = param(
        ..., "Default fraction of sorties that attack across the line.", unit="fraction", ge=0, le=1
    )


AIR_TACTICS: dict[str, AirTactics] = {
    "fpv-drone": AirTactics(
        altitude_m=(30, 300),
        launch_depth_km=(1, 8),
        target_depth_km=(0.5, 10),
        hit_fraction=0.6,
        crossing_fraction=0.9,
    ),
    "long-range-drone": AirTactics(
        altitude_m=(200, 2500),
        launch_depth_km=(60, 200),
        target_depth_km=(30, 200),
        hit_fraction=0.5,
        crossing_fraction=1.0,
    ),
    "cruise-missile": AirTactics(
        altitude_m=(30, 150),
        launch_depth_km=(100, 300),
        target_depth_km=(50, 300),
        hit_fraction=0.7,
        crossing_fraction=1.0,
    ),
}
"""Default air tactics (sources: FPV strike ranges of 5-20 km; Shahed-type flights of hundreds
of km at 1-2.5 km height; cruise missiles flying low at ~250 m/s)."""


class ActivitySpec(_Strict):
    parties: dict[str, PartyActivity] = param(..., "Activity per party id.")
    tactics: dict[str, FireTactics] = param(
        {}, "Overrides of the default fire tactics per weapon class (see the table)."
    )
    air_tactics: dict[str, AirTactics] = param(
        {}, "Overrides of the default air tactics per class."
    )
    battery_spread_m: float = param(
        50.0,
        "One-sigma spread of the guns of a battery around its position.",
        unit="m",
        source="guns 50-100 m apart",
        ge=0,
    )
    lateral_fraction: float = param(
        0.1,
        "One-sigma offset of a target along the line from its battery, as a fraction of max range.",
        unit="fraction",
        ge=0,
    )

    def fire(self, weapon: str) -> FireTactics:
        return self.tactics.get(weapon, FIRE_TACTICS[weapon])

    def flight(self, air_class: str) -> AirTactics:
        return self.air_tactics.get(air_class, AIR_TACTICS[air_class])


# -- sensing and delivery ----------------------------------------------------------------------


class AcousticsSpec(_Strict):
    """The acoustic propagation and detection model (docs/methods.md, Simulator)."""

    absorption_db_per_km: float = param(
        1.5,
        "Excess attenuation beyond spherical spreading "
        "(air absorption, ground and refraction losses).",
        unit="dB/km",
        source="low-frequency impulse propagation near the ground, order 1-2 dB/km",
        ge=0,
    )
    sigma_db: float = param(
        3.0,
        "One-sigma fluctuation of the received level (scintillation "
        "and site effects); sets the width of the detection curve.",
        unit="dB",
        source="turbulence-induced fluctuation of a few dB",
        gt=0,
    )
    propagation_jitter_s_per_km: float = param(
        0.005,
        "Growth with distance of the one-sigma travel-time jitter from unmodelled "
        "propagation (sigma_p = k · d).",
        unit="s/km",
        source="travel-time variability of ~0.15% of the travel time (~3 s/km)",
        ge=0,
    )
    label_error_fraction: float = param(
        0.1,
        "Fraction of true detections whose launch/impact label is the wrong one.",
        unit="fraction",
        ge=0,
        le=1,
    )
    label_unknown_fraction: float = param(
        0.1, "Fraction of true detections labelled `unknown`.", unit="fraction", ge=0, le=1
    )
    false_alarm_snr_scale_db: float = param(
        3.0,
        "False alarms' SNR exceeds the threshold by an exponential amount with this mean.",
        unit="dB",
        gt=0,
    )


class DeliverySpec(_Strict):
    """How observations reach the monitoring centre."""

    network_delay_median_s: float = param(
        2.0, "Median network delay (log-normal).", unit="s", source="cellular/satellite links", ge=0
    )
    network_delay_sigma: float = param(
        1.0, "Shape (sigma of the log) of the delay distribution.", unit="ln s", ge=0
    )
    late_fraction: float = param(
        0.01,
        "Fraction of observations held back (store and forward) and delivered minutes late.",
        unit="fraction",
        ge=0,
        le=1,
    )
    late_delay_s: tuple[float, float] = param(
        (60.0, 900.0), "Range of the extra delay of late observations (uniform).", unit="s"
    )
    resend_fraction: float = param(
        0.005,
        "Fraction of observations sent a second time with the same id (an identical line).",
        unit="fraction",
        ge=0,
        le=1,
    )
    resend_delay_s: float = param(
        30.0, "Mean delay of a re-send after the first delivery (exponential).", unit="s", ge=0
    )


class SigningSpec(_Strict):
    """Sensors that sign their observations with Ed25519 keys (contract sections 2 and 3)."""

    sensor_fraction: float = param(
        0.0,
        "Share of sensors given a key (their public_key is in sensors.geojson).",
        unit="fraction",
        ge=0,
        le=1,
    )
    unsigned_fraction: float = param(
        0.0,
        "Share of the observations of sensors with keys sent without a signature.",
        unit="fraction",
        ge=0,
        le=1,
    )
    bad_signature_fraction: float = param(
        0.0,
        "Share of the observations of sensors with keys whose signature is wrong (made over "
        "other bytes, as if changed in transit).",
        unit="fraction",
        ge=0,
        le=1,
    )


class Scenario(_Strict):
    """A simulation scenario."""

    name: str = param(..., "Short name.", min_length=1)
    description: str = param("", "What the scenario is for.")
    agreement: str = param(
        "illustrative-2026", "Agreement: a bundled name, or a path (relative to the scenario file)."
    )
    sector: SectorSpec | Literal["all"] = param("all", "The stretch of the line simulated.")
    start: str = param(..., "Start time, RFC 3339 with offset.")
    duration_h: float = param(..., "Length of the simulated period.", unit="h", gt=0, le=24 * 14)
    seed: int = param(0, "Default random seed (the command's --seed overrides it).", ge=0)
    weather: WeatherSpec = param(WeatherSpec(), "Weather.")
    acoustics: AcousticsSpec = param(AcousticsSpec(), "Acoustic propagation and detection.")
    sensors: SensorLayout = param(..., "Sensor layout.")
    activity: ActivitySpec = param(..., "What the parties do.")
    delivery: DeliverySpec = param(DeliverySpec(), "Network delivery of observations.")
    signing: SigningSpec = param(SigningSpec(), "Sensors that sign their observations.")

    @field_validator("start", mode="before")
    @classmethod
    def _start_text(cls, value: Any) -> Any:
        if hasattr(value, "isoformat"):
            if getattr(value, "tzinfo", None) is None:
                raise ValueError(f"time '{value}' has no UTC offset")
            return value.isoformat().replace("+00:00", "Z")
        return value

    @field_validator("start")
    @classmethod
    def _start_valid(cls, value: str) -> str:
        parse_time(value)
        return value

    @property
    def start_ns(self) -> int:
        return parse_time(self.start)

    @property
    def duration_ns(self) -> int:
        return round(self.duration_h * 3600e9)


# -- finding and reading -----------------------------------------------------------------------


def bundled_scenarios() -> list[str]:
    """Names of the scenarios shipped with truceline."""
    root = resources.files("truceline").joinpath("data", BUNDLED)
    return sorted(p.name.removesuffix(".yaml") for p in root.iterdir() if p.name.endswith(".yaml"))


def resolve_scenario_path(name_or_path: str | Path) -> Path:
    """A scenario file from a path, `scenarios/NAME.yaml` under the current directory, or a
    bundled name."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    name = str(name_or_path).removesuffix(".yaml")
    local = Path("scenarios") / f"{name}.yaml"
    if "/" not in name and local.is_file():
        return local
    if name in bundled_scenarios():
        return Path(str(resources.files("truceline").joinpath("data", BUNDLED, f"{name}.yaml")))
    raise UsageError(
        f"{name_or_path}: no such scenario file, no scenarios/{name}.yaml here, and "
        f"no bundled scenario of that name (bundled: "
        f"{', '.join(bundled_scenarios())})"
    )


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("SectorSpec", "literal['all']", "function-after[_one_form(), SectorSpec]"):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def parse_scenario(data: Any, file: str) -> Scenario:
    """Validate scenario data; raise `InputError` naming the file and each bad field."""
    if not isinstance(data, dict):
        raise InputError(
            [Problem(file, "expected a mapping with name, start, duration_h, sensors and activity")]
        )
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
            problems.append(Problem(file, f"{_loc(err['loc'])}: {msg}"))
        raise InputError(problems) from exc


def load_scenario(name_or_path: str | Path) -> tuple[Scenario, Path]:
    """Read and validate a scenario; return it with the file it came from."""
    path = resolve_scenario_path(name_or_path)
    file = str(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError([Problem(file, f"cannot read: {exc.strerror}")]) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(
            [
                Problem(
                    file,
                    f"invalid YAML: {getattr(exc, 'problem', exc)}",
                    line=mark.line + 1 if mark else None,
                )
            ]
        ) from exc
    return parse_scenario(data, file), path


def check_parties(scenario: Scenario, party_ids: list[str], file: str) -> None:
    """Every party id the scenario names must be one of the agreement's."""
    known = set(party_ids)
    problems = []

    def check(where: str, pid: str, allow_monitor: bool = False) -> None:
        if pid not in known and not (allow_monitor and pid == "monitor"):
            problems.append(
                Problem(
                    file,
                    f"{where}: unknown party '{pid}' (agreement parties: {', '.join(party_ids)})",
                )
            )

    groups = {
        "acoustic": scenario.sensors.acoustic,
        "counter_battery": scenario.sensors.counter_battery,
        "air": scenario.sensors.air,
        "weather": scenario.sensors.weather,
    }
    for key, items in groups.items():
        for i, item in enumerate(items):
            check(f"sensors.{key}[{i}].side", item.side)
            check(f"sensors.{key}[{i}].operator", item.operator, allow_monitor=True)
    for pid in scenario.activity.parties:
        check(f"activity.parties.{pid}", pid)
    if problems:
        raise InputError(problems)


# -- documentation -----------------------------------------------------------------------------

DOCUMENTED = (
    Scenario,
    SectorSpec,
    WeatherSpec,
    SensorLayout,
    AcousticRow,
    CounterBatteryRadars,
    AirRadars,
    WeatherStations,
    ActivitySpec,
    PartyActivity,
    ProfileStep,
    AirSorties,
    FireTactics,
    AirTactics,
    AcousticsSpec,
    DeliverySpec,
    SigningSpec,
)


def reference_markdown() -> str:
    """The parameter tables of docs/scenarios.md, generated from the declarations above."""
    lines: list[str] = []
    for model in DOCUMENTED:
        doc = " ".join((model.__doc__ or "").strip().split("\n\n")[0].split())
        lines += [
            f"### `{model.__name__}`",
            "",
            doc,
            "",
            "| field | default | unit | description | default from |",
            "| --- | --- | --- | --- | --- |",
        ]
        for name, info in model.model_fields.items():
            extra = info.json_schema_extra or {}
            if info.is_required():
                default = "required"
            else:
                value = info.default
                if isinstance(value, BaseModel):
                    default = "(see its table)"
                elif isinstance(value, list) and value and isinstance(value[0], BaseModel):
                    default = str([v.model_dump() for v in value])
                else:
                    default = (
                        f"`{value}`"
                        if value not in (None, "", [], {})
                        else ("none" if value is None else f"`{value!r}`")
                    )
            desc = (info.description or "").replace("|", "\\|")
            lines.append(
                f"| `{name}` | {default} | {extra.get('unit') or ''} | {desc} | "
                f"{extra.get('source') or ''} |"
            )
        lines.append("")
    lines += [
        "### Default fire tactics per weapon class",
        "",
        "| class | rounds_mean | interval_s | dispersion_fraction | depth_fraction | "
        "target_fraction |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for cid, t in FIRE_TACTICS.items():
        lines.append(
            f"| {cid} | {t.rounds_mean:g} | {t.interval_s:g} | "
            f"{t.dispersion_fraction:g} | {list(t.depth_fraction)} | "
            f"{list(t.target_fraction)} |"
        )
    lines += [
        "",
        "### Default air tactics per class",
        "",
        "| class | altitude_m | launch_depth_km | target_depth_km | speed_spread | "
        "hit_fraction | crossing_fraction |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for cid, a in AIR_TACTICS.items():
        lines.append(
            f"| {cid} | {list(a.altitude_m)} | {list(a.launch_depth_km)} | "
            f"{list(a.target_depth_km)} | {a.speed_spread:g} | {a.hit_fraction:g} | "
            f"{a.crossing_fraction:g} |"
        )
    return "\n".join(lines) + "\n"
