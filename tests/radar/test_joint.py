"""The joint fit of an acoustic event's arrivals with a radar origin (`truceline.radar.joint`) and
the second pass of `merge` that uses it."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from truceline.config import LocateSettings
from truceline.geo.projection import TangentPlane
from truceline.locate.solver import Arrivals, SoundSpeed, locate
from truceline.radar.joint import HeldArrivals, arrivals_from, joint_fit
from truceline.radar.stage import _distance2, merge
from truceline.records import AcousticArrival, Event, Origin, Provenance, Sensor

PLANE = TangentPlane(37.0, 48.0)
T0_NS = 1_772_000_000_000_000_000
C_MPS = 335.0


def _sensors_and_times(xy: np.ndarray, source: np.ndarray, seed: int) -> tuple[list, np.ndarray]:
    d = np.hypot(xy[:, 0] - source[0], xy[:, 1] - source[1])
    t = d / C_MPS + np.random.default_rng(seed).normal(0, 0.005, d.size)
    lon, lat = PLANE.inverse(xy[:, 0], xy[:, 1])
    sensors = [
        Sensor(f"S{k}", "acoustic", "monitor", float(lon[k]), float(lat[k]), timing_sigma_s=0.01)
        for k in range(len(xy))
    ]
    return sensors, t


def _acoustic_event(xy: np.ndarray, t: np.ndarray, start: tuple[float, float]) -> Event:
    """The acoustic event the locator finds from `start` (plane PLANE, times from T0_NS)."""
    n = len(xy)
    arr = Arrivals(xy[:, 0], xy[:, 1], t, np.full(n, 0.01), np.full(n, np.nan), np.full(n, np.nan))
    sol = locate(arr, SoundSpeed(C_MPS), (start[0], start[1], 0.0))
    assert sol is not None
    lon, lat = PLANE.inverse(sol.x_m, sol.y_m)
    return Event(
        id="AC-0",
        type="launch",
        origin=Origin(
            lon=float(lon[0]),
            lat=float(lat[0]),
            time_ns=T0_NS + round(sol.tau_s * 1e9),
            covariance=tuple(tuple(float(v) for v in row) for row in sol.cov),
            n_sensors=n,
        ),
        evidence=tuple(f"S{k}-1" for k in range(n)),
        properties={
            "sound_speed_mps": sol.speed.c_mps,
            "wind_mps": [sol.speed.wind_e_mps, sol.speed.wind_n_mps],
        },
        provenance=Provenance.automatic("test", (), 0),
    )


def _radar_event(east: float, north: float, dt_s: float, sigma_m: float) -> Event:
    lon, lat = PLANE.inverse(east, north)
    cov = ((sigma_m**2, 0.0, 0.0), (0.0, sigma_m**2, 0.0), (0.0, 0.0, 0.1**2))
    return Event(
        id="RL-CB1-1",
        type="launch",
        origin=Origin(
            lon=float(lon[0]),
            lat=float(lat[0]),
            time_ns=T0_NS + round(dt_s * 1e9),
            covariance=cov,
            n_sensors=1,
        ),
        evidence=("CB1-1",),
        properties={"radar_track": "CB1-1", "radar": "CB1"},
        provenance=Provenance.automatic("test", ("CB1-1",), 0),
    )


def _arrivals(sensors: list[Sensor], t: np.ndarray):
    detections = {
        f"S{k}-1": AcousticArrival(f"S{k}-1", f"S{k}", T0_NS + round(float(t[k]) * 1e9), None, None)
        for k in range(len(t))
    }
    return arrivals_from(lambda ids: [detections[i] for i in ids if i in detections], sensors)


def _line_of_sensors() -> tuple[np.ndarray, np.ndarray]:
    """Six sensors along a line (bearing 45 degrees), the source 150 m off it: the arrival times
    fit the source and its mirror image across the line equally well."""
    u = np.array([math.sin(math.radians(45.0)), math.cos(math.radians(45.0))])
    v = np.array([u[1], -u[0]])
    along = np.array([-3000.0, -1800.0, -300.0, 1200.0, 2500.0, 4000.0])
    off = np.array([10.0, -15.0, 5.0, -10.0, 15.0, -5.0])
    return along[:, None] * u + off[:, None] * v, 150.0 * v


def test_the_joint_fit_is_the_linear_gate_where_the_sensors_surround_the_source():
    """Sensors all round: the misfit is nearly quadratic and Δχ² is the Mahalanobis d² under the
    sum of the two covariances (the first-pass gate)."""
    angles = np.radians(np.arange(0.0, 360.0, 45.0))
    xy = 2000.0 * np.column_stack([np.sin(angles), np.cos(angles)])
    sensors, t = _sensors_and_times(xy, np.zeros(2), seed=1)
    acoustic = _acoustic_event(xy, t, (0.0, 0.0))
    radar = _radar_event(120.0, -80.0, 0.15, 50.0)
    got = _arrivals(sensors, t)(acoustic)
    assert got is not None
    fit = joint_fit(acoustic, radar, *got, LocateSettings())
    assert fit is not None
    linear = _distance2(radar, acoustic)
    assert 5.0 < linear < 20.0  # a pair the gate decides, not a trivial one
    assert abs(fit.delta_chi2 - linear) < 0.15 * linear


def test_a_radar_origin_picks_the_right_one_of_a_line_of_sensors_mirror_minima():
    xy, source = _line_of_sensors()
    sensors, t = _sensors_and_times(xy, source, seed=0)
    acoustic = _acoustic_event(xy, t, (-source[0], -source[1]))  # the mirror minimum
    e, n = PLANE.forward(acoustic.origin.lon, acoustic.origin.lat)
    assert math.hypot(e[0] + source[0], n[0] + source[1]) < 30.0  # found the mirror
    radar = _radar_event(source[0] + 30.0, source[1] - 20.0, 0.05, 50.0)
    assert _distance2(radar, acoustic) > 4.5**2  # the linear gate keeps them apart
    fit = joint_fit(acoustic, radar, *_arrivals(sensors, t)(acoustic), LocateSettings())
    assert fit is not None and fit.delta_chi2 < 4.5**2
    e, n = PLANE.forward(fit.lon, fit.lat)
    assert math.hypot(e[0] - source[0], n[0] - source[1]) < 20.0  # at the true source
    assert abs(fit.time_ns - T0_NS) < 0.01e9
    major = math.sqrt(np.linalg.eigvalsh(fit.covariance[:2, :2]).max())
    assert major < 30.0


def test_merge_second_pass_fuses_at_the_joint_minimum_only_given_the_arrivals():
    xy, source = _line_of_sensors()
    sensors, t = _sensors_and_times(xy, source, seed=0)
    acoustic = _acoustic_event(xy, t, (-source[0], -source[1]))
    radar = _radar_event(source[0] + 30.0, source[1] - 20.0, 0.05, 50.0)
    events, merged = merge([acoustic], [radar], 4.5, 3.0, standalone=True)
    assert merged == 0 and {e.id for e in events} == {"AC-0", "RL-CB1-1"}
    arrivals = _arrivals(sensors, t)
    events, merged = merge([acoustic], [radar], 4.5, 3.0, standalone=True, arrivals=arrivals)
    assert merged == 1 and [e.id for e in events] == ["AC-0"]
    fused = events[0]
    assert "CB1-1" in fused.evidence and fused.properties["radar"]["joint_delta_chi2"] < 4.5**2
    e, n = PLANE.forward(fused.origin.lon, fused.origin.lat)
    assert math.hypot(e[0] - source[0], n[0] - source[1]) < 20.0
    # Beyond the search distance the pair is not tested.
    events, merged = merge(
        [acoustic], [radar], 4.5, 3.0, standalone=True, arrivals=arrivals, joint_search_m=100.0
    )
    assert merged == 0


def test_a_radar_shot_of_another_place_fails_the_joint_gate():
    """The radar origin 400 m across the line from both minima and 0.5 s off: no place fits
    the arrivals and the radar at once."""
    xy, source = _line_of_sensors()
    sensors, t = _sensors_and_times(xy, source, seed=0)
    acoustic = _acoustic_event(xy, t, (source[0], source[1]))
    u = np.array([math.sin(math.radians(45.0)), math.cos(math.radians(45.0))])
    radar = _radar_event(*(source + 400.0 * u), 0.5, 50.0)
    fit = joint_fit(acoustic, radar, *_arrivals(sensors, t)(acoustic), LocateSettings())
    assert fit is not None and fit.delta_chi2 > 4.5**2


def _held_case() -> tuple[list[Sensor], dict[str, AcousticArrival], Event]:
    """Six sensors, their detections of one source (bearings at every other one) as the store
    holds them, and the acoustic event located from them."""
    xy = np.array([[-2000.0, -1500.0], [2500.0, -1000.0], [1500.0, 2500.0], [-1800.0, 2000.0]])
    xy = np.vstack([xy, [[0.0, 3500.0], [3000.0, 500.0]]])
    sensors, t = _sensors_and_times(xy, np.array([120.0, -80.0]), seed=4)
    detections = {
        f"S{k}-1": AcousticArrival(
            f"S{k}-1", f"S{k}", T0_NS + round(float(t[k]) * 1e9), 40.0 + k if k % 2 else None, 2.0
        )
        for k in range(len(t))
    }
    return sensors, detections, _acoustic_event(xy, t, (0.0, 0.0))


def test_held_arrivals_are_those_read_per_event_from_one_read():
    """`HeldArrivals` gives each acoustic event (and the event fused from it, whose evidence
    adds the radar's) the arrivals `arrivals_from` reads, bit for bit, from one read of the
    store for all of them, however often it is asked; other events are read as asked."""
    sensors, detections, event = _held_case()
    reads: list[list[str]] = []

    def read(ids: list[str]) -> list[AcousticArrival]:
        reads.append(list(ids))
        return [detections[i] for i in ids if i in detections]

    fused = replace(event, evidence=(*event.evidence, "CB1-1"))
    apart = replace(event, id="AC-1", evidence=tuple(reversed(event.evidence)))
    held = HeldArrivals(read, [event], sensors)
    per_event = arrivals_from(lambda ids: [detections[i] for i in ids if i in detections], sensors)
    for e in (event, fused, event, apart, apart):
        got, want = held(e), per_event(e)
        assert got is not None and want is not None
        assert got[1] == want[1]
        for field in Arrivals.__slots__:
            assert getattr(got[0], field).tobytes() == getattr(want[0], field).tobytes(), field
    # One read for the held event and the fused one, the event not held read on each call.
    assert reads == [list(event.evidence)] + [list(apart.evidence)] * 2
    assert held(_radar_event(0.0, 0.0, 0.0, 30.0)) is None


def test_held_arrivals_from_the_acoustic_stage_are_those_of_the_store_without_a_read():
    """Given the acoustic stage's `EvidenceArrivals`, `HeldArrivals` reads nothing for the
    events they hold and gives the arrivals the store would, bit for bit."""
    from truceline.records import EvidenceArrivals

    sensors, detections, event = _held_case()
    reads: list[list[str]] = []

    def read(ids: list[str]) -> list[AcousticArrival]:
        reads.append(list(ids))
        return [detections[i] for i in ids if i in detections]

    other = replace(event, id="AC-2", evidence=tuple(reversed(event.evidence)))
    rows = [detections[i] for i in event.evidence]
    sensor_ids = tuple(reversed([s.id for s in sensors]))  # the stage's own order
    columns = EvidenceArrivals(
        sensor_ids=sensor_ids,
        sensor=np.array([sensor_ids.index(a.sensor) for a in rows], np.int32),
        time_ns=np.array([a.time_ns for a in rows], np.int64),
        azimuth_deg=np.array([np.nan if a.azimuth_deg is None else a.azimuth_deg for a in rows]),
        azimuth_sigma_deg=np.array([a.azimuth_sigma_deg for a in rows], float),
        rows={event.id: (0, len(rows))},
    )
    held = HeldArrivals(read, [event, other], sensors, columns=columns)
    per_event = arrivals_from(lambda ids: [detections[i] for i in ids if i in detections], sensors)
    fused = replace(event, evidence=(*event.evidence, "CB1-1"))
    for e in (event, fused, other):
        got, want = held(e), per_event(e)
        assert got is not None and want is not None
        assert got[1] == want[1]
        for field in Arrivals.__slots__:
            assert getattr(got[0], field).tobytes() == getattr(want[0], field).tobytes(), field
    assert reads == [list(other.evidence)]  # the event the columns do not hold, once
