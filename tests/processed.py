"""A small processed store for the report and export tests: `sector-quick` simulated, processed
with a signing key, evaluated, and one event reviewed by an analyst."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from truceline.cli import main


@dataclass(frozen=True)
class Processed:
    root: Path
    db: str
    key: Path
    sim: Path
    evaluation: Path
    events: list[dict]
    reviewed: str

    def cli(self, *argv: str) -> list[str]:
        return ["--db", self.db, "--set", f"ledger.key_path={self.key}", *argv]


def run(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0, argv


def build(root: Path) -> Processed:
    sim = root / "sim"
    run(["simulate", "--scenario", "sector-quick", "--seed", "2", "--out", str(sim)])
    key = root / "monitor.key"
    run(["keys", "init", str(key)])
    db = str(root / "t.db")
    common = ["--db", db, "--set", f"ledger.key_path={key}"]
    run(
        [*common, "process", "--agreement", str(sim / "agreement.yaml"),
         "--sensors", str(sim / "sensors.geojson"), "--observations",
         str(sim / "observations.jsonl"), "--out", str(root), "--no-progress", "--json"]
    )  # fmt: skip
    evaluation = root / "evaluation.json"
    run(
        ["evaluate", "--truth", str(sim / "truth.jsonl"), "--events",
         str(root / "events.geojson"), "--json", str(evaluation)]
    )  # fmt: skip
    events = json.loads((root / "events.geojson").read_text())["features"]
    reviewed = events[0]["properties"]["id"]
    run(
        ["--db", db, "review", reviewed, "--status", "confirmed", "--reason", "radar agrees",
         "--by", "analyst-a"]
    )  # fmt: skip
    return Processed(root, db, key, sim, evaluation, events, reviewed)
