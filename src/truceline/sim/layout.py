"""The sensor layout: acoustic rows along the line, radars, weather stations; sensors.geojson."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from numpy.typing import NDArray
from scipy.spatial import cKDTree
from shapely import ops

from truceline.geo.projection import enu_basis, geodesic_azimuth_deg, to_ecef
from truceline.sim.geometry import SectorFrame, round_coords
from truceline.sim.scenario import AirRadars, CounterBatteryRadars, Scenario, WeatherStations


@dataclass
class AcousticNetwork:
    """All acoustic sensors as arrays (one entry per sensor), with a k-d tree over their ECEF
    positions so that the sensors near a source are found in time independent of their number."""

    ids: list[str]
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    xyz: NDArray[np.float64]
    operator: list[str]
    row: NDArray[np.int64]
    timing_sigma_s: NDArray[np.float64]
    noise_db: NDArray[np.float64]
    threshold_db: NDArray[np.float64]
    azimuth: NDArray[np.bool_]
    azimuth_sigma_deg: NDArray[np.float64]
    false_alarms_per_hour: NDArray[np.float64]
    tree: cKDTree = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.ids)


@dataclass
class RadarGroup:
    """Radars of one scenario group: the spec, and per radar its id, position and facing."""

    spec: CounterBatteryRadars | AirRadars
    ids: list[str]
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    xyz: NDArray[np.float64]
    basis: NDArray[np.float64]
    facing_deg: NDArray[np.float64]


@dataclass
class WeatherGroup:
    spec: WeatherStations
    ids: list[str]
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]


@dataclass
class Network:
    acoustic: AcousticNetwork
    counter_battery: list[RadarGroup]
    air: list[RadarGroup]
    weather: list[WeatherGroup]

    def counts(self) -> dict[str, int]:
        return {
            "acoustic": self.acoustic.size,
            "counter_battery_radar": sum(len(g.ids) for g in self.counter_battery),
            "air_radar": sum(len(g.ids) for g in self.air),
            "weather": sum(len(g.ids) for g in self.weather),
        }

    def geojson(self) -> dict:
        """sensors.geojson (contract section 2), with extension properties."""
        feats = []
        a = self.acoustic
        for i, sid in enumerate(a.ids):
            props = {
                "id": sid,
                "kind": "acoustic",
                "operator": a.operator[i],
                "timing_sigma_s": float(a.timing_sigma_s[i]),
                "row": int(a.row[i]),
                "noise_db": float(a.noise_db[i]),
                "threshold_db": float(a.threshold_db[i]),
            }
            if a.azimuth[i]:
                props["azimuth_sigma_deg"] = float(a.azimuth_sigma_deg[i])
            feats.append(_point(a.lon[i], a.lat[i], props))
        for g in self.counter_battery:
            s = g.spec
            for i, sid in enumerate(g.ids):
                feats.append(
                    _point(
                        g.lon[i],
                        g.lat[i],
                        {
                            "id": sid,
                            "kind": "radar",
                            "operator": s.operator,
                            "radar": "counter-battery",
                            "range_m": s.range_km * 1e3,
                            "sector": {
                                "azimuth_deg": float(g.facing_deg[i]),
                                "width_deg": s.sector_width_deg,
                            },
                            "fence_elevation_deg": s.min_elevation_deg,
                        },
                    )
                )
        for g in self.air:
            s = g.spec
            for i, sid in enumerate(g.ids):
                feats.append(
                    _point(
                        g.lon[i],
                        g.lat[i],
                        {
                            "id": sid,
                            "kind": "radar",
                            "operator": s.operator,
                            "radar": "air-surveillance",
                            "range_m": s.range_km * 1e3,
                            "scan_period_s": s.scan_period_s,
                            "sigma_m": s.sigma_m,
                            "antenna_height_m": s.antenna_height_m,
                        },
                    )
                )
        for w in self.weather:
            for i, sid in enumerate(w.ids):
                feats.append(
                    _point(
                        w.lon[i],
                        w.lat[i],
                        {
                            "id": sid,
                            "kind": "weather",
                            "operator": w.spec.operator,
                            "interval_s": w.spec.interval_s,
                        },
                    )
                )
        return {"type": "FeatureCollection", "features": feats}


def _point(lon: float, lat: float, props: dict) -> dict:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [float(lon), float(lat)]},
        "properties": props,
    }


def _row_points(
    frame: SectorFrame, side: str, offset_km: float, spacing_km: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Nominal projected positions of a row: an offset curve of the sector's line, sampled every
    `spacing_km` starting half a spacing in."""
    line = frame.agreement.line_local
    piece = ops.substring(line, frame.start_km * 1e3, frame.end_km * 1e3)
    curve = shapely.offset_curve(
        piece, frame.sign(side) * offset_km * 1e3, quad_segs=8, join_style="round"
    )
    xs, ys = [], []
    for part in shapely.get_parts(curve):
        if part.length < spacing_km * 1e3 / 2:
            continue
        along = np.arange(spacing_km * 500.0, part.length, spacing_km * 1e3)
        pts = shapely.line_interpolate_point(part, along)
        xs.append(shapely.get_x(pts))
        ys.append(shapely.get_y(pts))
    if not xs:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(xs), np.concatenate(ys)


def build_network(frame: SectorFrame, scenario: Scenario, rng: np.random.Generator) -> Network:
    """Place every sensor of the scenario's layout."""
    agreement = frame.agreement
    cols: dict[str, list] = {
        k: []
        for k in (
            "lon",
            "lat",
            "operator",
            "row",
            "timing",
            "noise",
            "threshold",
            "azimuth",
            "az_sigma",
            "fa",
        )
    }
    for r, row in enumerate(scenario.sensors.acoustic):
        x, y = _row_points(frame, row.side, row.offset_km, row.spacing_km)
        x = x + rng.normal(0.0, row.jitter_m, x.size)
        y = y + rng.normal(0.0, row.jitter_m, y.size)
        lon, lat = frame.to_lonlat(x, y)
        keep = agreement.party_at(lon, lat) == row.side
        if np.any(keep):
            dist = agreement.distance_to_line_m(lon[keep], lat[keep])
            keep[np.flatnonzero(keep)] = dist >= 500.0 * row.offset_km
        arrays = rng.random(x.size) < row.azimuth_fraction
        n = int(keep.sum())
        cols["lon"].append(lon[keep])
        cols["lat"].append(lat[keep])
        cols["operator"] += [row.operator] * n
        cols["row"].append(np.full(n, r))
        cols["timing"].append(np.full(n, row.timing_sigma_s))
        cols["noise"].append(np.full(n, row.noise_db))
        cols["threshold"].append(np.full(n, row.threshold_db))
        cols["azimuth"].append(arrays[keep])
        cols["az_sigma"].append(np.full(n, row.azimuth_sigma_deg))
        cols["fa"].append(np.full(n, row.false_alarms_per_hour))
    lon = np.concatenate(cols["lon"])
    lat = np.concatenate(cols["lat"])
    xyz = to_ecef(lon, lat)
    width = max(5, len(str(lon.size)))
    acoustic = AcousticNetwork(
        ids=[f"A{i:0{width}d}" for i in range(1, lon.size + 1)],
        lon=lon,
        lat=lat,
        xyz=xyz,
        operator=cols["operator"],
        row=np.concatenate(cols["row"]).astype(np.int64),
        timing_sigma_s=np.concatenate(cols["timing"]),
        noise_db=np.concatenate(cols["noise"]),
        threshold_db=np.concatenate(cols["threshold"]),
        azimuth=np.concatenate(cols["azimuth"]).astype(bool),
        azimuth_sigma_deg=np.concatenate(cols["az_sigma"]),
        false_alarms_per_hour=np.concatenate(cols["fa"]),
        tree=cKDTree(xyz),
    )

    counter_battery = [
        _radars(frame, spec, rng, f"CB{g + 1}-")
        for g, spec in enumerate(scenario.sensors.counter_battery)
    ]
    air = [_radars(frame, spec, rng, f"AR{g + 1}-") for g, spec in enumerate(scenario.sensors.air)]
    weather = []
    for g, spec in enumerate(scenario.sensors.weather):
        count = max(1, round(frame.length_km / spec.spacing_km))
        km = frame.start_km + (np.arange(count) + 0.5) * frame.length_km / count
        lon_w, lat_w = frame.place(rng, spec.side, km, np.full(count, spec.offset_km))
        weather.append(
            WeatherGroup(spec, [f"WX{g + 1}-{i + 1:03d}" for i in range(count)], lon_w, lat_w)
        )
    return Network(acoustic, counter_battery, air, weather)


def _radars(
    frame: SectorFrame,
    spec: CounterBatteryRadars | AirRadars,
    rng: np.random.Generator,
    prefix: str,
) -> RadarGroup:
    if spec.positions is not None:
        lon, lat = round_coords([p[0] for p in spec.positions], [p[1] for p in spec.positions])
    else:
        count = max(1, round(frame.length_km / spec.spacing_km))
        km = frame.start_km + (np.arange(count) + 0.5) * frame.length_km / count
        lon, lat = frame.place(rng, spec.side, km, np.full(count, spec.depth_km))
    near_lon, near_lat = frame.agreement.nearest_on_line(lon, lat)
    facing = geodesic_azimuth_deg(lon, lat, near_lon, near_lat)
    return RadarGroup(
        spec,
        [f"{prefix}{i + 1:03d}" for i in range(lon.size)],
        lon,
        lat,
        to_ecef(lon, lat, 0.0),
        enu_basis(lon, lat),
        facing,
    )
