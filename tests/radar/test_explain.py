"""Explaining away acoustic mixtures of radar-located rounds (`truceline.radar.explain`)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from truceline.geo.projection import TangentPlane
from truceline.radar.explain import ArrivalTest, explain_away, explain_second_events
from truceline.radar.joint import arrivals_from
from truceline.radar.stage import _fuse, merge_leftovers
from truceline.records import AcousticArrival, Event, Origin, Provenance, Sensor

PLANE = TangentPlane(37.0, 48.0)
T0_NS = 1_772_000_000_000_000_000
C_MPS = 335.0
TEST = ArrivalTest(
    sigma=3.0, share=0.8, propagation_s_per_km=0.005, reach_s=100.0, reach_m=30_000.0
)

# Eight sensors around a launcher at the origin, 3-6 km away.
ANGLES = np.radians(np.arange(0.0, 360.0, 45.0))
RADII = np.array([3000.0, 4500.0, 6000.0, 3500.0, 5000.0, 4000.0, 5500.0, 3200.0])
XY = np.column_stack([RADII * np.sin(ANGLES), RADII * np.cos(ANGLES)])
LON, LAT = PLANE.inverse(XY[:, 0], XY[:, 1])
SENSORS = [
    Sensor(f"S{k}", "acoustic", "monitor", float(LON[k]), float(LAT[k]), timing_sigma_s=0.01)
    for k in range(len(XY))
]


def _arrival_s(k: int, round_s: float, rng: np.random.Generator) -> float:
    """Sensor k's arrival of a round fired from the origin `round_s` after T0."""
    return round_s + float(np.hypot(*XY[k])) / C_MPS + float(rng.normal(0.0, 0.01))


def _acoustic(eid: str, detections: dict[int, tuple[str, float]], at: tuple[float, float, float]):
    """An acoustic launch at `at` (east, north, time s), located with the speed of sound,
    holding `detections` {sensor index: (observation id, arrival s)}; and the observations."""
    lon, lat = PLANE.inverse(at[0], at[1])
    observations = {
        oid: AcousticArrival(oid, f"S{k}", T0_NS + round(t * 1e9), None, None)
        for k, (oid, t) in detections.items()
    }
    event = Event(
        id=eid,
        type="launch",
        origin=Origin(
            lon=float(lon[0]),
            lat=float(lat[0]),
            time_ns=T0_NS + round(at[2] * 1e9),
            covariance=((25.0, 0.0, 0.0), (0.0, 25.0, 0.0), (0.0, 0.0, 1e-4)),
            n_sensors=len(detections),
        ),
        evidence=tuple(observations),
        properties={"sound_speed_mps": C_MPS, "wind_mps": [0.0, 0.0]},
        provenance=Provenance.automatic("test", (), 0),
    )
    return event, observations


def _radar(eid: str, t_s: float, sigma_m: float = 50.0, sigma_s: float = 0.1) -> Event:
    """A radar launch at the origin, `t_s` after T0."""
    track = eid.split("-", 1)[1]
    cov = ((sigma_m**2, 0.0, 0.0), (0.0, sigma_m**2, 0.0), (0.0, 0.0, sigma_s**2))
    return Event(
        id=eid,
        type="launch",
        origin=Origin(lon=37.0, lat=48.0, time_ns=T0_NS + round(t_s * 1e9), covariance=cov),
        evidence=(track,),
        properties={"radar_track": track, "radar": "CB1"},
        provenance=Provenance.automatic("test", (track,), 0),
    )


def _lookup(*tables: dict):
    merged = {k: v for table in tables for k, v in table.items()}
    return arrivals_from(lambda ids: [merged[i] for i in ids if i in merged], SENSORS)


def _mixture(rng: np.random.Generator):
    """Rounds 1 and 2 of a ripple, 0.5 s apart from the origin: an acoustic event holding round
    1's arrivals at sensors 0-3 and round 2's at sensors 4-7 (its origin between them)."""
    detections = {k: (f"S{k}-r1", _arrival_s(k, 0.0, rng)) for k in range(4)}
    detections |= {k: (f"S{k}-r2", _arrival_s(k, 0.5, rng)) for k in range(4, 8)}
    return _acoustic("AC-mix", detections, (30.0, -20.0, 0.25))


def test_a_mixture_of_two_rounds_the_radar_tracked_is_dissolved():
    rng = np.random.default_rng(1)
    mixture, observations = _mixture(rng)
    r1, r2 = _radar("RL-CB1-1", 0.0), _radar("RL-CB1-2", 0.5)
    events, dissolved = explain_away([mixture, r1, r2], _lookup(observations), TEST)
    assert [e.id for e in events] == ["RL-CB1-1", "RL-CB1-2"]
    assert len(dissolved) == 1 and dissolved[0].event == "AC-mix"
    assert dissolved[0].by == {"RL-CB1-1": 4, "RL-CB1-2": 4}
    by_id = {e.id: e for e in events}
    for rid in ("RL-CB1-1", "RL-CB1-2"):
        explains = [dict(x) for x in by_id[rid].properties["explains"]]
        assert explains == [{"event": "AC-mix", "detections": 4}]
    # Off: nothing happens.
    off = replace(TEST, sigma=0.0)
    events, dissolved = explain_away([mixture, r1, r2], _lookup(observations), off)
    assert len(events) == 3 and not dissolved


def test_rounds_the_radar_did_not_account_for_survive():
    """A round the radar did not see, a second after one it did (five sigmas of the shot's
    predicted arrivals away; half a second is within three at these radar sigmas, 50 m and
    0.1 s): not explained. A round whose every arrival fits one radar shot (fusion's business,
    not a mixture): kept. A mixture with such an unseen round: only half its detections
    explained, kept."""
    rng = np.random.default_rng(2)
    r1, r2 = _radar("RL-CB1-1", 0.0), _radar("RL-CB1-2", 0.5)
    unseen, obs3 = _acoustic(
        "AC-3", {k: (f"S{k}-r3", _arrival_s(k, 1.5, rng)) for k in range(8)}, (0.0, 0.0, 1.5)
    )
    own, obs2 = _acoustic(
        "AC-2", {k: (f"S{k}-r2", _arrival_s(k, 0.5, rng)) for k in range(8)}, (0.0, 0.0, 0.5)
    )
    half = {k: (f"S{k}-h1", _arrival_s(k, 0.0, rng)) for k in range(4)}
    half |= {k: (f"S{k}-h3", _arrival_s(k, 1.5, rng)) for k in range(4, 8)}
    mixed, obs_half = _acoustic("AC-half", half, (0.0, 0.0, 0.75))
    events, dissolved = explain_away(
        [unseen, own, mixed, r1, r2], _lookup(obs3, obs2, obs_half), TEST
    )
    assert not dissolved
    assert {e.id for e in events} == {"AC-3", "AC-2", "AC-half", "RL-CB1-1", "RL-CB1-2"}


def _fused_with_impact(mixture: Event, shot: Event) -> tuple[Event, Event]:
    """The `mixture` fused with round 1's radar `shot`, paired with the radar impact RI-CB1-9
    (40 s later, 22 km north)."""
    fused = replace(_fuse(mixture, shot), paired="RI-CB1-9")
    impact = replace(
        _radar("RI-CB1-9", 40.0),
        type="impact",
        evidence=(),
        paired="AC-mix",
        origin=replace(shot.origin, lat=48.2, time_ns=T0_NS + 40 * 10**9),
    )
    return fused, impact


def test_a_fused_mixture_goes_back_to_its_radar_shot_and_its_pair_follows():
    """The mixture fused with round 1's shot: its acoustic part is explained by round 1's shot
    (4 detections, not more than half) and round 2's (4): the event is round 1's shot again,
    and the impact paired with the fused event is paired with the shot."""
    rng = np.random.default_rng(3)
    mixture, observations = _mixture(rng)
    r1, r2 = _radar("RL-CB1-1", 0.0), _radar("RL-CB1-2", 0.5)
    fused, impact = _fused_with_impact(mixture, r1)
    events, dissolved = explain_away(
        [fused, r2, impact],
        _lookup(observations),
        TEST,
        radar_shots={r1.id: r1, r2.id: r2},
    )
    assert [d.event for d in dissolved] == ["AC-mix"]
    assert dissolved[0].by == {"RL-CB1-1": 4, "RL-CB1-2": 4}
    by_id = {e.id: e for e in events}
    assert set(by_id) == {"RL-CB1-1", "RL-CB1-2", "RI-CB1-9"}
    back = by_id["RL-CB1-1"]
    assert back.evidence == r1.evidence and back.origin == r1.origin
    assert back.paired == "RI-CB1-9" and by_id["RI-CB1-9"].paired == "RL-CB1-1"
    # Without the shots before fusion, a fused event is not tested.
    events, dissolved = explain_away([fused, r2, impact], _lookup(observations), TEST)
    assert not dissolved and {e.id for e in events} == {"AC-mix", "RL-CB1-2", "RI-CB1-9"}


def _at(k: int, east_m: float, north_m: float, t_s: float, rng: np.random.Generator) -> float:
    """Sensor k's arrival of a round fired from (east, north) `t_s` after T0."""
    d = float(np.hypot(XY[k, 0] - east_m, XY[k, 1] - north_m))
    return t_s + d / C_MPS + float(rng.normal(0.0, 0.01))


def test_a_round_split_between_two_acoustic_events_is_one_event():
    """One round heard by eight sensors, its arrivals split by association: an event holding
    four of them (located at the round) and one holding the other four (located 40 m and
    0.1 s off). The four fit the first event's predicted arrivals, at sensors where it holds
    none of its own: the second event (of equal evidence, the larger id) is dissolved, the
    first records it. Off: both stay."""
    rng = np.random.default_rng(4)
    times = {k: _at(k, 0.0, 0.0, 0.0, rng) for k in range(8)}
    big, obs_big = _acoustic(
        "AC-big", {k: (f"S{k}-r1", times[k]) for k in range(4)}, (0.0, 0.0, 0.0)
    )
    small, obs_small = _acoustic(
        "AC-small", {k: (f"S{k}-r1", times[k]) for k in range(4, 8)}, (30.0, 25.0, 0.1)
    )
    events, dissolved = explain_second_events([small, big], _lookup(obs_big, obs_small), TEST)
    assert [e.id for e in events] == ["AC-big"]
    assert len(dissolved) == 1 and dissolved[0].event == "AC-small"
    assert dissolved[0].by == {"AC-big": 4}
    assert [dict(x) for x in events[0].properties["explains"]] == [
        {"event": "AC-small", "detections": 4}
    ]
    off = replace(TEST, sigma=0.0)
    events, dissolved = explain_second_events([small, big], _lookup(obs_big, obs_small), off)
    assert len(events) == 2 and not dissolved


def test_two_rounds_heard_at_the_same_sensors_are_two_events():
    """Two guns 20 m apart firing together: every arrival of the second fits the first's
    predicted ones, but each sensor heard the first too (a fitting detection of its own), and a
    sensor hears a shot once: both events stay. A round half a second later: not explained. A
    fused event is not tested, nor does a weaker event explain a stronger one."""
    rng = np.random.default_rng(5)
    gun1, obs1 = _acoustic(
        "AC-gun1", {k: (f"S{k}-g1", _at(k, 0.0, 0.0, 0.0, rng)) for k in range(8)}, (0, 0, 0)
    )
    gun2, obs2 = _acoustic(
        "AC-gun2",
        {k: (f"S{k}-g2", _at(k, 20.0, 0.0, 0.0, rng)) for k in range(7)},
        (20.0, 0.0, 0.0),
    )
    later, obs3 = _acoustic(
        "AC-later",
        {k: (f"S{k}-g3", _at(k, 0.0, 0.0, 0.5, rng)) for k in range(6)},
        (0.0, 0.0, 0.5),
    )
    lookup = _lookup(obs1, obs2, obs3)
    events, dissolved = explain_second_events([gun1, gun2, later], lookup, TEST)
    assert not dissolved and len(events) == 3
    # A fused event (a radar block) is not dissolved, even when a stronger event explains it.
    times = {k: _at(k, 0.0, 0.0, 0.0, rng) for k in range(8)}
    small, obs_small = _acoustic(
        "AC-small", {k: (f"S{k}-r1", times[k]) for k in range(4, 8)}, (30.0, 25.0, 0.1)
    )
    big, obs_big = _acoustic(
        "AC-big", {k: (f"S{k}-r1", times[k]) for k in range(4)}, (0.0, 0.0, 0.0)
    )
    fused = replace(small, properties={**small.properties, "radar": {"event": "RL-CB1-1"}})
    events, dissolved = explain_second_events([fused, big], _lookup(obs_big, obs_small), TEST)
    assert not dissolved and len(events) == 2


def test_a_second_event_needs_one_shot_holding_most_of_its_arrivals():
    """Two rounds half a second apart, each located by an event holding its arrivals at sensors
    0-3. An event holding two arrivals of each at sensors 4-7: every arrival fits a better
    supported event, but no shot holds most of them: kept. With three of the first round's and
    one of the second's: a second event of the first round, dissolved."""
    rng = np.random.default_rng(6)
    r1 = {k: _at(k, 0.0, 0.0, 0.0, rng) for k in range(8)}
    r2 = {k: _at(k, 0.0, 0.0, 0.5, rng) for k in range(8)}
    one, obs1 = _acoustic("AC-1", {k: (f"S{k}-r1", r1[k]) for k in range(4)}, (0.0, 0.0, 0.0))
    two, obs2 = _acoustic("AC-2", {k: (f"S{k}-r2", r2[k]) for k in range(4)}, (0.0, 0.0, 0.5))
    halves = {4: ("S4-r1", r1[4]), 5: ("S5-r1", r1[5]), 6: ("S6-r2", r2[6]), 7: ("S7-r2", r2[7])}
    even, obs_even = _acoustic("AC-x", halves, (0.0, 0.0, 0.25))
    events, dissolved = explain_second_events([one, two, even], _lookup(obs1, obs2, obs_even), TEST)
    assert not dissolved and len(events) == 3
    most = {**halves, 6: ("S6-r1", r1[6])}
    uneven, obs_uneven = _acoustic("AC-x", most, (0.0, 0.0, 0.1))
    events, dissolved = explain_second_events(
        [one, two, uneven], _lookup(obs1, obs2, obs_uneven), TEST
    )
    assert [d.event for d in dissolved] == ["AC-x"]
    assert dissolved[0].by == {"AC-1": 3, "AC-2": 1}


def test_a_shot_sent_back_from_a_mixture_joins_its_rounds_own_event():
    """Round 1's shot was fused with the mixture (round 1 at sensors 0-3, round 2 at 4-7), not
    with round 1's own event (its arrivals at sensors 4-7): explaining away sends the shot back
    alone, and merging the leftovers fuses it with round 1's event, which takes over what the
    shot explains and its pairing with the impact. Round 2's shot has no free event of its
    round and stays alone."""
    rng = np.random.default_rng(4)
    mixture, observations = _mixture(rng)
    own, obs1 = _acoustic(
        "AC-1", {k: (f"S{k}-o1", _arrival_s(k, 0.0, rng)) for k in range(4, 8)}, (0.0, 0.0, 0.0)
    )
    r1, r2 = _radar("RL-CB1-1", 0.0), _radar("RL-CB1-2", 0.5)
    fused, impact = _fused_with_impact(mixture, r1)
    events, dissolved = explain_away(
        [fused, own, r2, impact],
        _lookup(observations, obs1),
        TEST,
        radar_shots={r1.id: r1, r2.id: r2},
    )
    assert [d.event for d in dissolved] == ["AC-mix"]
    assert {e.id for e in events} == {"RL-CB1-1", "AC-1", "RL-CB1-2", "RI-CB1-9"}
    radar_ids = {r1.id, r2.id, impact.id}
    merged, n = merge_leftovers(events, radar_ids, 4.5, 3.0)
    assert n == 1
    by_id = {e.id: e for e in merged}
    assert set(by_id) == {"AC-1", "RL-CB1-2", "RI-CB1-9"}
    joined = by_id["AC-1"]
    assert joined.properties["radar"]["event"] == "RL-CB1-1"
    assert "explains" not in joined.properties["radar"]
    assert [dict(x) for x in joined.properties["explains"]] == [
        {"event": "AC-mix", "detections": 4}
    ]
    assert set(joined.evidence) == set(obs1) | set(r1.evidence)
    assert joined.paired == "RI-CB1-9" and by_id["RI-CB1-9"].paired == "AC-1"
    assert "explains" in by_id["RL-CB1-2"].properties  # alone, as it was
    # Nothing was left apart to merge: the events come back as they were.
    again, n = merge_leftovers(merged, radar_ids, 4.5, 3.0)
    assert n == 0 and again == merged
