"""`truceline ingest`: the summary table, exit codes, and the run recorded in the store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.ingest.conftest import good_lines, line
from tests.ingest.test_sensors import collection, feature
from truceline.cli import main
from truceline.store import open_store


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    sensors = tmp_path / "sensors.geojson"
    sensors.write_text(collection(feature("A1"), feature("W1", kind="weather")), encoding="utf-8")
    observations = tmp_path / "observations.jsonl"
    lines = [*good_lines(8), line("u", sensor="A-17"), "", "{oops", good_lines(1)[0]]
    observations.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return sensors, observations


def run(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    out, err = capsys.readouterr()
    return info.value.code, out, err


def test_ingest_prints_the_summary_and_exits_0(files, tmp_path, capsys):
    sensors, observations = files
    db = tmp_path / "t.db"
    args = [
        "--db",
        str(db),
        "ingest",
        "--sensors",
        str(sensors),
        "--observations",
        str(observations),
        "--no-progress",
    ]
    code, out, _ = run(args, capsys)
    assert code == 0
    assert "quarantined: unknown-sensor" in out and "unknown sensor 'A-17'" in out
    assert "quarantined: malformed-json" in out and "observations.jsonl:11" in out
    code, out, _ = run([*args, "--json"], capsys)
    summary = json.loads(out)
    assert code == 0 and summary["accepted"] == 0 and summary["duplicates_in_store"] == 8
    assert summary["quarantined"] == {"malformed-json": 1, "unknown-sensor": 1}
    assert summary["lines"] == 12 and summary["blank"] == 1 and summary["duplicates_in_run"] == 1
    with open_store(db) as store:
        assert store.observation_count() == 8
        run_record = store.run(summary["run_id"])
        assert run_record.command == "ingest" and run_record.summary["lines"] == 12


def test_broken_sensors_exit_2_one_line_per_problem(files, tmp_path, capsys):
    _, observations = files
    sensors = tmp_path / "broken.geojson"
    sensors.write_text(collection(feature("A1", timing_sigma_s=0), feature("A1", kind=...)))
    code, _, err = run(
        [
            "--db",
            str(tmp_path / "t.db"),
            "ingest",
            "--sensors",
            str(sensors),
            "--observations",
            str(observations),
        ],
        capsys,
    )
    assert code == 2
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 3
    assert "feature 0 (A1): properties.timing_sigma_s should be greater than 0" in lines[0]
    assert "feature 1 (A1): missing properties.kind" in lines[1]
    assert "feature 1 (A1): duplicate id 'A1'" in lines[2]
    assert not (tmp_path / "t.db").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--since", "2026-03-02T06:00:00Z"], "--since and --until go together"),
        (["--since", "2026-03-02T06:00:00Z", "--until", "2026-03-02T05:00:00Z"], "later than"),
        (["--since", "yesterday", "--until", "2026-03-02T05:00:00Z"], "'yesterday'"),
    ],
)
def test_bad_window_is_a_usage_error(files, tmp_path, capsys, extra, message):
    sensors, observations = files
    code, _, err = run(
        [
            "--db",
            str(tmp_path / "t.db"),
            "ingest",
            "--sensors",
            str(sensors),
            "--observations",
            str(observations),
            *extra,
        ],
        capsys,
    )
    assert code == 2 and message in err


def test_given_window(files, tmp_path, capsys):
    sensors, observations = files
    code, out, _ = run(
        [
            "--db",
            str(tmp_path / "t.db"),
            "ingest",
            "--sensors",
            str(sensors),
            "--observations",
            str(observations),
            "--since",
            "2026-03-02T06:00:00Z",
            "--until",
            "2026-03-02T06:00:04Z",
            "--json",
        ],
        capsys,
    )
    summary = json.loads(out)
    assert code == 0 and summary["accepted"] == 4
    assert summary["quarantined"]["out-of-window"] == 4 and "(given)" in summary["window"]


def test_missing_observations_file(files, tmp_path, capsys):
    sensors, _ = files
    code, _, err = run(
        [
            "--db",
            str(tmp_path / "t.db"),
            "ingest",
            "--sensors",
            str(sensors),
            "--observations",
            str(tmp_path / "nope.jsonl"),
        ],
        capsys,
    )
    assert code == 2 and "not found" in err


def test_help(capsys):
    code, out, _ = run(["ingest", "--help"], capsys)
    assert code == 0 and "--observations" in out
