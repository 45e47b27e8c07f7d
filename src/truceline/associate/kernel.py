"""Association's inner loops compiled with Numba.

`scan_kernel`: source scanning, histograms of implied origin times over grid nodes. The same
results as the NumPy reference in `truceline.associate.stack` (`_histograms`, with `scan` and
`scan_rounds` on top of it), node by node instead of as (nodes x detections) arrays: the NumPy
form builds and bins arrays of up to `_CHUNK_CELLS` cells several times over and was the largest
cost of associating salvos (docs/performance.md, "Acoustic events"). The chunks of nodes are
kept, because each chunk's earliest implied origin time anchors its windows, so the counts, the
chosen windows and their times are exactly those of the reference;
`tests/associate/test_stack.py` checks it. `consensus_kernel`: the consensus of the polar grid
of trial origins; `component_labels`: connected components of the link graph
(`tests/associate/test_kernel.py`). `linearised_kernel`: association hypotheses solved linearly
about an event's solution (`truceline.associate.ambiguity.linearised`,
`tests/associate/test_ambiguity.py`). `within_reach`: attaching's pre-filter of (sensor, event)
pairs by distance. `choose_many`: RANSAC's random subsets, the draws of
NumPy's `Generator.choice` made in one call (`tests/associate/test_kernel.py`).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numba.np.random.random_methods import buffered_bounded_lemire_uint32

from truceline.locate.kernel import _rows, _solve6, _time_row, locate_kernel

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
def _fast_tau(x, y, t, px, py, c, we, wn, row):
    """Implied origin times at node (px, py), fast (vectorised: no branch, no division check)."""
    for i in range(x.size):
        dx = x[i] - px
        dy = y[i] - py
        d = max(math.sqrt(dx * dx + dy * dy), 1.0)
        row[i] = t[i] - d * d / (c * d + (we * dx + wn * dy))


_PROBE = 8  # nodes between the probes of a chunk's earliest implied time


@njit(cache=True, error_model="numpy")
def _node_min(x, y, t, px, py, c, we, wn, row):
    """The earliest fast implied origin time at node (px, py)."""
    _fast_tau(x, y, t, px, py, c, we, wn, row)
    low = np.inf
    for i in range(x.size):
        low = min(low, row[i])
    return low


@njit(cache=True, error_model="numpy")
def _above(node_min, gx, gy, anchor, k, lipschitz, level):
    """Whether node k's earliest implied time is surely above `level`, from evaluated node
    `anchor`'s (-1: none) and the Lipschitz bound (1e-9 s for the fast arithmetic's error)."""
    if anchor < 0:
        return False
    dx = gx[k] - gx[anchor]
    dy = gy[k] - gy[anchor]
    return node_min[anchor] - lipschitz * math.sqrt(dx * dx + dy * dy) - 1e-9 > level


@njit(cache=True, error_model="numpy")
def scan_kernel(x, y, t, gx, gy, c, we, wn, window_s, chunk_cells, rounds):
    """Per node, over windows of `window_s` at offsets 0 and half a window from the chunk's
    earliest implied origin time: with `rounds` False, the fullest window's count and centre
    time (the first fullest, offset 0 first, as `stack.scan`); with `rounds` True, the larger
    over the two offsets of the sum of count * (count - 1) over windows (`stack.scan_rounds`).
    Returns (count or score, centre time) arrays over the nodes. The implied times are
    computed again for each pass rather than stored: cheaper than the memory traffic."""
    g = gx.size
    n = x.size
    best = np.zeros(g, dtype=np.int64)
    best_tau = np.zeros(g)
    step = max(1, chunk_cells // max(n, 1))
    row = np.empty(n)
    node_min = np.empty(g)
    bins = np.empty(n, dtype=np.int64)
    frac = np.empty(n)
    frac1 = np.empty(n)
    half = 0.5 * window_s
    inverse = 1.0 / window_s
    margin = _GUARD * window_s
    # Every implied time is below its arrival time (travel times are positive), so the latest
    # arrival bounds the histogram's span.
    t1 = -np.inf
    for i in range(n):
        t1 = max(t1, t[i])
    # The earliest implied time at a node, min_i (t_i - T_i(node)), moves by at most
    # `lipschitz` s per metre the node moves: |grad T| <= (c + 3|w|) / (c - |w|)^2 for
    # T = d^2 / (c d + w . dx). So a node whose bound from an evaluated node lies above the
    # chunk's earliest so far (plus the margin) cannot hold the chunk's earliest time and is
    # skipped; the earliest, and every node within the margin of it, are still evaluated.
    wind = math.sqrt(we * we + wn * wn)
    lipschitz = np.inf
    if c > wind:
        lipschitz = (c + 3.0 * wind) / ((c - wind) * (c - wind)) * (1.0 + 1e-6)
    for lo in range(0, g, step):
        hi = min(g, lo + step)
        fast0 = np.inf
        for k in range(lo, hi):
            node_min[k] = np.nan  # not evaluated
        for k in range(lo, hi, _PROBE):  # probes: a first estimate of the earliest
            node_min[k] = _node_min(x, y, t, gx[k], gy[k], c, we, wn, row)
            fast0 = min(fast0, node_min[k])
        anchor = -1
        for k in range(lo, hi):
            if not math.isnan(node_min[k]):
                anchor = k
                continue
            ahead = lo + ((k - lo) // _PROBE + 1) * _PROBE
            if _above(node_min, gx, gy, anchor, k, lipschitz, fast0 + margin) or (
                ahead < hi and _above(node_min, gx, gy, ahead, k, lipschitz, fast0 + margin)
            ):
                node_min[k] = np.inf  # above the earliest for sure
                continue
            node_min[k] = _node_min(x, y, t, gx[k], gy[k], c, we, wn, row)
            fast0 = min(fast0, node_min[k])
            anchor = k
        t0 = np.inf  # the exact earliest, among those the fast values cannot tell apart
        for k in range(lo, hi):
            if node_min[k] <= fast0 + margin:
                _fast_tau(x, y, t, gx[k], gy[k], c, we, wn, row)
                for i in range(n):
                    if row[i] <= fast0 + margin:
                        t0 = min(t0, _exact_tau(x[i], y[i], t[i], gx[k], gy[k], c, we, wn))
        # Half windows: h = b0 + b1, b0 and b1 the windows at offsets 0 and half (b1 is b0 or
        # b0 + 1), so window j at offset 0 holds half windows 2j and 2j + 1, and window j at
        # offset half holds 2j - 1 and 2j: one histogram serves both offsets.
        hist = np.zeros(2 * int((t1 - t0 + half) / window_s) + 8, dtype=np.int64)
        for k in range(lo, hi):
            _fast_tau(x, y, t, gx[k], gy[k], c, we, wn, row)
            for i in range(n):  # (vectorised: no branch)
                v = (row[i] - t0) * inverse
                b0 = int(v)
                w = (row[i] - t0 + half) * inverse
                b1 = int(w)
                bins[i] = b0 + b1
                frac[i] = abs(v - b0 - 0.5)  # 0.5 at a window's edge
                frac1[i] = abs(w - b1 - 0.5)
            h_lo = hist.size
            h_hi = 0
            for i in range(n):
                h = bins[i]
                if frac[i] > 0.5 - _GUARD or frac1[i] > 0.5 - _GUARD:  # near an edge: exactly
                    exact = _exact_tau(x[i], y[i], t[i], gx[k], gy[k], c, we, wn)
                    h = int((exact - t0) / window_s) + int((exact - t0 + half) / window_s)
                h_lo = min(h_lo, h)
                h_hi = max(h_hi, h)
                hist[h] += 1
            top0 = 0
            arg0 = 0
            top1 = 0
            arg1 = 0
            pairs0 = 0
            pairs1 = 0
            previous = 0  # half window h - 1 (none below 0)
            if h_lo > 0:
                previous = hist[h_lo - 1]
            for h in range(h_lo, h_hi + 2):
                here = hist[h]
                count = previous + here
                j = (h + 1) // 2
                if h % 2 == 1:  # window j - 1 at offset 0: half windows h - 1 and h
                    pairs0 += count * (count - 1)
                    if count > top0:
                        top0 = count
                        arg0 = j - 1
                else:  # window j at offset half: half windows h - 1 and h
                    pairs1 += count * (count - 1)
                    if count > top1:
                        top1 = count
                        arg1 = j
                previous = here
            for h in range(h_lo, h_hi + 1):
                hist[h] = 0
            if rounds:
                best[k] = max(pairs0, pairs1)
            else:
                best[k] = top0
                best_tau[k] = t0 + (arg0 + 0.5) * window_s
                if top1 > top0:
                    best[k] = top1
                    best_tau[k] = (t0 - half) + (arg1 + 0.5) * window_s
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


@njit(cache=True)
def linearised_kernel(jac, r, n_times, pos, change, az_row, huber_k, max_it, tol, theta0, sx, sy,
                      t, sig, jitter_s_per_m):  # fmt: skip
    """Association hypotheses solved linearly about a solution (`ambiguity.linearised`, whose
    NumPy form is the reference): rows `jac` (m x 6) and residuals `r` (m) of the taken set,
    the first `n_times` of them the arrival times. Hypothesis h changes time row `pos[h]` by
    `change[h]` (normalised), or, where `change[h]` is NaN, leaves it and azimuth row
    `az_row[h]` (-1: none) out. Returns the shifts of (x, y, tau), chi^2 at the shifted
    solution to first order and by the model (its time rows recomputed there, from the
    arrivals' positions `sx`, `sy` (m), times `t` and timing sigmas `sig` (s) at `theta0` plus
    the step), the (x, y, tau) block of the unweighted (J^T J)^-1 and whether solvable."""
    m, n_h = r.size, pos.size
    full = jac.T @ jac
    shifts = np.zeros((n_h, 3))
    chi2 = np.full(n_h, np.inf)
    chi2_model = np.full(n_h, np.inf)
    row = np.empty(6)
    unscaled = np.zeros((n_h, 3, 3))
    ok = np.zeros(n_h, dtype=np.bool_)
    res = np.empty(m)
    keep = np.empty(m)
    eye = np.eye(6)
    for h in range(n_h):
        res[:] = r
        keep[:] = 1.0
        dropped = math.isnan(change[h])
        if dropped:
            keep[pos[h]] = 0.0
            if az_row[h] >= 0:
                keep[az_row[h]] = 0.0
            if n_times - 1 < 4:
                continue
        else:
            res[pos[h]] += change[h]
        normal = full.copy()
        if dropped:
            for q in range(m):
                if keep[q] == 0.0:
                    for i in range(6):
                        for k in range(6):
                            normal[i, k] -= jac[q, i] * jac[q, k]
        good = True
        for i in range(3):
            col, solved = _solve6(normal, eye[i])
            good &= solved
            for k in range(3):
                unscaled[h, k, i] = col[k]
        step = np.zeros(6)
        for _ in range(max_it):
            a = np.zeros((6, 6))
            b = np.zeros(6)
            for q in range(m):
                if keep[q] == 0.0:
                    continue
                lin = res[q]
                for i in range(6):
                    lin += jac[q, i] * step[i]
                w = 1.0 if abs(lin) <= huber_k else huber_k / max(abs(lin), 1e-12)
                for i in range(6):
                    wi = w * jac[q, i]
                    b[i] -= wi * res[q]
                    for k in range(6):
                        a[i, k] += wi * jac[q, k]
            new, solved = _solve6(a, b)
            good &= solved
            moved = math.hypot(new[0] - step[0], new[1] - step[1])
            step = new
            if moved < tol or not good:
                break
        if not good:
            continue
        total, model = 0.0, 0.0
        th = theta0 + step
        for q in range(m):
            if keep[q] != 0.0:
                lin = res[q]
                for i in range(6):
                    lin += jac[q, i] * step[i]
                total += lin * lin
                if q < n_times:
                    dt = t[q] - th[2]
                    if q == pos[h]:
                        dt -= change[h] / jac[q, 2]  # in seconds: sigma_q = -1 / (d r_q / d tau)
                    rq, _ = _time_row(sx[q] - th[0], sy[q] - th[1], dt, sig[q], th[3], th[4],
                                      th[5], jitter_s_per_m, row)  # fmt: skip
                    model += rq * rq
                else:
                    model += lin * lin
        ok[h] = True
        chi2[h] = total
        chi2_model[h] = model
        for i in range(3):
            shifts[h, i] = step[i]
    return shifts, chi2, chi2_model, unscaled, ok


@njit(cache=True)
def _bounded(bitgen, high):
    """NumPy's `random_bounded_uint64(bitgen, 0, high, 0, 0)` for 0 <= high < 2**32 - 1: Lemire's
    bounded draw on the generator's 32-bit stream, none at all for high = 0."""
    if high == 0:
        return 0
    return np.int64(buffered_bounded_lemire_uint32(bitgen, high))


@njit(cache=True)
def _choose(bitgen, a, k, out):
    """`Generator.choice(a, size=k, replace=False)` into `out`, the same draws from the same
    stream: Floyd's algorithm with NumPy's open-addressing set, then NumPy's shuffle of the k
    (`_shuffle_int(k, 1)`), as numpy/random/_generator.pyx does for len(a) <= 10,000."""
    pop = a.size
    idx = np.empty(k, dtype=np.int64)
    mask = np.uint64(np.uint64(1.2 * k))  # NumPy's _gen_mask: all ones up to the top bit
    for shift in (1, 2, 4, 8, 16, 32):
        mask |= mask >> np.uint64(shift)
    empty = np.uint64(0xFFFFFFFFFFFFFFFF)
    hash_set = np.full(int(mask) + 1, empty, dtype=np.uint64)
    for j in range(pop - k, pop):
        val = np.uint64(_bounded(bitgen, j))
        loc = val & mask
        while hash_set[loc] != empty and hash_set[loc] != val:
            loc = (loc + np.uint64(1)) & mask
        if hash_set[loc] == empty:
            hash_set[loc] = val
            idx[j - pop + k] = np.int64(val)
        else:  # j itself instead
            loc = np.uint64(j) & mask
            while hash_set[loc] != empty:
                loc = (loc + np.uint64(1)) & mask
            hash_set[loc] = np.uint64(j)
            idx[j - pop + k] = j
    for i in range(k - 1, 0, -1):
        j = _bounded(bitgen, i)
        idx[j], idx[i] = idx[i], idx[j]
    for i in range(k):
        out[i] = a[idx[i]]


@njit(cache=True)
def choose_many(rng, pools, starts, k):
    """For each pool q (`pools[starts[q]:starts[q + 1]]`, at least k and at most 10,000
    elements), `rng.choice(pool, size=k, replace=False)`, one after another on `rng`'s
    stream: exactly the numbers NumPy's calls give (tests/associate/test_kernel.py), without
    their ~10 us of overhead each. Returns (n_pools, k)."""
    bitgen = rng.bit_generator
    out = np.empty((starts.size - 1, k), dtype=pools.dtype)
    for q in range(starts.size - 1):
        _choose(bitgen, pools[starts[q] : starts[q + 1]], k, out[q])
    return out


@njit(cache=True)
def hypothesis_consensus(x, y, t, hx, hy, ht, c, we, wn, inlier_s, tight_s):
    """Per trial origin k (hx, hy, ht), the detections with |t - ht - f| within `inlier_s`
    and within `tight_s`, f the travel time with the wind as `SoundSpeed.travel_time_s`
    computes it, d / (c + (w . dx) / d), d = max(hypot(dx, dy), 1): the counts of the NumPy
    expressions `(resid <= tol).sum(axis=1)` of `AcousticAssociator._try_hypotheses`, the
    same numbers (the same operations; Numba's hypot is NumPy's), without the (origins x
    detections) arrays."""
    score = np.zeros(hx.size, dtype=np.int64)
    tight = np.zeros(hx.size, dtype=np.int64)
    for k in range(hx.size):
        for i in range(x.size):
            dx = x[i] - hx[k]
            dy = y[i] - hy[k]
            d = max(math.hypot(dx, dy), 1.0)
            r = abs(t[i] - ht[k] - d / (c + (we * dx + wn * dy) / d))
            if r <= inlier_s:
                score[k] += 1
            if r <= tight_s:
                tight[k] += 1
    return score, tight


@njit(cache=True)
def within_reach(sensor_ecef, event_ecef, pair_sensor, pair_event, reach_m):
    """Per (sensor, event) pair, whether the event's origin `event_ecef[pair_event]` lies within
    `reach_m` of the sensor `sensor_ecef[pair_sensor]` (ECEF, m): the pairs attaching keeps
    before its test (`AcousticAssociator._within_reach`), each in a few nanoseconds."""
    keep = np.empty(pair_sensor.size, dtype=np.bool_)
    reach2 = reach_m * reach_m
    for p in range(pair_sensor.size):
        s = pair_sensor[p]
        e = pair_event[p]
        dx = sensor_ecef[s, 0] - event_ecef[e, 0]
        dy = sensor_ecef[s, 1] - event_ecef[e, 1]
        dz = sensor_ecef[s, 2] - event_ecef[e, 2]
        keep[p] = dx * dx + dy * dy + dz * dz <= reach2
    return keep


# -- the ambiguity mixture's per-event steps (`ambiguity.mixture`) ---------------------------------
# Each does, arrival by arrival, the arithmetic of the NumPy expressions it replaces, in their
# order (no fused multiply-add: Numba does not contract without fastmath), so the same numbers:
# `tests/associate/test_ambiguity.py` compares with the reference on seeded events. What NumPy
# computes with its own SIMD functions (exp, log), LAPACK (inverses, determinants) or BLAS
# (products of matrices) stays in NumPy, between these steps.


@njit(cache=True, inline="always")
def _path(dx, dy, c, we, wn, sigma_s, jitter_s_per_m):
    """Over the horizontal offset (dx, dy) (m, source to sensor): the distance d (m, at least
    1), the travel time d / (c + w . u) (s) and the arrival's sigma sqrt(sigma_s^2 +
    (jitter d)^2) (s), in `SoundSpeed.travel_time_s`'s and the associator's arithmetic."""
    d = max(math.hypot(dx, dy), 1.0)
    travel = d / (c + (we * dx + wn * dy) / d)
    jd = jitter_s_per_m * d
    return d, travel, math.sqrt(sigma_s * sigma_s + jd * jd)


@njit(cache=True)
def ambiguity_gates(x, y, t, sig, bx, by, btau, c, we, wn, jitter_s_per_m, sigma_pred2,
                    attach_sigma, sensors, keys, key_stride, w_short, w_long):  # fmt: skip
    """At the taken set's solution (bx, by, btau; speed c, wind we, wn), per arrival, rows of
    `fw`: the distance d (m, at least 1, as `SoundSpeed.travel_time_s`), its sigma with the
    propagation term, the predicted arrival, the normalised residual, and the rate of other
    detections near the predicted arrival (the larger over windows of +- `w_short` and +-
    `w_long` s); rows of `iw`: the bounds of its gate (`attach_sigma` sigma, the origin's
    uncertainty `sigma_pred2` s^2 included) in the sorted (sensor, time) `keys`. Also the
    radius within which `_detection_probability` looks for sensors, max(d + max(d / 4, 1 km))."""
    n = x.size
    fw = np.empty((5, n))
    iw = np.empty((2, n), dtype=np.int64)
    radius = -np.inf
    for j in range(n):
        d, travel, s = _path(x[j] - bx, y[j] - by, c, we, wn, sig[j], jitter_s_per_m)
        p = btau + travel
        gate = attach_sigma * math.sqrt(s * s + sigma_pred2)
        at = np.float64(sensors[j]) * key_stride + p
        iw[0, j] = _left(keys, at - gate)
        iw[1, j] = _right(keys, at + gate)
        n_short = _right(keys, at + w_short) - _left(keys, at - w_short)
        n_long = _right(keys, at + w_long) - _left(keys, at - w_long)
        fw[0, j] = d
        fw[1, j] = s
        fw[2, j] = p
        fw[3, j] = (t[j] - p) / s
        fw[4, j] = max(max((n_short - 1) / (2 * w_short), (n_long - 1) / (2 * w_long)), 0.0)
        radius = max(radius, d + max(0.25 * d, 1000.0))
    return fw, iw, radius


@njit(cache=True)
def _left(a, v):
    """np.searchsorted(a, v) (side left) for sorted `a` and v not NaN."""
    lo, hi = 0, a.size
    while lo < hi:
        mid = (lo + hi) >> 1
        if a[mid] < v:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True)
def _right(a, v):
    """np.searchsorted(a, v, side="right") for sorted `a` and v not NaN."""
    lo, hi = 0, a.size
    while lo < hi:
        mid = (lo + hi) >> 1
        if a[mid] <= v:
            lo = mid + 1
        else:
            hi = mid
    return lo


_BALL_MARGIN = 1e-12
"""Relative margin on the squared radius within which `sensors_within` does not decide (the
KD-tree's own arithmetic is within ~1e-15 of it): the caller asks the tree."""


@njit(cache=True)
def _ball(points, lo, side, dims, starts, origin, radius):
    """The rows of `points` (binned by `AcousticNetwork.cells`) within `radius` of `origin`,
    looked up in the cubes around it, in the cubes' order, with their squared distances
    (summed in np.linalg.norm's order); and whether one lies so near the sphere (within a
    relative `_BALL_MARGIN` of radius^2) that only the k-d tree can say."""
    r2 = radius * radius
    inside = r2 * (1.0 - _BALL_MARGIN)
    outside = r2 * (1.0 + _BALL_MARGIN)
    reach = radius * (1.0 + 1e-9) + 1.0  # beyond any rounding of the sensors' cubes
    first = np.empty(3, dtype=np.int64)
    last = np.empty(3, dtype=np.int64)
    for a in range(3):
        first[a] = max(math.floor((origin[a] - reach - lo[a]) / side), 0)
        last[a] = min(math.floor((origin[a] + reach - lo[a]) / side), dims[a] - 1)
    rows = np.empty(points.shape[0], dtype=np.int64)
    sq = np.empty(points.shape[0])
    k = 0
    unsure = False
    for i in range(first[0], last[0] + 1):
        for j in range(first[1], last[1] + 1):
            base = (i * dims[1] + j) * dims[2]
            for q in range(starts[base + first[2]], starts[base + last[2] + 1]):
                dx = points[q, 0] - origin[0]
                dy = points[q, 1] - origin[1]
                dz = points[q, 2] - origin[2]
                d2 = (dx * dx + dy * dy) + dz * dz
                if d2 <= inside:
                    rows[k] = q
                    sq[k] = d2
                    k += 1
                elif d2 < outside:
                    unsure = True
    return rows[:k], sq[:k], unsure


@njit(cache=True)
def sensors_within(points, lo, side, dims, starts, origin, radius):
    """The distances (m, as np.linalg.norm computes them) from ECEF point `origin` to the
    network's sensors within `radius` (`points`, binned by `AcousticNetwork.cells`): those
    `cKDTree.query_ball_point(origin, radius)` returns, looked up in the cubes around the
    origin. Also whether a sensor lies so near the sphere (squared distance within a relative
    1e-12 of radius^2) that only the tree can say: then the caller asks it."""
    _, sq, unsure = _ball(points, lo, side, dims, starts, origin, radius)
    return np.sqrt(sq), unsure


@njit(cache=True)
def distances(ecef, near, origin):
    """np.linalg.norm(ecef[near] - origin, axis=1): the same numbers."""
    out = np.empty(near.size)
    for i in range(near.size):
        q = near[i]
        dx = ecef[q, 0] - origin[0]
        dy = ecef[q, 1] - origin[1]
        dz = ecef[q, 2] - origin[2]
        out[i] = math.sqrt((dx * dx + dy * dy) + dz * dz)
    return out


@njit(cache=True)
def ambiguity_candidates(dist, fw, iw, order, t_all, sqrt_2pi):
    """P_j (`ambiguity._detection_probability`, `dist` the distances of the network's sensors
    within its radius of the origin, `sensors_within`), the prior of leaving each arrival out,
    and the candidates with their exponents: per arrival j (`fw`, `iw` from `ambiguity_gates`),
    each detection in its gate (`order[lo:hi]`) as (j, rank within the gate, detection) in the
    columns of `swaps` and -(r_alt^2 - r_j^2) / 2 in `values`, and min(r_j^2, 50) / 2 for
    leaving it out. `values` is [prior of leaving out (n) | its exponents (n) | the swaps'
    (as many as `swaps` has columns)]; the exponentials are NumPy's. Sorts `dist`."""
    n = fw.shape[1]
    d, sigma, predicted, r, rate = fw[0], fw[1], fw[2], fw[3], fw[4]
    dist.sort()
    total = 0
    for j in range(n):
        total += iw[1, j] - iw[0, j]
    values = np.empty(2 * n + total)
    for j in range(n):
        half = max(0.25 * d[j], 1000.0)
        lo = d[j] - half
        hi = d[j] + half
        count = _right(dist, hi) - _left(dist, lo)
        heard = 0
        for i in range(n):
            if d[i] >= lo and d[i] <= hi:
                heard += 1
        count = max(count, heard)
        p_heard = (heard + 1.0) / (count + 2.0)
        values[j] = rate[j] * (1 - p_heard) / p_heard * sqrt_2pi * sigma[j]
        values[n + j] = min(r[j] * r[j], 50.0) / 2
    swaps = np.empty((3, total), dtype=np.int64)
    h = 0
    for j in range(n):
        for w in range(iw[1, j] - iw[0, j]):
            g = order[iw[0, j] + w]
            r_alt = (t_all[g] - predicted[j]) / sigma[j]
            swaps[0, h] = j
            swaps[1, h] = w
            swaps[2, h] = g
            values[2 * n + h] = -(r_alt * r_alt - r[j] * r[j]) / 2
            h += 1
    return values, swaps


@njit(cache=True)
def ambiguity_hypotheses(det, approx_swap, approx_drop, drop_prior, swaps, iw, floor,
                         max_hypotheses, t_all, jac, r, az, az_sigma, huber_k, max_it, tol,
                         theta0, sx, sy, t, sig, jitter_s_per_m, linear_tolerance,
                         unscaled_0):  # fmt: skip
    """The hypotheses with a first-order weight of at least `floor`, likeliest first (ties by
    arrival, then the gate's detections in time order, then leaving it out), the first
    `max_hypotheses`: their arrival `pos`, and rows of `values`: the new time (NaN: left
    out), chi^2 by `linearised_kernel` from the taken set's rows (`jac`, `r`) at `theta0`, and
    the prior max(lambda_j (1 - P_j) / P_j sqrt(2 pi) sigma_j (`drop_prior`) or 1 for a swap,
    1e-300); the shifts; the unscaled covariances (identity where unsolvable) with the taken
    set's `unscaled_0` after them; and rows of `flags`: whether solvable, and whether the
    linearisation failed the check (relocate it), as `ambiguity.mixture` does."""
    n = det.size
    j_swap, within, g_swap = swaps[0], swaps[1], swaps[2]
    n_c = 0
    for h in range(j_swap.size):
        if g_swap[h] != det[j_swap[h]] and approx_swap[h] >= floor:
            n_c += 1
    for j in range(n):
        if approx_drop[j] >= floor:
            n_c += 1
    pos = np.empty(n_c, dtype=np.int64)
    g = np.empty(n_c, dtype=np.int64)
    approx = np.empty(n_c)
    rank = np.empty(n_c, dtype=np.int64)
    c = 0
    for h in range(j_swap.size):
        if g_swap[h] != det[j_swap[h]] and approx_swap[h] >= floor:
            pos[c], g[c], approx[c], rank[c] = j_swap[h], g_swap[h], approx_swap[h], within[h]
            c += 1
    for j in range(n):
        if approx_drop[j] >= floor:
            pos[c], g[c], approx[c], rank[c] = j, -1, approx_drop[j], iw[1, j] - iw[0, j]
            c += 1
    # np.lexsort((rank, pos)), then a stable argsort of -approx: the order of (-approx, pos,
    # rank), a total order ((pos, rank) is unique); by insertion, over a few dozen candidates
    idx = np.arange(n_c)
    for a in range(1, n_c):
        v = idx[a]
        b = a - 1
        while b >= 0:
            u = idx[b]
            if -approx[u] < -approx[v] or (
                -approx[u] == -approx[v]
                and (pos[u] < pos[v] or (pos[u] == pos[v] and rank[u] < rank[v]))
            ):
                break
            idx[b + 1] = u
            b -= 1
        idx[b + 1] = v
    m = min(n_c, max_hypotheses)
    pos_h = np.empty(m, dtype=np.int64)
    values = np.empty((3, m))
    change = np.empty(m)
    az_row = np.full(m, -1, dtype=np.int64)
    # the azimuth rows follow the time rows, in the arrivals' order
    row_of_az = np.full(n, -1, dtype=np.int64)
    k = n
    for j in range(n):
        if math.isfinite(az[j]) and math.isfinite(az_sigma[j]):
            row_of_az[j] = k
            k += 1
    for h in range(m):
        q = idx[h]
        p = pos[q]
        pos_h[h] = p
        if g[q] >= 0:
            values[0, h] = t_all[g[q]]
            sigma_t = -1.0 / jac[p, 2]
            change[h] = (values[0, h] - t[p]) / sigma_t
            values[2, h] = 1.0
        else:
            values[0, h] = np.nan
            change[h] = np.nan
            az_row[h] = row_of_az[p]
            values[2, h] = max(drop_prior[p], 1e-300)
    shifts, chi2, chi2_model, unscaled, ok = linearised_kernel(
        jac, r, n, pos_h, change, az_row, huber_k, max_it, tol, theta0, sx, sy, t, sig,
        jitter_s_per_m,
    )  # fmt: skip
    stack = np.empty((m + 1, 3, 3))
    flags = np.zeros((2, m), dtype=np.bool_)
    for h in range(m):
        values[1, h] = chi2[h]
        flags[0, h] = ok[h]
        for i in range(3):
            for q in range(3):
                stack[h, i, q] = unscaled[h, i, q] if ok[h] else (1.0 if i == q else 0.0)
        if ok[h] and abs(chi2_model[h] - chi2[h]) > linear_tolerance:
            flags[1, h] = True
    for i in range(3):
        for q in range(3):
            stack[m, i, q] = unscaled_0[i, q]
    return pos_h, values, shifts, stack, flags


@njit(cache=True)
def ambiguity_log_weights(chi2, chi2_0, logdet, log_prior):
    """min(log w_h, 50) = min(-(chi2_h - chi2_0) / 2 + (logdet_h - logdet_0) / 2 + log prior_h,
    50) per hypothesis (`ambiguity._weighted`); `logdet` holds the taken set's logdet_0 last.
    NaN stays NaN, as np.minimum keeps it."""
    m = chi2.size
    logdet_0 = logdet[m]
    out = np.empty(m)
    for h in range(m):
        v = -(chi2[h] - chi2_0) / 2 + (logdet[h] - logdet_0) / 2 + log_prior[h]
        out[h] = v if (v != v or v <= 50.0) else 50.0
    return out


@njit(cache=True)
def ambiguity_terms(w, ok, min_weight, pos, t_new, shifts, unscaled, n):
    """The hypotheses kept (solvable, weight w at least `min_weight`), their weights
    normalised per arrival with the taken detection's 1 (`ambiguity._weighted`): their number,
    p where the arrival is left out (else 0), the per-arrival sums of w in the order
    np.bincount adds them, the kept shifts (h, 3), the same times p (whose transpose is the
    array `shifts.T * p` makes, F-ordered), and the kept unscaled covariances (h, 9)."""
    h_n = 0
    for h in range(w.size):
        if ok[h] and w[h] >= min_weight:
            h_n += 1
    total = np.zeros(n)
    p = np.empty(h_n)
    p_drop = np.empty(h_n)
    kept_shifts = np.empty((h_n, 3))
    scaled = np.empty((h_n, 3))
    kept_unscaled = np.empty((h_n, 9))
    kept = np.empty(h_n, dtype=np.int64)
    k = 0
    for h in range(w.size):
        if ok[h] and w[h] >= min_weight:
            kept[k] = h
            total[pos[h]] += w[h]
            k += 1
    for k in range(h_n):
        h = kept[k]
        p[k] = w[h] / (1.0 + total[pos[h]])
        p_drop[k] = p[k] if math.isnan(t_new[h]) else 0.0
        for i in range(3):
            kept_shifts[k, i] = shifts[h, i]
            scaled[k, i] = shifts[h, i] * p[k]
            for q in range(3):
                kept_unscaled[k, 3 * i + q] = unscaled[h, i, q]
    return h_n, p_drop, total, kept_shifts, scaled, kept_unscaled


@njit(cache=True)
def ambiguity_setup(x, y, t, sig, bx, by, btau, c, we, wn, jitter_s_per_m, sigma_pred2,
                    attach_sigma, sensors, keys, key_stride, w_short, w_long, points, lo, side,
                    dims, starts, origin, order, t_all, sqrt_2pi):  # fmt: skip
    """`ambiguity_gates`, `sensors_within` about the origin (ECEF `origin`) and
    `ambiguity_candidates` in one call: (fw, iw, radius, values, swaps, unsure). Where
    `unsure`, `values` and `swaps` are empty: the caller asks the KD-tree and makes them."""
    fw, iw, radius = ambiguity_gates(
        x, y, t, sig, bx, by, btau, c, we, wn, jitter_s_per_m, sigma_pred2, attach_sigma,
        sensors, keys, key_stride, w_short, w_long,
    )  # fmt: skip
    dist, unsure = sensors_within(points, lo, side, dims, starts, origin, radius)
    if unsure:
        return fw, iw, radius, np.empty(0), np.empty((3, 0), dtype=np.int64), True
    values, swaps = ambiguity_candidates(dist, fw, iw, order, t_all, sqrt_2pi)
    return fw, iw, radius, values, swaps, False


@njit(cache=True)
def ambiguity_covariance(cov, moment, spread, p_drop_sum, unscaled_0, scale2):
    """The mixture's covariance from its parts (`ambiguity._weighted`): cov + moment + (spread
    - p_drop_sum unscaled_0) scale2, symmetrised as (out + out^T) / 2."""
    out = np.empty((3, 3))
    for i in range(3):
        for k in range(3):
            widen = (spread[i, k] - p_drop_sum * unscaled_0[i, k]) * scale2
            out[i, k] = cov[i, k] + moment[i, k] + widen
    sym = np.empty((3, 3))
    for i in range(3):
        for k in range(3):
            sym[i, k] = (out[i, k] + out[k, i]) / 2
    return sym


# -- a trial origin's solve and gathering (`AcousticAssociator._solve_new`) ----------------------

TRIAL_OK, TRIAL_NONE, TRIAL_UNSURE = 0, 1, 2


@njit(cache=True)
def _one_per_sensor(cand, score, sensor_of):
    """`acoustic._one_per_sensor`: of the positions `cand` (increasing), the one with the lowest
    score per sensor (`sensor_of[cand]`), the first on ties (lexsort's stable order), sorted."""
    m = cand.size
    sensors = np.empty(m, dtype=np.int64)
    for i in range(m):
        sensors[i] = sensor_of[cand[i]]
    order = np.argsort(sensors, kind="mergesort")
    out = np.empty(m, dtype=np.int64)
    k = 0
    i = 0
    while i < m:
        best = order[i]
        j = i + 1
        while j < m and sensors[order[j]] == sensors[order[i]]:
            if score[order[j]] < score[best]:
                best = order[j]
            j += 1
        out[k] = cand[best]
        k += 1
        i = j
    return np.sort(out[:k])


@njit(cache=True)
def _well_posed(theta, sx, sy, t, sig, az, az_sig, keep, prior, jitter_s_per_m):
    """Whether the normal matrix J^T J of the solution's rows (`solver._residuals` at theta, the
    kept arrivals) is surely invertible: LU with partial pivoting of it scaled to a unit
    diagonal, every pivot above 1e-9. NumPy's `inv`, which `solver.locate` calls, fails only on
    an exactly zero pivot; a nearly singular matrix is left to that exact path (the caller's
    NumPy reference)."""
    n = sx.size
    r = np.empty(2 * n + 3)
    jac = np.empty((2 * n + 3, 6))
    rows = _rows(theta, sx, sy, t, sig, az, az_sig, keep, prior, jitter_s_per_m, r, jac)
    a = np.zeros((6, 6))
    for i in range(rows):
        for p in range(6):
            for q in range(6):
                a[p, q] += jac[i, p] * jac[i, q]
    for p in range(6):
        if not a[p, p] > 0.0 or not math.isfinite(a[p, p]):
            return False
    scale = np.empty(6)
    for p in range(6):
        scale[p] = 1.0 / math.sqrt(a[p, p])
    for p in range(6):
        for q in range(6):
            a[p, q] *= scale[p] * scale[q]
    for k in range(6):
        p = k
        best = abs(a[k, k])
        for i in range(k + 1, 6):
            if abs(a[i, k]) > best:
                best = abs(a[i, k])
                p = i
        if not best > 1e-9:
            return False
        if p != k:
            for j in range(6):
                a[k, j], a[p, j] = a[p, j], a[k, j]
        for i in range(k + 1, 6):
            f = a[i, k] / a[k, k]
            for j in range(k, 6):
                a[i, j] -= f * a[k, j]
    return True


@njit(cache=True)
def _locate_subset(x, y, t, sig, az, az_sig, chosen, start, prior, jitter_s_per_m, huber_k,
                   max_it, tol, outlier_sigma, max_outliers):  # fmt: skip
    """`solver.locate` on the arrivals `chosen` (positions, increasing) as far as association
    reads it: (status, theta, keep, iterations, converged); status TRIAL_OK, TRIAL_NONE where
    `locate` gives None, TRIAL_UNSURE where only NumPy's inverse could tell."""
    sx, sy, st, ss = x[chosen], y[chosen], t[chosen], sig[chosen]
    sa, sas = az[chosen], az_sig[chosen]
    status, theta, keep, iterations, converged = locate_kernel(
        sx, sy, st, ss, sa, sas, start, prior, jitter_s_per_m, huber_k, max_it, tol,
        outlier_sigma, max_outliers,
    )  # fmt: skip
    if status != 0:
        return TRIAL_NONE, theta, keep, iterations, converged
    if not _well_posed(theta, sx, sy, st, ss, sa, sas, keep, prior, jitter_s_per_m):
        return TRIAL_UNSURE, theta, keep, iterations, converged
    return TRIAL_OK, theta, keep, iterations, converged


@njit(cache=True)
def trial_solve(x, y, t, sig, az, az_sig, sensor_of, idx, origin, use_tight, speed, prior,
                jitter_s_per_m, huber_k, max_it, tol, outlier_sigma, max_outliers, tight_s,
                inlier_s, attach_sigma, max_source_m, min_sensors):  # fmt: skip
    """One trial origin of `AcousticAssociator._try_hypotheses` up to its checks: the
    detections of `idx` (positions in the group's arrivals x, y, t, sig, az, az_sig;
    `sensor_of` their sensors) within the tight (`use_tight`) or the loose tolerance of the
    origin's (x, y, tau) predicted arrivals at the group's `speed` (c, w_e, w_n), one per
    sensor; located from the origin, then `_solve_new`'s gathering: every detection within
    `attach_sigma` of the solution's predictions and hearing distance, one per sensor, located
    again, at most four times, until the set stops changing. The arithmetic of the NumPy code,
    in its order, so the same numbers. Returns (status, theta, keep, iterations, converged,
    chosen): TRIAL_NONE where the first solve fails (`_solve_new` gives None), TRIAL_UNSURE
    where a solve's covariance might be singular (then the caller's NumPy path decides)."""
    c, we, wn = speed[0], speed[1], speed[2]
    m = idx.size
    resid = np.empty(m)
    near = np.zeros(m, dtype=np.bool_)
    tolerance = tight_s if use_tight else inlier_s
    n_near = 0
    for i in range(m):
        j = idx[i]
        dx = x[j] - origin[0]
        dy = y[j] - origin[1]
        d = max(math.hypot(dx, dy), 1.0)
        resid[i] = abs(t[j] - origin[2] - d / (c + (we * dx + wn * dy) / d))
        if resid[i] <= tolerance:
            near[i] = True
            n_near += 1
    cand, score = _flagged(idx, resid, near, n_near)
    chosen = _one_per_sensor(cand, score, sensor_of)
    start = np.array([origin[0], origin[1], origin[2], we, wn, c])
    status, theta, keep, iterations, converged = _locate_subset(
        x, y, t, sig, az, az_sig, chosen, start, prior, jitter_s_per_m, huber_k, max_it, tol,
        outlier_sigma, max_outliers,
    )  # fmt: skip
    if status != TRIAL_OK:
        return status, theta, keep, iterations, converged, chosen
    z = np.empty(m)
    for _ in range(4):
        sx, sy, tau = theta[0], theta[1], theta[2]
        swe, swn, sc = theta[3], theta[4], theta[5]
        n_near = 0
        for i in range(m):
            j = idx[i]
            d, travel, sigma = _path(x[j] - sx, y[j] - sy, sc, swe, swn, sig[j], jitter_s_per_m)
            z[i] = abs(t[j] - tau - travel) / sigma
            near[i] = (z[i] <= attach_sigma) and (d <= max_source_m)
            n_near += near[i]
        cand, score = _flagged(idx, z, near, n_near)
        gathered = _one_per_sensor(cand, score, sensor_of)
        if gathered.size < min_sensors:
            break
        same = gathered.size == keep.sum()
        if same:
            k = 0
            for i in range(chosen.size):
                if keep[i]:
                    if chosen[i] != gathered[k]:
                        same = False
                        break
                    k += 1
        if same:
            break
        start = np.array([sx, sy, tau, we, wn, c])
        status2, theta2, keep2, iterations2, converged2 = _locate_subset(
            x, y, t, sig, az, az_sig, gathered, start, prior, jitter_s_per_m, huber_k, max_it,
            tol, outlier_sigma, max_outliers,
        )  # fmt: skip
        if status2 == TRIAL_UNSURE:
            return TRIAL_UNSURE, theta, keep, iterations, converged, chosen
        if status2 != TRIAL_OK:
            break
        theta, keep, chosen = theta2, keep2, gathered
        iterations, converged = iterations2, converged2
    return TRIAL_OK, theta, keep, iterations, converged, chosen


@njit(cache=True)
def _flagged(idx, score, near, n_near):
    """The `n_near` entries of `idx` and `score` where `near` is set, in order."""
    cand = np.empty(n_near, dtype=np.int64)
    kept = np.empty(n_near)
    k = 0
    for i in range(idx.size):
        if near[i]:
            cand[k] = idx[i]
            kept[k] = score[i]
            k += 1
    return cand, kept


@njit(cache=True)
def line_ratio(x, y):
    """The ratio of the smaller to the larger singular value of the points (x, y) less their
    mean, as `np.linalg.svd` gives them to rounding: from the 2 x 2 scatter's eigenvalues in
    closed form. `AcousticAssociator._resolve_mirror` decides by it only where it is clearly on
    one side of its threshold (-1 for fewer than two points)."""
    n = x.size
    if n < 2:
        return -1.0
    mx = 0.0
    my = 0.0
    for i in range(n):
        mx += x[i]
        my += y[i]
    mx /= n
    my /= n
    a = 0.0
    b = 0.0
    c = 0.0
    for i in range(n):
        dx = x[i] - mx
        dy = y[i] - my
        a += dx * dx
        b += dx * dy
        c += dy * dy
    big = 0.5 * (a + c) + math.sqrt(0.25 * (a - c) * (a - c) + b * b)
    if not big > 0.0:
        return -1.0
    small = max((a * c - b * b) / big, 0.0)
    return math.sqrt(small / big)


@njit(cache=True)
def seed_pools(x, y, t, seeds, min_speed_mps, link_tolerance_s, size):
    """RANSAC's seed pools (`AcousticAssociator._hypotheses`): for each seed (in order), the
    detections whose time difference from it sound could make (|t_i - t_s| <= d / min_speed +
    tolerance, d = hypot > 1 m), if three or more, the `size` nearest in time. Returns the seeds
    kept, their pools concatenated, the pools' starts, and whether the NumPy form could order
    them otherwise: a tie of |t_i - t_s| in a kept seed's row (its `argsort` is not stable, so
    the caller then takes NumPy's order)."""
    m = x.size
    kept = np.empty(seeds.size, dtype=np.int64)
    pools = np.empty(seeds.size * size, dtype=np.int64)
    starts = np.zeros(seeds.size + 1, dtype=np.int64)
    others = np.empty(m, dtype=np.int64)
    key = np.empty(m)
    n_kept = 0
    n_pool = 0
    ties = False
    for s in seeds:
        k = 0
        for i in range(m):
            dist = math.hypot(x[s] - x[i], y[s] - y[i])
            if abs(t[s] - t[i]) <= dist / min_speed_mps + link_tolerance_s and dist > 1.0:
                others[k] = i
                k += 1
        if k < 3:
            continue
        for j in range(k):
            key[j] = abs(t[others[j]] - t[s])
        order = np.argsort(key[:k], kind="mergesort")
        for j in range(1, k):
            if key[order[j]] == key[order[j - 1]]:
                ties = True
        take = min(k, size)
        for j in range(take):
            pools[n_pool + j] = others[order[j]]
        n_pool += take
        kept[n_kept] = s
        n_kept += 1
        starts[n_kept] = n_pool
    return kept[:n_kept], pools[:n_pool], starts[: n_kept + 1], ties


@njit(cache=True)
def silent_candidates(points, ids, lo, side, dims, starts, origin, radius, heard):
    """The sensors `cKDTree.query_ball_point(origin, radius)` returns (the network's sensors
    `ids`, at `points`, binned by `AcousticNetwork.cells`; any order) less those in `heard`:
    the sensors `AcousticAssociator._silent` tests. Also whether a sensor lies so near the
    sphere that only the tree can say (as `sensors_within`)."""
    rows, _, unsure = _ball(points, lo, side, dims, starts, origin, radius)
    out = np.empty(rows.size, dtype=np.int64)
    k = 0
    for q in rows:
        sensor = ids[q]
        for h in range(heard.size):
            if heard[h] == sensor:
                break
        else:
            out[k] = sensor
            k += 1
    return out[:k], unsure


@njit(cache=True)
def silent_count(ecef, near, origin, enu, c, we, wn, tau, timing_sigma_s, jitter_s_per_m,
                 sigma_origin2, silent_sigma, keys, stride_s):  # fmt: skip
    """`AcousticAssociator._silent`'s count: of the sensors `near`, those with no (sensor,
    time) key in [k - tol, k + tol), k = sensor * stride + predicted arrival (from the origin
    `origin` with east and north axes `enu`, speed c and wind (we, wn), origin time tau, as
    `predicted_arrival` computes it), tol = silent_sigma * sqrt(timing^2 + (jitter d)^2 +
    sigma_origin2). The dot products' order of summation may differ from einsum's by an ulp,
    so a key within a few ulps of a bound makes the count unsure (the caller's NumPy path
    decides). Returns (count, unsure)."""
    count = 0
    for i in range(near.size):
        q = near[i]
        v0 = ecef[q, 0] - origin[0]
        v1 = ecef[q, 1] - origin[1]
        v2 = ecef[q, 2] - origin[2]
        d = max(math.sqrt((v0 * v0 + v1 * v1) + v2 * v2), 1e-3)
        ue = (v0 * enu[0, 0] + v1 * enu[0, 1] + v2 * enu[0, 2]) / d
        un = (v0 * enu[1, 0] + v1 * enu[1, 1] + v2 * enu[1, 2]) / d
        c_eff = c + we * ue + wn * un
        predicted = tau + d / c_eff
        jd = jitter_s_per_m * d
        ts = timing_sigma_s[q]
        tol = silent_sigma * math.sqrt(ts * ts + jd * jd + sigma_origin2)
        key = q * stride_s + predicted
        a = key - tol
        b = key + tol
        guard = 8.0 * (abs(b) + 1.0) * 2.220446049250313e-16
        lo = _left(keys, a)
        hi = _left(keys, b)
        for j in (lo - 1, lo, hi - 1, hi):
            if 0 <= j < keys.size and (abs(keys[j] - a) <= guard or abs(keys[j] - b) <= guard):
                return count, True
        if hi == lo:
            count += 1
    return count, False


@njit(cache=True)
def chance_terms(sensor_of, x, y, t, sig, ox, oy, tau, c, we, wn, jitter_s_per_m, window_s,
                 attach_sigma):  # fmt: skip
    """`AcousticAssociator._chance`'s per-sensor terms, by sensor in increasing order (as
    `np.unique` orders them): the count of the sensor's detections whose offset from the
    origin's (ox, oy, tau; speed c, wind we, wn) predicted arrival is within `window_s`, as a
    float (`np.bincount`'s weights), and `attach_sigma` times the arrival sigma of its last
    detection (the last write of `tolerance[inverse] = ...`). The same numbers as the NumPy
    form; the exponentials and their sum stay NumPy's."""
    n = sensor_of.size
    order = np.argsort(sensor_of, kind="mergesort")
    near = np.zeros(n)
    tolerance = np.zeros(n)
    k = -1
    previous = -1
    for p in range(n):
        i = order[p]
        if k < 0 or sensor_of[i] != previous:
            k += 1
            previous = sensor_of[i]
        dx = x[i] - ox
        dy = y[i] - oy
        d = max(math.hypot(dx, dy), 1.0)
        offset = t[i] - tau - d / (c + (we * dx + wn * dy) / d)
        if abs(offset) <= window_s:
            near[k] += 1.0
        jd = jitter_s_per_m * d
        tolerance[k] = attach_sigma * math.sqrt(sig[i] * sig[i] + jd * jd)
    return near[: k + 1], tolerance[: k + 1]
