"""Reading sensors.geojson: every property kept, the raw feature text exact, and a broken file
reported whole, one problem a line."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from truceline.errors import InputError
from truceline.ingest import parse_sensors, read_sensors

KEY = base64.b64encode(bytes(range(32))).decode()


def feature(sid: str = "A1", coordinates=(37.1, 48.2), **props) -> dict:
    properties = {"id": sid, "kind": "acoustic", "operator": "monitor", **props}
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": list(coordinates)},
        "properties": {k: v for k, v in properties.items() if v is not ...},
    }


def collection(*features) -> str:
    return json.dumps({"type": "FeatureCollection", "features": list(features)}, indent=2)


def problems(text: str) -> list[str]:
    with pytest.raises(InputError) as info:
        parse_sensors(text, "sensors.geojson")
    return info.value.lines()


def test_reads_every_field_and_keeps_the_rest(tmp_path: Path):
    text = collection(
        feature("A1", row=0, sector={"azimuth_deg": 30.0, "width_deg": 90}),
        feature("R1", (37.3, 48.4, 155.5), kind="radar", operator="RU", public_key=KEY),
        feature("A2", timing_sigma_s=0.002, operator="UA"),
    )
    path = tmp_path / "sensors.geojson"
    path.write_text(text, encoding="utf-8")
    a1, r1, a2 = read_sensors(path)
    assert (a1.id, a1.kind, a1.operator, a1.lon, a1.lat) == (
        "A1",
        "acoustic",
        "monitor",
        37.1,
        48.2,
    )
    assert a1.elevation_m is None and a1.timing_sigma_s == 0.01 and a1.public_key is None
    assert a1.properties == {"row": 0, "sector": {"azimuth_deg": 30.0, "width_deg": 90}}
    assert r1.elevation_m == 155.5 and r1.public_key == KEY and r1.properties == {}
    assert a2.timing_sigma_s == 0.002
    features = json.loads(text)["features"]
    for sensor, original in zip((a1, r1, a2), features, strict=True):
        assert json.loads(sensor.raw) == original
        assert sensor.raw in text  # the exact text, indentation and all
        assert sensor.raw.startswith("{") and sensor.raw.endswith("}")


def test_raw_of_repeated_features_key_follows_json_loads():
    text = (
        '{"features": [1], "type": "FeatureCollection", "features": [ '
        + json.dumps(feature("B1"))
        + " ] }"
    )
    (sensor,) = parse_sensors(text)
    assert sensor.id == "B1" and json.loads(sensor.raw) == feature("B1")


def test_broken_file_lists_every_problem():
    text = collection(
        feature("A1"),
        feature("A2", (37.1,), timing_sigma_s=-1),
        feature("A1", (237.1, 48.2), kind="", operator=..., public_key="abc"),
        {
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
            "properties": {"id": "L1", "kind": "radar", "operator": "UA"},
        },
        feature("K1", public_key=base64.b64encode(b"short").decode()),
        5,
    )
    lines = problems(text.replace('"timing_sigma_s": -1', '"timing_sigma_s": NaN'))
    assert lines == [
        "sensors.geojson: feature 1 (A2): geometry.coordinates should be [lon, lat] or "
        "[lon, lat, elevation_m] (got [37.1])",
        "sensors.geojson: feature 1 (A2): properties.timing_sigma_s should be a finite number "
        "(got NaN)",
        "sensors.geojson: feature 2 (A1): geometry.coordinates longitude 237.1 is outside -180 "
        "to 180 (got [237.1, 48.2])",
        'sensors.geojson: feature 2 (A1): properties.kind must not be empty (got "")',
        "sensors.geojson: feature 2 (A1): missing properties.operator",
        'sensors.geojson: feature 2 (A1): properties.public_key is not base64 text (got "abc")',
        "sensors.geojson: feature 2 (A1): duplicate id 'A1' (first used by feature 0)",
        "sensors.geojson: feature 3 (L1): geometry.type should be 'Point' (got \"LineString\")",
        "sensors.geojson: feature 4 (K1): properties.public_key decodes to 5 bytes; an Ed25519 "
        'public key has 32 (got "c2hvcnQ=")',
        "sensors.geojson: feature 5: expected a GeoJSON Feature object, not a number",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"type": "FeatureCollection",\n "features": [}', "sensors.geojson:2: invalid JSON"),
        ("[]", "sensors.geojson: expected a GeoJSON FeatureCollection"),
        ('{"type": "FeatureCollection"}', "sensors.geojson: the FeatureCollection has no"),
        ('{"type": "FeatureCollection", "features": []}', "no features: no sensors"),
    ],
)
def test_unusable_files(text, expected):
    (line,) = problems(text)
    assert line.startswith(expected) or expected in line


def test_extra_properties_must_be_storable():
    text = collection(feature("A1", gain=1.0, note="x")).replace('"gain": 1.0', '"gain": Infinity')
    text = text.replace('"note": "x"', '"note": "a\\u0000b"')
    lines = problems(text)
    assert any("properties.gain is Infinity" in x for x in lines)
    assert any("properties.note contains a NUL" in x for x in lines)


def test_strict_types():
    lines = problems(collection(feature(7), feature("A2", timing_sigma_s="0.01")))
    assert "feature 0: properties.id should be a valid string (got 7)" in lines[0]
    assert "properties.timing_sigma_s should be a valid number" in lines[1]


def test_unreadable_files(tmp_path: Path):
    with pytest.raises(InputError) as info:
        read_sensors(tmp_path / "missing.geojson")
    assert "cannot read" in info.value.lines()[0]
    bad = tmp_path / "latin1.geojson"
    bad.write_bytes(b'{"type": "FeatureCollection", "name": "caf\xe9"}')
    with pytest.raises(InputError) as info:
        read_sensors(bad)
    assert "not UTF-8" in info.value.lines()[0]
