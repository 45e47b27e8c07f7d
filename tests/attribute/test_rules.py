from __future__ import annotations

import pytest

from tests.attribute.conftest import EFFECTIVE_NS, HOUR_NS, east_of_line, make_event
from truceline.attribute.stage import AttributionStage
from truceline.comply.rules import RulesEngine, after_effect
from truceline.config import AttributeSettings

SETTINGS = AttributeSettings(calibration="none")


def rules_of(event) -> dict:
    return {v.rule: v for v in event.violations}


def test_firing_before_effect_breaches_nothing(agreement):
    stage = AttributionStage(agreement, SETTINGS)
    e = make_event("L", east_of_line(8.0), time_ns=EFFECTIVE_NS - HOUR_NS)
    (out,), violations = stage.apply([e], created_ns=0)
    assert violations == [] and out.violations == ()
    assert out.attribution["RU"] == pytest.approx(1.0)


def test_no_fire_names_the_party_and_explains(agreement):
    stage = AttributionStage(agreement, SETTINGS)
    e = make_event("L", east_of_line(6.2), time_ns=EFFECTIVE_NS + 41 * 60 * 10**9)
    (out,), violations = stage.apply([e], created_ns=0)
    v = rules_of(out)["no-fire"]
    assert v.id == "L:no-fire" and v.article == "1" and v.party == "RU"
    assert v.probability == pytest.approx(1.0)
    assert v.explanation.startswith("launch 6.2 km inside RU-controlled area, 41 min after effect")
    assert str(v.provenance.evaluation_mode) == "automatic"
    assert violations == list(out.violations)


def test_withdrawal_needs_the_class_and_the_distance(agreement):
    stage = AttributionStage(agreement, SETTINGS)
    near = make_event("A", east_of_line(12.0), weapon="artillery-100mm-plus")
    far = make_event("B", east_of_line(40.0), weapon="artillery-100mm-plus")
    unknown = make_event("C", east_of_line(12.0))
    other = make_event("D", east_of_line(12.0), weapon="mortar")
    out, _ = stage.apply([near, far, unknown, other], created_ns=0)
    assert "heavy-artillery" in rules_of(out[0])
    assert "heavy-artillery" not in rules_of(out[1])
    assert "heavy-artillery" not in rules_of(out[2])
    assert "heavy-artillery" not in rules_of(out[3])
    assert "within 25 km of the line" in rules_of(out[0])["heavy-artillery"].explanation


def test_zone_exclusion_integrates_the_origin(agreement):
    stage = AttributionStage(agreement, SETTINGS)
    inside = make_event("A", east_of_line(1.0), sigma_m=100.0)
    edge = make_event("B", east_of_line(2.19), sigma_m=2000.0)
    impact = make_event("C", east_of_line(1.0), type="impact", p_launch=0.0)
    out, _ = stage.apply([inside, edge, impact], created_ns=0)
    assert rules_of(out[0])["buffer"].probability == pytest.approx(1.0)
    assert "buffer" not in rules_of(out[1])  # about half inside: below the threshold
    assert "buffer" not in rules_of(out[2])  # an impact is no presence


def test_undetermined_party(agreement):
    stage = AttributionStage(agreement, SETTINGS)
    e = make_event("L", 32.0, sigma_m=1000.0)
    (out,), _ = stage.apply([e], created_ns=0)
    v = rules_of(out)["no-fire"]
    assert v.party is None and v.probability == 1.0
    assert v.explanation.endswith("party undetermined")


def test_air_track_crossing_the_line(agreement):
    """The interface the radar stage will use: `air-track` events with a `path`."""
    t0 = EFFECTIVE_NS + HOUR_NS
    path = [
        (east_of_line(5.0), 48.0, 300.0, t0),
        (east_of_line(0.5), 48.0, 300.0, t0 + 60 * 10**9),
        (east_of_line(-3.0), 48.0, 300.0, t0 + 120 * 10**9),
    ]
    track = make_event("T", path[0][0], type="air-track", path=path)
    back = make_event("R", path[0][0], type="air-track", path=path[:2])
    stage = AttributionStage(agreement, SETTINGS)
    out, _ = stage.apply([track, back], created_ns=0)
    v = rules_of(out[0])["no-crossing"]
    assert v.party == "RU" and v.article == "2" and v.probability == pytest.approx(1.0)
    assert v.explanation.startswith("air track from RU-controlled area 3.0 km into UA-controlled")
    assert "no-crossing" not in rules_of(out[1])
    assert "no-fire" not in rules_of(out[0])


def test_after_effect_words():
    assert after_effect(EFFECTIVE_NS + 41 * 60 * 10**9, EFFECTIVE_NS) == "41 min after effect"
    assert after_effect(EFFECTIVE_NS + 5 * HOUR_NS, EFFECTIVE_NS) == "5.0 h after effect"
    assert after_effect(EFFECTIVE_NS - 72 * HOUR_NS, EFFECTIVE_NS) == "3 d before effect"


def test_engine_alone_reports_breaches(agreement):
    engine = RulesEngine(agreement, SETTINGS)
    e = make_event("L", east_of_line(1.0))
    breaches = engine.breaches([e])["L"]
    assert [b.rule.id for b in breaches] == ["no-fire", "buffer"]


def test_withdrawal_weighs_the_class_probability(agreement):
    from dataclasses import replace

    engine = RulesEngine(agreement, SETTINGS)

    def with_classes(event, probabilities):
        props = {**event.properties, "weapon_class": {"probabilities": probabilities}}
        return replace(event, properties=props)

    likely = with_classes(
        make_event("A", east_of_line(12.0)), {"artillery-100mm-plus": 0.8, "mlrs": 0.2}
    )
    doubtful = with_classes(
        make_event("B", east_of_line(12.0)), {"artillery-100mm-plus": 0.4, "mlrs": 0.6}
    )
    out = engine.breaches([likely, doubtful])
    heavy = [b for b in out["A"] if b.rule.id == "heavy-artillery"]
    assert heavy and heavy[0].probability == pytest.approx(0.8, abs=0.01)
    assert "artillery-100mm-plus (P 0.80)" in heavy[0].explanation
    assert not [b for b in out["B"] if b.rule.id == "heavy-artillery"]
