"""The records passed between stages: immutable, small, and plain."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle

import numpy as np
import pytest

from truceline.records import (
    EMPTY,
    Ellipse,
    EvaluationMode,
    EvaluationStatus,
    Event,
    FrozenDict,
    Observation,
    Origin,
    Provenance,
    Quarantined,
    QuarantineReason,
    Review,
    Run,
    Sensor,
    Violation,
    freeze,
)

T0 = 1_772_323_200_000_000_000


def _provenance(**overrides: object) -> Provenance:
    values: dict[str, object] = {
        "evaluation_mode": "automatic",
        "evaluation_status": "preliminary",
        "author": "truceline 0.1.0",
        "created_ns": T0,
    }
    values.update(overrides)
    return Provenance(**values)  # type: ignore[arg-type]


def _event(**overrides: object) -> Event:
    values: dict[str, object] = {
        "id": "ev-1",
        "type": "launch",
        "origin": Origin(37.8, 48.0, T0, Ellipse(60.0, 20.0, 45.0)),
        "provenance": _provenance(),
    }
    values.update(overrides)
    return Event(**values)  # type: ignore[arg-type]


RECORDS = [
    _provenance(),
    Sensor("A-01", "acoustic", "monitor", 37.8, 48.0),
    Observation("o", "acoustic", "A-01", T0, "{}", T0 + 1),
    Quarantined("{", "malformed JSON", "malformed-json", "observations.jsonl:1", T0),
    Ellipse(1.0, 0.5, 10.0),
    Origin(37.8, 48.0, T0),
    Violation("v", "no-fire", "1", "ev-1", "RU", 0.9, "fired", _provenance()),
    _event(),
    Review("ev-1", "reviewed", "checked", "analyst 7", T0),
    Run("r", "process", T0),
]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_records_are_frozen_slotted_hashable_and_picklable(record: object) -> None:
    field = dataclasses.fields(record)[0].name  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(record, field, None)
    assert not hasattr(record, "__dict__")
    assert hash(record) == hash(copy.deepcopy(record))
    assert pickle.loads(pickle.dumps(record)) == record


def test_frozen_dict_is_a_read_only_json_ready_dict() -> None:
    mapping = FrozenDict({"wind_mps": [3.0, -1.5], "site": {"mast_m": [2, 4]}})
    assert mapping == {"wind_mps": (3.0, -1.5), "site": {"mast_m": (2, 4)}}
    assert isinstance(mapping["site"], FrozenDict)
    assert json.loads(json.dumps(mapping)) == {"wind_mps": [3.0, -1.5], "site": {"mast_m": [2, 4]}}
    assert hash(mapping) == hash(FrozenDict(mapping))
    for change in (
        lambda m: m.__setitem__("x", 1),
        lambda m: m.__delitem__("site"),
        lambda m: m.update(x=1),
        lambda m: m.pop("site"),
        lambda m: m.popitem(),
        lambda m: m.setdefault("x", 1),
        lambda m: m.clear(),
    ):
        with pytest.raises(TypeError, match="read-only"):
            change(mapping)
    with pytest.raises(TypeError, match="read-only"):
        mapping |= {"x": 1}
    assert mapping | {"x": 1} == {**mapping, "x": 1}  # a new, ordinary dict
    assert copy.copy(mapping) is mapping
    back = pickle.loads(pickle.dumps(mapping))
    assert back == mapping and type(back) is FrozenDict and type(back["site"]) is FrozenDict
    assert back["wind_mps"] == (3.0, -1.5)
    with pytest.raises(TypeError, match="read-only"):
        back["x"] = 1
    observation = Observation("o", "acoustic", "A-01", T0, "{}", T0 + 1, "c2ln", {"site": {}})
    again = pickle.loads(pickle.dumps(observation))
    assert again == observation and type(again.fields["site"]) is FrozenDict
    assert repr(FrozenDict(a=1)) == "FrozenDict({'a': 1})"


def test_freeze_is_deep() -> None:
    assert freeze([1, [2, {"a": [3]}]]) == (1, (2, {"a": (3,)}))
    assert isinstance(freeze({"a": 1}), FrozenDict)
    assert freeze("text") == "text"
    frozen = FrozenDict(a=1)
    assert freeze(frozen) is frozen


def test_mappings_in_records_are_frozen_copies() -> None:
    fields = {"wind_mps": [3.0, -1.5]}
    observation = Observation("o", "weather", "W-1", T0, "{}", T0, fields=fields)
    fields["wind_mps"].append(9.9)
    assert observation.fields == {"wind_mps": (3.0, -1.5)}
    with pytest.raises(TypeError):
        observation.fields["temperature_c"] = 5.0  # type: ignore[index]


def test_sensor_defaults() -> None:
    sensor = Sensor("A-01", "acoustic", "monitor", 37.8, 48.0)
    assert sensor.timing_sigma_s == 0.01
    assert sensor.elevation_m is None and sensor.public_key is None and sensor.raw is None
    assert sensor.properties == {} and sensor.properties is EMPTY


def test_provenance_takes_enum_values_as_strings() -> None:
    provenance = _provenance(
        evaluation_mode="manual", evaluation_status="confirmed", inputs=["a", "b"]
    )
    assert provenance.evaluation_mode is EvaluationMode.MANUAL
    assert provenance.evaluation_status is EvaluationStatus.CONFIRMED
    assert provenance.evaluation_mode == "manual"
    assert provenance.inputs == ("a", "b")
    with pytest.raises(ValueError, match="'guessed'"):
        _provenance(evaluation_mode="guessed")
    with pytest.raises(ValueError, match="'final'"):
        Review("ev-1", "final", "x", "y", T0)  # type: ignore[arg-type]


def test_origin_covariance_is_a_3x3_tuple_of_floats() -> None:
    origin = Origin(37.8, 48.0, T0, covariance=np.diag([400.0, 90.0, 1e-6]))
    assert origin.covariance == ((400.0, 0.0, 0.0), (0.0, 90.0, 0.0), (0.0, 0.0, 1e-6))
    assert all(type(x) is float for row in origin.covariance for x in row)
    with pytest.raises(ValueError, match="3x3"):
        Origin(37.8, 48.0, T0, covariance=np.eye(2))


def test_event_sequences_are_tuples_and_its_time_is_the_origins() -> None:
    event = _event(
        evidence=["o1", "o2"],
        path=[[37.8, 48.0, 100, T0], (np.float64(37.9), 48.1, 150.0, np.int64(T0 + 10**9))],
        attribution={"RU": 0.7},
        violations=[Violation("v", "no-fire", "1", "ev-1", "RU", 0.7, "fired", _provenance())],
    )
    assert event.evidence == ("o1", "o2")
    assert event.path == ((37.8, 48.0, 100.0, T0), (37.9, 48.1, 150.0, T0 + 10**9))
    assert type(event.path[1][3]) is int
    assert isinstance(event.violations, tuple)
    assert event.attribution == {"RU": 0.7}
    assert event.time_ns == T0


def test_quarantine_reasons_are_short_codes() -> None:
    assert QuarantineReason.DUPLICATE_CONFLICT == "duplicate-conflict"
    assert {
        "malformed-json",
        "missing-field",
        "bad-time",
        "unknown-sensor",
        "unknown-kind",
        "non-finite",
        "out-of-window",
        "bad-signature",
        "unsigned",
    } <= set(QuarantineReason)
