"""`truceline place`: a point phrased the way monitoring reports do."""

from __future__ import annotations

from typing import Annotated

import typer


def place(
    ctx: typer.Context,
    lon: Annotated[float, typer.Argument(help="Longitude, degrees east (WGS 84).")],
    lat: Annotated[float, typer.Argument(help="Latitude, degrees north (WGS 84).")],
    agreement: Annotated[
        str | None,
        typer.Option("--agreement", help="Also say which side of the line and how far from it."),
    ] = None,
) -> None:
    """Describe a point relative to the nearest settlement: '3.2 km SE of Toretsk (Donetsk
    oblast)'; with --agreement, its side of the contact line and its distance from it."""
    from truceline.geo.gazetteer import Gazetteer

    g = ctx.obj.settings.gazetteer
    text = str(
        Gazetteer(min_population=g.min_population, max_distance_km=g.max_distance_km).describe(
            lon, lat
        )
    )
    if agreement is not None:
        from truceline.agreement import load_agreement

        a = load_agreement(agreement)
        party = a.party_at(lon, lat)[0] or "no party's control area"
        km = a.distance_to_line_m(lon, lat)[0] / 1e3
        text += f"; {party} side, {km:.1f} km from the contact line"
    typer.echo(text)
