"""`truceline agreement`: check, show and export an agreement."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from truceline.agreement import load_agreement
from truceline.agreement.export import agreement_features

app = typer.Typer(
    help="Check, show and export a ceasefire agreement (agreement.yaml + "
    "areas.geojson, or a bundled name such as illustrative-2026).",
    no_args_is_help=True,
)

PathArg = Annotated[
    str,
    typer.Argument(help="agreement.yaml, a directory holding one, or a bundled agreement name."),
]


@app.command("check")
def check(path: PathArg) -> None:
    """Validate an agreement; print each problem on one line and exit 2 if there are any."""
    agreement = load_agreement(path)
    typer.echo(
        f"ok: {agreement.name}: {len(agreement.parties)} parties, {len(agreement.rules)} "
        f"rules, {len(agreement.zones)} zones, line {agreement.line_length_km:,.1f} km"
    )


@app.command("show")
def show(
    path: PathArg, as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False
) -> None:
    """Parties with their areas, the line's length, zones and rules."""
    summary = load_agreement(path).summary()
    if as_json:
        typer.echo(json.dumps(summary, indent=2, ensure_ascii=False))
        return
    console = Console()
    console.print(f"[bold]{summary['name']}[/]  effective {summary['effective']}")
    console.print(
        f"Contact line: [bold]{summary['line_length_km']:,.1f} km[/] ({summary['line_origin']})"
    )
    parties = Table(title="Parties")
    for col, justify in (("id", "left"), ("name", "left"), ("controlled area km²", "right")):
        parties.add_column(col, justify=justify)
    for p in summary["parties"]:
        parties.add_row(p["id"], p["name"], f"{p['area_km2']:,.0f}")
    console.print(parties)
    if summary["zones"]:
        zones = Table(title="Zones")
        for col, justify in (("id", "left"), ("area km²", "right"), ("defined by", "left")):
            zones.add_column(col, justify=justify)
        for z in summary["zones"]:
            zones.add_row(z["id"], f"{z['area_km2']:,.1f}", z["origin"])
        console.print(zones)
    rules = Table(title="Rules")
    for col in ("article", "id", "kind", "statement"):
        rules.add_column(col)
    for r in summary["rules"]:
        rules.add_row(r["article"], r["id"], r["kind"], r["statement"])
    console.print(rules)


@app.command("export")
def export(
    ctx: typer.Context,
    path: PathArg,
    out: Annotated[Path, typer.Option("--out", help="GeoJSON file to write.")],
) -> None:
    """Write control areas, line, sectors, zones and withdrawal zones as GeoJSON (for QGIS)."""
    agreement = load_agreement(path)
    collection = agreement_features(agreement, ctx.obj.settings.geo.sector_length_km)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(collection, ensure_ascii=False), encoding="utf-8")
    typer.echo(f"wrote {len(collection['features'])} features to {out}")
