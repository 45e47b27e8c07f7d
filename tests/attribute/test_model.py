from __future__ import annotations

import pytest

from tests.attribute.conftest import east_of_line, make_event
from truceline.attribute.calibration import CalibrationMap
from truceline.attribute.model import Attributor
from truceline.config import AttributeSettings

SETTINGS = AttributeSettings()


@pytest.fixture
def attributor(agreement):
    return Attributor(agreement, SETTINGS)


def test_launch_deep_in_an_area_is_that_party_almost_certainly(attributor):
    e = make_event("L1", east_of_line(8.0))
    out = attributor.attribute([e])["L1"]
    assert out.probabilities["RU"] == pytest.approx(1.0)
    assert out.detail["party"] == "RU"
    assert out.detail["words"].startswith("almost certain")
    assert out.detail["undetermined"] == 0.0


def test_impact_is_attributed_to_the_other_side(attributor):
    e = make_event("I1", east_of_line(-6.0), type="impact", p_launch=0.0)
    out = attributor.attribute([e])["I1"]
    assert out.probabilities["RU"] == pytest.approx(1 - SETTINGS.own_side_impact_share)


def test_launch_on_the_line_is_even_until_its_impact_gives_the_direction(attributor):
    launch = make_event("L", 32.0, sigma_m=500.0, paired="I", weapon="mortar")
    alone = attributor.attribute([make_event("L", 32.0, sigma_m=500.0)])["L"]
    assert alone.probabilities["RU"] == pytest.approx(0.5, abs=0.03)
    impact = make_event("I", east_of_line(-4.0), type="impact", paired="L", weapon="mortar")
    both = attributor.attribute([launch, impact])
    assert both["L"].probabilities == both["I"].probabilities
    assert both["L"].probabilities["RU"] > 0.9
    assert both["L"].detail["pair_used"] is True


def test_pair_beyond_the_weapon_range_is_not_combined(attributor):
    launch = make_event("L", 32.0, sigma_m=500.0, paired="I", weapon="mortar")
    impact = make_event("I", east_of_line(-30.0), type="impact", paired="L", weapon="mortar")
    out = attributor.attribute([launch, impact])
    assert out["L"].detail["pair_used"] is False
    assert "pair_rejected" in out["L"].detail
    assert out["L"].probabilities["RU"] == pytest.approx(0.5, abs=0.05)


def test_one_party_evidence_against_the_other_is_flagged_and_discounted(agreement):
    attributor = Attributor(agreement, AttributeSettings(one_party_trust=0.8))
    against = make_event("A", east_of_line(8.0), operators={"UA": 7})
    own = make_event("B", east_of_line(8.0), operators={"RU": 7})
    out = attributor.attribute([against, own])
    # The attribution stays the calibrated probability; the trust weighs it beside it.
    assert out["A"].probabilities["RU"] == pytest.approx(1.0)
    assert out["A"].detail["trust_weighted"]["RU"] == pytest.approx(0.8)
    assert out["A"].detail["condition"] == "one-party-far"
    assert out["A"].detail["flags"] == ["rests only on UA's sensors against RU"]
    assert out["B"].probabilities["RU"] == pytest.approx(1.0)
    assert out["B"].detail["trust_weighted"]["RU"] == pytest.approx(1.0)
    assert out["B"].detail["flags"] == []


def test_origin_outside_every_area_is_undetermined(attributor):
    e = make_event("X", 36.0)
    out = attributor.attribute([e])["X"]
    assert out.probabilities == {}
    assert out.detail["undetermined"] == 1.0


def test_label_uncertainty_mixes_launch_and_impact(attributor):
    e = make_event("U", east_of_line(8.0), type="launch", p_launch=0.7)
    out = attributor.attribute([e])["U"]
    d = SETTINGS.own_side_impact_share
    assert out.probabilities["RU"] == pytest.approx(0.7 + 0.3 * d, abs=1e-6)


def test_calibration_maps_the_top_probability(agreement):
    cal = CalibrationMap((0.5, 1.0), (0.5, 0.98), {"name": "test"})
    out = Attributor(agreement, SETTINGS, cal).attribute([make_event("L", east_of_line(8.0))])
    assert out["L"].probabilities["RU"] == pytest.approx(0.98)
    assert out["L"].probabilities["UA"] == pytest.approx(0.02)
    assert out["L"].detail["raw"] == pytest.approx(1.0)


def test_phia_words(agreement):
    a = Attributor(agreement, AttributeSettings(yardstick="phia"))
    out = a.attribute([make_event("L", east_of_line(8.0))])["L"]
    assert out.detail["yardstick"] == "PHIA"
