"""The reported covariance as a mixture over association hypotheses (`associate.ambiguity`)."""

from __future__ import annotations

import numpy as np
import pytest

from truceline.associate import ambiguity as amb
from truceline.associate.acoustic import AcousticAssociator
from truceline.associate.network import AcousticNetwork
from truceline.config import AssociateSettings
from truceline.geo.projection import TangentPlane
from truceline.locate.atmosphere import Atmosphere
from truceline.locate.solver import Arrivals, ellipse_k2, locate
from truceline.records import Sensor

EPOCH = 1_772_323_200_000_000_000  # 2026-03-01T00:00:00Z
C = 331.3 * np.sqrt(1 + 20 / 273.15)
PLANE = TangentPlane(37.8, 48.4)
SOURCE = (300.0, -200.0)
TAU = 100.0


def _network(rng) -> tuple[AcousticNetwork, np.ndarray]:
    g = np.arange(-4000, 4001, 1000.0)
    pts = np.array([(x, y) for y in g for x in g]) + rng.normal(0, 100, (g.size**2, 2))
    lon, lat = PLANE.inverse(pts[:, 0], pts[:, 1])
    sensors = [
        Sensor(id=f"S{i:03d}", kind="acoustic", operator="m", lon=float(a), lat=float(b))
        for i, (a, b) in enumerate(zip(lon, lat, strict=True))
    ]
    return AcousticNetwork(sensors), pts


def _event(extra_shift_s: float | None, ambiguity: bool = True):
    """One source heard by the sensors within 3 km (seeded noise). With `extra_shift_s`, the
    sensor nearest the source has its detection moved late by that much and a second one
    (another sound: a neighbouring round) as early, around the true arrival: both fall inside
    the gate, and which is the source's cannot be told from the times."""
    rng = np.random.default_rng(11)
    net, pts = _network(rng)
    d = np.hypot(pts[:, 0] - SOURCE[0], pts[:, 1] - SOURCE[1])
    heard = np.flatnonzero(d < 3000)
    t = TAU + d[heard] / C + rng.normal(0, 0.01, heard.size)
    rows = [(f"o{i}", int(s), float(ti)) for i, (s, ti) in enumerate(zip(heard, t, strict=True))]
    if extra_shift_s is not None:
        k = int(np.argmin(d[heard]))
        s, ti = rows[k][1], TAU + d[heard[k]] / C
        rows[k] = (rows[k][0], s, ti + extra_shift_s)
        rows.append(("other", s, ti - extra_shift_s))
    settings = AssociateSettings(ambiguity=ambiguity)
    assoc = AcousticAssociator(net, Atmosphere(), EPOCH, settings)
    rows.sort(key=lambda r: r[2])
    assoc.add(
        [r[0] for r in rows],
        [r[1] for r in rows],
        [EPOCH + round(r[2] * 1e9) for r in rows],
        [1] * len(rows),
    )
    assoc.flush()
    assert len(assoc.events) == 1
    return assoc, assoc.events[0]


def _inside(cov: np.ndarray, offset: np.ndarray, k2: float) -> bool:
    return bool(offset @ np.linalg.solve(cov[:2, :2], offset) <= k2)


def test_an_event_with_no_alternative_keeps_its_covariance():
    assoc, ev = _event(None)
    reported, ambiguity = assoc.reported(ev)
    assert ambiguity is not None and ambiguity.hypotheses == 0
    assert reported is ev.solution
    np.testing.assert_array_equal(reported.cov, ev.solution.cov)


def test_a_neighbours_detection_in_the_gate_widens_the_ellipse_over_both_solutions():
    assoc, ev = _event(0.02)
    sol = ev.solution
    before = sol.cov.copy()
    reported, ambiguity = assoc.reported(ev)
    assert ambiguity is not None and ambiguity.hypotheses >= 1
    assert 0.0 < ambiguity.p_taken < 0.9
    # The origin and the locator's own solution are untouched.
    assert (reported.x_m, reported.y_m, reported.tau_s) == (sol.x_m, sol.y_m, sol.tau_s)
    np.testing.assert_array_equal(ev.solution.cov, before)
    # Wider: the increment is positive semi-definite and not zero.
    increment = reported.cov[:2, :2] - sol.cov[:2, :2]
    assert np.linalg.eigvalsh(increment).min() > -1e-9
    assert np.trace(increment) > 0.05 * np.trace(sol.cov[:2, :2])
    # The other hypothesis: the sensor's other detection taken instead, relocated.
    det = np.array(ev.det)
    other = int(np.flatnonzero(assoc.obs_id.v == "other")[0])
    at_sensor = np.flatnonzero(assoc.sensor.v == assoc.sensor.v[other])  # the two detections
    pos = int(np.flatnonzero(np.isin(det, at_sensor))[0])
    swap = det.copy()
    swap[pos] = at_sensor[at_sensor != det[pos]][0]
    arr: Arrivals = assoc._arrivals(swap, ev.projection)
    base = locate(assoc._arrivals(det, ev.projection), ev.speed, (0.0, 0.0, ev.tau_s))
    alt = locate(arr, ev.speed, (0.0, 0.0, ev.tau_s))
    assert base is not None and alt is not None
    shift = np.array([alt.x_m - base.x_m, alt.y_m - base.y_m])
    assert np.hypot(*shift) > 1.0  # the two hypotheses are distinguishable places
    k2 = ellipse_k2(0.95, sol.dof, sol.prior_dof)
    assert _inside(reported.cov, shift, k2)
    assert _inside(reported.cov, np.zeros(2), k2)
    # and the reported ellipse is larger than the locator's
    assert reported.ellipse95()[0] > sol.ellipse95()[0]


def test_off_reports_the_locators_solution():
    assoc, ev = _event(0.02, ambiguity=False)
    reported, ambiguity = assoc.reported(ev)
    assert ambiguity is None and reported is ev.solution


def _hypotheses(assoc, ev):
    """The event's arrivals, its solution (no outlier removal, as the mixture locates) and a set
    of hypotheses: each arrival left out in turn, the nearest sensor's other detection taken
    instead of the one taken, and two arrivals moved by 2 and 3 sigma."""
    det = np.asarray(ev.det)
    arr = assoc._arrivals(det, ev.projection)
    settings = assoc.locator.model_copy(update={"max_outliers": 0})
    base = locate(arr, ev.speed, (0.0, 0.0, ev.tau_s), settings)
    assert base is not None and base.n_used == arr.n
    other = int(np.flatnonzero(assoc.obs_id.v == "other")[0])
    at_sensor = np.flatnonzero(assoc.sensor.v == assoc.sensor.v[other])  # its two detections
    at = int(np.flatnonzero(np.isin(det, at_sensor))[0])
    alternative = at_sensor[at_sensor != det[at]][0]
    pos = np.concatenate([np.arange(arr.n), [at, 0, 1]])
    t_new = np.concatenate(
        [np.full(arr.n, np.nan), [assoc.t.v[alternative], arr.t_s[0] + 0.02, arr.t_s[1] - 0.03]]
    )
    wind = (base.speed.wind_e_mps, base.speed.wind_n_mps)
    theta0 = np.array([base.x_m, base.y_m, base.tau_s, *wind, base.speed.c_mps])
    return arr, base, theta0, settings, pos, t_new


def test_the_linearised_update_agrees_with_relocating_each_hypothesis():
    assoc, ev = _event(0.02)
    arr, base, theta0, settings, pos, t_new = _hypotheses(assoc, ev)
    shifts, chi2, chi2_model, unscaled, ok, chi2_0, unscaled_0 = amb.linearised(
        arr, ev.speed, theta0, settings, pos, t_new
    )
    e_shifts, e_chi2, e_unscaled, e_ok = amb._relocated(arr, ev.speed, base, settings, pos, t_new)
    assert ok.all() and e_ok.all()
    # the hypotheses move the origin: metres for the swaps, less for leaving a sensor out
    assert np.hypot(*e_shifts[arr.n :, :2].T).min() > 0.5
    miss = np.hypot(*(shifts - e_shifts)[:, :2].T)
    # within 1% and the solvers' stopping tolerance (0.01 m)
    assert (miss <= 0.01 * np.hypot(*e_shifts[:, :2].T) + 0.01).all()
    np.testing.assert_allclose(chi2 - chi2_0, e_chi2 - base.chi2, atol=0.01)
    np.testing.assert_allclose(chi2_model, chi2, atol=0.01)  # the linearisation is trusted
    ldet = np.linalg.slogdet(unscaled)[1] - np.linalg.slogdet(unscaled_0)[1]
    e_ldet = np.linalg.slogdet(e_unscaled)[1] - np.linalg.slogdet(base.cov / base.scale2)[1]
    np.testing.assert_allclose(ldet, e_ldet, atol=0.01)
    assert (ldet[: arr.n] > 0).all()  # one arrival fewer: a wider solution


def test_the_compiled_linearised_update_gives_the_numpy_references_results():
    assoc, ev = _event(0.02)
    arr, _, theta0, settings, pos, t_new = _hypotheses(assoc, ev)
    compiled = amb.linearised(arr, ev.speed, theta0, settings, pos, t_new, kernel="compiled")
    reference = amb.linearised(arr, ev.speed, theta0, settings, pos, t_new, kernel="numpy")
    np.testing.assert_array_equal(compiled[4], reference[4])
    # the same fixed point, each stopping within the locator's tolerance (0.01 m)
    np.testing.assert_allclose(compiled[0], reference[0], atol=0.01)
    for a, b in zip(compiled[1:4], reference[1:4], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-3)


def test_the_mixture_by_linear_update_matches_the_one_by_relocation():
    assoc, ev = _event(0.02)
    args = (np.asarray(ev.det), ev.projection, ev.speed, ev.tau_s, ev.solution.cov)
    linear = amb.mixture(assoc, *args)
    exact = amb.mixture(assoc, *args, method="exact")
    assert exact.hypotheses >= 1 and linear.hypotheses == exact.hypotheses
    assert linear.relocations == 1 < exact.relocations  # only the taken set was located
    np.testing.assert_allclose(linear.cov, exact.cov, rtol=0.02)
    assert linear.p_taken == pytest.approx(exact.p_taken, rel=0.02)


def test_hypotheses_the_linearisation_does_not_fit_are_relocated():
    assoc, ev = _event(0.02)
    args = (np.asarray(ev.det), ev.projection, ev.speed, ev.tau_s, ev.solution.cov)
    exact = amb.mixture(assoc, *args, method="exact")
    # with no tolerance every hypothesis fails the check, so all are relocated: the exact result
    assoc.s = assoc.s.model_copy(update={"ambiguity_linear_tolerance": 0.0})
    checked = amb.mixture(assoc, *args)
    assert checked.relocations == exact.relocations
    np.testing.assert_array_equal(checked.cov, exact.cov)


def _salvo(seed: int):
    """Three sources a few hundred metres and a second apart heard by the grid's sensors
    within 3.5 km (seeded noise, a tenth of the detections with azimuths, a few other
    sounds): neighbouring rounds' detections inside each other's gates."""
    rng = np.random.default_rng(seed)
    net, pts = _network(rng)
    rows = []
    for k, (sx, sy, tau) in enumerate([(300.0, -200.0, 100.0), (900.0, 300.0, 100.8),
                                       (-500.0, 600.0, 101.5)]):  # fmt: skip
        d = np.hypot(pts[:, 0] - sx, pts[:, 1] - sy)
        for s in np.flatnonzero(d < 3500):
            t = tau + d[s] / C + rng.normal(0, 0.01)
            az = np.degrees(np.arctan2(sx - pts[s, 0], sy - pts[s, 1])) + rng.normal(0, 5)
            with_az = rng.random() < 0.1
            rows.append((f"s{k}-{s}", int(s), t, az % 360 if with_az else np.nan, 5.0))
    for i in range(6):
        rows.append((f"x{i}", int(rng.integers(len(pts))), 100 + rng.uniform(0, 12), np.nan, 5.0))
    rows.sort(key=lambda r: r[2])
    assoc = AcousticAssociator(net, Atmosphere(), EPOCH, AssociateSettings())
    assoc.add(
        [r[0] for r in rows],
        [r[1] for r in rows],
        [EPOCH + round(r[2] * 1e9) for r in rows],
        [1] * len(rows),
        [r[3] for r in rows],
        [r[4] if np.isfinite(r[3]) else np.nan for r in rows],
    )
    assoc.flush()
    return assoc


def _same(a: amb.Ambiguity, b: amb.Ambiguity) -> None:
    np.testing.assert_array_equal(a.cov, b.cov)
    assert (a.hypotheses, a.p_taken, a.relocations) == (b.hypotheses, b.p_taken, b.relocations)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("tolerance", [None, 0.0])
def test_the_compiled_mixture_gives_the_numpy_forms_numbers(seed, tolerance):
    """The compiled steps (`_mixture_compiled`) against the NumPy form, bit for bit, on every
    event of a seeded salvo (with azimuths, other sounds, alternatives in the gates); with no
    linearisation tolerance every hypothesis is relocated (the compiled path's relocation)."""
    assoc = _salvo(seed)
    if tolerance is not None:
        assoc.s = assoc.s.model_copy(update={"ambiguity_linear_tolerance": tolerance})
    with_alternatives = 0
    for ev in assoc.events:
        args = (np.asarray(ev.det), ev.projection, ev.speed, ev.tau_s, ev.solution.cov)
        compiled = amb.mixture(assoc, *args)
        _same(compiled, amb.mixture(assoc, *args, kernel="numpy"))
        with_alternatives += compiled.hypotheses > 0
    assert with_alternatives >= 2


def test_the_sensors_cubes_give_the_kd_trees_sensors():
    """`kernel.sensors_within` finds the sensors cKDTree.query_ball_point finds, with their
    distances as np.linalg.norm computes them, and leaves a sensor on the sphere to the tree."""
    from truceline.associate.kernel import sensors_within

    rng = np.random.default_rng(5)
    net, _ = _network(rng)
    for _ in range(300):
        origin = PLANE.to_ecef(*rng.normal(0, 3000, 2))[0]
        radius = float(rng.uniform(100, 9000))
        dist, unsure = sensors_within(*net.cells(), origin, radius)
        near = np.asarray(net.tree.query_ball_point(origin, r=radius), dtype=np.int64)
        expected = np.sort(np.linalg.norm(net.ecef[near] - origin, axis=1))
        assert not unsure
        np.testing.assert_array_equal(np.sort(dist), expected)
    origin = net.ecef[7] + np.array([300.0, -400.0, 0.0])
    radius = float(np.linalg.norm(net.ecef[7] - origin))
    assert sensors_within(*net.cells(), origin, radius)[1]


def test_locate_all_rows_gives_locates_solution_and_rows():
    """`locate_all_rows` (one compiled call) against `locate` and `misfit` at its solution."""
    from truceline.locate.solver import locate_all_rows, misfit

    assoc = _salvo(2)
    settings = assoc.locator_without_outliers
    for ev in assoc.events:
        arr = assoc._arrivals(np.asarray(ev.det), ev.projection)
        arr = Arrivals(
            np.ascontiguousarray(arr.x_m), np.ascontiguousarray(arr.y_m), arr.t_s,
            arr.sigma_s, arr.az_deg, arr.az_sigma_deg,
        )  # fmt: skip
        sol = locate(arr, ev.speed, (0.0, 0.0, ev.tau_s), settings)
        found = locate_all_rows(arr, ev.speed, (0.0, 0.0, ev.tau_s), settings)
        if sol is None or sol.n_used != arr.n:
            assert found is None
            continue
        theta, r, jac, cov_full, chi2, scale2 = found
        assert (theta[0], theta[1], theta[2]) == (sol.x_m, sol.y_m, sol.tau_s)
        assert (chi2, scale2) == (sol.chi2, sol.scale2)
        np.testing.assert_array_equal(cov_full[:3, :3] * scale2, sol.cov)
        r_ref, jac_ref = misfit(theta, arr, ev.speed, settings)
        np.testing.assert_array_equal(r, r_ref)
        np.testing.assert_array_equal(jac, jac_ref)
