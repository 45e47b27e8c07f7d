"""A stage in a worker process: results and counts come back; failures are reported."""

from __future__ import annotations

import gc
import os
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pytest

from truceline.records import Observation
from truceline.worker import ChildTask, StageWorker, WorkerError


@dataclass
class Counts:
    seen: int = 0
    kinds: dict[str, int] = field(default_factory=dict)


class Tally:
    """A toy stage: counts what it is fed; fails on the observation named `fail`."""

    def __init__(self, fail: str = "", exit_on: str = "") -> None:
        self.counts = Counts()
        self.ids: list[str] = []
        self.fail, self.exit_on = fail, exit_on

    def feed(self, obs: Observation) -> None:
        if obs.id == self.fail:
            raise ValueError(f"cannot take {obs.id}")
        if obs.id == self.exit_on:
            os._exit(3)
        self.counts.seen += 1
        self.counts.kinds[obs.kind] = self.counts.kinds.get(obs.kind, 0) + 1
        self.ids.append(obs.id)

    def finish(self) -> list[str]:
        return self.ids


def observations(n: int) -> list[Observation]:
    return [
        Observation(
            id=f"o{i}",
            kind="acoustic" if i % 3 else "weather",
            sensor="S1",
            time_ns=i,
            raw="{}",
            received_ns=i,
            fields={"snr_db": float(i)},
        )
        for i in range(n)
    ]


def test_the_worker_returns_what_the_stage_made_in_order():
    fed = observations(4567)  # more than one batch, and a part batch at the end
    with StageWorker(Tally, name="tally") as worker:
        for obs in fed:
            worker.feed(obs)
        worker.end_input()  # the stage finishes while the caller does other work
        worker.end_input()  # (once)
        result = worker.finish()
    assert result == [o.id for o in fed]
    assert worker.counts.seen == 4567
    assert worker.counts.kinds == {"weather": 1523, "acoustic": 3044}


class Busy(Tally):
    """A toy stage that spends `cpu_s` of CPU in `finish`."""

    def __init__(self, cpu_s: float) -> None:
        super().__init__()
        self.cpu_s = cpu_s

    def finish(self) -> list[str]:
        until = time.process_time() + self.cpu_s
        while time.process_time() < until:
            pass
        return self.ids


def test_the_worker_reports_its_own_cpu_time_not_the_callers():
    mine = time.process_time()
    with StageWorker(partial(Busy, 0.3), name="busy") as worker:
        assert worker.cpu_s is None  # not until it has finished
        worker.finish()
    assert 0.3 <= worker.cpu_s < 0.3 + 2.0  # its spin, plus starting up and unpickling
    assert time.process_time() - mine < 0.3  # the caller waited, it did not spin


@pytest.mark.parametrize(
    ("stage", "reported"),
    [
        (lambda: Tally(fail="o10"), "cannot take o10"),  # an error: its traceback
        (lambda: Tally(exit_on="o5"), "exit code 3"),  # the process died: its exit code
    ],
)
def test_a_failed_worker_is_reported(stage, reported):
    with StageWorker(stage, name="tally") as worker:
        for obs in observations(20):
            worker.feed(obs)
        with pytest.raises(WorkerError, match=reported):
            worker.finish()


def test_an_error_is_reported_while_the_sender_still_has_batches_to_send():
    """The stage fails on the first batch; the sender, blocked on a full queue, learns why."""
    with (
        StageWorker(lambda: Tally(fail="o0"), name="tally", batch=10, queue_batches=2) as worker,
        pytest.raises(WorkerError, match="cannot take o0"),
    ):
        for obs in observations(1000):
            worker.feed(obs)
        worker.finish()


def test_observations_reach_the_worker_equal_to_those_sent():
    from truceline.records import FrozenDict
    from truceline.worker import _pack, _unpack

    sent = [
        Observation(
            id="a-1",
            kind="acoustic",
            sensor="A1",
            time_ns=1_772_582_400_123_456_789,
            raw='{"id":"a-1"}',
            received_ns=5,
            signature=None,
            fields=FrozenDict(snr_db=18.5, signal="launch", azimuth_deg=(1.0, 2.0)),
        ),
        Observation(
            id="w-1",
            kind="weather",
            sensor="W1",
            time_ns=7,
            raw="{}",
            received_ns=8,
            signature="c2ln",
            fields=FrozenDict(temperature_c=4.5, wind_mps=(1.0, -2.0), extra={"a": [1, 2]}),
        ),
    ]
    received = _unpack(_pack(sent))
    assert received == sent
    assert all(type(o.fields) is FrozenDict for o in received)
    assert type(received[1].fields["extra"]) is FrozenDict
    assert received[1].fields["extra"]["a"] == (1, 2)
    assert hash(received[0].fields) == hash(sent[0].fields)


# -- ChildTask: a side effect (a file) made in a forked child ---------------------------------


def _write(path: Path, text: str) -> None:
    path.write_text(text)


def _fail() -> None:
    raise ValueError("no room for the file")


def _vanish() -> None:
    os._exit(3)


def test_a_child_task_writes_the_events_file_with_the_serial_writers_bytes(tmp_path):
    from tests.store.factories import T0, event
    from truceline.publish.events import write_events

    events = [event(f"ev-{i}", time_ns=T0 + (i * 7919) % 50 * 10**9) for i in range(50)]
    run = {"id": "run-1", "elapsed_s": 1.5, "truceline": "test"}
    write_events(tmp_path / "serial.geojson", events, run=run)
    with ChildTask(
        partial(write_events, tmp_path / "forked.geojson", events, run=run), name="events file"
    ) as task:
        task.wait()
    forked = (tmp_path / "forked.geojson").read_bytes()
    assert forked == (tmp_path / "serial.geojson").read_bytes()
    assert forked.count(b'"Feature"') == 50


@pytest.mark.parametrize("fork", [True, False])
def test_a_child_task_runs_before_wait_returns(tmp_path, fork):
    path = tmp_path / "out.txt"
    with ChildTask(partial(_write, path, "done"), fork=fork) as task:
        task.wait()
        assert path.read_text() == "done"
        task.wait()  # again: nothing more


def test_a_failed_child_task_is_raised_with_its_traceback():
    failed = r"(?s)events file child failed.*no room for the file"
    with ChildTask(_fail, name="events file") as task, pytest.raises(WorkerError, match=failed):
        task.wait()


def test_a_child_task_that_stops_without_a_word_is_raised():
    with ChildTask(_vanish) as task, pytest.raises(WorkerError, match="exit code 3"):
        task.wait()


def test_a_failure_in_the_caller_stops_the_child(tmp_path):
    with pytest.raises(RuntimeError), ChildTask(partial(time.sleep, 60)) as task:
        raise RuntimeError("the caller failed")
    assert not task._process.is_alive()


def test_a_child_task_leaves_the_collector_as_it_found_it(tmp_path):
    assert gc.get_freeze_count() == 0
    with ChildTask(partial(_write, tmp_path / "out.txt", "done")) as task:
        assert gc.get_freeze_count() > 0  # the objects both processes share
        task.wait()
    assert gc.get_freeze_count() == 0
