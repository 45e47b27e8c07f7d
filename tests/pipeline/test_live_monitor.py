"""The live monitor (`truceline.monitor`) on a simulated sector: acoustic detections and
counter-battery radar tracks replayed as a live feed, the published stream checked against the
scenario's truth."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from truceline.agreement.load import load_agreement
from truceline.cli import main
from truceline.config import load_settings
from truceline.ingest.observations import ObservationReader
from truceline.ingest.sensors import read_sensors
from truceline.monitor import LiveMonitor, replay
from truceline.records import Observation


@pytest.fixture(scope="module")
def stream(tmp_path_factory):
    sim = tmp_path_factory.mktemp("live") / "sim"
    with pytest.raises(SystemExit) as done:
        main(["simulate", "--scenario", "sector-quick", "--seed", "2", "--out", str(sim)])
    assert done.value.code == 0
    sensors = read_sensors(sim / "sensors.geojson")
    reader = ObservationReader(sensors, source_name="observations.jsonl")
    with open(sim / "observations.jsonl", "rb") as handle:
        observations = [o for o in reader.read_lines(handle) if isinstance(o, Observation)]
    settings = load_settings(flags={}).settings
    monitor = LiveMonitor(sensors, settings, load_agreement(sim / "agreement.yaml"))
    published = list(replay(monitor, observations, settings.associate.batch_s))
    source_of: dict[str, str] = {}
    truth: dict[str, dict] = {}
    for line in Path(sim / "truth.jsonl").read_text().splitlines():
        source = json.loads(line)
        truth[source["id"]] = source
        source_of.update((o, source["id"]) for o in source.get("observations") or ())
    return monitor, published, truth, source_of, sim


def _last(published) -> dict:
    return {p.event.id: p for _, p in published}


def test_each_event_is_created_once_then_revised_or_withdrawn(stream):
    _, published, *_ = stream
    state: dict[str, str] = {}
    for _, p in published:
        before = state.get(p.event.id)
        assert (before is None) == (p.action == "created"), (p.event.id, before, p.action)
        assert before != "withdrawn"
        state[p.event.id] = p.action
    assert Counter(state.values())["withdrawn"] < 0.05 * len(state)


def test_a_radar_shot_is_published_first_and_its_acoustic_event_joins_it(stream):
    monitor, published, *_ = stream
    last = _last(published)
    radar_first = [
        e.event
        for e in last.values()
        if e.action != "withdrawn"
        and e.event.id.startswith(("RL-", "RI-"))
        and any(not x.startswith("CB") for x in e.event.evidence)
    ]
    # Most shots this sector's radars track reach the map by their track, before the acoustic
    # network has heard them all; their acoustic events then revise them.
    assert len(radar_first) >= 100
    assert monitor.fusion.counts["joined_acoustic"] >= len(radar_first)


def test_fused_parts_are_one_shot(stream):
    """The acoustic event and the radar track(s) of each fused event are the same source."""
    _, published, truth, source_of, _ = stream
    fused = same = 0
    for p in _last(published).values():
        block = p.event.properties.get("radar")
        if p.action == "withdrawn" or not isinstance(block, dict):
            continue
        heard = Counter(source_of.get(x, "false alarm") for x in p.event.evidence if x[:2] != "CB")
        source = source_of.get(block["radar_track"])
        if p.event.type == "impact" and source:
            source = truth[source].get("paired")  # a track's impact: its launch's partner
        fused += 1
        same += heard.most_common(1)[0][0] == source
    assert fused >= 150
    assert same >= 0.97 * fused


def test_several_radars_tracks_of_a_shot_are_one_event(stream):
    _, published, _, source_of, _ = stream
    joined = [
        p.event
        for p in _last(published).values()
        if p.action != "withdrawn" and len(p.event.properties.get("radar_all") or ()) >= 2
    ]
    assert len(joined) >= 100
    for event in joined:
        tracks = {block["radar_track"] for block in event.properties["radar_all"]}
        assert len({source_of.get(t) for t in tracks}) == 1, event.id


def test_mixtures_held_back_are_not_published(stream):
    """Acoustic events explained as mixtures of rounds the radar has published are held back:
    never in the stream (unless a revision makes them more, when they leave `held`)."""
    monitor, published, *_ = stream
    assert monitor.fusion.held
    assert not monitor.fusion.held & {p.part for _, p in published}


def test_the_live_command_writes_the_stream_and_counts_bad_lines(stream, tmp_path, capsys):
    """`truceline live`: the same stream as the monitor's replay, one JSON line per message with
    the event as a contract feature; a malformed line is counted by reason, not published."""
    _, published, _, _, sim = stream
    observations = tmp_path / "observations.jsonl"
    good = (sim / "observations.jsonl").read_text()
    observations.write_text('{"id": "broken-1", "kind": "acoustic"}\n' + good)
    out = tmp_path / "stream.jsonl"
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main(
            ["live", "--agreement", str(sim / "agreement.yaml"), "--sensors",
             str(sim / "sensors.geojson"), "--observations", str(observations), "--out", str(out)]
        )  # fmt: skip
    assert done.value.code == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(m["action"], m["event"]["properties"]["id"], m["part"]) for m in lines] == [
        (p.action, p.event.id, p.part) for _, p in published
    ]
    assert all(m["event"]["type"] == "Feature" for m in lines)
    summary = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert summary["quarantined"] == {"missing-field": 1}
    assert summary["published"]["created"] == sum(m["action"] == "created" for m in lines)
