"""The live fusion of the acoustic and radar streams (`truceline.radar.live.LiveFusion`) on
hand-made events: what joins, under which id, and what a withdrawal leaves published."""

from __future__ import annotations

from truceline.config import RadarSettings
from truceline.geo.projection import TangentPlane
from truceline.radar.live import LiveFusion
from truceline.records import Ellipse, Event, Origin, Provenance

T0 = 1_772_500_000_000_000_000  # ns
LON, LAT = 37.8, 48.5


def _event(
    eid: str,
    east_m: float,
    north_m: float,
    t_s: float,
    *,
    sigma_m: float,
    sigma_s: float,
    radar: str | None = None,
    kind: str = "launch",
) -> Event:
    lon, lat = TangentPlane(LON, LAT).inverse(east_m, north_m)
    cov = ((sigma_m**2, 0.0, 0.0), (0.0, sigma_m**2, 0.0), (0.0, 0.0, sigma_s**2))
    origin = Origin(
        lon=float(lon[0]),
        lat=float(lat[0]),
        time_ns=T0 + round(t_s * 1e9),
        ellipse95=Ellipse(2.45 * sigma_m, 2.45 * sigma_m, 0.0),
        covariance=cov,
        n_sensors=1 if radar else 6,
    )
    if radar:
        evidence: tuple[str, ...] = (eid[3:],)
        props: dict = {"radar_track": eid[3:], "radar": radar}
    else:
        evidence = tuple(f"{eid}-{k}" for k in range(6))
        props = {"sound_speed_mps": 340.0, "wind_mps": [0.0, 0.0]}
    return Event(
        id=eid,
        type=kind,
        origin=origin,
        evidence=evidence,
        provenance=Provenance.automatic("test", evidence, 0),
        properties=props,
    )


def _shot(eid: str, east_m: float = 0.0, t_s: float = 0.0, radar: str = "CB1") -> Event:
    return _event(eid, east_m, 0.0, t_s, sigma_m=100.0, sigma_s=0.3, radar=radar)


def _heard(eid: str, east_m: float = 0.0, t_s: float = 0.0) -> Event:
    return _event(eid, east_m, 0.0, t_s, sigma_m=30.0, sigma_s=0.05)


def test_an_acoustic_event_joins_the_radar_shot_published_before_it():
    fusion = LiveFusion(RadarSettings())
    (first,) = fusion.radar([_shot("RL-T1")], {})
    assert (first.action, first.event.id) == ("created", "RL-T1")
    (joined,) = fusion.acoustic([_heard("ac-1", east_m=60.0, t_s=0.1)])
    # One event, the radar's id, both evidences, the origin between the two (information
    # weighted: nearer the sharper acoustic one).
    assert (joined.action, joined.event.id, joined.part) == ("revised", "RL-T1", "ac-1")
    assert set(joined.event.evidence) == {"T1", *(f"ac-1-{k}" for k in range(6))}
    east, _ = TangentPlane(LON, LAT).forward(joined.event.origin.lon, joined.event.origin.lat)
    assert 50.0 < float(east[0]) < 60.0
    assert fusion.published_id("ac-1") == "RL-T1"
    assert fusion.counts["joined_acoustic"] == 1


def test_an_acoustic_event_outside_the_gate_is_an_event_of_its_own():
    fusion = LiveFusion(RadarSettings())
    fusion.radar([_shot("RL-T1")], {})
    (alone,) = fusion.acoustic([_heard("ac-1", east_m=2000.0)])
    assert (alone.action, alone.event.id) == ("created", "ac-1")
    (late,) = fusion.acoustic([_heard("ac-2", east_m=0.0, t_s=6.0)])  # past the time window
    assert (late.action, late.event.id) == ("created", "ac-2")


def test_one_acoustic_event_per_radar_shot():
    fusion = LiveFusion(RadarSettings())
    fusion.radar([_shot("RL-T1")], {})
    joined, other = fusion.acoustic([_heard("ac-1", east_m=20.0), _heard("ac-2", east_m=-20.0)])
    assert joined.event.id == "RL-T1"
    assert (other.action, other.event.id) == ("created", "ac-2")


def test_a_radar_shot_joins_the_acoustic_event_published_before_it():
    fusion = LiveFusion(RadarSettings())
    fusion.acoustic([_heard("ac-1", east_m=60.0)])
    (joined,) = fusion.radar([_shot("RL-T1")], {})
    assert (joined.action, joined.event.id, joined.part) == ("revised", "ac-1", "RL-T1")
    assert joined.event.properties["radar"]["event"] == "RL-T1"
    # A second radar's shot without a fitted flight joins nothing: flights tell a ripple's
    # rounds apart, origins alone do not.
    (second,) = fusion.radar([_shot("RL-T2", radar="CB2")], {})
    assert (second.action, second.event.id) == ("created", "RL-T2")


def test_a_withdrawn_acoustic_event_leaves_its_radar_shot_published():
    fusion = LiveFusion(RadarSettings())
    shot = _shot("RL-T1")
    fusion.radar([shot], {})
    fusion.acoustic([_heard("ac-1", east_m=60.0)])
    (back,) = fusion.acoustic([], withdrawn=["ac-1"])
    assert (back.action, back.event.id, back.part, back.left) == ("revised", "RL-T1", "ac-1", True)
    assert back.event.origin == shot.origin and back.event.evidence == shot.evidence
    assert fusion.published_id("ac-1") is None
    # Alone, a withdrawn acoustic event is withdrawn from the stream.
    fusion.acoustic([_heard("ac-2", east_m=3000.0)])
    (gone,) = fusion.acoustic([], withdrawn=["ac-2"])
    assert (gone.action, gone.event.id, gone.left) == ("withdrawn", "ac-2", True)
    # The radar shot is free again for the round's own acoustic event.
    (joined,) = fusion.acoustic([_heard("ac-3", east_m=-40.0)])
    assert joined.event.id == "RL-T1"


def test_a_revised_acoustic_event_revises_the_event_it_joined():
    fusion = LiveFusion(RadarSettings())
    fusion.radar([_shot("RL-T1")], {})
    fusion.acoustic([_heard("ac-1", east_m=60.0)])
    (again,) = fusion.acoustic([_heard("ac-1", east_m=10.0)])
    assert (again.action, again.event.id) == ("revised", "RL-T1")
    east, _ = TangentPlane(LON, LAT).forward(again.event.origin.lon, again.event.origin.lat)
    assert float(east[0]) < 15.0


def test_published_events_are_forgotten_after_live_retain_s():
    fusion = LiveFusion(RadarSettings(live_retain_s=600.0))
    fusion.radar([_shot("RL-T1")], {})
    fusion.radar([_shot("RL-T9", east_m=50_000.0, t_s=700.0)], {})  # 700 s later, elsewhere
    assert fusion.counts["retired"] == 1
    (late,) = fusion.acoustic([_heard("ac-1", east_m=10.0)])
    assert (late.action, late.event.id) == ("created", "ac-1")
    # Within the time kept, it would have joined.
    kept = LiveFusion(RadarSettings(live_retain_s=900.0))
    kept.radar([_shot("RL-T1")], {})
    kept.radar([_shot("RL-T9", east_m=50_000.0, t_s=700.0)], {})
    (joined,) = kept.acoustic([_heard("ac-1", east_m=10.0)])
    assert joined.event.id == "RL-T1"
