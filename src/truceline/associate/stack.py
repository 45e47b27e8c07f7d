"""Source scanning: trial origins for dense groups of detections by stacking on a grid.

RANSAC over four-detection subsets needs a subset of one sound. In a salvo (a dozen rounds half
a second apart, each heard by the same sensors) nearly every subset mixes rounds, and a mixed
subset still fits some origin. Stacking does not depend on picking a pure subset: for each node
of a grid, every detection implies an origin time tau_i = t_i - d_i / c_eff,i; at a source, the
detections of that one sound agree on tau to within their timing error, and the others scatter.
The node and time window holding the most detections is a trial origin (the "source-scanning
algorithm" of Kao & Shan 2004, with a coarse-to-fine grid). docs/methods.md, "Association",
gives the arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from truceline.locate.solver import SoundSpeed

F64 = NDArray[np.float64]

_CHUNK_CELLS = 2_000_000  # nodes x detections evaluated at once (bounds memory to ~50 MB)


@dataclass(frozen=True, slots=True)
class Peak:
    """A stacked trial origin: position (m, local plane), origin time (s), detections agreeing."""

    x_m: float
    y_m: float
    tau_s: float
    count: int


def scan(
    x: F64,
    y: F64,
    t: F64,
    gx: F64,
    gy: F64,
    speed: SoundSpeed,
    window_s: float,
) -> tuple[NDArray[np.int64], F64]:
    """Per grid node, the most detections whose implied origin times fall in one window of
    `window_s` (windows at two offsets half a window apart, so no cluster is split by an
    edge), and that window's centre time. Returns (count, tau) arrays over the nodes."""
    g = gx.size
    best_count = np.zeros(g, dtype=np.int64)
    best_tau = np.zeros(g)
    step = max(1, _CHUNK_CELLS // max(x.size, 1))
    for lo in range(0, g, step):
        hi = min(g, lo + step)
        travel, _ = speed.travel_time_s(x[None, :] - gx[lo:hi, None], y[None, :] - gy[lo:hi, None])
        tau = t[None, :] - travel
        t0 = float(tau.min())
        rows = np.arange(hi - lo)[:, None]
        for offset in (0.0, 0.5 * window_s):
            b = ((tau - t0 + offset) / window_s).astype(np.int64)
            nb = int(b.max()) + 1
            counts = np.bincount((rows * nb + b).ravel(), minlength=(hi - lo) * nb)
            counts = counts.reshape(hi - lo, nb)
            arg = counts.argmax(axis=1)
            top = counts[np.arange(hi - lo), arg]
            better = top > best_count[lo:hi]
            best_count[lo:hi] = np.where(better, top, best_count[lo:hi])
            centre = t0 - offset + (arg + 0.5) * window_s
            best_tau[lo:hi] = np.where(better, centre, best_tau[lo:hi])
    return best_count, best_tau


def _grid(cx: float, cy: float, half_m: float, spacing_m: float) -> tuple[F64, F64]:
    ticks = np.arange(-half_m, half_m + 0.5 * spacing_m, spacing_m)
    gx, gy = np.meshgrid(cx + ticks, cy + ticks)
    return gx.ravel(), gy.ravel()


def coarse_regions(
    x: F64,
    y: F64,
    t: F64,
    speed: SoundSpeed,
    *,
    margin_m: float = 8_000.0,
    coarse_m: float = 250.0,
    fine_window_s: float = 0.2,
    regions: int = 3,
) -> list[tuple[float, float]]:
    """Centres (m) of the `regions` best areas, at least four coarse nodes apart, on a grid of
    `coarse_m` spacing over the detections' sensors plus `margin_m`; the window is wide enough
    for a coarse node's offset from the source: 2 * coarse_m / c_min + fine_window_s."""
    if x.size == 0:
        return []
    c_min = speed.c_mps - np.hypot(speed.wind_e_mps, speed.wind_n_mps)
    span = max(float(np.ptp(x)), float(np.ptp(y))) / 2 + margin_m
    gx, gy = _grid(float(np.mean(x)), float(np.mean(y)), span, coarse_m)
    window = 2 * coarse_m / c_min + fine_window_s
    counts, _ = scan(x, y, t, gx, gy, speed, window)
    centres: list[tuple[float, float]] = []
    for node in np.argsort(-counts, kind="stable"):
        if len(centres) >= regions:
            break
        if all(np.hypot(gx[node] - a, gy[node] - b) >= 4 * coarse_m for a, b in centres):
            centres.append((float(gx[node]), float(gy[node])))
    return centres


def fine_peaks(
    x: F64,
    y: F64,
    t: F64,
    speed: SoundSpeed,
    centres: list[tuple[float, float]],
    *,
    half_m: float = 375.0,
    fine_m: float = 25.0,
    fine_window_s: float = 0.2,
) -> list[Peak]:
    """The best origin on a grid of `fine_m` spacing within `half_m` of each centre, best
    first."""
    peaks = []
    for cx, cy in centres:
        fx, fy = _grid(cx, cy, half_m, fine_m)
        count, tau = scan(x, y, t, fx, fy, speed, fine_window_s)
        k = int(np.argmax(count))
        peaks.append(Peak(float(fx[k]), float(fy[k]), float(tau[k]), int(count[k])))
    peaks.sort(key=lambda p: -p.count)
    return peaks
