"""CPU of `Store.add_events` on the events (and violations) of a stored run, into a fresh store.

    python bench/bench_store_events.py STORE.db [--repeat N]

STORE.db is a run's SQLite store (e.g. the one `bench/process_steps.py` leaves in its OUT);
its events are read back, then stored N times, each time into a fresh SQLite store (ledger on),
and the CPU (`time.process_time`) of each call is printed, with the best per event.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from truceline.store import open_store


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("store", type=Path)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with open_store(f"sqlite:///{args.store}") as source:
        events = source.events()
    cpu: list[float] = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp, open_store(f"sqlite:///{tmp}/t.db") as store:
            run = store.begin_run("bench", {})
            started = time.process_time()
            store.add_events(events, run_id=run)
            cpu.append(time.process_time() - started)
    violations = sum(len(e.violations) for e in events)
    print(
        f"{len(events)} events, {violations} violations; CPU s {[round(c, 2) for c in cpu]}; "
        f"best {min(cpu) / len(events) * 1e6:.0f} us an event"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
