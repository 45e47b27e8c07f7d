"""`process` on a feed with bad lines: nothing crashes, nothing vanishes, re-sends are no-ops."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from truceline.cli import main

BAD_LINES = [
    "this is not json",
    '{"id": "x1", "kind": "acoustic", "sensor": "NO-SUCH-SENSOR", "time": "2026-03-02T06:10:00Z"}',
    '{"id": "x2", "kind": "acoustic", "sensor": "%s", "time": "2026-03-02T06:10:00"}',
    '{"id": "x3", "kind": "acoustic", "sensor": "%s", "time": "2026-03-02T06:10:00Z", '
    '"snr_db": NaN}',
    '{"id": "x4", "kind": "seismic", "sensor": "%s", "time": "2026-03-02T06:10:00Z"}',
    '{"id": "x5", "kind": "acoustic", "sensor": "%s", "time": "1970-01-01T00:00:00Z"}',
    '{"id": "x6", "kind": "acoustic", "sensor": "%s"}',
]


def run(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0, argv


def test_bad_lines_are_quarantined_and_resends_are_noops(tmp_path: Path, capsys):
    sim = tmp_path / "sim"
    run(
        [
            "simulate",
            "--scenario",
            "sector-quick",
            "--seed",
            "2",
            "--out",
            str(sim),
            "--no-progress",
        ]
    )
    good = (sim / "observations.jsonl").read_text().splitlines()
    sensor = json.loads((sim / "sensors.geojson").read_text())["features"][0]["properties"]["id"]
    bad = [line.replace("%s", sensor) for line in BAD_LINES]
    feed = tmp_path / "feed.jsonl"
    # Bad lines in the middle, then the first 100 good lines sent again.
    feed.write_text("\n".join(good[:500] + bad + good[500:] + good[:100]) + "\n")
    db = str(tmp_path / "t.db")
    args = [
        "--db",
        db,
        "process",
        "--agreement",
        str(sim / "agreement.yaml"),
        "--sensors",
        str(sim / "sensors.geojson"),
        "--observations",
        str(feed),
        "--out",
        str(tmp_path / "out"),
        "--no-progress",
        "--json",
    ]
    capsys.readouterr()
    run(args)
    summary = json.loads(capsys.readouterr().out)
    ingest = summary["ingest"]
    assert ingest["lines"] == len(good) + len(bad) + 100
    assert ingest["quarantined_total"] == len(bad)
    assert set(ingest["quarantined"]) == {
        "malformed-json",
        "unknown-sensor",
        "bad-time",
        "non-finite",
        "unknown-kind",
        "out-of-window",
        "missing-field",
    }
    assert (
        ingest["accepted"] + ingest["duplicates"] + ingest["quarantined_total"] + ingest["blank"]
        == ingest["lines"]
    )
    assert summary["events"] > 50
    # The same feed again: everything is already stored; the events come out the same.
    first = json.loads((tmp_path / "out" / "events.geojson").read_text())["features"]
    run(args)
    again = json.loads(capsys.readouterr().out)
    assert again["ingest"]["accepted"] == 0
    second = json.loads((tmp_path / "out" / "events.geojson").read_text())["features"]
    assert [f["properties"]["id"] for f in first] == [f["properties"]["id"] for f in second]
    # On the terminal, a run into a store that already holds its observations says so.
    run([a for a in args if a != "--json"])
    table = capsys.readouterr().out
    assert "already stored by an earlier run" in table
    assert "already in the store" in table and "t.db" in table
