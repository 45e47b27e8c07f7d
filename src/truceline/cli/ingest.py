"""`truceline ingest`: load sensors and observations into the store, quarantining bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from truceline.cli.options import AsJson, Progress
from truceline.errors import UsageError
from truceline.timeutil import parse_time


def ingest(
    ctx: typer.Context,
    sensors: Annotated[
        Path, typer.Option("--sensors", help="sensors.geojson (contract section 2).")
    ],
    observations: Annotated[
        str,
        typer.Option(
            "--observations",
            help="observations.jsonl (contract section 3), or - for standard input.",
        ),
    ],
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Start of the run's time window (RFC 3339), with --until; default: inferred "
            "from the data (setting ingest.window_hours).",
        ),
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="End of the run's time window (RFC 3339).")
    ] = None,
    progress: Progress = True,
    as_json: AsJson = False,
) -> None:
    """Validate sensors and observations and store them (--db). Bad observations are
    quarantined with their reason, never dropped; a summary table shows the counts. Exit 0 even
    when some were quarantined; exit 2 if the sensors file is broken."""
    from truceline.ingest import ingest as run
    from truceline.ingest import read_sensors
    from truceline.store import open_store

    settings = ctx.obj.settings
    window = _window(since, until)
    if observations != "-" and not Path(observations).is_file():
        raise UsageError(f"{observations}: observations file not found")
    sensor_list = read_sensors(sensors)
    with open_store(
        settings.store.url,
        batch_size=settings.store.batch_size,
        ledger=settings.ledger.enabled,
    ) as store:
        run_id = store.begin_run(
            "ingest",
            {
                "sensors": str(sensors),
                "observations": observations,
                "window": [since, until] if window else None,
                "ingest": settings.ingest.model_dump(),
            },
        )
        summary = run(
            store,
            sensor_list,
            observations,
            run_id=run_id,
            settings=settings,
            progress=progress,
            window=window,
        )
        store.finish_run(run_id, summary.as_dict())
    if as_json:
        typer.echo(json.dumps({"run_id": run_id, **summary.as_dict()}, indent=2))
        return
    console = Console()
    console.print(
        f"[bold]ingest[/] {escape(summary.source)} into {escape(store.url)}, run {run_id}: "
        f"{summary.lines:,} lines in {summary.seconds:.1f} s",
        highlight=False,
        soft_wrap=True,
    )
    console.print(f"time window: {summary.window}", highlight=False, soft_wrap=True)
    table = Table(show_header=True)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("sensors", f"{summary.sensors:,}")
    table.add_row("lines", f"{summary.lines:,}")
    table.add_row("accepted (stored)", f"{summary.accepted:,}")
    table.add_row("duplicates in this run (no-op)", f"{summary.duplicates_in_run:,}")
    table.add_row("duplicates already stored (no-op)", f"{summary.duplicates_in_store:,}")
    table.add_row("blank lines", f"{summary.blank:,}")
    for code, count in sorted(summary.quarantined.items()):
        table.add_row(f"quarantined: {code}", f"{count:,}")
    table.add_row("quarantined in all", f"{summary.quarantined_total:,}", style="bold")
    console.print(table)
    if summary.examples:
        console.print("first of each reason:")
        for code, example in sorted(summary.examples.items()):
            console.print(f"  {code}: {escape(example)}", highlight=False, soft_wrap=True)


def _window(since: str | None, until: str | None) -> tuple[int, int] | None:
    if since is None and until is None:
        return None
    if since is None or until is None:
        raise UsageError("--since and --until go together: give both, or neither to infer it")
    try:
        since_ns, until_ns = parse_time(since), parse_time(until)
    except ValueError as exc:
        raise UsageError(f"time window: {exc}") from None
    if until_ns <= since_ns:
        raise UsageError(f"--until {until} must be later than --since {since}")
    return since_ns, until_ns
