"""Radar air tracking: our GNN tracker against Stone Soup (Kalman + GNN) on the same plots
(OSPA/GOSPA against truth, run time), and our tracker's speed against real time; projectile
backtracking time per track (all tracks together, and one at a time) and its launch error as a
share of range.

Usage: python bench/bench_radar.py [--json FILE] [--scenario NAME] [--heavy PLOTS.jsonl]
(`--heavy`: radar_plot lines of a whole-line heavy day, e.g. grep'd from a line-heavy-day run).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import track_points, write_result  # type: ignore[import-not-found]
from truceline.agreement import load_agreement
from truceline.config import RadarSettings
from truceline.evaluate.radar import ospa_gospa
from truceline.geo.projection import geodesic_distance_m
from truceline.radar.projectile import backtrack_many
from truceline.radar.tracker import GnnTracker, PlotBatch
from truceline.sim import simulate
from truceline.timeutil import parse_time


def read_plots(path: Path, agreement):
    ids, t, lon, lat, alt, sg, vel = [], [], [], [], [], [], []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if '"radar_plot"' not in line:
                continue
            o = json.loads(line)
            p = o["position"]
            ids.append(o["id"])
            t.append(parse_time(o["time"]))
            lon.append(p[0])
            lat.append(p[1])
            alt.append(p[2])
            sg.append(o["sigma_m"])
            vel.append(o.get("velocity_mps", [np.nan] * 3))
    x, y = agreement.projection.forward(lon, lat)
    n = len(ids)
    return ids, PlotBatch(
        np.array(t, np.int64),
        np.column_stack([x, y, alt]) if n else np.zeros((0, 3)),
        np.array(sg, float),
        np.array(vel, float).reshape(n, 3),
        np.zeros(n, np.int64),
    )


def truth_positions(out: Path, agreement, times: np.ndarray, plot_time: dict[str, int]):
    """(T, objects, 3) true positions while each object was observed (NaN otherwise)."""
    rows = []
    for line in (out / "truth.jsonl").read_text().splitlines():
        o = json.loads(line)
        if o["type"] != "air-track" or len(o["observations"]) < 5:
            continue
        seen = [plot_time[i] for i in o["observations"] if i in plot_time]
        pt = np.array([parse_time(p[3]) for p in o["path"]], float)
        x, y = agreement.projection.forward([p[0] for p in o["path"]], [p[1] for p in o["path"]])
        z = [p[2] for p in o["path"]]
        pos = np.column_stack([np.interp(times, pt, c) for c in (x, y, z)])
        pos[(times < min(seen)) | (times > max(seen))] = np.nan
        rows.append(pos)
    return np.stack(rows, axis=1)


def path_positions(tracks, times: np.ndarray) -> np.ndarray:
    out = np.full((times.size, len(tracks), 3), np.nan)
    for k, (t, xyz) in enumerate(tracks):
        inside = (times >= t[0]) & (times <= t[-1])
        for a in range(3):
            out[inside, k, a] = np.interp(times[inside], t, xyz[:, a])
    return out


def score(truth: np.ndarray, est: np.ndarray) -> tuple[float, float]:
    o = g = 0.0
    for k in range(truth.shape[0]):
        tx = truth[k][np.isfinite(truth[k][:, 0])]
        ex = est[k][np.isfinite(est[k][:, 0])]
        a, b = ospa_gospa(tx, ex)
        o, g = o + a, g + b
    return o / truth.shape[0], g / truth.shape[0]


def stonesoup_tracks(plots: PlotBatch, settings: RadarSettings):
    """Stone Soup 1.9: CV Kalman filter, Mahalanobis hypothesiser, GNN (2-D assignment),
    M-of-N-like initiation (MultiMeasurementInitiator, 4 points), time-based deletion."""
    from datetime import datetime, timedelta

    from stonesoup.dataassociator.neighbour import GNNWith2DAssignment
    from stonesoup.deleter.time import UpdateTimeDeleter
    from stonesoup.hypothesiser.distance import DistanceHypothesiser
    from stonesoup.initiator.simple import MultiMeasurementInitiator
    from stonesoup.measures import Mahalanobis
    from stonesoup.models.measurement.linear import LinearGaussian
    from stonesoup.models.transition.linear import (
        CombinedLinearGaussianTransitionModel,
        ConstantVelocity,
    )
    from stonesoup.predictor.kalman import KalmanPredictor
    from stonesoup.types.detection import Detection
    from stonesoup.types.state import GaussianState
    from stonesoup.updater.kalman import KalmanUpdater

    q = settings.accel_sigma_mps2**2
    qv = settings.vertical_accel_sigma_mps2**2
    transition = CombinedLinearGaussianTransitionModel(
        [ConstantVelocity(q), ConstantVelocity(q), ConstantVelocity(qv)]
    )
    measurement = LinearGaussian(ndim_state=6, mapping=(0, 2, 4), noise_covar=np.eye(3) * 50.0**2)
    predictor = KalmanPredictor(transition)
    updater = KalmanUpdater(measurement)
    hypothesiser = DistanceHypothesiser(predictor, updater, Mahalanobis(), missed_distance=4.0)
    associator = GNNWith2DAssignment(hypothesiser)
    deleter = UpdateTimeDeleter(timedelta(seconds=settings.coast_s))
    prior = GaussianState(
        np.zeros((6, 1)), np.diag([50.0**2, 60.0**2, 50.0**2, 60.0**2, 50.0**2, 60.0**2])
    )
    init_deleter = UpdateTimeDeleter(timedelta(seconds=settings.tentative_coast_s))
    initiator = MultiMeasurementInitiator(
        prior_state=prior,
        measurement_model=measurement,
        deleter=init_deleter,
        data_associator=associator,
        updater=updater,
        min_points=settings.confirm_hits,
    )
    epoch = datetime(2026, 1, 1)
    t0 = int(plots.time_ns.min())
    order = np.argsort(plots.time_ns)
    step = int(settings.batch_s * 1e9)
    tracks: set = set()
    finished = []
    keys = (plots.time_ns[order] - t0) // step
    for key in np.unique(keys):
        idx = order[keys == key]
        when = epoch + timedelta(seconds=float((plots.time_ns[idx].max() - t0) / 1e9))
        dets = {
            Detection(
                plots.xyz[j].reshape(3, 1),
                timestamp=epoch + timedelta(seconds=float((plots.time_ns[j] - t0) / 1e9)),
                measurement_model=measurement,
            )
            for j in idx
        }
        hyps = associator.associate(tracks, dets, when)
        used = set()
        for track in tracks:
            h = hyps[track]
            if h.measurement:
                track.append(updater.update(h))
                used.add(h.measurement)
            else:
                track.append(h.prediction)
        gone = deleter.delete_tracks(tracks)
        finished.extend(gone)
        tracks -= gone
        tracks |= initiator.initiate(dets - used, when)
    finished.extend(tracks)
    out = []
    for track in finished:
        states = [s for s in track.states if hasattr(s, "hypothesis")]
        if len(states) < settings.min_track_plots:
            continue
        t = np.array([t0 + (s.timestamp - epoch).total_seconds() * 1e9 for s in states])
        xyz = np.array([[s.state_vector[i, 0] for i in (0, 2, 4)] for s in states])
        out.append((t, xyz))
    return out


def backtrack_speed(out: Path, settings: RadarSettings) -> dict:
    """Projectile backtracking time per track (all tracks together, and one at a time) and the
    launch error as a share of the radar's distance to the true launch (as `truceline evaluate`
    measures it), median and 90th percentile."""
    tracks, ids, radars = [], [], []
    with open(out / "observations.jsonl", encoding="utf-8") as handle:
        for line in handle:
            if '"radar_track"' in line:
                o = json.loads(line)
                ids.append(o["id"])
                radars.append(o["sensor"])
                tracks.append(track_points(o))
    kw = {
        "step_s": settings.step_s,
        "muzzle_speed_sigma": settings.muzzle_speed_sigma,
        "kernel": settings.kernel,
    }
    backtrack_many(tracks[:1], **kw)  # the compiled kernel is loaded (or compiled) once first
    started = time.perf_counter()
    results = backtrack_many(tracks, **kw)
    batched = time.perf_counter() - started
    shares = launch_shares(out, ids, radars, results)
    started = time.perf_counter()
    for tr in tracks:
        backtrack_many([tr], **kw)
    single = time.perf_counter() - started
    return {
        "backtrack_tracks": len(tracks),
        "backtrack_batched_ms_per_track": round(batched / max(len(tracks), 1) * 1e3, 1),
        "backtrack_single_ms_per_track": round(single / max(len(tracks), 1) * 1e3, 1),
        "backtrack_launch_share_median_pct": round(float(np.median(shares)) * 100, 4),
        "backtrack_launch_share_p90_pct": round(float(np.percentile(shares, 90)) * 100, 4),
    }


def launch_shares(out: Path, ids, radars, results) -> list[float]:
    """Launch error / distance from the radar to the true launch, per backtracked track."""
    truth = {}
    for line in (out / "truth.jsonl").read_text().splitlines():
        o = json.loads(line)
        if o["type"] == "launch":
            truth.update({obs: o["position"] for obs in o["observations"]})
    sensors = {
        f["properties"]["id"]: f["geometry"]["coordinates"]
        for f in json.loads((out / "sensors.geojson").read_text())["features"]
    }
    shares = []
    for tid, radar, bt in zip(ids, radars, results, strict=True):
        if bt is None or bt.launch is None or tid not in truth or radar not in sensors:
            continue
        lon, lat = bt.plane.inverse(bt.launch.east_m, bt.launch.north_m)
        err = geodesic_distance_m(float(lon[0]), float(lat[0]), *truth[tid])
        rng = geodesic_distance_m(*sensors[radar][:2], *truth[tid])
        shares.append(float(err) / float(rng))
    return shares


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json")
    ap.add_argument("--scenario", default="sector-quick")
    ap.add_argument("--heavy", help="radar_plot lines of a whole-line heavy day")
    args = ap.parse_args()
    settings = RadarSettings()
    figures: dict = {"scenario": args.scenario, "seed": 1}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        simulate(args.scenario, 1, out, progress=False)
        agreement = load_agreement(out / "agreement.yaml")
        ids, plots = read_plots(out / "observations.jsonl", agreement)
        plot_time = dict(zip(ids, plots.time_ns.tolist(), strict=True))
        times = np.arange(plots.time_ns.min(), plots.time_ns.max(), 5_000_000_000)
        truth = truth_positions(out, agreement, times.astype(float), plot_time)
        started = time.perf_counter()
        ours = GnnTracker(settings).run(plots)
        figures["ours_s"] = round(time.perf_counter() - started, 3)
        o, g = score(truth, path_positions([(tr.time_ns, tr.states[:, :3]) for tr in ours], times))
        figures.update(
            plots=plots.size,
            ours_tracks=len(ours),
            ours_ospa_m=round(o, 1),
            ours_gospa_m=round(g, 1),
        )
        figures.update(backtrack_speed(out, settings))
        try:
            started = time.perf_counter()
            theirs = stonesoup_tracks(plots, settings)
            figures["stonesoup_s"] = round(time.perf_counter() - started, 3)
            o, g = score(truth, path_positions(theirs, times))
            figures.update(
                stonesoup_tracks=len(theirs),
                stonesoup_ospa_m=round(o, 1),
                stonesoup_gospa_m=round(g, 1),
            )
        except ImportError as exc:
            figures["stonesoup"] = f"not installed ({exc.name}); pip install stonesoup==1.9.1"
    if args.heavy:
        _, plots = read_plots(Path(args.heavy), agreement)  # same agreement, same projection
        span_s = (plots.time_ns.max() - plots.time_ns.min()) / 1e9
        started = time.perf_counter()
        tracks = GnnTracker(settings).run(plots)
        elapsed = time.perf_counter() - started
        figures.update(
            heavy_plots=plots.size,
            heavy_span_s=round(span_s, 1),
            heavy_tracks=len(tracks),
            heavy_s=round(elapsed, 2),
            heavy_realtime_factor=round(span_s / elapsed, 1),
        )
    write_result(args.json, "radar", figures)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    sys.exit(main())
