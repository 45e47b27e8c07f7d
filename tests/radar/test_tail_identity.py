"""The serial tail's faster forms give the numbers of the forms they replaced, bit for bit."""

from __future__ import annotations

import numpy as np

from truceline.attribute.weapon import DetectionIndex
from truceline.radar.explain import _origin_variance
from truceline.radar.stage import _fusion_weights
from truceline.records import (
    Ellipse,
    Event,
    FrozenDict,
    Origin,
    Provenance,
    Sensor,
    frozen_update,
)


def _covariances(rng: np.random.Generator, n: int) -> np.ndarray:
    a = rng.normal(size=(n, 3, 3))
    c = a @ a.transpose(0, 2, 1) * rng.uniform(1.0, 1e5, size=(n, 1, 1))
    c[:, 2, :] *= 1e-3
    c[:, :, 2] *= 1e-3
    return c


def test_origin_variance_is_the_einsum_bit_for_bit() -> None:
    rng = np.random.default_rng(0)
    for _ in range(300):
        n, m = rng.integers(1, 40), rng.integers(1, 60)
        g = np.stack(
            [rng.normal(size=(n, m)) * 1e-3, rng.normal(size=(n, m)) * 1e-3, np.ones((n, m))],
            axis=-1,
        )
        cov = _covariances(rng, m)
        want = np.einsum("nmi,mij,nmj->nm", g, cov, g)
        assert np.array_equal(_origin_variance(g, cov), want)


def _event(eid: str, cov: np.ndarray) -> Event:
    origin = Origin(
        lon=37.5,
        lat=48.0,
        time_ns=1_700_000_000_000_000_000,
        ellipse95=Ellipse(10.0, 5.0, 0.0),
        covariance=tuple(tuple(float(v) for v in row) for row in cov),
        n_sensors=4,
    )
    return Event(id=eid, type="launch", origin=origin, provenance=Provenance.automatic("t", (), 0))


def test_fusion_weights_are_the_pseudo_inverses_one_at_a_time() -> None:
    rng = np.random.default_rng(1)
    ca, cr = _covariances(rng, 200), _covariances(rng, 200)
    acoustic = [_event(f"A{q}", c) for q, c in enumerate(ca)]
    radar = [_event(f"R{q}", c) for q, c in enumerate(cr)]
    for a, r, (ir, cov) in zip(acoustic, radar, _fusion_weights(acoustic, radar), strict=True):
        ia1 = np.linalg.pinv(np.asarray(a.origin.covariance))
        ir1 = np.linalg.pinv(np.asarray(r.origin.covariance))
        assert np.array_equal(ir, ir1)
        assert np.array_equal(cov, np.linalg.pinv(ia1 + ir1))


def test_frozen_update_is_a_frozen_dict_of_both() -> None:
    base = FrozenDict({"a": 1, "b": {"c": [1, 2]}, "d": (3.0, {"e": None})})
    changes = {"b": {"x": [4]}, "f": [{"g": 1}]}
    got = frozen_update(base, changes)
    want = FrozenDict({**base, **changes})
    assert type(got) is FrozenDict
    assert got == want
    assert list(got) == list(want)
    assert type(got["b"]) is FrozenDict and got["f"] == (FrozenDict({"g": 1}),)


def test_rows_among_are_the_detections_as_tuples() -> None:
    sensors = [
        Sensor(
            id="S1",
            kind="acoustic",
            operator="monitor",
            lon=37.0,
            lat=48.0,
            properties={"noise_db": 30.0},
        ),
        Sensor(id="S2", kind="acoustic", operator="monitor", lon=37.1, lat=48.1, properties={}),
        Sensor(
            id="S3",
            kind="acoustic",
            operator="monitor",
            lon=37.2,
            lat=48.2,
            properties={"noise_db": 25.0, "threshold_db": 8.0},
        ),
    ]
    index = DetectionIndex(sensors, {"o1": ("S1", 12.5), "o2": ("S2", 9.0), "o3": ("S3", 20.0)})
    ids = ["o3", "o9", "o2", "o1"]
    assert index.rows_among(ids) == [tuple(index[o]) for o in ids if o in index]
