"""The report: JSON shape, the printed table, and the `truceline evaluate` command line."""

from __future__ import annotations

import json

import pytest

from truceline.cli import main
from truceline.evaluate import METRIC_GROUPS, evaluate, load

from .conftest import event, write_world

ROW_KEYS = {"key", "label", "value", "unit", "target", "pass", "detail", "note"}


def _no_nan(text: str) -> dict:
    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in JSON")

    return json.loads(text, parse_constant=refuse)


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


def _args(world, *more: str) -> list[str]:
    return ["evaluate", "--truth", str(world.truth), "--events", str(world.events), *more]


def test_json_shape(world, tmp_path, capsys):
    out_file = tmp_path / "scores.json"
    code, _, _ = run(
        _args(
            world,
            "--observations",
            str(world.observations),
            "--sensors",
            str(world.sensors),
            "--json",
            str(out_file),
        ),
        capsys,
    )
    assert code == 0
    data = _no_nan(out_file.read_text())
    assert data["format"] == "truceline-evaluate/1"
    assert set(data) == {
        "format",
        "inputs",
        "matching",
        "noise_model",
        "run",
        "groups",
        "targets",
        "evaluate_elapsed_s",
        "notes",
    }
    assert data["inputs"] == {
        "truth": str(world.truth),
        "events": str(world.events),
        "observations": str(world.observations),
        "sensors": str(world.sensors),
    }
    assert data["matching"]["rule"] == "auto"
    assert "evidence rule" in data["matching"]["description"]
    assert data["matching"]["matches_by_rule"] == {"evidence": 3}
    assert data["matching"]["unmatched_by_reason"] == {"false-alarms": 1}
    assert data["run"] == {"elapsed_s": 1.5}
    assert list(data["groups"]) == [g.name for g in METRIC_GROUPS]
    for group in data["groups"].values():
        assert set(group) == {"title", "metrics", "rows"}
        assert [r["key"] for r in group["rows"]] == list(group["metrics"])
        for row in group["rows"]:
            assert set(row) == ROW_KEYS
    recall = data["groups"]["detection"]["rows"][0]
    assert recall["key"] == "recall" and recall["value"] == 1.0 and recall["pass"] is True
    assert recall["target"] == {"min": 0.98, "max": None, "text": ">= 0.98"}
    assert recall["detail"] == "3/3"
    assert data["targets"]["pass"] is False
    assert data["targets"]["met"] + data["targets"]["missed"] + data["targets"][
        "not_evaluated"
    ] == sum(r["target"] is not None for g in data["groups"].values() for r in g["rows"])


def test_command_prints_the_table_and_the_rule(world, capsys):
    code, stdout, _ = run(
        _args(world, "--observations", str(world.observations), "--sensors", str(world.sensors)),
        capsys,
    )
    assert code == 0
    assert "matching" in stdout and "evidence rule" in stdout
    for text in (
        "precision",
        "recall",
        "ellipse coverage",
        "launch/impact",
        "pairing",
        "Cramér-Rao",
        ">= 0.98",
        "0.93-0.97",
        "<= 1.25",
        "pass",
        "FAIL",
    ):
        assert text in stdout, text


def test_command_without_optional_files_says_what_it_skipped(world, capsys):
    code, stdout, _ = run(_args(world), capsys)
    assert code == 0
    assert "skipped" in stdout and "--observations" in stdout


def test_command_strict_fails_on_a_missed_target(world, capsys):
    code, _, _ = run(_args(world, "--strict"), capsys)
    assert code == 1  # precision 0.75


def test_command_with_empty_events_and_no_ellipses(tmp_path, capsys):
    world = write_world(tmp_path / "empty", events=[])
    code, _, _ = run(_args(world, "--json", str(tmp_path / "e.json")), capsys)
    assert code == 0
    data = _no_nan((tmp_path / "e.json").read_text())
    assert data["groups"]["detection"]["metrics"]["precision"] is None
    assert data["groups"]["counts"]["metrics"]["events"] == 0

    bare = [event("E1", "launch", (37.0, 48.2), 0, ["S1-1", "S2-1", "S3-1"])]
    world = write_world(tmp_path / "bare", events=bare)
    code, _, _ = run(_args(world, "--json", str(tmp_path / "b.json")), capsys)
    assert code == 0
    data = _no_nan((tmp_path / "b.json").read_text())
    assert data["groups"]["location"]["metrics"]["ellipse_coverage"] is None
    assert data["groups"]["counts"]["metrics"]["matched"] == 1


def test_command_proximity_rule(world, capsys):
    code, stdout, _ = run(
        _args(world, "--match", "proximity", "--window-s", "2", "--distance-m", "100"), capsys
    )
    assert code == 0
    assert "proximity rule" in stdout


def test_command_rejects_bad_input(world, tmp_path, capsys):
    code, _, err = run(_args(world, "--match", "nearest"), capsys)
    assert code == 2 and "--match" in err
    bad = tmp_path / "bad.geojson"
    bad.write_text('{"type": "Feature"}')
    code, _, err = run(["evaluate", "--truth", str(world.truth), "--events", str(bad)], capsys)
    assert code == 2 and "FeatureCollection" in err
    code, _, _ = run(
        ["evaluate", "--truth", str(tmp_path / "none.jsonl"), "--events", str(world.events)], capsys
    )
    assert code == 2


def test_noise_model_from_the_scenario_beside_the_truth(world, capsys, tmp_path):
    (world.dir / "scenario.yaml").write_text("acoustics:\n  propagation_jitter_s_per_km: 0.007\n")
    out_file = tmp_path / "s.json"
    code, _, _ = run(_args(world, "--json", str(out_file)), capsys)
    assert code == 0
    noise = json.loads(out_file.read_text())["noise_model"]
    assert noise["propagation_jitter_s_per_km"] == 0.007
    assert noise["origin"].endswith("scenario.yaml")
    code, _, _ = run(
        _args(world, "--json", str(out_file), "--prop-sigma-s-per-km", "0.002"), capsys
    )
    assert code == 0
    assert json.loads(out_file.read_text())["noise_model"]["origin"] == "--prop-sigma-s-per-km"


def test_truth_lines_of_other_types_are_ignored(world):
    report = evaluate(load(world.truth, world.events, world.observations, world.sensors))
    assert {s.type for s in report.inputs.truth} >= {"parked-weapon", "air-track"}
    assert report.metric("counts", "sources") == 4
