"""`truceline export-evidence` and `truceline verify`: evidence bundles anyone can check."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def export_evidence(
    ctx: typer.Context,
    event_id: Annotated[str, typer.Argument(help="The event's id.")],
    out: Annotated[Path, typer.Option("--out", help="New directory for the bundle.")],
) -> None:
    """Write an event's evidence: its versions, violations, reviews and attributions, the
    observations it rests on and their sensors, each with an inclusion proof, and a signed
    tree head (docs/evidence-format.md)."""
    from truceline.ledger.bundle import export_evidence as export
    from truceline.ledger.keys import load_private_key
    from truceline.store import open_store

    settings = ctx.obj.settings
    key = load_private_key(settings.ledger.key_path) if settings.ledger.key_path else None
    with open_store(settings.store.url, create=False) as store:
        summary = export(store, event_id, out, key=key)
    counts = ", ".join(f"{n} {kind}" for kind, n in sorted(summary.entries.items()))
    typer.echo(f"{out}: event {event_id}: {counts}; signed head of {summary.tree_size:,} entries")
    if summary.left_out:
        typer.echo(f"  {summary.left_out} newer entries left out (not under the signed head)")


def verify(
    directory: Annotated[Path, typer.Argument(help="The bundle's directory.")],
    key: Annotated[
        Path | None,
        typer.Option("--key", help="The monitor's published public key (file or base64)."),
    ] = None,
) -> None:
    """Check an evidence bundle offline: every entry's inclusion proof against the signed head,
    the head's signature, sensors' signatures, and that no byte was changed. Names each
    problem (file, entry, check); exit code 1 if there is any."""
    from truceline.ledger.bundle import verify_bundle
    from truceline.ledger.keys import load_public_key

    public = load_public_key(key) if key is not None else None
    result = verify_bundle(directory, public)
    for problem in result.problems:
        typer.echo(f"FAIL {problem}")
    for note in result.notes:
        typer.echo(f"note: {note}")
    if not result.ok:
        typer.echo(f"{directory}: {len(result.problems)} problem(s)")
        raise typer.Exit(1)
    typer.echo(
        f"OK {directory}: {result.entries} entries proved against the signed head, "
        f"{result.signatures_checked} sensor signature(s) good"
    )
