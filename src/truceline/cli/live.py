"""`truceline live`: a file of observations replayed through the live monitor, the stream of
published events out as JSON lines (what the web service's live map will consume)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from truceline.cli.options import AgreementOption, ObservationsOption, SensorsOption
from truceline.errors import UsageError


def live(
    ctx: typer.Context,
    agreement: AgreementOption,
    sensors: SensorsOption,
    observations: ObservationsOption,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the stream here (JSON lines); default standard output."),
    ] = None,
) -> None:
    """Replay observations (in the order received, on their own clock: the latest sensor time
    seen) through the live monitor: acoustic events and counter-battery radar shots published
    as soon as either network locates them, joined into one event per shot. Each output line is
    one message: {"action": created|revised|withdrawn, "clock": the monitor's time, "part": the
    acoustic event or radar shot it is about, "left": that part withdrawn, "event": the event as
    a GeoJSON feature (contract section 4)}. Bad lines are not published: a count of them by
    reason goes to standard error (nothing is stored: `truceline process` keeps the record)."""
    from truceline.agreement.load import load_agreement
    from truceline.ingest.observations import ObservationReader
    from truceline.ingest.sensors import read_sensors
    from truceline.monitor import LiveMonitor, replay
    from truceline.publish.events import event_feature
    from truceline.records import Observation
    from truceline.timeutil import format_time

    if observations != "-" and not Path(observations).is_file():
        raise UsageError(f"{observations}: observations file not found")
    settings = ctx.obj.settings
    terms = load_agreement(agreement)
    sensor_list = read_sensors(sensors)
    reader = ObservationReader(sensor_list, settings.ingest, source_name=Path(observations).name)

    def accepted(handle):
        return (item for item in reader.read_lines(handle) if isinstance(item, Observation))

    monitor = LiveMonitor(sensor_list, settings, terms)
    sink = open(out, "w", encoding="utf-8") if out else sys.stdout  # noqa: SIM115
    counts: Counter[str] = Counter()
    source = sys.stdin.buffer if observations == "-" else open(observations, "rb")  # noqa: SIM115
    try:
        for clock, message in replay(monitor, accepted(source), settings.associate.batch_s):
            counts[message.action] += 1
            line = {
                "action": message.action,
                "clock": format_time(clock),
                "part": message.part,
                "left": message.left,
                "event": event_feature(message.event),
            }
            sink.write(json.dumps(line, separators=(",", ":")) + "\n")
    finally:
        if source is not sys.stdin.buffer:
            source.close()
        if out:
            sink.close()
    summary = {
        "observations_accepted": reader.counts.accepted,
        "re_sent": reader.counts.duplicates,
        "quarantined": dict(sorted(reader.counts.quarantined.items())),
        "published": dict(sorted(counts.items())),
        "not_processed_live": dict(sorted(monitor.held.items())),
        "mixtures_held_back": len(monitor.fusion.held),
    }
    typer.echo(json.dumps(summary), err=True)
