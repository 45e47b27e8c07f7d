from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from truceline.attribute.model import Attributor
from truceline.attribute.weapon import (
    Detection,
    WeaponClassifier,
    cadence_loglik,
    class_tables,
    interval_density,
    neighbour_gaps,
)
from truceline.config import AttributeSettings
from truceline.geo.projection import geodesic_distance_m

from .conftest import EFFECTIVE_NS, HOUR_NS, make_event

SETTINGS = AttributeSettings()


def loud_detections(event, level_db: float, n: int = 12, seed: int = 0) -> dict[str, Detection]:
    """Detections around the event whose SNRs follow the loudness model for `level_db`, keeping
    only those above the threshold (as a sensor would)."""
    rng = np.random.default_rng(seed)
    out = {}
    k = 0
    while len(out) < n:
        lon = event.origin.lon + rng.uniform(-0.03, 0.03)
        lat = event.origin.lat + rng.uniform(-0.02, 0.02)
        d = float(np.asarray(geodesic_distance_m(event.origin.lon, event.origin.lat, lon, lat)))
        snr = level_db - 20 * np.log10(max(d, 1.0)) - 1.5 * d / 1e3 - 60.0 + rng.normal(0, 3.0)
        if snr >= 10.0:
            out[f"o{k}"] = Detection(lon, lat, float(snr), 60.0, 10.0)
        k += 1
    return out


def test_without_evidence_the_class_stays_the_wide_prior():
    e = make_event("A", 32.0)
    out = WeaponClassifier(SETTINGS).classify([(e, 1.0)], None)
    assert out["evidence"] == ["prior only"]
    values = list(out["probabilities"].values())
    assert max(values) == pytest.approx(min(values))


@pytest.mark.parametrize("weapon,level", [("mortar", 139.0), ("heavy-mlrs", 157.0)])
def test_loudness_tells_quiet_from_loud_weapons(weapon, level):
    e = make_event("A", 32.0)
    dets = loud_detections(e, level)
    e = replace(e, evidence=tuple(dets))
    out = WeaponClassifier(SETTINGS, detections=dets).classify([(e, 1.0)], None)
    assert out["class"] == weapon
    assert out["probabilities"][weapon] > 0.8


def pair_for(weapon: str, km: float):
    """A launch and its impact `km` east along the parallel at 48 N (1 deg of longitude is
    ~74.6 km there), the time of flight that of `weapon`'s low trajectory."""
    table = next(c for c in class_tables() if c.id == weapon).table
    _, tof = table.solve(km * 1e3, "low")
    launch = make_event("L", 32.0, paired="I")
    impact = make_event(
        "I", 32.0 + km / 74.63, type="impact", paired="L",
        time_ns=launch.time_ns + round(float(tof) * 1e9),
    )  # fmt: skip
    return launch, impact


def test_range_and_time_of_flight_pick_the_class():
    launch, impact = pair_for("artillery-100mm-plus", 15.0)
    out = WeaponClassifier(SETTINGS).classify([(launch, 0.99), (impact, 0.01)], (launch, impact))
    assert out["class"] == "artillery-100mm-plus"
    assert "pair" in out["evidence"]
    assert out["pair_right"] > 0.99  # a pair that fits a class well is most likely right


def test_a_wrong_pairing_does_not_force_a_long_range_class():
    # A tank's launch (146 dB at the sensors) paired with an impact 60 km away whose time of
    # flight fits a heavy rocket only: a wrong pairing, as on a busy day. The impact's own
    # loudness is a quiet round's (142 dB), another shot's.
    launch, impact = pair_for("heavy-mlrs", 60.0)
    dets = {**detections_at(launch, 146.0), **detections_at(impact, 142.0)}
    launch = replace(launch, evidence=tuple(k for k in dets if k.startswith("L")))
    impact = replace(impact, evidence=tuple(k for k in dets if k.startswith("I")))
    members = [(launch, 0.99), (impact, 0.01)]
    certain = SETTINGS.model_copy(update={"pair_error_share": 0.0})
    forced = WeaponClassifier(certain, detections=dets).classify(members, (launch, impact))
    assert forced["class"] == "heavy-mlrs"  # a pair taken as certain rules out the rest
    out = WeaponClassifier(SETTINGS, detections=dets).classify(members, (launch, impact))
    light = ("tank", "artillery-under-100mm", "mortar")  # loudness alone: 146 dB against 144
    assert sum(out["probabilities"][c] for c in light) > 0.95
    assert out["probabilities"]["heavy-mlrs"] + out["probabilities"]["tactical-missile"] < 0.05
    assert out["pair_right"] < 0.01


def test_the_coincidence_density_is_over_the_pairing_gate():
    c = WeaponClassifier(SETTINGS)
    area = np.exp(-c.coincidence_logdensity())  # m s
    # Narrower than the whole window (the longest reach times the longest flight) ...
    reach = max(t.table.max_range_m for t in c.tables)
    longest = max(float(t.table.time_of_flight_s.max()) for t in c.tables)
    assert 0 < area < reach * longest
    # ... and wider than the tactical missile's band alone (its low branch, 2 x 3.5 sigma).
    assert area > 2 * 3.5 * 0.5 * 400_000


# -- cadence: the rate of fire ---------------------------------------------------------------------


def detections_at(event, level_db: float, n: int = 10) -> dict[str, Detection]:
    """Detections around the event whose SNRs are exactly what the loudness model predicts for
    `level_db` (no noise, so the evidence is deterministic)."""
    out = {}
    for k in range(n):
        angle, r = 2 * np.pi * k / n, 0.01 + 0.004 * k
        lon = event.origin.lon + r * np.cos(angle)
        lat = event.origin.lat + 0.67 * r * np.sin(angle)
        d = float(np.asarray(geodesic_distance_m(event.origin.lon, event.origin.lat, lon, lat)))
        snr = level_db - 20 * np.log10(d) - 1.5 * d / 1e3 - 60.0
        out[f"{event.id}-o{k}"] = Detection(lon, lat, float(snr), 60.0, 10.0)
    return out


def salvo(n: int, gap_s: float, lon: float = 32.1, prefix: str = "L", sigma_m: float = 20.0):
    """`n` launches from one place, `gap_s` apart."""
    start = EFFECTIVE_NS + HOUR_NS
    return [
        make_event(f"{prefix}{k}", lon, sigma_m=sigma_m, time_ns=start + round(k * gap_s * 1e9))
        for k in range(n)
    ]


def heard(events, level_db: float):
    """The events with loudness evidence at `level_db`, and the detections."""
    dets: dict[str, Detection] = {}
    out = []
    for e in events:
        d = detections_at(e, level_db)
        dets.update(d)
        out.append(replace(e, evidence=tuple(d)))
    return out, dets


def test_gaps_are_to_the_nearest_launch_from_the_same_place_on_each_side():
    ripple = salvo(4, 0.5)
    t1 = ripple[1].time_ns
    elsewhere = make_event("F", 32.1 + 2.0 / 74.5, sigma_m=20.0, time_ns=t1 + 10**8)
    impact = make_event("I", 32.1, type="impact", sigma_m=20.0, time_ns=t1 + 2 * 10**8)
    gaps = neighbour_gaps([*ripple, elsewhere, impact], SETTINGS)
    by_id = {i: k for k, i in enumerate(gaps.ids)}
    assert "I" not in by_id  # only launches count
    assert np.isnan(gaps.before_s[by_id["L0"]])
    assert gaps.after_s[by_id["L0"]] == pytest.approx(0.5)
    assert gaps.before_s[by_id["L1"]] == pytest.approx(0.5)  # not F, 2 km off, 0.1 s after L1
    assert gaps.after_s[by_id["L1"]] == pytest.approx(0.5)
    assert np.isnan(gaps.after_s[by_id["L3"]])
    assert np.isnan(gaps.before_s[by_id["F"]]) and np.isnan(gaps.after_s[by_id["F"]])
    assert gaps.after_var_s2[by_id["L1"]] == pytest.approx(0.02)  # two origin times of 0.1 s


def test_a_poorly_located_launch_takes_a_neighbour_within_its_ellipse():
    a = make_event("A", 32.1, sigma_m=500.0)
    b = make_event("B", 32.1 + 1.0 / 74.5, sigma_m=500.0, time_ns=a.time_ns + 5 * 10**8)
    gaps = neighbour_gaps([a, b], SETTINGS)
    assert np.isfinite(gaps.after_s[0])  # 1 km apart, sqrt(2) 500 m combined sigma
    tight = [replace(e, origin=replace(e.origin, covariance=None)) for e in (a, b)]
    narrow = SETTINGS.model_copy(update={"default_sigma_m": 50.0})
    assert np.isnan(neighbour_gaps(tight, narrow).after_s[0])


@pytest.mark.parametrize("gap_s", [0.5, 1.0])  # 1.0 s: every other rocket went unlocated
def test_a_ripple_makes_mlrs_most_probable_where_loudness_alone_cannot_tell(gap_s):
    # 150.5 dB: between a 122 mm rocket's launch (150) and a 152 mm gun's (151).
    events, dets = heard(salvo(6, gap_s), 150.5)
    classifier = WeaponClassifier(SETTINGS, detections=dets)
    alone = classifier.classify([(events[2], 1.0)], None)["probabilities"]
    assert alone["mlrs"] < 0.6 and alone["artillery-100mm-plus"] > 0.4
    cadence = classifier.cadence(events, {e.id: 1.0 for e in events})
    out = classifier.classify([(events[2], 1.0)], None, cadence)
    assert out["class"] == "mlrs"
    assert out["probabilities"]["mlrs"] > 0.95
    assert any(s.startswith("cadence") for s in out["evidence"])


def test_rounds_eight_seconds_apart_are_a_guns_not_a_rocket_launchers():
    events, dets = heard(salvo(5, 8.0), 150.5)
    classifier = WeaponClassifier(SETTINGS, detections=dets)
    cadence = classifier.cadence(events, {e.id: 1.0 for e in events})
    out = classifier.classify([(events[2], 1.0)], None, cadence)["probabilities"]
    assert out["artillery-100mm-plus"] > 0.95
    assert out["mlrs"] < 0.01


def test_an_isolated_launch_is_unchanged():
    lone = make_event("A", 32.1, sigma_m=20.0)
    far_in_time = make_event("B", 32.1, sigma_m=20.0, time_ns=lone.time_ns + 61 * 10**9)
    far_in_space = make_event("C", 32.1 + 1.0 / 74.5, sigma_m=20.0, time_ns=lone.time_ns + 10**9)
    events, dets = heard([lone, far_in_time, far_in_space], 150.5)
    classifier = WeaponClassifier(SETTINGS, detections=dets)
    cadence = classifier.cadence(events, {e.id: 1.0 for e in events})
    assert cadence == {}
    assert classifier.classify([(events[0], 1.0)], None, cadence) == classifier.classify(
        [(events[0], 1.0)], None
    )


def test_one_odd_interval_never_rules_a_class_out():
    gaps = neighbour_gaps(salvo(2, 0.5), SETTINGS)
    ll = cadence_loglik(gaps, np.ones(2), class_tables(), SETTINGS)
    eps, window = SETTINGS.cadence_outlier_share, SETTINGS.cadence_window_s
    assert np.all(np.isfinite(ll))
    assert ll.min() >= np.log(eps / window)  # the floor, one side
    assert ll.min() < np.log(2 * eps / window)  # and the gun is near it
    ids = [c.id for c in class_tables()]
    assert ids[int(np.argmax(ll[0]))] == "mlrs"


def test_a_round_located_twice_is_not_a_ripple():
    # Two launch events at one place and time (a split event, or a radar and an acoustic
    # event of one round not merged): the gap is zero but for the origin times' 0.1 s each.
    twice = [make_event("A", 32.1, sigma_m=20.0), make_event("B", 32.1, sigma_m=20.0)]
    ll = cadence_loglik(neighbour_gaps(twice, SETTINGS), np.ones(2), class_tables(), SETTINGS)
    assert np.ptp(ll[0]) < np.log(1.5)
    no_duplicates = SETTINGS.model_copy(update={"cadence_duplicate_share": 0.0})
    ll = cadence_loglik(neighbour_gaps(twice, SETTINGS), np.ones(2), class_tables(), no_duplicates)
    assert np.ptp(ll[0]) > np.log(10)  # without it, a zero gap would read as a ripple


def test_the_gaps_count_only_as_far_as_the_event_is_a_launch():
    gaps = neighbour_gaps(salvo(3, 0.5), SETTINGS)
    spread = [
        np.ptp(cadence_loglik(gaps, np.full(3, p), class_tables(), SETTINGS)[1])
        for p in (1.0, 0.1, 0.0)
    ]
    assert spread[0] > spread[1] > spread[2]
    assert spread[2] < 0.05  # an impact: both gaps unrelated, whatever the class


@pytest.mark.parametrize("weapon", [c.id for c in class_tables()])
def test_the_interval_density_is_a_density_over_the_window(weapon):
    c = next(t for t in class_tables() if t.id == weapon)
    assert c.interval_s is not None  # every ground-fired class publishes its rate of fire
    window = SETTINGS.cadence_window_s
    gap = np.linspace(0.0, window, 600_001)
    h = interval_density(gap, np.full(gap.size, 0.01), c.interval_s, 0.25, 0.8, window)
    assert np.trapezoid(h, gap) == pytest.approx(1.0, abs=1e-3)


def test_a_paired_impact_takes_its_launchs_cadence(agreement):
    launches, dets = heard(salvo(5, 0.5, lon=32.2), 150.5)
    launches[2] = replace(launches[2], paired="I")
    impact = make_event(
        "I", 31.9, type="impact", paired=launches[2].id, time_ns=launches[2].time_ns + 60 * 10**9
    )
    classifier = WeaponClassifier(SETTINGS, detections=dets)
    out = Attributor(agreement, SETTINGS, classifier=classifier).attribute([*launches, impact])
    assert out["I"].weapon == out[launches[2].id].weapon
    assert any(s.startswith("cadence") for s in out["I"].weapon["evidence"])
    no_cadence = SETTINGS.model_copy(update={"cadence": False})
    classifier = WeaponClassifier(no_cadence, detections=dets)
    off = Attributor(agreement, no_cadence, classifier=classifier).attribute([*launches, impact])
    assert not any(s.startswith("cadence") for s in off["I"].weapon["evidence"])


def test_the_sweep_is_vectorised_over_a_busy_day():
    rng = np.random.default_rng(1)
    n = 10_000
    t = np.sort(rng.uniform(0, 86_400, n))
    lon = 32.05 + rng.uniform(0, 1.0, n)
    events = [
        make_event(f"E{k}", float(lon[k]), sigma_m=30.0, time_ns=EFFECTIVE_NS + round(t[k] * 1e9))
        for k in range(n)
    ]
    gaps = neighbour_gaps(events, SETTINGS)
    assert len(gaps.ids) == n
    # Brute force on a slice agrees.
    k = 500
    for i in range(k, k + 20):
        j = gaps.ids.index(f"E{i}")
        near = [
            (t[m] - t[i])
            for m in range(i + 1, n)
            if t[m] - t[i] <= SETTINGS.cadence_window_s and abs(lon[m] - lon[i]) * 74.5e3 < 300
        ]
        if near:
            assert gaps.after_s[j] == pytest.approx(near[0], abs=1e-6)
        else:
            assert np.isnan(gaps.after_s[j])
