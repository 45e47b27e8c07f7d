"""Each score against a value computed by hand on the world of conftest.py, the ellipse geometry,
and the radial-error statistics of the Cramér-Rao bound."""

from __future__ import annotations

import math

import numpy as np
import pytest

from truceline.config import LocateSettings
from truceline.evaluate import Context, evaluate, inside_ellipse, load, median_radial_error_m
from truceline.evaluate.inputs import EventFeature, TruthSource
from truceline.evaluate.match import Match
from truceline.evaluate.metrics import (
    Target,
    covers_truth,
    crb_position_covariance,
    pooled_median_radial_error_m,
    radial_error_cdf,
    truth_offsets_m,
)
from truceline.geo.projection import TangentPlane
from truceline.locate.solver import Arrivals, SoundSpeed, crb_covariance
from truceline.records import Ellipse

from .conftest import CENTRE, SENSORS, SOURCES, T0, S, event, offset, write_world


@pytest.fixture
def report(world):
    inputs = load(world.truth, world.events, world.observations, world.sensors)
    return evaluate(inputs, context=Context(inputs))


def test_counts(report):
    m = report.as_dict()["groups"]["counts"]["metrics"]
    assert m == {
        "events": 4,
        "acoustic_events": 4,
        "sources": 4,
        "eligible_sources": 3,
        "matched": 3,
        "false_events": 1,
        "duplicate_events": 0,
        "unresolved_events": 0,
        "run_elapsed_s": 1.5,
    }


def test_detection(report):
    m = report.as_dict()["groups"]["detection"]["metrics"]
    assert m["recall"] == 1.0  # L1 (6 sensors), I1 (5), I2 (6); L2 (4 sensors) is not eligible
    assert m["recall_all"] == 0.75  # L2 is not matched
    assert m["precision"] == 0.75  # E4 is a false event


def test_location(report):
    m = report.as_dict()["groups"]["location"]["metrics"]
    assert m["location_error_median_m"] == pytest.approx(20.0, abs=1e-6)  # errors 10, 20, 30 m
    assert m["location_error_p90_m"] == pytest.approx(28.0, abs=1e-6)  # 20 + 0.8 * (30 - 20)
    assert m["location_error_mean_m"] == pytest.approx(20.0, abs=1e-6)
    assert m["origin_time_error_median_s"] == pytest.approx(0.1)  # |dt| 0.1, 0.3, 0 s
    assert m["ellipse_coverage"] == 0.5  # E1 covers L1, E2 misses I1, E3 has no ellipse


def test_launch_impact_and_pairing(report):
    groups = report.as_dict()["groups"]
    assert groups["launch_impact"]["metrics"]["launch_impact_accuracy"] == pytest.approx(2 / 3)
    assert "impact as launch" in groups["launch_impact"]["rows"][0]["detail"]
    pairing = groups["pairing"]["metrics"]
    assert pairing["pairing_accuracy"] == 1.0  # L1-I1 both matched, E1 names E2
    assert pairing["pairing_precision"] == 1.0  # {E1, E2} is a true pair


def test_pairing_counts_wrong_and_missing_pairs(tmp_path):
    l1, i1, l2, i2 = (SOURCES[k] for k in ("L1", "I1", "L2", "I2"))
    events = [
        event("E1", "launch", l1["position"], l1["time"], l1["observations"][:6], "E4"),
        event("E2", "impact", i1["position"], i1["time"], i1["observations"]),
        event("E3", "launch", l2["position"], l2["time"], l2["observations"], "E4"),
        event("E4", "impact", i2["position"], i2["time"], i2["observations"], "E3"),
    ]
    world = write_world(tmp_path, events)
    report = evaluate(load(world.truth, world.events, world.observations, world.sensors))
    pairing = report.as_dict()["groups"]["pairing"]["metrics"]
    assert pairing["pairing_accuracy"] == 0.5  # L1-I1 not paired, L2-I2 paired
    assert pairing["pairing_precision"] == 0.5  # {E1, E4} is wrong, {E3, E4} is right


def test_targets_and_pass_marks(report):
    rows = {r.key: r for r in report.rows()}
    assert rows["recall"].passed is True
    assert rows["precision"].passed is False
    assert rows["ellipse_coverage"].passed is False
    assert rows["location_error_median_m"].passed is None
    assert str(Target(low=0.93, high=0.97)) == "0.93-0.97"
    assert Target(high=1.25).met(1.25) is True
    assert Target(low=0.98).met(None) is None
    assert report.targets()["pass"] is False


@pytest.mark.parametrize("azimuth", [0.0, 30.0, 90.0, 135.0, 200.0, 315.0])
def test_inside_ellipse_along_the_axes(azimuth):
    major, minor = 100.0, 40.0
    az = math.radians(azimuth)
    along = np.array([math.sin(az), math.cos(az)])  # east, north of the major axis
    across = np.array([math.cos(az), -math.sin(az)])
    for sign in (1, -1):
        for axis, length in ((along, major), (across, minor)):
            inside = sign * axis * length * 0.999
            outside = sign * axis * length * 1.001
            assert inside_ellipse(*inside, major, minor, azimuth)
            assert not inside_ellipse(*outside, major, minor, azimuth)
    # A point at the major semi-axis' length across the major axis is outside.
    assert not inside_ellipse(*(across * 60.0), major, minor, azimuth)


def test_inside_ellipse_is_vectorised_and_takes_degenerate_axes():
    e = np.array([0.0, 10.0, 0.0, 5.0])
    n = np.array([0.0, 0.0, 10.0, 0.0])
    assert inside_ellipse(e, n, 20.0, 0.0, 90.0).tolist() == [True, True, False, True]


@pytest.mark.parametrize("azimuth", [0.0, 45.0, 120.0, 260.0])
def test_coverage_in_the_tangent_plane_at_the_event(azimuth):
    """The truth just inside / just outside the event's ellipse along its major axis."""
    at = offset(*CENTRE, 10.0, 250.0)
    plane = TangentPlane(*at)
    az = math.radians(azimuth)
    ellipse = Ellipse(200.0, 50.0, azimuth)
    e = EventFeature("E", "impact", T0, *at, ellipse)
    for sign in (1.0, -1.0):
        for scale, expected in ((0.999, True), (1.001, False)):
            d = sign * 200.0 * scale
            lon, lat = plane.inverse(d * math.sin(az), d * math.cos(az))
            truth = TruthSource("T", "impact", T0, float(lon[0]), float(lat[0]))
            assert covers_truth([Match(e, truth, "evidence")]) == [expected]
        # 60 m across the major axis: outside the 50 m minor semi-axis.
        lon, lat = plane.inverse(sign * 60.0 * math.cos(az), -sign * 60.0 * math.sin(az))
        truth = TruthSource("T", "impact", T0, float(lon[0]), float(lat[0]))
        assert covers_truth([Match(e, truth, "evidence")]) == [False]
    no_ellipse = EventFeature("E", "impact", T0, *at)
    truth = TruthSource("T", "impact", T0, *CENTRE)
    assert covers_truth([Match(no_ellipse, truth, "evidence")]) == [None]
    assert covers_truth([]) == []


def test_truth_offsets_are_those_of_the_tangent_plane_at_each_event():
    events = [offset(*CENTRE, az, d) for az, d in ((0.0, 10.0), (77.0, 3000.0), (250.0, 9000.0))]
    truths = [offset(*CENTRE, az, d) for az, d in ((180.0, 500.0), (10.0, 20.0), (300.0, 7000.0))]
    matches = [
        Match(EventFeature("E", "impact", T0, *e), TruthSource("T", "impact", T0, *t), "evidence")
        for e, t in zip(events, truths, strict=True)
    ]
    east, north = truth_offsets_m(matches)
    for i, (e, t) in enumerate(zip(events, truths, strict=True)):
        x, y = TangentPlane(*e).forward(*t)
        assert (east[i], north[i]) == pytest.approx((x[0], y[0]), abs=1e-6)


@pytest.mark.parametrize("sigma", [0.5, 3.0, 120.0])
def test_median_radial_error_of_a_circular_covariance(sigma):
    expected = sigma * math.sqrt(2 * math.log(2))  # the Rayleigh median
    assert median_radial_error_m(np.eye(2) * sigma**2) == pytest.approx(expected, rel=1e-9)


def test_median_radial_error_of_a_line_and_of_a_general_covariance():
    # All the variance on one axis: the median of |N(0, s^2)| = 0.6744897502 s.
    assert median_radial_error_m(np.diag([16.0, 0.0])) == pytest.approx(4 * 0.6744897502, 1e-9)
    cov = np.array([[40.0, 12.0], [12.0, 9.0]])
    median = float(median_radial_error_m(cov))
    assert radial_error_cdf(median, cov)[0] == pytest.approx(0.5, abs=1e-9)
    draws = np.random.default_rng(7).multivariate_normal([0, 0], cov, size=200_000)
    assert np.median(np.hypot(draws[:, 0], draws[:, 1])) == pytest.approx(median, rel=0.01)
    stack = median_radial_error_m(np.stack([cov, 4 * cov, np.zeros((2, 2))]))
    assert stack == pytest.approx([median, 2 * median, 0.0])


def test_pooled_median_differs_from_the_median_of_medians():
    covs = np.stack([np.eye(2), np.eye(2), np.eye(2) * 100.0])
    pooled = pooled_median_radial_error_m(covs)
    assert radial_error_cdf(pooled, covs).mean() == pytest.approx(0.5, abs=1e-9)
    assert pooled > float(np.median(median_radial_error_m(covs)))
    assert pooled_median_radial_error_m(np.stack([np.eye(2) * 4] * 3)) == pytest.approx(
        2 * math.sqrt(2 * math.log(2))
    )


def test_the_radial_cdf_reaches_one_far_out_and_pooling_spans_sizes():
    # Far out the quadrature's integrand is a narrow spike: the CDF must still be 1, not 0
    # (a sector-day run with a 48 km far-field ellipse beside 2.6 m ones broke the pooling).
    flat = np.diag([1.0, 1e-4])
    radii = np.array([3.0, 9.0, 100.0, 2e4])
    assert [float(radial_error_cdf(r, flat[None])[0]) for r in radii][1:] == [1.0, 1.0, 1.0]
    covs = np.stack([np.eye(2) * 6.6, np.diag([2.3e9, 1e3]), np.eye(2) * 10.0])
    pooled = pooled_median_radial_error_m(covs)
    assert radial_error_cdf(pooled, covs).mean() == pytest.approx(0.5, abs=1e-5)  # xtol ~ 1e-9 hi


def _bound_by_hand(source_id: str, temperature_c: float, wind: tuple[float, float]) -> np.ndarray:
    """The bound computed directly: the sensors of the source's acoustic observations in a
    tangent plane at the truth; S1 carries an azimuth; S2 has a timing sigma of 0.02 s."""
    src = SOURCES[source_id]
    sensors = [o.split("-")[0] for o in src["observations"] if o.startswith("S")]
    plane = TangentPlane(*src["position"])
    x, y = plane.forward([SENSORS[s][0] for s in sensors], [SENSORS[s][1] for s in sensors])
    arrivals = Arrivals(
        x,
        y,
        np.zeros(len(sensors)),
        np.array([0.02 if s == "S2" else 0.01 for s in sensors]),
        np.array([123.0 if s == "S1" else np.nan for s in sensors]),
        np.array([5.0 if s == "S1" else np.nan for s in sensors]),
    )
    speed = SoundSpeed.from_temperature(temperature_c, *wind)
    settings = LocateSettings(propagation_jitter_s_per_km=0.005)
    return crb_covariance(0.0, 0.0, arrivals, speed, settings)[:2, :2]


def test_crb_per_event_uses_sensors_noise_and_weather(world):
    inputs = load(world.truth, world.events, world.observations, world.sensors)
    context = Context(inputs, locator=LocateSettings(propagation_jitter_s_per_km=0.005))
    for sid in ("L1", "I1", "I2"):
        source = next(s for s in inputs.truth if s.id == sid)
        cov, why = crb_position_covariance(source, context)
        assert why == ""
        # Reports at t0 (10 °C, wind 3, -1) and t0 + 1 h (25 °C): all sources are near t0.
        np.testing.assert_allclose(cov, _bound_by_hand(sid, 10.0, (3.0, -1.0)), rtol=1e-9)


def test_crb_group(world):
    inputs = load(world.truth, world.events, world.observations, world.sensors)
    context = Context(inputs, locator=LocateSettings(propagation_jitter_s_per_km=0.005))
    m = evaluate(inputs, context=context).as_dict()["groups"]["crb"]["metrics"]
    bounds = [
        float(median_radial_error_m(_bound_by_hand(s, 10.0, (3.0, -1.0))))
        for s in ("L1", "I1", "I2")
    ]
    assert m["crb_location_error_median_m"] == pytest.approx(20.0, abs=1e-6)
    assert m["crb_bound_median_m"] == pytest.approx(np.median(bounds), rel=1e-9)
    assert m["crb_ratio"] == pytest.approx(20.0 / np.median(bounds), rel=1e-6)
    assert m["crb_normalised_error_median"] == pytest.approx(
        np.median(np.array([10.0, 20.0, 30.0]) / bounds), rel=1e-6
    )
    pooled = pooled_median_radial_error_m(
        np.stack([_bound_by_hand(s, 10.0, (3.0, -1.0)) for s in ("L1", "I1", "I2")])
    )
    assert m["crb_bound_pooled_median_m"] == pytest.approx(pooled, rel=1e-9)
    assert m["crb_pooled_ratio"] == pytest.approx(20.0 / pooled, rel=1e-6)


def test_crb_without_weather_assumes_20_c(tmp_path):
    world = write_world(tmp_path)
    lines = world.observations.read_text().splitlines()
    world.observations.write_text("\n".join(x for x in lines if '"weather"' not in x) + "\n")
    inputs = load(world.truth, world.events, world.observations, world.sensors)
    context = Context(inputs, locator=LocateSettings(propagation_jitter_s_per_km=0.005))
    cov, _ = crb_position_covariance(next(s for s in inputs.truth if s.id == "L1"), context)
    np.testing.assert_allclose(cov, _bound_by_hand("L1", 20.0, (0.0, 0.0)), rtol=1e-9)


def test_optional_files_missing_skips_what_needs_them(world):
    report = evaluate(load(world.truth, world.events))
    rows = {r.key: r for r in report.rows()}
    for key in ("recall", "eligible_sources", "crb_ratio", "crb_bound_median_m"):
        assert rows[key].value is None
        assert "--observations" in rows[key].note
    assert rows["precision"].value == 0.75
    assert rows["recall_all"].value == 0.75
    assert any("skipped" in note for note in report.notes)
    only_obs = evaluate(load(world.truth, world.events, world.observations))
    rows = {r.key: r for r in only_obs.rows()}
    assert rows["recall"].value == 1.0
    assert rows["crb_ratio"].value is None and "--sensors" in rows["crb_ratio"].note


def test_empty_events(tmp_path):
    world = write_world(tmp_path, events=[])
    report = evaluate(load(world.truth, world.events, world.observations, world.sensors))
    rows = {r.key: r for r in report.rows()}
    assert rows["events"].value == 0
    assert rows["recall"].value == 0.0
    assert rows["precision"].value is None and rows["precision"].note == "no events"
    assert rows["ellipse_coverage"].value is None
    assert rows["crb_ratio"].value is None
    assert report.targets()["pass"] is False  # recall 0 misses its target


def test_unreadable_observation_lines_are_counted(world):
    inputs = load(world.truth, world.events, world.observations, world.sensors)
    assert inputs.notes == ["1 unreadable observation lines skipped"]
    assert len(inputs.weather) == 2


def test_time_error_uses_origin_times():
    src = TruthSource("T", "launch", T0, *CENTRE)
    match = Match(EventFeature("E", "launch", T0 - 2 * S, *CENTRE), src, "evidence")
    assert abs(match.event.time_ns - match.source.time_ns) / 1e9 == 2.0


def test_sound_speed_from_the_nearest_station_and_report():
    from truceline.evaluate import Inputs, SensorSite, WeatherReport

    north, south = offset(*CENTRE, 0.0, 20_000.0), offset(*CENTRE, 180.0, 5_000.0)
    sensors = {
        "WN": SensorSite("WN", "weather", *north),
        "WS": SensorSite("WS", "weather", *south),
    }
    weather = [
        WeatherReport("WN", T0, 0.0),
        WeatherReport("WS", T0, 10.0, 1.0, 2.0),
        WeatherReport("WS", T0 + 600 * S, 12.0),
        WeatherReport("WX", T0, 30.0),  # a station of unknown position
    ]
    context = Context(Inputs([], [], weather=weather, sensors=sensors))
    assert context.sound_speed(*CENTRE, T0 + 200 * S) == SoundSpeed.from_temperature(10, 1, 2)
    assert context.sound_speed(*CENTRE, T0 + 400 * S) == SoundSpeed.from_temperature(12)
    assert context.sound_speed(*north, T0) == SoundSpeed.from_temperature(0.0)
    unplaced = Context(Inputs([], [], weather=weather[2:]))
    assert unplaced.sound_speed(*CENTRE, T0 + 60 * S) == SoundSpeed.from_temperature(30.0)
    assert Context(Inputs([], [])).sound_speed(*CENTRE, T0) == SoundSpeed.from_temperature(20.0)
