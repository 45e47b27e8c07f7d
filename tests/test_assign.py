"""One-to-one assignment over sparse gated candidates (`truceline.assign`)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import truceline.assign as assign_module
from truceline.assign import assign


@st.composite
def candidates(draw, max_side: int = 5, max_pairs: int = 10):
    """Distinct (row, col) candidates on small sides, with integer costs (so that ties and
    totals are exact)."""
    n_rows = draw(st.integers(1, max_side))
    n_cols = draw(st.integers(1, max_side))
    cells = draw(
        st.lists(
            st.tuples(st.integers(0, n_rows - 1), st.integers(0, n_cols - 1)),
            min_size=0,
            max_size=max_pairs,
            unique=True,
        )
    )
    cost = draw(st.lists(st.integers(-20, 20), min_size=len(cells), max_size=len(cells)))
    rows = np.array([r for r, _ in cells], np.int64)
    cols = np.array([c for _, c in cells], np.int64)
    return rows, cols, np.array(cost, float)


def _best(rows, cols, cost):
    """Brute force: (most pairs, least total cost) over every one-to-one subset."""
    best = (0, 0.0)
    for size in range(1, len(rows) + 1):
        for subset in itertools.combinations(range(len(rows)), size):
            k = list(subset)
            if len(set(rows[k])) == size and len(set(cols[k])) == size:
                best = min(best, (-size, float(cost[k].sum())))
    return best


def _one_to_one(rows, cols, ks):
    return len(set(rows[ks])) == len(ks) and len(set(cols[ks])) == len(ks)


@settings(max_examples=300, deadline=None)
@given(candidates())
def test_the_most_pairs_then_the_least_cost_as_brute_force_finds(case):
    rows, cols, cost = case
    ks = assign(rows, cols, cost)
    assert _one_to_one(rows, cols, ks)
    assert np.all(np.diff(ks) > 0) and (ks.size == 0 or 0 <= ks.min() <= ks.max() < len(rows))
    assert (-ks.size, float(cost[ks].sum())) == _best(rows, cols, cost)


@settings(max_examples=100, deadline=None)
@given(candidates())
def test_maximising_a_score_is_minimising_its_negative(case):
    rows, cols, cost = case
    ks = assign(rows, cols, -cost, maximise=True)
    assert (-ks.size, float(cost[ks].sum())) == _best(rows, cols, cost)


@settings(max_examples=200, deadline=None)
@given(candidates(max_side=12, max_pairs=30))
def test_the_greedy_fallback_is_one_to_one_over_candidates(case):
    rows, cols, cost = case
    ks = assign(rows, cols, cost, max_cells=0)
    assert _one_to_one(rows, cols, ks)
    # Greedy is maximal: no candidate left out has both its row and its column free.
    left = np.setdiff1d(np.arange(len(rows)), ks)
    free = ~np.isin(rows[left], rows[ks]) & ~np.isin(cols[left], cols[ks])
    assert not free.any()


@settings(max_examples=200, deadline=None)
@given(candidates(max_side=8, max_pairs=20), st.booleans())
def test_shared_items_are_each_in_one_pair_at_most(case, small):
    rows, cols, cost = case
    ks = assign(rows, cols, cost, shared=True, max_cells=0 if small else None)
    items = np.r_[rows[ks], cols[ks]]
    assert len(set(items)) == items.size
    assert not np.any(rows[ks] == cols[ks])


@settings(max_examples=200, deadline=None)
@given(candidates(max_side=8, max_pairs=30), st.randoms(use_true_random=False), st.booleans())
def test_the_choice_does_not_depend_on_the_order_of_the_candidates(case, random, shared):
    # Integer costs: ties are common, and are broken the same way whatever the order.
    rows, cols, cost = case
    perm = np.arange(len(rows))
    random.shuffle(perm)
    ks = assign(rows, cols, cost, shared=shared)
    kp = assign(rows[perm], cols[perm], cost[perm], shared=shared)
    chosen = sorted(zip(rows[ks], cols[ks], strict=True))
    assert chosen == sorted(zip(rows[perm][kp], cols[perm][kp], strict=True))


def test_one_more_pair_beats_any_saving_in_cost():
    # Row 0 alone would take its cheap column 0; then row 1 (only column 0) is left out.
    ks = assign([0, 0, 1], [0, 1, 0], [0.0, 100.0, 50.0])
    assert ks.tolist() == [1, 2]


def test_components_are_solved_apart_and_the_indices_are_the_candidates():
    rows = np.array([5, 5, 9, 9, 40])
    cols = np.array([1, 2, 1, 2, 7])
    ks = assign(rows, cols, [1.0, 2.0, 2.0, 10.0, 3.0])
    assert ks.tolist() == [1, 2, 4]  # 2 + 2 < 1 + 10


def test_a_component_too_big_is_paired_cheapest_first(monkeypatch):
    rows, cols, cost = [0, 0, 1], [0, 1, 0], [0.0, 100.0, 50.0]
    monkeypatch.setattr(assign_module, "MAX_CELLS", 3)
    assert assign(rows, cols, cost).tolist() == [0]
    assert assign(rows, cols, cost, max_cells=4).tolist() == [1, 2]


def test_of_duplicate_candidates_only_the_cheapest_can_be_chosen():
    assert assign([0, 0], [3, 3], [5.0, 1.0]).tolist() == [1]
    assert assign([0, 0], [3, 3], [5.0, 1.0], maximise=True).tolist() == [0]


def test_shared_items_conflicts_go_to_the_better_pair():
    # Event 1 is the impact of 0 and the launch of 2: as two roles the assignment takes both,
    # as one item only the better pair (score 0 > -1) is kept.
    ks = assign([0, 1], [1, 2], [-1.0, 0.0], maximise=True, shared=True)
    assert ks.tolist() == [1]
    assert assign([0, 1], [1, 2], [-1.0, 0.0], maximise=True).tolist() == [0, 1]


def test_nothing_in_nothing_out_and_bad_input_is_refused():
    assert assign([], [], []).size == 0
    assert assign([1], [1], [0.0], shared=True).size == 0
    with pytest.raises(ValueError, match="length"):
        assign([0, 1], [0], [0.0])
    with pytest.raises(ValueError, match="finite"):
        assign([0], [0], [np.inf])
    with pytest.raises(ValueError, match="non-negative"):
        assign([-1], [0], [0.0])


def test_candidates_sharing_no_row_or_column_are_all_chosen_as_the_solver_would():
    """The shortcut for candidates that share no row and no column (most of the air tracker's
    rounds) chooses what the Hungarian algorithm chooses on them: every one."""
    rng = np.random.default_rng(7)
    for n in (1, 2, 5, 40):
        rows = rng.permutation(3 * n)[:n]
        cols = rng.permutation(3 * n)[:n]
        cost = rng.normal(size=n)
        ks = assign(rows, cols, cost)
        _, r_inv = assign_module._rank(rows)
        _, c_inv = assign_module._rank(cols)
        solved = assign_module._hungarian(np.arange(n), r_inv, c_inv, n, n, cost)
        assert ks.dtype == np.intp and np.array_equal(ks, np.arange(n))
        assert np.array_equal(np.sort(solved), ks)
