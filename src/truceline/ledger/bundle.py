"""Evidence bundles: `truceline export-evidence` writes one, `truceline verify` checks one.

A bundle is a directory (docs/evidence-format.md):

    manifest.json             what is in it: the event, each entry's index, kind, id and files,
                              the monitor's public key
    head.json                 a signed tree head
    entries/NNNNNNNNNNNN.json each ledger entry, its exact bytes (leaf index, 12 digits)
    proofs/NNNNNNNNNNNN.json  its inclusion proof against the head

Every file is canonical JSON, so any changed byte either breaks a hash, a signature or a
cross-check, or leaves a file that is not canonical: `verify_bundle` names the file, the entry and
the check that failed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from truceline.errors import UsageError
from truceline.ledger import merkle
from truceline.ledger.canonical import canonical_json
from truceline.ledger.head import TreeHead
from truceline.ledger.keys import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
    public_key_b64,
    public_key_from_b64,
    verify_signature,
)
from truceline.ledger.store import Entry, Ledger

FORMAT = "truceline-evidence/1"


def entry_file(index: int) -> str:
    return f"entries/{index:012d}.json"


def proof_file(index: int) -> str:
    return f"proofs/{index:012d}.json"


@dataclass
class ExportSummary:
    out_dir: Path
    event_id: str
    tree_size: int
    entries: dict[str, int] = field(default_factory=dict)
    """Kind -> entries written."""
    left_out: int = 0
    """Entries newer than the signed head, not in the bundle."""


def _evidence_entries(store: Any, ledger: Ledger, event_id: str) -> list[Entry]:
    chosen: dict[int, Entry] = {}

    def take(entries: list[Entry]) -> None:
        for entry in entries:
            chosen[entry.index] = entry

    events = ledger.history("event", event_id)
    if not events:
        raise UsageError(f"event {event_id!r} is not on the ledger")
    take(events)
    take(ledger.history("attribution", event_id))
    take(ledger.history("decision", event_id))
    take(ledger.history("review", event_id))
    violation_ids: set[str] = set()
    evidence: set[str] = set()
    for entry in events:
        evidence.update(entry.document()["record"].get("evidence") or ())
    for violation in store.violations(event_id):
        violation_ids.add(violation.id)
    for violation_id in sorted(violation_ids):
        take(ledger.history("violation", violation_id))
        take(ledger.history("review", violation_id))
    sensors: set[str] = set()
    for observation_id in sorted(evidence):
        history = ledger.history("observation", observation_id)
        take(history)
        sensors.update(e.document()["record"]["sensor"] for e in history)
    for sensor_id in sorted(sensors):
        take(ledger.history("sensor", sensor_id))
    return [chosen[i] for i in sorted(chosen)]


def export_evidence(
    store: Any,
    event_id: str,
    out_dir: str | Path,
    *,
    key: Ed25519PrivateKey | None = None,
) -> ExportSummary:
    """Write the bundle of one event: the event's versions, its violations, reviews and
    attributions, the observations it rests on and their sensors, each with its inclusion proof
    against a signed head. With `key`, a new head is signed when the newest does not cover the
    whole ledger; without one, the newest signed head is used and newer entries are left out."""
    ledger: Ledger | None = store.ledger
    if ledger is None:
        raise UsageError("the evidence ledger is off (setting ledger.enabled)")
    head = ledger.latest_head()
    if key is not None and (head is None or head.tree_size < ledger.size()):
        head = ledger.sign_head(key)
    if head is None:
        raise UsageError(
            "no signed tree head yet: set ledger.key_path to the monitor's key "
            "(make one with `truceline keys init`) and run `truceline ledger head --sign`"
        )
    entries = _evidence_entries(store, ledger, event_id)
    covered = [e for e in entries if e.index < head.tree_size]
    if not any(e.kind == "event" for e in covered):
        raise UsageError(
            f"event {event_id!r} was appended after the newest signed head (size "
            f"{head.tree_size}): sign a new one with `truceline ledger head --sign`"
        )
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise UsageError(f"{out} is not empty: give a new directory")
    (out / "entries").mkdir(parents=True, exist_ok=True)
    (out / "proofs").mkdir(exist_ok=True)
    proofs = ledger.inclusion_proofs([e.index for e in covered], head.tree_size)
    summary = ExportSummary(out, event_id, head.tree_size, left_out=len(entries) - len(covered))
    listed = []
    for entry in covered:
        (out / entry_file(entry.index)).write_bytes(entry.data)
        proof = {
            "index": entry.index,
            "tree_size": head.tree_size,
            "leaf_hash": entry.leaf_hash.hex(),
            "audit_path": [h.hex() for h in proofs[entry.index]],
        }
        (out / proof_file(entry.index)).write_bytes(canonical_json(proof))
        listed.append(
            {
                "index": entry.index,
                "kind": entry.kind,
                "id": entry.record_id,
                "entry": entry_file(entry.index),
                "proof": proof_file(entry.index),
            }
        )
        summary.entries[entry.kind] = summary.entries.get(entry.kind, 0) + 1
    (out / "head.json").write_bytes(head.to_json())
    manifest = {
        "format": FORMAT,
        "event": event_id,
        "head": "head.json",
        "key": public_key_b64(key) if key is not None else None,
        "entries": listed,
    }
    (out / "manifest.json").write_bytes(canonical_json(manifest))
    return summary


# -- verifying --------------------------------------------------------------------------------


@dataclass
class Verification:
    """What `verify_bundle` found: `problems` (empty when the bundle is sound) and notes."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    entries: int = 0
    signatures_checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _read_json(root: Path, name: str, result: Verification) -> Any:
    path = root / name
    try:
        data = path.read_bytes()
    except OSError as exc:
        result.problems.append(f"{name}: cannot read ({exc.strerror or exc})")
        return None
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        result.problems.append(f"{name}: not valid UTF-8 JSON ({exc})")
        return None
    if canonical_json(value) != data:
        result.problems.append(f"{name}: not in canonical JSON form (bytes were changed)")
    return value


def verify_bundle(directory: str | Path, key: Ed25519PublicKey | None = None) -> Verification:
    """Check a bundle offline; see docs/evidence-format.md for each check."""
    root = Path(directory)
    result = Verification()
    problems = result.problems
    if not root.is_dir():
        problems.append(f"{root}: not a directory")
        return result
    manifest = _read_json(root, "manifest.json", result)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        if isinstance(manifest, dict):
            problems.append(f"manifest.json: format {manifest.get('format')!r} is not {FORMAT!r}")
        return result
    expected_keys = {"format", "event", "head", "key", "entries"}
    if set(manifest) != expected_keys:
        problems.append(f"manifest.json: fields {sorted(manifest)} are not {sorted(expected_keys)}")
    # The key: the one given (trusted) or, failing that, the bundle's own (self-consistency only).
    bundled = manifest.get("key")
    bundled_key = None
    if bundled is not None:
        try:
            bundled_key = public_key_from_b64(bundled)
        except (ValueError, TypeError) as exc:
            problems.append(f"manifest.json: key is not an Ed25519 public key ({exc})")
    if key is None:
        key = bundled_key
        result.notes.append(
            "head checked against the key inside the bundle only: pass --key with the "
            "monitor's published public key to check who signed it"
        )
    elif bundled is not None and bundled != public_key_b64(key):
        problems.append("manifest.json: key differs from the public key given with --key")
    head_name = manifest.get("head")
    if head_name != "head.json":
        problems.append(f"manifest.json: head {head_name!r} is not 'head.json'")
    head = None
    head_data = _read_json(root, "head.json", result)
    if head_data is not None:
        try:
            head = TreeHead.from_dict(head_data)
        except ValueError as exc:
            problems.append(f"head.json: {exc}")
    if head is not None:
        if key is None:
            problems.append("head.json: no public key to check its signature (pass --key)")
        elif not head.verify(key):
            problems.append("head.json: signature check failed (wrong key, or the head changed)")
    entries = manifest.get("entries")
    if not isinstance(entries, list):
        problems.append("manifest.json: entries must be a list")
        return result
    documents: dict[int, dict[str, Any]] = {}
    leaves: dict[int, bytes] = {}
    listed_files = {"manifest.json", "head.json"}
    previous = -1
    for item in entries:
        if not isinstance(item, dict) or type(item.get("index")) is not int:
            problems.append(f"manifest.json: bad entry item {item!r}")
            continue
        index = item["index"]
        if index <= previous:
            problems.append(f"manifest.json: entry {index} is out of order or repeated")
        previous = index
        name, proof_name = entry_file(index), proof_file(index)
        if item.get("entry") != name or item.get("proof") != proof_name:
            problems.append(f"manifest.json: entry {index} names files other than {name}")
        if set(item) != {"index", "kind", "id", "entry", "proof"}:
            problems.append(f"manifest.json: entry {index} has fields {sorted(item)}")
        listed_files.update((name, proof_name))
        where = f"{name} ({item.get('kind')} {item.get('id')!r})"
        try:
            data = (root / name).read_bytes()
        except OSError as exc:
            problems.append(f"{name}: cannot read ({exc.strerror or exc})")
            continue
        result.entries += 1
        leaf = merkle.leaf_hash(data)
        leaves[index] = leaf
        try:
            document = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            document = None
        if not isinstance(document, dict):
            problems.append(f"{where}: not a JSON object")
        else:
            documents[index] = document
            if canonical_json(document) != data:
                problems.append(f"{where}: not in canonical JSON form")
            if document.get("kind") != item.get("kind") or document.get("id") != item.get("id"):
                problems.append(f"{where}: kind or id differs from the manifest's")
        proof = _read_json(root, proof_name, result)
        if not isinstance(proof, dict) or head is None:
            continue
        if set(proof) != {"index", "tree_size", "leaf_hash", "audit_path"}:
            problems.append(f"{proof_name}: fields {sorted(proof)} are not those of a proof")
            continue
        if proof["index"] != index or proof["tree_size"] != head.tree_size:
            problems.append(f"{proof_name}: index or tree_size differs from the entry's / head's")
            continue
        if proof["leaf_hash"] != leaf.hex():
            problems.append(
                f"{where}: its leaf hash {leaf.hex()[:16]}... is not the proof's "
                f"{str(proof['leaf_hash'])[:16]}...: the entry was changed"
            )
            continue
        try:
            path = [bytes.fromhex(h) for h in proof["audit_path"]]
        except (TypeError, ValueError):
            problems.append(f"{proof_name}: audit_path must be a list of hex hashes")
            continue
        if not merkle.verify_inclusion(index, head.tree_size, leaf, path, head.root_hash):
            problems.append(
                f"{proof_name}: the audit path of entry {index} does not lead to the signed "
                f"root in head.json (the proof or the head was changed)"
            )
    present = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    for extra in sorted(present - listed_files):
        problems.append(f"{extra}: not listed in manifest.json")
    _check_contents(manifest, documents, leaves, result)
    return result


def _check_contents(
    manifest: dict[str, Any],
    documents: dict[int, dict[str, Any]],
    leaves: dict[int, bytes],
    result: Verification,
) -> None:
    """The records' own links: supersession chains, the event's evidence, sensors' signatures."""
    problems = result.problems
    event_id = manifest.get("event")
    latest: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
    for index, document in sorted(documents.items()):
        where = f"{entry_file(index)} ({document.get('kind')} {document.get('id')!r})"
        supersedes = document.get("supersedes")
        if (
            isinstance(supersedes, dict)
            and supersedes.get("index") in leaves
            and leaves[supersedes["index"]].hex() != supersedes.get("leaf_hash")
        ):
            problems.append(f"{where}: the version it supersedes has another leaf hash")
        latest[document.get("kind"), document.get("id")] = (index, document)  # type: ignore[index]
    event = latest.get(("event", event_id))  # type: ignore[arg-type]
    if event is None:
        problems.append(f"manifest.json: no entry of event {event_id!r}")
        return
    record = event[1].get("record") or {}
    for observation_id in record.get("evidence") or ():
        if ("observation", observation_id) not in latest:
            problems.append(
                f"{entry_file(event[0])} (event {event_id!r}): evidence {observation_id!r} "
                f"has no observation entry in the bundle"
            )
    for (kind, ident), (index, document) in latest.items():
        if kind != "observation":
            continue
        obs = document.get("record") or {}
        sensor = latest.get(("sensor", obs.get("sensor")))
        public = (sensor[1].get("record") or {}).get("public_key") if sensor else None
        if not obs.get("signature") or not public:
            continue
        try:
            original = json.loads(obs["raw"])
            signature = original.pop("signature")
            good = verify_signature(
                public_key_from_b64(public), signature, canonical_json(original)
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            good = False
        result.signatures_checked += 1
        if not good:
            problems.append(
                f"{entry_file(index)} (observation {ident!r}): the sensor's signature does not "
                f"verify with the key of sensor {obs.get('sensor')!r}"
            )
