"""`truceline report` on a processed `sector-quick` store: the HTML has its sections and figures
inline, the PDF has the expected pages, and its first page renders (poppler's pdftoppm)."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.processed import Processed, run
from truceline.errors import UsageError
from truceline.report.data import Period

SECTIONS = ("summary", "sectors", "incidents", "map", "charts", "methodology", "ledger")
FIGURES = ("figure-map", "figure-hourly", "figure-strip")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.images: dict[str, str] = {}
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"] or "")
        if tag == "img":
            self.images[a.get("id") or ""] = a.get("src") or ""
        for name in ("src", "href"):
            value = a.get(name) or ""
            if value.startswith(("http:", "https:", "//")):
                self.external.append(value)


@pytest.fixture(scope="module")
def report(processed: Processed) -> Path:
    out = processed.root / "report"
    run(
        processed.cli(
            "report", "--date", "2026-03-02", "--out", str(out),
            "--evaluation", str(processed.evaluation),
        )
    )  # fmt: skip
    return out


def test_html_has_sections_and_inline_figures(report: Path):
    html = (report / "report.html").read_text(encoding="utf-8")
    found = _Collect()
    found.feed(html)
    assert set(SECTIONS) <= found.ids
    for figure in FIGURES:
        src = found.images[figure]
        assert src.startswith("data:image/png;base64,"), figure
        png = base64.b64decode(src.split(",", 1)[1])
        assert png.startswith(PNG_MAGIC) and len(png) > 10_000, figure
        assert (report / f"{figure}.png").read_bytes() == png
    assert found.external == []  # self-contained: nothing fetched


def test_html_content(report: Path, processed: Processed):
    html = (report / "report.html").read_text(encoding="utf-8")
    assert "Ceasefire monitoring report: 2026-03-02" in html
    # Places in words from the gazetteer, probabilities in words and numbers.
    assert re.search(r"\d+\.\d km [NSEW]{1,3} of [A-Z]", html)
    assert re.search(r"(almost certain|very likely|likely|roughly even chance) \(\d+%\)", html)
    # The analyst's review beside the automatic result.
    assert "confirmed</span> by analyst-a" in html
    # The evaluation's figures, and the signed head, verified with the monitor's key.
    assert "Location (launch, impact)" in html and "Not evaluated" not in html
    assert "signature verified with the monitor" in html
    assert "Russian Federation (RU)" in html and "Ukraine (UA)" in html


def test_pdf_pages_and_render(report: Path):
    pdf = report / "report.pdf"
    reader = PdfReader(pdf)
    assert 4 <= len(reader.pages) <= 8, len(reader.pages)
    text = [page.extract_text() or "" for page in reader.pages]
    assert "Ceasefire monitoring report" in text[0]
    assert any("Methodology and limitations" in t for t in text)
    # The report ends with the signed ledger head it rests on (the section may start a page
    # earlier; its verified signature is on the last page).
    full = "\n".join(text)
    assert full.rindex("signed ledger head") > full.index("Methodology and limitations")
    assert "signature verified with the monitor" in text[-1]
    assert all(f"page {i + 1} of {len(text)}" in t for i, t in enumerate(text))
    pdftoppm = shutil.which("pdftoppm")
    assert pdftoppm, "pdftoppm is missing: apt-get install poppler-utils (CI installs it)"
    subprocess.run(
        [pdftoppm, "-r", "50", "-png", "-f", "1", "-l", "1", str(pdf), str(report / "page")],
        check=True,
    )
    rendered = sorted(report.glob("page*.png"))
    assert rendered and rendered[0].read_bytes().startswith(PNG_MAGIC)
    assert rendered[0].stat().st_size > 20_000


def test_not_evaluated_and_empty_period(processed: Processed, tmp_path: Path):
    run(processed.cli("report", "--date", "2026-01-01", "--out", str(tmp_path), "--no-pdf"))
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Not evaluated" in html
    assert "located <b>0</b> events" in html
    assert not (tmp_path / "report.pdf").exists()


def test_period_parsing():
    day = Period.parse("2026-03-02", None, None)
    assert day.label == "2026-03-02" and day.hours() == 24
    span = Period.parse(None, "2026-03-02T06:00:00Z", "2026-03-02")
    assert span.hours() == 18
    for args in (("2026-03-02", "2026-03-01", None), (None, None, None), ("2026-3-2", None, None)):
        with pytest.raises(UsageError):
            Period.parse(*args)
    with pytest.raises(UsageError):
        Period.parse(None, "2026-03-03", "2026-03-02T00:00:00Z")
