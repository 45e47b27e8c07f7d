"""Closed-form starting points for the locator: the linearised time-difference solution.

With a constant speed c, |x - s_k|^2 = c^2 (t_k - tau)^2 for each arrival k. Subtracting the
equation of a reference arrival r removes |x|^2 and tau^2 and leaves equations linear in
(x_e, x_n, tau):

    -2 (s_k - s_r) . x + 2 c^2 (t_k - t_r) tau = c^2 (t_k^2 - t_r^2) - |s_k|^2 + |s_r|^2

Four arrivals at sensors not on one line give a unique solution (three equations); more give a
least-squares one. Positions are taken relative to the reference sensor and times relative to the
reference arrival, for conditioning. `solve_many` solves many four-arrival subsets at once
(RANSAC hypotheses).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]


def linear_design(sx: F64, sy: F64, t: F64, c: float) -> tuple[F64, F64]:
    """The linear system A theta = b for arrays of shape (..., n) with arrival 0 as reference;
    theta = (x_e, x_n, tau) relative to sensor 0's position and arrival time."""
    dx, dy, dt = sx[..., 1:] - sx[..., :1], sy[..., 1:] - sy[..., :1], t[..., 1:] - t[..., :1]
    a = np.stack([-2.0 * dx, -2.0 * dy, 2.0 * c * c * dt], axis=-1)
    b = c * c * dt * dt - dx * dx - dy * dy
    return a, b


def solve_many(
    sx: F64, sy: F64, t: F64, c: float, min_condition: float = 1e-9
) -> tuple[F64, F64, F64]:
    """Solve H subsets of 4 arrivals each (arrays of shape (H, 4)).

    Returns x, y (same frame as the inputs) and tau (same clock as `t`), NaN where the subset's
    geometry is degenerate (sensors on a line, or the system ill-conditioned).
    """
    a, b = linear_design(sx, sy, t, c)  # (H, 3, 3), (H, 3)
    det = np.linalg.det(a)
    scale = np.prod(np.linalg.norm(a, axis=-1), axis=-1) + 1e-300
    ok = np.abs(det) > min_condition * scale
    theta = np.full(b.shape, np.nan)
    if ok.any():
        theta[ok] = np.linalg.solve(a[ok], b[ok][..., None])[..., 0]
    return theta[:, 0] + sx[:, 0], theta[:, 1] + sy[:, 0], theta[:, 2] + t[:, 0]


def solve_lstsq(sx: F64, sy: F64, t: F64, c: float) -> tuple[float, float, float] | None:
    """Least-squares linear solution for one set of n >= 4 arrivals; None if degenerate."""
    a, b = linear_design(sx, sy, t, c)
    theta, _, rank, _ = np.linalg.lstsq(a, b, rcond=None)
    if rank < 3 or not np.all(np.isfinite(theta)):
        return None
    return float(theta[0] + sx[0]), float(theta[1] + sy[0]), float(theta[2] + t[0])
