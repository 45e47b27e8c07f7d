"""Independent checker of a truceline evidence bundle (docs/evidence-format.md).

Uses only the standard library and `cryptography`; shares no code with truceline.
Usage: python verify_bundle.py BUNDLE_DIR MONITOR_PUBLIC_KEY_BASE64   (exit 0 if sound)
"""

import base64
import hashlib
import json
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def canonical(value):
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def load(path):  # a bundle file must be canonical JSON, byte for byte
    data = path.read_bytes()
    value = json.loads(data)
    assert canonical(value) == data, f"{path.name}: not canonical JSON"
    return value


def sha(data):
    return hashlib.sha256(data).digest()


def root_from_path(index, size, leaf, path):  # RFC 9162 section 2.1.3.2
    fn, sn, r = index, size - 1, leaf
    for p in path:
        assert sn > 0, "audit path too long"
        if fn & 1 or fn == sn:
            r = sha(b"\x01" + p + r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = sha(b"\x01" + r + p)
        fn, sn = fn >> 1, sn >> 1
    assert sn == 0, "audit path too short"
    return r


def verify(bundle, key_b64):
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(key_b64))
    manifest = load(bundle / "manifest.json")
    assert manifest["format"] == "truceline-evidence/1", "unknown format"
    head = load(bundle / "head.json")
    assert head["type"] == "truceline-tree-head/1", "head.json: not a tree head"
    signed = {k: v for k, v in head.items() if k != "signature"}
    key.verify(base64.b64decode(head["signature"]), canonical(signed))  # raises if bad
    assert head["key_id"] == sha(base64.b64decode(key_b64)).hex(), "head.json: other key id"
    root, size = bytes.fromhex(head["root_hash"]), head["tree_size"]
    files, entries = {"manifest.json", "head.json"}, {}
    for item in manifest["entries"]:
        i = item["index"]
        files |= {item["entry"], item["proof"]}
        assert item["entry"] == f"entries/{i:012d}.json", f"entry {i}: bad file name"
        data = (bundle / item["entry"]).read_bytes()
        entry = json.loads(data)
        assert canonical(entry) == data, f"{item['entry']}: not canonical JSON"
        same = (entry["kind"], entry["id"]) == (item["kind"], item["id"])
        assert same, f"{item['entry']}: kind/id"
        proof = load(bundle / item["proof"])
        assert (proof["index"], proof["tree_size"]) == (i, size), f"{item['proof']}: index/size"
        leaf = sha(b"\x00" + data)
        assert proof["leaf_hash"] == leaf.hex(), f"{item['entry']}: changed (leaf hash differs)"
        path = [bytes.fromhex(h) for h in proof["audit_path"]]
        assert root_from_path(i, size, leaf, path) == root, f"{item['proof']}: not under the root"
        entries[entry["kind"], entry["id"]] = entry
    extra = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()} - files
    assert not extra, f"files not in the manifest: {sorted(extra)}"
    event = entries[("event", manifest["event"])]["record"]
    for obs_id in event["evidence"]:
        assert ("observation", obs_id) in entries, f"evidence {obs_id} missing"
    for (kind, _), entry in entries.items():  # sensors' signatures, contract section 3
        obs = entry["record"]
        sensor = entries.get(("sensor", obs.get("sensor")), {}).get("record", {})
        if kind == "observation" and obs["signature"] and sensor.get("public_key"):
            raw = json.loads(obs["raw"])
            signature = base64.b64decode(raw.pop("signature"))
            Ed25519PublicKey.from_public_bytes(base64.b64decode(sensor["public_key"])).verify(
                signature, canonical(raw)
            )
    return len(manifest["entries"])


if __name__ == "__main__":
    try:
        n = verify(Path(sys.argv[1]), sys.argv[2])
    except Exception as exc:  # any failed check, unreadable file or bad signature
        print(f"FAIL {type(exc).__name__}: {exc}")
        sys.exit(1)
    print(f"OK: {n} entries proved against the signed head")
