from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from truceline.attribute.weapon import Detection, WeaponClassifier, class_tables
from truceline.config import AttributeSettings
from truceline.geo.projection import geodesic_distance_m

from .conftest import make_event

SETTINGS = AttributeSettings()


def loud_detections(event, level_db: float, n: int = 12, seed: int = 0) -> dict[str, Detection]:
    """Detections around the event whose SNRs follow the loudness model for `level_db`, keeping
    only those above the threshold (as a sensor would)."""
    rng = np.random.default_rng(seed)
    out = {}
    k = 0
    while len(out) < n:
        lon = event.origin.lon + rng.uniform(-0.03, 0.03)
        lat = event.origin.lat + rng.uniform(-0.02, 0.02)
        d = float(np.asarray(geodesic_distance_m(event.origin.lon, event.origin.lat, lon, lat)))
        snr = level_db - 20 * np.log10(max(d, 1.0)) - 1.5 * d / 1e3 - 60.0 + rng.normal(0, 3.0)
        if snr >= 10.0:
            out[f"o{k}"] = Detection(lon, lat, float(snr), 60.0, 10.0)
        k += 1
    return out


def test_without_evidence_the_class_stays_the_wide_prior():
    e = make_event("A", 32.0)
    out = WeaponClassifier(SETTINGS).classify([(e, 1.0)], None)
    assert out["evidence"] == ["prior only"]
    values = list(out["probabilities"].values())
    assert max(values) == pytest.approx(min(values))


@pytest.mark.parametrize("weapon,level", [("mortar", 139.0), ("heavy-mlrs", 157.0)])
def test_loudness_tells_quiet_from_loud_weapons(weapon, level):
    e = make_event("A", 32.0)
    dets = loud_detections(e, level)
    e = replace(e, evidence=tuple(dets))
    out = WeaponClassifier(SETTINGS, detections=dets).classify([(e, 1.0)], None)
    assert out["class"] == weapon
    assert out["probabilities"][weapon] > 0.8


def test_range_and_time_of_flight_pick_the_class():
    table = next(c for c in class_tables() if c.id == "artillery-100mm-plus").table
    _, tof = table.solve(15_000.0, "low")
    launch = make_event("L", 32.0, paired="I")
    # 15 km east along the parallel at 48 N: 1 deg of longitude is ~74.6 km there.
    impact = make_event(
        "I", 32.0 + 15.0 / 74.63, type="impact", paired="L",
        time_ns=launch.time_ns + round(float(tof) * 1e9),
    )  # fmt: skip
    out = WeaponClassifier(SETTINGS).classify([(launch, 0.99), (impact, 0.01)], (launch, impact))
    assert out["class"] == "artillery-100mm-plus"
    assert "pair" in out["evidence"]
