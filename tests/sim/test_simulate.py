"""Simulator output: determinism, the contract's formats, truth, placement, counts and rates."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from scipy.stats import poisson

from truceline.agreement import load_agreement
from truceline.cli import main
from truceline.sim.activity import NS
from truceline.timeutil import parse_time

from .conftest import Run, run_scenario, scenario_data

FILES = (
    "agreement.yaml",
    "areas.geojson",
    "sensors.geojson",
    "observations.jsonl",
    "truth.jsonl",
    "scenario.yaml",
    "truth_summary.json",
)


def test_same_seed_byte_identical_other_seed_differs(quick: Run, tmp_path):
    again = run_scenario(scenario_data(), tmp_path / "again", 1)
    for name in FILES:
        assert (again.out / name).read_bytes() == (quick.out / name).read_bytes(), name
    other = run_scenario(scenario_data(), tmp_path / "other", 2)
    for name in ("sensors.geojson", "observations.jsonl", "truth.jsonl"):
        assert (other.out / name).read_bytes() != (quick.out / name).read_bytes(), name


def test_command_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(
            [
                "simulate",
                "--scenario",
                "sector-quick",
                "--seed",
                "1",
                "--out",
                str(tmp_path),
                "--no-progress",
                "--json",
            ]
        )
    assert info.value.code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["scenario"] == "sector-quick" and summary["seed"] == 1
    for name in FILES:
        assert (tmp_path / name).is_file()
    assert load_agreement(tmp_path / "agreement.yaml").name == "Illustrative ceasefire 2026"


def test_command_line_help_and_bad_scenario(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["simulate", "--help"])
    assert info.value.code == 0
    assert "--scenario" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nstart: '2026-03-01T00:00:00Z'\nduration_h: 1\n")
    with pytest.raises(SystemExit) as info:
        main(["simulate", "--scenario", str(bad), "--out", str(tmp_path / "o")])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "sensors" in err and "activity" in err


def test_observations_follow_the_contract(quick: Run):
    names = {f["properties"]["id"]: f["properties"] for f in quick.sensors()}
    seen: dict[str, str] = {}
    resent = 0
    for line in quick.lines("observations.jsonl"):
        obs = json.loads(line)
        if obs["id"] in seen:
            assert seen[obs["id"]] == line, "a re-send must be an identical line"
            resent += 1
            continue
        seen[obs["id"]] = line
        assert obs["sensor"] in names
        assert obs["time"].endswith("Z")
        parse_time(obs["time"])
        kind = obs["kind"]
        assert names[obs["sensor"]]["kind"] == {"acoustic": "acoustic", "weather": "weather"}.get(
            kind, "radar"
        )
        if kind == "acoustic":
            assert obs["signal"] in ("launch", "impact", "unknown")
            assert isinstance(obs["snr_db"], float)
            if "azimuth_deg" in obs:
                assert 0 <= obs["azimuth_deg"] < 360 and obs["azimuth_sigma_deg"] > 0
        elif kind == "radar_track":
            assert obs["class"] in ("shell", "rocket", "mortar") and obs["sigma_m"] > 0
            assert obs["points"] and obs["points"][0]["time"] == obs["time"]
            for p in obs["points"]:
                parse_time(p["time"])
                assert len(p["position"]) == 3
        elif kind == "radar_plot":
            assert len(obs["position"]) == 3 and obs["sigma_m"] > 0
            assert len(obs.get("velocity_mps", [0, 0, 0])) == 3
        else:
            assert kind == "weather" and len(obs["wind_mps"]) == 2
            assert isinstance(obs["temperature_c"], float)
    assert resent == quick.summary.resent > 0
    assert set(quick.summary.observations) == {"acoustic", "radar_track", "radar_plot", "weather"}


def test_delivery_is_out_of_order_with_late_lines(quick: Run):
    times = np.array([parse_time(o["time"]) for o in quick.observations()])
    assert np.any(np.diff(times) < 0)
    running_max = np.maximum.accumulate(times)
    assert np.max(running_max - times) > 60 * NS  # some arrive more than a minute late
    assert quick.summary.late > 0


def test_truth_references_existing_observations(quick: Run):
    ids = {o["id"] for o in quick.observations()}
    truth = quick.truth()
    caused = [i for t in truth for i in t["observations"]]
    assert len(caused) == len(set(caused)), "an observation has one cause at most"
    assert set(caused) <= ids
    by_id = {t["id"]: t for t in truth}
    assert len(by_id) == len(truth)
    for t in truth:
        assert {"id", "type", "time", "position", "party", "weapon", "observations"} <= t.keys()
        parse_time(t["time"])
        if t["type"] in ("launch", "impact") and "paired" in t:
            other = by_id[t["paired"]]
            assert other["paired"] == t["id"] and other["shot"] == t["shot"]
        if t["type"] == "air-track":
            assert len(t["path"]) >= 2 and all(len(p) == 4 for p in t["path"])
            if t.get("impact"):
                assert by_id[t["impact"]]["air_track"] == t["id"]
    weather = {o["id"] for o in quick.observations() if o["kind"] == "weather"}
    false_alarms = len(ids - set(caused) - weather)
    assert false_alarms == quick.summary.false_alarms


def test_launches_on_own_side_impacts_across(quick: Run):
    agreement = load_agreement("illustrative-2026")
    truth = quick.truth()
    launches = [t for t in truth if t["type"] == "launch"]
    impacts = [t for t in truth if t["type"] == "impact" and "paired" in t]
    assert launches and impacts
    lon, lat = np.array([t["position"] for t in launches]).T
    assert list(agreement.party_at(lon, lat)) == [t["party"] for t in launches]
    lon, lat = np.array([t["aim"] for t in launches]).T
    other = {"UA": "RU", "RU": "UA"}
    assert list(agreement.party_at(lon, lat)) == [other[t["party"]] for t in launches]
    lon, lat = np.array([t["position"] for t in impacts]).T
    across = agreement.party_at(lon, lat) == np.array([other[t["party"]] for t in impacts])
    assert across.mean() >= 0.98
    for t in launches:
        assert t["time_of_flight_s"] > 0
        tof_ns = parse_time(
            next(i for i in impacts if i["id"] == t["paired"])["time"]
        ) - parse_time(t["time"])
        assert abs(tof_ns / NS - t["time_of_flight_s"]) < 1e-3


def test_crossings_of_air_tracks(quick: Run):
    tracks = [t for t in quick.truth() if t["type"] == "air-track"]
    crossing = [t for t in tracks if t["crossings"]]
    assert crossing, "some drones cross the line"
    for t in crossing:
        first = t["crossings"][0]
        assert first["direction"] == f"{t['party']}->{'RU' if t['party'] == 'UA' else 'UA'}"
        assert (
            parse_time(t["path"][0][3]) < parse_time(first["time"]) < parse_time(t["path"][-1][3])
        )


def _expected_launches(run: Run, party: str) -> tuple[float, float, float]:
    """Mean barrages, mean launches and the variance of launches (compound Poisson)."""
    from truceline.sim.scenario import FIRE_TACTICS

    act = run.scenario.activity.parties[party]
    hours = run.scenario.duration_h
    steps = [*sorted(act.profile, key=lambda s: s.from_h)]
    exposure = 0.0
    for i, s in enumerate(steps):
        end = steps[i + 1].from_h if i + 1 < len(steps) else hours
        exposure += s.factor * max(0.0, min(end, hours) - s.from_h)
    total = sum(act.mix.values())
    barrages = launches = var = 0.0
    for wid, weight in act.mix.items():
        m = FIRE_TACTICS[wid].rounds_mean
        lam = act.launches_per_hour * weight / total * exposure / m
        barrages += lam
        launches += lam * m
        var += lam * ((m - 1) + m * m)
    return barrages, launches, var


def test_counts_per_party_match_rates(busy: Run):
    truth = busy.truth()
    for party in ("RU", "UA"):
        mine = [t for t in truth if t["type"] == "launch" and t["party"] == party]
        mean_b, mean_l, var_l = _expected_launches(busy, party)
        barrages = len({t["barrage"] for t in mine})
        assert abs(barrages - mean_b) <= 3 * np.sqrt(mean_b), (party, barrages, mean_b)
        assert abs(len(mine) - mean_l) <= 3 * np.sqrt(var_l), (party, len(mine), mean_l)


def test_false_alarm_count_matches_rate(busy: Run):
    caused = {i for t in busy.truth() for i in t["observations"]}
    acoustic = {o["id"] for o in busy.observations() if o["kind"] == "acoustic"}
    count = len(acoustic - caused)
    expected = (
        sum(5.0 for f in busy.sensors() if f["properties"]["kind"] == "acoustic")
        * busy.scenario.duration_h
    )
    lo, hi = poisson.ppf([0.00135, 0.99865], expected)
    assert lo <= count <= hi, (count, expected)


def test_labels_are_wrong_at_the_configured_rate(busy: Run):
    obs = {o["id"]: o for o in busy.observations()}
    counts: Counter[str] = Counter()
    for t in busy.truth():
        if t["type"] not in ("launch", "impact"):
            continue
        for i in t["observations"]:
            o = obs[i]
            if o["kind"] != "acoustic":
                continue
            counts["all"] += 1
            counts[
                "unknown"
                if o["signal"] == "unknown"
                else "right"
                if o["signal"] == t["type"]
                else "wrong"
            ] += 1
    spec = busy.scenario.acoustics
    n = counts["all"]
    for key, p in (("wrong", spec.label_error_fraction), ("unknown", spec.label_unknown_fraction)):
        assert abs(counts[key] - n * p) <= 3 * np.sqrt(n * p * (1 - p)), (key, counts)
