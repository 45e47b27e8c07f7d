"""A synthetic agreement for attribution tests: UA west and RU east of the 32 E meridian
(47-49 N), a buffer zone 0.03 deg either side, and events made by hand."""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from tests.agreement.conftest import BASE_AGREEMENT, base_areas
from truceline.agreement import Agreement, load_agreement
from truceline.records import (
    Ellipse,
    EvaluationMode,
    EvaluationStatus,
    Event,
    Origin,
    Provenance,
)
from truceline.timeutil import parse_time

EFFECTIVE_NS = parse_time("2026-03-01T00:00:00Z")
HOUR_NS = 3600 * 10**9
M_PER_DEG_LON = 74_510.0  # at 48 N on the ellipsoid


@pytest.fixture(scope="session")
def agreement(tmp_path_factory) -> Agreement:
    path = tmp_path_factory.mktemp("agreement")
    terms = copy.deepcopy(BASE_AGREEMENT)
    (path / "agreement.yaml").write_text(yaml.safe_dump(terms))
    (path / "areas.geojson").write_text(json.dumps(base_areas()))
    return load_agreement(path / "agreement.yaml")


def make_event(
    event_id: str,
    lon: float,
    lat: float = 48.0,
    *,
    type: str = "launch",
    sigma_m: float = 100.0,
    time_ns: int = EFFECTIVE_NS + HOUR_NS,
    paired: str | None = None,
    operators: dict[str, int] | None = None,
    p_launch: float | None = None,
    weapon: str | None = None,
    path=None,
) -> Event:
    props: dict = {"sensors_by_operator": operators or {"monitor": 6}}
    if p_launch is not None:
        props["p_launch_from_labels"] = p_launch
    if weapon is not None:
        props["weapon_fit"] = {"class": weapon, "tof_z": 0.1}
    var = sigma_m**2
    return Event(
        id=event_id,
        type=type,
        origin=Origin(
            lon=lon,
            lat=lat,
            time_ns=time_ns,
            ellipse95=Ellipse(2.45 * sigma_m, 2.45 * sigma_m, 0.0),
            covariance=((var, 0.0, 0.0), (0.0, var, 0.0), (0.0, 0.0, 0.01)),
            n_sensors=6,
        ),
        provenance=Provenance(
            EvaluationMode.AUTOMATIC, EvaluationStatus.PRELIMINARY, "test", 0, "test"
        ),
        paired=paired,
        path=path,
        properties=props,
    )


def east_of_line(km: float) -> float:
    """Longitude `km` east of the line (negative: west) at 48 N."""
    return 32.0 + km * 1e3 / M_PER_DEG_LON
