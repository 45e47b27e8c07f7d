"""The bundled geography: outline, first-level units, settlements and point-in-unit lookup."""

from __future__ import annotations

from importlib import resources

import numpy as np
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from truceline.geo.geography import (
    Oblast,
    Settlement,
    oblast_at,
    oblasts,
    oblasts_at,
    settlements,
    ukraine_outline,
)
from truceline.geo.projection import GEOD

TORETSK = (37.8478, 48.3948)
SIMFEROPOL = (34.10, 44.95)


def area_km2(geom) -> float:
    area, _ = GEOD.geometry_area_perimeter(geom)
    return abs(area) / 1e6


def test_files_ship_inside_the_package():
    root = resources.files("truceline").joinpath("data", "geography")
    for name in ("ukraine.geojson", "oblasts.geojson", "settlements.csv", "LICENSES.md"):
        assert root.joinpath(name).is_file(), name
    licences = root.joinpath("LICENSES.md").read_text(encoding="utf-8")
    for needle in (
        "BSD-3-Clause",
        "MIT",
        "CC BY 4.0",
        "GeoNames",
        "Natural Earth",
        "tools/build_geography.py",
    ):
        assert needle in licences


def test_outline_is_valid_and_includes_crimea():
    outline = ukraine_outline()
    assert outline.geom_type in ("Polygon", "MultiPolygon")
    assert outline.is_valid
    assert 590_000 < area_km2(outline) < 610_000  # Ukraine: 603,628 km²; 1:50m coast
    for lon, lat in (SIMFEROPOL, (30.5234, 50.4501), (24.03, 49.84), (39.31, 48.57)):
        assert outline.contains(shapely.Point(lon, lat))
    assert ukraine_outline() is outline  # cached


def test_oblasts_are_the_27_units_with_modern_names():
    units = oblasts()
    assert len(units) == 27
    assert all(isinstance(u, Oblast) and u.geometry.is_valid for u in units)
    labels = [u.label for u in units]
    assert len(set(labels)) == 27
    assert {u.kind for u in units} == {"oblast", "city", "autonomous republic"}
    for label in (
        "Kyiv oblast",
        "Kyiv city",
        "Sevastopol city",
        "Autonomous Republic of Crimea",
        "Dnipropetrovsk oblast",
        "Zaporizhzhia oblast",
        "Donetsk oblast",
        "Luhansk oblast",
        "Mykolaiv oblast",
        "Odesa oblast",
        "Khmelnytskyi oblast",
        "Vinnytsia oblast",
        "Ternopil oblast",
        "Lviv oblast",
        "Ivano-Frankivsk oblast",
        "Zakarpattia oblast",
        "Kirovohrad oblast",
        "Kherson oblast",
        "Kharkiv oblast",
    ):
        assert label in labels
    assert len({u.adm1_code for u in units}) == 27


def test_oblasts_tile_the_outline():
    outline = ukraine_outline()
    geoms = [u.geometry for u in oblasts()]
    union = shapely.union_all(geoms)
    covered = area_km2(shapely.intersection(union, outline)) / area_km2(outline)
    assert covered > 0.99  # the rest: coastline generalisation (1:10m units, 1:50m outline)
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    overlap = sum(
        area_km2(shapely.intersection(geoms[i], geoms[j]))
        for i, j in zip(left, right, strict=True)
        if i < j
    )
    assert overlap < 1.0  # km²: shared borders only


def test_oblast_at_known_places():
    assert oblast_at(*TORETSK) == "Donetsk oblast"
    assert oblast_at(30.5234, 50.4501) == "Kyiv city"
    assert oblast_at(30.25, 50.60) == "Kyiv oblast"
    assert oblast_at(*SIMFEROPOL) == "Autonomous Republic of Crimea"
    assert oblast_at(33.55, 44.58) == "Sevastopol city"  # the centre is on the bay at 1:10m
    assert oblast_at(35.1396, 47.8388) == "Zaporizhzhia oblast"
    assert oblast_at(32.60, 46.65) == "Kherson oblast"  # Kherson city; its centre is on the river
    assert oblast_at(33.0, 44.0) is None  # Black Sea
    assert oblast_at(21.0122, 52.2297) is None  # Warsaw


def test_oblasts_at_is_vectorised_and_keeps_shape():
    lon = np.array([[TORETSK[0], 33.0], [30.5234, 34.10]])
    lat = np.array([[TORETSK[1], 44.0], [50.4501, 44.95]])
    out = oblasts_at(lon, lat)
    assert out.shape == (2, 2)
    assert out.tolist() == [
        ["Donetsk oblast", None],
        ["Kyiv city", "Autonomous Republic of Crimea"],
    ]


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(min_value=22, max_value=40.5), st.floats(min_value=44, max_value=52.5)),
        min_size=1,
        max_size=20,
    )
)
def test_vectorised_lookup_agrees_with_polygons(points):
    lon, lat = np.array(points).T
    labels = oblasts_at(lon, lat)
    by_label = {u.label: u.geometry for u in oblasts()}
    for x, y, label in zip(lon, lat, labels, strict=True):
        point = shapely.Point(x, y)
        if label is None:
            assert not any(g.intersects(point) for g in by_label.values())
        else:
            assert by_label[label].intersects(point)
        assert oblast_at(x, y) == label


def test_settlements_arrays():
    s = settlements()
    assert len(s) == 5488
    n = len(s)
    for array in (s.name, s.alt_names, s.lon, s.lat, s.population, s.oblast):
        assert len(array) == n
    assert len(np.unique(s.geonameid)) == n
    assert s.lon.dtype == np.float64 and s.population.dtype == np.int64
    assert set(np.unique(s.oblast)) <= {u.label for u in oblasts()}
    assert (s.population >= 0).all()
    assert 22 < s.lon.min() <= s.lon.max() < 40.5
    assert 44 < s.lat.min() <= s.lat.max() < 52.5
    assert settlements() is s


def test_settlement_records():
    s = settlements()
    (i,) = np.flatnonzero(s.name == "Toretsk")
    toretsk = s[i]
    assert isinstance(toretsk, Settlement)
    assert toretsk.oblast == "Donetsk oblast"
    assert (toretsk.lon, toretsk.lat) == (37.8478, 48.39477)
    assert toretsk.population > 20_000
    assert "Dzerzhins'k" in toretsk.alt_names  # its name until 2016
    assert str(toretsk) == "Toretsk (Donetsk oblast)"
    big = s.select(s.population >= 100_000)
    assert 0 < len(big) < 100 and (big.population >= 100_000).all()
    assert "Kyiv" in big.name.tolist()


def test_settlement_units_mostly_agree_with_their_polygons():
    # Units come from point-in-polygon, GeoNames' admin1 code winning within 10 km of its unit
    # (generalised borders) and for points in no polygon: the two agree for nearly all places.
    s = settlements()
    inside = oblasts_at(s.lon, s.lat)
    located = inside != None  # noqa: E711 (element-wise comparison)
    agree = (inside[located] == s.oblast[located]).mean()
    assert agree > 0.98
    assert located.mean() > 0.98
