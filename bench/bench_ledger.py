"""Benchmark: the evidence ledger (issue 7): batched appends into SQLite, proof times by size.

Appends observation records (about 150-byte raw lines, as the simulator writes them) through
`Ledger.append_records` in batches, into a fresh SQLite file, and reports appends per second by
wall clock and CPU time. At 10^4 entries and at the end (10^6 by default) it times inclusion
proofs (made from the stored node hashes, then verified) for random entries and consistency proofs
between random sizes: both O(log n).
Usage: python bench/bench_ledger.py [--entries N] [--batch B] [--json FILE]
Target (issue 7): >= 20,000 appends/s batched; proofs O(log n).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import peak_rss_mib, write_result
from truceline.ledger import merkle
from truceline.records import Observation
from truceline.store import open_store
from truceline.timeutil import format_time, parse_time

START_NS = parse_time("2026-03-04T00:00:00Z")


def observations(start: int, n: int) -> list[Observation]:
    out = []
    for i in range(start, start + n):
        t = START_NS + i * 7_000_000
        ident = f"A{i % 13000:05d}-{i}"
        raw = (
            f'{{"id":"{ident}","kind":"acoustic","sensor":"A{i % 13000:05d}",'
            f'"time":"{format_time(t)}","snr_db":12.5,"signal":"launch"}}'
        )
        out.append(
            Observation(
                ident,
                "acoustic",
                f"A{i % 13000:05d}",
                t,
                raw,
                t + 2_000_000_000,
                None,
                {"snr_db": 12.5, "signal": "launch"},
            )
        )
    return out


def time_proofs(ledger, size: int, rng: random.Random, samples: int = 200) -> dict[str, float]:
    indices = [rng.randrange(size) for _ in range(samples)]
    root = ledger.root(size)
    leaves = {i: ledger.entry(i).leaf_hash for i in indices}
    t0 = time.perf_counter()
    proofs = {i: ledger.inclusion_proof(i, size) for i in indices}
    made = (time.perf_counter() - t0) / samples
    t0 = time.perf_counter()
    ok = all(merkle.verify_inclusion(i, size, leaves[i], proofs[i], root) for i in indices)
    checked = (time.perf_counter() - t0) / samples
    assert ok
    olds = [rng.randrange(1, size + 1) for _ in range(samples)]
    roots = {m: ledger.root(m) for m in olds}
    t0 = time.perf_counter()
    cproofs = {m: ledger.consistency_proof(m, size) for m in olds}
    cmade = (time.perf_counter() - t0) / samples
    t0 = time.perf_counter()
    assert all(merkle.verify_consistency(m, size, roots[m], root, cproofs[m]) for m in olds)
    cchecked = (time.perf_counter() - t0) / samples
    return {
        "inclusion_proof_ms": round(made * 1e3, 3),
        "inclusion_verify_us": round(checked * 1e6, 1),
        "inclusion_path_mean": round(sum(map(len, proofs.values())) / samples, 1),
        "consistency_proof_ms": round(cmade * 1e3, 3),
        "consistency_verify_us": round(cchecked * 1e6, 1),
        "consistency_path_mean": round(sum(map(len, cproofs.values())) / samples, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--json")
    args = parser.parse_args()
    rng = random.Random(7)
    figures: dict[str, object] = {"entries": args.entries, "batch": args.batch}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "ledger.db"
        with open_store(db) as store:
            ledger = store.ledger
            wall = cpu = 0.0
            done = 0
            checkpoints = sorted({min(10_000, args.entries), args.entries})
            for checkpoint in checkpoints:
                while done < checkpoint:
                    n = min(args.batch, checkpoint - done)
                    batch = observations(done, n)
                    w0, c0 = time.perf_counter(), time.process_time()
                    # As the store appends the observations it has just inserted (`new`).
                    ledger.append_records("observation", batch, new=True)
                    wall += time.perf_counter() - w0
                    cpu += time.process_time() - c0
                    done += n
                figures[f"at_{checkpoint}"] = time_proofs(ledger, checkpoint, rng)
            figures["appends_per_s_wall"] = round(done / wall)
            figures["appends_per_s_cpu"] = round(done / cpu)
            w0 = time.perf_counter()
            head = ledger.head()
            figures["root_s"] = round(time.perf_counter() - w0, 4)
            assert head.tree_size == args.entries
        figures["db_bytes_per_entry"] = round(db.stat().st_size / args.entries)
    figures["peak_rss_mib"] = round(peak_rss_mib())
    write_result(args.json, "ledger", figures)


if __name__ == "__main__":
    main()
