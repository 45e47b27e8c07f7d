"""Bundled geography of Ukraine: the outline, the first-level units and the settlements.

The files live in `truceline/data/geography/` (written by `tools/build_geography.py`; sources and
licences in its `LICENSES.md`) and are read through `importlib.resources`, so a plain, non-editable
install works. Every loader reads its file once and caches the result. Coordinates are WGS 84
longitude and latitude in degrees.

>>> oblast_at(37.8478, 48.3948)
'Donetsk oblast'
>>> oblast_at(34.10, 44.95)
'Autonomous Republic of Crimea'
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from shapely.geometry import shape

__all__ = [
    "Oblast",
    "Settlement",
    "Settlements",
    "oblast_at",
    "oblasts",
    "oblasts_at",
    "region_label",
    "settlements",
    "ukraine_outline",
]

DATA_PACKAGE = "truceline"
DATA_DIR = ("data", "geography")

KINDS = ("oblast", "city", "autonomous republic")


def region_label(name: str, kind: str) -> str:
    """The phrase a first-level unit goes by: "Donetsk oblast", "Kyiv city", "Autonomous Republic
    of Crimea". Unique across the 27 units (Kyiv oblast and Kyiv city differ)."""
    return name if kind == "autonomous republic" else f"{name} {kind}"


@dataclass(frozen=True)
class Oblast:
    """One first-level administrative unit: an oblast, a city with special status (Kyiv,
    Sevastopol) or the Autonomous Republic of Crimea. `geometry` is in WGS 84 degrees."""

    adm1_code: str  # Natural Earth admin-1 code, e.g. "UKR-327"
    name: str  # modern official romanisation, e.g. "Donetsk"
    kind: str  # "oblast", "city" or "autonomous republic"
    geometry: shapely.Polygon | shapely.MultiPolygon

    @property
    def label(self) -> str:
        """The unit in text, e.g. "Donetsk oblast"."""
        return region_label(self.name, self.kind)


@dataclass(frozen=True)
class Settlement:
    """One populated place from GeoNames; `oblast` is its unit's label ("Donetsk oblast")."""

    geonameid: int
    name: str
    lon: float  # degrees east
    lat: float  # degrees north
    population: int
    oblast: str
    alt_names: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.name} ({self.oblast})"


@dataclass(frozen=True, eq=False)
class Settlements:
    """Settlements as parallel NumPy arrays, one element per place, for vectorised work.

    `lon`/`lat` are degrees, `population` people, `oblast` the unit label; `alt_names` holds
    '|'-joined Latin-script alternate names (former names, other romanisations).
    """

    geonameid: NDArray[np.int64]
    name: NDArray[np.str_]
    alt_names: NDArray[np.str_]
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    population: NDArray[np.int64]
    oblast: NDArray[np.str_]

    def __len__(self) -> int:
        return len(self.geonameid)

    def __getitem__(self, index: int) -> Settlement:
        i = int(index)
        alt = str(self.alt_names[i])
        return Settlement(
            geonameid=int(self.geonameid[i]),
            name=str(self.name[i]),
            lon=float(self.lon[i]),
            lat=float(self.lat[i]),
            population=int(self.population[i]),
            oblast=str(self.oblast[i]),
            alt_names=tuple(alt.split("|")) if alt else (),
        )

    def select(self, mask: ArrayLike) -> Settlements:
        """The subset selected by a boolean mask or an index array."""
        sel = np.asarray(mask)
        return Settlements(
            geonameid=self.geonameid[sel],
            name=self.name[sel],
            alt_names=self.alt_names[sel],
            lon=self.lon[sel],
            lat=self.lat[sel],
            population=self.population[sel],
            oblast=self.oblast[sel],
        )


def _read_text(filename: str) -> str:
    return resources.files(DATA_PACKAGE).joinpath(*DATA_DIR, filename).read_text(encoding="utf-8")


@cache
def ukraine_outline() -> shapely.Polygon | shapely.MultiPolygon:
    """Ukraine's outline including Crimea (Natural Earth 1:50m via visionscarto), WGS 84."""
    collection = json.loads(_read_text("ukraine.geojson"))
    return shape(collection["features"][0]["geometry"])


@cache
def oblasts() -> tuple[Oblast, ...]:
    """The 27 first-level units (24 oblasts, Kyiv and Sevastopol cities, Crimea), by adm1_code."""
    collection = json.loads(_read_text("oblasts.geojson"))
    return tuple(
        Oblast(
            adm1_code=f["properties"]["adm1_code"],
            name=f["properties"]["name"],
            kind=f["properties"]["kind"],
            geometry=shape(f["geometry"]),
        )
        for f in collection["features"]
    )


@cache
def settlements() -> Settlements:
    """GeoNames' Ukrainian places of 500 people or more (5,488), in geonameid order."""
    rows = list(csv.DictReader(io.StringIO(_read_text("settlements.csv"))))
    return Settlements(
        geonameid=np.array([int(r["geonameid"]) for r in rows], dtype=np.int64),
        name=np.array([r["name"] for r in rows], dtype=str),
        alt_names=np.array([r["alt_names"] for r in rows], dtype=str),
        lon=np.array([float(r["lon"]) for r in rows]),
        lat=np.array([float(r["lat"]) for r in rows]),
        population=np.array([int(r["population"]) for r in rows], dtype=np.int64),
        oblast=np.array([r["oblast"] for r in rows], dtype=str),
    )


@cache
def _oblast_index() -> tuple[shapely.STRtree, NDArray[np.str_]]:
    units = oblasts()
    return shapely.STRtree([u.geometry for u in units]), np.array([u.label for u in units])


def oblasts_at(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.object_]:
    """The unit label at each point (degrees), or None where the point is in no unit (at sea,
    abroad). A point on a shared border gets the unit listed first. Vectorised."""
    lon_a, lat_a = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    tree, labels = _oblast_index()
    points = shapely.points(lon_a.ravel(), lat_a.ravel())
    out = np.full(points.shape, None, dtype=object)
    point_idx, unit_idx = tree.query(points, predicate="intersects")
    order = np.lexsort((unit_idx, point_idx))  # for each point, the lowest unit index first
    point_idx, unit_idx = point_idx[order], unit_idx[order]
    first = np.ones(len(point_idx), dtype=bool)
    first[1:] = point_idx[1:] != point_idx[:-1]
    out[point_idx[first]] = labels[unit_idx[first]]
    return out.reshape(lon_a.shape)


def oblast_at(lon: float, lat: float) -> str | None:
    """The label of the unit containing (lon, lat) in degrees ("Donetsk oblast"), or None."""
    return oblasts_at(lon, lat).item()
