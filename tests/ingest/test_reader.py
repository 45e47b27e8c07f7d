"""The observation reader on its own: what it accepts, how it counts, and that nothing crashes it
or goes missing."""

from __future__ import annotations

import dataclasses
import io
import json
import random

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.ingest.conftest import SENSORS, good_lines, line, obs
from truceline.ingest.observations import (
    WINDOW_SAMPLE,
    ObservationReader,
    _make_observation,
    storable,
)
from truceline.records import FrozenDict, Observation, Quarantined
from truceline.timeutil import format_time, parse_time


def read(lines, **kwargs):
    reader = ObservationReader(SENSORS, source_name="observations.jsonl", **kwargs)
    results = list(reader.read_lines(lines))
    counts = reader.counts
    assert counts.accepted + counts.duplicates + counts.quarantined_total + counts.blank == (
        counts.lines
    )
    return reader, results


def test_every_kind_accepted_with_fields_frozen():
    lines = [
        line("a", azimuth_deg=12.5, azimuth_sigma_deg=4),
        line("w", "weather"),
        line("p", "radar_plot"),
        line("t", "radar_track"),
        line("x", note={"k": [1, 2]}),
    ]
    _reader, results = read(lines)
    assert [type(r) for r in results] == [Observation] * 5
    for text, observation in zip(lines, results, strict=True):
        obj = json.loads(text)
        expected = {k: v for k, v in obj.items() if k not in ("id", "kind", "sensor", "time")}
        assert observation.fields == FrozenDict(expected)
        assert isinstance(observation.fields, FrozenDict)
        assert hash(observation.fields) == hash(FrozenDict(expected))
        assert observation.raw == text
        assert observation.time_ns == parse_time(obj["time"])
        assert observation == Observation(
            observation.id,
            obj["kind"],
            obj["sensor"],
            observation.time_ns,
            text,
            observation.received_ns,
            None,
            expected,
        )
    assert results[3].fields["points"][1]["position"] == (37.21, 48.35, 420.0)
    assert results[4].fields["note"] == FrozenDict({"k": (1, 2)})


def test_fast_constructor_matches_the_dataclass():
    fields = FrozenDict({"snr_db": 1.0})
    args = ("id", "acoustic", "A1", 5, "{}", 6, "sig", fields)
    made = _make_observation(*args)
    assert made == Observation(*args) and type(made) is Observation
    assert dataclasses.astuple(made) == dataclasses.astuple(Observation(*args))


def test_blank_lines_are_counted_not_kept():
    lines = [b"\n", line("a").encode() + b"\n", b"   \t\r\n", b"", line("b") + "\r\n"]
    reader, results = read(lines)
    assert reader.counts.blank == 3 and reader.counts.lines == 5
    assert [r.id for r in results] == ["a", "b"]
    assert results[1].raw == line("b")  # the CRLF line end is not part of the raw text


def test_raw_kept_exactly_with_its_whitespace():
    text = '  { "id" : "sp",  "kind":"acoustic", "sensor":"A1","time":"2026-03-02T06:00:10Z" }  '
    _, results = read([text + "\n"])
    assert results[0].raw == text and results[0].fields == {}


def test_resend_identical_or_reformatted_is_a_noop():
    first = line("r-1")
    reordered = json.dumps(dict(reversed(list(obs("r-1").items()))), indent=1).replace("\n", "")
    reader, results = read([first, first, reordered, first])
    assert [r.raw for r in results] == [first]
    assert reader.counts.duplicates == 3 and reader.counts.accepted == 1


def test_int_and_float_of_equal_value_are_the_same_content():
    reader, results = read([line("r-2", snr_db=20), line("r-2", snr_db=20.0)])
    assert len(results) == 1 and reader.counts.duplicates == 1


def test_quarantined_then_corrected_is_accepted():
    reader, results = read([line("c-1", sensor="A-17"), line("c-1")])
    assert type(results[0]) is Quarantined and type(results[1]) is Observation
    assert reader.counts.accepted == 1


def test_out_of_order_and_late_are_accepted():
    lines = good_lines(300)
    rng = random.Random(4)
    rng.shuffle(lines)
    late = [
        line("late-15min", time="2026-03-02T05:45:00Z"),
        line("late-6h", time="2026-03-02T00:00:00Z"),
        line("early-10min", time="2026-03-02T06:15:00Z"),
    ]
    reader, results = read(lines[:150] + late + lines[150:])
    assert reader.counts.accepted == 303 and reader.counts.quarantined_total == 0
    assert [r.id for r in results][150:153] == ["late-15min", "late-6h", "early-10min"]


def test_window_inference_resists_broken_clocks():
    """A third of the first lines from sensors whose clocks reset to 1970 or jumped to 2099."""
    lines = []
    for i, text in enumerate(good_lines(2 * WINDOW_SAMPLE)):
        lines.append(text)
        if i % 2:
            year = "1970" if i % 4 == 1 else "2099"
            lines.append(line(f"bad-{i}", time=f"{year}-01-01T00:00:{i % 60:02d}Z"))
    reader, results = read(lines)
    accepted = [r.id for r in results if type(r) is Observation]
    assert len(accepted) == 2 * WINDOW_SAMPLE and all(i.startswith("ok-") for i in accepted)
    assert reader.counts.quarantined == {"out-of-window": WINDOW_SAMPLE}
    assert [type(r) for r in results[:3]] == [Observation, Observation, Quarantined]  # in order


def test_window_follows_a_long_stream():
    """Four days of observations, in order: the inferred window moves with them."""
    base = parse_time("2026-03-02T00:00:00Z")
    lines = [line(f"s-{i}", time=format_time(base + i * 36 * 10**9)) for i in range(10_000)]
    reader, _ = read(lines)
    assert reader.counts.accepted == 10_000


def test_given_window():
    since, until = parse_time("2026-03-02T06:00:00Z"), parse_time("2026-03-02T06:01:00Z")
    reader, _results = read(good_lines(90), window=(since, until))
    assert reader.counts.accepted == 60
    assert reader.counts.quarantined == {"out-of-window": 30}


def test_every_line_is_yielded_or_counted_after_the_window_is_fixed():
    lines = [
        *good_lines(WINDOW_SAMPLE + 50),
        "garbage",
        line("u", sensor="A-17"),
        "",
        good_lines(1)[0],
        line("late", time="1999-01-01T00:00:00Z"),
    ]
    _, results = read(lines)
    assert [getattr(r, "reason_code", None) for r in results[-3:]] == [
        "malformed-json",
        "unknown-sensor",
        "out-of-window",
    ]
    assert len(results) == WINDOW_SAMPLE + 53


def test_reasons_name_the_line():
    _, results = read([*good_lines(3), line("u", sensor="A-17")])
    assert results[-1].source == "observations.jsonl:4"
    assert f"{results[-1].source}: {results[-1].reason}" == (
        "observations.jsonl:4: unknown sensor 'A-17'"
    )


def test_deep_nesting_and_huge_numbers_do_not_crash():
    deep = '{"id":"deep","x":' + "[" * 100_000 + "]" * 100_000 + "}"
    nested = line("nest", x=0).replace('"x":0', '"x":' + "[" * 40 + "]" * 40)
    huge = line("huge", x=0).replace('"x":0', '"x":' + "9" * 5000)
    big_snr = line("big", snr_db=0).replace('"snr_db":0', '"snr_db":' + "9" * 400)
    _, results = read([deep, nested, huge, big_snr])
    assert [r.reason_code for r in results] == [
        "malformed-json",
        "bad-value",
        "malformed-json",
        "bad-value",
    ]
    assert "nested more than 32" in results[1].reason
    assert "out of range" in results[3].reason


# -- time parsing: the fast path agrees with parse_time ----------------------------------------

_TIMES = st.integers(min_value=-(2**63), max_value=2**63 - 1).map(format_time)


def _mutations(text: str) -> st.SearchStrategy[str]:
    return st.sampled_from(
        [
            text,
            text.lower(),
            text.replace("Z", "+00:00"),
            text.replace("Z", ""),
            text + "Z",
            text.replace(".", ".0"),
            text.replace("Z", "0Z"),
            text.replace("Z", "000000000Z"),
            text[:-4] + "Z",
            text.replace("T", " "),
            text.replace(":", "٣", 1),
            text[:19] + ".Z",
            text[:17] + "60Z",
            text[:17] + "60.5Z",
            text[:19] + ".1234567890Z",
            text[:17] + "5Z",
        ]
    )


@settings(max_examples=400, deadline=None)
@given(_TIMES.flatmap(_mutations))
@example("2262-04-11T23:47:16.854775807Z")
@example("2262-04-11T23:47:16.854775808Z")
@example("1677-09-21T00:12:43.145224192Z")
@example("1677-09-21T00:12:43Z")
@example("2016-12-31T23:59:60Z")
@example("2016-12-31T23:59:60.5Z")
@example("2015-02-28T23:59:60Z")
def test_fast_time_path_agrees_with_parse_time(text):
    reader = ObservationReader(SENSORS)
    for attempt in range(2):  # the first parse fills the cache, the second uses it
        try:
            expected = parse_time(text)
        except ValueError:
            expected = None
        try:
            got = reader._time(text, "time")
        except Exception as exc:
            assert expected is None, (text, attempt, exc)
        else:
            assert got == expected, (text, attempt)
    # and a neighbour in the same second, through the cache
    neighbour = text[:19] + ".5Z"
    try:
        expected = parse_time(neighbour)
    except ValueError:
        expected = None
    try:
        assert reader._time(neighbour, "time") == expected
    except AssertionError:
        raise
    except Exception:
        assert expected is None


# -- fuzz: garbage in, every line accounted for, nothing raised --------------------------------


def _valid_lines() -> st.SearchStrategy[str]:
    kinds = st.sampled_from(["acoustic", "weather", "radar_plot", "radar_track"])
    return st.builds(lambda i, k: line(f"id-{i}", k), st.integers(0, 30), kinds)


def _damaged(text: str, data: st.DataObject) -> bytes:
    raw = text.encode("utf-8")
    how = data.draw(st.sampled_from(["truncate", "flip", "insert", "nul", "nan", "same"]))
    at = data.draw(st.integers(0, len(raw)))
    if how == "truncate":
        return raw[:at]
    if how == "flip":
        return raw[:at] + bytes([data.draw(st.integers(0, 255))]) + raw[at + 1 :]
    if how == "insert":
        return raw[:at] + data.draw(st.binary(max_size=8)) + raw[at:]
    if how == "nul":
        return raw[:at] + b"\x00" + raw[at:]
    if how == "nan":
        return raw.replace(b"19.5", data.draw(st.sampled_from([b"NaN", b"Infinity", b"1e999"])))
    return raw


@st.composite
def _files(draw) -> bytes:
    pieces = []
    for _ in range(draw(st.integers(0, 25))):
        choice = draw(st.integers(0, 5))
        if choice == 0:
            pieces.append(draw(_valid_lines()).encode())
        elif choice == 1:
            pieces.append(_damaged(draw(_valid_lines()), draw(st.data())))
        elif choice == 2:
            pieces.append(draw(st.binary(max_size=60)))
        elif choice == 3:
            pieces.append(draw(st.text(max_size=40)).encode("utf-8", "surrogatepass"))
        elif choice == 4:
            pieces.append(
                json.dumps(
                    draw(
                        st.recursive(
                            st.none() | st.booleans() | st.floats() | st.text(max_size=5),
                            lambda c: (
                                st.lists(c, max_size=3)
                                | st.dictionaries(st.text(max_size=4), c, max_size=3)
                            ),
                            max_leaves=8,
                        )
                    )
                ).encode()
            )
        else:
            pieces.append(b"")
    if draw(st.booleans()):  # enough good lines first for the time window to be fixed early
        pieces[draw(st.integers(0, len(pieces))) : 0] = [
            x.encode() for x in good_lines(WINDOW_SAMPLE + 20, start=1000)
        ]
    separator = draw(st.sampled_from([b"\n", b"\r\n"]))
    return separator.join(pieces) + draw(st.sampled_from([b"", separator]))


def _storable(text: str | None) -> bool:
    return text is None or (storable(text) == text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_files())
def test_fuzzed_files_never_raise_and_lose_nothing(blob):
    reader = ObservationReader(SENSORS, source_name="fuzz.jsonl")
    results = list(reader.read_lines(io.BytesIO(blob)))
    counts = reader.counts
    expected_lines = blob.count(b"\n") + (1 if blob and not blob.endswith(b"\n") else 0)
    assert counts.lines == expected_lines
    assert counts.accepted + counts.duplicates + counts.quarantined_total + counts.blank == (
        counts.lines
    )
    assert len(results) == counts.accepted + counts.quarantined_total
    for result in results:
        assert _storable(result.raw)
        if type(result) is Quarantined:
            assert _storable(result.reason) and _storable(result.observation_id)
            assert result.source.startswith("fuzz.jsonl:")
        else:
            assert "\x00" not in result.raw
            json.dumps(result.fields, allow_nan=False)  # storable as JSON
