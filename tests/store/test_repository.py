"""Records into the store and back out, on every backend `store_url` gives."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from truceline.records import (
    AcousticArrival,
    EvaluationStatus,
    Quarantined,
    QuarantineReason,
    Review,
    Sensor,
)
from truceline.store import AddResult, Store, open_store
from truceline.store.repository import DEFERRED_INDEXES, _create_engine
from truceline.timeutil import MAX_NS, MIN_NS

from .factories import T0, event, observation, provenance, violation

# -- sensors ------------------------------------------------------------------------------------


def test_sensors_round_trip_and_are_replaced_by_id(store: Store) -> None:
    a = Sensor(
        id="A-01",
        kind="acoustic",
        operator="monitor",
        lon=37.8,
        lat=48.0,
        elevation_m=211.5,
        timing_sigma_s=0.005,
        public_key="MCowBQYDK2VwAyEA",
        properties={"model": "SF-2", "mast_m": [2, 4.5]},
        raw='{"type": "Feature", "properties": {"id": "A-01"}}',
    )
    b = Sensor(id="B-07", kind="radar", operator="UA", lon=38.1, lat=48.3)
    assert store.add_sensors([b, a]) == 2
    assert store.sensors() == [a, b]
    moved = dataclasses.replace(b, lon=38.2, properties={"note": "moved"})
    store.add_sensors([moved])
    assert store.sensors() == [a, moved]


# -- observations -------------------------------------------------------------------------------


def test_observations_round_trip_exactly(store: Store) -> None:
    raw = '  {"id": "obs-ü", "kind": "acoustic",\t"note": "naïve 炮 \\u00e9 🚀"}\r\n '
    observations = [
        observation(
            "obs-ü",
            raw=raw,
            time_ns=T0 + 1,
            snr_db=7.25,
            azimuth_deg=[10.5, 11.0],
            nested={"a": [1, {"b": None}]},
        ),
        dataclasses.replace(observation("obs-min", time_ns=MIN_NS), signature="c2lnbmF0dXJl"),
        observation("obs-max", time_ns=MAX_NS),
    ]
    result = store.add_observations(observations, run_id="run-1")
    assert result == AddResult(inserted=3, duplicates=0, conflicts=())
    stored = list(store.observations())
    assert stored == [observations[1], observations[0], observations[2]]
    assert stored[1].raw == raw
    assert type(stored[0].time_ns) is int
    assert store.observation("obs-ü") == observations[0]
    assert store.observation("nope") is None


def test_acoustic_arrivals_are_sensor_time_and_bearing_of_acoustic_observations(
    store: Store,
) -> None:
    radar = dataclasses.replace(observation("r-1"), kind="radar_plot")
    store.add_observations(
        [
            observation("a-1", sensor="A-01", time_ns=T0 + 5, azimuth_deg=212.5, snr_db=9.0),
            observation("a-2", sensor="A-02", time_ns=T0 + 7, azimuth_deg=3, azimuth_sigma_deg=4.5),
            observation("a-3", sensor="A-03", time_ns=MAX_NS),
            radar,
        ]
    )
    found = sorted(store.acoustic_arrivals(["a-3", "a-1", "a-2", "r-1", "nope"] * 300))
    assert found == [
        AcousticArrival("a-1", "A-01", T0 + 5, 212.5, None),
        AcousticArrival("a-2", "A-02", T0 + 7, 3.0, 4.5),
        AcousticArrival("a-3", "A-03", MAX_NS, None, None),
    ]
    assert type(found[2].time_ns) is int and all(type(a.azimuth_deg) is not str for a in found)
    assert store.acoustic_arrivals([]) == []


def test_observations_come_back_in_time_order_within_a_half_open_range(store: Store) -> None:
    times = [T0 + 3, T0, T0 + 2, T0 + 1, T0 + 2]
    store.add_observations(observation(f"o{i}", time_ns=t) for i, t in enumerate(times))
    assert [o.id for o in store.observations()] == ["o1", "o3", "o2", "o4", "o0"]
    assert [o.id for o in store.observations(since_ns=T0 + 1, until_ns=T0 + 3)] == [
        "o3",
        "o2",
        "o4",
    ]
    assert [o.id for o in store.observations(since_ns=T0 + 3)] == ["o0"]
    assert [o.id for o in store.observations(until_ns=T0)] == []
    assert store.observation_count() == 5


def test_a_resent_observation_is_a_no_op(store: Store) -> None:
    first = observation("obs-1")
    assert store.add_observations([first]).inserted == 1
    again = dataclasses.replace(first, received_ns=first.received_ns + 10**9)
    assert store.add_observations([again]) == AddResult(inserted=0, duplicates=1)
    assert store.observation_count() == 1
    assert store.observation("obs-1") == first


def test_a_resent_observation_with_only_whitespace_changed_is_a_duplicate(store: Store) -> None:
    first = observation("obs-1")
    store.add_observations([first])
    spaced = dataclasses.replace(first, raw=first.raw.replace(", ", ",  ") + "\n")
    assert store.add_observations([spaced]) == AddResult(inserted=0, duplicates=1)
    assert store.observation("obs-1").raw == first.raw


@pytest.mark.parametrize(
    "change",
    [
        {"time_ns": T0 + 1},
        {"sensor": "A-02"},
        {"kind": "weather"},
        {"signature": "b3RoZXI="},
        {"fields": {"snr_db": 12.6, "signal": "launch"}},
    ],
)
def test_a_conflicting_resend_is_reported_not_stored(store: Store, change: dict) -> None:
    first = observation("obs-1")
    store.add_observations([first])
    changed = dataclasses.replace(first, raw=first.raw + " ", **change)
    result = store.add_observations([changed, observation("obs-2")])
    assert result == AddResult(inserted=1, duplicates=0, conflicts=(changed,))
    assert store.observation("obs-1") == first


class _RacedStore(Store):
    """A store that, between looking up a batch's ids and inserting the batch, lets another
    writer (a second store on the same database) store one of them: the race of two ingesters."""

    def __init__(self, engine: sa.Engine, other: Store, first: object) -> None:
        super().__init__(engine, batch_size=100)
        self._other, self._first = other, first

    def _stored_ids(self, connection, ids):  # type: ignore[no-untyped-def]
        found = super()._stored_ids(connection, ids)
        if self._first is not None:
            self._other.add_observations([self._first])  # committed by the other writer
            self._first = None
        return found


def test_an_observation_stored_by_another_writer_meanwhile_is_a_duplicate(
    store_url: str,
) -> None:
    a, b = observation("obs-1"), observation("obs-2")
    with open_store(store_url) as other:
        raced = _RacedStore(_create_engine(store_url), other, a)
        assert raced.add_observations([a, b]) == AddResult(inserted=1, duplicates=1)
        assert [o.id for o in other.observations()] == ["obs-1", "obs-2"]
        entries = [e.record_id for e in other.ledger.entries() if e.kind == "observation"]
        assert sorted(entries) == ["obs-1", "obs-2"]  # one entry each, none twice
        raced.close()


@pytest.mark.parametrize("batch_size", [1, 2, 100])
def test_repeats_within_one_call_are_judged_against_what_is_stored(
    store: Store, batch_size: int
) -> None:
    stored = observation("obs-1")
    store.add_observations([stored])
    conflicting = observation("obs-1", time_ns=T0 + 7)
    new = observation("obs-2")
    new_conflicting = observation("obs-2", time_ns=T0 + 9)
    batch = [conflicting, new, stored, new, conflicting, new_conflicting]
    result = store.add_observations(batch, batch_size=batch_size)
    assert result == AddResult(
        inserted=1, duplicates=2, conflicts=(conflicting, conflicting, new_conflicting)
    )
    assert store.observation("obs-1") == stored
    assert store.observation("obs-2") == new
    assert store.observation_count() == 2


def test_observations_are_written_in_batches_from_a_lazy_stream(store: Store) -> None:
    consumed: list[int] = []

    def stream():
        for i in range(25):
            consumed.append(i)
            yield observation(f"o{i:02d}", time_ns=T0 + i)

    result = store.add_observations(stream(), batch_size=7)
    assert result == AddResult(inserted=25)
    assert [o.id for o in store.observations()] == [f"o{i:02d}" for i in range(25)]


def test_add_results_add_up() -> None:
    a = AddResult(2, 1, (observation("x"),))
    b = AddResult(3, 0, (observation("y"),))
    assert a + b == AddResult(5, 1, (observation("x"), observation("y")))
    assert sum([a, b], AddResult()) == a + b


def test_the_run_that_stored_an_observation_is_recorded(store: Store) -> None:
    run_id = store.begin_run("ingest", {"batch_size": 100})
    store.add_observations([observation("obs-1")], run_id=run_id)
    with store._engine.connect() as connection:
        stored_run = connection.execute(sa.text("SELECT run_id FROM observations")).scalar_one()
    assert stored_run == run_id


def test_non_finite_numbers_are_refused_on_every_backend(store: Store) -> None:
    with pytest.raises(ValueError, match="JSON compliant"):
        store.add_observations([observation("obs-nan", snr_db=float("nan"))])
    assert store.observation_count() == 0


_ids = itertools.count()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    raw=st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=300),
    time_ns=st.integers(MIN_NS, MAX_NS),
)
def test_any_raw_text_and_any_time_round_trip(store: Store, raw: str, time_ns: int) -> None:
    obs = observation(f"h{next(_ids)}", raw=raw, time_ns=time_ns)
    assert store.add_observations([obs]).inserted == 1
    assert store.observation(obs.id) == obs
    assert store.observation(obs.id).raw.encode() == raw.encode()


# -- quarantine ---------------------------------------------------------------------------------


def test_quarantined_inputs_are_kept_with_reasons_and_counted(store: Store) -> None:
    items = [
        Quarantined(
            raw='{"id": "x", "sensor": "A-17"}',
            reason="unknown sensor 'A-17'",
            reason_code=QuarantineReason.UNKNOWN_SENSOR,
            source="observations.jsonl:12",
            received_ns=T0,
            observation_id="x",
        ),
        Quarantined(
            raw="{not json\t ",
            reason="malformed JSON: expecting property name",
            reason_code="malformed-json",
            source="observations.jsonl:13",
            received_ns=T0 + 1,
        ),
        Quarantined(
            raw='{"id": "y", "sensor": "A-99"}',
            reason="unknown sensor 'A-99'",
            reason_code="unknown-sensor",
            source="observations.jsonl:14",
            received_ns=T0 + 2,
            observation_id="y",
        ),
    ]
    assert store.quarantine(iter(items), run_id="r", batch_size=2) == 3
    assert store.quarantined() == items
    assert store.quarantined("unknown-sensor") == [items[0], items[2]]
    assert store.quarantined(QuarantineReason.MALFORMED_JSON) == [items[1]]
    assert store.quarantined(limit=1) == items[:1]
    assert store.quarantine_counts() == {"malformed-json": 1, "unknown-sensor": 2}


def test_conflicts_can_be_quarantined_as_duplicate_conflicts(store: Store) -> None:
    store.add_observations([observation("obs-1")])
    result = store.add_observations([observation("obs-1", time_ns=T0 + 1)])
    store.quarantine(
        Quarantined(
            raw=o.raw,
            reason=f"id {o.id!r} was received before with other content",
            reason_code=QuarantineReason.DUPLICATE_CONFLICT,
            source="feed",
            received_ns=o.received_ns,
            observation_id=o.id,
        )
        for o in result.conflicts
    )
    assert store.quarantine_counts() == {"duplicate-conflict": 1}


# -- events and violations ----------------------------------------------------------------------


def test_events_round_trip_with_their_violations(store: Store) -> None:
    launch = event("ev-1", paired="ev-2")
    impact = event(
        "ev-2",
        type="impact",
        time_ns=T0 + 30 * 10**9,
        paired="ev-1",
        violations=(violation("ev-2/a", "ev-2"), violation("ev-2/b", "ev-2")),
    )
    track = event(
        "ev-3",
        type="air-track",
        time_ns=T0 - 5,
        origin=dataclasses.replace(
            event().origin,
            time_ns=T0 - 5,
            ellipse95=None,
            covariance=None,
            rms_residual_s=None,
            n_sensors=0,
        ),
        path=((37.8, 48.0, 120.0, T0 - 5), (37.81, 48.01, 150.5, MAX_NS)),
        attribution={},
        violations=(),
        properties={},
        provenance=provenance(
            evaluation_mode="manual",
            evaluation_status="reviewed",
            author="analyst 7",
            method=None,
            inputs=(),
        ),
    )
    assert store.add_events([launch, impact, track], run_id="run-1") == 3
    assert store.events() == [track, launch, impact]
    assert store.event("ev-2") == impact
    assert store.event("missing") is None
    assert store.events(since_ns=T0, until_ns=T0 + 30 * 10**9) == [launch]
    assert store.violations() == [*launch.violations, *impact.violations]
    assert store.violations("ev-2") == list(impact.violations)


def test_storing_an_event_again_replaces_it_and_its_violations(store: Store) -> None:
    store.add_events([event("ev-1")])
    revised = event(
        "ev-1",
        type="impact",
        attribution={"UA": 0.5},
        violations=(violation("ev-1/buffer", "ev-1", rule="buffer", article="4"),),
    )
    store.add_events([revised])
    assert store.events() == [revised]
    assert store.violations() == list(revised.violations)


def test_violations_added_later_appear_on_their_event(store: Store) -> None:
    store.add_events([event("ev-1", violations=())])
    later = violation("ev-1/no-fire", "ev-1", probability=0.4)
    assert store.add_violations([later]) == 1
    assert store.event("ev-1").violations == (later,)
    store.add_violations([dataclasses.replace(later, probability=0.9)])
    assert store.violations("ev-1")[0].probability == 0.9


def test_a_violation_of_an_unknown_event_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="not stored"):
        store.add_violations([violation("x/no-fire", "x")])


def test_an_event_carrying_another_events_violation_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="names event 'ev-9'"):
        store.add_events([event("ev-1", violations=(violation("v", "ev-9"),))])


# -- reviews and runs ---------------------------------------------------------------------------


def test_reviews_are_appended_never_overwritten(store: Store) -> None:
    first = Review("ev-1", EvaluationStatus.REVIEWED, "location checked", "analyst 7", T0 + 10)
    second = Review("ev-1", "rejected", "echo from a quarry blast", "analyst 3", T0 + 20)
    other = Review("ev-2", "confirmed", "matches OSCE report", "analyst 7", T0 + 15)
    for review in (second, other, first):
        store.add_review(review)
    assert store.reviews("ev-1") == [first, second]
    assert store.reviews() == [first, other, second]
    assert store.reviews("none") == []


def test_runs_record_command_settings_and_summary(store: Store) -> None:
    run_id = store.begin_run("process", {"store": {"batch_size": 5000}, "seed": 7})
    started = store.run(run_id)
    assert started.command == "process"
    assert started.settings == {"store": {"batch_size": 5000}, "seed": 7}
    assert started.finished_ns is None and started.summary is None
    store.finish_run(run_id, {"events": 12, "quarantined": {"bad-time": 2}})
    finished = store.run(run_id)
    assert finished.finished_ns >= finished.started_ns
    assert finished.summary == {"events": 12, "quarantined": {"bad-time": 2}}
    assert store.runs() == [finished]
    assert store.run("nope") is None
    with pytest.raises(ValueError, match="no run 'nope'"):
        store.finish_run("nope", {})


def test_run_ids_sort_by_start_time(store: Store) -> None:
    first = store.begin_run("ingest")
    second = store.begin_run("ingest")
    assert first != second
    assert first[:16] <= second[:16]
    assert len(first) == len("20260301T041233Z-1a2b3c")


def test_stored_json_is_plain_utf8(store: Store) -> None:
    store.add_observations([observation("o", note="Горлівка")])
    with store._engine.connect() as connection:
        text = connection.execute(sa.text("SELECT CAST(fields AS TEXT) FROM observations"))
        assert json.loads(text.scalar_one())["note"] == "Горлівка"


def _index_names(store: Store) -> set[str]:
    inspector = sa.inspect(store._engine)
    return {
        str(index["name"])
        for table in ("observations", "ledger_entries")
        for index in inspector.get_indexes(table)
    }


def test_a_bulk_load_builds_the_secondary_indexes_at_its_end(store: Store) -> None:
    names = {str(index.name) for index in DEFERRED_INDEXES}
    assert names <= _index_names(store)
    with store.bulk_load() as deferred:
        assert deferred == (store.backend == "sqlite")  # PostgreSQL keeps them
        if deferred:
            assert not names & _index_names(store)
        result = store.add_observations([observation("obs-1"), observation("obs-2")])
        assert result.inserted == 2
        assert store.add_observations([observation("obs-1")]) == AddResult(duplicates=1)
    assert names <= _index_names(store)
    assert [o.id for o in store.observations()] == ["obs-1", "obs-2"]
    with store.bulk_load() as deferred:  # observations stored: the indexes are kept
        assert not deferred
        assert names <= _index_names(store)


def test_a_bulk_load_within_another_leaves_the_indexes_to_the_outer_one(store: Store) -> None:
    names = {str(index.name) for index in DEFERRED_INDEXES}
    with store.bulk_load() as outer:
        with store.bulk_load() as inner:
            assert inner == outer == (store.backend == "sqlite")
            assert store.add_observations([observation("obs-1")]).inserted == 1
        if outer:  # the inner one's end built nothing
            assert not names & _index_names(store)
    assert names <= _index_names(store)


def test_a_bulk_load_into_an_empty_store_finds_what_another_writer_stored_meanwhile(
    tmp_path: Path,
) -> None:
    """(SQLite: a bulk load into an empty store inserts without looking the ids up first.)"""
    url = f"sqlite:///{tmp_path / 'truceline.db'}"
    with open_store(url, batch_size=100) as store, open_store(url, batch_size=100) as other:
        with store.bulk_load() as deferred:
            assert deferred
            assert store.add_observations([observation("obs-1")]).inserted == 1
            other.add_observations([observation("obs-2")])  # another writer, meanwhile
            result = store.add_observations([observation("obs-2"), observation("obs-3")])
            assert result == AddResult(inserted=1, duplicates=1)
        assert sorted(o.id for o in store.observations()) == ["obs-1", "obs-2", "obs-3"]


def test_indexes_missing_after_an_interrupted_bulk_load_are_built_by_the_next(
    tmp_path: Path,
) -> None:
    """(SQLite alone: only a SQLite store defers its indexes.)"""
    with open_store(f"sqlite:///{tmp_path / 'truceline.db'}", batch_size=100) as store:
        _interrupted_bulk_load(store)


def _interrupted_bulk_load(store: Store) -> None:
    names = {str(index.name) for index in DEFERRED_INDEXES}
    with pytest.raises(RuntimeError), store.bulk_load():
        store.add_observations([observation("obs-1")])
        raise RuntimeError("interrupted")
    assert names <= _index_names(store)  # built on the way out
    with store._engine.begin() as connection:  # as if the process had been killed
        for index in DEFERRED_INDEXES:
            connection.execute(sa.schema.DropIndex(index))
    with store.bulk_load() as deferred:
        assert not deferred
        assert names <= _index_names(store)
