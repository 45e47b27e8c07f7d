"""Everything the agreement defines or implies, as one GeoJSON FeatureCollection (for QGIS)."""

from __future__ import annotations

from typing import Any

import shapely
import shapely.geometry
import shapely.ops

from truceline.agreement.model import Agreement, RuleKind, geodesic_area_km2, geodesic_length_km


def _feature(geom: shapely.Geometry, precision: int = 5, **props: Any) -> dict[str, Any]:
    rounded = shapely.set_precision(geom, 10.0**-precision)
    return {"type": "Feature", "properties": props, "geometry": shapely.geometry.mapping(rounded)}


def agreement_features(agreement: Agreement, sector_length_km: float = 100.0) -> dict[str, Any]:
    """Control areas, the line, its sectors, named zones and each withdrawal rule's zone per party.

    Each feature's `properties.role` says what it is: `control`, `line`, `sector`, `zone` or
    `withdrawal-zone`; areas carry `area_km2` and lines `length_km`, measured on the ellipsoid.
    """
    features = []
    for party in agreement.parties:
        geom = agreement.control_areas[party.id]
        features.append(
            _feature(
                geom,
                role="control",
                party=party.id,
                name=party.name,
                area_km2=round(geodesic_area_km2(geom), 1),
            )
        )
    features.append(
        _feature(
            agreement.line,
            role="line",
            origin=agreement.line_origin,
            length_km=round(agreement.line_length_km, 1),
        )
    )
    for sector in agreement.sectors(sector_length_km):
        stretch = shapely.ops.substring(
            agreement.line_local, sector.start_km * 1e3, sector.end_km * 1e3
        )
        features.append(
            _feature(
                agreement.projection.to_wgs84(stretch),
                role="sector",
                id=sector.name,
                start_km=round(sector.start_km, 1),
                end_km=round(sector.end_km, 1),
            )
        )
    for zone in agreement.zones.values():
        features.append(
            _feature(
                zone.geometry,
                role="zone",
                id=zone.id,
                origin=zone.origin,
                area_km2=round(geodesic_area_km2(zone.geometry), 1),
            )
        )
    for rule in agreement.rules:
        if rule.kind is not RuleKind.WITHDRAWAL:
            continue
        for party in agreement.parties:
            geom = agreement.withdrawal_zone(rule, party.id)
            features.append(
                _feature(
                    geom,
                    role="withdrawal-zone",
                    rule=rule.id,
                    article=rule.article,
                    party=party.id,
                    classes=list(rule.classes),
                    min_distance_km=rule.min_distance_km,
                    area_km2=round(geodesic_area_km2(geom), 1),
                )
            )
    return {
        "type": "FeatureCollection",
        "name": agreement.name,
        "properties": {
            "agreement": agreement.name,
            "line_length_km": round(geodesic_length_km(agreement.line), 1),
        },
        "features": features,
    }
