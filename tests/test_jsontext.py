"""The once-made C encoder gives exactly the standard library's text."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from truceline.jsontext import json_encoder
from truceline.records import EvaluationStatus, FrozenDict

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
trees = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.lists(children, max_size=4).map(tuple)
        | st.dictionaries(st.text(max_size=6), children, max_size=4)
        | st.dictionaries(st.text(max_size=6), children, max_size=4).map(FrozenDict)
    ),
    max_leaves=20,
)


@pytest.mark.parametrize("sort_keys", [True, False])
@given(value=trees)
def test_the_same_text_as_json_encoder(sort_keys: bool, value: object) -> None:
    reference = json.JSONEncoder(
        ensure_ascii=False, separators=(",", ":"), sort_keys=sort_keys, allow_nan=False
    ).encode(value)
    assert json_encoder(sort_keys=sort_keys, allow_nan=False)(value) == reference


def test_str_enums_and_strings_are_their_text() -> None:
    encode = json_encoder(sort_keys=True, allow_nan=False)
    assert encode(EvaluationStatus.CONFIRMED) == '"confirmed"'
    assert encode('é\n"') == '"é\\n\\""'
    assert encode({"b": 1, "a": [EvaluationStatus.REVIEWED]}) == '{"a":["reviewed"],"b":1}'


def test_non_finite_numbers_and_unknown_types_are_refused_unless_allowed() -> None:
    strict = json_encoder(sort_keys=False, allow_nan=False)
    with pytest.raises(ValueError, match="Out of range float"):
        strict({"x": [math.nan]})
    with pytest.raises(TypeError, match="set is not JSON serializable"):
        strict({"x": {1, 2}})
    assert json_encoder(sort_keys=False, allow_nan=True)([math.inf, -math.inf]) == (
        "[Infinity,-Infinity]"
    )
