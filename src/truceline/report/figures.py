"""The report's figures, drawn with matplotlib's Agg backend as PNG bytes.

- `map_figure`: control areas, the contact line, zones, sensors, events coloured by attributed
  party with their 95% ellipses, and arrows from each launch to its paired impact, in an
  azimuthal equidistant projection centred on the events (truceline.geo.projection);
- `hourly_figure`: violations per hour per party (stacked bars);
- `strip_figure`: where along the line (chainage, km) the violations happened, per party.
"""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import shapely
from matplotlib.patches import Ellipse, PathPatch
from matplotlib.path import Path as MplPath

from truceline.geo.geography import settlements
from truceline.geo.projection import LocalProjection
from truceline.report.data import UNDETERMINED, ReportData, hour_label, per_hour

DPI = 150
_PALETTE = ["#1f5fbf", "#c62828", "#2e7d32", "#6a1b9a", "#ef6c00"]
_GREY = "#6d6d6d"
_AREA_ALPHA = 0.10
MIN_MARGIN_M = 3000.0


def party_colours(data: ReportData) -> dict[str, str]:
    """A colour per party in the agreement's order; grey for undetermined."""
    colours = {p.id: _PALETTE[i % len(_PALETTE)] for i, p in enumerate(data.agreement.parties)}
    colours[UNDETERMINED] = _GREY
    return colours


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _polygon_path(geom: Any) -> MplPath | None:
    """A matplotlib path of a (multi)polygon, holes included."""
    vertices: list[np.ndarray] = []
    codes: list[np.ndarray] = []
    for polygon in getattr(geom, "geoms", [geom]):
        if polygon.is_empty or polygon.geom_type != "Polygon":
            continue
        for ring in (polygon.exterior, *polygon.interiors):
            xy = np.asarray(ring.coords)[:, :2]
            ring_codes = np.full(len(xy), MplPath.LINETO)
            ring_codes[0] = MplPath.MOVETO
            ring_codes[-1] = MplPath.CLOSEPOLY
            vertices.append(xy)
            codes.append(ring_codes)
    if not vertices:
        return None
    return MplPath(np.concatenate(vertices), np.concatenate(codes))


def _lines(geom: Any) -> list[np.ndarray]:
    if geom.is_empty:
        return []
    if geom.geom_type in ("LineString", "LinearRing"):
        return [np.asarray(geom.coords)[:, :2]]
    return [a for g in getattr(geom, "geoms", []) for a in _lines(g)]


def map_extent(data: ReportData) -> tuple[LocalProjection, tuple[float, float, float, float]]:
    """The projection centred on the events (or sensors) and the map's extent in its metres:
    the events' area plus a margin of 12% (at least 3 km)."""
    if data.events:
        lon = np.array([p.event.origin.lon for p in data.events])
        lat = np.array([p.event.origin.lat for p in data.events])
    elif data.sensors:
        lon = np.array([s.lon for s in data.sensors])
        lat = np.array([s.lat for s in data.sensors])
    else:
        lon, lat = data.agreement.point_at_chainage(np.array([0.0]))
    projection = LocalProjection.aeqd(float(np.median(lon)), float(np.median(lat)))
    x, y = projection.forward(lon, lat)
    lo = np.array([np.percentile(x, 0.5), np.percentile(y, 0.5)])
    hi = np.array([np.percentile(x, 99.5), np.percentile(y, 99.5)])
    margin = np.maximum(MIN_MARGIN_M, 0.12 * (hi - lo))
    lo, hi = lo - margin, hi + margin
    # Not too elongated: a page-width figure needs an aspect between 1:1.4 and 1.6:1.
    width, height = hi - lo
    if width > 1.6 * height:
        pad = (width / 1.6 - height) / 2
        lo[1], hi[1] = lo[1] - pad, hi[1] + pad
    elif height > 1.4 * width:
        pad = (height / 1.4 - width) / 2
        lo[0], hi[0] = lo[0] - pad, hi[0] + pad
    return projection, (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))


def map_figure(data: ReportData) -> bytes:
    """The map figure as PNG bytes."""
    colours = party_colours(data)
    projection, (x0, x1, y0, y1) = map_extent(data)
    box_local = shapely.box(x0, y0, x1, y1)
    box = projection.to_wgs84(box_local.segmentize(1000.0)).envelope.buffer(0.05)
    km = 1000.0

    fig, ax = plt.subplots(figsize=(7.4, 7.4 * (y1 - y0) / (x1 - x0) + 0.6))
    for party, area in data.agreement.control_areas.items():
        clipped = shapely.intersection(area, box)
        path = _polygon_path(projection.to_local(clipped)) if not clipped.is_empty else None
        if path is not None:
            scaled = MplPath(path.vertices / km, path.codes)
            ax.add_patch(
                PathPatch(scaled, facecolor=colours.get(party, _GREY), alpha=_AREA_ALPHA, lw=0)
            )
    for zone in data.agreement.zones.values():
        clipped = shapely.intersection(zone.geometry, box)
        path = _polygon_path(projection.to_local(clipped)) if not clipped.is_empty else None
        if path is not None:
            scaled = MplPath(path.vertices / km, path.codes)
            ax.add_patch(
                PathPatch(
                    scaled, facecolor="none", edgecolor="#8d6e00", hatch="////", lw=0.4, alpha=0.45
                )
            )
    for xy in _lines(projection.to_local(shapely.intersection(data.agreement.line, box))):
        ax.plot(xy[:, 0] / km, xy[:, 1] / km, color="black", lw=1.6, zorder=3)

    if data.sensors:
        slon = np.array([s.lon for s in data.sensors])
        slat = np.array([s.lat for s in data.sensors])
        sx, sy = projection.forward(slon, slat)
        inside = (sx > x0) & (sx < x1) & (sy > y0) & (sy < y1)
        ax.scatter(
            sx[inside] / km,
            sy[inside] / km,
            marker="^",
            s=9,
            c="#444444",
            lw=0,
            alpha=0.55,
            zorder=2,
        )

    by_id = {p.event.id: p for p in data.events}
    for p in data.events:
        e = p.event
        x, y = projection.forward(e.origin.lon, e.origin.lat)
        colour = colours.get(p.party, _GREY)
        ellipse = e.origin.ellipse95
        if ellipse is not None:
            ax.add_patch(
                Ellipse(
                    (float(x) / km, float(y) / km),
                    width=2 * ellipse.major_m / km,
                    height=2 * ellipse.minor_m / km,
                    angle=90.0 - ellipse.azimuth_deg,
                    facecolor=colours.get(p.party, _GREY),
                    edgecolor=colour,
                    alpha=0.25,
                    lw=0.5,
                    zorder=4,
                )
            )
        if e.type == "launch" and e.paired in by_id:
            target = by_id[e.paired].event.origin
            tx, ty = projection.forward(target.lon, target.lat)
            ax.annotate(
                "",
                xy=(float(tx) / km, float(ty) / km),
                xytext=(float(x) / km, float(y) / km),
                arrowprops={
                    "arrowstyle": "-|>",
                    "color": colour,
                    "lw": 0.5,
                    "alpha": 0.45,
                    "mutation_scale": 6,
                    "shrinkA": 0,
                    "shrinkB": 1,
                },
                zorder=5,
            )
    for kind, marker, size in (("launch", "^", 22), ("impact", "o", 12)):
        for party in data.parties:
            chosen = [p for p in data.events if p.event.type == kind and p.party == party]
            if not chosen:
                continue
            ex, ey = projection.forward(
                [p.event.origin.lon for p in chosen], [p.event.origin.lat for p in chosen]
            )
            ax.scatter(
                ex / km,
                ey / km,
                marker=marker,
                s=size,
                c=colours[party],
                edgecolors="white",
                linewidths=0.3,
                zorder=6,
            )
    # Air tracks: the filtered path from the first fix (the square).
    for p in data.events:
        if p.event.path:
            px, py = projection.forward([q[0] for q in p.event.path], [q[1] for q in p.event.path])
            ax.plot(
                px / km, py / km, color=colours.get(p.party, _GREY), lw=0.7, alpha=0.7, zorder=5
            )
    others = [p for p in data.events if p.event.type not in ("launch", "impact")]
    if others:
        ox, oy = projection.forward(
            [p.event.origin.lon for p in others], [p.event.origin.lat for p in others]
        )
        ax.scatter(
            ox / km, oy / km, marker="s", s=14, c=[colours[p.party] for p in others], zorder=6
        )

    _settlement_labels(ax, projection, (x0, x1, y0, y1))
    ax.set_xlim(x0 / km, x1 / km)
    ax.set_ylim(y0 / km, y1 / km)
    ax.set_aspect("equal")
    ax.set_xlabel("km east of map centre", fontsize=8)
    ax.set_ylabel("km north of map centre", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(True, lw=0.3, color="#bbbbbb", alpha=0.6)
    handles = [
        plt.Line2D([], [], color="black", lw=1.6, label="contact line"),
        plt.Line2D([], [], marker="^", ls="", color="#444444", ms=4, label="sensor"),
        plt.Line2D([], [], marker="^", ls="", color=_GREY, ms=6, label="launch"),
        plt.Line2D([], [], marker="o", ls="", color=_GREY, ms=4, label="impact"),
        plt.Line2D([], [], color=_GREY, lw=0.8, marker=">", ms=3, label="launch → impact"),
        plt.Line2D([], [], color=_GREY, lw=0.7, marker="s", ms=3, label="air track (first fix)"),
    ]
    handles += [
        matplotlib.patches.Patch(
            color=colours[party],
            alpha=0.6,
            label=f"{data.party_name(party)} ({party})"
            if party != UNDETERMINED
            else "undetermined",
        )
        for party in data.parties
    ]
    handles.append(
        matplotlib.patches.Patch(facecolor="none", edgecolor="#8d6e00", hatch="////", label="zone")
    )
    ax.legend(
        handles=handles,
        fontsize=7,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        frameon=False,
        title="shaded: control areas\nellipses: 95%",
        title_fontsize=7,
    )
    center_lon, center_lat = projection.inverse(0.0, 0.0)
    ax.set_title(
        f"Events {data.period.label}; map centre {float(center_lat):.3f} N, "
        f"{float(center_lon):.3f} E (azimuthal equidistant)",
        fontsize=8,
    )
    return _png(fig)


def _settlement_labels(ax: Any, projection: LocalProjection, extent: tuple) -> None:
    """Names of the largest settlements on the map (at most 10), for orientation."""
    x0, x1, y0, y1 = extent
    places = settlements()
    x, y = projection.forward(places.lon, places.lat)
    inside = (x > x0) & (x < x1) & (y > y0) & (y < y1) & (places.population >= 1000)
    order = np.argsort(-places.population[inside])[:10]
    for i in order:
        px, py = x[inside][i] / 1000, y[inside][i] / 1000
        ax.plot(px, py, marker="s", ms=3, color="black", zorder=7)
        ax.annotate(
            str(places.name[inside][i]),
            (px, py),
            xytext=(3, 3),
            textcoords="offset points",
            fontsize=7,
            zorder=7,
            bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.7},
        )


def hourly_figure(data: ReportData) -> bytes:
    """Violations per hour per party, stacked bars."""
    colours = party_colours(data)
    starts, counts = per_hour(data)
    fig, ax = plt.subplots(figsize=(7.4, 2.6))
    hours = np.arange(len(starts))
    bottom = np.zeros(len(starts))
    for party in data.parties:
        values = np.array(counts[party], dtype=float)
        if not values.any():
            continue
        label = party if party != UNDETERMINED else "undetermined"
        ax.bar(hours, values, bottom=bottom, color=colours[party], width=0.85, label=label)
        bottom += values
    step = max(1, len(starts) // 12)
    ax.set_xticks(hours[::step], [hour_label(s) for s in starts[::step]], fontsize=7)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_xlabel("hour (UTC)", fontsize=8)
    ax.set_ylabel("violations", fontsize=8)
    ax.set_title("Violations per hour, by party named", fontsize=9)
    ax.grid(True, axis="y", lw=0.3, alpha=0.6)
    if bottom.any():
        ax.legend(fontsize=7, frameon=False)
    return _png(fig)


def strip_figure(data: ReportData) -> bytes:
    """Where along the line the violations happened: counts per km of chainage, per party."""
    colours = party_colours(data)
    pairs = data.violations()
    fig, ax = plt.subplots(figsize=(7.4, 2.4))
    if data.events:
        chainage = np.array([p.chainage_km for p in data.events])
        lo, hi = np.floor(chainage.min()) - 1, np.ceil(chainage.max()) + 1
    else:
        lo, hi = 0.0, 1.0
    wanted = float(hi - lo) / 60
    width = next((w for w in (0.5, 1.0, 2.0, 5.0, 10.0, 20.0) if w >= wanted), 50.0)
    bins = np.arange(lo, hi + width, width)
    values = []
    labels = []
    used = []
    for party in data.parties:
        km = [p.chainage_km for p, v in pairs if (v.party or UNDETERMINED) == party]
        if km:
            values.append(km)
            labels.append(party if party != UNDETERMINED else "undetermined")
            used.append(colours[party])
    if values:
        ax.hist(values, bins=bins, stacked=True, color=used, label=labels)
        ax.legend(fontsize=7, frameon=False)
    for start in {p.sector.start_km for p in data.events}:
        if lo < start < hi:
            ax.axvline(start, color="black", lw=0.6, ls="--")
    _chainage_labels(ax, data, lo, hi)
    ax.set_xlim(lo, hi)
    ax.set_xlabel("distance along the contact line (chainage, km)", fontsize=8)
    ax.set_ylabel(f"violations per {width:g} km", fontsize=8)
    ax.set_title("Where along the line: violations by chainage, by party named", fontsize=9, pad=14)
    ax.tick_params(labelsize=7)
    ax.grid(True, axis="y", lw=0.3, alpha=0.6)
    return _png(fig)


def _chainage_labels(ax: Any, data: ReportData, lo: float, hi: float) -> None:
    """The largest settlements within 10 km of the line, marked at their chainage."""
    places = settlements()
    near = places.select(places.population >= 2000)
    distance = data.agreement.distance_to_line_m(near.lon, near.lat)
    chainage = data.agreement.chainage_km(near.lon, near.lat)
    keep = (distance < 10_000) & (chainage > lo) & (chainage < hi)
    order = np.argsort(-near.population[keep])[:6]
    top = ax.get_ylim()[1]
    for i in order:
        km = float(chainage[keep][i])
        ax.annotate(
            str(near.name[keep][i]),
            (km, top),
            xytext=(0, 2),
            textcoords="offset points",
            fontsize=6.5,
            ha="center",
            va="bottom",
            rotation=0,
            annotation_clip=False,
        )
        ax.axvline(km, color="#999999", lw=0.4, ls=":")
