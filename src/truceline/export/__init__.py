"""Exports of located events for other tools (docs/formats.md, Exports):

- `geojson`: contract section 4, the same writer as `events.geojson`;
- `csv`: one row per event in ACLED-like columns;
- `kml`: placemarks for Google Earth, styled by attributed party, with launch-impact lines;
- `cot`: Cursor-on-Target XML events, one per line, for TAK users.
"""

from __future__ import annotations

from truceline.export.formats import FORMATS, ExportRow, export_events, rows

__all__ = ["FORMATS", "ExportRow", "export_events", "rows"]
