from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import ndtr

from tests.attribute.conftest import east_of_line
from truceline.attribute.areas import Integrator, covariance_2d, standard_draws


def test_draws_are_fixed_and_standard():
    a, b = standard_draws(1024), standard_draws(1024)
    assert a is b and a.shape == (1024, 2)
    assert abs(a.mean()) < 0.01 and abs(a.std() - 1) < 0.02


def test_far_points_are_certain_and_the_line_is_even(agreement):
    integ = Integrator(agreement, 1024)
    lon = np.array([east_of_line(-20), east_of_line(20), 32.0])
    lat = np.full(3, 48.0)
    cov = np.array([np.eye(2) * 500.0**2] * 3)
    probs = integ.party_probabilities(lon, lat, cov)
    assert probs["UA"][0] == 1.0 and probs["RU"][0] == 0.0
    assert probs["RU"][1] == 1.0
    assert abs(probs["RU"][2] - 0.5) < 0.02 and abs(probs["UA"][2] - 0.5) < 0.02


@settings(max_examples=25, deadline=None)
@given(
    st.floats(min_value=-2.5, max_value=2.5),
    st.floats(min_value=200.0, max_value=3000.0),
    st.floats(min_value=0.2, max_value=5.0),
)
def test_integral_matches_the_gaussian_across_a_straight_line(d_sigma, sigma_e, ratio):
    """Across a straight north-south line only the east variance matters: P = Phi(d / sigma_e)."""
    integ = Integrator(_agreement(), 1024)
    d_m = d_sigma * sigma_e
    cov = np.diag([sigma_e**2, (sigma_e * ratio) ** 2])
    p = integ.probability(
        "party:RU", np.array([east_of_line(d_m / 1e3)]), np.array([48.0]), cov[None]
    )[0]
    assert abs(p - ndtr(d_sigma)) < 0.03


def test_covariance_2d_regularises_and_defaults():
    assert np.allclose(covariance_2d(None, 200.0), np.eye(2) * 200.0**2)
    c = covariance_2d(((0.0, 0.0, 0.0), (0.0, 4.0e4, 0.0), (0.0, 0.0, 1.0)), 200.0)
    assert np.linalg.eigvalsh(c)[0] >= 1.0
    assert np.allclose(covariance_2d(((1e4, 0, 0), (0, 1e4, 0), (0, 0, 1)), 1.0, 4.0)[0, 0], 4e4)


_CACHE: dict = {}


def _agreement():
    if "a" not in _CACHE:
        import copy
        import json
        import tempfile
        from pathlib import Path

        import yaml

        from tests.agreement.conftest import BASE_AGREEMENT, base_areas
        from truceline.agreement import load_agreement

        path = Path(tempfile.mkdtemp(prefix="attr-areas-"))
        (path / "agreement.yaml").write_text(yaml.safe_dump(copy.deepcopy(BASE_AGREEMENT)))
        (path / "areas.geojson").write_text(json.dumps(base_areas()))
        _CACHE["a"] = load_agreement(path / "agreement.yaml")
    return _CACHE["a"]
