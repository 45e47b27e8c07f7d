"""Build the illustrative agreement's `areas.geojson` from its `line.yaml`.

A one-off tool developers run by hand after editing the line; nothing here runs at install or
run time. It reads `src/truceline/data/agreements/illustrative-2026/line.yaml`, resolves each
waypoint with the bundled gazetteer (a settlement, the midpoint between two settlements, or a
distance and direction from one: see `resolve_waypoints`), puts in a bundled river centreline
where the file says to follow a river between two waypoints (see `follow_river`), extends both
ends along the legs the file gives until they lie outside Ukraine's outline, splits the outline
with the line (`shapely.ops.split`), and writes:

- `{role: control, party: UA}`: the pieces west of the line;
- `{role: control, party: RU}`: the pieces east of it, as the de facto situation stands: the
  left bank of the lower Dnipro, the Kinburn spit and Crimea among them;
- `{role: line}`: the line clipped to the outline, a LineString in WGS 84;
- `{role: zone, id: buffer-zone}`: the area within 2 km of the line on either side, buffered in
  metres in a Lambert conformal conic fitted to the line, clipped to the outline.

It checks that reference cities, and the settlements line.yaml lists under `expect`, fall on
the expected side, then prints the line's geodesic length (km: the land front, from the start to
the waypoint where the line meets the Dnipro, and the Dnipro reach, from there to where the line
leaves the outline) and each party's area (km², geodesic). Usage, from the repository root:

    .venv/bin/python tools/build_illustrative_agreement.py [--dir DIR]
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import shapely
import shapely.ops
import yaml
from shapely.geometry import LineString, MultiPolygon, Point, Polygon
from shapely.geometry.polygon import orient

from truceline.geo.gazetteer import Gazetteer, Settlement
from truceline.geo.geography import ukraine_outline
from truceline.geo.projection import (
    COMPASS_16,
    GEOD,
    LocalProjection,
    destination,
    geodesic_distance_m,
)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DIR = REPO / "src" / "truceline" / "data" / "agreements" / "illustrative-2026"

BUFFER_ZONE_KM = 2.0  # half-width of the buffer zone, km on either side of the line
POLYGON_GRID_DEG = 1e-4  # control areas and zone snapped to 4 decimals (about 10 m)
LINE_DECIMALS = 5  # line vertices to 5 decimals (about 1 m)
DENSIFY_DEG = 0.01  # line segments split to this length before projecting, degrees

# Places whose side of the line is not in doubt, as a guard against a waypoint gone astray.
EXPECTED_SIDE = {
    "UA": {
        "Kyiv": (30.5234, 50.4501),
        "Kharkiv": (36.2304, 49.9935),
        "Dnipro": (35.0462, 48.4647),
        "Zaporizhzhia": (35.1396, 47.8388),
        "Kherson": (32.6169, 46.6354),
        "Mykolaiv": (31.9946, 46.9750),
        "Odesa": (30.7233, 46.4825),
        "Nikopol": (34.3910, 47.5680),
        "Kramatorsk": (37.5680, 48.7310),
        "Sloviansk": (37.5970, 48.8500),
        "Izium": (37.2560, 49.2090),
        "Ochakiv": (31.5400, 46.6150),
    },
    "RU": {
        "Donetsk": (37.8028, 48.0159),
        "Luhansk": (39.3078, 48.5740),
        "Mariupol": (37.5413, 47.0971),
        "Melitopol": (35.3653, 46.8489),
        "Simferopol": (34.1000, 44.9500),
        "Sevastopol": (33.5254, 44.6166),
        "Enerhodar": (34.6570, 47.4990),
        "Nova Kakhovka": (33.3560, 46.7600),
        "Oleshky": (32.7240, 46.6260),
        "Hola Prystan": (32.5240, 46.5300),
        "Kinburn spit": (31.6000, 46.5500),
        "Sievierodonetsk": (38.4880, 48.9440),
        "Bakhmut": (37.9990, 48.5940),
    },
}


@dataclass(frozen=True)
class Waypoint:
    """One resolved waypoint: where it is and what it was resolved from."""

    lon: float
    lat: float
    text: str


def _settlement(gazetteer: Gazetteer, spec: str | dict) -> Settlement:
    """A settlement from a name, or from `{name, oblast, near}`: `near` (another settlement)
    picks, among the places answering to the name, the one closest to it."""
    if isinstance(spec, str):
        return gazetteer.find(spec)
    if not isinstance(spec, dict) or "name" not in spec:
        raise SystemExit(f"line.yaml: cannot read waypoint {spec!r}")
    if "near" not in spec:
        return gazetteer.find(spec["name"], spec.get("oblast"))
    candidates = gazetteer.matches(spec["name"], spec.get("oblast"))
    if not candidates:
        return gazetteer.find(spec["name"], spec.get("oblast"))  # raises, with close matches
    anchor = _settlement(gazetteer, spec["near"])
    dist = geodesic_distance_m(
        anchor.lon, anchor.lat, [c.lon for c in candidates], [c.lat for c in candidates]
    )
    return candidates[int(np.argmin(dist))]


def is_follow(spec) -> bool:
    """Whether a line.yaml waypoint entry is a `{follow: RIVER, reach: REACH}` (see `trace`)."""
    return isinstance(spec, dict) and "follow" in spec


OFFSET = re.compile(
    r"^(?P<km>\d+(?:\.\d+)?) km (?P<dir>[NESW]{1,3}) of (?P<name>.+?)(?: \((?P<oblast>[^)]+)\))?$"
)


def resolve_waypoints(specs: list, gazetteer: Gazetteer) -> list[Waypoint]:
    """(lon, lat) waypoints from the three forms line.yaml uses:

    - a settlement: `Toretsk`, or `{name: Terny, oblast: Donetsk}` (with `near: OTHER` to pick
      among same-named places in one oblast);
    - `{between: [A, B]}`: the geodesic midpoint of two settlements;
    - `"5 km W of Kindrashivka (Kharkiv oblast)"`: a point at a distance and 16-point compass
      direction from a settlement, the phrase `Gazetteer.describe` writes, for where the front
      bends through villages too small for the gazetteer.

    `follow` entries are skipped (`trace` puts the river in). Every waypoint that does not
    resolve is reported, not just the first, numbered as in the file."""
    out, errors = [], []
    for k, spec in enumerate(specs, 1):
        if is_follow(spec):
            continue
        try:
            offset = OFFSET.match(spec) if isinstance(spec, str) else None
            if isinstance(spec, dict) and "between" in spec:
                a, b = (_settlement(gazetteer, s) for s in spec["between"])
                az, _, dist = GEOD.inv(a.lon, a.lat, b.lon, b.lat)
                lon, lat, _ = GEOD.fwd(a.lon, a.lat, az, dist / 2)
                out.append(Waypoint(float(lon), float(lat), f"between {a} and {b}"))
            elif offset:
                if offset["dir"] not in COMPASS_16:
                    raise KeyError(f"{spec!r}: {offset['dir']} is not a 16-point direction")
                place = (
                    {"name": offset["name"], "oblast": offset["oblast"].removesuffix(" oblast")}
                    if offset["oblast"]
                    else offset["name"]
                )
                s = _settlement(gazetteer, place)
                az = COMPASS_16.index(offset["dir"]) * 22.5
                lon, lat = destination(s.lon, s.lat, az, float(offset["km"]) * 1000)
                out.append(
                    Waypoint(float(lon), float(lat), f"{offset['km']} km {offset['dir']} of {s}")
                )
            else:
                s = _settlement(gazetteer, spec)
                out.append(Waypoint(s.lon, s.lat, str(s)))
        except KeyError as exc:
            errors.append(f"waypoint {k}: {exc}")
    if errors:
        raise SystemExit("line.yaml:\n  " + "\n  ".join(errors))
    return out


def river_reaches() -> dict[tuple[str, str], LineString]:
    """The bundled river centrelines (`data/geography/rivers.geojson`, written by
    `tools/build_geography.py`), keyed on (river, reach), each running downstream."""
    path = resources.files("truceline").joinpath("data", "geography", "rivers.geojson")
    data = json.loads(path.read_text(encoding="utf-8"))
    return {
        (f["properties"]["name"], f["properties"]["reach"]): LineString(
            f["geometry"]["coordinates"]
        )
        for f in data["features"]
    }


def follow_river(reach: LineString, name: str, before: Waypoint, after: Waypoint) -> list[Waypoint]:
    """The stretch of `reach` between its points nearest `before` and `after`, as waypoints: the
    two cut points and every vertex of the reach between them, in the order from `before` to
    `after` (downstream or up). Nearest is measured in metres, in a conic fitted to the reach;
    the reach's own vertices are kept exactly as the file has them."""
    projection = LocalProjection.lcc_for(reach.bounds)
    local = projection.to_local(reach)
    xy = np.asarray(local.coords)
    along = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))])
    cuts = []
    for w in (before, after):
        d = float(local.project(projection.to_local(Point(w.lon, w.lat))))
        cut = projection.to_wgs84(local.interpolate(d))
        cuts.append((d, Waypoint(float(cut.x), float(cut.y), f"{name}, nearest {w.text}")))
    (d0, first), (d1, last) = cuts
    if abs(d1 - d0) < 1.0:
        raise SystemExit(f"line.yaml: following {name} from {before.text} to {after.text} is empty")
    lo, hi = min(d0, d1), max(d0, d1)
    inner = [
        Waypoint(float(x), float(y), f"{name}, vertex {k}")
        for k, ((x, y), d) in enumerate(zip(reach.coords, along, strict=True))
        if lo < d < hi
    ]
    return [first, *(inner if d0 < d1 else inner[::-1]), last]


def trace(specs: list, gazetteer: Gazetteer) -> tuple[list[Waypoint], int | None]:
    """The line's vertices from line.yaml's waypoints, and the index of the waypoint where it
    first meets a river (the one before the first `follow` entry; None without one).

    A `{follow: RIVER, reach: REACH}` entry stands between two waypoints: the line runs from the
    one before it to the nearest point of that reach of the bundled river centreline, along the
    reach, and leaves it at its point nearest the waypoint after it."""
    points = iter(resolve_waypoints(specs, gazetteer))
    resolved = [spec if is_follow(spec) else next(points) for spec in specs]
    reaches = None
    out: list[Waypoint] = []
    meets = None
    for k, item in enumerate(resolved):
        if not is_follow(item):
            out.append(item)
            continue
        before, after = resolved[k - 1] if k else None, resolved[k + 1 : k + 2]
        if not isinstance(before, Waypoint) or not after or not isinstance(after[0], Waypoint):
            raise SystemExit(f"line.yaml: {item!r} needs a waypoint before and after it")
        reaches = reaches or river_reaches()
        key = (item["follow"], item.get("reach"))
        if key not in reaches:
            raise SystemExit(f"line.yaml: no river reach {key}; bundled: {sorted(reaches)}")
        meets = len(out) - 1 if meets is None else meets
        name = f"{key[0]} ({key[1]})" if key[1] else key[0]
        out.extend(follow_river(reaches[key], name, before, after[0]))
    return out, meets


def extend(lon: float, lat: float, legs: list[dict]) -> list[tuple[float, float]]:
    """Points reached by following `legs` ({azimuth_deg, distance_km}) from (lon, lat)."""
    points = []
    for leg in legs:
        lon_a, lat_a = destination(lon, lat, leg["azimuth_deg"], leg["distance_km"] * 1000)
        lon, lat = float(lon_a), float(lat_a)
        points.append((lon, lat))
    return points


def west_side(line: LineString) -> Polygon:
    """A polygon closing the extended line round the west: what lies inside is west of it.

    From the line's southern end the closure runs due south, then west and north round the far
    side of Europe, back east along 56 N and south to the line's northern end; none of that
    touches Ukraine's outline when the line starts north of it and ends south of it at sea.
    """
    (x0, y0), (x1, _) = line.coords[0], line.coords[-1]
    ring = [*line.coords, (x1, 40.0), (15.0, 40.0), (15.0, 56.0), (x0, 56.0), (x0, y0)]
    poly = Polygon(ring)
    if not poly.is_valid:
        raise SystemExit(f"the line and its closure cross: {shapely.is_valid_reason(poly)}")
    return poly


def polygonal(geoms) -> Polygon | MultiPolygon:
    """The union of polygon pieces, snapped to the grid, exteriors counter-clockwise."""
    merged = shapely.set_precision(shapely.union_all(list(geoms)), POLYGON_GRID_DEG)
    parts = [orient(p, 1.0) for p in shapely.get_parts(merged) if p.geom_type == "Polygon"]
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def geodesic_length_km(line) -> float:
    """Sum of geodesic distances between consecutive vertices, km."""
    total = 0.0
    for part in shapely.get_parts(line):
        xy = np.asarray(part.coords)
        total += float(geodesic_distance_m(xy[:-1, 0], xy[:-1, 1], xy[1:, 0], xy[1:, 1]).sum())
    return total / 1000.0


def area_km2(geom) -> float:
    """Geodesic area on WGS 84, km²."""
    area, _ = GEOD.geometry_area_perimeter(geom)
    return abs(area) / 1e6


def feature(properties: dict, geom, decimals: int) -> dict:
    geometry = json.loads(shapely.to_geojson(geom))

    def rnd(c):
        return (
            [round(v, decimals) for v in c] if isinstance(c[0], float | int) else list(map(rnd, c))
        )

    geometry["coordinates"] = rnd(geometry["coordinates"])
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def build(directory: Path) -> dict:
    """Build the areas from `directory/line.yaml`; return the features and figures."""
    spec = yaml.safe_load((directory / "line.yaml").read_text(encoding="utf-8"))
    gazetteer = Gazetteer(min_population=0)
    waypoints, meets_river = trace(spec["waypoints"], gazetteer)
    expected = {party: dict(places) for party, places in EXPECTED_SIDE.items()}
    for party, specs in (spec.get("expect") or {}).items():
        for w in resolve_waypoints(specs, gazetteer):
            expected[party][w.text] = (w.lon, w.lat)
    chainage_km = 0.0
    for k, w in enumerate(waypoints, 1):
        if k > 1:
            prev = waypoints[k - 2]
            chainage_km += float(geodesic_distance_m(prev.lon, prev.lat, w.lon, w.lat)) / 1000
        print(f"  {k:3d} {chainage_km:6.0f} km  {w.lat:.4f} N {w.lon:.4f} E  {w.text}")

    outline = ukraine_outline()
    head = extend(waypoints[0].lon, waypoints[0].lat, spec["extend"]["start"])[::-1]
    tail = extend(waypoints[-1].lon, waypoints[-1].lat, spec["extend"]["end"])
    extended = LineString([*head, *((w.lon, w.lat) for w in waypoints), *tail])
    if not extended.is_simple:
        raise SystemExit("the line crosses itself; check the waypoint order")
    for end in (extended.coords[0], extended.coords[-1]):
        if outline.covers(Point(end)):
            raise SystemExit(f"line end {end} is inside the outline; lengthen the extension")

    pieces = shapely.get_parts(shapely.ops.split(outline, extended))
    west = west_side(extended)
    ua_pieces = [p for p in pieces if west.contains(p.representative_point())]
    ru_pieces = [p for p in pieces if not west.contains(p.representative_point())]
    ua, ru = polygonal(ua_pieces), polygonal(ru_pieces)
    for geom, name in ((ua, "UA"), (ru, "RU")):
        if not geom.is_valid:
            raise SystemExit(f"{name} control area invalid: {shapely.is_valid_reason(geom)}")
    if shapely.intersection(ua, ru).area > 1e-9:
        raise SystemExit("control areas overlap")
    for party, places in expected.items():
        mine, other = (ua, ru) if party == "UA" else (ru, ua)
        for name, (lon, lat) in places.items():
            point = Point(lon, lat)  # nearer, not inside: the 1:50m coast may leave a port out
            if not mine.distance(point) < other.distance(point):
                raise SystemExit(f"{name} ({lat} N, {lon} E) should be on the {party} side")

    line = shapely.line_merge(shapely.intersection(extended, outline))
    if line.geom_type != "LineString":
        parts = ", ".join(f"{geodesic_length_km(p):.1f} km" for p in shapely.get_parts(line))
        raise SystemExit(f"the line leaves the outline between its ends (parts: {parts})")

    # The zone is "within 2 km of the line" for the line this file publishes (clipped to the
    # outline), so that it agrees with every distance computed from the agreement.
    projection = LocalProjection.lcc_for(extended.bounds)
    local = projection.to_local(shapely.segmentize(line, DENSIFY_DEG))
    band = projection.to_wgs84(shapely.buffer(local, BUFFER_ZONE_KM * 1000.0, quad_segs=8))
    zone = polygonal([shapely.intersection(band, outline)])

    line_km = geodesic_length_km(line)
    land_km = line_km
    if meets_river is not None:
        w = waypoints[meets_river]
        land_km = geodesic_length_km(
            shapely.ops.substring(line, 0.0, line.project(Point(w.lon, w.lat)))
        )
    features = [
        feature({"role": "control", "party": "UA", "name": "Controlled by Ukraine"}, ua, 4),
        feature({"role": "control", "party": "RU", "name": "Controlled by Russia"}, ru, 4),
        feature(
            {"role": "line", "name": f"{spec['name']} (approximate, not authoritative)"},
            line,
            LINE_DECIMALS,
        ),
        feature(
            {
                "role": "zone",
                "id": "buffer-zone",
                "name": f"Buffer zone, {BUFFER_ZONE_KM:g} km either side of the line",
            },
            zone,
            4,
        ),
    ]
    return {
        "features": features,
        "line_km": line_km,
        "land_km": land_km,
        "river_km": line_km - land_km,
        "meets_river": None if meets_river is None else waypoints[meets_river].text,
        "checked_places": sum(len(places) for places in expected.values()),
        "waypoints_km": chainage_km,
        "extended_km": geodesic_length_km(extended),
        "waypoints": len(waypoints),
        "area_km2": {"UA": area_km2(ua), "RU": area_km2(ru)},
        "zone_km2": area_km2(zone),
        "outline_km2": area_km2(outline),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="the agreement directory")
    args = parser.parse_args(argv)
    print(f"waypoints from {args.dir / 'line.yaml'}:")
    result = build(args.dir)
    lines = [json.dumps(f, separators=(",", ":"), ensure_ascii=False) for f in result["features"]]
    text = '{"type":"FeatureCollection","features":[\n' + ",\n".join(lines) + "\n]}\n"
    (args.dir / "areas.geojson").write_text(text, encoding="utf-8")
    print(f"wrote {args.dir / 'areas.geojson'}")
    print(f"{result['checked_places']} places checked on their expected sides")
    print(
        f"line length: {result['line_km']:,.0f} km inside the outline; "
        f"{result['waypoints_km']:,.0f} km from the first to the last of {result['waypoints']} "
        f"vertices (the 1:50m outline leaves the Dnipro-Buh estuary out); "
        f"{result['extended_km']:,.0f} km with the extensions"
    )
    if result["meets_river"]:
        print(
            f"  land front {result['land_km']:,.0f} km, to {result['meets_river']}; "
            f"Dnipro reach {result['river_km']:,.0f} km, from there to the outline's coast"
        )
    for party, km2 in result["area_km2"].items():
        print(f"{party} control area: {km2:,.0f} km²")
    print(f"buffer zone: {result['zone_km2']:,.0f} km²; outline: {result['outline_km2']:,.0f} km²")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
