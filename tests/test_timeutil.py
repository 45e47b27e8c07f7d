"""RFC 3339 times to and from int nanoseconds since the epoch."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from truceline.timeutil import (
    MAX_NS,
    MIN_NS,
    NS_PER_S,
    format_time,
    from_seconds,
    parse_time,
    to_seconds,
)

T0 = 1_772_323_200_000_000_000  # 2026-03-01T00:00:00Z
CANONICAL = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{0,8}[1-9])?Z")


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("2026-03-01T00:00:00Z", T0),
        ("2026-03-01T00:00:00.5Z", T0 + 500_000_000),
        ("2026-03-01T00:00:00.123456Z", T0 + 123_456_000),
        ("2026-03-01T00:00:00.000000001Z", T0 + 1),
        ("2026-03-01T00:00:00.999999999Z", T0 + 999_999_999),
        ("2026-03-01T00:00:00.000Z", T0),
        ("2026-03-01t00:00:00z", T0),
        ("2026-03-01T03:00:00+03:00", T0),
        ("2026-02-28T21:30:00-02:30", T0),
        ("2026-03-01T00:00:00-00:00", T0),
        ("2026-03-01T05:45:00.25+05:45", T0 + 250_000_000),
        ("1970-01-01T00:00:00Z", 0),
        ("1969-12-31T23:59:59.999999999Z", -1),
        ("2024-02-29T00:00:00Z", 1_709_164_800 * NS_PER_S),
        ("2016-12-31T23:59:60Z", 1_483_228_800 * NS_PER_S),  # leap second: next day's start
        ("2017-01-01T02:59:60.5+03:00", 1_483_228_800 * NS_PER_S + 500_000_000),
        ("1677-09-21T00:12:43.145224192Z", MIN_NS),
        ("2262-04-11T23:47:16.854775807Z", MAX_NS),
    ],
)
def test_parse_time(text: str, ns: int) -> None:
    assert parse_time(text) == ns
    assert type(parse_time(text)) is int


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-03-01T04:12:33", "has no UTC offset; RFC 3339 requires Z or ±HH:MM"),
        ("2026-03-01T04:12:33.123", "has no UTC offset"),
        ("2026-03-01T04:12:33.1234567891Z", "10 fraction digits; at most 9"),
        ("2026-02-29T00:00:00Z", "invalid date"),
        ("2026-13-01T00:00:00Z", "invalid date"),
        ("2026-04-31T00:00:00Z", "invalid date"),
        ("0000-01-01T00:00:00Z", "invalid date"),
        ("2026-03-01T24:00:00Z", "invalid time of day"),
        ("2026-03-01T23:60:00Z", "invalid time of day"),
        ("2026-03-01T23:59:61Z", "invalid time of day"),
        ("2026-03-01T12:00:60Z", "second 60"),
        ("2026-03-01T23:59:60Z", "second 60"),  # 1 March is not the last day of a month
        ("2026-03-01T00:00:00+24:00", "invalid UTC offset"),
        ("2026-03-01T00:00:00+01:60", "invalid UTC offset"),
        ("2026-03-01 04:12:33Z", "not an RFC 3339 date-time"),
        ("2026-03-01T04:12:33.Z", "not an RFC 3339 date-time"),
        ("2026-03-01T04:12Z", "not an RFC 3339 date-time"),
        ("2026-03-01T04:12:33+0300", "not an RFC 3339 date-time"),
        ("2026-03-01T04:12:33+03", "not an RFC 3339 date-time"),
        ("2026-03-01", "not an RFC 3339 date-time"),
        (" 2026-03-01T04:12:33Z", "not an RFC 3339 date-time"),
        ("2026-03-01T04:12:33Z\n", "not an RFC 3339 date-time"),
        ("２０２６-03-01T04:12:33Z", "not an RFC 3339 date-time"),  # fullwidth digits
        ("", "not an RFC 3339 date-time"),
        ("1677-09-21T00:12:43.145224191Z", "outside the representable range"),
        ("2262-04-11T23:47:16.854775808Z", "outside the representable range"),
        ("9999-12-31T23:59:59Z", "outside the representable range"),
    ],
)
def test_parse_time_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_time(text)


def test_the_error_quotes_the_text() -> None:
    with pytest.raises(ValueError) as raised:
        parse_time("2026-03-01T04:12:33")
    assert str(raised.value) == (
        "time '2026-03-01T04:12:33' has no UTC offset; RFC 3339 requires Z or ±HH:MM"
    )


@pytest.mark.parametrize("value", [None, 1772323200, 1.5, b"2026-03-01T00:00:00Z", True])
def test_parse_time_rejects_non_strings_with_value_error(value: object) -> None:
    with pytest.raises(ValueError, match="must be an RFC 3339 string"):
        parse_time(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (T0, "2026-03-01T00:00:00Z"),
        (T0 + 500_000_000, "2026-03-01T00:00:00.5Z"),
        (T0 + 120_000, "2026-03-01T00:00:00.00012Z"),
        (T0 + 1, "2026-03-01T00:00:00.000000001Z"),
        (-1, "1969-12-31T23:59:59.999999999Z"),
        (MIN_NS, "1677-09-21T00:12:43.145224192Z"),
        (MAX_NS, "2262-04-11T23:47:16.854775807Z"),
        (np.int64(T0), "2026-03-01T00:00:00Z"),
    ],
)
def test_format_time(ns: int, text: str) -> None:
    assert format_time(ns) == text


@pytest.mark.parametrize("value", [MIN_NS - 1, MAX_NS + 1])
def test_format_time_rejects_times_outside_64_bits(value: int) -> None:
    with pytest.raises(ValueError, match="outside the 64-bit range"):
        format_time(value)


@pytest.mark.parametrize("value", [1.0, "0", None, True])
def test_format_time_rejects_non_integers(value: object) -> None:
    with pytest.raises(TypeError):
        format_time(value)  # type: ignore[arg-type]


@given(st.integers(MIN_NS, MAX_NS))
def test_every_time_round_trips_through_its_canonical_text(ns: int) -> None:
    text = format_time(ns)
    assert CANONICAL.fullmatch(text)
    assert parse_time(text) == ns


@given(
    st.integers(MIN_NS + 2 * 86_400 * NS_PER_S, MAX_NS - 2 * 86_400 * NS_PER_S),
    st.integers(-(23 * 60 + 59), 23 * 60 + 59),
    st.booleans(),
)
def test_offsets_are_normalised_to_utc(ns: int, offset_min: int, lowercase: bool) -> None:
    # The same instant written in local time with an offset parses to the same ns.
    local = format_time(ns + offset_min * 60 * NS_PER_S)[:-1]
    sign = "+" if offset_min >= 0 else "-"
    hours, minutes = divmod(abs(offset_min), 60)
    text = f"{local}{sign}{hours:02d}:{minutes:02d}"
    if lowercase:
        text = text.replace("T", "t")
    assert parse_time(text) == ns
    assert format_time(parse_time(text)).endswith("Z")


@given(
    st.datetimes(
        min_value=datetime(1678, 1, 1),
        max_value=datetime(2262, 1, 1),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=3)), timezone(timedelta(hours=-9, minutes=-30))]
        ),
    )
)
def test_agrees_with_the_standard_library_to_the_microsecond(moment: datetime) -> None:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    expected = (moment - epoch) // timedelta(microseconds=1) * 1000
    assert parse_time(moment.isoformat()) == expected
    assert datetime.fromisoformat(format_time(expected)) == moment


def test_seconds_relative_to_an_epoch_are_exact_near_it() -> None:
    times = np.array([T0, T0 + 1, T0 + 1_500_000_000, T0 - 86_400 * NS_PER_S], dtype=np.int64)
    seconds = to_seconds(times, T0)
    assert seconds.dtype == np.float64
    np.testing.assert_array_equal(seconds, [0.0, 1e-9, 1.5, -86_400.0])
    np.testing.assert_array_equal(from_seconds(seconds, T0), times)
    assert to_seconds(T0 + 250_000_000, T0) == 0.25


@given(st.lists(st.integers(-(2**50), 2**50), min_size=1, max_size=20))
def test_to_seconds_and_back_is_exact_within_2_to_the_50_ns(offsets: list[int]) -> None:
    times = np.array(offsets, dtype=np.int64) + T0
    np.testing.assert_array_equal(from_seconds(to_seconds(times, T0), T0), times)
