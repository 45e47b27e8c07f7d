"""Source scanning compiled with Numba: histograms of implied origin times over grid nodes.

The same arithmetic as the NumPy reference in `truceline.associate.stack` (`_histograms`, with
`scan` and `scan_rounds` on top of it), node by node instead of as (nodes x detections) arrays:
the NumPy form builds and bins arrays of up to `_CHUNK_CELLS` cells several times over and was
the largest cost of associating salvos (docs/performance.md, "Acoustic events"). The chunks of
nodes are kept, because each chunk's earliest implied origin time anchors its windows, so the
counts, the chosen windows and their times are exactly those of the reference;
`tests/associate/test_stack.py` checks it.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# Implied origin times are first computed fast: sqrt(dx^2 + dy^2) for hypot, d^2 / (c d + w . dx)
# for d / (c + w . dx / d), a multiplication by 1 / window for a division (division and hypot
# bound the reference's cost). These agree with the reference's arithmetic to a few ulp: a few
# 1e-11 s at times of a day in seconds. Where that could matter the exact value is computed: for
# the chunk's earliest time and for detections within _GUARD of a window's edge. The results
# are then exactly the reference's, whatever the platform's hypot.
_GUARD = 1e-6  # in windows (0.2 s: 2e-7 s, thousands of times the fast arithmetic's error)
_GUARD_S = 1e-9  # s, for tolerances on times: still ~1e5 times that error


@njit(cache=True, error_model="numpy")
def _exact_tau(xi, yi, ti, gx, gy, c, we, wn):
    """t - d / (c + w . u), as `SoundSpeed.travel_time_s` computes it."""
    dx = xi - gx
    dy = yi - gy
    d = max(math.hypot(dx, dy), 1.0)
    return ti - d / (c + (we * dx + wn * dy) / d)


@njit(cache=True, error_model="numpy")
def scan_kernel(x, y, t, gx, gy, c, we, wn, window_s, chunk_cells, rounds):
    """Per node, over windows of `window_s` at offsets 0 and half a window from the chunk's
    earliest implied origin time: with `rounds` False, the fullest window's count and centre
    time (the first fullest, offset 0 first, as `stack.scan`); with `rounds` True, the larger
    over the two offsets of the sum of count * (count - 1) over windows (`stack.scan_rounds`).
    Returns (count or score, centre time) arrays over the nodes."""
    g = gx.size
    n = x.size
    best = np.zeros(g, dtype=np.int64)
    best_tau = np.zeros(g)
    step = max(1, chunk_cells // max(n, 1))
    tau = np.empty((min(step, g), n))  # the chunk's implied origin times (fast), node by node
    bins = np.empty(n, dtype=np.int64)
    frac = np.empty(n)
    half = 0.5 * window_s
    inverse = 1.0 / window_s
    margin = _GUARD * window_s
    for lo in range(0, g, step):
        hi = min(g, lo + step)
        fast0 = np.inf
        t1 = -np.inf
        for k in range(lo, hi):
            row = tau[k - lo]
            px = gx[k]
            py = gy[k]
            for i in range(n):
                dx = x[i] - px
                dy = y[i] - py
                d = max(math.sqrt(dx * dx + dy * dy), 1.0)
                row[i] = t[i] - d * d / (c * d + (we * dx + wn * dy))
            for i in range(n):
                fast0 = min(fast0, row[i])
                t1 = max(t1, row[i])
        t0 = np.inf  # the exact earliest, among those the fast values cannot tell apart
        for k in range(lo, hi):
            row = tau[k - lo]
            for i in range(n):
                if row[i] <= fast0 + margin:
                    t0 = min(t0, _exact_tau(x[i], y[i], t[i], gx[k], gy[k], c, we, wn))
        hist = np.zeros(int((t1 - t0 + half) / window_s) + 3, dtype=np.int64)
        for k in range(lo, hi):
            row = tau[k - lo]
            for offset in (0.0, half):
                for i in range(n):  # (vectorised: no branch)
                    v = (row[i] - t0 + offset) * inverse
                    b = int(v)
                    bins[i] = b
                    frac[i] = v - b
                pairs = 0
                b_lo = hist.size
                b_hi = 0
                for i in range(n):
                    b = bins[i]
                    if frac[i] < _GUARD or frac[i] > 1.0 - _GUARD:
                        exact = _exact_tau(x[i], y[i], t[i], gx[k], gy[k], c, we, wn)
                        b = int((exact - t0 + offset) / window_s)
                        bins[i] = b
                    b_lo = min(b_lo, b)
                    b_hi = max(b_hi, b)
                    pairs += 2 * hist[b]
                    hist[b] += 1
                top = 0
                arg = 0
                for b in range(b_lo, b_hi + 1):  # the first fullest window
                    if hist[b] > top:
                        top = hist[b]
                        arg = b
                    hist[b] = 0
                if rounds:
                    if pairs > best[k]:
                        best[k] = pairs
                elif top > best[k]:
                    best[k] = top
                    best_tau[k] = (t0 - offset) + (arg + 0.5) * window_s
    return best, best_tau


@njit(cache=True, error_model="numpy")
def consensus_kernel(x, y, t, gx, gy, gt, c, tolerance_s):
    """Per trial origin k (position gx, gy, time gt), the detections with |t - gt - d / c| <=
    `tolerance_s` at constant speed c, d = hypot(x - gx, y - gy): the reference's
    `(np.abs(t[None, :] - gt[:, None] - d / c) <= tolerance_s).sum(axis=1)`. The distance is
    taken fast (sqrt) and, within _GUARD_S of the tolerance, exactly (hypot), so the counts are
    the reference's exactly."""
    score = np.zeros(gx.size, dtype=np.int64)
    resid = np.empty(x.size)
    for k in range(gx.size):
        px = gx[k]
        py = gy[k]
        pt = gt[k]
        for i in range(x.size):
            dx = x[i] - px
            dy = y[i] - py
            resid[i] = abs(t[i] - pt - math.sqrt(dx * dx + dy * dy) / c)
        n = 0
        for i in range(x.size):
            r = resid[i]
            if abs(r - tolerance_s) < _GUARD_S:
                r = abs(t[i] - pt - math.hypot(x[i] - px, y[i] - py) / c)
            if r <= tolerance_s:
                n += 1
        score[k] = n
    return score


@njit(cache=True)
def _root(parent, i):
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


@njit(cache=True)
def component_labels(n, a, b):
    """Connected components of the undirected graph on nodes 0..n-1 with edges (a, b), by
    union-find; labelled 0, 1, ... in the order of each component's lowest node, as
    `scipy.sparse.csgraph.connected_components` labels them."""
    parent = np.arange(n)
    for e in range(a.size):
        ra = _root(parent, a[e])
        rb = _root(parent, b[e])
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    labels = np.empty(n, dtype=np.int32)
    label_of_root = np.full(n, -1, dtype=np.int32)
    count = 0
    for v in range(n):
        r = _root(parent, v)
        if label_of_root[r] < 0:
            label_of_root[r] = count
            count += 1
        labels[v] = label_of_root[r]
    return labels
