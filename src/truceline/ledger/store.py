"""The ledger in the database: append-only entries, node hashes, signed tree heads.

```python
from truceline.store import open_store

with open_store("truceline.db") as store:          # the ledger is on by default
    ledger = store.ledger
    ledger.append_records("attribution", attributions, run_id=run_id)  # any record with an id
    head = ledger.sign_head(load_private_key("monitor.key"))
    proof = ledger.inclusion_proof(12345, head.tree_size)
```

Every write of the store appends its records to the ledger in the same transaction
(`Store` calls `Ledger.append`), so a row and its entry are committed together or not at all.
An entry is the canonical JSON of

    {"v": 1, "kind": KIND, "id": RECORD_ID, "record": {...}, "supersedes": null | {"index": I,
     "leaf_hash": HEX}, "appended_ns": NS, "run": RUN_ID | null}

(observations also carry `"auth"`: `no-key`, `signed` or `unsigned`, from the sensor's key at the
time). Leaf `i` of the tree is entry `i`; its leaf hash is SHA-256(0x00 || entry bytes).

Versioned kinds (`VERSIONED`: sensors, observations, events, violations, attributions) have one
current version per id: a record appended again with different content gets a new entry that
names the one it supersedes (index and leaf hash), so a record's history is a hash-linked chain;
appended again unchanged, nothing is added. Other kinds (quarantine, reviews, decisions) are
appended every time. Nothing is ever updated or deleted.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from truceline.ledger import merkle
from truceline.ledger.canonical import canonical_json, canonical_text, plain
from truceline.ledger.head import TreeHead
from truceline.ledger.keys import Ed25519PrivateKey
from truceline.records import Event, Observation, Provenance, Violation
from truceline.store import schema
from truceline.timeutil import now_ns

ENTRY_VERSION = 1
VERSIONED = frozenset({"sensor", "observation", "event", "violation", "attribution"})
"""Kinds with one current version per id; the others are appended every time."""
KINDS = VERSIONED | {"quarantine", "review", "decision"}

LOWEST_STORED_LEVEL = 4
"""`ledger_nodes` keeps the hashes of the complete subtrees at this level and above (of 16
leaves or more); the lower ones are made again from the leaf hashes of a block of at most
2**LOWEST_STORED_LEVEL entries (`ledger_entries.leaf_hash`) when a proof or the tree's right
edge needs them. Changing it needs a migration (0003 dropped the lower levels)."""
_BLOCK = 1 << LOWEST_STORED_LEVEL

_CHUNK = 500
_entries = schema.ledger_entries
_nodes = schema.ledger_nodes
_heads = schema.ledger_heads


def record_document(kind: str, record: Any) -> tuple[str | None, dict[str, Any]]:
    """(record id, record as plain JSON types) of a record of `kind` for its entry."""
    if type(record) is Observation:  # the hot path: its fields are JSON types already
        return record.id, {
            "id": record.id,
            "kind": record.kind,
            "sensor": record.sensor,
            "time_ns": record.time_ns,
            "raw": record.raw,
            "received_ns": record.received_ns,
            "signature": record.signature,
            "fields": record.fields,
        }
    document = plain(record)
    if not isinstance(document, dict):
        raise TypeError(f"a {kind} record must be a dataclass or a mapping")
    if kind == "event":
        document.pop("violations", None)  # each violation is an entry of its own
    if kind == "review":
        return str(document["target_id"]), document
    if kind == "quarantine":
        return document.get("observation_id"), document
    ident = document.get("id")
    if ident is None and kind in VERSIONED:
        raise ValueError(f"a {kind} record needs an id")
    return None if ident is None else str(ident), document


def observation_text(observation: Observation, fields_text: str | None = None) -> str:
    """`canonical_text` of an observation's `record_document`, written out directly (keys in
    code-point order): the ledger appends millions of these, and this is a third of the cost.
    `fields_text` is `canonical_text(observation.fields)` if the caller has made it."""
    o = observation
    if fields_text is None:
        fields_text = canonical_text(o.fields)
    return (
        f'{{"fields":{fields_text},"id":{_encode_string(o.id)},'
        f'"kind":{_encode_string(o.kind)},"raw":{_encode_string(o.raw)},'
        f'"received_ns":{int(o.received_ns)},"sensor":{_encode_string(o.sensor)},'
        f'"signature":{_scalar_text(o.signature)},"time_ns":{int(o.time_ns)}}}'
    )


class EventTexts(NamedTuple):
    """An event's canonical texts: its `event_parts`, and those of two values the store's
    row repeats (each made once for both)."""

    parts: dict[str, str]
    covariance: str
    """`canonical_text(event.origin.covariance)` (`null` when None)."""
    inputs: str
    """`canonical_text(plain(event.provenance.inputs))`."""


def event_parts(event: Event) -> dict[str, str]:
    """The canonical text of each member of an event's `record_document`, in key order (so
    that `event_text` can join them, and the store can use them for its JSON columns): the
    same text as `plain` then `canonical_text`, with the large members (evidence, path,
    origin, provenance) written out directly."""
    return event_texts(event).parts


def event_texts(event: Event) -> EventTexts:
    """`event_parts`, with the canonical text of the origin's covariance and of the
    provenance's inputs, which the store's row holds again: each value encoded once (the
    inputs not at all when they are the evidence, as an event's usually are)."""
    origin, provenance, ellipse = event.origin, event.provenance, event.origin.ellipse95
    evidence, path, inputs = event.evidence, event.path, provenance.inputs
    evidence_ids = all(type(i) is str for i in evidence)
    evidence_text = canonical_text(evidence) if evidence_ids else canonical_text(plain(evidence))
    if evidence_ids and inputs == evidence and all(type(i) is str for i in inputs):
        inputs_text = evidence_text  # equal sequences of str: the same text
    else:
        inputs_text = _ids_text(inputs)
    covariance_text = canonical_text(origin.covariance)  # a tuple of float tuples or None
    # "covariance" is the origin's first key in code-point order: its text goes in front.
    origin_rest = canonical_text(
        {
            "ellipse95": None
            if ellipse is None
            else {
                "azimuth_deg": ellipse.azimuth_deg,
                "major_m": ellipse.major_m,
                "minor_m": ellipse.minor_m,
            },
            "lat": origin.lat,
            "lon": origin.lon,
            "n_sensors": origin.n_sensors,
            "rms_residual_s": origin.rms_residual_s,
            "time_ns": origin.time_ns,
        }
    )
    parts = {
        "attribution": canonical_text(plain(event.attribution)),
        "evidence": evidence_text,
        "id": _text(event.id),
        "origin": f'{{"covariance":{covariance_text},{origin_rest[1:]}',
        "paired": _text(event.paired),  # null when None
        "path": canonical_text(path),  # None or (float, float, float, int) tuples
        "properties": canonical_text(plain(event.properties)),
        "provenance": _provenance_text(provenance, inputs_text),
        "type": _text(event.type),
    }
    return EventTexts(parts, covariance_text, inputs_text)


def _ids_text(ids: Any) -> str:
    """`canonical_text(plain(ids))` of a sequence of ids, without `plain`'s copy when they are
    all `str`."""
    return canonical_text(ids) if all(type(i) is str for i in ids) else canonical_text(plain(ids))


def _provenance_text(provenance: Provenance, inputs_text: str | None = None) -> str:
    """`canonical_text(plain(provenance))`, without `plain`'s walk; `inputs_text` is
    `_ids_text(provenance.inputs)` if the caller has made it."""
    if inputs_text is None:
        inputs_text = _ids_text(provenance.inputs)
    # Keys in code-point order: these four, then "inputs", then "method".
    head = canonical_text(
        {
            "author": provenance.author,
            "created_ns": provenance.created_ns,
            "evaluation_mode": provenance.evaluation_mode,  # StrEnums: their values
            "evaluation_status": provenance.evaluation_status,
        }
    )
    return f'{head[:-1]},"inputs":{inputs_text},"method":{canonical_text(provenance.method)}}}'


def violation_text(violation: Violation) -> str:
    """`canonical_text` of a violation's `record_document`, written out directly (keys in
    code-point order): `plain`'s walk was most of the cost of storing a violation."""
    v = violation
    if type(v.probability) is not float or not math.isfinite(v.probability):
        return canonical_text(record_document("violation", v)[1])  # rare: let it say why
    return (
        f'{{"article":{_text(v.article)},"event_id":{_text(v.event_id)},'
        f'"explanation":{_text(v.explanation)},"id":{_text(v.id)},'
        f'"party":{_text(v.party)},"probability":{float.__repr__(v.probability)},'
        f'"provenance":{_provenance_text(v.provenance)},"rule":{_text(v.rule)}}}'
    )


def event_text(parts: dict[str, str]) -> str:
    """`canonical_text` of an event's `record_document`, from its `event_parts`."""
    return "{" + ",".join(f'"{key}":{text}' for key, text in parts.items()) + "}"


def _text(value: Any) -> str:
    return _encode_string(value) if type(value) is str else canonical_text(plain(value))


def _record_text(kind: str, record: Any) -> tuple[str | None, str, dict[str, Any] | None]:
    """(record id, canonical text of the record, its document unless it is an observation or
    an event)."""
    if type(record) is Observation:
        return record.id, observation_text(record), None
    if kind == "event" and type(record) is Event:
        return record.id, event_text(event_parts(record)), None
    if kind == "violation" and type(record) is Violation:
        return record.id, violation_text(record), None
    ident, document = record_document(kind, record)
    return ident, canonical_text(document), document


def withdrawal(ident: str, **refs: str) -> dict[str, Any]:
    """The record of a withdrawal: the version of record `ident` that ends its history (a
    violation a re-located event no longer has). `refs` name what it belonged to."""
    return {"id": ident, **refs, "withdrawn": True}


def is_withdrawal(document: dict[str, Any]) -> bool:
    """Whether a ledger entry's record is a withdrawal."""
    return document.get("withdrawn") is True


def content_hash(document: dict[str, Any]) -> bytes:
    """SHA-256 of the canonical JSON of a record: what the store and the ledger must agree on."""
    return hashlib.sha256(canonical_json(document)).digest()


def entry_text(
    kind: str,
    ident: str | None,
    record_text: str,
    supersedes: dict[str, Any] | None,
    appended_ns: int,
    run_id: str | None,
    auth: str | None = None,
) -> str:
    """The canonical JSON text of an entry, around the canonical text of its record (equal to
    `canonical_text` of the whole entry; the record is encoded once)."""
    head = f'{{"appended_ns":{appended_ns},'
    if auth is not None:
        head += f'"auth":{_scalar_text(auth)},'
    return (
        f'{head}"id":{_scalar_text(ident)},"kind":{_scalar_text(kind)},'
        f'"record":{record_text},"run":{_scalar_text(run_id)},'
        f'"supersedes":{"null" if supersedes is None else canonical_text(supersedes)},'
        f'"v":{ENTRY_VERSION}}}'
    )


# The encoder's own string escaping (without ensure_ascii), as canonical_text uses it: the same
# text for a str at a fraction of the cost of a whole encode (an entry has up to five).
_encode_string = json.encoder.encode_basestring


def _scalar_text(value: str | None) -> str:
    """canonical_text of a str or None."""
    return "null" if value is None else _encode_string(value)


@dataclass(frozen=True, slots=True)
class Entry:
    """One ledger entry as stored."""

    index: int
    kind: str
    record_id: str | None
    data: bytes
    """The canonical JSON bytes (the leaf's data)."""
    supersedes: int | None = None
    content_hash: bytes = b""
    """SHA-256 of the canonical JSON of the record, as indexed (`content_hash`)."""

    @property
    def leaf_hash(self) -> bytes:
        return merkle.leaf_hash(self.data)

    def document(self) -> dict[str, Any]:
        import json

        return json.loads(self.data)


class Ledger:
    """The evidence ledger over one database; see the module's docstring."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._builder: merkle.TreeBuilder | None = None
        self._sensor_keys: dict[str, str] | None = None

    # -- appending --------------------------------------------------------------------------

    def append_records(
        self, kind: str, records: Iterable[Any], *, run_id: str | None = None, new: bool = False
    ) -> list[int]:
        """Append records of `kind` in one transaction; returns the indices of new entries.
        The single entry point for records the store does not write itself."""
        try:
            with self._engine.begin() as connection:
                return self.append(connection, kind, records, run_id=run_id, new=new)
        except BaseException:
            self.reset()
            raise

    def append(
        self,
        connection: Connection,
        kind: str,
        records: Iterable[Any],
        *,
        run_id: str | None = None,
        new: bool = False,
        record_texts: Sequence[str] | None = None,
    ) -> list[int]:
        """Append records of `kind` inside the caller's transaction (call `reset()` if it rolls
        back). Returns the indices of the new entries. `new` says the records cannot be on the
        ledger yet (observations the store has just inserted), which saves looking up their
        previous versions. `record_texts`, for observations or events, is each one's
        `observation_text` or `event_text`, if the caller has made it."""
        if kind not in KINDS:
            raise ValueError(f"unknown ledger kind {kind!r} (known: {', '.join(sorted(KINDS))})")
        records_list = list(records)
        if record_texts is not None:
            if kind not in ("observation", "event") or len(record_texts) != len(records_list):
                raise ValueError("record_texts: one per record, for observations and events")
            texts = [(o.id, text, None) for o, text in zip(records_list, record_texts, strict=True)]
        else:
            texts = [_record_text(kind, record) for record in records_list]
        if not texts:
            return []
        if kind == "observation" and new and record_texts is not None:
            ids = [ident for ident, _, _ in texts]
            if len(set(ids)) == len(ids):  # the store's case: each one once, new
                return self._append_new_observations(connection, records_list, record_texts, run_id)
        builder = self._tree(connection)
        previous: dict[str, tuple[int, bytes, bytes]] = {}  # id -> (index, content, leaf hash)
        if kind in VERSIONED and not new:
            previous = self._latest(connection, kind, [ident for ident, _, _ in texts if ident])
        if kind == "observation":
            keys = self._keys(connection)
        stamp = now_ns()
        entry_rows: list[tuple[Any, ...]] = []
        node_rows: list[tuple[int, int, bytes]] = []
        added: list[int] = []
        for (ident, record_text, document), record in zip(texts, records_list, strict=True):
            content = hashlib.sha256(record_text.encode("utf-8")).digest()
            supersedes = None
            if kind in VERSIONED:
                before = previous.get(ident)  # type: ignore[arg-type]
                if before is not None:
                    if before[1] == content:
                        continue  # unchanged: already the current version
                    supersedes = {"index": before[0], "leaf_hash": before[2].hex()}
            auth = None
            if kind == "observation":
                sensor, signature = (
                    (record.sensor, record.signature)
                    if document is None
                    else (document["sensor"], document["signature"])
                )
                key = keys.get(sensor)
                auth = "no-key" if key is None else "signed" if signature else "unsigned"
            text = entry_text(kind, ident, record_text, supersedes, stamp, run_id, auth)
            index = builder.size
            leaf = merkle.leaf_hash(text.encode("utf-8"))
            made = builder.append(leaf)
            if kind in VERSIONED:
                previous[ident] = (index, content, leaf)  # type: ignore[index]
            entry_rows.append(
                (
                    index,
                    kind,
                    ident,
                    content,
                    None if supersedes is None else supersedes["index"],
                    text,
                    leaf,
                )
            )
            node_rows.extend(made[LOWEST_STORED_LEVEL:])  # one per level, from level 0
            added.append(index)
        if entry_rows:
            self._insert_entries(connection, entry_rows, node_rows)
        if kind == "sensor":
            self._sensor_keys = None
        return added

    def _append_new_observations(
        self,
        connection: Connection,
        observations: list[Observation],
        record_texts: Sequence[str],
        run_id: str | None,
    ) -> list[int]:
        """`append` of observations not on the ledger yet, each id once, with their
        `observation_text`s: the same entries, each entry's text made from a head and tail
        shared by the batch (a quarter less of the ledger's CPU per observation), hashed and
        written a batch at a time (`TreeBuilder.extend`; the rows zipped straight into the
        driver's executemany)."""
        builder = self._tree(connection)
        keys = self._keys(connection)
        stamp = now_ns()
        head = f'{{"appended_ns":{stamp},"auth":'
        tail = f',"run":{_scalar_text(run_id)},"supersedes":null,"v":{ENTRY_VERSION}}}'
        no_key, signed, unsigned = (_scalar_text(a) for a in ("no-key", "signed", "unsigned"))
        encode, sha256 = _encode_string, hashlib.sha256
        texts = [
            f"{head}{no_key if o.sensor not in keys else signed if o.signature else unsigned},"
            f'"id":{encode(o.id)},"kind":"observation","record":{record_text}{tail}'
            for o, record_text in zip(observations, record_texts, strict=True)
        ]
        leaf_hash = merkle.leaf_hash
        leaves = [leaf_hash(text.encode("utf-8")) for text in texts]
        first = builder.size
        node_rows = builder.extend(leaves, LOWEST_STORED_LEVEL)
        mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
        # The driver's executemany, fed by a zip: no list of row tuples to make (and for the
        # garbage collector to count); the connection's transaction, as exec_driver_sql's.
        cursor = connection.connection.cursor()
        try:
            cursor.executemany(
                "INSERT INTO ledger_entries (idx, kind, record_id, content_hash, supersedes, "
                f"data, leaf_hash) VALUES ({mark}, 'observation', {mark}, {mark}, NULL, {mark}, "
                f"{mark})",
                zip(
                    range(first, builder.size),
                    [o.id for o in observations],
                    [sha256(text.encode("utf-8")).digest() for text in record_texts],
                    texts,
                    leaves,
                    strict=True,
                ),
            )
        finally:
            cursor.close()
        self._insert_nodes(connection, node_rows)
        return list(range(first, builder.size))

    @staticmethod
    def _insert_entries(
        connection: Connection,
        entry_rows: list[tuple[Any, ...]],
        node_rows: list[tuple[int, int, bytes]],
    ) -> None:
        mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
        # Plain executemany of tuples: a third of the cost of Core's insert of dicts.
        connection.exec_driver_sql(
            "INSERT INTO ledger_entries (idx, kind, record_id, content_hash, supersedes, "
            f"data, leaf_hash) VALUES ({', '.join([mark] * 7)})",
            entry_rows,
        )
        Ledger._insert_nodes(connection, node_rows)

    @staticmethod
    def _insert_nodes(connection: Connection, node_rows: list[tuple[int, int, bytes]]) -> None:
        if node_rows:
            mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
            connection.exec_driver_sql(
                f"INSERT INTO ledger_nodes (level, idx, hash) VALUES ({mark}, {mark}, {mark})",
                node_rows,
            )

    def reset(self) -> None:
        """Forget what is cached (after a rolled-back transaction); reloaded when next needed."""
        self._builder = None
        self._sensor_keys = None

    def _tree(self, connection: Connection) -> merkle.TreeBuilder:
        size = self._size(connection)
        if self._builder is None or self._builder.size != size:  # another writer appended
            keys = merkle.frontier_keys(size)
            found = self._fetch(connection, keys)
            self._builder = merkle.TreeBuilder(size, [found[k] for k in keys])
        return self._builder

    def _latest(
        self, connection: Connection, kind: str, ids: Sequence[str]
    ) -> dict[str, tuple[int, bytes, bytes]]:
        latest: dict[str, tuple[int, bytes, bytes]] = {}
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), _CHUNK):
            chunk = unique[start : start + _CHUNK]
            stmt = sa.select(
                _entries.c.idx, _entries.c.record_id, _entries.c.content_hash, _entries.c.data
            ).where(_entries.c.kind == kind, _entries.c.record_id.in_(chunk))
            for index, ident, content, data in connection.execute(stmt):
                if ident not in latest or latest[ident][0] < index:
                    # The leaf hash of the entry's bytes, which a supersedes link names.
                    leaf = merkle.leaf_hash(data.encode("utf-8"))
                    latest[ident] = (index, bytes(content), leaf)
        return latest

    def _keys(self, connection: Connection) -> dict[str, str]:
        if self._sensor_keys is None:
            table = schema.sensors
            stmt = sa.select(table.c.id, table.c.public_key).where(table.c.public_key.is_not(None))
            self._sensor_keys = {k: v for k, v in connection.execute(stmt)}
        return self._sensor_keys

    # -- reading ----------------------------------------------------------------------------

    @staticmethod
    def _size(connection: Connection) -> int:
        last = connection.execute(sa.select(sa.func.max(_entries.c.idx))).scalar()
        return 0 if last is None else int(last) + 1

    def size(self) -> int:
        """How many entries the ledger holds."""
        with self._engine.connect() as connection:
            return self._size(connection)

    @staticmethod
    def _fetch(
        connection: Connection, keys: Iterable[merkle.NodeKey]
    ) -> dict[merkle.NodeKey, bytes]:
        """The hashes of the complete subtrees `keys`: stored ones from `ledger_nodes`, those
        below `LOWEST_STORED_LEVEL` made from the leaf hashes of their blocks."""
        by_level: dict[int, list[int]] = {}
        blocks: dict[int, list[merkle.NodeKey]] = {}
        for level, index in keys:
            if level >= LOWEST_STORED_LEVEL:
                by_level.setdefault(level, []).append(index)
            else:
                blocks.setdefault(index >> (LOWEST_STORED_LEVEL - level), []).append((level, index))
        found: dict[merkle.NodeKey, bytes] = {}
        for block, wanted in blocks.items():
            start = block * _BLOCK
            stmt = (
                sa.select(_entries.c.idx, _entries.c.leaf_hash)
                .where(_entries.c.idx >= start, _entries.c.idx < start + _BLOCK)
                .order_by(_entries.c.idx)
            )
            leaves: list[bytes] = []
            for index, value in connection.execute(stmt):
                if index != start + len(leaves) or value is None:
                    break  # a gap: the subtrees from here on cannot be made (LookupError)
                leaves.append(bytes(value))
            made = merkle.low_nodes(start, leaves)
            found.update((key, made[key]) for key in wanted if key in made)
        for level, indices in by_level.items():
            for start in range(0, len(indices), _CHUNK):
                stmt = sa.select(_nodes.c.idx, _nodes.c.hash).where(
                    _nodes.c.level == level, _nodes.c.idx.in_(indices[start : start + _CHUNK])
                )
                for index, value in connection.execute(stmt):
                    found[level, int(index)] = bytes(value)
        return found

    def _sized(self, connection: Connection, size: int | None) -> int:
        current = self._size(connection)
        if size is None:
            return current
        if not 0 <= size <= current:
            raise ValueError(f"the ledger has {current} entries, not {size}")
        return size

    def root(self, size: int | None = None) -> bytes:
        """The root hash of the first `size` entries (default: all)."""
        with self._engine.connect() as connection:
            size = self._sized(connection, size)
            return merkle.root_hash(size, lambda keys: self._fetch(connection, keys))

    def head(self, size: int | None = None) -> TreeHead:
        """An unsigned head of the first `size` entries (default: all), timed now."""
        with self._engine.connect() as connection:
            size = self._sized(connection, size)
            root = merkle.root_hash(size, lambda keys: self._fetch(connection, keys))
        return TreeHead(size, root, now_ns())

    def sign_head(self, key: Ed25519PrivateKey) -> TreeHead:
        """Sign a head of the whole ledger with the monitor's key and keep it."""
        head = self.head().sign(key)
        with self._engine.begin() as connection:
            connection.execute(
                sa.insert(_heads),
                {
                    "tree_size": head.tree_size,
                    "root_hash": head.root_hash,
                    "timestamp_ns": head.timestamp_ns,
                    "key_id": head.key_id,
                    "data": head.to_json().decode("utf-8"),
                },
            )
        return head

    def heads(self) -> list[TreeHead]:
        """The signed heads kept, oldest first."""
        with self._engine.connect() as connection:
            rows = connection.execute(sa.select(_heads.c.data).order_by(_heads.c.id)).scalars()
            return [TreeHead.from_json(data) for data in rows]

    def latest_head(self) -> TreeHead | None:
        """The newest signed head kept, if any."""
        with self._engine.connect() as connection:
            data = connection.execute(
                sa.select(_heads.c.data).order_by(_heads.c.id.desc()).limit(1)
            ).scalar()
        return None if data is None else TreeHead.from_json(data)

    def entry(self, index: int) -> Entry | None:
        """Entry `index`, if there is one."""
        found = self._select(sa.select(_entries).where(_entries.c.idx == index))
        return found[0] if found else None

    def history(self, kind: str, record_id: str) -> list[Entry]:
        """Every entry of one record, oldest first (for reviews: the reviews of that record)."""
        stmt = (
            sa.select(_entries)
            .where(_entries.c.kind == kind, _entries.c.record_id == record_id)
            .order_by(_entries.c.idx)
        )
        return self._select(stmt)

    def latest(self, kind: str, record_id: str) -> Entry | None:
        """The newest entry of one record."""
        found = self.history(kind, record_id)
        return found[-1] if found else None

    def entries(self, start: int = 0, stop: int | None = None) -> Iterator[Entry]:
        """Entries in index order, streamed."""
        stmt = sa.select(_entries).where(_entries.c.idx >= start).order_by(_entries.c.idx)
        if stop is not None:
            stmt = stmt.where(_entries.c.idx < stop)
        with self._engine.connect() as connection:
            for row in connection.execution_options(yield_per=5000).execute(stmt):
                yield _entry(row)

    def _select(self, stmt: sa.Select[Any]) -> list[Entry]:
        with self._engine.connect() as connection:
            return [_entry(row) for row in connection.execute(stmt)]

    def leaf_hashes(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, bytes]]:
        """(index, leaf hash) as stored with the entries, in index order (entries without one
        left out)."""
        stmt = sa.select(_entries.c.idx, _entries.c.leaf_hash).where(
            _entries.c.idx >= start, _entries.c.leaf_hash.is_not(None)
        )
        if stop is not None:
            stmt = stmt.where(_entries.c.idx < stop)
        with self._engine.connect() as connection:
            result = connection.execution_options(yield_per=5000).execute(
                stmt.order_by(_entries.c.idx)
            )
            for index, value in result:
                yield int(index), bytes(value)

    def stored_nodes(self, level: int) -> Iterator[tuple[int, bytes]]:
        """(index, hash) of the stored nodes of one level (`LOWEST_STORED_LEVEL` or above), in
        index order."""
        stmt = sa.select(_nodes.c.idx, _nodes.c.hash).where(_nodes.c.level == level)
        with self._engine.connect() as connection:
            result = connection.execution_options(yield_per=5000).execute(
                stmt.order_by(_nodes.c.idx)
            )
            for index, value in result:
                yield int(index), bytes(value)

    # -- proofs -----------------------------------------------------------------------------

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """The audit path of entry `index` in the tree of the first `size` entries."""
        with self._engine.connect() as connection:
            size = self._sized(connection, size)
            return merkle.inclusion_proof(index, size, lambda keys: self._fetch(connection, keys))

    def inclusion_proofs(self, indices: Sequence[int], size: int) -> dict[int, list[bytes]]:
        """Audit paths of several entries in one tree (one connection)."""
        with self._engine.connect() as connection:
            size = self._sized(connection, size)

            def fetch(keys: Iterable[merkle.NodeKey]) -> dict[merkle.NodeKey, bytes]:
                return self._fetch(connection, keys)

            return {i: merkle.inclusion_proof(i, size, fetch) for i in indices}

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """The proof that the tree of `new_size` entries extends that of `old_size`."""
        with self._engine.connect() as connection:
            new_size = self._sized(connection, new_size)
            return merkle.consistency_proof(
                old_size, new_size, lambda keys: self._fetch(connection, keys)
            )


def _entry(row: Any) -> Entry:
    return Entry(
        index=int(row.idx),
        kind=row.kind,
        record_id=row.record_id,
        data=row.data.encode("utf-8"),
        supersedes=row.supersedes,
        content_hash=bytes(row.content_hash),
    )
