"""Fixtures for the ingest tests: a small sensor network, observation lines, and stores on SQLite
(and on PostgreSQL when `TRUCELINE_TEST_POSTGRES_URL` is set, as for the store's own tests)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.store.conftest import store_url  # noqa: F401 (a fixture: SQLite, and PostgreSQL)
from truceline.records import Sensor
from truceline.store import Store, open_store

SENSORS = [
    Sensor(id="A1", kind="acoustic", operator="monitor", lon=37.10, lat=48.30),
    Sensor(id="A2", kind="acoustic", operator="UA", lon=37.12, lat=48.31),
    Sensor(id="W1", kind="weather", operator="monitor", lon=37.05, lat=48.29),
    Sensor(id="R1", kind="radar", operator="RU", lon=37.30, lat=48.40),
]

BASE: dict[str, dict[str, Any]] = {
    "acoustic": {"kind": "acoustic", "sensor": "A1", "snr_db": 19.5, "signal": "launch"},
    "weather": {"kind": "weather", "sensor": "W1", "temperature_c": 2.5, "wind_mps": [4.0, -1.5]},
    "radar_plot": {
        "kind": "radar_plot",
        "sensor": "R1",
        "position": [37.2, 48.35, 1500.0],
        "sigma_m": 50,
        "velocity_mps": [10.0, 2.0, -1.0],
    },
    "radar_track": {
        "kind": "radar_track",
        "sensor": "R1",
        "points": [
            {"time": "2026-03-02T06:00:10Z", "position": [37.20, 48.35, 300.0]},
            {"time": "2026-03-02T06:00:10.5Z", "position": [37.21, 48.35, 420.0]},
        ],
        "sigma_m": 30.0,
        "class": "mortar",
    },
}


def obs(ident: str, base: str = "acoustic", **changes: Any) -> dict[str, Any]:
    """An observation object (contract section 3) of kind `base` with `changes` applied; a value
    of `...` removes the field."""
    obj = {"id": ident, "time": "2026-03-02T06:00:10.25Z", **BASE[base]}
    obj = {key: obj.pop(key) for key in ("id", "kind", "sensor", "time")} | obj
    for key, value in changes.items():
        if value is ...:
            obj.pop(key, None)
        else:
            obj[key] = value
    return obj


def line(ident: str, base: str = "acoustic", **changes: Any) -> str:
    """`obs(...)` as one compact JSON line, without the newline."""
    return json.dumps(obs(ident, base, **changes), separators=(",", ":"))


def good_lines(n: int, start: int = 0) -> list[str]:
    """`n` valid acoustic lines a second apart, ids `ok-START` on."""
    return [
        line(f"ok-{i}", time=f"2026-03-02T06:{(i // 60) % 60:02d}:{i % 60:02d}.5Z")
        for i in range(start, start + n)
    ]


@pytest.fixture
def sensors() -> list[Sensor]:
    return list(SENSORS)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:  # noqa: F811
    with open_store(store_url, batch_size=50) as opened:
        yield opened
