"""Geodesy and geometry: local projections, geodesic distances, bundled geography, gazetteer."""

from truceline.geo.projection import (
    GEOD,
    LocalProjection,
    compass_point,
    destination,
    geodesic_azimuth_deg,
    geodesic_distance_m,
)

__all__ = [
    "GEOD",
    "LocalProjection",
    "compass_point",
    "destination",
    "geodesic_azimuth_deg",
    "geodesic_distance_m",
]
