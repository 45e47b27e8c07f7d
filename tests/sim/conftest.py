"""Simulated runs shared by the simulator tests (each run once per test session)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from truceline.sim import SimulationSummary, simulate
from truceline.sim.scenario import Scenario, parse_scenario, resolve_scenario_path


@dataclass
class Run:
    """A finished simulation and its parsed files."""

    summary: SimulationSummary
    scenario: Scenario
    out: Path

    def lines(self, name: str) -> list[str]:
        return (self.out / name).read_text(encoding="utf-8").splitlines()

    def observations(self) -> list[dict]:
        return [json.loads(line) for line in self.lines("observations.jsonl")]

    def truth(self) -> list[dict]:
        return [json.loads(line) for line in self.lines("truth.jsonl")]

    def sensors(self) -> list[dict]:
        return json.loads((self.out / "sensors.geojson").read_text())["features"]


def scenario_data(name: str = "sector-quick") -> dict:
    return yaml.safe_load(resolve_scenario_path(name).read_text(encoding="utf-8"))


def run_scenario(data: dict, out: Path, seed: int) -> Run:
    scenario = parse_scenario(data, "test")
    return Run(simulate(scenario, seed, out, progress=False), scenario, out)


@pytest.fixture(scope="session")
def quick(tmp_path_factory) -> Run:
    """sector-quick as shipped, seed 1."""
    return run_scenario(scenario_data(), tmp_path_factory.mktemp("quick"), 1)


@pytest.fixture(scope="session")
def busy(tmp_path_factory) -> Run:
    """sector-quick's geometry for an hour at a high rate, for the statistical tests: many
    sources, noisy sensors (5 false alarms per hour), azimuth arrays everywhere."""
    data = scenario_data()
    data["duration_h"] = 1.0
    data["activity"]["parties"]["RU"]["launches_per_hour"] = 500
    data["activity"]["parties"]["UA"]["launches_per_hour"] = 300
    data["activity"]["parties"]["UA"]["profile"] = [
        {"from_h": 0, "factor": 1.0},
        {"from_h": 0.5, "factor": 0.5},
    ]
    for row in data["sensors"]["acoustic"]:
        row["false_alarms_per_hour"] = 5.0
        row["azimuth_fraction"] = 1.0
        row["timing_sigma_s"] = 0.02
    return run_scenario(data, tmp_path_factory.mktemp("busy"), 7)
