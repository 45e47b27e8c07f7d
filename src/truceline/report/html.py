"""The report as one self-contained HTML file: figures inline as PNG data URIs, styles inline,
no scripts and nothing fetched from a network, so it reads the same offline, archived or printed
(`pdf.py` prints it with WeasyPrint)."""

from __future__ import annotations

import base64
from html import escape
from typing import Any

from truceline import __version__
from truceline.report.data import CATEGORIES, UNDETERMINED, Placed, ReportData, totals
from truceline.timeutil import format_time

STYLE = """
@page { size: A4; margin: 16mm 14mm 16mm 14mm;
  @bottom-center { content: "truceline report  ·  page " counter(page) " of " counter(pages);
                   font-size: 8pt; color: #555; } }
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; font-size: 9.5pt;
       color: #111; max-width: 190mm; margin: 0 auto; line-height: 1.35; }
h1 { font-size: 17pt; margin: 0 0 2mm 0; }
h2 { font-size: 12.5pt; border-bottom: 1px solid #999; margin: 6mm 0 2mm 0; }
h3 { font-size: 10.5pt; margin: 4mm 0 1mm 0; }
table { border-collapse: collapse; width: 100%; margin: 1mm 0 3mm 0; font-size: 8.5pt; }
th, td { border: 1px solid #bbb; padding: 1mm 1.5mm; vertical-align: top; text-align: left; }
th { background: #eee; }
td.n { text-align: right; white-space: nowrap; }
.meta { color: #444; font-size: 8.5pt; }
.note { background: #fff7e0; border-left: 3px solid #e0a800; padding: 1.5mm 3mm; font-size: 8.5pt; }
figure { margin: 2mm 0 4mm 0; page-break-inside: avoid; }
figure img { width: 100%; }
figcaption { font-size: 8pt; color: #333; }
.swatch { display: inline-block; width: 8pt; height: 8pt; margin-right: 2pt; }
.mono { font-family: "DejaVu Sans Mono", monospace; font-size: 7.5pt; word-break: break-all; }
.pb { page-break-before: always; }
.reviewed { font-weight: bold; }
"""


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _img(png: bytes, alt: str, figure_id: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img id="{figure_id}" alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _confidence(data: ReportData, probability: float) -> str:
    return _e(data.describe(probability))


def _party_label(data: ReportData, party: str) -> str:
    if party == UNDETERMINED:
        return "undetermined"
    return f"{_e(data.party_name(party))} ({_e(party)})"


def _header(data: ReportData) -> str:
    run = data.run
    run_text = (
        f"process run {_e(run.run_id)} (started {_e(format_time(run.started_ns))})"
        if run
        else "no process run recorded"
    )
    return f"""
<h1>Ceasefire monitoring report: {_e(data.period.label)}</h1>
<p class="meta">Period {_e(format_time(data.period.since_ns))} to
{_e(format_time(data.period.until_ns))} (UTC). Agreement: {_e(data.agreement.name)}
(effective {_e(format_time(data.agreement.effective_ns))}). Store: {run_text}.
Generated {_e(format_time(data.generated_ns))} by truceline {_e(__version__)}.
Probabilities are given in numbers and in the words of the {_e(data.yardstick_name)} yardstick.</p>
"""


def _summary(data: ReportData) -> str:
    n_events = len(data.events)
    n_violations = len(data.violations())
    by_party = totals(data)
    reviewed = sum(1 for p in data.events if p.review is not None)
    rows = []
    for party in data.parties:
        cells = "".join(f'<td class="n">{by_party.get((party, c), 0)}</td>' for c in CATEGORIES)
        rows.append(f"<tr><td>{_party_label(data, party)}</td>{cells}</tr>")
    head = "".join(f"<th>{_e(c)}</th>" for c in CATEGORIES)
    return f"""
<h2 id="summary">Summary</h2>
<p>The monitor located <b>{n_events}</b> events in the period and found <b>{n_violations}</b>
violations of the agreement in them. {reviewed} of the events have been reviewed by an analyst;
the rest are automatic results, not yet checked by a person.</p>
<table><tr><th>party</th>{head}</tr>{"".join(rows)}</table>
<p class="meta">Launches and impacts count located events attributed to the party (top
probability above {data.settings.attribute.party_threshold:g}); air crossings and weapons in
zones count violations of the crossing rule and of the withdrawal and zone rules that name the
party.</p>
"""


def _sector_table(data: ReportData) -> str:
    sectors = data.sectors()
    if not sectors:
        return '<h2 id="sectors">By sector of the line and party</h2><p>No events.</p>'
    head = "".join(f"<th>{_e(c)}</th>" for c in CATEGORIES)
    rows = []
    for sector in sectors:
        for party in data.parties:
            cells = [data.counts.get((sector, party, c)) for c in CATEGORIES]
            if not any(cell and cell.count for cell in cells):
                continue
            tds = []
            for cell in cells:
                if cell is None or cell.count == 0:
                    tds.append('<td class="n">0</td>')
                else:
                    tds.append(
                        f'<td class="n">{cell.count}<br><span class="meta">'
                        f"{_confidence(data, cell.mean_probability)}</span></td>"
                    )
            rows.append(
                f"<tr><td>{_e(sector)}</td><td>{_party_label(data, party)}</td>{''.join(tds)}</tr>"
            )
    return f"""
<h2 id="sectors">By sector of the line and party</h2>
<p class="meta">Sectors are stretches of about {data.settings.geo.sector_length_km:g} km of the
contact line, named by their chainage (km from the line's start). Under each count: the mean
probability that the party named is responsible, in words and numbers.</p>
<table><tr><th>sector</th><th>party</th>{head}</tr>{"".join(rows)}</table>
"""


def _review_text(p: Placed) -> str:
    if p.review is None:
        return "automatic, not reviewed"
    r = p.review
    reason = f": {_e(r.reason)}" if r.reason else ""
    return f'<span class="reviewed">{_e(r.status)}</span> by {_e(r.by)}{reason}'


def _incidents(data: ReportData) -> str:
    notable = data.notable()
    if not notable:
        return '<h2 id="incidents">Notable incidents</h2><p>None in the period.</p>'
    by_id = {p.event.id: p for p in data.events}
    items = []
    for p in notable:
        e = p.event
        time = format_time(e.origin.time_ns)[11:19]
        what = e.type
        if e.type == "launch" and e.paired in by_id:
            what += f", impact {_e(by_id[e.paired].place)}"
        elif e.type == "impact" and e.paired in by_id:
            what += f", launched {_e(by_id[e.paired].place)}"
        rules = "; ".join(
            f"art. {_e(v.article)} ({_e(v.rule)}) {_e(data.describe(v.probability))}"
            for v in e.violations
        )
        party = (
            f"{_party_label(data, p.party)}: {_confidence(data, p.probability)}"
            if p.party != UNDETERMINED
            else f"undetermined (top {_confidence(data, p.probability)})"
        )
        ellipse = e.origin.ellipse95
        pm = f" ±{ellipse.major_m:,.0f} m" if ellipse else ""
        items.append(
            f"<tr><td>{_e(time)}</td><td>{_e(p.place)}{pm}<br><span class='meta'>{_e(e.id)}"
            f"</span></td><td>{what}</td><td>{party}</td><td>{rules or 'none'}</td>"
            f"<td>{_review_text(p)}</td></tr>"
        )
    return f"""
<h2 id="incidents">Notable incidents</h2>
<p class="meta">Incidents an analyst reviewed, heavy-weapon and zone violations, then the surest
attributions; places are
given from the nearest settlement; ± is the 95% ellipse's semi-major axis.</p>
<table><tr><th>UTC</th><th>where</th><th>what</th><th>attributed to</th><th>violations</th>
<th>analyst</th></tr>{"".join(items)}</table>
"""


def _figures(data: ReportData, figures: dict[str, bytes]) -> str:
    return f"""
<h2 id="map" class="pb">Map</h2>
<figure>{_img(figures["map"], "Map of the period's events", "figure-map")}
<figcaption>Control areas (shaded by party), the contact line (black), zones (hatched),
sensors (small grey triangles), events coloured by the party attributed (grey: undetermined)
with their 95% confidence ellipses, and arrows from each launch to the impact paired with it.
</figcaption></figure>
<h2 id="charts">Charts</h2>
<figure>{_img(figures["hourly"], "Violations per hour per party", "figure-hourly")}
<figcaption>Violations per hour (UTC), by the party each names.</figcaption></figure>
<figure>{_img(figures["strip"], "Violations along the line", "figure-strip")}
<figcaption>Violations by position along the contact line (chainage); dashed lines are sector
boundaries, dotted lines the largest settlements near the line.</figcaption></figure>
"""


def _value(row: dict[str, Any]) -> str:
    value = row.get("value")
    if value is None:
        return "n/a"
    unit = row.get("unit") or ""
    if unit == "fraction" and isinstance(value, int | float):
        return f"{100 * value:.1f}%"
    if isinstance(value, float):
        text = f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    else:
        text = f"{value:,}" if isinstance(value, int) else str(value)
    return f"{text} {_e(unit)}".strip()


def _methodology(data: ReportData) -> str:
    parts = [
        """
<h2 id="methodology" class="pb">Methodology and limitations</h2>
<p>Acoustic sensors along the line report detections; truceline groups them into events,
locates each event's origin by least squares on arrival times (with a 95% confidence ellipse
from its covariance), pairs launches with impacts, checks each event against the agreement's
rules and attributes it to a party by integrating its location uncertainty over the parties'
control areas, with a calibrated probability. Attribution rests on where an event was, not on
who was seen firing; an event near the line, or with a wide ellipse, is less certain, and the
report says so in its probabilities. Drones and missiles are tracked from radar plots; a track
that crosses the contact line is an air crossing, charged to the party on whose side it began.
Automatic results are preliminary until an analyst reviews them; reviews are shown beside
them.</p>
"""
    ]
    evaluation = data.evaluation
    if evaluation is None:
        parts.append(
            '<p class="note"><b>Not evaluated.</b> No evaluation of this run against ground truth '
            "was given (truceline report --evaluation FILE, from truceline evaluate --json), so "
            "this report states no measured accuracy.</p>"
        )
    else:
        targets = evaluation.get("targets", {})
        matching = evaluation.get("matching", {})
        parts.append(
            f"<p>Evaluation against simulated ground truth ({_e(data.evaluation_path)}): "
            f"{_e(matching.get('description', ''))}. Targets met "
            f"{targets.get('met', 0)}, missed {targets.get('missed', 0)}, not evaluated "
            f"{targets.get('not_evaluated', 0)}. These figures describe the simulated scenario "
            "the system was run on; a real deployment's accuracy depends on its sensors and "
            "terrain and must be measured there.</p>"
        )
        for group in evaluation.get("groups", {}).values():
            rows = []
            for row in group.get("rows", []):
                target = (row.get("target") or {}).get("text") or ""
                passed = {True: "met", False: "missed", None: ""}[row.get("pass")]
                rows.append(
                    f"<tr><td>{_e(row.get('label', row.get('key')))}</td>"
                    f'<td class="n">{_value(row)}</td><td>{_e(target)}</td><td>{passed}</td></tr>'
                )
            if rows:
                parts.append(
                    f"<h3>{_e(group.get('title', ''))}</h3><table><tr><th>measure</th>"
                    f"<th>value</th><th>target</th><th></th></tr>{''.join(rows)}</table>"
                )
    return "".join(parts)


def _ledger(data: ReportData) -> str:
    head = data.head
    if head is None:
        body = (
            '<p class="note">The evidence ledger has no signed tree head: nothing in this report '
            "is yet anchored to a signed state of the ledger (truceline ledger head --sign).</p>"
        )
    else:
        if data.head_verified is True:
            check = "signature verified with the monitor's public key"
        elif data.head_verified is False:
            check = "<b>signature does NOT verify with the key given</b>"
        else:
            check = "signature not checked here (no public key given)"
        later = data.ledger_size - head.tree_size
        later_text = (
            f"The ledger has grown by {later:,} entries since; they are not covered by this head."
            if later > 0
            else "The ledger has not grown since."
        )
        body = f"""
<p>This report rests on the evidence ledger as of the signed tree head below. Every event,
violation and review it shows is an entry of the ledger; anyone holding the monitor's public key
can check the head's signature and, with `truceline ledger prove`, that an entry is included.
{_e(later_text)}</p>
<table>
<tr><th>tree size</th><td>{head.tree_size:,} entries</td></tr>
<tr><th>root hash (SHA-256)</th><td class="mono">{_e(head.root_hash.hex())}</td></tr>
<tr><th>signed at</th><td>{_e(format_time(head.timestamp_ns))}</td></tr>
<tr><th>key id</th><td class="mono">{_e(head.key_id)}</td></tr>
<tr><th>signature (Ed25519)</th><td class="mono">{_e(head.signature)}</td></tr>
<tr><th>check</th><td>{check}</td></tr>
</table>
"""
    return f'<h2 id="ledger">Evidence: the signed ledger head</h2>{body}'


def render_html(data: ReportData, figures: dict[str, bytes]) -> str:
    """The whole report as an HTML document (a string)."""
    title = f"Ceasefire monitoring report {data.period.label}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>
<style>{STYLE}</style></head>
<body>
{_header(data)}
{_summary(data)}
{_sector_table(data)}
{_incidents(data)}
{_figures(data, figures)}
{_methodology(data)}
{_ledger(data)}
</body></html>
"""
