"""The point-mass ballistic model: solving for range, times of flight, the vectorised table."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from truceline.ballistics import (
    BallisticTable,
    Projectile,
    fly,
    impact,
    max_range,
    shoot,
    solve_elevation,
    time_of_flight,
)
from truceline.weapons import weapon_classes

BALLISTIC = [w for w in weapon_classes().values() if w.ballistic]
GUN = Projectile.for_weapon(weapon_classes()["artillery-100mm-plus"])
MORTAR = Projectile.for_weapon(weapon_classes()["mortar"])


@pytest.mark.parametrize("weapon", [w for w in BALLISTIC if w.id != "tank"], ids=lambda w: w.id)
def test_calibrated_max_range_matches_catalogue(weapon):
    _, reach = max_range(Projectile.for_weapon(weapon))
    assert reach / 1e3 == pytest.approx(weapon.max_range_km, rel=0.01)


def test_155mm_time_of_flight_at_20km_is_plausible():
    # Firing tables of 152/155 mm guns at full charge: roughly 40-70 s to 20 km.
    assert 40.0 <= time_of_flight(GUN, 20_000.0) <= 70.0


def test_mortar_high_angle_time_of_flight():
    el = solve_elevation(MORTAR, 5_000.0, "high")
    assert 45.0 < el < 85.0
    assert 35.0 <= impact(MORTAR, el)[1] <= 60.0


def test_vacuum_limit():
    # Without drag the range is v² sin(2θ)/g and the time 2 v sin(θ)/g.
    p = Projectile(300.0, 10.0, 100.0, 0.0)
    r, t = impact(p, 30.0)
    assert r == pytest.approx(300.0**2 * np.sin(np.radians(60)) / 9.80665, rel=1e-8)
    assert t == pytest.approx(2 * 300.0 * 0.5 / 9.80665, rel=1e-8)


@settings(max_examples=15, deadline=None)
@given(fraction=st.floats(0.05, 0.95))
def test_solve_round_trip_low(fraction):
    reach = max_range(GUN)[1]
    target = fraction * reach
    el = solve_elevation(GUN, target, "low")
    assert impact(GUN, el)[0] == pytest.approx(target, abs=0.01)


@settings(max_examples=10, deadline=None)
@given(fraction=st.floats(0.3, 0.95))
def test_solve_round_trip_high(fraction):
    target = fraction * max_range(MORTAR)[1]
    el = solve_elevation(MORTAR, target, "high")
    assert el >= max_range(MORTAR)[0]
    assert impact(MORTAR, el)[0] == pytest.approx(target, abs=0.01)


def test_out_of_reach_raises():
    with pytest.raises(ValueError, match="outside"):
        solve_elevation(GUN, 45_000.0)


@pytest.mark.parametrize("weapon", BALLISTIC, ids=lambda w: w.id)
def test_table_agrees_with_exact_integration(weapon):
    p = Projectile.for_weapon(weapon)
    table = BallisticTable.build(p)
    branch = weapon.trajectory
    lo, hi = table.reach_m(branch)
    ranges = np.linspace(lo + 0.05 * (hi - lo), hi - 0.05 * (hi - lo), 4)
    el, tof = table.solve(ranges, branch)
    for r, e, t in zip(ranges, el, tof, strict=True):
        exact_r, exact_t = impact(p, e)
        assert exact_r == pytest.approx(r, rel=1e-3)
        assert exact_t == pytest.approx(t, abs=0.005)
        # Positions along the way agree with the dense exact solution.
        traj = shoot(p, e)
        times = np.linspace(0, exact_t, 7)
        x, z = table.position(np.full(7, e), times)
        state = traj.state_at(times)
        assert np.max(np.abs(x - state[1])) < max(2.0, 1e-3 * r)
        assert np.max(np.abs(z - state[2])) < max(2.0, 1e-3 * r)


def test_backward_flight_recovers_the_launch_point():
    # A state measured mid-flight, integrated back in time to height 0, lands on the gun.
    el = solve_elevation(GUN, 15_000.0)
    traj = shoot(GUN, el)
    mid = traj.state_at([10.0])[:, 0]
    back = fly(GUN, mid[:3], mid[3:], backward=True)
    assert np.hypot(back.end[0], back.end[1]) < 0.01
    assert back.duration_s == pytest.approx(10.0, abs=1e-6)
