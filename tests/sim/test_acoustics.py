"""The acoustic model as documented in docs/methods.md: the detection curve, arrival times and
azimuths are checked statistically against truth, with the formulas written out here."""

from __future__ import annotations

import itertools

import numpy as np
from scipy.special import ndtr

from truceline.geo.projection import enu_basis, geodesic_azimuth_deg, to_ecef
from truceline.timeutil import parse_time
from truceline.weapons import weapon_classes

from .conftest import Run


def _sources(run: Run):
    classes = weapon_classes()
    out = []
    for t in run.truth():
        if t["type"] == "launch":
            level = classes[t["weapon"]].launch_level_db
        elif t["type"] == "impact":
            level = classes[t["weapon"]].impact_level_db
        else:
            continue
        out.append((t, level))
    return out


def _acoustic_sensors(run: Run):
    feats = [f for f in run.sensors() if f["properties"]["kind"] == "acoustic"]
    ids = [f["properties"]["id"] for f in feats]
    lon, lat = np.array([f["geometry"]["coordinates"] for f in feats]).T
    props = [f["properties"] for f in feats]
    return ids, lon, lat, props


def test_detection_probability_follows_the_configured_curve(busy: Run):
    spec = busy.scenario.acoustics
    ids, lon, lat, props = _acoustic_sensors(busy)
    index = {s: i for i, s in enumerate(ids)}
    xyz = to_ecef(lon, lat)
    noise = np.array([p["noise_db"] for p in props])
    threshold = np.array([p["threshold_db"] for p in props])
    obs_sensor = {o["id"]: o["sensor"] for o in busy.observations() if o["kind"] == "acoustic"}
    probs, hits = [], []
    for t, level in _sources(busy):
        d = np.linalg.norm(xyz - to_ecef(*t["position"]), axis=1)
        snr = level - 20 * np.log10(d) - spec.absorption_db_per_km * d / 1e3 - noise
        p = ndtr((snr - threshold) / spec.sigma_db)
        heard = np.zeros(len(ids), bool)
        for i in t["observations"]:
            if i in obs_sensor:
                heard[index[obs_sensor[i]]] = True
        keep = (snr - threshold) / spec.sigma_db > -6.0  # the simulator stops at -5.5 sigma
        assert not np.any(heard & ~keep), "a detection where the curve says none is possible"
        probs.append(p[keep])
        hits.append(heard[keep])
    p, hit = np.concatenate(probs), np.concatenate(hits)
    assert p.size > 20_000
    edges = np.linspace(0, 1, 11)
    for lo, hi in itertools.pairwise(edges):
        sel = (p >= lo) & (p < hi)
        expected, observed = p[sel].sum(), hit[sel].sum()
        sd = np.sqrt((p[sel] * (1 - p[sel])).sum())
        assert abs(observed - expected) <= 3 * sd + 1, (lo, hi, observed, expected)


def _detections(run: Run):
    """(source truth, observation) pairs of acoustic detections."""
    obs = {o["id"]: o for o in run.observations() if o["kind"] == "acoustic"}
    for t, _ in _sources(run):
        for i in t["observations"]:
            if i in obs:
                yield t, obs[i]


def test_arrival_time_residuals_have_the_configured_sigma(busy: Run):
    sc = busy.scenario
    ids, lon, lat, props = _acoustic_sensors(busy)
    where = {s: (lon[i], lat[i], props[i]["timing_sigma_s"]) for i, s in enumerate(ids)}
    rows = []
    for t, o in _detections(busy):
        slon, slat, sig = where[o["sensor"]]
        rows.append((*t["position"], parse_time(t["time"]), slon, slat, sig, parse_time(o["time"])))
    src_lon, src_lat, t0, s_lon, s_lat, sig_s, t_obs = (
        np.array(c) for c in zip(*rows, strict=True)
    )
    diff = to_ecef(s_lon, s_lat) - to_ecef(src_lon, src_lat)
    d = np.linalg.norm(diff, axis=1)
    basis = enu_basis(src_lon, src_lat)
    east = np.einsum("ij,ij->i", diff, basis[:, 0])
    north = np.einsum("ij,ij->i", diff, basis[:, 1])
    hour = (t0 % 86_400_000_000_000) / 3.6e12
    w = sc.weather
    phase = 2 * np.pi * (hour - w.warmest_hour_utc) / 24
    temp = w.temperature_c + w.diurnal_range_c / 2 * np.cos(phase)
    c = 331.3 * np.sqrt(1 + temp / 273.15)
    c_eff = c + (w.wind_mps[0] * east + w.wind_mps[1] * north) / np.hypot(east, north)
    residual = (t_obs - t0) / 1e9 - d / c_eff
    sigma = np.sqrt(sig_s**2 + (sc.acoustics.propagation_jitter_s_per_km * d / 1e3) ** 2)
    z = residual / sigma
    n = z.size
    assert n > 5_000
    assert abs(z.mean()) < 4 / np.sqrt(n)
    assert abs(z.std() - 1) < 4 / np.sqrt(2 * n)
    # Without the wind term the residuals are visibly biased along the wind.
    along = (w.wind_mps[0] * east + w.wind_mps[1] * north) / np.hypot(east, north)
    no_wind = (t_obs - t0) / 1e9 - d / c
    assert np.corrcoef(no_wind / sigma, along)[0, 1] < -0.1


def test_azimuths_scatter_with_the_configured_sigma(busy: Run):
    ids, lon, lat, props = _acoustic_sensors(busy)
    where = {s: (lon[i], lat[i], props[i].get("azimuth_sigma_deg")) for i, s in enumerate(ids)}
    err = []
    for t, o in _detections(busy):
        slon, slat, sig = where[o["sensor"]]
        assert ("azimuth_deg" in o) == (sig is not None)
        if sig is None:
            continue
        true = geodesic_azimuth_deg(slon, slat, *t["position"])
        err.append(((o["azimuth_deg"] - float(true) + 180) % 360 - 180) / sig)
    z = np.array(err)
    assert z.size > 5_000
    assert abs(z.mean()) < 4 / np.sqrt(z.size)
    assert abs(z.std() - 1) < 0.05


def test_reported_snr_is_above_threshold(busy: Run):
    _, _, _, props = _acoustic_sensors(busy)
    threshold = min(p["threshold_db"] for p in props)
    snr = np.array([o["snr_db"] for o in busy.observations() if o["kind"] == "acoustic"])
    assert np.all(snr >= threshold - 0.05)
