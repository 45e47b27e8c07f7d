"""`truceline process`: observations in, located events out (contract section 6)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from truceline.cli.options import (
    AgreementOption,
    AsJson,
    ObservationsOption,
    Progress,
    SensorsOption,
)
from truceline.errors import UsageError


def process(
    ctx: typer.Context,
    agreement: AgreementOption,
    sensors: SensorsOption,
    observations: ObservationsOption,
    out: Annotated[Path, typer.Option("--out", help="Directory for events.geojson.")],
    progress: Progress = True,
    as_json: AsJson = False,
) -> None:
    """Ingest observations (bad ones quarantined with their reason), associate and locate
    acoustic events, decide launch or impact and pair them; store everything (--db) and write
    OUT/events.geojson."""
    from truceline.process import process as run

    if observations != "-" and not Path(observations).is_file():
        raise UsageError(f"{observations}: observations file not found")
    summary, _ = run(agreement, sensors, observations, out, ctx.obj.settings, progress=progress)
    data = summary.as_dict()
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    table = Table(title=f"truceline process: run {summary.run_id}")
    table.add_column("")
    table.add_column("count", justify="right")
    ing = summary.ingest
    rows = [
        ("lines read", ing.lines),
        ("observations accepted", ing.accepted),
        ("re-sent (no-op)", ing.duplicates_in_run),
        *(
            (("already stored by an earlier run", ing.duplicates_in_store),)
            if ing.duplicates_in_store
            else ()
        ),
        ("quarantined", ing.quarantined_total),
        *((f"  {code}", n) for code, n in sorted(ing.quarantined.items())),
        ("acoustic detections", summary.acoustic_detections),
        ("weather reports", summary.weather_reports),
        *(
            (f"stored, not yet processed: {k}", n)
            for k, n in sorted(summary.not_yet_processed.items())
        ),
        ("events", summary.events),
        ("  launches", summary.launches),
        ("  impacts", summary.impacts),
        ("  launch-impact pairs", summary.paired),
    ]
    for label, n in rows:
        table.add_row(label, f"{n:,}")
    console = Console()
    console.print(table)
    rate = data["detections_per_s"]
    console.print(
        f"{summary.elapsed_s:.1f} s"
        + (f" ({rate:,.0f} detections/s)" if rate else "")
        + f"; events: {summary.events_path}"
    )
    if summary.stages_s:
        console.print(
            "stages (wall): "
            + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in summary.stages_s.items())
        )
    if ing.duplicates_in_store:
        console.print(
            f"note: {ing.duplicates_in_store:,} observations were already in the store "
            f"({_plain_url(ctx.obj.settings.store.url)}) from an earlier run; they were used "
            "again but not stored twice. For a run of its own, give it a store of its own "
            "(--db or TRUCELINE_DB).",
            highlight=False,
            soft_wrap=True,
        )
    ledger = summary.ledger
    if ledger.get("tree_size") is not None:
        state = f"signed (key {ledger['key_id'][:16]})" if ledger["signed"] else "not signed"
        console.print(
            f"evidence ledger: {ledger['tree_size']:,} entries, "
            f"root {ledger['root_hash'][:16]}..., head {state}",
            highlight=False,
            soft_wrap=True,
        )
        if ledger.get("note"):
            console.print(f"  {ledger['note']}", highlight=False, soft_wrap=True)


def _plain_url(url: str) -> str:
    """A store URL without its password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL: a path, shown as given
        return url
