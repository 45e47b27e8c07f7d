"""`truceline export` in each format, on a processed `sector-quick` store."""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.processed import Processed, run
from truceline.export.formats import CSV_COLUMNS
from truceline.timeutil import parse_time

KML = "{http://www.opengis.net/kml/2.2}"


def export(processed: Processed, fmt: str, out: Path, *extra: str) -> Path:
    run(processed.cli("export", "--format", fmt, "--out", str(out), *extra))
    return out


def test_geojson_follows_the_contract(processed: Processed, tmp_path: Path):
    data = json.loads(export(processed, "geojson", tmp_path / "e.geojson").read_text())
    assert data["type"] == "FeatureCollection"
    features = data["features"]
    assert len(features) == len(processed.events)
    for feature in features:
        assert feature["geometry"]["type"] == "Point"
        props = feature["properties"]
        assert {"id", "type", "time", "ellipse95", "attribution", "violations", "evidence"} <= set(
            props
        )
        parse_time(props["time"])
        assert set(props["ellipse95"]) == {"major_m", "minor_m", "azimuth_deg"}
        for v in props["violations"]:
            assert {"rule", "article", "party", "probability"} <= set(v)


def test_geojson_period(processed: Processed, tmp_path: Path):
    times = sorted(parse_time(f["properties"]["time"]) for f in processed.events)
    middle = times[len(times) // 2]
    from truceline.timeutil import format_time

    out = export(processed, "geojson", tmp_path / "e.geojson", "--from", format_time(middle))
    assert len(json.loads(out.read_text())["features"]) == len(times) - len(times) // 2


def test_csv_columns(processed: Processed, tmp_path: Path):
    with export(processed, "csv", tmp_path / "e.csv").open(encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
        rows = list(reader)
    assert len(rows) == len(processed.events)
    for row in rows:
        assert row["event_date"] == "2026-03-02"
        assert row["actor1"] in {"UA", "RU", "undetermined"}
        assert -90 <= float(row["latitude"]) <= 90 and -180 <= float(row["longitude"]) <= 180
        assert row["location"] and row["notes"]
    assert any(" of " in row["location"] for row in rows)


def test_kml_parses_with_placemarks(processed: Processed, tmp_path: Path):
    root = ET.parse(export(processed, "kml", tmp_path / "e.kml")).getroot()
    assert root.tag == f"{KML}kml"
    placemarks = root.findall(f".//{KML}Placemark")
    points = [p for p in placemarks if p.find(f"{KML}Point") is not None]
    assert len(points) == len(processed.events)
    lon, lat, _ = points[0].findtext(f"{KML}Point/{KML}coordinates").split(",")
    assert 36 < float(lon) < 39 and 47 < float(lat) < 49
    assert any(p.find(f"{KML}LineString") is not None for p in placemarks)


@pytest.mark.parametrize("hostile", [(), ("RU",)])
def test_cot_events(processed: Processed, tmp_path: Path, hostile: tuple[str, ...]):
    extra = [a for party in hostile for a in ("--hostile", party)]
    lines = export(processed, "cot", tmp_path / "e.cot", *extra).read_text().splitlines()
    assert len(lines) == len(processed.events)
    major = {
        e["properties"]["id"]: e["properties"]["ellipse95"]["major_m"] for e in processed.events
    }
    types = set()
    for line in lines:
        event = ET.fromstring(line)
        assert event.tag == "event"
        for attribute in ("version", "uid", "type", "time", "start", "stale", "how"):
            assert event.get(attribute), attribute
        assert parse_time(event.get("stale")) > parse_time(event.get("start"))
        point = event.find("point")
        for attribute in ("lat", "lon", "hae", "ce", "le"):
            float(point.get(attribute))
        # ce is one sigma (CoT 2.0), the 95% semi-major axis over sqrt(chi2_2(0.95)).
        event_id = event.find("detail/truceline").get("id")
        assert float(point.get("ce")) == pytest.approx(major[event_id] / 2.4477, abs=0.06)
        assert event.find("detail/remarks").text
        types.add(event.get("type"))
        party = event.find("detail/truceline").get("party")
        assert event.get("type") == ("a-h-G" if party in hostile else "a-u-G")
    assert ("a-h-G" in types) == bool(hostile)
