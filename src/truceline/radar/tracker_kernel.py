"""The air tracker compiled with Numba (`truceline.radar.tracker.GnnTracker`; docs/methods.md,
"Air tracks", "The compiled round").

A round: `candidate_pairs` (track, free plot) within each track's search radius, then
`gate_pairs` (gate, the confirmed tracks' reservation of plots, cost), `assign_small` (SciPy's
`linear_sum_assignment` on `truceline.assign`'s matrix) where pairs conflict, `update_pairs`
(the Kalman update, in place). Around the rounds: `start_tracks` (which free plots start new
tracks, `group_starters`, and their first states), `stale_tracks` and `compact` (tracks ended),
`rts_recursion` (the smoother's backward pass). The same steps as the NumPy reference
(`GnnTracker(..., compiled=False)`), pair by pair instead of as stacks of arrays: a round is a
few dozen tracks and a few plots, so the reference's time was the overhead of some 80 NumPy
calls per round, not arithmetic.

Bit for bit: the arithmetic repeats the reference's operation for operation, as NumPy and its
OpenBLAS do it on x86-64: BLAS's small matrix products as fused multiply-adds in the order of
the inner index (`_fma`; F's zeros and ones add nothing), the 3x3 inverse and determinant as
OpenBLAS `getf2`/`getrs` and NumPy's `det` compute them (`_inv3`), sums in `einsum`'s order,
and |dt|³ taken from NumPy (`**` is a SIMD `pow` there, which differs from libm's in the last
bit). `tests/radar/test_tracker_kernel.py` checks it against the reference; on another BLAS or
CPU the two may differ in the last bits (docs/methods.md).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import intrinsic


@njit(cache=True)
def _median_ns(sorted_ns):
    n = sorted_ns.size
    k = n // 2
    if n % 2:
        return np.int64(float(sorted_ns[k]))
    return np.int64((float(sorted_ns[k - 1]) + float(sorted_ns[k])) / 2.0)


@intrinsic
def _fma(typingctx, a, b, c):
    """a * b + c rounded once (a fused multiply-add, as BLAS's matrix products do it)."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return sig, codegen


@njit(cache=True)
def _predict(x, p, dt, cube, q_h, q_v, xp, pp):
    """Constant-velocity prediction of state `x` (6) and covariance `p` (6, 6) over `dt` (s),
    white-noise acceleration q_h (horizontal), q_v (vertical) m²/s³, into `xp`, `pp`. `cube`:
    |dt|³ as NumPy's `**` gives it. Each element as the reference's `einsum` and BLAS product
    F P Fᵀ (fused multiply-adds; F's zeros and ones add nothing) give it."""
    for i in range(3):
        xp[i] = x[i] + dt * x[i + 3]
        xp[i + 3] = x[i + 3]
    fp = np.empty((6, 6))
    for j in range(6):
        for i in range(3):
            fp[i, j] = _fma(dt, p[i + 3, j], p[i, j])
            fp[i + 3, j] = p[i + 3, j]
    for i in range(6):
        for j in range(3):
            pp[i, j] = _fma(dt, fp[i, j + 3], fp[i, j])
            pp[i, j + 3] = fp[i, j + 3]
    d = abs(dt)
    sg = 1.0 if dt > 0 else (-1.0 if dt < 0 else 0.0)
    for a in range(3):
        qa = q_v if a == 2 else q_h
        pp[a, a] += qa * cube / 3
        c = qa * (d * d) / 2 * sg
        pp[a, a + 3] += c
        pp[a + 3, a] += c
        pp[a + 3, a + 3] += qa * d


@njit(cache=True)
def _inv3(s, out):
    """Inverse of a 3x3 matrix `s` into `out`, and ln|det s| and the determinant's sign, as
    NumPy's `inv` and `det` get them from LAPACK (OpenBLAS `getf2`: LU with partial pivoting,
    left-looking, columns scaled by the pivot's reciprocal; `getrs` against the identity: the
    unit-lower solve in blocks of two rows and one, the upper solve one row then two, each row
    times its diagonal's reciprocal). Every operation in the same order and rounding, so the
    same bits (checked against NumPy in `tests/radar/test_tracker_kernel.py`)."""
    a = s.copy()
    piv = np.empty(3, np.int64)
    b = np.empty(3)
    for j in range(3):
        for i in range(3):
            b[i] = a[i, j]
        for i in range(j):
            t = b[i]
            b[i] = b[piv[i]]
            b[piv[i]] = t
        if j == 1:
            b[1] = b[1] - a[1, 0] * b[0]
            b[2] = b[2] - a[2, 0] * b[0]
        elif j == 2:
            b[1] = b[1] - a[1, 0] * b[0]
            b[2] = b[2] - (a[2, 0] * b[0] + a[2, 1] * b[1])
        jp = j
        for i in range(j + 1, 3):
            if abs(b[i]) > abs(b[jp]):
                jp = i
        piv[j] = jp
        for i in range(3):
            a[i, j] = b[i]
        if jp != j:
            for c in range(j + 1):
                t = a[j, c]
                a[j, c] = a[jp, c]
                a[jp, c] = t
        r = 1.0 / a[j, j]
        for i in range(j + 1, 3):
            a[i, j] = a[i, j] * r
    e = np.empty(3)
    for c in range(3):
        e[:] = 0.0
        e[c] = 1.0
        for i in range(3):
            t = e[i]
            e[i] = e[piv[i]]
            e[piv[i]] = t
        x0 = e[0]
        x1 = e[1] - x0 * a[1, 0]
        x2 = e[2] - _fma(a[2, 1], x1, a[2, 0] * x0)
        y2 = x2 * (1.0 / a[2, 2])
        c0 = x0 - a[0, 2] * y2
        c1 = x1 - a[1, 2] * y2
        y1 = c1 * (1.0 / a[1, 1])
        c0 = c0 - y1 * a[0, 1]
        out[0, c] = c0 * (1.0 / a[0, 0])
        out[1, c] = y1
        out[2, c] = y2
    sign = 1.0
    logdet = 0.0
    for i in range(3):
        if piv[i] != i:
            sign = -sign
        u = a[i, i]
        if u < 0:
            sign = -sign
            u = -u
        logdet += math.log(u)
    return logdet, sign


@njit(cache=True)
def _innovation(xp, pp, z, sigma_m, nu, s, sinv):
    """Position innovation `nu`, its covariance `s` and inverse `sinv`; returns d² and
    ln det s (as NumPy's `log(det(s))`: the determinant from its logarithm and back)."""
    var = sigma_m**2
    for i in range(3):
        nu[i] = z[i] - xp[i]
        for j in range(3):
            s[i, j] = pp[i, j] + (var if i == j else 0.0)
    logdet, sign = _inv3(s, sinv)
    d2 = 0.0
    for i in range(3):
        for j in range(3):
            d2 += nu[i] * sinv[i, j] * nu[j]
    return d2, math.log(sign * math.exp(logdet))


@njit(cache=True)
def candidate_pairs(x, p, t_ns, idx, time_ns, xyz, sigma_m, gate, q_h):
    """A round's candidate pairs: (track, local plot number into `idx`) with the plot within
    the track's radius about its position at the round's median time (a bound of its gate, as
    `GnnTracker._assign_round` computes it, widened by one part in 1e9 against rounding), and
    each pair's time step (s) from the track to the plot. Track-major order."""
    n_tracks = x.shape[0]
    n_plots = idx.size
    times = np.sort(time_ns[idx])
    mid = _median_ns(times)
    span = (times[-1] - times[0]) / 1e9
    sigma_max = 0.0
    for k in range(n_plots):
        sigma_max = max(sigma_max, sigma_m[idx[k]])
    root_gate = math.sqrt(gate)
    pairs_t = np.empty(n_tracks * n_plots, np.int64)
    local = np.empty(n_tracks * n_plots, np.int64)
    dts = np.empty(n_tracks * n_plots)
    m = 0
    for t in range(n_tracks):
        dt = (mid - t_ns[t]) / 1e9
        spread = math.sqrt(p[t, 0, 0] + p[t, 1, 1] + p[t, 2, 2])
        speed = math.sqrt(x[t, 3] ** 2 + x[t, 4] ** 2 + x[t, 5] ** 2)
        v_spread = math.sqrt(p[t, 3, 3] + p[t, 4, 4] + p[t, 5, 5])
        radius = (
            root_gate * (spread + math.sqrt(3.0) * sigma_max + math.sqrt(q_h * abs(dt) ** 3))
            + speed * span
            + v_spread * abs(dt) * 3
        )
        r2 = (radius * (1 + 1e-9)) ** 2
        cx = x[t, 0] + x[t, 3] * dt
        cy = x[t, 1] + x[t, 4] * dt
        cz = x[t, 2] + x[t, 5] * dt
        for k in range(n_plots):
            j = idx[k]
            ex = cx - xyz[j, 0]
            ey = cy - xyz[j, 1]
            ez = cz - xyz[j, 2]
            if ex * ex + ey * ey + ez * ez > r2:
                continue
            pairs_t[m] = t
            local[m] = k
            dts[m] = (time_ns[j] - t_ns[t]) / 1e9
            m += 1
    return pairs_t[:m], local[:m], dts[:m]


@njit(cache=True)
def gate_pairs(
    x, p, hits, confirm_hits, pairs_t, local, dts, cubes, idx, xyz, sigma_m, gate, q_h, q_v
):
    """The candidate pairs' gate (d² < `gate`), the confirmed tracks' reservation of the plots
    in their gates (a plot inside one may go to no tentative track) and the cost of the pairs
    left (d² + ln det S - 2 if the track is confirmed), as `GnnTracker._assign_round` (the
    reference) computes them. `cubes`: |dt|³ of each pair, from NumPy. Returns the pairs left
    (their indices into the candidates) and their costs, and whether no two of them share a
    track or a plot (then `assign` would choose them all)."""
    m = pairs_t.size
    n_plots = idx.size
    ok = np.zeros(m, np.bool_)
    d2s = np.empty(m)
    logdets = np.empty(m)
    reserved = np.zeros(n_plots, np.bool_)
    xp = np.empty(6)
    pp = np.empty((6, 6))
    nu = np.empty(3)
    s = np.empty((3, 3))
    sinv = np.empty((3, 3))
    for i in range(m):
        t = pairs_t[i]
        j = idx[local[i]]
        _predict(x[t], p[t], dts[i], cubes[i], q_h, q_v, xp, pp)
        d2s[i], logdets[i] = _innovation(xp, pp, xyz[j], sigma_m[j], nu, s, sinv)
        ok[i] = d2s[i] < gate
        if ok[i] and hits[t] >= confirm_hits:
            reserved[local[i]] = True
    n = 0
    for i in range(m):
        ok[i] = ok[i] and (hits[pairs_t[i]] >= confirm_hits or not reserved[local[i]])
        n += ok[i]
    kept = np.empty(n, np.int64)
    cost = np.empty(n)
    plot_used = np.zeros(n_plots, np.bool_)
    apart = True
    n = 0
    for i in range(m):
        if not ok[i]:
            continue
        kept[n] = i
        bonus = 2.0 if hits[pairs_t[i]] >= confirm_hits else 0.0
        cost[n] = d2s[i] + logdets[i] - bonus
        # Track-major order: a track repeats only in consecutive pairs.
        if (n > 0 and pairs_t[kept[n - 1]] == pairs_t[i]) or plot_used[local[i]]:
            apart = False
        plot_used[local[i]] = True
        n += 1
    return kept, cost, apart


@njit(cache=True)
def update_pairs(x, p, t_ns, hits, tracks, plots, dts, cubes, time_ns, xyz, sigma_m, q_h, q_v):
    """The Kalman update of each track in `tracks` with its plot in `plots` (distinct tracks;
    `dts`, `cubes`: the pairs' time steps and their |dt|³ from NumPy), written into `x`, `p`
    (symmetrised), `t_ns`, `hits`, each element as the reference computes it; also returns the
    new states and covariances (k, 6) and (k, 6, 6)."""
    k_n = tracks.size
    xs = np.empty((k_n, 6))
    ps = np.empty((k_n, 6, 6))
    xp = np.empty(6)
    pp = np.empty((6, 6))
    nu = np.empty(3)
    s = np.empty((3, 3))
    sinv = np.empty((3, 3))
    gain = np.empty((6, 3))
    pn = np.empty((6, 6))
    for k in range(k_n):
        t = tracks[k]
        j = plots[k]
        _predict(x[t], p[t], dts[k], cubes[k], q_h, q_v, xp, pp)
        _innovation(xp, pp, xyz[j], sigma_m[j], nu, s, sinv)
        # K = P Hᵀ S⁻¹ and K H P as BLAS's products (fused multiply-adds in order), K ν as
        # NumPy's einsum sums three terms (the first and third, then the second).
        for i in range(6):
            for c in range(3):
                acc = pp[i, 0] * sinv[0, c]
                acc = _fma(pp[i, 1], sinv[1, c], acc)
                gain[i, c] = _fma(pp[i, 2], sinv[2, c], acc)
        for i in range(6):
            kn = (gain[i, 0] * nu[0] + gain[i, 2] * nu[2]) + gain[i, 1] * nu[1]
            xs[k, i] = xp[i] + kn
            x[t, i] = xs[k, i]
        for i in range(6):
            for c in range(6):
                acc = gain[i, 0] * pp[0, c]
                acc = _fma(gain[i, 1], pp[1, c], acc)
                pn[i, c] = pp[i, c] - _fma(gain[i, 2], pp[2, c], acc)
        for i in range(6):
            for c in range(6):
                v = 0.5 * (pn[i, c] + pn[c, i])
                p[t, i, c] = v
                ps[k, i, c] = v
        t_ns[t] = time_ns[j]
        hits[t] += 1
    return xs, ps


@njit(cache=True)
def group_starters(xyz, radius):
    """Of plots in time order, those that start a new track: each plot not within `radius` (m)
    of one started before it, itself marking every plot within `radius` as taken (the
    reference's greedy grouping in `GnnTracker._initiate`). Returns their positions in order."""
    n = xyz.shape[0]
    taken = np.zeros(n, np.bool_)
    keep = np.empty(n, np.int64)
    m = 0
    r2 = radius**2
    for i in range(n):
        if taken[i]:
            continue
        keep[m] = i
        m += 1
        for j in range(n):
            if taken[j]:
                continue
            d0 = xyz[i, 0] - xyz[j, 0]
            d1 = xyz[i, 1] - xyz[j, 1]
            d2 = xyz[i, 2] - xyz[j, 2]
            if d0 * d0 + d1 * d1 + d2 * d2 <= r2:
                taken[j] = True
    return keep[:m]


@njit(cache=True)
def rts_recursion(x, p, xp, pp, gain, usable, xs, ps):
    """The Rauch-Tung-Striebel smoother's backward recursion over filtered states `x`, `p`
    with the steps' predictions `xp`, `pp` and gains `gain` (computed beforehand, all at once),
    into `xs`, `ps` (holding the filtered values on entry); a step not `usable` is left
    unsmoothed. The matrix products are BLAS's, as NumPy's."""
    for k in range(x.shape[0] - 2, -1, -1):
        if not usable[k]:
            continue
        c = gain[k]
        xs[k] = x[k] + c @ (xs[k + 1] - xp[k])
        ps[k] = p[k] + c @ (ps[k + 1] - pp[k]) @ c.T


@njit(cache=True)
def stale_tracks(now_ns, t_ns, hits, confirm_hits, coast_s, tentative_coast_s):
    """Which tracks have had no plot for longer than their coast time (`coast_s` confirmed,
    `tentative_coast_s` tentative) at `now_ns`; and whether any has."""
    stale = np.empty(t_ns.size, np.bool_)
    anything = False
    for i in range(t_ns.size):
        idle = (now_ns - t_ns[i]) / 1e9
        stale[i] = idle > (coast_s if hits[i] >= confirm_hits else tentative_coast_s)
        anything |= stale[i]
    return stale, anything


@njit(cache=True)
def start_tracks(order, time_ns, xyz, sigma_m, velocity, gate, velocity_var, initial_var):
    """New tracks from free plots `order` (ascending time): which plots start one (positions
    in `order`, as `GnnTracker._initiate` groups them) and their first states and covariances
    (as `GnnTracker._first_state`)."""
    n = order.size
    if n > 1:
        sigma_max = 0.0
        speed_max = -1.0
        for k in range(n):
            j = order[k]
            sigma_max = max(sigma_max, sigma_m[j])
            v = math.sqrt(velocity[j, 0] ** 2 + velocity[j, 1] ** 2 + velocity[j, 2] ** 2)
            if math.isfinite(v):
                speed_max = max(speed_max, v)
        span_s = (time_ns[order[-1]] - time_ns[order[0]]) / 1e9
        radius = math.sqrt(gate * 2) * sigma_max + (speed_max * span_s if speed_max >= 0 else 0.0)
        pos = np.empty((n, 3))
        for k in range(n):
            pos[k] = xyz[order[k]]
        keep = group_starters(pos, radius)
    else:
        keep = np.arange(n)
    m = keep.size
    x = np.zeros((m, 6))
    p = np.zeros((m, 6, 6))
    for k in range(m):
        j = order[keep[k]]
        var = sigma_m[j] ** 2
        has_v = True
        for a in range(3):
            x[k, a] = xyz[j, a]
            p[k, a, a] = var
            has_v &= math.isfinite(velocity[j, a])
        for a in range(3):
            if has_v:
                x[k, 3 + a] = velocity[j, a]
            p[k, 3 + a, 3 + a] = velocity_var if has_v else initial_var
    return keep, x, p


@njit(cache=True)
def _augmenting_path(nc, cost, u, v, path, row4col, spc, i, sr, sc, remaining):
    """One shortest augmenting path from row `i` (SciPy's `linear_sum_assignment`, Crouse's
    algorithm, `rectangular_lsap.cpp`, statement for statement). Returns (sink, min value)."""
    min_val = 0.0
    num_remaining = nc
    for it in range(nc):
        remaining[it] = nc - it - 1
    sr[:] = False
    sc[:] = False
    spc[:] = np.inf
    sink = -1
    while sink == -1:
        index = -1
        lowest = np.inf
        sr[i] = True
        for it in range(num_remaining):
            j = remaining[it]
            r = min_val + cost[i, j] - u[i] - v[j]
            if r < spc[j]:
                path[j] = i
                spc[j] = r
            if spc[j] < lowest or (spc[j] == lowest and row4col[j] == -1):
                lowest = spc[j]
                index = it
        min_val = lowest
        if min_val == np.inf:
            return -1, min_val
        j = remaining[index]
        if row4col[j] == -1:
            sink = j
        else:
            i = row4col[j]
        sc[j] = True
        num_remaining -= 1
        remaining[index] = remaining[num_remaining]
    return sink, min_val


@njit(cache=True)
def _lsap(cost):
    """SciPy's `linear_sum_assignment` of a dense finite cost matrix with no more rows than
    columns: each row's column (the same algorithm and arithmetic, so the same choice)."""
    nr, nc = cost.shape
    u = np.zeros(nr)
    v = np.zeros(nc)
    spc = np.empty(nc)
    path = np.full(nc, -1, np.int64)
    col4row = np.full(nr, -1, np.int64)
    row4col = np.full(nc, -1, np.int64)
    sr = np.zeros(nr, np.bool_)
    sc = np.zeros(nc, np.bool_)
    remaining = np.empty(nc, np.int64)
    for cur in range(nr):
        sink, min_val = _augmenting_path(nc, cost, u, v, path, row4col, spc, cur, sr, sc, remaining)
        if sink < 0:
            return np.full(nr, -1, np.int64)
        u[cur] += min_val
        for i in range(nr):
            if sr[i] and i != cur:
                u[i] += min_val - spc[col4row[i]]
        for j in range(nc):
            if sc[j]:
                v[j] -= min_val - spc[j]
        j = sink
        while True:
            i = path[j]
            row4col[j] = i
            col4row[i], j = j, col4row[i]
            if i == cur:
                break
    return col4row


@njit(cache=True)
def assign_small(rows, cols, cost, max_cells):
    """`truceline.assign.assign(rows, cols, cost)` for a problem solved in one piece (at most
    `max_cells` cells in its dense matrix, no duplicate pairs): the same matrix (rows and
    columns in label order, non-candidates at the same fill cost) and the same solver, so the
    same choice. Returns the chosen candidates in increasing order, or None when the problem
    is not such (then `assign` is to be called)."""
    n = rows.size
    top_r = 0
    top_c = 0
    for k in range(n):
        top_r = max(top_r, rows[k])
        top_c = max(top_c, cols[k])
    rank_r = np.full(top_r + 1, -1, np.int64)
    rank_c = np.full(top_c + 1, -1, np.int64)
    for k in range(n):
        rank_r[rows[k]] = 0
        rank_c[cols[k]] = 0
    n_rows = 0
    for a in range(top_r + 1):
        if rank_r[a] == 0:
            rank_r[a] = n_rows
            n_rows += 1
    n_cols = 0
    for a in range(top_c + 1):
        if rank_c[a] == 0:
            rank_c[a] = n_cols
            n_cols += 1
    if n_rows * n_cols > max_cells:
        return None
    pair_of = np.full((n_rows, n_cols), -1, np.int64)
    big = 0.0
    for k in range(n):
        if pair_of[rank_r[rows[k]], rank_c[cols[k]]] >= 0:
            return None
        pair_of[rank_r[rows[k]], rank_c[cols[k]]] = k
        big = max(big, abs(cost[k]))
    fill = 2.0 * (2 * min(n_rows, n_cols) + 1) * big + 2.0
    if n_rows <= n_cols:
        matrix = np.full((n_rows, n_cols), fill)
        for k in range(n):
            matrix[rank_r[rows[k]], rank_c[cols[k]]] = cost[k]
        col4row = _lsap(matrix)
        chosen = np.empty(n_rows, np.int64)
        m = 0
        for r in range(n_rows):
            if col4row[r] < 0:
                return None
            k = pair_of[r, col4row[r]]
            if k >= 0:
                chosen[m] = k
                m += 1
    else:  # SciPy solves the transpose
        matrix = np.full((n_cols, n_rows), fill)
        for k in range(n):
            matrix[rank_c[cols[k]], rank_r[rows[k]]] = cost[k]
        col4row = _lsap(matrix)
        chosen = np.empty(n_cols, np.int64)
        m = 0
        for c in range(n_cols):
            if col4row[c] < 0:
                return None
            k = pair_of[col4row[c], c]
            if k >= 0:
                chosen[m] = k
                m += 1
    return np.sort(chosen[:m])


@njit(cache=True)
def compact(keep, x, p, t_ns, hits, number):
    """The tracks flagged in `keep`, in order: new state, covariance, time, hit and number
    arrays."""
    n = 0
    for i in range(keep.size):
        n += keep[i]
    x2 = np.empty((n, 6))
    p2 = np.empty((n, 6, 6))
    t2 = np.empty(n, np.int64)
    h2 = np.empty(n, np.int64)
    n2 = np.empty(n, np.int64)
    m = 0
    for i in range(keep.size):
        if keep[i]:
            x2[m] = x[i]
            p2[m] = p[i]
            t2[m] = t_ns[i]
            h2[m] = hits[i]
            n2[m] = number[i]
            m += 1
    return x2, p2, t2, h2, n2
