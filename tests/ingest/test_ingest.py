"""Ingest into the store: re-sends are no-ops within a run and across runs, the stream for the
pipeline, and nothing lost on fuzzed input."""

from __future__ import annotations

import gc
import random
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.ingest.conftest import good_lines, line
from tests.ingest.test_reader import _files
from truceline.config import Settings, StoreSettings
from truceline.ingest import Ingestion, bulk_collection, ingest
from truceline.records import Observation
from truceline.store import open_store

SMALL_BATCHES = Settings(store=StoreSettings(batch_size=7))


def test_identical_resend_within_a_run_is_a_noop(store, sensors):
    lines = good_lines(10)
    summary = ingest(
        store, sensors, [*lines, lines[3], lines[3], lines[9]], run_id="r1", settings=SMALL_BATCHES
    )
    assert (summary.lines, summary.accepted, summary.duplicates_in_run) == (13, 10, 3)
    assert summary.duplicates_in_store == 0 and summary.quarantined_total == 0
    assert store.observation_count() == 10 and store.quarantine_counts() == {}
    assert summary.balanced()


def test_identical_resend_across_runs_is_a_noop(store, sensors, tmp_path: Path):
    path = tmp_path / "observations.jsonl"
    path.write_text("\n".join(good_lines(20)) + "\n", encoding="utf-8")
    first = ingest(store, sensors, path, run_id="r1", settings=SMALL_BATCHES)
    assert first.accepted == 20 and first.source == str(path)
    stored = {o.id: o for o in store.observations()}
    second = ingest(store, sensors, path, run_id="r2", settings=SMALL_BATCHES)
    assert (second.accepted, second.duplicates_in_store, second.quarantined_total) == (0, 20, 0)
    assert second.balanced() and store.observation_count() == 20
    assert {o.id: o for o in store.observations()} == stored  # the first receipt is kept


def test_conflicting_resend_is_quarantined_and_the_first_kept(store, sensors):
    ingest(store, sensors, good_lines(3), run_id="r1")
    changed = line("ok-1", time="2026-03-02T06:00:01.5Z", snr_db=1.0)
    summary = ingest(store, sensors, [changed, changed], run_id="r2", source="again.jsonl")
    # The second copy is a re-send of the first within the run; the first conflicts with the
    # store. Both are accounted for.
    assert summary.quarantined == {"duplicate-conflict": 1} and summary.duplicates_in_run == 1
    assert summary.balanced()
    (item,) = store.quarantined("duplicate-conflict")
    assert item.source == "again.jsonl:1" and item.raw == changed
    assert store.observation("ok-1").fields["snr_db"] == 19.5


def test_stream_yields_observations_in_the_order_received(store, sensors):
    shuffled = good_lines(40)
    random.Random(2).shuffle(shuffled)
    bad = line("bad", sensor="nowhere")
    lines = [*shuffled[:10], bad, shuffled[5], *shuffled[10:]]  # a bad line and a re-send
    ingestion = Ingestion(store, sensors, lines, run_id="r1", settings=SMALL_BATCHES)
    batches = list(ingestion.batches())
    streamed = [o for batch in batches for o in batch]
    assert all(type(o) is Observation for o in streamed)
    assert [o.raw for o in streamed] == shuffled
    assert max(len(b) for b in batches) <= 7
    assert ingestion.summary.accepted == 40 and ingestion.summary.balanced()


def test_stream_on_a_second_run(store, sensors):
    lines = good_lines(15)
    ingest(store, sensors, lines[:10], run_id="r1")
    again = Ingestion(store, sensors, lines, run_id="r2", settings=SMALL_BATCHES)
    assert sum(len(b) for b in again.batches()) == 15  # the same input gives the same stream
    fresh = Ingestion(store, sensors, lines, run_id="r3", settings=SMALL_BATCHES, new_only=True)
    assert sum(len(b) for b in fresh.batches()) == 0
    newer = good_lines(5, start=100)
    only_new = Ingestion(store, sensors, [*lines, *newer], run_id="r4", new_only=True)
    assert [o.id for b in only_new.batches() for o in b] == [f"ok-{i}" for i in range(100, 105)]


def test_sensors_are_stored(store, sensors):
    summary = ingest(store, sensors, [], run_id="r1")
    assert summary.sensors == len(sensors) and summary.lines == 0
    assert [s.id for s in store.sensors()] == sorted(s.id for s in sensors)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(blob=_files(), seed=st.integers(0, 3))
def test_fuzzed_files_stored_without_loss(store_url, sensors, blob, seed):
    with open_store(store_url, batch_size=5) as store:
        before = store.observation_count()
        quarantined_before = sum(store.quarantine_counts().values())
        summary = ingest(
            store,
            sensors,
            blob.splitlines(keepends=True),
            run_id=f"f{seed}",
            settings=Settings(store=StoreSettings(batch_size=5)),
        )
        assert summary.balanced()
        assert store.observation_count() - before == summary.accepted
        assert sum(store.quarantine_counts().values()) - quarantined_before == (
            summary.quarantined_total
        )


def test_bulk_collection_restores_the_collector():
    thresholds = gc.get_threshold()
    with bulk_collection(threshold=12_345):
        assert gc.get_threshold()[0] == 12_345
        assert gc.get_freeze_count() > 0
        cycle: list[object] = []
        cycle.append(cycle)  # garbage in a cycle is still collected, when it runs
        del cycle
        assert gc.collect() >= 1
    assert gc.get_threshold() == thresholds
    assert gc.get_freeze_count() == 0
