"""Compact JSON text by the standard library's C encoder, made once.

`json.JSONEncoder(...).encode` builds a new C encoder on every call, which costs more than
encoding a small mapping (an observation's fields: 7 µs of which 4 are that set-up; there are
millions a day). `json_encoder` makes the C encoder once and returns a function giving exactly
`JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=..., allow_nan=...).encode`'s
text. The one difference: it does not look for circular references (records are trees), so a
cycle raises RecursionError rather than ValueError.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json.encoder import c_make_encoder  # type: ignore[attr-defined]
from typing import Any

_encode_string = json.encoder.encode_basestring  # the C version where there is one


def _not_json(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def json_encoder(*, sort_keys: bool, allow_nan: bool) -> Callable[[Any], str]:
    """A function from a value of JSON types (tuples as arrays, `dict` subclasses as objects) to
    its compact text: no whitespace, characters beyond ASCII as themselves."""
    if c_make_encoder is None:  # a Python without the C accelerator
        return json.JSONEncoder(
            ensure_ascii=False, separators=(",", ":"), sort_keys=sort_keys, allow_nan=allow_nan
        ).encode
    encoder = c_make_encoder(
        None, _not_json, _encode_string, None, ":", ",", sort_keys, False, allow_nan
    )

    def encode(value: Any) -> str:
        if type(value) is str:
            return _encode_string(value)
        return "".join(encoder(value, 0))

    return encode
