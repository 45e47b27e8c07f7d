"""The daily report (HTML and PDF) from the store: counts per sector and party with their
attribution confidence, notable incidents, a map, charts, methodology with the evaluation's
figures, and the signed ledger head the report rests on.

`make_report` is the whole job; `data.gather` collects, `figures` draws, `html` writes, `pdf`
prints."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from truceline.config import Settings
from truceline.report.data import Period, ReportData, gather


@dataclass
class ReportFiles:
    html: Path
    pdf: Path | None
    figures: dict[str, Path]
    pages: int
    events: int
    violations: int
    elapsed_s: float


def make_report(
    store: Any,
    period: Period,
    settings: Settings,
    out_dir: Path,
    *,
    agreement: str | None = None,
    evaluation: str | Path | None = None,
    public_key: Any = None,
    pdf: bool = True,
) -> ReportFiles:
    """Write `report.html` (self-contained), `report.pdf` and the figures as PNG to `out_dir`."""
    from truceline.report.figures import hourly_figure, map_figure, strip_figure
    from truceline.report.html import render_html
    from truceline.report.pdf import write_pdf

    started = time.perf_counter()
    data: ReportData = gather(
        store, period, settings, agreement=agreement, evaluation=evaluation, public_key=public_key
    )
    figures = {"map": map_figure(data), "hourly": hourly_figure(data), "strip": strip_figure(data)}
    out_dir.mkdir(parents=True, exist_ok=True)
    figure_paths = {}
    for name, png in figures.items():
        figure_paths[name] = out_dir / f"figure-{name}.png"
        figure_paths[name].write_bytes(png)
    html = render_html(data, figures)
    html_path = out_dir / "report.html"
    html_path.write_text(html, encoding="utf-8")
    pdf_path, pages = None, 0
    if pdf:
        pdf_path = out_dir / "report.pdf"
        pages = write_pdf(html, pdf_path)
    return ReportFiles(
        html=html_path,
        pdf=pdf_path,
        figures=figure_paths,
        pages=pages,
        events=len(data.events),
        violations=len(data.violations()),
        elapsed_s=time.perf_counter() - started,
    )


__all__ = ["Period", "ReportData", "ReportFiles", "gather", "make_report"]
