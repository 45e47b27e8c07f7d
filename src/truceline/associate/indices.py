"""Set operations on arrays of indices (detections, sensors, hypotheses), at the cost of a few
array operations instead of NumPy's general ones; and the (sensor, time) key detections are
sorted by."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

KEY_STRIDE_S = 1.0e7
"""Seconds between sensors in a (sensor, time) key, sensor * KEY_STRIDE_S + time: one float
that sorts detections by sensor, then time (times are seconds within the run's day)."""


def isin(a, b) -> NDArray[np.bool_]:
    """`np.isin(a, b)` for integer arrays, by a lookup table when their values span a range of
    the order of their sizes (detection, sensor and hypothesis indices): np.isin's own choice
    of method costs tens of microseconds per call, and association makes thousands."""
    a, b = np.asarray(a), np.asarray(b)
    if a.size == 0 or b.size == 0 or a.dtype.kind not in "iu" or b.dtype.kind not in "iu":
        return np.isin(a, b)
    lo, hi = min(int(a.min()), int(b.min())), max(int(a.max()), int(b.max()))
    if hi - lo > 4 * (a.size + b.size) + 4096:
        return np.isin(a, b)
    table = np.zeros(hi - lo + 1, dtype=bool)
    table[b - lo] = True
    return table[a - lo]
