"""Provisional events of salvos still arriving (a live stream; docs/methods.md, Association 3d).

A dense group (a salvo) is searched for good only once it has settled (`associate.settle_s`), which
costs seconds of latency on its rounds. A live associator publishes them earlier as *provisional*
events: it searches the waiting group as if it had settled and publishes what it finds at once;
when the group is searched for good, each settled event takes the id of the provisional event it
confirms, and the provisional events none confirms are withdrawn. Every search here is a sandbox:
it draws from its own random stream, keeps no event and owns no detection, so the settled events
are exactly those of a file read whole.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from truceline.associate.indices import isin

if TYPE_CHECKING:
    from truceline.associate.acoustic import AcousticAssociator, AssociationOutput, WorkingEvent


class ProvisionalEvents:
    """The provisional events of one associator: its searches of waiting and leftover groups,
    what they published, and their confirmation or withdrawal."""

    def __init__(self, assoc: AcousticAssociator, on: bool):
        self.assoc = assoc
        self.s = assoc.s
        self.on = on  # off: a file read whole; only `succeed` runs (it names the settled events)
        self.published: dict[str, WorkingEvent] = {}  # awaiting their group's search for good
        self._searched: dict[int, tuple[int, float]] = {}  # group key -> (size, when)
        self.rng = np.random.default_rng([self.s.seed, 1])
        # Leftovers of groups searched for good: group key -> (its detections left unexplained,
        # searched again for provisional events until this watermark, last such search).
        self._retry: dict[int, tuple[NDArray[np.int64], float, float]] = {}

    @contextmanager
    def _sandbox(self):
        """The associator searches on the provisional random stream and records nothing."""
        a = self.assoc
        rng, a.rng, a._sandbox = a.rng, self.rng, True
        try:
            yield
        finally:
            a.rng, a._sandbox = rng, False

    # -- leftovers of groups searched for good ------------------------------------------------

    def queue_retry(
        self, members: NDArray[np.int64], found: list[WorkingEvent], out: AssociationOutput
    ) -> None:
        """A live associator searches what a search for good left of a group again, for
        provisional events: at once (`provisional_retry_at_once`, in the same batch, on the
        provisional random stream) and on the following batches: a search stops at its first
        failure, and the leftover would otherwise wait for a new detection to touch it (seconds
        to minutes)."""
        if not self.on or self.s.provisional_retry_s <= 0:
            return
        a = self.assoc
        left = members[
            ~isin(members, np.array([g for ev in found for g in ev.det], dtype=np.int64))
        ]
        n_sensors, dense = a._breadth(left)
        if n_sensors < self.s.min_sensors:
            return
        self._retry[int(left.min())] = (
            left,
            a.watermark_s + self.s.provisional_retry_s,
            a.watermark_s,
        )
        if self.s.provisional_retry_at_once:
            a.stats["provisional_leftover_searches"] += 1
            self.search(left, out, dense=dense, again=True)

    def retry_due(self) -> NDArray[np.int64]:
        """Detections of leftover groups due for another provisional search."""
        if not self._retry:
            return np.zeros(0, dtype=np.int64)
        now = self.assoc.watermark_s
        due = []
        for key, (left, until, last) in list(self._retry.items()):
            if now > until:
                del self._retry[key]
            elif now - last >= self.s.provisional_interval_s:
                due.append(left)
                self._retry[key] = (left, until, now)
        return np.concatenate(due) if due else np.zeros(0, dtype=np.int64)

    # -- searches of waiting groups -----------------------------------------------------------

    def search(
        self,
        members: NDArray[np.int64],
        out: AssociationOutput,
        *,
        dense: bool = True,
        again: bool = False,
    ) -> None:
        """Search a dense group that has not settled, as if it had, and publish what it holds
        now as provisional events; one that shares most of its detections with an earlier
        provisional event of the group revises it (same id). Earlier ones not found again stay
        until the settled search decides. Nothing of the search is recorded (its own random
        stream, no events kept, no detections owned), so the settled search finds what it
        would have without it."""
        a = self.assoc
        key = int(members.min())
        if not again:
            size, when = self._searched.get(key, (0, -np.inf))
            if members.size == size or a.watermark_s - when < self.s.provisional_interval_s:
                return
            self._searched[key] = (int(members.size), a.watermark_s)
        a.stats["provisional_searches"] += 1
        before = self.of(members)
        with self._sandbox():
            found = a._extract(members, dense)
            # Then what neither these nor the group's earlier provisional events explain: a
            # search stops at its first failure, and a round it missed is often clear once the
            # rounds already published are out of the way.
            for _ in range(3):
                held = {g for ev in found + before for g in ev.det}
                rest = members[~isin(members, np.array(list(held), dtype=np.int64))]
                n_rest, dense_rest = a._breadth(rest)
                if n_rest < self.s.min_sensors or rest.size == members.size:
                    break
                more = a._extract(rest, dense_rest)
                if not more:
                    break
                found += more
            # Then rounds through the detections still unexplained, at the places found, from
            # all of the group's detections: a round part of which a mixture (of this search
            # or an earlier one) holds is otherwise missed until the group changes.
            if dense:
                held = {g for ev in found + before for g in ev.det}
                free = members[~isin(members, np.array(list(held), dtype=np.int64))]
                free = free[np.argsort(-a.t.v[free], kind="stable")][: self.s.provisional_seeds]
                found += a._rounds_through(members, found + before, free)
        self._publish(found, before, out)

    def _publish(
        self, found: list[WorkingEvent], before: list[WorkingEvent], out: AssociationOutput
    ) -> None:
        """Publish a search's events: as revisions of the earlier provisional events they
        match, else as new ones."""
        a = self.assoc
        for ev, prev in match(found, before):
            ev.provisional = True
            if prev is None:
                ev.id = a._event_id(ev.tau_s)
                a.stats["provisional_events"] += 1
                out.created.append(ev)
            else:
                ev.id, ev.version = prev.id, prev.version + 1
                del self.published[prev.id]
                out.updated.append(ev)
            self.published[ev.id] = ev

    # -- the search for good ------------------------------------------------------------------

    def succeed(
        self, members: NDArray[np.int64], found: list[WorkingEvent], out: AssociationOutput
    ) -> None:
        """The events of a group searched for good: each takes the id of the provisional event
        it confirms (a revision of it), the rest are new. A provisional event of the group that
        none confirms is withdrawn when most of its detections went to these events; otherwise
        its detections stay in the pool and it waits for their next search."""
        a = self.assoc
        before = self.of(members)
        for ev, prev in match(found, before):
            if prev is None:
                out.created.append(ev)
                continue
            a._ids.discard(ev.id)
            ev.id, ev.version = prev.id, prev.version + 1
            del self.published[prev.id]
            out.updated.append(ev)
        taken = {g for ev in found for g in ev.det}
        for prev in before:
            gone = 2 * len(taken.intersection(prev.det)) > len(prev.det)
            if prev.id in self.published and gone:
                self._withdraw(prev, out)
        self._searched.pop(int(members.min()), None)

    def of(self, members: NDArray[np.int64]) -> list[WorkingEvent]:
        """The published provisional events holding any of `members`."""
        if not self.published:
            return []
        group = set(members.tolist())
        return [ev for ev in self.published.values() if not group.isdisjoint(ev.det)]

    def _withdraw(self, ev: WorkingEvent, out: AssociationOutput) -> None:
        del self.published[ev.id]
        ev.withdrawn, ev.version = True, ev.version + 1
        self.assoc.stats["provisional_withdrawn"] += 1
        out.withdrawn.append(ev)

    def withdraw_orphans(self, out: AssociationOutput) -> None:
        """Provisional events most of whose detections have left the pool (taken by other
        events, or expired) are withdrawn."""
        if not self.published:
            return
        a = self.assoc
        pool = set(a.pool.tolist())
        for ev in list(self.published.values()):
            if 2 * len(pool.intersection(ev.det)) <= len(ev.det):
                self._withdraw(ev, out)
        live = {int(g) for g in a.deferred}
        self._searched = {k: v for k, v in self._searched.items() if k in live}


def match(
    new: list[WorkingEvent], old: list[WorkingEvent]
) -> list[tuple[WorkingEvent, WorkingEvent | None]]:
    """Pair new events with old ones one to one, most shared detections first; a pair must
    share more than half of the smaller event's detections."""
    if not old or not new:
        return [(ev, None) for ev in new]
    shared = np.array([[len(set(a.det).intersection(b.det)) for b in old] for a in new])
    smaller = np.minimum.outer([len(a.det) for a in new], [len(b.det) for b in old])
    score = np.where(2 * shared > smaller, shared, 0).reshape(len(new), len(old))
    pairs: dict[int, WorkingEvent | None] = {i: None for i in range(len(new))}
    if score.size and score.max() > 0:
        rows, cols = linear_sum_assignment(-score)
        for r, c in zip(rows, cols, strict=True):
            if score[r, c] > 0:
                pairs[r] = old[c]
    return [(new[i], pairs[i]) for i in range(len(new))]
