"""The export writers. Each takes the events of a period with what a reader needs beside them
(the place in words, the party attributed and how sure) as `ExportRow`s."""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from truceline.attribute.words import describe
from truceline.geo.gazetteer import Gazetteer, PlaceDescription
from truceline.publish.events import write_events
from truceline.records import Event
from truceline.report.data import UNDETERMINED, top_party
from truceline.timeutil import NS_PER_S, format_time

# ACLED's category for artillery fire, which is what launches and impacts are.
ACLED_EVENT_TYPE = "Explosions/Remote violence"
ACLED_SUB_EVENT_TYPE = "Shelling/artillery/missile attack"

CSV_COLUMNS = (
    "event_id_cnty",
    "event_date",
    "time_utc",
    "event_type",
    "sub_event_type",
    "truceline_type",
    "actor1",
    "actor1_probability",
    "actor1_confidence",
    "location",
    "admin1",
    "latitude",
    "longitude",
    "precision_m",
    "violations",
    "evaluation_status",
    "notes",
)

# Cursor on Target: `a` (atom: a thing on the battlefield), affiliation `h` (hostile) or `u`
# (unknown), dimension `G` (ground). The how `m-f`: machine-made, fused from several sensors.
COT_HOSTILE_GROUND = "a-h-G"
COT_UNKNOWN_GROUND = "a-u-G"
COT_HOW = "m-f"
COT_UNKNOWN_LE_M = 9999999.0
COT_STALE_S = 24 * 3600
# CoT's `ce` is the one-sigma radius of a zero-mean normal (Event schema 2.0, point/@ce); an
# ellipse's 95% semi-axes are sqrt(chi2_2(0.95)) = 2.448 times its one-sigma ones.
K95_2D = 2.447746830680816


@dataclass(frozen=True)
class ExportRow:
    event: Event
    place: PlaceDescription
    party: str
    """The party attributed (top probability above the threshold) or `undetermined`."""
    probability: float


def rows(events: Sequence[Event], gazetteer: Gazetteer, party_threshold: float) -> list[ExportRow]:
    """Events with their place descriptions and attributed party, in time order."""
    ordered = sorted(events, key=lambda e: (e.origin.time_ns, e.id))
    places = gazetteer.describe_many(
        [e.origin.lon for e in ordered], [e.origin.lat for e in ordered]
    )
    out = []
    for event, place in zip(ordered, places, strict=True):
        party, probability = top_party(event, party_threshold)
        out.append(ExportRow(event, place, party, probability))
    return out


def _violations_text(event: Event) -> str:
    return "; ".join(
        f"art. {v.article} {v.rule} ({v.party or 'undetermined'}, p={v.probability:.2f})"
        for v in event.violations
    )


def _notes(row: ExportRow, yardstick: str) -> str:
    e = row.event
    ellipse = e.origin.ellipse95
    parts = [f"{e.type.capitalize()} {row.place}"]
    if ellipse is not None:
        parts.append(f"95% ellipse {ellipse.major_m:.0f} x {ellipse.minor_m:.0f} m")
    if row.party != UNDETERMINED:
        parts.append(f"attributed to {row.party}: {describe(row.probability, yardstick)}")
    else:
        parts.append("party undetermined")
    if e.paired:
        parts.append(f"paired with {e.paired}")
    if e.violations:
        parts.append(f"violations: {_violations_text(e)}")
    parts.append(f"{len(e.evidence)} observations; {e.provenance.evaluation_status}")
    return ". ".join(parts) + "."


def write_geojson(path: Path, items: Sequence[ExportRow], yardstick: str, **_: object) -> None:
    write_events(path, [r.event for r in items])


def write_csv(path: Path, items: Sequence[ExportRow], yardstick: str, **_: object) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for r in items:
            e = r.event
            when = format_time(e.origin.time_ns)
            ellipse = e.origin.ellipse95
            writer.writerow(
                {
                    "event_id_cnty": e.id,
                    "event_date": when[:10],
                    "time_utc": when[11:],
                    "event_type": ACLED_EVENT_TYPE,
                    "sub_event_type": ACLED_SUB_EVENT_TYPE,
                    "truceline_type": e.type,
                    "actor1": r.party,
                    "actor1_probability": f"{r.probability:.3f}",
                    "actor1_confidence": describe(r.probability, yardstick),
                    "location": str(r.place),
                    "admin1": r.place.oblast or "",
                    "latitude": f"{e.origin.lat:.6f}",
                    "longitude": f"{e.origin.lon:.6f}",
                    "precision_m": "" if ellipse is None else f"{ellipse.major_m:.0f}",
                    "violations": _violations_text(e),
                    "evaluation_status": str(e.provenance.evaluation_status),
                    "notes": _notes(r, yardstick),
                }
            )


_KML_NS = "http://www.opengis.net/kml/2.2"
_KML_COLOURS = ["ffbf5f1f", "ff2828c6", "ff327d2e", "ff9a1b6a", "ff006cef"]  # aabbggrr
_KML_GREY = "ff6d6d6d"


def write_kml(
    path: Path, items: Sequence[ExportRow], yardstick: str, parties: Sequence[str] = (), **_: object
) -> None:
    ET.register_namespace("", _KML_NS)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{_KML_NS}}}{tag}", attrib)
        if text is not None:
            element.text = text
        return element

    root = ET.Element(f"{{{_KML_NS}}}kml")
    document = sub(root, "Document")
    sub(document, "name", "truceline events")
    known = list(dict.fromkeys([*parties, *(r.party for r in items if r.party != UNDETERMINED)]))
    colours = {p: _KML_COLOURS[i % len(_KML_COLOURS)] for i, p in enumerate(known)}
    colours[UNDETERMINED] = _KML_GREY
    for party, colour in colours.items():
        style = sub(document, "Style", id=f"party-{party}")
        icon_style = sub(style, "IconStyle")
        sub(icon_style, "color", colour)
        sub(icon_style, "scale", "0.7")
        icon = sub(icon_style, "Icon")
        sub(icon, "href", "http://maps.google.com/mapfiles/kml/shapes/placemark_circle.png")
        line_style = sub(style, "LineStyle")
        sub(line_style, "color", colour)
        sub(line_style, "width", "1.5")
    folders: dict[str, ET.Element] = {}
    by_id = {r.event.id: r for r in items}
    for r in items:
        e = r.event
        kind = e.type
        if kind not in folders:
            folders[kind] = sub(document, "Folder")
            sub(folders[kind], "name", f"{kind} events")
        placemark = sub(folders[kind], "Placemark", id=e.id)
        sub(placemark, "name", f"{e.type} {format_time(e.origin.time_ns)[11:19]}")
        sub(placemark, "description", _notes(r, yardstick))
        stamp = sub(placemark, "TimeStamp")
        sub(stamp, "when", format_time(e.origin.time_ns))
        sub(placemark, "styleUrl", f"#party-{r.party}")
        point = sub(placemark, "Point")
        sub(point, "coordinates", f"{e.origin.lon:.7f},{e.origin.lat:.7f},0")
    pairs = [
        (r, by_id[r.event.paired])
        for r in items
        if r.event.type == "launch" and r.event.paired in by_id
    ]
    if pairs:
        folder = sub(document, "Folder")
        sub(folder, "name", "launch to impact")
        for launch, impact in pairs:
            placemark = sub(folder, "Placemark")
            sub(placemark, "name", f"{launch.event.id} -> {impact.event.id}")
            sub(placemark, "styleUrl", f"#party-{launch.party}")
            line = sub(placemark, "LineString")
            sub(line, "tessellate", "1")
            a, b = launch.event.origin, impact.event.origin
            sub(line, "coordinates", f"{a.lon:.7f},{a.lat:.7f},0 {b.lon:.7f},{b.lat:.7f},0")
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def _cot_time(ns: int) -> str:
    """xs:dateTime in UTC to the millisecond, as TAK clients write it."""
    text = format_time(ns - ns % 1_000_000)
    seconds, _, fraction = text.rstrip("Z").partition(".")
    return f"{seconds}.{(fraction + '000')[:3]}Z"


def cot_event(row: ExportRow, yardstick: str, hostile: Sequence[str] = ()) -> ET.Element:
    """One event as a CoT `<event>`: hostile ground if attributed to a party in `hostile`,
    otherwise unknown ground."""
    e = row.event
    ellipse = e.origin.ellipse95
    cot_type = COT_HOSTILE_GROUND if row.party in hostile else COT_UNKNOWN_GROUND
    event = ET.Element(
        "event",
        {
            "version": "2.0",
            "uid": f"truceline-{e.id}",
            "type": cot_type,
            "time": _cot_time(e.provenance.created_ns),
            "start": _cot_time(e.origin.time_ns),
            "stale": _cot_time(e.origin.time_ns + COT_STALE_S * NS_PER_S),
            "how": COT_HOW,
        },
    )
    ET.SubElement(
        event,
        "point",
        {
            "lat": f"{e.origin.lat:.7f}",
            "lon": f"{e.origin.lon:.7f}",
            "hae": "9999999.0",
            "ce": f"{ellipse.major_m / K95_2D:.1f}" if ellipse is not None else "9999999.0",
            "le": f"{COT_UNKNOWN_LE_M:.1f}",
        },
    )
    detail = ET.SubElement(event, "detail")
    ET.SubElement(detail, "contact", {"callsign": f"{e.type} {row.place}"})
    remarks = ET.SubElement(detail, "remarks", {"source": "truceline"})
    remarks.text = _notes(row, yardstick)
    ET.SubElement(
        detail,
        "truceline",
        {
            "id": e.id,
            "type": e.type,
            "party": row.party,
            "probability": f"{row.probability:.3f}",
            "status": str(e.provenance.evaluation_status),
        },
    )
    return event


def write_cot(
    path: Path,
    items: Sequence[ExportRow],
    yardstick: str,
    hostile: Sequence[str] = (),
    **_: object,
) -> None:
    """One CoT `<event>` XML document per line, as CoT is streamed to TAK servers."""
    with path.open("w", encoding="utf-8") as f:
        for r in items:
            f.write(ET.tostring(cot_event(r, yardstick, hostile), encoding="unicode"))
            f.write("\n")


FORMATS: dict[str, Callable[..., None]] = {
    "geojson": write_geojson,
    "csv": write_csv,
    "kml": write_kml,
    "cot": write_cot,
}


def export_events(
    path: Path,
    fmt: str,
    items: Sequence[ExportRow],
    *,
    yardstick: str = "icd203",
    parties: Sequence[str] = (),
    hostile: Sequence[str] = (),
) -> int:
    """Write `items` to `path` in format `fmt`; returns how many events were written."""
    try:
        writer = FORMATS[fmt]
    except KeyError:
        raise ValueError(f"unknown export format {fmt!r} (known: {', '.join(FORMATS)})") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    writer(path, items, yardstick, parties=parties, hostile=hostile)
    return len(items)
