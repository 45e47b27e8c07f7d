"""Records as plain JSON types and their canonical text."""

from __future__ import annotations

import dataclasses
from enum import IntEnum

import pytest

from truceline.ledger.canonical import canonical_text, plain
from truceline.records import EvaluationStatus, FrozenDict


class Level(IntEnum):
    HIGH = 3


@dataclasses.dataclass(frozen=True)
class Inner:
    status: EvaluationStatus
    values: tuple[float, ...]


@dataclasses.dataclass(frozen=True)
class Outer:
    name: str
    inner: Inner
    tags: FrozenDict
    items: list


def test_records_become_plain_json_types_all_the_way_down() -> None:
    record = Outer(
        name="e-1",
        inner=Inner(EvaluationStatus.PRELIMINARY, (1.5, -0.0)),
        tags=FrozenDict({"b": (1, 2), 3: Level.HIGH, "c": {"d": None}}),
        items=[Level.HIGH, True, (Inner(EvaluationStatus.CONFIRMED, ()),)],
    )
    document = plain(record)
    assert document == {
        "name": "e-1",
        "inner": {"status": "preliminary", "values": [1.5, -0.0]},
        "tags": {"b": [1, 2], "3": 3, "c": {"d": None}},
        "items": [3, True, [{"status": "confirmed", "values": []}]],
    }
    # Enums (derived from str or int) are written as their plain values.
    assert type(document["items"][0]) is int and type(document["tags"]["3"]) is int
    assert type(document["inner"]["status"]) is str
    assert type(document["tags"]) is dict and type(document["inner"]["values"]) is list
    text = canonical_text(document)
    assert text.startswith('{"inner":{"status":"preliminary","values":[1.5,-0.0]},"items":')


def test_what_json_cannot_hold_is_refused() -> None:
    with pytest.raises(TypeError, match="set"):
        plain({"a": {1, 2}})
