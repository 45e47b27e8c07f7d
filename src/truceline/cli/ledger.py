"""`truceline ledger`: the evidence ledger's head, proofs and a check of the store against it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from truceline.errors import UsageError

app = typer.Typer(
    help="The evidence ledger: signed heads, inclusion and consistency proofs, checks.",
    no_args_is_help=True,
)


def _open(ctx: typer.Context) -> Any:
    from truceline.store import open_store

    settings = ctx.obj.settings
    store = open_store(settings.store.url, create=False, batch_size=settings.store.batch_size)
    return store


def _emit(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    for key, value in data.items():
        if isinstance(value, list):
            typer.echo(f"{key}:")
            for item in value:
                typer.echo(f"  {item}")
        else:
            typer.echo(f"{key}: {value}")


@app.command("head")
def head(
    ctx: typer.Context,
    sign: Annotated[
        bool, typer.Option("--sign", help="Sign and keep a head with ledger.key_path's key.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the head as JSON.")] = False,
) -> None:
    """The ledger's current size and root; the newest signed head; with --sign, a new one."""
    from truceline.ledger.keys import load_private_key
    from truceline.timeutil import format_time

    key_path = ctx.obj.settings.ledger.key_path
    if sign and not key_path:
        raise UsageError(
            "no key to sign with: make one with `truceline keys init KEYFILE` and set "
            "ledger.key_path (--set ledger.key_path=KEYFILE or TRUCELINE_KEY)"
        )
    with _open(ctx) as store:
        ledger = store.ledger
        current = ledger.sign_head(load_private_key(key_path)) if sign else ledger.head()
        signed = current if sign else ledger.latest_head()
    data: dict[str, Any] = {
        "tree_size": current.tree_size,
        "root_hash": current.root_hash.hex(),
    }
    if signed is None:
        data["signed_head"] = "none yet (truceline ledger head --sign)"
    elif as_json:
        data["signed_head"] = signed.as_dict()
    else:
        data["signed_head"] = (
            f"size {signed.tree_size}, {format_time(signed.timestamp_ns)}, key {signed.key_id}"
        )
    _emit(data, as_json)


def _resolve(ledger: Any, entry: str) -> int:
    if entry.isdigit():
        return int(entry)
    kind, sep, ident = entry.partition(":")
    if not sep:
        raise UsageError(f"ENTRY is an index or KIND:ID (e.g. event:E-12), not {entry!r}")
    found = ledger.latest(kind, ident)
    if found is None:
        raise UsageError(f"no {kind} {ident!r} on the ledger")
    return found.index


@app.command("prove")
def prove(
    ctx: typer.Context,
    entry: Annotated[str, typer.Argument(help="Entry index, or KIND:ID for a record's newest.")],
    size: Annotated[
        int | None,
        typer.Option("--size", help="Tree size to prove against (default: newest signed head)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the proof as JSON.")] = False,
) -> None:
    """Inclusion proof of one entry (RFC 9162 audit path) against a tree head."""
    from truceline.ledger import merkle

    with _open(ctx) as store:
        ledger = store.ledger
        index = _resolve(ledger, entry)
        found = ledger.entry(index)
        if found is None:
            raise UsageError(f"no entry #{index} (the ledger has {ledger.size()})")
        if size is None:
            signed = ledger.latest_head()
            size = signed.tree_size if signed and signed.tree_size > index else ledger.size()
        if index >= size:
            raise UsageError(f"entry #{index} is not in a tree of {size} entries")
        path = ledger.inclusion_proof(index, size)
        root = ledger.root(size)
    ok = merkle.verify_inclusion(index, size, found.leaf_hash, path, root)
    data = {
        "index": index,
        "kind": found.kind,
        "id": found.record_id,
        "tree_size": size,
        "leaf_hash": found.leaf_hash.hex(),
        "root_hash": root.hex(),
        "audit_path": [h.hex() for h in path],
        "verified": ok,
        "entry": found.data.decode("utf-8"),
    }
    _emit(data, as_json)


@app.command("consistency")
def consistency(
    ctx: typer.Context,
    old_size: Annotated[int, typer.Argument(help="The older tree's size.")],
    new_size: Annotated[int | None, typer.Argument(help="The newer's (default: now).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the proof as JSON.")] = False,
) -> None:
    """Consistency proof that the newer tree extends the older (RFC 9162 2.1.4)."""
    from truceline.ledger import merkle

    with _open(ctx) as store:
        ledger = store.ledger
        new_size = ledger.size() if new_size is None else new_size
        try:
            path = ledger.consistency_proof(old_size, new_size)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        old_root, new_root = ledger.root(old_size), ledger.root(new_size)
    data = {
        "old_size": old_size,
        "old_root": old_root.hex(),
        "new_size": new_size,
        "new_root": new_root.hex(),
        "proof": [h.hex() for h in path],
        "verified": merkle.verify_consistency(old_size, new_size, old_root, new_root, path),
    }
    _emit(data, as_json)


@app.command("check")
def check(
    ctx: typer.Context,
    key: Annotated[
        Path | None,
        typer.Option("--key", help="Public key to check signed heads with (default: ledger's)."),
    ] = None,
) -> None:
    """Check the store against the ledger and the ledger against its signed heads; names
    every record, entry or head that disagrees. Exit code 1 if any does."""
    from truceline.ledger.audit import audit
    from truceline.ledger.keys import load_private_key, load_public_key

    public = None
    if key is not None:
        public = load_public_key(key)
    elif ctx.obj.settings.ledger.key_path:
        public = load_private_key(ctx.obj.settings.ledger.key_path).public_key()
    with _open(ctx) as store:
        size = store.ledger.size()
        problems = audit(store, public)
    for problem in problems:
        typer.echo(f"FAIL {problem}")
    if problems:
        typer.echo(f"{len(problems)} problem(s) in {size:,} ledger entries")
        raise typer.Exit(1)
    signed = "" if public else " (signed heads' signatures not checked: no key)"
    typer.echo(f"OK: {size:,} entries, the store agrees with the ledger{signed}")
