"""Radar scores count only what the run's observations cover (a time slice of a day)."""

from __future__ import annotations

import json

import pytest

from truceline.evaluate import Context, evaluate, load
from truceline.timeutil import format_time

T0 = 1_772_500_000 * 10**9
S = 10**9


def _object(oid: str, start_s: float, lon0: float, crossing_s: float) -> tuple[dict, list[dict]]:
    """An air object flying east 10 plots, one every 10 s, crossing (`UA->RU`) at crossing_s."""
    plots, path = [], []
    for k in range(10):
        t = T0 + round((start_s + 10 * k) * S)
        lon = lon0 + 0.001 * k
        path.append([lon, 48.0, 500.0, format_time(t)])
        plots.append(
            {
                "id": f"{oid}-P{k}",
                "kind": "radar_plot",
                "sensor": "AR1",
                "time": format_time(t),
                "position": [lon, 48.0, 500.0],
                "sigma_m": 50,
            }
        )
    crossing_t = T0 + round(crossing_s * S)
    truth = {
        "id": oid,
        "type": "air-track",
        "time": path[0][3],
        "position": path[0][:2],
        "party": "UA",
        "weapon": "fpv-drone",
        "observations": [p["id"] for p in plots],
        "path": path,
        "crossings": [
            {"time": format_time(crossing_t), "position": [lon0, 48.0], "direction": "UA->RU"}
        ],
    }
    return truth, plots


def _track(truth: dict, plots: list[dict]) -> dict:
    """A perfect air-track event of the object: its plots, its path, its crossing."""
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": truth["position"]},
        "properties": {
            "id": f"AT-{plots[0]['id']}",
            "type": "air-track",
            "time": truth["time"],
            "evidence": [p["id"] for p in plots],
            "path": truth["path"],
            "crossings": [dict(c, boundary="line") for c in truth["crossings"]],
        },
    }


@pytest.fixture
def day(tmp_path):
    """A: early, tracked; B: two hours later, outside the slice; C: half in the slice, its
    crossing after the slice ends."""
    a, a_plots = _object("A", 0.0, 37.0, 45.0)
    b, _ = _object("B", 7200.0, 37.2, 7245.0)
    c, c_plots = _object("C", 40.0, 37.4, 125.0)
    (tmp_path / "truth.jsonl").write_text("\n".join(json.dumps(o) for o in (a, b, c)) + "\n")
    c_seen = c_plots[:6]  # 40-90 s: the slice ends at 95 s
    events = {"type": "FeatureCollection", "features": [_track(a, a_plots), _track(c, c_seen)]}
    events["features"][1]["properties"]["crossings"] = []
    (tmp_path / "events.geojson").write_text(json.dumps(events))
    slice_lines = [p for p in a_plots + c_plots if p["time"] <= format_time(T0 + 95 * S)]
    (tmp_path / "slice.jsonl").write_text("\n".join(json.dumps(p) for p in slice_lines) + "\n")
    return tmp_path


def _groups(path, observations: str | None):
    inputs = load(
        path / "truth.jsonl",
        path / "events.geojson",
        path / observations if observations else None,
    )
    return evaluate(inputs, context=Context(inputs)).as_dict()["groups"]


def test_objects_and_crossings_outside_the_observations_do_not_count(day):
    groups = _groups(day, "slice.jsonl")
    air, crossings = groups["air_tracks"]["metrics"], groups["crossings"]["metrics"]
    assert air["completeness"] == 1.0  # A and C; B was never in the run's observations
    assert air["duplicate_tracks"] == 0
    assert crossings["crossing_recall"] == 1.0  # A's; C crossed after its last plot in the slice
    assert crossings["crossing_precision"] == 1.0
    rows = {r["key"]: r for r in groups["air_tracks"]["rows"]}
    assert rows["completeness"]["detail"] == "2/2"


def test_without_observations_every_object_counts(day):
    groups = _groups(day, None)
    air, crossings = groups["air_tracks"]["metrics"], groups["crossings"]["metrics"]
    assert air["completeness"] == pytest.approx(2 / 3)  # B is missed
    assert crossings["crossing_recall"] == pytest.approx(1 / 3)  # B's and C's are missed
