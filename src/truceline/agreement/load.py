"""Loading and validating an agreement: `agreement.yaml` plus its `areas.geojson`.

Every problem found is reported, each as one line naming the file, the feature (index and id) and
what is wrong; `InputError` carries them all and the command line exits 2.
"""

from __future__ import annotations

import json
from dataclasses import replace
from importlib import resources
from itertools import combinations
from pathlib import Path
from typing import Any

import shapely
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from truceline.agreement.model import Agreement, Party, Rule, RuleKind, Zone
from truceline.errors import InputError, Problem, UsageError
from truceline.geo.projection import LocalProjection
from truceline.timeutil import parse_time
from truceline.weapons import weapon_classes

BUNDLED = "agreements"
ROLES = ("control", "line", "zone")
OVERLAP_TOLERANCE_KM2 = 0.01
"""Control areas may share edges; an overlap larger than this is an error (km²)."""
SHARED_EDGE_TOLERANCE_M = 10.0
"""Distance within which two control areas' boundaries count as shared when deriving the line."""


# -- the agreement file, at the boundary -------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PartyIn(_Strict):
    id: str = Field(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9_-]+$")
    name: str = Field(min_length=1)


class RuleIn(_Strict):
    id: str = Field(min_length=1)
    article: str
    kind: str
    classes: list[str] | None = None
    min_distance_km: float | None = Field(default=None, gt=0)
    zone: str | None = None

    @field_validator("article", mode="before")
    @classmethod
    def _article_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) else value


class ZoneIn(_Strict):
    """A zone derived from the line (an extension of contract version 1)."""

    id: str = Field(min_length=1)
    line_buffer_km: float = Field(gt=0, description="zone = area within this distance of the line")


class AgreementIn(_Strict):
    version: int = 1
    name: str = Field(min_length=1)
    effective: str
    parties: list[PartyIn] = Field(min_length=1)
    areas: str = Field(min_length=1)
    rules: list[RuleIn] = Field(default_factory=list)
    zones: list[ZoneIn] = Field(default_factory=list)

    @field_validator("effective", mode="before")
    @classmethod
    def _effective_as_text(cls, value: Any) -> Any:
        # YAML turns an unquoted timestamp into a datetime; keep the text RFC 3339-checked.
        if hasattr(value, "isoformat"):
            if getattr(value, "tzinfo", None) is None:
                raise ValueError(f"time '{value}' has no UTC offset; RFC 3339 requires Z or ±HH:MM")
            return value.isoformat().replace("+00:00", "Z")
        return value


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# -- finding an agreement ----------------------------------------------------------------------


def bundled_agreements() -> list[str]:
    """Names of the agreements shipped with truceline."""
    root = resources.files("truceline").joinpath("data", BUNDLED)
    return sorted(p.name for p in root.iterdir() if p.joinpath("agreement.yaml").is_file())


def resolve_agreement_path(name_or_path: str | Path) -> Path:
    """A path to `agreement.yaml` from a file, a directory holding one, or a bundled name."""
    path = Path(name_or_path)
    if path.is_dir():
        path = path / "agreement.yaml"
    if path.is_file():
        return path
    if str(name_or_path) in bundled_agreements():
        bundled = resources.files("truceline").joinpath("data", BUNDLED, str(name_or_path))
        return Path(str(bundled)) / "agreement.yaml"
    raise UsageError(
        f"{name_or_path}: no such agreement file or directory, and no bundled "
        f"agreement of that name (bundled: {', '.join(bundled_agreements())})"
    )


# -- loading -----------------------------------------------------------------------------------


def load_agreement(name_or_path: str | Path) -> Agreement:
    """Load and validate an agreement; raise `InputError` listing every problem found."""
    path = resolve_agreement_path(name_or_path)
    spec = _read_agreement_file(path)
    problems: list[Problem] = []
    file = str(path)

    try:
        effective_ns = parse_time(spec.effective)
    except ValueError as exc:
        problems.append(Problem(file, f"effective: {exc}"))
        effective_ns = 0

    parties = tuple(Party(p.id, p.name) for p in spec.parties)
    party_ids = [p.id for p in parties]
    for pid in sorted({p for p in party_ids if party_ids.count(p) > 1}):
        problems.append(Problem(file, f"parties: party id '{pid}' is used more than once"))
    if "monitor" in party_ids:
        problems.append(Problem(file, "parties: 'monitor' is reserved for the monitoring mission"))

    areas_path = (path.parent / spec.areas).resolve()
    areas = _read_areas(areas_path, set(party_ids), problems)

    line = areas.line
    line_origin = f"{areas_path.name} (role: line)"
    if line is None and len(areas.control) > 1 and not areas.rejected_parties:
        line = _shared_boundary(areas.control, areas_path, problems)
        line_origin = "derived: shared boundary of the control areas"

    zones = dict(areas.zones)
    for z in spec.zones:
        if z.id in zones:
            problems.append(
                Problem(
                    file, f"zones: zone '{z.id}' is defined twice (here and in {areas_path.name})"
                )
            )
    rules = _check_rules(
        spec,
        file,
        None if areas.unreadable else zones,
        {z.id for z in spec.zones} | areas.rejected_zones,
        problems,
    )
    for pid in party_ids:
        if not areas.unreadable and pid not in areas.control.keys() | areas.rejected_parties:
            problems.append(Problem(str(areas_path), f"party '{pid}' has no control area"))

    if problems:
        raise InputError(problems)
    assert line is not None
    agreement = Agreement(
        name=spec.name,
        effective_ns=effective_ns,
        parties=parties,
        rules=rules,
        control_areas={p: shapely.union_all(g) for p, g in areas.control.items()},
        line=line,
        line_origin=line_origin,
        zones=zones,
        path=path,
    )
    if not spec.zones:
        return agreement
    derived = {
        z.id: Zone(
            z.id,
            agreement.band(z.line_buffer_km),
            f"derived: within {z.line_buffer_km:g} km of the line",
        )
        for z in spec.zones
    }
    return replace(agreement, zones={**zones, **derived})


def _read_agreement_file(path: Path) -> AgreementIn:
    file = str(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError([Problem(file, f"cannot read: {exc.strerror}")]) from exc
    except UnicodeDecodeError as exc:
        raise InputError([Problem(file, f"not UTF-8 text: {exc.reason}")]) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        detail = getattr(exc, "problem", None) or str(exc)
        raise InputError(
            [Problem(file, f"invalid YAML: {detail}", line=mark.line + 1 if mark else None)]
        ) from exc
    if not isinstance(data, dict):
        raise InputError(
            [Problem(file, "expected a mapping with name, effective, parties, areas and rules")]
        )
    try:
        return AgreementIn.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = _loc(err["loc"])
            loc = err["loc"]
            if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
                rule = data.get("rules", [])[loc[1]]
                if isinstance(rule, dict) and "id" in rule:
                    where = f"rule '{rule['id']}' ({where})"
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = "unknown field"
            problems.append(Problem(file, f"{where}: {msg}"))
        raise InputError(problems) from exc


class _Areas:
    def __init__(self) -> None:
        self.control: dict[str, list[BaseGeometry]] = {}
        self.control_index: list[tuple[int, str, BaseGeometry]] = []
        self.line: BaseGeometry | None = None
        self.zones: dict[str, Zone] = {}
        # What was named by a rejected feature, or the whole file being unreadable: checks that
        # would only repeat that problem in other words (a party "without" an area) are skipped.
        self.unreadable = False
        self.rejected_parties: set[str] = set()
        self.rejected_zones: set[str] = set()


def _read_areas(path: Path, party_ids: set[str], problems: list[Problem]) -> _Areas:
    areas = _Areas()
    file = str(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append(Problem(file, "areas file not found"))
        areas.unreadable = True
        return areas
    except OSError as exc:
        problems.append(Problem(file, f"cannot read: {exc.strerror}"))
        areas.unreadable = True
        return areas
    except json.JSONDecodeError as exc:
        problems.append(
            Problem(file, f"invalid JSON: {exc.msg} (column {exc.colno})", line=exc.lineno)
        )
        areas.unreadable = True
        return areas
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        problems.append(Problem(file, "expected a GeoJSON FeatureCollection"))
        areas.unreadable = True
        return areas
    features = data.get("features")
    if not isinstance(features, list):
        problems.append(Problem(file, "FeatureCollection has no 'features' list"))
        areas.unreadable = True
        return areas

    lines: list[BaseGeometry] = []
    for index, feature in enumerate(features):
        props = feature.get("properties") if isinstance(feature, dict) else None
        props = props if isinstance(props, dict) else {}
        role = props.get("role")
        fid = str(props.get("id") or props.get("party") or role or "")

        def problem(message: str, index: int = index, fid: str = fid) -> None:
            problems.append(Problem(file, message, feature_index=index, feature_id=fid or None))

        if role == "control" and props.get("party"):
            areas.rejected_parties.add(str(props["party"]))  # until the feature is accepted
        if props.get("id"):
            areas.rejected_zones.add(str(props["id"]))
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            problem("not a GeoJSON Feature")
            continue
        if role not in ROLES:
            problem(
                f"unknown role {role!r} (expected one of: {', '.join(ROLES)})"
                if role is not None
                else f"properties.role is missing (expected one of: {', '.join(ROLES)})"
            )
            continue
        geom = _geometry(feature, problem)
        if geom is None:
            continue
        if role == "control":
            party = props.get("party")
            if party not in party_ids:
                problem(
                    f"control area of unknown party {party!r} "
                    f"(agreement parties: {', '.join(sorted(party_ids))})"
                    if party
                    else "control area without properties.party"
                )
                continue
            if _check_polygon(geom, problem):
                areas.control.setdefault(party, []).append(geom)
                areas.control_index.append((index, party, geom))
        elif role == "line":
            if geom.geom_type not in ("LineString", "MultiLineString"):
                problem(f"line must be a LineString or MultiLineString, not {geom.geom_type}")
            elif geom.is_empty or geom.length == 0:
                problem("line is empty")
            elif not shapely.is_valid(geom):
                problem(f"invalid line: {shapely.is_valid_reason(geom)}")
            else:
                lines.append(geom)
        else:
            zid = props.get("id")
            if not zid:
                problem("zone without properties.id")
            elif zid in areas.zones:
                problem(f"zone id '{zid}' is used more than once")
            elif _check_polygon(geom, problem):
                areas.zones[zid] = Zone(zid, geom, f"{path.name} feature {index}")
    areas.rejected_parties -= set(areas.control)
    areas.rejected_zones -= set(areas.zones)
    if lines:
        areas.line = shapely.line_merge(shapely.union_all(lines))
    _check_overlaps(areas, file, problems)
    return areas


def _geometry(feature: dict, problem) -> BaseGeometry | None:
    raw = feature.get("geometry")
    if not isinstance(raw, dict):
        problem("feature has no geometry")
        return None
    try:
        geom = shape(raw)
    except Exception as exc:  # Shapely raises several types for malformed coordinates
        problem(f"malformed {raw.get('type', 'geometry')}: {exc}")
        return None
    if geom.has_z:
        geom = shapely.force_2d(geom)
    lon_min, lat_min, lon_max, lat_max = geom.bounds if not geom.is_empty else (0, 0, 0, 0)
    if lon_min < -180 or lon_max > 180 or lat_min < -90 or lat_max > 90:
        problem(
            "coordinates outside WGS 84 longitude/latitude range; "
            "GeoJSON order is [longitude, latitude]"
        )
        return None
    return geom


def _check_polygon(geom: BaseGeometry, problem) -> bool:
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        problem(f"expected a Polygon or MultiPolygon, not {geom.geom_type}")
        return False
    if geom.is_empty:
        problem("polygon is empty")
        return False
    if not shapely.is_valid(geom):
        problem(f"invalid polygon: {shapely.is_valid_reason(geom)}")
        return False
    return True


def _check_overlaps(areas: _Areas, file: str, problems: list[Problem]) -> None:
    entries = areas.control_index
    if len(entries) < 2:
        return
    tree = shapely.STRtree([g for _, _, g in entries])
    bounds = shapely.total_bounds([g for _, _, g in entries])
    projection = LocalProjection.lcc_for(tuple(bounds))
    for i, j in zip(*tree.query([g for _, _, g in entries], predicate="intersects"), strict=True):
        if i >= j:
            continue
        (ia, pa, ga), (ib, pb, gb) = entries[i], entries[j]
        overlap = shapely.intersection(ga, gb)
        area_km2 = projection.to_local(overlap).area / 1e6 if not overlap.is_empty else 0.0
        if area_km2 > OVERLAP_TOLERANCE_KM2:
            where = overlap.representative_point()
            owner = f"of {pa} and {pb}" if pa != pb else f"of {pa} (two features)"
            problems.append(
                Problem(
                    file,
                    f"control areas {owner} overlap by {area_km2:.2f} km² near "
                    f"{where.x:.4f} E, {where.y:.4f} N (features {ia} and {ib})",
                    feature_index=ib,
                    feature_id=pb,
                )
            )


def _shared_boundary(
    control: dict[str, list[BaseGeometry]], path: Path, problems: list[Problem]
) -> BaseGeometry | None:
    merged = {p: shapely.union_all(g) for p, g in control.items()}
    projection = LocalProjection.lcc_for(tuple(shapely.total_bounds(list(merged.values()))))
    local = {p: projection.to_local(g) for p, g in merged.items()}
    pieces = []
    for a, b in combinations(sorted(local), 2):
        near_b = shapely.buffer(local[b], SHARED_EDGE_TOLERANCE_M)
        shared = shapely.intersection(shapely.boundary(local[a]), near_b)
        shared = shapely.line_merge(
            shapely.union_all(
                [
                    g
                    for g in shapely.get_parts(shared)
                    if g.geom_type in ("LineString", "MultiLineString")
                ]
            )
        )
        if not shared.is_empty:
            pieces.append(shared)
    if not pieces:
        problems.append(
            Problem(
                str(path),
                "no line feature, and the control areas share no "
                "boundary to derive it from: add a feature with "
                "properties.role 'line'",
            )
        )
        return None
    return projection.to_wgs84(shapely.line_merge(shapely.union_all(pieces)))


def _check_rules(
    spec: AgreementIn,
    file: str,
    zones: dict[str, Zone] | None,
    other_zones: set[str],
    problems: list[Problem],
) -> tuple[Rule, ...]:
    """Check the rules; `zones` None means the areas file could not be read, so zone names
    cannot be checked; `other_zones` are names defined elsewhere (derived or in rejected
    features, already reported)."""
    known_classes = weapon_classes()
    kinds = [k.value for k in RuleKind]
    rules = []
    seen: set[str] = set()
    for index, r in enumerate(spec.rules):
        where = f"rule '{r.id}' (rules[{index}])"
        if r.id in seen:
            problems.append(Problem(file, f"{where}: rule id '{r.id}' is used more than once"))
        seen.add(r.id)
        if r.kind not in kinds:
            problems.append(
                Problem(
                    file, f"{where}: unknown rule kind '{r.kind}' (known kinds: {', '.join(kinds)})"
                )
            )
            continue
        kind = RuleKind(r.kind)
        if kind is RuleKind.WITHDRAWAL:
            if not r.classes:
                problems.append(Problem(file, f"{where}: a withdrawal rule needs 'classes'"))
            for c in r.classes or []:
                if c not in known_classes:
                    problems.append(
                        Problem(
                            file,
                            f"{where}: unknown weapon class '{c}' "
                            f"(known: {', '.join(known_classes)})",
                        )
                    )
            if r.min_distance_km is None:
                problems.append(
                    Problem(file, f"{where}: a withdrawal rule needs 'min_distance_km'")
                )
        if kind is RuleKind.ZONE_EXCLUSION:
            if not r.zone:
                problems.append(Problem(file, f"{where}: a zone-exclusion rule needs 'zone'"))
            elif zones is not None and r.zone not in zones.keys() | other_zones:
                known = sorted(zones.keys() | other_zones)
                problems.append(
                    Problem(
                        file,
                        f"{where}: unknown zone '{r.zone}' "
                        f"(zones: {', '.join(known) or 'none defined'})",
                    )
                )
        rules.append(
            Rule(
                id=r.id,
                article=r.article,
                kind=kind,
                classes=tuple(r.classes or ()),
                min_distance_km=r.min_distance_km,
                zone=r.zone,
            )
        )
    return tuple(rules)
