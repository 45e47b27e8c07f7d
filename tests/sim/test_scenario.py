"""Scenario files: validation with the file and field named, finding by name, documentation."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from truceline.errors import InputError, UsageError
from truceline.sim.scenario import (
    bundled_scenarios,
    load_scenario,
    parse_scenario,
    reference_markdown,
    resolve_scenario_path,
)

from .conftest import scenario_data

SHIPPED = [
    "attribution-near-line",
    "attribution-one-party",
    "ceasefire-breach",
    "line-heavy-day",
    "sector-day",
    "sector-quick",
]
REPO = Path(__file__).resolve().parents[2]


def test_shipped_scenarios_are_bundled_and_valid():
    assert bundled_scenarios() == SHIPPED
    for name in SHIPPED:
        scenario, path = load_scenario(name)
        assert scenario.name == name
        assert path.name == f"{name}.yaml"


def test_repository_scenarios_point_at_the_bundled_ones():
    for name in SHIPPED:
        assert (REPO / "scenarios" / f"{name}.yaml").resolve() == (
            REPO / "src" / "truceline" / "data" / "scenarios" / f"{name}.yaml"
        ).resolve()


def test_unknown_field_names_file_and_field(tmp_path):
    data = scenario_data()
    data["sensors"]["acoustic"][0]["spacing"] = 1.0
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(InputError) as info:
        load_scenario(path)
    assert any(
        str(path) in line and "sensors.acoustic[0].spacing: unknown field" in line
        for line in info.value.lines()
    )


def test_bad_values_are_all_reported():
    data = scenario_data()
    data["duration_h"] = -1
    data["start"] = "2026-03-02T06:00:00"
    data["activity"]["parties"]["RU"]["mix"] = {"catapult": 1.0}
    with pytest.raises(InputError) as info:
        parse_scenario(data, "x.yaml")
    text = "\n".join(info.value.lines())
    assert "duration_h" in text and "start" in text and "catapult" in text


def test_sector_needs_one_form():
    data = scenario_data()
    data["sector"] = {"around": [37.0, 48.0], "start_km": 3}
    with pytest.raises(InputError, match="either start_km"):
        parse_scenario(data, "x.yaml")


def test_unknown_scenario_name():
    with pytest.raises(UsageError, match="no bundled scenario"):
        resolve_scenario_path("no-such-scenario")


def test_docs_hold_the_generated_reference():
    text = (REPO / "docs" / "scenarios.md").read_text(encoding="utf-8")
    assert reference_markdown() in text, "regenerate: docs/scenarios.md says how"
