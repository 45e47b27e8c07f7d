"""The bundled illustrative-2026 agreement, checked on its raw files (not through the loader):
areas.geojson geometry and sides, the line's length, the buffer zone, the rules as written."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pytest
import shapely
import yaml
from shapely.geometry import Point, shape

from truceline.geo.projection import GEOD, LocalProjection, geodesic_distance_m

# The line measures about 866 km inside the 1:50m outline: about 596 km of land front from the
# Russian border north of Kharkiv, about 271 km down the Dnipro. That is less than the
# 1,100-1,400 km usually quoted for the front and the Dnipro, because those figures measure the
# line at much finer resolution (every village-scale bend, every meander) and some include
# border sectors such as Sumy's, while this trace joins settlement-scale waypoints 2-21 km apart
# by straight legs, follows a 1:50m centreline through the Kakhovka reservoir, and loses the
# Dnipro-Buh estuary, which the 1:50m outline counts as sea (line.yaml's header has the detail).
# The bounds sit close round the measured length so that a waypoint gone astray shows; widen
# them when the trace is refined, never add wiggles to reach a figure.
LINE_KM = (840.0, 900.0)
BUFFER_KM = 2.0

UA_PLACES = {
    "Kyiv": (30.5234, 50.4501),
    "Lyptsi": (36.4209, 50.2092),
    "Marhanets": (34.6245, 47.6309),
    "Kharkiv": (36.2304, 49.9935),
    "Zaporizhzhia": (35.1396, 47.8388),
    "Kherson": (32.6169, 46.6354),
    "Dnipro": (35.0462, 48.4647),
    "Kramatorsk": (37.5680, 48.7310),
    "Nikopol": (34.3910, 47.5680),
}
RU_PLACES = {
    "Simferopol": (34.10, 44.95),
    "Sevastopol": (33.55, 44.58),
    "Donetsk": (37.8028, 48.0159),
    "Luhansk": (39.3078, 48.5740),
    "Mariupol": (37.5413, 47.0971),
    "Melitopol": (35.3653, 46.8489),
    "Enerhodar": (34.6570, 47.4990),
    "Vovchansk": (36.9411, 50.2908),
    "Nova Kakhovka": (33.3560, 46.7600),
    "Oleshky": (32.7240, 46.6260),
    "Kinburn spit": (31.6000, 46.5500),
}


def _read(name: str) -> str:
    root = resources.files("truceline").joinpath("data", "agreements", "illustrative-2026")
    return root.joinpath(name).read_text(encoding="utf-8")


def _dnipro() -> dict[str, shapely.LineString]:
    path = resources.files("truceline").joinpath("data", "geography", "rivers.geojson")
    data = json.loads(path.read_text(encoding="utf-8"))
    return {
        f["properties"]["reach"]: shape(f["geometry"])
        for f in data["features"]
        if f["properties"]["name"] == "Dnipro"
    }


@pytest.fixture(scope="module")
def features() -> list[dict]:
    data = json.loads(_read("areas.geojson"))
    assert data["type"] == "FeatureCollection"
    return data["features"]


@pytest.fixture(scope="module")
def control(features) -> dict[str, shapely.Geometry]:
    out = {}
    for f in features:
        if f["properties"]["role"] == "control":
            assert f["properties"]["party"] not in out
            out[f["properties"]["party"]] = shape(f["geometry"])
    return out


@pytest.fixture(scope="module")
def line(features) -> shapely.LineString:
    (geom,) = [shape(f["geometry"]) for f in features if f["properties"]["role"] == "line"]
    return geom


def area_km2(geom) -> float:
    area, _ = GEOD.geometry_area_perimeter(geom)
    return abs(area) / 1e6


def line_km(geom) -> float:
    xy = np.asarray(geom.coords)
    return float(geodesic_distance_m(xy[:-1, 0], xy[:-1, 1], xy[1:, 0], xy[1:, 1]).sum()) / 1000


def test_every_feature_is_valid_with_a_known_role(features):
    assert {f["properties"]["role"] for f in features} == {"control", "line", "zone"}
    for f in features:
        assert f["type"] == "Feature"
        geom = shape(f["geometry"])
        assert geom.is_valid and not geom.is_empty, f["properties"]


def test_two_control_areas_that_do_not_overlap(control):
    assert set(control) == {"UA", "RU"}
    for geom in control.values():
        assert geom.geom_type in ("Polygon", "MultiPolygon") and geom.is_valid
    shared = shapely.intersection(control["UA"], control["RU"])
    assert shared.is_empty or area_km2(shared) < 0.01  # km²: they meet along the line only


def test_party_areas_are_plausible(control):
    ua, ru = area_km2(control["UA"]), area_km2(control["RU"])
    assert 590_000 < ua + ru < 610_000  # Ukraine's outline at 1:50m
    assert 0.15 < ru / (ua + ru) < 0.25  # Russia held about a fifth in early 2026


@pytest.mark.parametrize(("place", "lonlat"), UA_PLACES.items())
def test_ukrainian_held_cities(control, place, lonlat):
    assert control["UA"].contains(Point(lonlat)), place


@pytest.mark.parametrize(("place", "lonlat"), RU_PLACES.items())
def test_russian_held_places_including_crimea(control, place, lonlat):
    assert control["RU"].contains(Point(lonlat)), place


def test_line_length(line):
    assert line.geom_type == "LineString"
    assert LINE_KM[0] <= line_km(line) <= LINE_KM[1]


def test_line_starts_at_the_border_north_of_kharkiv(line):
    lon, lat = line.coords[0]  # where the line leaves the border, west of Strilecha
    assert 36.3 < lon < 36.4 and 50.27 < lat < 50.31


def test_bundled_dnipro_runs_downstream_in_two_joined_reaches():
    reaches = _dnipro()
    assert list(reaches) == ["Kakhovka reservoir", "below the Kakhovka reservoir"]
    reservoir, lower = reaches.values()
    assert reservoir.geom_type == lower.geom_type == "LineString"
    assert reservoir.coords[-1] == lower.coords[0]
    assert reservoir.coords[0][1] > 47.8  # the reservoir's head, at Zaporizhzhia
    assert lower.coords[-1][0] < 32.6  # the 1:50m coast below Kherson


def test_line_follows_the_kakhovka_reservoir_centreline(line):
    # from opposite Prymorske to where Natural Earth's reservoir centreline ends, every vertex
    # of the bundled centreline is a vertex of the line
    reservoir = np.asarray(_dnipro()["Kakhovka reservoir"].coords)
    vertices = np.asarray(line.coords)
    for lon, lat in reservoir[2:]:
        assert np.min(np.hypot(vertices[:, 0] - lon, vertices[:, 1] - lat)) < 1e-5, (lon, lat)
    assert shapely.LineString(reservoir[2:]).within(line.buffer(1e-5))


def test_line_is_the_boundary_between_the_parties(control, line):
    # every vertex of the line lies on both control areas' boundaries, to the 4-decimal grid
    for lon, lat in line.coords:
        point = Point(lon, lat)
        assert control["UA"].distance(point) < 2e-4 and control["RU"].distance(point) < 2e-4


def test_buffer_zone_is_two_km_either_side_of_the_line(features, line, control):
    zones = [f for f in features if f["properties"]["role"] == "zone"]
    assert [z["properties"]["id"] for z in zones] == ["buffer-zone"]
    zone = shape(zones[0]["geometry"])
    assert zone.geom_type in ("Polygon", "MultiPolygon") and zone.is_valid
    assert zone.buffer(1e-4).covers(line)
    outline = shapely.union_all(list(control.values()))
    assert zone.difference(outline.buffer(1e-4)).is_empty  # clipped to the outline
    # a band 2 km either side has about 4 km² per km of line (less where the coast clips it)
    assert 0.9 < area_km2(zone) / (2 * BUFFER_KM * line_km(line)) < 1.05
    # points 1.9 km off the line are in the zone; points 2.1 km off are not, unless another
    # stretch of the line comes within 2 km of them (measured in a conic fitted to the line)
    projection = LocalProjection.lcc_for(line.bounds)
    line_m = projection.to_local(line)
    coords = np.asarray(line.coords)
    for k in range(5, len(coords) - 5, 10):
        (lon1, lat1), (lon2, lat2) = coords[k], coords[k + 1]
        az, _, seg = GEOD.inv(lon1, lat1, lon2, lat2)
        mid_lon, mid_lat, _ = GEOD.fwd(lon1, lat1, az, seg / 2)
        for side in (-90, 90):
            near = Point(GEOD.fwd(mid_lon, mid_lat, az + side, 1900.0)[:2])
            far = Point(GEOD.fwd(mid_lon, mid_lat, az + side, 2100.0)[:2])
            if outline.contains(near) and outline.contains(far) and seg > 6000:
                assert zone.contains(near)
                far_m = line_m.distance(projection.to_local(far))
                assert zone.contains(far) == (far_m <= BUFFER_KM * 1000 + 20)


def test_agreement_yaml_states_the_minsk_rules():
    spec = yaml.safe_load(_read("agreement.yaml"))
    assert spec["name"] == "Illustrative ceasefire 2026"
    assert spec["effective"].isoformat().replace("+00:00", "Z") == "2026-03-01T00:00:00Z"
    assert spec["parties"] == [
        {"id": "UA", "name": "Ukraine"},
        {"id": "RU", "name": "Russian Federation"},
    ]
    assert spec["areas"] == "areas.geojson"
    rules = {r["id"]: r for r in spec["rules"]}
    assert list(rules) == [
        "no-fire",
        "no-crossing",
        "heavy-artillery",
        "mlrs",
        "heavy-mlrs",
        "light-weapons",
        "buffer",
    ]
    assert rules["no-fire"] == {"id": "no-fire", "article": "1", "kind": "no-fire"}
    assert rules["no-crossing"] == {"id": "no-crossing", "article": "2", "kind": "no-crossing"}
    withdrawal = {
        rid: (r["article"], r["classes"], r["min_distance_km"])
        for rid, r in rules.items()
        if r["kind"] == "withdrawal"
    }
    assert withdrawal == {
        "heavy-artillery": ("3.1", ["artillery-100mm-plus"], 25),
        "mlrs": ("3.2", ["mlrs"], 35),
        "heavy-mlrs": ("3.3", ["heavy-mlrs", "tactical-missile"], 70),
        "light-weapons": ("3.4", ["tank", "mortar", "artillery-under-100mm"], 15),
    }
    assert rules["buffer"] == {
        "id": "buffer",
        "article": "4",
        "kind": "zone-exclusion",
        "zone": "buffer-zone",
    }
    text = _read("agreement.yaml")
    assert "Minsk II point 2" in text and "addendum" in text


def test_line_yaml_says_it_is_illustrative_and_lists_its_waypoints():
    text = _read("line.yaml")
    assert "ILLUSTRATIVE" in text and "NOT AN AUTHORITATIVE" in text and "early 2026" in text
    spec = yaml.safe_load(text)
    assert 50 <= len(spec["waypoints"]) <= 100
    assert spec["extend"]["start"] and spec["extend"]["end"]
