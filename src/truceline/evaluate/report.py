"""The evaluation report: run the metric groups over a matching, print them, write them as JSON.

JSON shape (`Report.as_dict`, `format` 1):

    {"format": "truceline-evaluate/1",
     "inputs": {"truth": path, "events": path, "observations": path|null, "sensors": path|null},
     "matching": {"rule": "auto", "description": "...", "min_share": 0.5, "window_s": 5.0,
                  "distance_m": 1000.0, "matches_by_rule": {"evidence": n, ...},
                  "unmatched_by_reason": {"false-alarms": n, ...}},
     "noise_model": {"prop_sigma_s_per_km": 0.005, "origin": "..."},
     "run": {...} | null,
     "groups": {NAME: {"title": "...", "metrics": {KEY: value|null, ...}, "rows": [ROW, ...]}},
     "targets": {"met": n, "missed": n, "not_evaluated": n, "pass": true|false|null},
     "notes": ["..."]}

ROW is `Row.as_dict()`: key, label, value, unit, target {min, max, text}, pass, detail, note.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from truceline.evaluate.inputs import Inputs
from truceline.evaluate.match import Matching, MatchSettings, match_events
from truceline.evaluate.metrics import METRIC_GROUPS, Context, MetricGroup, Row

FORMAT = "truceline-evaluate/1"


@dataclass
class GroupResult:
    """The rows one metric group produced."""

    name: str
    title: str
    rows: list[Row]

    def metrics(self) -> dict[str, Any]:
        """{key: value} with non-finite values as None."""
        return {r.key: r.as_dict()["value"] for r in self.rows}


@dataclass
class Report:
    """Scores of one set of events against truth."""

    inputs: Inputs
    matching: Matching
    context: Context
    groups: list[GroupResult]
    elapsed_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    def rows(self) -> list[Row]:
        return [row for group in self.groups for row in group.rows]

    def targets(self) -> dict[str, Any]:
        """How many targets were met, missed and not evaluated; `pass` is False if any was
        missed, True if all were met, None if none could be evaluated."""
        with_target = [r for r in self.rows() if r.target is not None]
        met = sum(r.passed is True for r in with_target)
        missed = sum(r.passed is False for r in with_target)
        return {
            "met": met,
            "missed": missed,
            "not_evaluated": len(with_target) - met - missed,
            "pass": False if missed else (True if met else None),
        }

    def metric(self, group: str, key: str) -> float | int | None:
        """One score by group name and key."""
        for g in self.groups:
            if g.name == group:
                return g.metrics()[key]
        raise KeyError(group)

    def as_dict(self) -> dict[str, Any]:
        s = self.matching.settings
        return {
            "format": FORMAT,
            "inputs": dict(self.inputs.paths),
            "matching": {
                "rule": s.rule,
                "description": self.matching.describe(),
                "min_share": s.min_share,
                "window_s": s.window_s,
                "distance_m": s.distance_m,
                "matches_by_rule": self.matching.rule_counts(),
                "unmatched_by_reason": dict(Counter(self.matching.unmatched.values())),
            },
            "noise_model": {
                "propagation_jitter_s_per_km": self.context.locator.propagation_jitter_s_per_km,
                "origin": self.context.noise_origin,
                "min_sensors": self.context.min_sensors,
            },
            "run": self.inputs.run,
            "groups": {
                g.name: {
                    "title": g.title,
                    "metrics": g.metrics(),
                    "rows": [r.as_dict() for r in g.rows],
                }
                for g in self.groups
            },
            "targets": self.targets(),
            "evaluate_elapsed_s": round(self.elapsed_s, 3),
            "notes": list(self.notes),
        }

    def write_json(self, path: Path) -> None:
        """Write `as_dict()` as indented JSON (no NaN: non-finite values are null)."""
        text = json.dumps(self.as_dict(), indent=2, allow_nan=False, default=str)
        path.write_text(text + "\n", encoding="utf-8")

    def render(self, console: Console) -> None:
        """Print the matching rule, the table of scores with targets, and the notes."""
        console.print(f"[bold]matching[/]: {self.matching.describe()}", soft_wrap=True)
        table = Table(show_header=True, header_style="bold", show_lines=False)
        table.add_column("metric")
        table.add_column("value", justify="right")
        table.add_column("target", justify="right")
        table.add_column("", justify="center")
        table.add_column("detail", overflow="fold")
        for i, group in enumerate(self.groups):
            if i:
                table.add_section()
            table.add_row(f"[bold]{group.title}[/]", "", "", "", "")
            for row in group.rows:
                mark = {True: "[green]pass[/]", False: "[red]FAIL[/]", None: ""}[row.passed]
                table.add_row(
                    f"  {row.label}",
                    format_value(row),
                    "" if row.target is None else str(row.target),
                    mark,
                    row.detail if row.value is not None else f"[yellow]skipped:[/] {row.note}",
                )
        console.print(table)
        t = self.targets()
        verdict = {
            True: "[green]all targets met[/]",
            False: "[red]targets missed[/]",
            None: "no targets evaluated",
        }[t["pass"]]
        console.print(
            f"{verdict}: {t['met']} met, {t['missed']} missed, {t['not_evaluated']} not evaluated"
        )
        for note in self.notes:
            console.print(f"note: {note}", soft_wrap=True)


def format_value(row: Row) -> str:
    """A row's value for the table: counts with separators, fractions to 3 decimals, metres to
    1, seconds to 3; '-' when skipped."""
    v = row.value
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    if row.unit == "fraction":
        return f"{v:.3f}"
    if row.unit == "m":
        return f"{v:,.1f} m"
    if row.unit == "s":
        return f"{v:,.3f} s"
    if isinstance(v, int):
        return f"{v:,}"
    return f"{v:.3f}"


def evaluate(
    inputs: Inputs,
    settings: MatchSettings | None = None,
    context: Context | None = None,
    groups: Sequence[MetricGroup] | None = None,
) -> Report:
    """Match the events to truth (default `MatchSettings()`) and compute every metric group
    (default: `METRIC_GROUPS`, and the violation and attribution groups when the context has an
    agreement)."""
    started = time.perf_counter()
    context = context or Context(inputs)
    if groups is None:
        from truceline.evaluate.attribution import ATTRIBUTION_GROUPS

        extra = ATTRIBUTION_GROUPS if context.agreement is not None else []
        groups = [*METRIC_GROUPS, *extra]
    matching = match_events(inputs.events, inputs.truth, settings or MatchSettings())
    results = [
        GroupResult(g.name, g.title, g.compute(matching, inputs.events, context)) for g in groups
    ]
    notes = list(inputs.notes)
    if inputs.observations is None:
        notes.append(
            "without --observations: recall over sources heard by >= "
            f"{context.min_sensors} sensors and the Cramér-Rao bound are skipped"
        )
    elif inputs.sensors is None:
        notes.append("without --sensors: the Cramér-Rao bound is skipped")
    return Report(inputs, matching, context, results, time.perf_counter() - started, notes)
