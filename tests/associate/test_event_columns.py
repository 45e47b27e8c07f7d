"""The recent-event search of the associator's event columns: the result of a scan of all
rows, though it skips the rows before the last call's cut-off."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from truceline.associate.acoustic import _EventColumns


def _event(tau: float) -> SimpleNamespace:
    speed = SimpleNamespace(c_mps=340.0, wind_e_mps=0.0, wind_n_mps=0.0)
    return SimpleNamespace(
        tau_s=tau,
        ecef=np.zeros(3),
        enu=np.zeros((2, 3)),
        solution=SimpleNamespace(speed=speed),
        sigma_pred_s=0.01,
        closed=False,
        dirty=False,
    )


def _full_scan(tau: np.ndarray, horizon_s: float) -> np.ndarray:
    """The search as a scan of every row."""
    older = np.flatnonzero(tau < horizon_s - 600)
    first = int(older[-1]) + 1 if older.size else 0
    return (first + np.flatnonzero(tau[first:] >= horizon_s))[::-1]


step = st.one_of(
    st.tuples(st.just("append"), st.floats(-300, 400)),  # origin time after the last, jittered
    st.tuples(st.just("rewrite"), st.floats(0, 1)),  # a row located again (which, where)
    st.tuples(st.just("recent"), st.floats(0, 900)),  # horizon advance
    st.tuples(st.just("back"), st.floats(0, 1)),  # the horizon goes back (end of input: -inf)
)


@settings(max_examples=300, deadline=None)
@given(st.lists(step, min_size=1, max_size=120))
def test_recent_is_a_full_scan(steps: list[tuple[str, float]]) -> None:
    col = _EventColumns(capacity=4)
    clock = horizon = 0.0
    for kind, value in steps:
        if kind == "append":
            clock += abs(value) / 4
            col.set(col.n, _event(clock + value))
        elif kind == "rewrite" and col.n:
            i = min(int(value * col.n), col.n - 1)
            col.set(i, _event(col.tau[i] + (value - 0.5) * 2000))
        elif kind == "recent":
            horizon += value
            got = col.recent(horizon)
            assert np.array_equal(got, _full_scan(col.tau[: col.n], horizon))
        elif kind == "back":
            h = -np.inf if value < 0.5 else horizon - 1000 * value
            got = col.recent(h)
            assert np.array_equal(got, _full_scan(col.tau[: col.n], h))
            horizon = max(horizon, 0.0)
    assert np.array_equal(col.recent(horizon), _full_scan(col.tau[: col.n], horizon))


def test_recent_skips_old_rows() -> None:
    """After a call, rows older than its cut-off are not scanned again."""
    col = _EventColumns()
    for t in range(0, 5000, 10):
        col.set(col.n, _event(float(t)))
    first = col.recent(4000.0)
    assert first.tolist() == list(range(col.n - 1, 399, -1))
    assert col.floor == 340  # rows before 3,400 s are more than 600 s older than the horizon
    col.set(10, _event(4500.0))  # an old row located again: the next call scans all rows
    assert col.floor == 0
    assert np.array_equal(col.recent(4000.0), first)  # as a full scan: rows after 10 are older
    assert col.floor == 340
    col.set(col.n - 1, _event(2000.0))  # the newest row moved back past the cut-off
    assert col.recent(4000.0).size == 0  # as a full scan: the search stops at it
    assert col.floor == col.n
