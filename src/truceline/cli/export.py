"""`truceline export`: the located events as GeoJSON, CSV, KML or Cursor-on-Target XML."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer


class Format(StrEnum):
    geojson = "geojson"
    csv = "csv"
    kml = "kml"
    cot = "cot"


def export(
    ctx: typer.Context,
    fmt: Annotated[Format, typer.Option("--format", help="geojson, csv, kml or cot.")],
    out: Annotated[Path, typer.Option("--out", help="File to write.")],
    start: Annotated[
        str | None,
        typer.Option("--from", help="Events from this date or RFC 3339 time (default: all)."),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option("--to", help="Events before this time (a date includes that whole day)."),
    ] = None,
    hostile: Annotated[
        list[str] | None,
        typer.Option(
            "--hostile",
            help="CoT: a party whose events are marked hostile ground (a-h-G); repeatable. "
            "Others are unknown ground (a-u-G).",
        ),
    ] = None,
) -> None:
    """Write the stored events of a period (default: all) for other tools."""
    from truceline.agreement import load_agreement
    from truceline.export import export_events, rows
    from truceline.geo.gazetteer import Gazetteer
    from truceline.report.data import Period, resolve_agreement
    from truceline.store import open_store

    settings = ctx.obj.settings
    since = until = None
    if start is not None or end is not None:
        period = Period.parse(None, start or "1970-01-01", end or "2262-01-01")
        since, until = period.since_ns, period.until_ns
    with open_store(settings.store.url, create=False, batch_size=settings.store.batch_size) as st:
        events = st.events(since, until)
        runs = [r for r in st.runs() if r.command == "process"]
    terms = load_agreement(resolve_agreement(None, runs[-1] if runs else None))
    gazetteer = Gazetteer(settings.gazetteer.min_population, settings.gazetteer.max_distance_km)
    items = rows(events, gazetteer, settings.attribute.party_threshold)
    parties = [p.id for p in terms.parties]  # the report's colours, in the agreement's order
    count = export_events(
        out,
        str(fmt),
        items,
        yardstick=settings.attribute.yardstick,
        parties=parties,
        hostile=hostile or (),
    )
    typer.echo(f"{count} events written to {out} ({fmt})")
