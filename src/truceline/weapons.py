"""The catalogue of weapon classes that agreements name and the pipeline reasons about."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml


@dataclass(frozen=True, slots=True)
class WeaponClass:
    """A class of weapon with typical planning figures.

    `mean_speed_mps` is the average ground speed over a typical trajectory, so that a time of
    flight is roughly range / mean speed. The optional ballistic figures (muzzle or burnout speed
    m/s, mass kg, calibre mm, drag coefficient, elevation limits deg, trajectory branch) feed
    `truceline.ballistics.Projectile.for_weapon`; `radar_class` is what a counter-battery radar
    reports (shell, rocket, mortar); `launch_level_db` / `impact_level_db` are effective
    impulsive source levels in the acoustic detection band, dB re 20 µPa at 1 m (None: silent);
    `round_interval_s` is the (shortest, longest) time between consecutive rounds of one gun or
    launcher in a fire mission, from its published rate of fire (None: not given).
    """

    id: str
    name: str
    kind: str
    examples: tuple[str, ...]
    min_range_km: float
    max_range_km: float
    mean_speed_mps: float
    muzzle_velocity_mps: float | None = None
    mass_kg: float | None = None
    caliber_mm: float | None = None
    drag_coefficient: float | None = None
    min_elevation_deg: float = 0.05
    max_elevation_deg: float = 85.0
    trajectory: str = "low"
    radar_class: str | None = None
    launch_level_db: float | None = None
    impact_level_db: float | None = None
    round_interval_s: tuple[float, float] | None = None

    @property
    def ballistic(self) -> bool:
        """Whether the class flies a ballistic trajectory the point-mass model describes."""
        return self.muzzle_velocity_mps is not None


def _weapon(c: dict) -> WeaponClass:
    ball = c.get("ballistics") or {}
    levels = c.get("source_level_db") or {}
    rate = (c.get("rate_of_fire") or {}).get("interval_s")
    interval = None
    if rate is not None:
        lo, hi = (float(v) for v in rate)
        if not 0 < lo < hi:
            raise ValueError(f"{c['id']}: rate_of_fire.interval_s must be 0 < shortest < longest")
        interval = (lo, hi)

    def opt(mapping: dict, key: str) -> float | None:
        return float(mapping[key]) if mapping.get(key) is not None else None

    return WeaponClass(
        id=c["id"],
        name=c["name"],
        kind=c["kind"],
        examples=tuple(str(e) for e in c.get("examples", ())),
        min_range_km=float(c["min_range_km"]),
        max_range_km=float(c["max_range_km"]),
        mean_speed_mps=float(c["mean_speed_mps"]),
        muzzle_velocity_mps=opt(ball, "muzzle_velocity_mps"),
        mass_kg=opt(ball, "mass_kg"),
        caliber_mm=opt(ball, "caliber_mm"),
        drag_coefficient=opt(ball, "drag_coefficient"),
        min_elevation_deg=float(ball.get("min_elevation_deg", 0.05)),
        max_elevation_deg=float(ball.get("max_elevation_deg", 85.0)),
        trajectory=str(ball.get("trajectory", "low")),
        radar_class=c.get("radar_class"),
        launch_level_db=opt(levels, "launch"),
        impact_level_db=opt(levels, "impact"),
        round_interval_s=interval,
    )


@cache
def weapon_classes() -> dict[str, WeaponClass]:
    """The bundled catalogue, keyed by class id."""
    text = resources.files("truceline.data").joinpath("weapons.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    return {c["id"]: _weapon(c) for c in data["classes"]}
