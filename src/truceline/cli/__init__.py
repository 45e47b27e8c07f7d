"""The `truceline` command line. Each command group lives in its own module here."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from truceline import __version__
from truceline.config import LoadedSettings, load_settings, parse_assignment
from truceline.errors import TrucelineError
from truceline.logs import configure_logging

app = typer.Typer(
    name="truceline",
    help="Ceasefire monitoring along a contact line: locate events, check them against the "
    "agreement, attribute them, keep verifiable evidence.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
stderr = Console(stderr=True)


@dataclass
class AppContext:
    """What every command receives: the layered settings."""

    loaded: LoadedSettings

    @property
    def settings(self):
        return self.loaded.settings


def _version(value: bool) -> None:
    if value:
        typer.echo(f"truceline {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="Site configuration file (TOML); default $TRUCELINE_CONFIG, "
            "./truceline.toml or /etc/truceline/truceline.toml.",
        ),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db", help="Database URL or SQLite path (setting store.url; env TRUCELINE_DB)."
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a setting: section.name=value (repeatable)."),
    ] = None,
    log_level: Annotated[
        str | None,
        typer.Option("--log-level", help="DEBUG, INFO, WARNING or ERROR (setting log.level)."),
    ] = None,
    verbose: Annotated[
        int,
        typer.Option("--verbose", "-v", count=True, help="More log output (-v info, -vv debug)."),
    ] = 0,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    flags: dict[str, str] = dict(parse_assignment(s) for s in set_ or [])
    if db is not None:
        flags["store.url"] = db
    if verbose:
        flags["log.level"] = "DEBUG" if verbose > 1 else "INFO"
    if log_level is not None:
        flags["log.level"] = log_level.upper()
    loaded = load_settings(config_file=config, flags=flags)
    configure_logging(loaded.settings.log.level, loaded.settings.log.json_lines)
    ctx.obj = AppContext(loaded)


def _register() -> None:
    from truceline.cli import (
        agreement,
        config,
        db,
        evaluate,
        evidence,
        export,
        ingest,
        keys,
        ledger,
        live,
        place,
        process,
        report,
        review,
        simulate,
    )

    app.add_typer(agreement.app, name="agreement")
    app.add_typer(config.app, name="config")
    app.add_typer(db.app, name="db")
    app.command("simulate")(simulate.simulate)
    app.command("ingest")(ingest.ingest)
    app.command("process")(process.process)
    app.command("live")(live.live)
    app.command("evaluate")(evaluate.evaluate)
    app.command("place")(place.place)
    app.add_typer(keys.app, name="keys")
    app.add_typer(ledger.app, name="ledger")
    app.command("export-evidence")(evidence.export_evidence)
    app.command("verify")(evidence.verify)
    app.command("review")(review.review)
    app.command("report")(report.report)
    app.command("export")(export.export)


_register()


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the command; report truceline errors as plain lines with their exit code."""
    try:
        app(args=argv, prog_name="truceline", standalone_mode=True)
    except TrucelineError as exc:
        for line in exc.lines():
            stderr.print(f"[bold red]error:[/] {line}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
