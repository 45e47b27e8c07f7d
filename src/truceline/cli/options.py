"""Options several commands share, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Progress = Annotated[
    bool,
    typer.Option(
        "--progress/--no-progress", help="Progress bar on standard error (only on a terminal)."
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")]
AgreementOption = Annotated[
    str, typer.Option("--agreement", help="agreement.yaml, its directory or a bundled name.")
]
SensorsOption = Annotated[Path, typer.Option("--sensors", help="sensors.geojson.")]
ObservationsOption = Annotated[
    str, typer.Option("--observations", help="observations.jsonl, or - for standard input.")
]
