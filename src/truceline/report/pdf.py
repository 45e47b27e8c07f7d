"""The report as PDF: WeasyPrint prints the self-contained HTML (A4, page numbers in the
footer), so the PDF and the HTML never say different things."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path


def write_pdf(html: str, path: Path) -> int:
    """Print `html` to `path`; returns the number of pages."""
    with warnings.catch_warnings():
        # WeasyPrint warns when the system lacks HarfBuzz-Subset; fonts are then embedded whole.
        warnings.filterwarnings("ignore", "HarfBuzz-Subset", DeprecationWarning)
        from weasyprint import HTML

        for name in ("weasyprint", "fontTools"):
            logging.getLogger(name).setLevel(logging.ERROR)
        document = HTML(string=html, base_url=str(path.parent)).render()
    document.write_pdf(path)
    return len(document.pages)
