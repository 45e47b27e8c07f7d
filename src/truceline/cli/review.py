"""`truceline review`: an analyst's decision on an event or a violation, kept beside the
automatic result and never overwriting it; every decision is appended in order (the store's
`reviews` table, through `Store.add_review`, the one place reviews are recorded)."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer
from rich.console import Console

from truceline.errors import UsageError

STATUSES = ("reviewed", "confirmed", "rejected")


def _find(store, target: str) -> tuple[str, Any] | None:
    """('event', Event) or ('violation', Violation) stored under `target`, else None."""
    event = store.event(target)
    if event is not None:
        return "event", event
    event_id = target.rsplit(":", 1)[0]
    for violation in store.violations(event_id):
        if violation.id == target:
            return "violation", violation
    return None


def _automatic(kind: str, record: Any) -> dict[str, Any]:
    prov = record.provenance
    out: dict[str, Any] = {
        "kind": kind,
        "id": record.id,
        "evaluation_mode": str(prov.evaluation_mode),
        "evaluation_status": str(prov.evaluation_status),
        "method": prov.method,
    }
    if kind == "event":
        detail = record.properties.get("attribution_detail") or {}
        out.update(
            type=record.type,
            attribution=dict(record.attribution),
            words=detail.get("words"),
            violations=[v.id for v in record.violations],
        )
    else:
        out.update(
            rule=record.rule,
            article=record.article,
            event=record.event_id,
            party=record.party,
            probability=record.probability,
            explanation=record.explanation,
        )
    return out


def review(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="Id of an event or a violation (EVENT:RULE).")],
    status: Annotated[
        str | None,
        typer.Option("--status", help="reviewed, confirmed or rejected; omit to show history."),
    ] = None,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why (required with --status).")
    ] = None,
    by: Annotated[
        str | None, typer.Option("--by", help="The analyst (required with --status).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Record an analyst's review of an event or violation, or show its automatic result and
    every review so far, oldest first. The automatic result is never changed."""
    from truceline.records import Review
    from truceline.store import open_store
    from truceline.timeutil import format_time

    if status is not None:
        if status not in STATUSES:
            raise UsageError(f"--status must be one of {', '.join(STATUSES)}, not {status!r}")
        if not (reason and reason.strip()) or not (by and by.strip()):
            raise UsageError("--status needs --reason TEXT and --by NAME")
    settings = ctx.obj.settings
    with open_store(settings.store.url, create=False) as store:
        found = _find(store, target)
        if found is None:
            raise UsageError(f"no event or violation {target!r} in {store.url}")
        if status is not None:
            store.add_review(
                Review(
                    target_id=target,
                    status=status,
                    reason=reason.strip(),  # type: ignore[union-attr]
                    by=by.strip(),  # type: ignore[union-attr]
                    time_ns=time.time_ns(),
                )
            )
        history = store.reviews(target)
    data = {
        "automatic": _automatic(*found),
        "reviews": [
            {
                "status": str(r.status),
                "reason": r.reason,
                "by": r.by,
                "time": format_time(r.time_ns),
            }
            for r in history
        ],
        "status": str(history[-1].status) if history else found[1].provenance.evaluation_status,
    }
    if as_json:
        typer.echo(json.dumps(data, indent=2, default=str))
        return
    console = Console()
    auto = data["automatic"]
    console.print(f"[bold]{auto['kind']} {target}[/] (automatic: {auto['evaluation_status']})")
    for key, value in auto.items():
        if key not in ("kind", "id", "evaluation_status"):
            console.print(f"  {key}: {value}", highlight=False, soft_wrap=True)
    if not history:
        console.print("no reviews")
    for r in data["reviews"]:
        console.print(
            f"  {r['time']}  {r['status']:<9}  by {r['by']}: {r['reason']}", soft_wrap=True
        )
    console.print(f"current status: {data['status']}")
