"""`truceline evaluate`: score located events against ground truth (contract section 6)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, cast

import typer
from rich.console import Console

_FILE = {"exists": True, "dir_okay": False, "readable": True}


def evaluate(
    ctx: typer.Context,
    truth: Annotated[
        Path, typer.Option("--truth", help="truth.jsonl (simulator output).", **_FILE)
    ],
    events: Annotated[Path, typer.Option("--events", help="events.geojson to score.", **_FILE)],
    observations: Annotated[
        Path | None,
        typer.Option(
            "--observations",
            help="observations.jsonl: which sensor made each observation "
            "(recall over well-heard sources, the Cramér-Rao bound) and "
            "the weather.",
            **_FILE,
        ),
    ] = None,
    sensors: Annotated[
        Path | None,
        typer.Option(
            "--sensors",
            help="sensors.geojson: positions and timing errors (the Cramér-Rao bound).",
            **_FILE,
        ),
    ] = None,
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help="Write the scores to this file as JSON.", dir_okay=False),
    ] = None,
    match: Annotated[
        str,
        typer.Option(
            "--match",
            help="Matching rule: auto (evidence, and proximity for events without "
            "evidence), evidence or proximity.",
        ),
    ] = "auto",
    window_s: Annotated[
        float, typer.Option("--window-s", min=0.0, help="Proximity rule: time window, s.")
    ] = 5.0,
    distance_m: Annotated[
        float, typer.Option("--distance-m", min=0.0, help="Proximity rule: distance, m.")
    ] = 1000.0,
    min_sensors: Annotated[
        int,
        typer.Option(
            "--min-sensors",
            min=1,
            help="Recall counts sources heard by at least this many distinct sensors.",
        ),
    ] = 5,
    prop_sigma_s_per_km: Annotated[
        float | None,
        typer.Option(
            "--prop-sigma-s-per-km",
            min=0.0,
            help="Propagation timing error of the bound's noise model, s per km (default: "
            "acoustics.propagation_jitter_s_per_km of a scenario.yaml beside the truth file, "
            "else the setting locate.propagation_jitter_s_per_km).",
        ),
    ] = None,
    agreement: Annotated[
        str | None,
        typer.Option(
            "--agreement",
            help="agreement.yaml (or a bundled name) for the violation and attribution scores; "
            "default: agreement.yaml beside the truth file, if there is one.",
        ),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit with code 1 when a target is missed.")
    ] = False,
) -> None:
    """Match events to true sources and print recall, precision, location error, ellipse
    coverage, the Cramér-Rao bound comparison, launch/impact and pairing accuracy; with an
    agreement, violation precision and recall per rule, attribution accuracy per distance band
    from the line and the calibration table."""
    from truceline.cli import AppContext
    from truceline.config import LocateSettings
    from truceline.errors import UsageError
    from truceline.evaluate import Context, MatchSettings, load
    from truceline.evaluate import evaluate as run
    from truceline.evaluate.inputs import read_propagation_sigma
    from truceline.evaluate.match import EVENT_CLASSES, Rule

    if match not in ("auto", "evidence", "proximity"):
        raise UsageError(f"--match must be auto, evidence or proximity, not {match!r}")
    if window_s <= 0 or distance_m <= 0:
        raise UsageError("--window-s and --distance-m must be positive")
    wanted = set().union(*EVENT_CLASSES.values())
    inputs = load(truth, events, observations, sensors, wanted_types=wanted)
    app = ctx.find_object(AppContext)
    locate = app.settings.locate if app is not None else LocateSettings()
    from_scenario = read_propagation_sigma(truth)
    if prop_sigma_s_per_km is not None:
        jitter, origin = prop_sigma_s_per_km, "--prop-sigma-s-per-km"
    elif from_scenario is not None:
        jitter, origin = from_scenario, str(truth.parent / "scenario.yaml")
    else:
        jitter, origin = locate.propagation_jitter_s_per_km, "setting locate"
    locate = locate.model_copy(update={"propagation_jitter_s_per_km": jitter})
    from truceline.agreement import load_agreement

    beside = truth.parent / "agreement.yaml"
    if agreement is None and beside.is_file():
        agreement = str(beside)
    terms = load_agreement(agreement) if agreement is not None else None
    context = Context(
        inputs, min_sensors=min_sensors, locator=locate, noise_origin=origin, agreement=terms
    )
    rule = cast(Rule, match)
    settings = MatchSettings(rule=rule, window_s=window_s, distance_m=distance_m)
    report = run(inputs, settings, context)
    report.render(Console())
    if json_out is not None:
        report.write_json(json_out)
        Console().print(f"wrote {json_out}")
    if strict and report.targets()["pass"] is False:
        raise typer.Exit(1)
