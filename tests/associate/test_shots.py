"""Launch or impact from labels, and pairing by time of flight."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from truceline.ballistics import BallisticTable, Projectile
from truceline.config import ShotsSettings
from truceline.geo.projection import destination
from truceline.shots import ShotInput, decide, label_log_odds
from truceline.weapons import weapon_classes


def tof(weapon: str, range_m: float) -> float:
    table = BallisticTable.build(Projectile.for_weapon(weapon_classes()[weapon]))
    return float(table.solve(range_m, "low")[1])


def test_label_log_odds():
    s = ShotsSettings()
    assert label_log_odds(3, 1, s) == pytest.approx(2 * np.log(0.8 / 0.1))
    assert label_log_odds(0, 0, s) == 0.0


def test_unpaired_events_follow_their_labels():
    d = decide([ShotInput(37.0, 48.0, 0.0, 5, 1), ShotInput(38.0, 47.0, 10.0, 1, 4)])
    assert [x.type for x in d] == ["launch", "impact"]
    assert d[0].paired is None and d[0].p_launch > 0.99


def test_a_launch_pairs_with_the_impact_its_time_of_flight_fits():
    lon, lat = 37.2, 48.3
    i_lon, i_lat = destination(lon, lat, 300.0, 20_000.0)
    flight = tof("artillery-100mm-plus", 20_000.0)
    # Labels mislead (the launch looks like an impact); the pair's timing decides.
    events = [
        ShotInput(lon, lat, 100.0, 2, 3),
        ShotInput(float(i_lon), float(i_lat), 100.0 + flight, 1, 4),
    ]
    d = decide(events)
    assert d[0].paired == 1 and d[1].paired == 0
    assert (d[0].type, d[1].type) == ("launch", "impact")
    assert d[0].weapon == "artillery-100mm-plus"


def test_a_barrage_pairs_each_round_with_its_own_impact():
    lon, lat = 37.2, 48.3
    flight = tof("artillery-100mm-plus", 15_000.0)
    events = []
    for k in range(4):  # four rounds ten seconds apart, impacts a few tens of metres apart
        i_lon, i_lat = destination(lon, lat, 45.0, 15_000.0 + 30 * k)
        events.append(ShotInput(lon, lat, 10.0 * k, 4, 1))
        events.append(ShotInput(float(i_lon), float(i_lat), 10.0 * k + flight + 0.09 * k, 1, 4))
    d = decide(events)
    for k in range(4):
        assert d[2 * k].paired == 2 * k + 1, [x.paired for x in d]


def test_times_that_fit_no_weapon_do_not_pair():
    i_lon, i_lat = destination(37.2, 48.3, 0.0, 20_000.0)
    d = decide(
        [ShotInput(37.2, 48.3, 0.0, 4, 1), ShotInput(float(i_lon), float(i_lat), 400.0, 1, 4)]
    )
    assert d[0].paired is None and d[1].paired is None


def _barrage(n: int = 12) -> list[ShotInput]:
    lon, lat = 37.2, 48.3
    i_lon, i_lat = destination(lon, lat, 300.0, 18_000.0)
    flight = tof("artillery-100mm-plus", 18_000.0)
    launches = [ShotInput(lon, lat, 100.0 + 7 * k, 4, 1) for k in range(n)]
    impacts = [
        ShotInput(float(i_lon), float(i_lat), 100.0 + 7 * k + flight, 1, 4) for k in range(n)
    ]
    return launches + impacts


def test_a_cluster_too_big_for_a_dense_assignment_is_paired_greedily(monkeypatch):
    import truceline.assign as assign

    dense = decide(_barrage())
    monkeypatch.setattr(assign, "MAX_CELLS", 1)
    greedy = decide(_barrage())
    n = len(greedy) // 2
    # Each launch with its own impact either way, every event at most once.
    assert [d.paired for d in greedy] == [d.paired for d in dense]
    assert [d.paired for d in greedy[:n]] == list(range(n, 2 * n))


def test_events_a_day_apart_are_never_candidates():
    # The same barrage repeated every hour for a day at the same place: each round pairs within
    # its own hour (candidates are searched in space and time together).
    day = []
    for hour in range(24):
        day += [
            ShotInput(e.lon, e.lat, e.t_s + 3600 * hour, e.n_launch, e.n_impact)
            for e in _barrage(4)
        ]
    decisions = decide(day)
    for i, d in enumerate(decisions):
        assert d.paired is not None
        assert abs(day[d.paired].t_s - day[i].t_s) < 120


def test_candidate_search_finds_what_every_pair_checked_finds():
    """The blockwise search (per-branch time and reach gates) returns exactly the pairs, best
    branches and z of checking every pair of events against every branch."""
    from truceline.geo.projection import geodesic_distance_m
    from truceline.shots import _BLOCK, _candidates, _tables

    rng = np.random.default_rng(11)
    n = 3 * _BLOCK + 17  # several blocks and a part block
    lon = 37.0 + rng.uniform(-0.8, 0.8, n)
    lat = 48.0 + rng.uniform(-0.5, 0.5, n)
    t = rng.uniform(0.0, 3600.0, n)
    settings = ShotsSettings()
    tables = _tables()
    a, b, z, w = _candidates(lon, lat, t, tables, settings)

    window = 1.2 * max(tb.flight_s(br)[1] for _, tb, br in tables)
    ia, ib = np.nonzero((t[None, :] - t[:, None] > 0) & (t[None, :] - t[:, None] <= window))
    r = geodesic_distance_m(lon[ia], lat[ia], lon[ib], lat[ib])
    dt = t[ib] - t[ia]
    best_z, best_w = np.full(ia.size, np.inf), np.full(ia.size, -1)
    for k, (_, table, branch) in enumerate(tables):
        lo, hi = table.reach_m(branch)
        ok = (r >= lo) & (r <= hi)
        _, tof = table.solve(r[ok], branch)
        zk = (dt[ok] - tof) / (settings.tof_relative_sigma * tof + settings.tof_sigma_s)
        better = np.abs(zk) < np.abs(best_z[ok])
        best_z[np.flatnonzero(ok)[better]] = zk[better]
        best_w[np.flatnonzero(ok)[better]] = k
    fit = np.abs(best_z) <= settings.max_z
    expected = sorted(zip(ia[fit], ib[fit], best_w[fit], strict=True))
    assert len(expected) > 100
    assert sorted(zip(a, b, w, strict=True)) == expected
    order = np.lexsort((ib[fit], ia[fit]))
    assert np.allclose(z, best_z[fit][order], rtol=0, atol=1e-12)


def test_the_candidate_filter_drops_only_the_pairs_it_is_told_to():
    """`pair_ok` (the labels' test in `decide`) removes its pairs and nothing else."""
    from truceline.shots import _candidates, _tables

    rng = np.random.default_rng(12)
    n = 600
    lon = 37.0 + rng.uniform(-0.8, 0.8, n)
    lat = 48.0 + rng.uniform(-0.5, 0.5, n)
    t = rng.uniform(0.0, 1800.0, n)
    settings, tables = ShotsSettings(), _tables()
    every = _candidates(lon, lat, t, tables, settings)
    even = _candidates(lon, lat, t, tables, settings, lambda a, b: (a + b) % 2 == 0)
    keep = (every[0] + every[1]) % 2 == 0
    assert 0 < keep.sum() < keep.size
    for got, want in zip(even, every, strict=True):
        assert np.array_equal(got, want[keep])


@given(
    lon=st.floats(22.0, 40.0),
    lat=st.floats(44.0, 52.0),
    azimuth=st.floats(0.0, 360.0),
    distance_km=st.floats(0.001, 700.0),
)
@settings(max_examples=300, deadline=None)
def test_the_geodesic_lies_within_the_chord_bracket(lon, lat, azimuth, distance_km):
    """What lets the candidate search skip the geodesic of pairs no branch can fit."""
    from truceline.geo.projection import geodesic_distance_m, to_ecef
    from truceline.shots import _range_bracket

    lon2, lat2 = destination(lon, lat, azimuth, distance_km * 1e3)
    xyz = to_ecef(np.array([lon, lon2]), np.array([lat, lat2])).reshape(2, 3)
    chord = np.array([np.linalg.norm(xyz[1] - xyz[0])])
    lo, hi = _range_bracket(chord)
    r = geodesic_distance_m(lon, lat, lon2, lat2)
    assert lo[0] - 1e-6 <= r <= hi[0]
