"""Small, valid records for the store tests."""

from __future__ import annotations

import json
from typing import Any

from truceline.records import (
    Ellipse,
    EvaluationMode,
    EvaluationStatus,
    Event,
    Observation,
    Origin,
    Provenance,
    Violation,
)

T0 = 1_772_323_200_000_000_000  # 2026-03-01T00:00:00Z, ns


def observation(
    id: str = "obs-1",
    *,
    time_ns: int = T0,
    sensor: str = "A-01",
    raw: str | None = None,
    **fields: Any,
) -> Observation:
    """An acoustic observation whose raw text is the JSON line it would arrive as."""
    fields = fields or {"snr_db": 12.5, "signal": "launch"}
    if raw is None:
        raw = json.dumps(
            {"id": id, "kind": "acoustic", "sensor": sensor, "time_ns": time_ns, **fields},
            ensure_ascii=False,
        )
    return Observation(
        id=id,
        kind="acoustic",
        sensor=sensor,
        time_ns=time_ns,
        raw=raw,
        received_ns=T0 + 5_000_000_000,
        fields=fields,
    )


def provenance(**overrides: Any) -> Provenance:
    values: dict[str, Any] = {
        "evaluation_mode": EvaluationMode.AUTOMATIC,
        "evaluation_status": EvaluationStatus.PRELIMINARY,
        "author": "truceline 0.1.0",
        "created_ns": T0 + 60_000_000_000,
        "method": "tdoa-least-squares",
        "inputs": ("obs-1", "obs-2", "obs-3"),
    }
    values.update(overrides)
    return Provenance(**values)


def violation(id: str = "ev-1/no-fire", event_id: str = "ev-1", **overrides: Any) -> Violation:
    values: dict[str, Any] = {
        "id": id,
        "rule": "no-fire",
        "article": "1",
        "event_id": event_id,
        "party": "RU",
        "probability": 0.83,
        "explanation": "launch after the ceasefire took effect, from RU-controlled territory",
        "provenance": provenance(method="rule:no-fire", inputs=(event_id,)),
    }
    values.update(overrides)
    return Violation(**values)


def event(id: str = "ev-1", *, time_ns: int = T0 + 123_456_789, **overrides: Any) -> Event:
    values: dict[str, Any] = {
        "id": id,
        "type": "launch",
        "origin": Origin(
            lon=37.80123456789,
            lat=48.01987654321,
            time_ns=time_ns,
            ellipse95=Ellipse(major_m=61.2, minor_m=23.4, azimuth_deg=112.5),
            covariance=((400.0, 12.0, 0.001), (12.0, 90.0, 0.0002), (0.001, 0.0002, 1e-6)),
            rms_residual_s=0.0123,
            n_sensors=5,
        ),
        "provenance": provenance(),
        "evidence": ("obs-1", "obs-2", "obs-3"),
        "paired": None,
        "attribution": {"RU": 0.83, "UA": 0.05},
        "violations": (violation(f"{id}/no-fire", id),),
        "properties": {"place": "4 km NNE of Horlivka", "weapon_class": "artillery-100mm-plus"},
    }
    values.update(overrides)
    return Event(**values)
