"""`events.geojson` (contract section 4): one Point feature per located event."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from truceline.jsontext import json_encoder
from truceline.records import Event
from truceline.timeutil import format_time


def event_feature(event: Event) -> dict[str, Any]:
    """One event as a GeoJSON feature: the contract's properties, then truceline's extensions."""
    origin = event.origin
    ellipse = origin.ellipse95
    props: dict[str, Any] = {
        "id": event.id,
        "type": event.type,
        "time": format_time(origin.time_ns),
        "ellipse95": None
        if ellipse is None
        else {
            "major_m": round(ellipse.major_m, 2),
            "minor_m": round(ellipse.minor_m, 2),
            "azimuth_deg": round(ellipse.azimuth_deg, 2),
        },
        "attribution": {k: round(float(v), 6) for k, v in event.attribution.items()},
        "violations": [
            {
                "rule": v.rule,
                "article": v.article,
                "party": v.party,
                "probability": round(v.probability, 6),
                "id": v.id,
                "explanation": v.explanation,
            }
            for v in event.violations
        ],
        "evidence": list(event.evidence),
    }
    if event.paired is not None:
        props["paired"] = event.paired
    if event.path:
        props["path"] = [[lon, lat, alt, format_time(t)] for lon, lat, alt, t in event.path]
    props["n_sensors"] = origin.n_sensors
    if origin.rms_residual_s is not None:
        props["rms_residual_s"] = round(origin.rms_residual_s, 6)
    if origin.covariance is not None:
        props["covariance_enu_t"] = [[float(f"{v:.6g}") for v in row] for row in origin.covariance]
    prov = event.provenance
    props["evaluation_mode"] = str(prov.evaluation_mode)
    props["evaluation_status"] = str(prov.evaluation_status)
    props["author"] = prov.author
    props["method"] = prov.method
    props["created"] = format_time(prov.created_ns)
    for key, value in event.properties.items():
        props.setdefault(key, value)
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [round(origin.lon, 7), round(origin.lat, 7)]},
        "properties": props,
    }


def write_events(path: Path, events: Iterable[Event], run: Mapping[str, Any] | None = None) -> int:
    """Write events as a FeatureCollection, in origin-time order; `run` describes the run that
    made them (stored as the collection's `properties.run`). Returns the number written."""
    ordered = sorted(events, key=lambda e: (e.origin.time_ns, e.id))
    collection: dict[str, Any] = {"type": "FeatureCollection"}
    if run is not None:
        collection["properties"] = {"run": dict(run)}
    # Each feature through the C encoder (`json.dump` streams through the pure-Python one,
    # minutes on a whole day); the same bytes as dumping the whole collection.
    head = _encode(collection)[:-1] + ',"features":['
    features = [_encode(event_feature(e)) for e in ordered]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        f.write(head)
        f.write(",".join(features))
        f.write("]}")
    return len(ordered)


_encode = json_encoder(sort_keys=False, allow_nan=True)
