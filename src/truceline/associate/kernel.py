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


@njit(cache=True)
def _tau(x, y, t, gx, gy, c, we, wn, out):
    """Implied origin times of every detection at node (gx, gy): t - d / (c + w . u)."""
    for i in range(x.size):
        dx = x[i] - gx
        dy = y[i] - gy
        d = max(math.hypot(dx, dy), 1.0)
        out[i] = t[i] - d / (c + (we * dx + wn * dy) / d)


@njit(cache=True)
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
    tau = np.empty((min(step, g), n))  # the chunk's implied origin times, node by node
    bins = np.empty(n, dtype=np.int64)
    half = 0.5 * window_s
    for lo in range(0, g, step):
        hi = min(g, lo + step)
        t0 = np.inf
        t1 = -np.inf
        for k in range(lo, hi):
            row = tau[k - lo]
            _tau(x, y, t, gx[k], gy[k], c, we, wn, row)
            for i in range(n):
                t0 = min(t0, row[i])
                t1 = max(t1, row[i])
        hist = np.zeros(int((t1 - t0 + half) / window_s) + 2, dtype=np.int64)
        for k in range(lo, hi):
            row = tau[k - lo]
            for offset in (0.0, half):
                top = 0
                arg = 0
                pairs = 0
                for i in range(n):
                    b = int((row[i] - t0 + offset) / window_s)
                    bins[i] = b
                    v = hist[b]
                    pairs += 2 * v
                    v += 1
                    hist[b] = v
                    if v > top or (v == top and b < arg):
                        top = v
                        arg = b
                for i in range(n):
                    hist[bins[i]] = 0
                if rounds:
                    if pairs > best[k]:
                        best[k] = pairs
                elif top > best[k]:
                    best[k] = top
                    best_tau[k] = (t0 - offset) + (arg + 0.5) * window_s
    return best, best_tau
