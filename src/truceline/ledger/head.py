"""Signed tree heads: the monitor's signed statement of the ledger's size and root.

A head is one canonical JSON object (docs/evidence-format.md):

    {"key_id": HEX, "root_hash": HEX, "signature": BASE64, "timestamp_ns": INT,
     "tree_size": INT, "type": "truceline-tree-head/1"}

`signature` is the Ed25519 signature, by the key `key_id` names, of the canonical JSON of the
object without `signature` (the same convention as sensors' signatures, contract section 3).
The `type` field separates the domain: a signed head can never be read as any other message.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, replace
from typing import Any

from truceline.ledger.canonical import canonical_json
from truceline.ledger.keys import Ed25519PrivateKey, Ed25519PublicKey, key_id, verify_signature

HEAD_TYPE = "truceline-tree-head/1"


@dataclass(frozen=True, slots=True)
class TreeHead:
    """The ledger's size and root at a time; signed when `signature` is set."""

    tree_size: int
    root_hash: bytes
    timestamp_ns: int
    key_id: str | None = None
    signature: str | None = None

    def signed_part(self) -> dict[str, Any]:
        return {
            "type": HEAD_TYPE,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "timestamp_ns": self.timestamp_ns,
            "key_id": self.key_id,
        }

    def message(self) -> bytes:
        """The bytes the signature is over."""
        return canonical_json(self.signed_part())

    def sign(self, key: Ed25519PrivateKey) -> TreeHead:
        unsigned = replace(self, key_id=key_id(key), signature=None)
        signature = base64.b64encode(key.sign(unsigned.message())).decode("ascii")
        return replace(unsigned, signature=signature)

    def verify(self, key: Ed25519PublicKey) -> bool:
        """Whether the head is signed, by `key`, and the signature is good."""
        if self.signature is None or self.key_id != key_id(key):
            return False
        return verify_signature(key, self.signature, self.message())

    def as_dict(self) -> dict[str, Any]:
        return {**self.signed_part(), "signature": self.signature}

    def to_json(self) -> bytes:
        return canonical_json(self.as_dict())

    @classmethod
    def from_dict(cls, data: Any) -> TreeHead:
        """From its JSON object; ValueError naming what is wrong."""
        if not isinstance(data, dict):
            raise ValueError("a tree head must be a JSON object")
        if data.get("type") != HEAD_TYPE:
            raise ValueError(f"type must be {HEAD_TYPE!r}, not {data.get('type')!r}")
        extra = set(data) - {
            "type",
            "tree_size",
            "root_hash",
            "timestamp_ns",
            "key_id",
            "signature",
        }
        if extra:
            raise ValueError(f"unknown field(s) {sorted(extra)}")
        size, stamp = data.get("tree_size"), data.get("timestamp_ns")
        if type(size) is not int or size < 0 or type(stamp) is not int:
            raise ValueError("tree_size and timestamp_ns must be non-negative integers")
        try:
            root = bytes.fromhex(data["root_hash"])
        except (KeyError, TypeError, ValueError):
            raise ValueError("root_hash must be 64 hex digits") from None
        if len(root) != 32:
            raise ValueError("root_hash must be 64 hex digits")
        return cls(size, root, stamp, data.get("key_id"), data.get("signature"))

    @classmethod
    def from_json(cls, text: str | bytes) -> TreeHead:
        return cls.from_dict(json.loads(text))
