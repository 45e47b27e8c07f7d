"""Delivery of observations to the centre: network delay, late batches and re-sends.

Each observation is delivered at its observation time (for a radar track, its last point) plus
a log-normal network delay (median `network_delay_median_s`, log-sigma `network_delay_sigma`);
a fraction `late_fraction` is held back an extra U(late_delay_s) seconds; a fraction
`resend_fraction` is delivered a second time, an exponential `resend_delay_s` later, as an
identical line. The file is written in delivery order.

Streaming: observations are pushed window by window; since nothing generated later can be
delivered before the start of its window, every queued line delivered before that start is
final and is written out (`flush`). The queue then holds only what is still in flight (late
and re-sent lines, deliveries past the window's end), so memory stays bounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TextIO

import numpy as np
from numpy.typing import NDArray

from truceline.sim.scenario import DeliverySpec

NS = 1_000_000_000


@dataclass
class DeliveryStats:
    delivered: int = 0
    late: int = 0
    resent: int = 0


class DeliveryQueue:
    """Lines waiting to be written, ordered by delivery time (then by the order pushed)."""

    def __init__(self, spec: DeliverySpec, out: TextIO):
        self.spec = spec
        self.out = out
        self.stats = DeliveryStats()
        self._lines: list[str] = []
        self._due = np.zeros(0, np.int64)
        self._seq = np.zeros(0, np.int64)
        self._next_seq = 0

    @property
    def pending(self) -> int:
        return len(self._lines)

    def push(
        self, lines: list[str], observed_ns: NDArray[np.int64], rng: np.random.Generator
    ) -> None:
        n = len(lines)
        if n == 0:
            return
        spec = self.spec
        delay_s = spec.network_delay_median_s * np.exp(
            spec.network_delay_sigma * rng.normal(0.0, 1.0, n)
        )
        late = rng.random(n) < spec.late_fraction
        lo, hi = spec.late_delay_s
        delay_s = delay_s + np.where(late, lo + (hi - lo) * rng.random(n), 0.0)
        due = np.asarray(observed_ns, np.int64) + np.rint(delay_s * NS).astype(np.int64)
        resend = np.flatnonzero(rng.random(n) < spec.resend_fraction)
        again = due[resend] + np.rint(
            rng.exponential(max(spec.resend_delay_s, 1e-9), resend.size) * NS
        ).astype(np.int64)
        self.stats.late += int(late.sum())
        self.stats.resent += int(resend.size)
        new_lines = lines + [lines[i] for i in resend]
        new_due = np.concatenate([due, again])
        seq = self._next_seq + np.arange(new_due.size)
        self._next_seq += new_due.size
        self._lines += new_lines
        self._due = np.concatenate([self._due, new_due])
        self._seq = np.concatenate([self._seq, seq])

    def flush(self, before_ns: int | None = None) -> None:
        """Write every queued line due before `before_ns` (all of them if None)."""
        if not self._lines:
            return
        order = np.lexsort((self._seq, self._due))
        if before_ns is None:
            cut = order.size
        else:
            cut = int(np.searchsorted(self._due[order], before_ns, side="left"))
        out_idx = order[:cut]
        keep = order[cut:]
        lines = self._lines
        self.out.write("".join([lines[i] for i in out_idx.tolist()]))
        self.stats.delivered += cut
        self._lines = [lines[i] for i in keep.tolist()]
        self._due = self._due[keep]
        self._seq = self._seq[keep]
