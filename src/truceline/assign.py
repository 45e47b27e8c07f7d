"""One-to-one assignment over sparse gated candidate pairs.

The pipeline pairs things one to one in several places: a launch with its impact
(`truceline.shots`), a radar plot with an air track and an ended track with its continuation
(`truceline.radar.tracker`), a radar shot with an acoustic event (`truceline.radar.stage`). Each
gives a list of candidate pairs that passed its own gate, each with a cost (or a score), and
wants a one-to-one choice among them: **the most pairs, then the least total cost** (the most
total score with `maximise`).

How: the candidates are split into connected components (two candidates sharing a row or a column
are in one), and each component is solved on its own by the Hungarian algorithm
(`scipy.optimize.linear_sum_assignment`) on a dense matrix of its rows and columns, in which a
pair that was not a candidate costs more than any set of candidates could
(``fill = 2 (2k + 1) max|cost| + 2`` with k the smaller side: so one more pair always beats any
saving in cost). Components are independent, so this is the optimum of the whole, in time and
memory bounded by the largest component instead of the whole problem. A problem whose whole
matrix has at most `SPLIT_CELLS` cells is solved in one piece, the same optimum: finding its
components would cost more than it saves (the tracker's rounds are mostly such; splitting them made
the tracker twice as slow).

Fallback: a component whose matrix would have more than `max_cells` cells (`MAX_CELLS`, 4 M
cells, 32 MB of float64; a busy day can chain launch-impact candidates for hours) is paired
greedily instead: cheapest candidate first (stable, so in the given order among equal costs),
taken when both its row and its column are still free. That is one-to-one and uses only
candidates, but neither the most pairs nor the least cost is guaranteed.

`shared`: rows and columns label one set of items (an event may be the launch of one candidate
and the impact of another) and each item may be in one chosen pair only. Components are then
taken over the items, the assignment is solved with the two roles apart, and where an item is
chosen in both roles the pairs are taken best first (cost, then row) and a pair with an item
already taken is dropped. (A heuristic: a general, non-bipartite matching is not attempted.)

Ties: of assignments with equal totals (exact ties, which continuous costs do not give), the one
the solver reaches on the matrix built in label order. Deterministic, and but for the greedy
fallback and duplicate candidates (equal costs in the order given) independent of the order of
the candidates.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

MAX_CELLS = 4_000_000  # 32 MB of float64: a component with a larger matrix is paired greedily
SPLIT_CELLS = 4096  # a problem whose whole matrix is no larger is solved in one piece


def assign(
    rows: ArrayLike,
    cols: ArrayLike,
    cost: ArrayLike,
    *,
    maximise: bool = False,
    shared: bool = False,
    max_cells: int | None = None,
) -> NDArray[np.intp]:
    """The candidate pairs chosen one to one: the most pairs, then the least total `cost`.

    `rows[k]`, `cols[k]` (integers >= 0) are the two sides of candidate pair k and `cost[k]`
    (finite) its cost, or its score to maximise with `maximise`. Returns the indices k of the
    chosen candidates in increasing order (so the caller reads anything else it holds per pair
    from the same index). Of duplicate (row, column) candidates only the best can be chosen; in
    `shared` mode a pair of an item with itself never is. `max_cells` (default `MAX_CELLS`): the
    largest dense matrix solved exactly; a larger component is paired greedily (module docstring).
    """
    rows = np.asarray(rows, dtype=np.int64).ravel()
    cols = np.asarray(cols, dtype=np.int64).ravel()
    c = np.asarray(cost, dtype=float).ravel()
    if not rows.size == cols.size == c.size:
        raise ValueError(
            f"rows, cols and cost differ in length: {rows.size}, {cols.size}, {c.size}"
        )
    if rows.size == 0:
        return np.zeros(0, np.intp)
    if rows.min() < 0 or cols.min() < 0:
        raise ValueError("rows and cols must be non-negative integers")
    if not np.all(np.isfinite(c)):
        raise ValueError("costs must be finite")
    if maximise:
        c = -c
    limit = MAX_CELLS if max_cells is None else max_cells
    cand = np.flatnonzero(rows != cols) if shared else np.arange(rows.size)
    if cand.size == 0:
        return np.zeros(0, np.intp)
    n_rows, r_inv = _rank(rows[cand])
    n_cols, c_inv = _rank(cols[cand])
    if not shared and n_rows == n_cols == cand.size:
        return cand.astype(np.intp)  # no two share a row or a column: every one is chosen
    if n_rows * n_cols <= min(SPLIT_CELLS, limit):
        chosen = [_hungarian(cand, r_inv, c_inv, n_rows, n_cols, c)]
    else:
        comp = _components(rows[cand], cols[cand], shared)
        order = np.argsort(comp, kind="stable")
        chosen = []
        for group in np.split(cand[order], np.flatnonzero(np.diff(comp[order])) + 1):
            r_lab, r_inv = np.unique(rows[group], return_inverse=True)
            c_lab, c_inv = np.unique(cols[group], return_inverse=True)
            if r_lab.size * c_lab.size > limit:
                chosen.append(_greedy(group, rows, cols, c, shared))
            else:
                chosen.append(_hungarian(group, r_inv, c_inv, r_lab.size, c_lab.size, c))
    out = np.concatenate(chosen)
    if shared:
        out = _one_role_each(out, rows, cols, c)
    return np.sort(out).astype(np.intp)


def _rank(values: NDArray[np.int64]) -> tuple[int, NDArray[np.int64]]:
    """`np.unique(values, return_inverse=True)` as (number of distinct values, each value's rank),
    by a table when the values are small (faster for the many small problems of a tracker)."""
    top = int(values.max())
    if top > 4 * values.size + 1024:
        labels, inv = np.unique(values, return_inverse=True)
        return labels.size, inv
    present = np.zeros(top + 1, bool)
    present[values] = True
    rank = np.cumsum(present) - 1
    return int(rank[-1]) + 1, rank[values]


def _best_of_duplicates(rows: NDArray, cols: NDArray, c: NDArray) -> NDArray[np.intp]:
    """Indices of the candidates, one per (row, column): the cheapest (the first of equals)."""
    order = np.lexsort((c, cols, rows))
    r, k = rows[order], cols[order]
    first = np.r_[True, (r[1:] != r[:-1]) | (k[1:] != k[:-1])]
    return np.sort(order[first])


def _components(rows: NDArray, cols: NDArray, shared: bool) -> NDArray[np.intp]:
    """Connected-component label of each candidate (rows and columns as the graph's nodes, or,
    `shared`, the items they name)."""
    n = rows.size
    if shared:
        _, inv = np.unique(np.r_[rows, cols], return_inverse=True)
        r_node, c_node = inv[:n], inv[n:]
        nodes = int(inv.max()) + 1
    else:
        r_lab, r_node = np.unique(rows, return_inverse=True)
        c_lab, c_node = np.unique(cols, return_inverse=True)
        c_node = c_node + r_lab.size
        nodes = r_lab.size + c_lab.size
    graph = coo_matrix((np.ones(n), (r_node, c_node)), shape=(nodes, nodes))
    _, label = connected_components(graph, directed=False)
    return label[r_node]


def _hungarian(
    group: NDArray, r_inv: NDArray, c_inv: NDArray, n_rows: int, n_cols: int, c: NDArray
) -> NDArray[np.intp]:
    """The chosen candidates among `group` (its rows and columns numbered `r_inv`, `c_inv`): the
    most pairs, then the least cost."""
    pair_of = np.full((n_rows, n_cols), -1, np.int64)
    pair_of[r_inv, c_inv] = group
    if np.count_nonzero(pair_of >= 0) < group.size:  # duplicate candidates: the cheapest each
        keep = _best_of_duplicates(r_inv, c_inv, c[group])
        group, r_inv, c_inv = group[keep], r_inv[keep], c_inv[keep]
        pair_of[r_inv, c_inv] = group
    cost = c[group]
    fill = 2.0 * (2 * min(n_rows, n_cols) + 1) * float(np.abs(cost).max()) + 2.0
    matrix = np.full((n_rows, n_cols), fill)
    matrix[r_inv, c_inv] = cost
    r, k = linear_sum_assignment(matrix)
    ks = pair_of[r, k]
    return ks[ks >= 0]


def _greedy(
    group: NDArray, rows: NDArray, cols: NDArray, c: NDArray, shared: bool
) -> NDArray[np.intp]:
    """The fallback for a component too big for a dense matrix: cheapest candidate first."""
    return _take_free(group[np.argsort(c[group], kind="stable")], rows, cols, shared)


def _one_role_each(ks: NDArray, rows: NDArray, cols: NDArray, c: NDArray) -> NDArray[np.intp]:
    """`shared`: of the chosen pairs, best first (cost, then row), those whose items are not
    already taken by a better one."""
    return _take_free(ks[np.lexsort((rows[ks], c[ks]))], rows, cols, shared=True)


def _take_free(ks: NDArray, rows: NDArray, cols: NDArray, shared: bool) -> NDArray[np.intp]:
    """Of candidates `ks` in order of preference, each whose row and column (`shared`: whose two
    items) are not in one taken before it."""
    taken_r: set[int] = set()
    taken_c = taken_r if shared else set()
    out = []
    for k in ks:
        x, y = int(rows[k]), int(cols[k])
        if x not in taken_r and y not in taken_c:
            taken_r.add(x)
            taken_c.add(y)
            out.append(k)
    return np.asarray(out, np.int64)
