"""Reading truth, events, observations and sensors for the evaluation."""

from __future__ import annotations

import json
import math

import pytest

from truceline.errors import InputError
from truceline.evaluate.inputs import (
    read_events,
    read_observations,
    read_propagation_sigma,
    read_sensors,
    read_truth,
)


def test_read_observations_keeps_wanted_ids_and_weather(tmp_path):
    path = tmp_path / "observations.jsonl"
    lines = [
        {
            "id": "A-1",
            "kind": "acoustic",
            "sensor": "A",
            "time": "2026-03-02T06:00:00Z",
            "azimuth_deg": 12.5,
            "azimuth_sigma_deg": 4,
        },
        {"id": "A-1", "kind": "acoustic", "sensor": "Z", "time": "2026-03-02T06:00:00Z"},
        {"id": "A-2", "kind": "acoustic", "sensor": "A", "time": "2026-03-02T06:00:01Z"},
        {
            "id": "R-1",
            "kind": "radar_track",
            "sensor": "R",
            "time": "2026-03-02T06:00:01Z",
            "points": [{"id": "decoy", "time": "2026-03-02T06:00:01Z"}],
        },
        {
            "id": "W-1",
            "kind": "weather",
            "sensor": "W",
            "time": "2026-03-02T06:00:00Z",
            "temperature_c": 3.5,
            "wind_mps": [1, 2],
        },
        {
            "id": "W-1",
            "kind": "weather",
            "sensor": "W",
            "time": "2026-03-02T06:00:00Z",
            "temperature_c": 3.5,
        },
        {"id": "W-2", "kind": "weather", "sensor": "W", "time": "bad"},
    ]
    text = "".join(json.dumps(x) + "\n" for x in lines)
    text += '{"id" : "A\\u002d3", "kind": "acoustic", "sensor": "A", "time": "x"}\n\n{broken\n'
    path.write_text(text)
    observations, weather, bad = read_observations(path, wanted={"A-1", "R-1", "A-3"})
    assert set(observations) == {"A-1", "R-1", "A-3"}  # R-1 has a nested id; A-3 is escaped
    assert observations["A-1"].sensor == "A"  # the first of the same id
    assert (observations["A-1"].azimuth_deg, observations["A-1"].azimuth_sigma_deg) == (12.5, 4)
    assert math.isnan(observations["A-3"].azimuth_deg)
    assert [(w.sensor, w.temperature_c, w.wind_e_mps, w.wind_n_mps) for w in weather] == [
        ("W", 3.5, 1.0, 2.0)
    ]
    assert bad == 2  # W-2's time and the broken line
    everything, _, _ = read_observations(path)
    assert set(everything) == {"A-1", "A-2", "R-1", "A-3"}


def test_read_truth_reports_every_bad_line(tmp_path):
    path = tmp_path / "truth.jsonl"
    path.write_text(
        '{"id": "L1", "type": "launch", "time": "2026-03-02T06:00:00Z", "position": [37, 48]}\n'
        "nonsense\n"
        '{"id": "I1"}\n'
        '{"id": "I2", "type": "impact", "time": "2026-03-02T06:00:00"}\n'
    )
    with pytest.raises(InputError) as info:
        read_truth(path)
    assert [p.line for p in info.value.problems] == [2, 3, 4]
    path.write_text('{"id": "A1", "type": "air-track", "time": "2026-03-02T06:00:00Z"}\n')
    (source,) = read_truth(path)
    assert math.isnan(source.lon) and source.observations == ()


def test_read_events_is_lenient_about_optional_parts(tmp_path):
    path = tmp_path / "events.geojson"
    features = [
        {"type": "Feature", "geometry": None, "properties": {"type": "impact"}},
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [37.0, 48.0]},
            "properties": {
                "id": "E2",
                "type": "launch",
                "time": "2026-03-02T06:00:00.5Z",
                "ellipse95": {"major_m": 30, "minor_m": "x"},
                "evidence": ["a"],
                "paired": "E1",
            },
        },
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    events, run = read_events(path)
    assert run is None
    assert events[0].id == "#0" and events[0].time_ns is None and math.isnan(events[0].lon)
    assert events[1].ellipse95 is None and events[1].evidence == ("a",)
    assert events[1].paired == "E1" and events[1].time_ns % 1_000_000_000 == 500_000_000
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"id": "E", "type": "impact", "time": "yesterday"},
                    }
                ],
            }
        )
    )
    with pytest.raises(InputError, match="yesterday"):
        read_events(path)
    path.write_text("[]")
    with pytest.raises(InputError, match="FeatureCollection"):
        read_events(path)


def test_read_sensors_defaults(tmp_path):
    path = tmp_path / "sensors.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": {"type": "Point", "coordinates": [37.0, 48.0]},
                        "properties": {"id": "A", "kind": "acoustic"},
                    },
                    {
                        "type": "Feature",
                        "geometry": {"type": "Point", "coordinates": [37.1, 48.0]},
                        "properties": {
                            "id": "B",
                            "kind": "acoustic",
                            "timing_sigma_s": 0.003,
                            "azimuth_sigma_deg": 4,
                        },
                    },
                ],
            }
        )
    )
    sensors = read_sensors(path)
    assert sensors["A"].timing_sigma_s == 0.01 and math.isnan(sensors["A"].azimuth_sigma_deg)
    assert (sensors["B"].timing_sigma_s, sensors["B"].azimuth_sigma_deg) == (0.003, 4.0)


def test_read_propagation_sigma(tmp_path):
    truth = tmp_path / "truth.jsonl"
    assert read_propagation_sigma(truth) is None
    (tmp_path / "scenario.yaml").write_text("acoustics: {propagation_jitter_s_per_km: 0.004}\n")
    assert read_propagation_sigma(truth) == 0.004
    (tmp_path / "scenario.yaml").write_text("name: x\n")
    assert read_propagation_sigma(truth) is None
