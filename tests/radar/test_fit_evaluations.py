"""The Levenberg-Marquardt fit of the backtracker evaluates what it needs once: a Jacobian only
where a row's state moved, the residuals at the start from the first Jacobian's evaluation."""

from __future__ import annotations

import numpy as np
import pytest

from truceline.radar import kernel, projectile
from truceline.radar.projectile import backtrack_many

from .test_kernel import noisy_tracks


@pytest.mark.parametrize("jacobian", ["variational", "difference"])
def test_no_jacobian_evaluated_twice_at_one_state_in_a_fit(monkeypatch, jacobian):
    monkeypatch.setattr(projectile, "JACOBIAN", jacobian)
    seen: list[tuple] = []  # (fit, row, state) of each Jacobian row evaluated
    fits = {"n": 0, "residuals": 0}
    plain, plain_var, plain_fit = kernel.fit_residuals, kernel.fit_residuals_var, projectile._fit
    rows_of: dict[bytes, int] = {}

    def jacobian_rows(x, xyz, v0) -> None:
        seen.extend(
            (fits["n"], rows_of.setdefault(xyz[i].tobytes() + v0[i].tobytes(), i), x[i].tobytes())
            for i in range(x.shape[0])
        )

    def counting(x, t, *rest):
        if rest[9]:  # `jacobian`
            jacobian_rows(x, rest[0], rest[3])
        else:
            fits["residuals"] += 1
        return plain(x, t, *rest)

    def counting_var(x, t, *rest):
        jacobian_rows(x, rest[0], rest[3])
        return plain_var(x, t, *rest)

    def one_fit(*args, **kwargs):
        fits["n"] += 1
        rows_of.clear()
        return plain_fit(*args, **kwargs)

    tracks = noisy_tracks(np.random.default_rng(5))
    before = backtrack_many(tracks, step_s=0.05)
    monkeypatch.setattr(kernel, "fit_residuals", counting)
    monkeypatch.setattr(kernel, "fit_residuals_var", counting_var)
    monkeypatch.setattr(projectile, "_fit", one_fit)
    after = backtrack_many(tracks, step_s=0.05)
    assert fits["n"] == 2 and seen and len(set(seen)) == len(seen)
    # Up to MAX_ITERATIONS trial evaluations per fit, none of the residuals alone at the start.
    assert fits["residuals"] <= 2 * projectile.MAX_ITERATIONS
    for a, b in zip(before, after, strict=True):
        assert np.array_equal(a.state, b.state) and a.chi2 == b.chi2


def test_start_as_numpys_polynomials():
    """The fit's starting flight (`_prepare`): the start state and the fence term bit for bit
    those of np.polyval / np.polyder of the same fits."""
    from truceline.radar.fence import fence_term

    tracks = noisy_tracks(np.random.default_rng(5))
    prepared = projectile._prepare_all(tracks)
    for track, p in zip(tracks, prepared, strict=True):
        coefs = [np.polyfit(p.t, p.xyz[:, axis], 2) for axis in range(3)]

        def start(times, coefs=coefs):
            pos = np.column_stack([np.polyval(c, times) for c in coefs])
            vel = np.column_stack([np.polyval(np.polyder(c), times) for c in coefs])
            return pos, vel

        p0, v0 = start(np.zeros(1))
        assert np.array_equal(p.x0, np.concatenate([p0[0], v0[0]]))
        if track.fence is not None:
            want = fence_term(p.plane, track.fence, float(p.t[0]), start)
            assert (want is None) == (p.fence is None)
            if want is not None:
                assert want.time_s == p.fence.time_s and want.boundary == p.fence.boundary
                assert np.array_equal(want.point, p.fence.point)
                assert np.array_equal(want.normal, p.fence.normal)


def test_fence_margins_of_stacked_points_as_one_call_each():
    """`fence_term` takes the margins at the two looks and at the probe points in one `_view`
    call: each row the same numbers as in calls of 2 and 4 points (what it made before)."""
    from truceline.geo.projection import TangentPlane
    from truceline.radar.fence import Fence, _view

    rng = np.random.default_rng(3)
    for _ in range(200):
        plane = TangentPlane(float(rng.uniform(30, 40)), float(rng.uniform(45, 50)))
        lon, lat = plane.inverse(*rng.uniform(-20_000, 20_000, 2))
        fence = Fence(float(lon[0]), float(lat[0]), float(rng.uniform(0, 300)),
                      float(rng.uniform(0, 360)), 90.0, 30_000.0, 1.0, 0.25)  # fmt: skip
        pts = rng.uniform(-15_000, 15_000, (6, 3))
        pts[:, 2] = rng.uniform(0, 8_000, 6)
        both = _view(plane, fence, pts)
        assert np.array_equal(both[:2], _view(plane, fence, pts[:2]))
        assert np.array_equal(both[2:], _view(plane, fence, pts[2:]))
