"""Calibration of the top party's probability: a monotone map fitted on simulated training runs.

The combined evidence (`truceline.attribute.model`) gives a raw probability π that the most
probable party is the responsible one. Its errors are not all Gaussian (an event located far off,
a launch taken for an impact, a wrong pairing), so π is mapped through g, a non-decreasing
piecewise-linear function fitted by isotonic regression (pool-adjacent-violators) to the
outcomes of training events: for each, π and whether the top party was the true one. The map
is stored as knots in JSON; `bundled` is the one shipped with truceline, fitted on training
seeds that the evaluation in docs/performance.md does not use.

One map does not fit every condition: evidence from one party's sensors only (one side of the
line heard, so the other side's origins are placed worse) and origins near the line are
over-confident where far, mixed evidence is not. A `CalibrationSet` holds one map per condition
(`truceline.attribute.model.condition_of`) and a fallback `all`; a JSON file with a single map is
a set whose every condition uses it.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

BUNDLED = "attribution-calibration.json"


@dataclass(frozen=True)
class CalibrationMap:
    """g(π) by linear interpolation between knots (`x` increasing, `y` non-decreasing); outside
    the knots g is held at the end values. `identity()` maps π to itself."""

    x: tuple[float, ...] = (0.0, 1.0)
    y: tuple[float, ...] = (0.0, 1.0)
    about: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def identity(cls) -> CalibrationMap:
        return cls(about={"name": "none"})

    def __call__(self, p: ArrayLike) -> Any:
        return np.interp(p, self.x, self.y)

    def as_dict(self) -> dict[str, Any]:
        return {"x": list(self.x), "y": list(self.y), "about": self.about}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CalibrationMap:
        x = tuple(float(v) for v in data["x"])
        y = tuple(float(v) for v in data["y"])
        if len(x) != len(y) or len(x) < 2:
            raise ValueError("a calibration map needs at least two knots, as many x as y")
        if any(b < a for a, b in itertools.pairwise(x)) or any(
            b < a for a, b in itertools.pairwise(y)
        ):
            raise ValueError("calibration knots must be non-decreasing in x and y")
        return cls(x, y, dict(data.get("about", {})))


@dataclass(frozen=True)
class CalibrationSet:
    """One map per condition, with `all` for conditions that have none of their own."""

    maps: dict[str, CalibrationMap]
    about: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, calibration: CalibrationMap | CalibrationSet) -> CalibrationSet:
        if isinstance(calibration, CalibrationSet):
            return calibration
        return cls({"all": calibration}, dict(calibration.about))

    @property
    def name(self) -> str:
        return str(self.about.get("name", "fitted"))

    def map_for(self, condition: str) -> CalibrationMap:
        return self.maps.get(condition) or self.maps.get("all") or CalibrationMap.identity()

    def as_dict(self) -> dict[str, Any]:
        return {"about": self.about, "conditions": {k: m.as_dict() for k, m in self.maps.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CalibrationSet:
        if "conditions" not in data:
            return cls.of(CalibrationMap.from_dict(data))
        maps = {str(k): CalibrationMap.from_dict(v) for k, v in data["conditions"].items()}
        return cls(maps, dict(data.get("about", {})))


def load_calibration(name: str) -> CalibrationSet:
    """`bundled`, `none` or a path to a JSON map or set of maps."""
    if name == "none":
        return CalibrationSet.of(CalibrationMap.identity())
    if name == "bundled":
        text = resources.files("truceline.data").joinpath(BUNDLED).read_text("utf-8")
    else:
        text = Path(name).read_text("utf-8")
    return CalibrationSet.from_dict(json.loads(text))


def isotonic(x: ArrayLike, y: ArrayLike, weight: ArrayLike | None = None) -> tuple[Any, ...]:
    """Pool-adjacent-violators: the non-decreasing step fit of y on x. Returns the blocks' mean
    x, fitted y and total weight (one entry per block, in order of x)."""
    xa = np.asarray(x, float)
    ya = np.asarray(y, float)
    wa = np.ones_like(xa) if weight is None else np.asarray(weight, float)
    order = np.argsort(xa, kind="stable")
    xs, ys, ws = xa[order], ya[order], wa[order]
    _, start = np.unique(xs, return_index=True)  # one block per distinct x to begin with
    blocks: list[list[float]] = []  # [w, w*y, w*x]
    for w, wy, wx in zip(
        np.add.reduceat(ws, start),
        np.add.reduceat(ws * ys, start),
        np.add.reduceat(ws * xs, start),
        strict=True,
    ):
        blocks.append([w, wy, wx])
        while len(blocks) > 1 and blocks[-2][1] / blocks[-2][0] >= blocks[-1][1] / blocks[-1][0]:
            w2, wy2, wx2 = blocks.pop()
            blocks[-1][0] += w2
            blocks[-1][1] += wy2
            blocks[-1][2] += wx2
    b = np.array(blocks)
    return b[:, 2] / b[:, 0], b[:, 1] / b[:, 0], b[:, 0]


def fit_calibration(
    raw: ArrayLike, correct: ArrayLike, *, prior_weight: float = 2.0, about: dict | None = None
) -> CalibrationMap:
    """Fit g on training outcomes (raw probability, 1 if the top party was right else 0). Each
    block's rate is shrunk towards its mean raw probability with `prior_weight` pseudo-events
    (so a small block of all-correct events does not yield g = 1 exactly), then made monotone
    again. Below the first knot and above the last, g holds the end values."""
    raw_a = np.clip(np.asarray(raw, float), 0.0, 1.0)
    ok = np.asarray(correct, float)
    bx, by, bw = isotonic(raw_a, ok)
    shrunk = (by * bw + bx * prior_weight) / (bw + prior_weight)
    sx, sy, _ = isotonic(bx, shrunk, bw + prior_weight)
    if sx.size == 1:
        sx, sy = np.array([0.0, 1.0]), np.array([sy[0], sy[0]])
    info = {"n": int(raw_a.size), "correct": int(ok.sum())}
    info.update(about or {})
    return CalibrationMap(
        tuple(round(float(v), 6) for v in sx), tuple(round(float(v), 6) for v in sy), info
    )
