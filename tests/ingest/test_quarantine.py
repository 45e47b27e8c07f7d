"""One test per quarantine reason: the code, the field and value named in the reason, and the raw
text stored exactly as received (escaped only where no database could hold it)."""

from __future__ import annotations

import pytest

from tests.ingest.conftest import good_lines, line
from truceline.ingest import ingest
from truceline.records import Quarantined
from truceline.store import Store

GOOD = good_lines(5)


def run_ingest(store: Store, sensors, lines: list[str | bytes], **kwargs):
    """Ingest `lines` (each given a newline) from a source named observations.jsonl."""
    data = [(x if isinstance(x, bytes) else x.encode("utf-8")) + b"\n" for x in lines]
    summary = ingest(store, sensors, data, run_id="test", source="observations.jsonl", **kwargs)
    assert summary.balanced()
    return summary


def only_quarantined(store: Store, code: str) -> Quarantined:
    items = store.quarantined(code)
    assert len(items) == 1, items
    return items[0]


def check(store: Store, sensors, bad: str, code: str, *named: str) -> Quarantined:
    """Ingest five good lines, then `bad`: it alone is quarantined, with `code`, a reason that
    names everything in `named`, its source line and its raw text exactly."""
    summary = run_ingest(store, sensors, [*GOOD, bad])
    assert summary.accepted == len(GOOD)
    assert summary.quarantined == {code: 1}
    item = only_quarantined(store, code)
    assert item.reason_code == code
    for text in named:
        assert text in item.reason, (text, item.reason)
    assert item.source == f"observations.jsonl:{len(GOOD) + 1}"
    assert item.raw == bad and item.raw.encode("utf-8") == bad.encode("utf-8")
    assert summary.examples[code] == f"{item.source}: {item.reason}"
    return item


def test_malformed_json(store, sensors):
    bad = line("m-1")[:40]  # truncated in transit
    item = check(store, sensors, bad, "malformed-json", "not valid JSON", "column")
    assert item.observation_id is None


def test_malformed_json_not_an_object(store, sensors):
    check(store, sensors, '["m-2", "acoustic"]', "malformed-json", "JSON object", "array")


def test_bad_encoding(store, sensors):
    good = line("e-1", note="Ā").replace("\\u0100", "Ā").encode("utf-8")
    assert "Ā".encode() in good
    bad = good.replace("Ā".encode(), b"\xff\xfe")
    summary = run_ingest(store, sensors, [*GOOD, bad])
    assert summary.quarantined == {"bad-encoding": 1}
    item = only_quarantined(store, "bad-encoding")
    assert "not UTF-8" in item.reason and "byte ff at byte 118" in item.reason
    assert item.observation_id == "e-1"
    # Undecodable bytes cannot be text in a database: they are kept as \xNN escapes, so the
    # exact bytes can be recovered from the stored text.
    assert item.raw == bad.decode("utf-8", "backslashreplace")
    assert item.raw.encode().replace(b"\\xff\\xfe", b"\xff\xfe") == bad


def test_missing_field(store, sensors):
    check(store, sensors, line("f-1", time=...), "missing-field", "'time'")


def test_missing_kind_field(store, sensors):
    check(
        store,
        sensors,
        line("f-2", "weather", temperature_c=...),
        "missing-field",
        "'temperature_c'",
        "weather",
    )


def test_bad_value(store, sensors):
    item = check(store, sensors, line("v-1", snr_db="loud"), "bad-value", "snr_db", "'loud'")
    assert item.observation_id == "v-1"


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        (line("v-2", signal="boom"), ("signal", "'boom'", "launch, impact, unknown")),
        (line("v-3", azimuth_deg=360, azimuth_sigma_deg=5), ("azimuth_deg", "360")),
        (line("v-4", azimuth_deg=10, azimuth_sigma_deg=0), ("azimuth_sigma_deg", "0")),
        (line("v-5", sensor="W1"), ("'W1'", "weather", "acoustic")),
        (line("v-6", "radar_plot", position=[37.2, 95.0, 10]), ("position[1]", "95.0")),
        (line("v-7", "radar_plot", sigma_m=-3), ("sigma_m", "-3")),
        (line("v-8", "radar_track", **{"class": "drone"}), ("class", "'drone'")),
        (
            line(
                "v-9",
                "radar_track",
                points=[{"time": "2026-03-02T06:00:10Z", "position": [37.2, 48.3, 1.0]}],
            ),
            ("points", "1 item"),
        ),
        (line("v-10", "weather", temperature_c=500), ("temperature_c", "500")),
        (line("v-11", "weather", wind_mps=[1, 2, 3]), ("wind_mps", "2 numbers")),
        (line("v-12", id=17), ("id", "17")),
        (line("v-13", snr_db=True), ("snr_db", "true")),
        (line("v-14", signature=""), ("signature",)),
    ],
    ids=lambda x: x if isinstance(x, str) and len(x) < 8 else None,
)
def test_bad_value_variants(store, sensors, bad, named):
    check(store, sensors, bad, "bad-value", *named)


def test_bad_value_nul_in_id(store, sensors):
    bad = line("n\u0000ul")  # JSON text holds the escape \u0000; the id would hold NUL
    assert "\\u0000" in bad
    item = check(store, sensors, bad, "bad-value", "id", "NUL")
    assert item.observation_id == "n\\x00ul"


def test_bad_value_unpaired_surrogate(store, sensors):
    bad = line("s-1").replace('"launch"', '"\\ud800"')
    check(store, sensors, bad, "bad-value", "signal", "surrogate")


def test_bad_time(store, sensors):
    check(
        store,
        sensors,
        line("t-1", time="2026-03-02T06:00:10"),
        "bad-time",
        "'2026-03-02T06:00:10'",
        "no UTC offset",
    )


def test_bad_time_in_track_point(store, sensors):
    points = [
        {"time": "2026-03-02T06:00:10Z", "position": [37.2, 48.35, 300.0]},
        {"time": "06:00:11", "position": [37.21, 48.35, 420.0]},
    ]
    check(
        store,
        sensors,
        line("t-2", "radar_track", points=points),
        "bad-time",
        "points[1].time",
        "'06:00:11'",
    )


def test_non_finite(store, sensors):
    bad = line("nf-1").replace("19.5", "NaN")
    check(store, sensors, bad, "non-finite", "snr_db", "NaN")


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        (line("nf-2").replace('"signal"', '"gain":-Infinity,"signal"'), ("gain", "-Infinity")),
        (line("nf-3", "weather").replace("2.5", "1e999"), ("temperature_c", "Infinity")),
        (line("nf-4", "radar_plot").replace("1500.0", "Infinity"), ("position[2]", "Infinity")),
        (line("nf-5", extra={"a": [1, 2]}).replace("2]", "NaN]"), ("extra.a[1]", "NaN")),
    ],
)
def test_non_finite_variants(store, sensors, bad, named):
    check(store, sensors, bad, "non-finite", *named)


def test_unknown_sensor(store, sensors):
    check(store, sensors, line("u-1", sensor="A-17"), "unknown-sensor", "unknown sensor 'A-17'")


def test_unknown_kind(store, sensors):
    check(store, sensors, line("k-1", kind="seismic"), "unknown-kind", "'seismic'", "acoustic")


@pytest.mark.parametrize("when", ["1970-01-01T00:00:00Z", "2099-03-02T06:00:00Z"])
def test_out_of_window(store, sensors, when):
    item = check(store, sensors, line("w-1", time=when), "out-of-window", when, "± 48 h")
    assert ("before" if when < "2026" else "after") in item.reason


def test_out_of_window_given(store, sensors):
    summary = run_ingest(
        store,
        sensors,
        [*GOOD, line("w-2", time="2026-03-02T07:00:00Z")],
        window=(1772431200000000000, 1772431200000000000 + 1800 * 10**9),  # 06:00 to 06:30
    )
    assert summary.quarantined == {"out-of-window": 1}
    item = only_quarantined(store, "out-of-window")
    assert "2026-03-02T07:00:00Z" in item.reason and "2026-03-02T06:30:00Z" in item.reason


def test_out_of_window_future(store, sensors):
    from truceline.config import IngestSettings, Settings

    settings = Settings(ingest=IngestSettings(future_tolerance_s=60))
    future = line("w-3", time="2262-01-01T00:00:00Z")
    summary = run_ingest(store, sensors, [future], settings=settings)
    assert summary.quarantined == {"out-of-window": 1}
    assert "later than its receipt" in only_quarantined(store, "out-of-window").reason


def test_duplicate_conflict_within_run(store, sensors):
    first = line("d-1")
    second = line("d-1", snr_db=3.0)
    summary = run_ingest(store, sensors, [*GOOD, first, second])
    assert summary.accepted == len(GOOD) + 1
    assert summary.quarantined == {"duplicate-conflict": 1}
    item = only_quarantined(store, "duplicate-conflict")
    assert "'d-1'" in item.reason and f"line {len(GOOD) + 1}" in item.reason
    assert item.raw == second and item.observation_id == "d-1"
    assert item.source == f"observations.jsonl:{len(GOOD) + 2}"
    assert store.observation("d-1").raw == first


def test_duplicate_conflict_against_store(store, sensors):
    run_ingest(store, sensors, [*GOOD, line("d-2")])
    changed = line("d-2", snr_db=3.0)
    summary = run_ingest(store, sensors, [changed])
    assert summary.accepted == 0 and summary.quarantined == {"duplicate-conflict": 1}
    item = only_quarantined(store, "duplicate-conflict")
    assert "'d-2'" in item.reason and "stored already" in item.reason
    assert item.raw == changed and item.source == "observations.jsonl:1"
    assert store.observation("d-2").raw == line("d-2")
