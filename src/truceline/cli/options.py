"""Options several commands share, declared once."""

from __future__ import annotations

from typing import Annotated

import typer

Progress = Annotated[
    bool,
    typer.Option(
        "--progress/--no-progress", help="Progress bar on standard error (only on a terminal)."
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")]
