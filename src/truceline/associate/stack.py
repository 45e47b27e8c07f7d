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
from scipy.stats import poisson

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


def _histograms(x: F64, y: F64, t: F64, gx: F64, gy: F64, speed: SoundSpeed, window_s: float):
    """Per chunk of grid nodes and per window offset (0 and half a window): the nodes' slice,
    the counts of implied origin times per window (nodes x windows) and the windows' start."""
    g = gx.size
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
            yield slice(lo, hi), counts.reshape(hi - lo, nb), t0 - offset


def scan(
    x: F64,
    y: F64,
    t: F64,
    gx: F64,
    gy: F64,
    speed: SoundSpeed,
    window_s: float,
    kernel: str = "compiled",
) -> tuple[NDArray[np.int64], F64]:
    """Per grid node, the most detections whose implied origin times fall in one window of
    `window_s` (windows at two offsets half a window apart, so no cluster is split by an
    edge), and that window's centre time. Returns (count, tau) arrays over the nodes.
    `kernel`: "compiled" (`truceline.associate.kernel`) or "numpy" (the reference)."""
    if kernel == "compiled":
        return _compiled(x, y, t, gx, gy, speed, window_s, rounds=False)
    best_count = np.zeros(gx.size, dtype=np.int64)
    best_tau = np.zeros(gx.size)
    for nodes, counts, start in _histograms(x, y, t, gx, gy, speed, window_s):
        arg = counts.argmax(axis=1)
        top = counts[np.arange(counts.shape[0]), arg]
        better = top > best_count[nodes]
        best_count[nodes] = np.where(better, top, best_count[nodes])
        centre = start + (arg + 0.5) * window_s
        best_tau[nodes] = np.where(better, centre, best_tau[nodes])
    return best_count, best_tau


def scan_rounds(
    x: F64,
    y: F64,
    t: F64,
    gx: F64,
    gy: F64,
    speed: SoundSpeed,
    window_s: float,
    kernel: str = "compiled",
) -> NDArray[np.int64]:
    """Per grid node, the pairs of detections whose implied origin times share a window of
    `window_s` (sum of count · (count - 1) over windows, the better of the two offsets): at the
    place a salvo came from, every round's detections agree, each round in its own window,
    and a place that smears the rounds over neighbouring windows scores less."""
    if kernel == "compiled":
        return _compiled(x, y, t, gx, gy, speed, window_s, rounds=True)[0]
    best = np.zeros(gx.size, dtype=np.int64)
    for nodes, counts, _ in _histograms(x, y, t, gx, gy, speed, window_s):
        best[nodes] = np.maximum(best[nodes], (counts * (counts - 1)).sum(axis=1))
    return best


def _compiled(x, y, t, gx, gy, speed: SoundSpeed, window_s: float, rounds: bool):
    from truceline.associate.kernel import scan_kernel

    def f64(a) -> F64:
        return np.ascontiguousarray(a, dtype=np.float64)

    return scan_kernel(
        f64(x),
        f64(y),
        f64(t),
        f64(gx),
        f64(gy),
        float(speed.c_mps),
        float(speed.wind_e_mps),
        float(speed.wind_n_mps),
        float(window_s),
        _CHUNK_CELLS,
        rounds,
    )


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


@dataclass(frozen=True, slots=True)
class Salvo:
    """The place a salvo came from (m, local plane) and the origin times (s) of its rounds
    heard there by at least `min_count` sensors, most heard first."""

    x_m: float
    y_m: float
    taus: tuple[float, ...]
    counts: tuple[int, ...]


def salvo(
    x: F64,
    y: F64,
    t: F64,
    sensors: NDArray[np.int64],
    speed: SoundSpeed,
    centres: list[tuple[float, float]],
    min_count: int,
    *,
    half_m: float = 1500.0,
    fine_m: float = 25.0,
    window_s: float = 0.2,
    false_rounds: float = 1.0,
) -> Salvo | None:
    """The node, within `half_m` of the `centres`, where the detections agree best in rounds
    (`scan_rounds`), and its rounds: windows of `window_s` of implied origin time holding
    `min_count` distinct sensors or more and more than chance gives (`false_rounds`
    expected chance windows over the span), taken greedily, largest first. None without two
    such rounds (one round is an ordinary event)."""
    best: tuple[int, float, float] | None = None
    for cx, cy in centres:
        # Coarse to fine: far from the sensors a salvo's place is poorly resolved in range, so
        # the search reaches `half_m` around each area; the mid grid's window allows for its
        # nodes' offset from the place.
        mid = 4 * fine_m
        for half, spacing, window in (
            (half_m, mid, window_s + mid / speed.c_mps),
            (mid, fine_m, window_s),
        ):
            fx, fy = _grid(cx, cy, half, spacing)
            score = scan_rounds(x, y, t, fx, fy, speed, window)
            k = int(np.argmax(score))
            cx, cy = float(fx[k]), float(fy[k])
        if best is None or score[k] > best[0]:
            best = (int(score[k]), cx, cy)
    if best is None:
        return None
    _, bx, by = best
    travel, _ = speed.travel_time_s(x - bx, y - by)
    order = np.argsort(t - travel)
    u, s = (t - travel)[order], sensors[order]
    # Other sounds' detections fall in a window by chance, Poisson with the group's mean rate:
    # a round must hold more than `false_rounds` chance windows over the whole span would.
    windows = max(float(u[-1] - u[0]) / window_s, 1.0)
    rate = u.size / windows
    threshold = max(min_count, int(poisson.isf(false_rounds / windows, rate)) + 1)
    free = np.ones(u.size, dtype=bool)
    ends = np.searchsorted(u, u + window_s, side="right")
    starts = np.arange(u.size)
    taus: list[float] = []
    counts: list[int] = []
    while True:
        # Free detections in the window starting at each free detection; the fullest is the
        # next round if it holds enough distinct sensors.
        filled = np.concatenate([[0], np.cumsum(free)])
        count = np.where(free, filled[ends] - filled[starts], 0)
        i = int(np.argmax(count))
        if count[i] < threshold:
            break
        window = np.arange(i, int(ends[i]))
        window = window[free[window]]
        free[window] = False
        distinct = np.unique(s[window]).size
        if distinct >= threshold:
            taus.append(float(np.median(u[window])))
            counts.append(distinct)
    if len(taus) < 2:
        return None
    return Salvo(bx, by, tuple(taus), tuple(counts))
