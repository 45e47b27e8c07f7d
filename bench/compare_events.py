"""Are two runs' events the same? Compares two events.geojson files.

    python bench/compare_events.py BEFORE.geojson AFTER.geojson

Byte-identical features, leaving out what names the run (the collection's run id and elapsed
time, each event's `created` time)? If not: the features that differ, the largest relative
difference of any number in them, and every difference that is not a number (ids, types,
pairing, evidence, violations, text). Exit status 0 when identical, 1 otherwise.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any


def features(path: str) -> list[dict[str, Any]]:
    """The file's features, without the time each event was created (the run's time)."""
    with open(path, encoding="utf-8") as handle:
        out = json.load(handle)["features"]
    for f in out:
        f["properties"].pop("created", None)
    return out


def differences(a: Any, b: Any, path: str = "") -> list[tuple[str, str, float]]:
    """(where, what, relative difference) for every place two JSON values differ: `number`
    with its relative difference, else `keys`, `length` or `value` (infinite)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = [] if a.keys() == b.keys() else [(path, "keys", math.inf)]
        for k in a.keys() & b.keys():
            out += differences(a[k], b[k], f"{path}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        out = [] if len(a) == len(b) else [(path, "length", math.inf)]
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            out += differences(x, y, f"{path}[{i}]")
        return out
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool):
        if a == b:
            return []
        return [(path, "number", abs(a - b) / max(abs(a), abs(b)))]
    return [] if a == b else [(path, "value", math.inf)]


def main() -> int:
    before, after = features(sys.argv[1]), features(sys.argv[2])
    same = json.dumps(before) == json.dumps(after)
    print(f"features: {len(before)} and {len(after)}; byte-identical: {same}")
    if same:
        return 0
    ids_a = [f["properties"]["id"] for f in before]
    ids_b = [f["properties"]["id"] for f in after]
    print(f"same ids: {set(ids_a) == set(ids_b)}, in the same order: {ids_a == ids_b}")
    by_id = {f["properties"]["id"]: f for f in after}
    worst, other, n = 0.0, [], 0
    for f in before:
        g = by_id.get(f["properties"]["id"])
        if g is None or f == g:
            continue
        n += 1
        for where, what, rel in differences(f, g, f["properties"]["id"]):
            if what == "number":
                worst = max(worst, rel)
            else:
                other.append((where, what))
    print(f"features that differ: {n}; largest relative difference of a number: {worst:.3g}")
    print(f"differences that are not numbers: {len(other)}")
    for where, what in other[:20]:
        print(f"  {where}: {what}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
