"""`truceline ledger check`: does the store still agree with its ledger, and the ledger with
its signed heads? Names every disagreement: which record, which entry, which check.

1. Each entry's bytes hash to the leaf hash stored for it, and say the kind and id indexed.
2. The node hashes recomputed from the leaf hashes equal the stored ones (of levels 4 and up,
   the only ones kept), and the roots of the signed heads' sizes equal those heads' roots (so
   no entry changed since it was signed, even if its leaf and node hashes were rewritten to
   match); each head's signature is good.
3. Every record in the store equals the current version on the ledger (sensors, observations,
   events, violations by id; quarantine and reviews as collections), and has one; and every
   record the ledger holds as current, not withdrawn, is still in the store (none deleted).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

from truceline.ledger import merkle
from truceline.ledger.head import TreeHead
from truceline.ledger.keys import Ed25519PublicKey
from truceline.ledger.store import (
    LOWEST_STORED_LEVEL,
    Ledger,
    content_hash,
    is_withdrawal,
    record_document,
)

# The kinds of record the store keeps rows of, by id (others, such as `attribution`, live on the
# ledger only).
STORED_KINDS = frozenset({"sensor", "observation", "event", "violation"})


def audit(store: Any, key: Ed25519PublicKey | None = None) -> list[str]:
    """Problems found in `store` (a `truceline.store.Store` with a ledger); empty if none."""
    ledger: Ledger = store.ledger
    problems: list[str] = []
    problems += _check_entries(ledger)
    problems += _check_tree(ledger, key)
    problems += _check_records(store, ledger)
    return problems


def _check_entries(ledger: Ledger) -> Iterator[str]:
    leaves = ledger.leaf_hashes()
    expected = 0
    for entry in ledger.entries():
        if entry.index != expected:
            yield f"entry #{expected}: missing (the next entry stored is #{entry.index})"
            expected = entry.index
        expected += 1
        index, leaf = next(leaves, (None, None))
        while index is not None and index < entry.index:
            index, leaf = next(leaves, (None, None))
        where = f"entry #{entry.index} ({entry.kind} {entry.record_id!r})"
        if index != entry.index:
            yield f"{where}: no leaf hash stored"
        elif entry.leaf_hash != leaf:
            yield f"{where}: its bytes do not hash to the stored leaf hash: the entry was edited"
        try:
            document = json.loads(entry.data)
            same = document.get("kind") == entry.kind and document.get("id") == entry.record_id
        except (ValueError, AttributeError):
            yield f"{where}: not a JSON object"
            continue
        if not same:
            yield f"{where}: is indexed under another kind or id than its JSON says"
        elif content_hash(document.get("record")) != entry.content_hash:
            yield f"{where}: its record does not match the content hash indexed for it"


def _check_tree(ledger: Ledger, key: Ed25519PublicKey | None) -> Iterator[str]:
    heads = ledger.heads()
    wanted: dict[int, list[tuple[int, TreeHead]]] = {}
    for number, head in enumerate(heads, 1):
        wanted.setdefault(head.tree_size, []).append((number, head))
        if key is not None and not head.verify(key):
            yield f"signed head #{number} (size {head.tree_size}): bad signature for this key"
    builder = merkle.TreeBuilder()
    recomputed: dict[tuple[int, int], bytes] = {}
    for number, head in wanted.get(0, []):
        if head.root_hash != builder.root():
            yield f"signed head #{number} (size 0): root is not that of the empty tree"
    for _, leaf in ledger.leaf_hashes():
        # The nodes kept (levels LOWEST_STORED_LEVEL and up); `append` makes one per level.
        for level, index, value in builder.append(leaf)[LOWEST_STORED_LEVEL:]:
            recomputed[level, index] = value
        for number, head in wanted.get(builder.size, []):
            if head.root_hash != builder.root():
                yield (
                    f"signed head #{number} (size {head.tree_size}): the entries stored now give "
                    f"another root: entries up to #{head.tree_size - 1} changed after it was signed"
                )
    size = builder.size
    for number, head in enumerate(heads, 1):
        if head.tree_size > size:
            yield f"signed head #{number}: size {head.tree_size} but the ledger has {size} entries"
    level = LOWEST_STORED_LEVEL
    while (1 << level) <= size:
        stored = dict(ledger.stored_nodes(level))
        for (lv, index), value in recomputed.items():
            if lv == level and stored.get(index) != value:
                yield f"node (level {level}, index {index}): differs from its recomputed hash"
        level += 1


def _check_records(store: Any, ledger: Ledger) -> Iterator[str]:
    current: dict[tuple[str, str | None], bytes] = {}
    withdrawn: set[tuple[str, str | None]] = set()
    collections: dict[str, Counter[bytes]] = {"quarantine": Counter(), "review": Counter()}
    for entry in ledger.entries():
        document = json.loads(entry.data)
        digest = content_hash(document["record"])
        if entry.kind in collections:
            collections[entry.kind][digest] += 1
        else:
            current[entry.kind, entry.record_id] = digest
            (withdrawn.add if is_withdrawal(document["record"]) else withdrawn.discard)(
                (entry.kind, entry.record_id)
            )
    stored: list[tuple[str, Any]] = [("sensor", s) for s in store.sensors()]
    stored += [("observation", o) for o in store.observations()]
    for event in store.events():
        stored.append(("event", event))
        stored += [("violation", v) for v in event.violations]
    seen: set[tuple[str, str | None]] = set()
    for kind, record in stored:
        ident, document = record_document(kind, record)
        seen.add((kind, ident))
        digest = current.get((kind, ident))
        if digest is None:
            yield f"{kind} {ident!r}: stored but not on the ledger"
        elif (kind, ident) in withdrawn:
            yield f"{kind} {ident!r}: stored, but withdrawn on the ledger"
        elif digest != content_hash(document):
            yield f"{kind} {ident!r}: the stored row differs from its current ledger entry"
    # The other way: a record the ledger holds as current must still be in the store.
    for kind, ident in sorted(current.keys() - seen - withdrawn, key=str):
        if kind in STORED_KINDS:
            yield f"{kind} {ident!r}: on the ledger but not in the store (deleted)"
    for kind, records in (("quarantine", store.quarantined()), ("review", store.reviews())):
        rows: Counter[bytes] = Counter()
        described: dict[bytes, str] = {}
        for record in records:
            ident, document = record_document(kind, record)
            digest = content_hash(document)
            rows[digest] += 1
            described.setdefault(digest, f"{kind} of {ident!r}")
        for digest in rows - collections[kind]:
            yield f"{described[digest]}: the stored row is not on the ledger (edited or added)"
        missing = sum((collections[kind] - rows).values())
        if missing:
            yield f"{kind}: {missing} ledger entries with no stored row (deleted)"
