from __future__ import annotations

import numpy as np
import pytest

from truceline.attribute.calibration import (
    CalibrationMap,
    CalibrationSet,
    fit_calibration,
    isotonic,
    load_calibration,
)


def test_isotonic_is_monotone_and_pools_violators():
    _, y, w = isotonic([0.1, 0.2, 0.3, 0.4], [1, 0, 1, 1])
    assert np.all(np.diff(y) >= 0)
    assert y[0] == pytest.approx(0.5) and w.sum() == 4


def test_fit_recovers_an_overconfident_model():
    rng = np.random.default_rng(0)
    raw = rng.uniform(0.5, 1.0, 20000)
    truth = 0.5 + (raw - 0.5) * 0.8  # true rate lower than stated
    correct = rng.random(raw.size) < truth
    cal = fit_calibration(raw, correct)
    assert all(np.diff(cal.y) >= 0)
    for p in (0.6, 0.8, 0.95):
        assert cal(p) == pytest.approx(0.5 + (p - 0.5) * 0.8, abs=0.03)
    assert CalibrationMap.from_dict(cal.as_dict()) == cal


def test_bundled_and_none_maps_load():
    assert load_calibration("none").map_for("mixed-far")(0.7) == pytest.approx(0.7)
    bundled = load_calibration("bundled")
    assert bundled.about["name"] == "bundled"
    for condition in ("mixed-far", "mixed-near", "one-party-far", "one-party-near"):
        assert 0.5 < bundled.map_for(condition)(1.0) < 1.0


def test_a_single_map_serves_every_condition_and_a_set_round_trips():
    single = CalibrationMap((0.5, 1.0), (0.5, 0.9), {"name": "x"})
    cal = CalibrationSet.from_dict(single.as_dict())
    assert cal.map_for("one-party-near")(1.0) == pytest.approx(0.9)
    both = CalibrationSet({"all": single, "mixed-far": CalibrationMap()}, {"name": "y"})
    again = CalibrationSet.from_dict(both.as_dict())
    assert again.map_for("mixed-far")(0.7) == pytest.approx(0.7)
    assert again.map_for("mixed-near")(1.0) == pytest.approx(0.9)
    with pytest.raises(ValueError, match="non-decreasing"):
        CalibrationMap.from_dict({"x": [0, 1], "y": [1, 0]})
