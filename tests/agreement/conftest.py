"""A small synthetic agreement (two 2x2 degree squares sharing the 32 E meridian) to break."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

BASE_AGREEMENT = {
    "name": "Test ceasefire",
    "effective": "2026-03-01T00:00:00Z",
    "parties": [{"id": "UA", "name": "Ukraine"}, {"id": "RU", "name": "Russian Federation"}],
    "areas": "areas.geojson",
    "rules": [
        {"id": "no-fire", "article": "1", "kind": "no-fire"},
        {"id": "no-crossing", "article": "2", "kind": "no-crossing"},
        {
            "id": "heavy-artillery",
            "article": "3",
            "kind": "withdrawal",
            "classes": ["artillery-100mm-plus"],
            "min_distance_km": 25,
        },
        {"id": "buffer", "article": "4", "kind": "zone-exclusion", "zone": "buffer-zone"},
    ],
}


def square(lon0: float, lat0: float, lon1: float, lat1: float) -> dict:
    return {
        "type": "Polygon",
        "coordinates": [[[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]],
    }


def base_areas() -> dict:
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"role": "control", "party": "UA"},
                "geometry": square(30, 47, 32, 49),
            },
            {
                "type": "Feature",
                "properties": {"role": "control", "party": "RU"},
                "geometry": square(32, 47, 34, 49),
            },
            {
                "type": "Feature",
                "properties": {"role": "zone", "id": "buffer-zone"},
                "geometry": square(31.97, 47, 32.03, 49),
            },
        ],
    }


WriteAgreement = Callable[..., Path]


@pytest.fixture
def write_agreement(tmp_path: Path) -> WriteAgreement:
    """Write agreement.yaml + areas.geojson, after `edit(agreement, areas)` changes them."""

    def write(
        edit: Callable[[dict, dict], None] | None = None,
        *,
        yaml_text: str | None = None,
        areas_text: str | None = None,
    ) -> Path:
        agreement, areas = copy.deepcopy(BASE_AGREEMENT), base_areas()
        if edit is not None:
            edit(agreement, areas)
        path = tmp_path / "agreement.yaml"
        path.write_text(yaml_text if yaml_text is not None else yaml.safe_dump(agreement))
        (tmp_path / "areas.geojson").write_text(
            areas_text if areas_text is not None else json.dumps(areas, indent=1)
        )
        return path

    return write
