"""`truceline simulate`: run a scenario and write sensors, observations and ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from truceline.cli.options import AsJson, Progress


def simulate(
    scenario: Annotated[
        str,
        typer.Option(
            "--scenario",
            help="Scenario file, or a name: scenarios/NAME.yaml here, else a bundled "
            "scenario (sector-quick, sector-day, line-heavy-day, "
            "ceasefire-breach).",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Directory to write the files to.")],
    seed: Annotated[
        int | None, typer.Option("--seed", min=0, help="Random seed (default: the scenario's).")
    ] = None,
    progress: Progress = True,
    as_json: AsJson = False,
) -> None:
    """Simulate a scenario: write agreement.yaml, areas.geojson, sensors.geojson,
    observations.jsonl, truth.jsonl, scenario.yaml and truth_summary.json to --out."""
    import json

    from truceline.sim import simulate as run

    summary = run(scenario, seed, out, progress=progress)
    if as_json:
        typer.echo(json.dumps(summary.as_dict(), indent=2))
        return
    console = Console()
    console.print(
        f"[bold]{summary.scenario}[/] seed {summary.seed}: {summary.agreement}, line "
        f"km {summary.sector_km[0]:,.1f}-{summary.sector_km[1]:,.1f}, "
        f"{summary.duration_h:g} h from {summary.start}, {summary.wall_s:.1f} s"
    )
    table = Table(show_header=True)
    for col, justify in (("what", "left"), ("count", "right")):
        table.add_column(col, justify=justify)
    for kind, n in summary.sensors.items():
        table.add_row(f"sensors: {kind}", f"{n:,}")
    for kind, n in sorted(summary.sources.items()):
        table.add_row(f"sources: {kind}", f"{n:,}")
    for party, n in summary.launches_by_party.items():
        table.add_row(f"launches: {party}", f"{n:,}")
    for kind, n in sorted(summary.observations.items()):
        table.add_row(f"observations: {kind}", f"{n:,}")
    table.add_row("false alarms (acoustic + clutter)", f"{summary.false_alarms:,}")
    table.add_row("lines written (incl. re-sends)", f"{summary.lines_written:,}")
    table.add_row("re-sent / late", f"{summary.resent:,} / {summary.late:,}")
    console.print(table)
    console.print(f"wrote {', '.join(summary.files)} to {summary.out_dir}")
