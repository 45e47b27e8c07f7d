"""`truceline db`: create or upgrade the store's schema and say what it holds."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="The store (SQLite by default; --db or TRUCELINE_DB for another).", no_args_is_help=True
)


@app.command("upgrade")
def upgrade(ctx: typer.Context) -> None:
    """Create the schema or bring it to the newest version (idempotent)."""
    from truceline.store import open_store

    with open_store(ctx.obj.settings.store.url, upgrade=True) as store:
        typer.echo(f"{store.url}: schema at version {store.schema_version()}")


@app.command("status")
def status(ctx: typer.Context) -> None:
    """Schema version and how many records of each kind the store holds."""
    from truceline.store import open_store

    with open_store(ctx.obj.settings.store.url, upgrade=False, create=False) as store:
        current, head = store.schema_version(), store.head_version()
        typer.echo(f"store: {store.url}")
        typer.echo(
            f"schema: {current or 'none'} (newest {head})"
            + ("" if current == head else "; run `truceline db upgrade`")
        )
        if current != head:
            return
        typer.echo(f"observations: {store.observation_count():,}")
        for code, count in sorted(store.quarantine_counts().items()):
            typer.echo(f"quarantined ({code}): {count:,}")
