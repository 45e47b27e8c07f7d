"""The ledger in the store: what writes append, versions, rollbacks, and tampering detected."""

from __future__ import annotations

import dataclasses
import json

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.store.factories import event, observation, provenance, violation
from truceline.ledger import merkle
from truceline.ledger.audit import audit
from truceline.ledger.canonical import canonical_text
from truceline.ledger.keys import Ed25519PrivateKey
from truceline.ledger.store import (
    LOWEST_STORED_LEVEL,
    entry_text,
    event_parts,
    event_text,
    event_texts,
    observation_text,
    record_document,
    violation_text,
)
from truceline.records import Ellipse, Observation, Origin, Quarantined, Review, Sensor
from truceline.store import Store, open_store

T0 = 1_772_323_200_000_000_000
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def fill(store: Store) -> None:
    store.add_sensors([Sensor("A-01", "acoustic", "monitor", 37.8, 48.0)])
    store.add_observations([observation(f"obs-{i}") for i in (1, 2, 3)], run_id="r1")
    store.add_observations([observation("obs-1")])  # a re-send: nothing new
    store.quarantine([Quarantined("{bad", "not valid JSON", "malformed-json", "o.jsonl:9", T0)])
    store.add_events([event()], run_id="r1")
    store.add_review(Review("ev-1", "confirmed", "checked the waveforms", "analyst-1", T0 + 9))


def kinds(store: Store) -> list[str]:
    return [entry.kind for entry in store.ledger.entries()]


def sql(store: Store, statement: str) -> None:
    with store._engine.begin() as connection:
        connection.exec_driver_sql(statement)


def test_every_write_is_appended_once(store: Store) -> None:
    fill(store)
    assert kinds(store) == [
        "sensor",
        *["observation"] * 3,
        "quarantine",
        "event",
        "violation",
        "review",
    ]
    store.add_events([event()])  # the same event again: already the current version
    assert store.ledger.size() == 8
    entry = store.ledger.latest("observation", "obs-2")
    document = json.loads(entry.data)
    assert document["record"]["raw"] == observation("obs-2").raw
    assert document["run"] == "r1" and document["auth"] == "no-key"
    assert canonical_text(document).encode() == entry.data
    # The store hands the ledger each observation's text made with the row's fields text.
    assert canonical_text(document["record"]) == observation_text(observation("obs-2"))
    assert audit(store) == []


def test_record_texts_are_for_observations_and_events_one_each(store: Store) -> None:
    fill(store)
    with store._engine.begin() as connection:
        with pytest.raises(ValueError, match="one per record"):
            store.ledger.append(connection, "violation", [violation()], record_texts=["{}"])
        with pytest.raises(ValueError, match="one per record"):
            store.ledger.append(connection, "observation", [observation("obs-9")], record_texts=[])
    store.ledger.reset()


def test_new_observations_make_the_same_entries_by_either_path(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store's path for new observations (their texts given, each id once) appends the same
    entries, byte for byte, as the general path."""
    import truceline.ledger.store as ledger_store

    monkeypatch.setattr(ledger_store, "now_ns", lambda: T0 + 5)
    keyed = Sensor("B-01", "acoustic", "monitor", 37.8, 48.0, public_key="a2V5")
    store.add_sensors([Sensor("A-01", "acoustic", "monitor", 37.8, 48.0), keyed])
    batch = [
        observation("obs-1"),
        dataclasses.replace(observation("obs-2"), sensor="B-01", signature="c2ln"),
        dataclasses.replace(observation('obs-é"3'), sensor="B-01"),
    ]
    texts = [observation_text(o) for o in batch]
    ledger = store.ledger
    with store._engine.begin() as connection:
        fast = ledger.append(
            connection, "observation", batch, run_id="r1", new=True, record_texts=texts
        )
        general = ledger.append(  # a repeated id: the general path
            connection, "observation", [*batch, batch[0]], run_id="r1", new=True
        )
    assert general == [fast[-1] + 1 + k for k in range(3)]
    entries = list(ledger.entries())[-6:]
    assert [e.data for e in entries[:3]] == [e.data for e in entries[3:]]
    assert [e.content_hash for e in entries[:3]] == [e.content_hash for e in entries[3:]]
    assert [json.loads(e.data)["auth"] for e in entries[:3]] == ["no-key", "signed", "unsigned"]
    assert all(canonical_text(json.loads(e.data)).encode() == e.data for e in entries)
    store.ledger.reset()  # appended without their rows: not for an audit


def test_entry_text_is_the_canonical_json_of_the_entry() -> None:
    record = {"b": [1, 2.5, "é"], "a": None}
    supersedes = {"index": 3, "leaf_hash": "ab"}
    text = entry_text("event", "E-1", canonical_text(record), supersedes, 7, None, "signed")
    whole = {
        "v": 1,
        "kind": "event",
        "id": "E-1",
        "record": record,
        "supersedes": supersedes,
        "appended_ns": 7,
        "run": None,
        "auth": "signed",
    }
    assert text == canonical_text(whole)


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_json_value = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(
    ident=_text,
    kind=_text,
    sensor=_text,
    raw=_text,
    signature=st.none() | _text,
    time_ns=st.integers(-(2**62), 2**62),
    received_ns=st.integers(0, 2**62),
    fields=st.dictionaries(_text, _json_value, max_size=5),
)
def test_observation_text_is_the_canonical_json_of_its_record(
    ident: str,
    kind: str,
    sensor: str,
    raw: str,
    signature: str | None,
    time_ns: int,
    received_ns: int,
    fields: dict,
) -> None:
    record = Observation(ident, kind, sensor, time_ns, raw, received_ns, signature, fields)
    assert observation_text(record) == canonical_text(record_document("observation", record)[1])


_finite = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(
    ident=_text,
    paired=st.none() | _text,
    evidence=st.lists(_text, max_size=4),
    path=st.none()
    | st.lists(st.tuples(_finite, _finite, _finite, st.integers(0, 2**62)), max_size=3),
    ellipse=st.none() | st.builds(Ellipse, _finite, _finite, _finite),
    covariance=st.none()
    | st.lists(st.lists(_finite, min_size=3, max_size=3), min_size=3, max_size=3),
    rms=st.none() | _finite,
    attribution=st.dictionaries(_text, _finite, max_size=3),
    properties=st.dictionaries(_text, _json_value, max_size=4),
    inputs=st.none() | st.lists(_text, max_size=3),  # None: the evidence's ids, as usual
)
def test_event_text_is_the_canonical_json_of_its_record(
    ident, paired, evidence, path, ellipse, covariance, rms, attribution, properties, inputs
) -> None:
    if inputs is None:
        inputs = list(evidence)
    record = event(
        ident,
        paired=paired,
        evidence=evidence,
        path=path,
        origin=Origin(1.5, -2.25, 7, ellipse, covariance, rms, 4),
        attribution=attribution,
        properties=properties,
        provenance=provenance(inputs=inputs),
    )
    parts = event_parts(record)
    document = record_document("event", record)[1]
    assert event_text(parts) == canonical_text(document)
    assert list(parts) == sorted(parts)
    texts = event_texts(record)  # what the store's row also holds
    assert texts.parts == parts
    assert texts.covariance == canonical_text(document["origin"]["covariance"])
    assert texts.inputs == canonical_text(document["provenance"]["inputs"])


@settings(max_examples=60, deadline=None)
@given(
    ident=_text,
    article=_text,
    explanation=_text,
    party=st.none() | _text,
    probability=_finite,
    method=st.none() | _text,
    inputs=st.lists(_text, max_size=3),
)
def test_violation_text_is_the_canonical_json_of_its_record(
    ident, article, explanation, party, probability, method, inputs
) -> None:
    record = violation(
        ident,
        article=article,
        explanation=explanation,
        party=party,
        probability=probability,
        provenance=provenance(method=method, inputs=inputs),
    )
    assert violation_text(record) == canonical_text(record_document("violation", record)[1])


def test_violation_text_refuses_what_the_canonical_form_refuses() -> None:
    with pytest.raises(ValueError):
        violation_text(violation(probability=float("nan")))


def test_a_correction_appends_a_version_linked_to_the_one_it_supersedes(store: Store) -> None:
    fill(store)
    first = store.ledger.latest("event", "ev-1")
    moved = event(origin=dataclasses.replace(event().origin, lon=37.9))
    store.add_events([moved])
    history = store.ledger.history("event", "ev-1")
    assert [e.index for e in history] == [first.index, store.ledger.size() - 1]
    supersedes = json.loads(history[-1].data)["supersedes"]
    assert supersedes == {"index": first.index, "leaf_hash": first.leaf_hash.hex()}
    assert store.ledger.latest("violation", "ev-1/no-fire").index == first.index + 1  # unchanged
    assert audit(store) == []


def test_a_rolled_back_write_leaves_no_entry_and_the_tree_whole(store: Store) -> None:
    fill(store)
    size = store.ledger.size()
    with pytest.raises(ValueError):
        store.add_violations([violation("x/no-fire", "no-such-event")])
    assert store.ledger.size() == size
    store.add_observations([observation("obs-9")])
    assert store.ledger.size() == size + 1
    assert audit(store) == []


def test_proofs_from_the_store_verify(store: Store) -> None:
    fill(store)
    old = store.ledger.sign_head(KEY)
    store.add_observations([observation(f"later-{i}") for i in range(13)])
    new = store.ledger.sign_head(KEY)
    assert new.verify(KEY.public_key()) and old.verify(KEY.public_key())
    for index in range(new.tree_size):
        path = store.ledger.inclusion_proof(index, new.tree_size)
        leaf = store.ledger.entry(index).leaf_hash
        assert merkle.verify_inclusion(index, new.tree_size, leaf, path, new.root_hash)
    path = store.ledger.consistency_proof(old.tree_size, new.tree_size)
    assert merkle.verify_consistency(
        old.tree_size, new.tree_size, old.root_hash, new.root_hash, path
    )
    assert audit(store, KEY.public_key()) == []


def test_the_ledger_can_be_off(tmp_path) -> None:
    with open_store(tmp_path / "t.db", ledger=False) as store:
        fill(store)
        assert store.ledger is None
    with open_store(tmp_path / "t.db") as store:
        assert store.ledger.size() == 0


# -- tampering ------------------------------------------------------------------------------------


def test_an_edited_observation_row_is_named(store: Store) -> None:
    fill(store)
    sql(store, "UPDATE observations SET raw = replace(raw, '12.5', '22.5') WHERE id = 'obs-2'")
    assert audit(store) == [
        "observation 'obs-2': the stored row differs from its current ledger entry"
    ]


def test_an_edited_event_row_is_named(store: Store) -> None:
    fill(store)
    sql(store, "UPDATE events SET lon = 37.5 WHERE id = 'ev-1'")
    sql(store, "UPDATE violations SET party = 'UA'")
    assert audit(store) == [
        "event 'ev-1': the stored row differs from its current ledger entry",
        "violation 'ev-1/no-fire': the stored row differs from its current ledger entry",
    ]


def test_deleted_and_edited_quarantine_and_reviews_are_named(store: Store) -> None:
    fill(store)
    sql(store, "DELETE FROM quarantine")
    sql(store, "UPDATE reviews SET status = 'rejected'")
    problems = audit(store)
    assert "review of 'ev-1': the stored row is not on the ledger (edited or added)" in problems
    assert "quarantine: 1 ledger entries with no stored row (deleted)" in problems
    assert "review: 1 ledger entries with no stored row (deleted)" in problems


def test_an_edited_entry_is_named(store: Store) -> None:
    fill(store)
    sql(store, "UPDATE ledger_entries SET data = replace(data, 'obs-3', 'obs-4') WHERE idx = 3")
    problems = audit(store)
    assert problems[0] == (
        "entry #3 (observation 'obs-3'): its bytes do not hash to the stored leaf hash: "
        "the entry was edited"
    )


def test_a_rewritten_tree_is_caught_by_the_signed_head(store: Store) -> None:
    """Rewriting an entry and all its hashes consistently still breaks the signed head."""
    fill(store)
    store.ledger.sign_head(KEY)
    # Forge: another row for entry 5, with its leaf and node hashes recomputed.
    entries = list(store.ledger.entries())
    data = [e.data for e in entries]
    data[5] = data[5].replace(b'"launch"', b'"impact"')
    builder = merkle.TreeBuilder()
    with store._engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM ledger_nodes"))
        for index, item in enumerate(data):
            leaf = merkle.leaf_hash(item)
            for level, i, value in builder.append(leaf)[LOWEST_STORED_LEVEL:]:
                connection.execute(
                    sa.text("INSERT INTO ledger_nodes VALUES (:l, :i, :h)"),
                    {"l": level, "i": i, "h": value},
                )
            connection.execute(
                sa.text("UPDATE ledger_entries SET data = :d, leaf_hash = :h WHERE idx = :i"),
                {"d": item.decode(), "h": leaf, "i": index},
            )
    problems = audit(store, KEY.public_key())
    assert not any("leaf hash" in p for p in problems)  # the hashes were forged to match
    assert any(
        "signed head #1 (size 8): the entries stored now give another root" in p for p in problems
    )


def test_a_violation_the_event_no_longer_has_is_withdrawn_on_the_ledger(store: Store) -> None:
    fill(store)
    relocated = dataclasses.replace(event(), violations=())
    store.add_events([relocated])
    entry = store.ledger.latest("violation", "ev-1/no-fire")
    record = json.loads(entry.data)["record"]
    assert record == {"id": "ev-1/no-fire", "event_id": "ev-1", "withdrawn": True}
    assert json.loads(entry.data)["supersedes"]["index"] < entry.index
    assert audit(store) == []


def test_a_deleted_violation_or_event_row_is_named(store: Store) -> None:
    fill(store)
    sql(store, "DELETE FROM violations")
    assert audit(store) == [
        "violation 'ev-1/no-fire': on the ledger but not in the store (deleted)"
    ]
    sql(store, "DELETE FROM events")
    assert "event 'ev-1': on the ledger but not in the store (deleted)" in audit(store)
