"""Canonical JSON: the one byte string each ledger entry, tree head and bundle file is.

    json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
               allow_nan=False).encode("utf-8")

Keys sorted (by code point), no whitespace, UTF-8 (characters beyond ASCII written as
themselves; JSON's own escapes for `"`, `\\` and control characters), integers as digits,
floats in Python's shortest round-trip form (`0.1`, `1e-07`, `-0.0`), no NaN or infinities.
This is also the form a sensor signs (contract section 3). A verifier never needs to
re-create it: entries are hashed as the bytes stored; it needs it only to check that a file
is in canonical form (so that no byte can change without being noticed).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from enum import Enum
from typing import Any

from truceline.jsontext import json_encoder

_encode = json_encoder(sort_keys=True, allow_nan=False)


def canonical_json(value: Any) -> bytes:
    """`value` (plain JSON types; tuples as arrays) as canonical JSON bytes."""
    return _encode(value).encode("utf-8")


def canonical_text(value: Any) -> str:
    """`canonical_json` as text."""
    return _encode(value)


_SCALARS = frozenset({str, int, float, bool, type(None)})
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def plain(value: Any) -> Any:
    """A record as plain JSON types: dataclasses as objects of their fields, enums as their
    values, mappings as dicts, sequences as lists."""
    kind = type(value)
    if kind in _SCALARS:  # by exact type, the hot path (an enum derived from str is not one)
        return value
    if kind is list or kind is tuple:
        return [v if type(v) in _SCALARS else plain(v) for v in value]
    if isinstance(value, dict):
        return {
            k if type(k) is str else str(k): v if type(v) in _SCALARS else plain(v)
            for k, v in value.items()
        }
    if value is None or isinstance(value, bool | int | float | str):
        return value.value if isinstance(value, Enum) else value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _FIELD_NAMES.get(kind)
        if names is None:
            names = _FIELD_NAMES[kind] = tuple(f.name for f in dataclasses.fields(value))
        return {name: plain(getattr(value, name)) for name in names}
    if isinstance(value, Mapping):
        return {str(k): v if type(v) in _SCALARS else plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, Enum):
        return plain(value.value)
    raise TypeError(f"cannot put a {type(value).__name__} on the ledger")
