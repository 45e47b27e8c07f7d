"""Values that ingest would quarantine must never come out of the simulator."""

from __future__ import annotations


def test_written_azimuths_are_below_360(busy):
    azimuths = [o["azimuth_deg"] for o in busy.observations() if "azimuth_deg" in o]
    assert len(azimuths) > 500  # the busy scenario has arrays everywhere
    assert all(0.0 <= a < 360.0 for a in azimuths)


def test_radar_tracks_have_two_points_at_least(busy):
    tracks = [o for o in busy.observations() if o["kind"] == "radar_track"]
    assert tracks
    assert min(len(t["points"]) for t in tracks) >= 2
