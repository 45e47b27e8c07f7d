"""`truceline config`: what the settings are and where each value came from."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from truceline.config import declared, settings_markdown

app = typer.Typer(help="Show the settings in force and their declarations.", no_args_is_help=True)


@app.command("show")
def show(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Every setting: its value, unit, where the value came from, and what it means."""
    loaded = ctx.obj.loaded
    rows = [
        {
            "key": s.key,
            "value": loaded.value(s.key),
            "unit": s.unit,
            "origin": loaded.origins[s.key],
            "description": s.description,
        }
        for s in declared()
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    table = Table(
        title="truceline settings"
        + (f" (site file {loaded.site_file})" if loaded.site_file else "")
    )
    for col in ("setting", "value", "unit", "from", "description"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r["key"], str(r["value"]), r["unit"] or "", r["origin"], r["description"])
    Console().print(table)


@app.command("docs")
def docs() -> None:
    """The settings reference as Markdown (docs/configuration.md is made from this)."""
    typer.echo(settings_markdown(), nl=False)
