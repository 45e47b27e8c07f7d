"""Scoring located events against ground truth (`truceline evaluate`).

`load` reads the files, `evaluate` matches events to true sources (`match`) and computes the
metric groups (`metrics.METRIC_GROUPS`), giving a `Report` that prints a table and writes JSON.

    inputs = load(Path("truth.jsonl"), Path("events.geojson"), observations, sensors)
    report = evaluate(inputs)
    report.metric("detection", "precision")
"""

import truceline.evaluate.radar  # noqa: F401  (appends the radar metric groups)
from truceline.evaluate.inputs import (
    EventFeature,
    Inputs,
    ObservationInfo,
    SensorSite,
    TruthSource,
    WeatherReport,
    load,
)
from truceline.evaluate.match import (
    EVENT_CLASSES,
    Match,
    Matching,
    MatchSettings,
    match_by_evidence,
    match_by_proximity,
    match_events,
)
from truceline.evaluate.metrics import (
    METRIC_GROUPS,
    Context,
    MetricGroup,
    Row,
    Target,
    inside_ellipse,
    median_radial_error_m,
)
from truceline.evaluate.report import GroupResult, Report, evaluate

__all__ = [
    "EVENT_CLASSES",
    "METRIC_GROUPS",
    "Context",
    "EventFeature",
    "GroupResult",
    "Inputs",
    "Match",
    "MatchSettings",
    "Matching",
    "MetricGroup",
    "ObservationInfo",
    "Report",
    "Row",
    "SensorSite",
    "Target",
    "TruthSource",
    "WeatherReport",
    "evaluate",
    "inside_ellipse",
    "load",
    "match_by_evidence",
    "match_by_proximity",
    "match_events",
    "median_radial_error_m",
]
