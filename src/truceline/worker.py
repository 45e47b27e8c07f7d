"""A pipeline stage in a process of its own.

`truceline process` runs ingest (parse, validate, store, ledger) in the main process, and with
`pipeline.workers` = 2 the acoustic stage (association and location: about half the work) and
the radar stage (backtracking as tracks come, then the air tracker and its events; unless
`pipeline.radar_worker` is off) each in a process of its own beside it. A stage is the same
object either way: it is fed the same observations in the same order, so its events are the
same; only where it runs differs.
Observations go to the worker in pickled batches (as plain tuples, `_pack`) through a bounded
queue (the main process waits when the worker is that far behind, so memory stays bounded;
pickled, a backlog of millions of observations takes a few hundred MB, so ingest can run ahead
while the worker catches up); at the end the worker sends back what `finish()` returned and the
stage's `counts`.

This is the shape the stream deployment takes, each stage a worker consuming a subject, with a
local queue in place of the stream. The child is forked (Linux): it inherits the stage factory
and imported modules rather than importing them again, and touches nothing of the parent's
(the store in particular) but the stage it makes.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import pickle
import queue
import time
import traceback
from collections.abc import Callable
from typing import Any, Protocol

from truceline.ingest import bulk_collection
from truceline.ingest.observations import _make_observation
from truceline.records import Observation

WORKER_BATCH = 2000
"""Observations sent to the worker per message."""
_QUEUE_BATCHES = 64
"""Messages the queue holds before the sender waits, unless told (about 130,000 observations)."""
_POLL_S = 1.0


class Stage(Protocol):
    counts: Any

    def feed(self, obs: Observation) -> Any: ...

    def finish(self) -> Any: ...


class WorkerError(RuntimeError):
    """The worker process failed; the message carries its traceback or exit code."""


def _pack(batch: list[Observation]) -> bytes:
    """A batch of observations pickled as plain tuples, each one's fields as a plain dict of
    its (frozen) values: 2.3 µs an observation against 4.9 µs for the records themselves,
    whose dataclass state and `FrozenDict` fields pickle through Python-level calls."""
    return pickle.dumps(
        [
            (o.id, o.kind, o.sensor, o.time_ns, o.raw, o.received_ns, o.signature, dict(o.fields))
            for o in batch
        ],
        protocol=pickle.HIGHEST_PROTOCOL,
    )


def _unpack(payload: bytes) -> list[Observation]:
    """`_pack`'s observations back, equal to the ones packed (fields not frozen again)."""
    return [_make_observation(*row) for row in pickle.loads(payload)]


def _serve(make_stage: Callable[[], Stage], inbox: Any, outbox: Any) -> None:
    """The worker's loop: make the stage, feed it every batch, send back what it finished;
    with Python's cyclic garbage collector set as for ingest (`bulk_collection`): a stage
    holds millions of acyclic records (the radar stage's plots), which the default settings
    would scan again and again."""
    try:
        stage = make_stage()
        with bulk_collection():
            while (payload := inbox.get()) is not None:
                for obs in _unpack(payload):
                    stage.feed(obs)
            result = stage.finish()
        outbox.put(("ok", result, stage.counts, time.process_time()))
    except BaseException:  # reported to the parent, which raises it
        outbox.put(("error", traceback.format_exc(), None, time.process_time()))


class StageWorker:
    """Runs the stage `make_stage()` makes in a forked process; `feed` and `finish` as a stage.

    Use as a context manager, so that the worker is stopped if the caller fails."""

    def __init__(
        self,
        make_stage: Callable[[], Stage],
        *,
        name: str = "stage",
        batch: int = WORKER_BATCH,
        queue_batches: int = _QUEUE_BATCHES,
    ) -> None:
        """`batch`: observations per message; `queue_batches`: messages in flight before
        `feed` waits for the worker."""
        context = mp.get_context("fork")
        self.name = name
        self._batch = batch
        self._inbox = context.Queue(maxsize=queue_batches)
        self._outbox = context.Queue()
        self._pending: list[Observation] = []
        self._ended = False
        self._process = context.Process(
            target=_serve,
            args=(make_stage, self._inbox, self._outbox),
            name=f"truceline-{name}",
            daemon=True,
        )
        self._process.start()
        self.counts: Any = None
        self.cpu_s: float | None = None
        """The worker's CPU seconds (user and system) from its fork to its result."""

    def __enter__(self) -> StageWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def feed(self, obs: Observation) -> None:
        """Queue one observation for the stage (sent in batches)."""
        self._pending.append(obs)
        if len(self._pending) >= self._batch:
            self._send()

    def _send(self) -> None:
        # Pickled here, not by the queue's feeder thread: a batch waiting in the queue is then
        # a compact bytes object, not thousands of live observations.
        payload = _pack(self._pending)
        while True:
            try:
                self._inbox.put(payload, timeout=_POLL_S)
                break
            except queue.Full:
                self._check_alive()
        self._pending = []

    def end_input(self) -> None:
        """No more observations: the worker starts the stage's `finish` (the caller can do other
        work meanwhile, then collect the result with `finish`)."""
        if self._ended:
            return
        if self._pending:
            self._send()
        self._inbox.put(None)
        self._ended = True

    def finish(self) -> Any:
        """End of input: wait for the stage to finish; return its result (and set `counts`)."""
        self.end_input()
        while True:
            try:
                status, result, counts, self.cpu_s = self._outbox.get(timeout=_POLL_S)
                break
            except queue.Empty:
                self._check_alive()
        self._process.join()
        if status != "ok":
            raise WorkerError(f"the {self.name} worker failed:\n{result}")
        self.counts = counts
        return result

    def _check_alive(self) -> None:
        if self._process.is_alive():
            return
        try:  # a stage that failed said why before it stopped
            status, result, *_ = self._outbox.get(timeout=_POLL_S)
        except queue.Empty:
            status, result = "", None
        if status == "error":
            raise WorkerError(f"the {self.name} worker failed:\n{result}")
        raise WorkerError(
            f"the {self.name} worker stopped (exit code {self._process.exitcode}) "
            "before it finished"
        )

    def close(self) -> None:
        """Stop the worker if it is still running (after a failure in the caller)."""
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()
        self._inbox.cancel_join_thread()  # what the worker did not take is not needed
        self._inbox.close()
        self._outbox.close()


class ChildTask:
    """`task()` run in a forked process beside the caller, for work that needs nothing back
    but its side effect (a file written): the child inherits the parent's memory, so nothing is
    pickled to it. `wait()` returns when it is done and raises `WorkerError` (with the child's
    traceback) if it failed or stopped; the caller must call it before relying on the effect.

    The child must not touch what it shares with the parent beyond reading it: in particular
    not the store (an SQLite connection is not to be used across a fork). Use as a context
    manager, so that the child is stopped if the caller fails first. With `fork` False the
    task runs in the caller, in `wait()` (one process: `pipeline.workers` 1)."""

    def __init__(self, task: Callable[[], Any], *, name: str = "task", fork: bool = True) -> None:
        self.name = name
        self._waited = False
        self._inline: Callable[[], Any] | None = None
        if not fork:
            self._inline = task
            return
        context = mp.get_context("fork")
        # The objects made so far are left out of the cyclic collector's passes until the
        # child is done: a full pass in either process would write to every object's header
        # and copy all the pages they share (if the caller has not frozen them itself).
        self._froze = gc.get_freeze_count() == 0
        if self._froze:
            gc.freeze()
        self._receive, send = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_run_task, args=(task, send), name=f"truceline-{name}", daemon=True
        )
        self._process.start()
        send.close()  # the child's end: the parent sees end of file if the child dies

    def __enter__(self) -> ChildTask:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def wait(self) -> None:
        """Wait for the child; raise `WorkerError` if it did not finish its task."""
        if self._inline is not None:
            task, self._inline = self._inline, None
            self._waited = True
            task()
            return
        if self._waited:
            return
        try:
            status, detail = self._receive.recv()
        except EOFError:  # it stopped without a word (killed, os._exit)
            status, detail = "", None
        self._process.join()
        self._waited = True
        self._thaw()
        if status == "error":
            raise WorkerError(f"the {self.name} child failed:\n{detail}")
        if status != "ok" or self._process.exitcode != 0:
            raise WorkerError(
                f"the {self.name} child stopped (exit code {self._process.exitcode}) "
                "before it finished"
            )

    def close(self) -> None:
        """Stop the child if it is still running (the caller failed before `wait`)."""
        if not hasattr(self, "_process"):
            return
        if not self._waited and self._process.is_alive():
            self._process.terminate()
        self._process.join()
        self._receive.close()
        self._thaw()

    def _thaw(self) -> None:
        if self._froze:
            gc.unfreeze()
            self._froze = False


def _run_task(task: Callable[[], Any], send: Any) -> None:
    try:
        task()
        send.send(("ok", None))
    except BaseException:  # reported to the parent, which raises it
        send.send(("error", traceback.format_exc()))
    finally:
        send.close()
