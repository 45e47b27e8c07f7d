"""`truceline report`: the daily report (HTML and PDF) for a day or a period, from the store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def report(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="Directory to write the report to.")],
    day: Annotated[
        str | None, typer.Option("--date", help="The UTC day to report on, YYYY-MM-DD.")
    ] = None,
    start: Annotated[
        str | None,
        typer.Option("--from", help="Start of the period: YYYY-MM-DD or an RFC 3339 time."),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option("--to", help="End of the period (a date includes that whole day)."),
    ] = None,
    agreement: Annotated[
        str | None,
        typer.Option(
            "--agreement",
            help="Agreement to draw and check against (default: the newest process run's, "
            "else illustrative-2026).",
        ),
    ] = None,
    evaluation: Annotated[
        Path | None,
        typer.Option(
            "--evaluation",
            help="`truceline evaluate --json` output for the methodology section "
            "(without it the report says: not evaluated).",
        ),
    ] = None,
    key: Annotated[
        Path | None,
        typer.Option("--key", help="Monitor's public key to check the signed head with."),
    ] = None,
    pdf: Annotated[bool, typer.Option("--pdf/--no-pdf", help="Also print it as PDF.")] = True,
) -> None:
    """Write report.html (self-contained: figures inline) and report.pdf for the period."""
    from truceline.ledger.keys import load_private_key, load_public_key
    from truceline.report import Period, make_report
    from truceline.store import open_store

    settings = ctx.obj.settings
    period = Period.parse(day, start, end)
    public = None
    if key is not None:
        public = load_public_key(key)
    elif settings.ledger.key_path:
        public = load_private_key(settings.ledger.key_path).public_key()
    with open_store(settings.store.url, create=False, batch_size=settings.store.batch_size) as st:
        files = make_report(
            st,
            period,
            settings,
            out,
            agreement=agreement,
            evaluation=evaluation,
            public_key=public,
            pdf=pdf,
        )
    typer.echo(
        f"report {period.label}: {files.events} events, {files.violations} violations, "
        f"{files.elapsed_s:.1f} s"
    )
    typer.echo(f"  HTML: {files.html}")
    if files.pdf is not None:
        typer.echo(f"  PDF:  {files.pdf} ({files.pages} pages)")
