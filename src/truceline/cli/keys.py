"""`truceline keys`: the monitor's Ed25519 signing key."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="The monitor's signing key (for signed ledger heads).", no_args_is_help=True)

DEFAULT_KEY = "monitor.key"


def _key_path(ctx: typer.Context, path: Path | None) -> Path:
    if path is not None:
        return path
    configured = ctx.obj.settings.ledger.key_path
    return Path(configured) if configured else Path(DEFAULT_KEY)


@app.command("init")
def init(
    ctx: typer.Context,
    path: Annotated[
        Path | None,
        typer.Argument(help="Private key file (default: ledger.key_path, else monitor.key)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing key.")] = False,
) -> None:
    """Make the monitor's signing key: PATH (private, mode 0600) and PATH.pub (public, base64).
    Publish PATH.pub: it is what outsiders need to check signed heads and evidence bundles."""
    from truceline.ledger.keys import init_key, key_id, load_public_key

    private, public = init_key(_key_path(ctx, path), force=force)
    typer.echo(f"private key: {private} (mode 0600; keep it secret, back it up)")
    typer.echo(f"public key:  {public} (publish this)")
    typer.echo(f"key id:      {key_id(load_public_key(public))}")
    if ctx.obj.settings.ledger.key_path != str(private):
        typer.echo(
            f"to sign tree heads with it: --set ledger.key_path={private} "
            f"(or TRUCELINE_KEY, or [ledger] key_path in truceline.toml)"
        )


@app.command("show")
def show(
    ctx: typer.Context,
    path: Annotated[
        Path | None, typer.Argument(help="Private or public key file (default: ledger.key_path).")
    ] = None,
) -> None:
    """Print the public key (base64) and its key id."""
    from truceline.ledger.keys import key_id, load_private_key, load_public_key, public_key_b64

    path = _key_path(ctx, path)
    text = path.read_text(encoding="ascii", errors="replace") if path.is_file() else ""
    key = load_private_key(path) if "PRIVATE KEY" in text else load_public_key(path)
    typer.echo(f"public key: {public_key_b64(key)}")
    typer.echo(f"key id:     {key_id(key)}")
