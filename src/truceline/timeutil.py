"""Times as integer nanoseconds since the Unix epoch, UTC, and their RFC 3339 text form.

An epoch float loses precision past microseconds, so every time inside truceline is an `int` of
nanoseconds (`time_ns`), the same count NumPy's `datetime64[ns]` uses. Its range is that of a
signed 64-bit integer: 1677-09-21T00:12:43.145224192Z to 2262-04-11T23:47:16.854775807Z.

>>> parse_time("2026-03-01T04:12:33.123456789Z")
1772338353123456789
>>> format_time(1772338353123456789)
'2026-03-01T04:12:33.123456789Z'
>>> format_time(parse_time("2026-03-01T07:12:33.5+03:00"))
'2026-03-01T04:12:33.5Z'

Unix time has no leap seconds: an RFC 3339 leap second (`23:59:60` UTC on the last day of a month)
is counted, as POSIX does, as the first second of the next day.
"""

from __future__ import annotations

import calendar
import operator
import re
import time
from datetime import date

import numpy as np
from numpy.typing import ArrayLike, NDArray

NS_PER_S = 1_000_000_000
MIN_NS = -(2**63)
"""Earliest representable time, ns (1677-09-21T00:12:43.145224192Z)."""
MAX_NS = 2**63 - 1
"""Latest representable time, ns (2262-04-11T23:47:16.854775807Z)."""

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_SECONDS_PER_DAY = 86_400

# RFC 3339 section 5.6 `date-time`, ASCII digits only; `T` and `Z` may be lowercase (section 5.6,
# NOTE). A space in place of `T` is not accepted.
_RFC3339 = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})[Tt]"
    r"(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})"
    r"(?:\.(?P<fraction>[0-9]+))?"
    r"(?:(?P<zulu>[Zz])|(?P<sign>[+-])(?P<off_hour>[0-9]{2}):(?P<off_minute>[0-9]{2}))?"
)


def parse_time(text: str) -> int:
    """Nanoseconds since the epoch, UTC, of an RFC 3339 time such as `2026-03-01T04:12:33.5Z`.

    The offset (`Z` or `±HH:MM`) is required; the fraction of a second may have 1 to 9 digits.
    Raises `ValueError`, with a message that quotes the text, for anything else, including
    values that are not strings (so that validators such as pydantic's report it as invalid).
    """
    if not isinstance(text, str):
        raise ValueError(
            f"time must be an RFC 3339 string such as '2026-03-01T04:12:33Z', "
            f"not {type(text).__name__} {text!r}"
        )
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError(
            f"time {text!r} is not an RFC 3339 date-time such as '2026-03-01T04:12:33.5Z'"
        )
    fraction = match["fraction"] or ""
    if len(fraction) > 9:
        raise ValueError(
            f"time {text!r} has {len(fraction)} fraction digits; at most 9 (nanoseconds) allowed"
        )
    if match["zulu"] is None and match["sign"] is None:
        raise ValueError(f"time {text!r} has no UTC offset; RFC 3339 requires Z or ±HH:MM")
    year, month, day = int(match["year"]), int(match["month"]), int(match["day"])
    hour, minute, second = int(match["hour"]), int(match["minute"]), int(match["second"])
    try:
        days = date(year, month, day).toordinal() - _EPOCH_ORDINAL
    except ValueError as exc:
        raise ValueError(f"time {text!r} has an invalid date: {exc}") from None
    if hour > 23 or minute > 59 or second > 60:
        raise ValueError(f"time {text!r} has an invalid time of day")
    offset_s = 0
    if match["sign"] is not None:
        off_hour, off_minute = int(match["off_hour"]), int(match["off_minute"])
        if off_hour > 23 or off_minute > 59:
            raise ValueError(f"time {text!r} has an invalid UTC offset")
        offset_s = (off_hour * 3600 + off_minute * 60) * (1 if match["sign"] == "+" else -1)
    seconds = days * _SECONDS_PER_DAY + hour * 3600 + minute * 60 + second - offset_s
    if second == 60 and not _is_leap_second_slot(seconds):
        raise ValueError(
            f"time {text!r} has second 60, allowed only as a leap second at 23:59:60 UTC "
            f"on the last day of a month"
        )
    ns = seconds * NS_PER_S + int(fraction.ljust(9, "0"))
    if not MIN_NS <= ns <= MAX_NS:
        raise ValueError(
            f"time {text!r} is outside the representable range "
            f"{format_time(MIN_NS)} to {format_time(MAX_NS)}"
        )
    return ns


def _is_leap_second_slot(seconds: int) -> bool:
    """Whether `seconds` (epoch seconds, second 60 already counted as the next day's 0) is the
    instant just after 23:59:59 UTC on the last day of a month."""
    days, rest = divmod(seconds, _SECONDS_PER_DAY)
    if rest != 0:
        return False
    # The day before `days` must be the last day of its month.
    previous = date.fromordinal(days - 1 + _EPOCH_ORDINAL)
    return previous.day == calendar.monthrange(previous.year, previous.month)[1]


def format_time(time_ns: int) -> str:
    """The canonical RFC 3339 text of a time: UTC, `Z`, the fraction trimmed to the digits needed.

    `parse_time(format_time(t)) == t` for every `t` from `MIN_NS` to `MAX_NS`.
    """
    if isinstance(time_ns, bool):
        raise TypeError("time_ns must be an integer number of nanoseconds, not bool")
    ns = operator.index(time_ns)
    if not MIN_NS <= ns <= MAX_NS:
        raise ValueError(f"time_ns {ns} is outside the 64-bit range {MIN_NS} to {MAX_NS}")
    seconds, fraction = divmod(ns, NS_PER_S)
    days, second_of_day = divmod(seconds, _SECONDS_PER_DAY)
    day = date.fromordinal(days + _EPOCH_ORDINAL)
    hour, rest = divmod(second_of_day, 3600)
    minute, second = divmod(rest, 60)
    text = f"{day.year:04d}-{day.month:02d}-{day.day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
    if fraction:
        text += "." + f"{fraction:09d}".rstrip("0")
    return text + "Z"


def now_ns() -> int:
    """The current time, ns since the epoch (UTC)."""
    return time.time_ns()


def to_seconds(time_ns: ArrayLike, epoch_ns: int) -> NDArray[np.float64]:
    """Times relative to `epoch_ns`, in seconds as float64, computed exactly in integers first.

    Converting back with `from_seconds` recovers the exact ns for offsets up to 2**50 ns (about
    13 days) from the epoch: the float64 round trip errs by up to n * 2**-52 ns.
    """
    relative = np.asarray(time_ns, dtype=np.int64) - np.int64(epoch_ns)
    return relative.astype(np.float64) / NS_PER_S


def from_seconds(seconds: ArrayLike, epoch_ns: int) -> NDArray[np.int64]:
    """Inverse of `to_seconds`: seconds relative to `epoch_ns` back to ns, rounded to nearest."""
    relative = np.rint(np.asarray(seconds, dtype=np.float64) * NS_PER_S).astype(np.int64)
    return relative + np.int64(epoch_ns)
