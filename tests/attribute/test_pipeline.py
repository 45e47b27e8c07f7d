"""Through `truceline process` on a small scenario: attribution and violations reach
events.geojson and the store, and `truceline review` keeps every decision beside the automatic
result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from truceline.cli import main
from truceline.store import open_store


def run(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0, argv
    return capsys.readouterr().out


def test_process_attributes_and_review_keeps_history(tmp_path: Path, capsys):
    sim = tmp_path / "sim"
    run(["simulate", "--scenario", "sector-quick", "--seed", "3", "--out", str(sim)], capsys)
    db = str(tmp_path / "t.db")
    run(
        ["--db", db, "process", "--agreement", str(sim / "agreement.yaml"),
         "--sensors", str(sim / "sensors.geojson"), "--observations",
         str(sim / "observations.jsonl"), "--out", str(tmp_path), "--no-progress", "--json"],
        capsys,
    )  # fmt: skip
    features = json.loads((tmp_path / "events.geojson").read_text())["features"]
    props = [f["properties"] for f in features]
    attributed = [p for p in props if p["attribution"]]
    assert len(attributed) >= 0.9 * len(props)
    assert all(set(p["attribution"]) <= {"UA", "RU"} for p in attributed)
    assert all(sum(p["attribution"].values()) <= 1 + 1e-6 for p in attributed)
    assert all(p["attribution_detail"]["words"] for p in attributed)
    violations = [v for p in props for v in p["violations"]]
    assert {v["rule"] for v in violations} >= {"no-fire"}
    assert all({"rule", "article", "party", "probability"} <= set(v) for v in violations)

    with open_store(db) as store:
        stored = store.violations()
        assert {v.id for v in stored} == {v["id"] for v in violations}
        event = store.event(props[0]["id"])
        assert dict(event.attribution) == pytest.approx(props[0]["attribution"], abs=1e-6)

    target = violations[0]["id"]
    review = ["--db", db, "review", target]
    run([*review, "--status", "confirmed", "--reason", "radar agrees", "--by", "alice"], capsys)
    run([*review, "--status", "rejected", "--reason", "echo", "--by", "bob"], capsys)
    shown = json.loads(run([*review, "--json"], capsys))
    assert [r["status"] for r in shown["reviews"]] == ["confirmed", "rejected"]
    assert [r["by"] for r in shown["reviews"]] == ["alice", "bob"]
    assert shown["status"] == "rejected"
    assert shown["automatic"]["evaluation_mode"] == "automatic"
    assert shown["automatic"]["evaluation_status"] == "preliminary"
    assert shown["automatic"]["probability"] == violations[0]["probability"]
    with pytest.raises(SystemExit) as info:
        main([*review, "--status", "confirmed"])
    assert info.value.code == 2


def test_evaluate_reports_violations_and_attribution(tmp_path: Path, capsys):
    sim = tmp_path / "sim"
    run(["simulate", "--scenario", "sector-quick", "--seed", "4", "--out", str(sim)], capsys)
    run(
        ["--db", str(tmp_path / "t.db"), "process", "--agreement", str(sim / "agreement.yaml"),
         "--sensors", str(sim / "sensors.geojson"), "--observations",
         str(sim / "observations.jsonl"), "--out", str(tmp_path), "--no-progress", "--json"],
        capsys,
    )  # fmt: skip
    out = tmp_path / "evaluation.json"
    run(
        ["evaluate", "--truth", str(sim / "truth.jsonl"), "--events",
         str(tmp_path / "events.geojson"), "--json", str(out)],
        capsys,
    )  # fmt: skip
    groups = json.loads(out.read_text())["groups"]
    att = groups["attribution"]["metrics"]
    assert att["accuracy_far_launches"] >= 0.97
    assert att["ece"] <= 0.05
    assert groups["violations"]["metrics"]["recall_no-fire"] >= 0.98
