"""Reading `observations.jsonl` (contract section 3): parse, validate, deduplicate, quarantine.

`ObservationReader.read_lines` turns lines of text into `Observation`s and `Quarantined` inputs,
one result per non-blank line, in the order received, and never raises on bad input. The checks,
in the order they are made (the first that fails gives the reason code):

1. the line is UTF-8 (`bad-encoding`) and one JSON object (`malformed-json`); blank lines are
   skipped and counted;
2. `id` is a non-empty string, `kind`, `sensor` and `time` are present (`missing-field`,
   `bad-value`); no string holds a NUL character or an unpaired surrogate, which no database
   can store (`bad-value`);
3. `kind` is known (`unknown-kind`), `sensor` is declared (`unknown-sensor`), `time` is RFC 3339
   with an offset (`bad-time`);
4. the sensor's kind can make this kind of observation (`bad-value`); the kind's own fields are
   present, typed and in range (`missing-field`, `bad-value`); every number is finite
   (`non-finite`);
5. an observation from a sensor with a `public_key` carries a good Ed25519 signature (contract
   section 3; `bad-signature`), or, unsigned, is quarantined (`unsigned`) or accepted as the
   setting `ingest.unsigned_policy` says;
6. `time` lies inside the run's window (`out-of-window`; see `TimeWindow`);
7. an id received before in the run is a duplicate (counted, nothing emitted) when its content
   is the same, or a `duplicate-conflict` when it is not.

The hot path is the standard `json` scanner plus hand-written checks: on the 2-core dev
machine about 8 µs for an acoustic line (1.5 µs of it parsing), 10 µs for a radar plot and 55 µs
for a 13-point radar track (docs/performance.md). Pydantic would cost more than that per line, and
so would `FrozenDict(...)`, which re-freezes every value (3 µs), so fields are frozen here as they
are checked and the records are built directly (`_observation_constructor`).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from truceline.config import IngestSettings
from truceline.ledger.canonical import canonical_json
from truceline.ledger.keys import Ed25519PublicKey, public_key_from_b64, verify_signature
from truceline.records import (
    FrozenDict,
    Observation,
    Quarantined,
    QuarantineReason,
    Sensor,
    freeze,
)
from truceline.timeutil import MAX_NS, MIN_NS, NS_PER_S, format_time, parse_time

R = QuarantineReason

OBSERVATION_KINDS = ("acoustic", "weather", "radar_plot", "radar_track")
"""The observation kinds of contract version 1."""

SENSOR_KINDS: Mapping[str, frozenset[str] | None] = {
    "acoustic": frozenset({"acoustic"}),
    "weather": None,
    "radar_plot": frozenset({"radar"}),
    "radar_track": frozenset({"radar"}),
}
"""Observation kind -> the sensor kinds that can make it (None: any sensor, as any sensor may
carry a thermometer and an anemometer)."""

SIGNALS = ("launch", "impact", "unknown")
RADAR_CLASSES = ("shell", "rocket", "mortar")

TEMPERATURE_RANGE_C = (-100.0, 70.0)
"""Plausible air temperatures, °C; the speed of sound is computed from them."""
MAX_WIND_MPS = 120.0
"""Largest plausible wind speed, m/s."""
MAX_DEPTH = 32
"""Deepest nesting of arrays and objects allowed in a field the contract does not define."""

WINDOW_SAMPLE = 101
"""Times read before an inferred window is first fixed (the lines before it wait)."""
WINDOW_HISTORY = 1001
"""Most recent times whose median centres an inferred window."""
WINDOW_REFRESH = 500
"""Times read between two updates of an inferred window's centre."""

_MISSING: Any = object()
_BIG = 1e300  # |x| beyond this is out of range for any field (and catches NaN and infinities)
_MASK64 = (1 << 64) - 1
_LINE_BITS = 40  # `_seen` values pack a content hash above a line number
_LINE_MASK = (1 << _LINE_BITS) - 1
_FRACTION_SCALE = tuple(10 ** (8 - n) for n in range(9))  # by number of digits - 1
_HOURS_NS = 3600 * NS_PER_S
_MINUTE_CACHE_LIMIT = 100_000
_now_ns = time.time_ns


class _Reject(Exception):  # noqa: N818 (a rejection, not an error)
    """Raised inside the checks: the line is quarantined with this code and reason."""

    def __init__(self, code: QuarantineReason, reason: str) -> None:
        self.code = code
        self.reason = reason


def _public_key(text: str) -> Ed25519PublicKey | None:
    try:
        return public_key_from_b64(text)
    except ValueError:
        return None


def _frozen(items: dict[str, Any]) -> FrozenDict:
    """A `FrozenDict` of values that are frozen already (no lists, no plain dicts), without the
    deep re-freezing of `FrozenDict(...)`: 0.3 µs instead of about 5 µs a line."""
    frozen = FrozenDict.__new__(FrozenDict)
    dict.update(frozen, items)
    return frozen


_OBSERVATION_FIELDS = (
    "id",
    "kind",
    "sensor",
    "time_ns",
    "raw",
    "received_ns",
    "signature",
    "fields",
)


def _observation_constructor() -> Any:
    """`Observation(...)` from a plain dict of fields whose values are frozen already, setting
    the slots directly: 1 µs instead of about 6 µs, as `FrozenDict(...)` re-freezes every value
    and the frozen dataclass's `__init__` sets each field through `object.__setattr__`. Falls
    back to the plain constructor if `Observation` changes shape."""
    names = tuple(f.name for f in dataclasses.fields(Observation))
    descriptors = [Observation.__dict__.get(name) for name in names]
    if names != _OBSERVATION_FIELDS or not all(hasattr(d, "__set__") for d in descriptors):

        def plain(*args: Any) -> Observation:
            return Observation(*args[:7], FrozenDict(args[7]))

        return plain
    s_id, s_kind, s_sensor, s_time, s_raw, s_received, s_signature, s_fields = (
        d.__set__ for d in descriptors
    )
    new = object.__new__
    new_mapping = FrozenDict.__new__
    fill = dict.update

    def make(
        ident: str,
        kind: str,
        sensor: str,
        time_ns: int,
        raw: str,
        received_ns: int,
        signature: str | None,
        fields: dict[str, Any],
    ) -> Observation:
        frozen = new_mapping(FrozenDict)
        fill(frozen, fields)
        observation = new(Observation)
        s_id(observation, ident)
        s_kind(observation, kind)
        s_sensor(observation, sensor)
        s_time(observation, time_ns)
        s_raw(observation, raw)
        s_received(observation, received_ns)
        s_signature(observation, signature)
        s_fields(observation, frozen)
        return observation

    return make


_make_observation = _observation_constructor()


def _show(value: Any, limit: int = 60) -> str:
    """A value as it appears in a reason: JSON-like, shortened, safe to store."""
    if isinstance(value, float) and value - value != 0.0:
        text = "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(value: Any) -> str:
    """The JSON type and value of `value`, for "must be a number, not ..." reasons."""
    if value is None:
        return "null"
    kind = {
        bool: "boolean",
        str: "string",
        list: "array",
        tuple: "array",
        dict: "object",
        FrozenDict: "object",
        int: "number",
        float: "number",
    }.get(type(value), type(value).__name__)
    return f"{kind} {_show(value)}" if kind not in ("array", "object") else kind


def storable(text: str) -> str:
    """`text` with what no database can hold written as escapes: NUL as `\\x00`, an unpaired
    surrogate (from bytes decoded with `surrogateescape`, or a `\\ud800` JSON escape) as `\\udXXX`.
    Text without them is returned unchanged."""
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _number(value: Any, name: str) -> float:
    """`value` if it is a finite JSON number of sensible size, else a rejection naming `name`."""
    kind = type(value)
    if (kind is float or kind is int) and -_BIG < value < _BIG:
        return value
    if kind is float:
        raise _Reject(R.NON_FINITE, f"{name} is {_show(value)}; numbers must be finite")
    if kind is int:
        raise _Reject(R.BAD_VALUE, f"{name} {_show(value)} is out of range")
    raise _Reject(R.BAD_VALUE, f"{name} must be a number, not {_describe(value)}")


def _vector(value: Any, name: str, size: int) -> tuple[float, ...]:
    """`value` as a tuple if it is an array of `size` finite numbers, else a rejection."""
    if type(value) is not list or len(value) != size:
        raise _Reject(
            R.BAD_VALUE, f"{name} must be an array of {size} numbers, not {_describe(value)}"
        )
    for item in value:
        kind = type(item)
        if (kind is not float and kind is not int) or not -_BIG < item < _BIG:
            for index, bad in enumerate(value):  # the rejection, naming the first bad item
                _number(bad, f"{name}[{index}]")
    return tuple(value)


def _position(value: Any, name: str) -> tuple[float, ...]:
    """`[lon, lat, alt_m]`: longitude -180 to 180, latitude -90 to 90 degrees."""
    position = _vector(value, name, 3)
    lon, lat, _ = position
    if -180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0:
        return position
    if not -180.0 <= lon <= 180.0:
        raise _Reject(R.BAD_VALUE, f"{name}[0] (longitude) {_show(lon)} is outside -180 to 180")
    raise _Reject(R.BAD_VALUE, f"{name}[1] (latitude) {_show(lat)} is outside -90 to 90")


def _positive(value: Any, name: str) -> float:
    if _number(value, name) <= 0:
        raise _Reject(R.BAD_VALUE, f"{name} {_show(value)} must be greater than 0")
    return value


def _required(fields: dict[str, Any], name: str, kind: str) -> Any:
    value = fields.get(name, _MISSING)
    if value is _MISSING:
        raise _Reject(R.MISSING_FIELD, f"missing field {name!r} (required for {kind})")
    return value


def _check_acoustic(fields: dict[str, Any], parse: Any = None) -> None:
    """Optional `snr_db`; `signal` launch/impact/unknown; `azimuth_deg` in [0, 360) with
    `azimuth_sigma_deg` > 0 (both or neither)."""
    value = fields.get("snr_db", _MISSING)
    if value is not _MISSING:
        _number(value, "snr_db")
    value = fields.get("signal", _MISSING)
    if value is not _MISSING and value not in SIGNALS:
        raise _Reject(R.BAD_VALUE, f"signal {_show(value)} is not one of {', '.join(SIGNALS)}")
    azimuth = fields.get("azimuth_deg", _MISSING)
    sigma = fields.get("azimuth_sigma_deg", _MISSING)
    if azimuth is _MISSING and sigma is _MISSING:
        return
    if azimuth is _MISSING:
        raise _Reject(R.MISSING_FIELD, "missing field 'azimuth_deg' (azimuth_sigma_deg is given)")
    if sigma is _MISSING:
        raise _Reject(R.MISSING_FIELD, "missing field 'azimuth_sigma_deg' (azimuth_deg is given)")
    if not 0.0 <= _number(azimuth, "azimuth_deg") < 360.0:
        raise _Reject(R.BAD_VALUE, f"azimuth_deg {_show(azimuth)} is outside [0, 360)")
    _positive(sigma, "azimuth_sigma_deg")


def _check_weather(fields: dict[str, Any], parse: Any = None) -> None:
    """`temperature_c` (plausible range); optional `wind_mps: [east, north]`."""
    temperature = _number(_required(fields, "temperature_c", "weather"), "temperature_c")
    low, high = TEMPERATURE_RANGE_C
    if not low <= temperature <= high:
        raise _Reject(
            R.BAD_VALUE, f"temperature_c {_show(temperature)} is outside {low:g} to {high:g} °C"
        )
    wind = fields.get("wind_mps", _MISSING)
    if wind is not _MISSING:
        east, north = wind = _vector(wind, "wind_mps", 2)
        if east * east + north * north > MAX_WIND_MPS * MAX_WIND_MPS:
            raise _Reject(R.BAD_VALUE, f"wind_mps {list(wind)} is faster than {MAX_WIND_MPS:g} m/s")
        fields["wind_mps"] = wind


def _check_radar_plot(fields: dict[str, Any], parse: Any = None) -> None:
    """`position: [lon, lat, alt_m]`, `sigma_m` > 0, optional `velocity_mps: [e, n, u]`."""
    fields["position"] = _position(_required(fields, "position", "radar_plot"), "position")
    _positive(_required(fields, "sigma_m", "radar_plot"), "sigma_m")
    velocity = fields.get("velocity_mps", _MISSING)
    if velocity is not _MISSING:
        fields["velocity_mps"] = _vector(velocity, "velocity_mps", 3)


def _check_radar_track(fields: dict[str, Any], parse: Any) -> None:
    """`points: [{time, position}]` (at least 2, in time order), `sigma_m` > 0, `class`."""
    points = _required(fields, "points", "radar_track")
    if type(points) is not list or len(points) < 2:
        raise _Reject(
            R.BAD_VALUE,
            f"points must be an array of at least 2 {{time, position}} objects, "
            f"not {_describe(points) if type(points) is not list else f'{len(points)} item(s)'}",
        )
    frozen = []
    previous_ns = None
    for index, point in enumerate(points):
        if type(point) is not dict or "time" not in point or "position" not in point:
            name = f"points[{index}]"
            if type(point) is not dict:
                raise _Reject(
                    R.BAD_VALUE,
                    f"{name} must be a {{time, position}} object, not {_describe(point)}",
                )
            missing = "time" if "time" not in point else "position"
            raise _Reject(R.MISSING_FIELD, f"missing field '{name}.{missing}'")
        try:
            point_ns = parse(point["time"], "time")
            point["position"] = _position(point["position"], "position")
        except _Reject as reject:  # name the point: `points[3].time '06:00' has no offset`
            raise _Reject(reject.code, f"points[{index}].{reject.reason}") from None
        if previous_ns is not None and point_ns < previous_ns:
            raise _Reject(
                R.BAD_VALUE,
                f"points[{index}].time {point['time']!r} is earlier than the point before it; "
                f"points must be in time order",
            )
        previous_ns = point_ns
        if len(point) > 2:
            for key in point.keys() - {"time", "position"}:
                point[key] = _check_extra(f"points[{index}].{key}", point[key])
        frozen.append(_frozen(point))
    fields["points"] = tuple(frozen)
    _positive(_required(fields, "sigma_m", "radar_track"), "sigma_m")
    value = _required(fields, "class", "radar_track")
    if value not in RADAR_CLASSES:
        raise _Reject(R.BAD_VALUE, f"class {_show(value)} is not one of {', '.join(RADAR_CLASSES)}")


_CHECKS: Mapping[str, Any] = {
    "acoustic": _check_acoustic,
    "weather": _check_weather,
    "radar_plot": _check_radar_plot,
    "radar_track": _check_radar_track,
}
"""Observation kind -> the check of its fields: `check(fields, parse_time)`; it freezes
arrays into tuples in place."""

_KNOWN_FIELDS: Mapping[str, frozenset[str]] = {
    "acoustic": frozenset({"snr_db", "signal", "azimuth_deg", "azimuth_sigma_deg"}),
    "weather": frozenset({"temperature_c", "wind_mps"}),
    "radar_plot": frozenset({"position", "sigma_m", "velocity_mps"}),
    "radar_track": frozenset({"points", "sigma_m", "class"}),
}


def _check_extra(name: str, value: Any) -> Any:
    """A field the contract does not define: any JSON, but finite and at most `MAX_DEPTH` deep.
    Returns it frozen."""
    stack = [(value, name, 0)]
    while stack:
        item, where, depth = stack.pop()
        kind = type(item)
        if kind is float and item - item != 0.0:
            raise _Reject(R.NON_FINITE, f"{where} is {_show(item)}; numbers must be finite")
        if kind is list or kind is dict:
            if depth >= MAX_DEPTH:
                raise _Reject(R.BAD_VALUE, f"{where} is nested more than {MAX_DEPTH} levels deep")
            if kind is list:
                stack.extend((v, f"{where}[{i}]", depth + 1) for i, v in enumerate(item))
            else:
                stack.extend((v, f"{where}.{k}", depth + 1) for k, v in item.items())
    return freeze(value)


def _check_strings(obj: dict[str, Any]) -> None:
    """Reject any key or string holding NUL or an unpaired surrogate (only JSON `\\u` escapes
    can put them there, so this runs only for lines that contain one)."""
    stack: list[tuple[Any, str]] = [(obj, "")]
    while stack:
        item, where = stack.pop()
        kind = type(item)
        if kind is dict:
            for key, value in item.items():
                path = f"{where}.{key}" if where else key
                _check_string(key, f"a field name in {where or 'the object'}")
                stack.append((value, path))
        elif kind is list:
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(item))
        elif kind is str:
            _check_string(item, where)


def _check_string(text: str, where: str) -> None:
    if "\x00" in text:
        raise _Reject(R.BAD_VALUE, f"{storable(where)} contains a NUL character (\\u0000)")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _Reject(
            R.BAD_VALUE, f"{storable(where)} contains an unpaired surrogate (\\ud800-\\udfff)"
        ) from None


class TimeWindow:
    """The run's time window: given, or inferred from the data.

    Given: `since_ns <= time_ns < until_ns`. Inferred: within `half_width_ns` of the median of
    the most recent `WINDOW_HISTORY` times read (accepted or not), first fixed after
    `WINDOW_SAMPLE` times and moved every `WINDOW_REFRESH` times after that. The median follows
    the data through a long file or stream and is robust: clocks reset to 1970 or jumping to 2099
    cannot move it unless they send most of the recent observations. Independently of either, a
    `future_tolerance_ns` rejects times later than their receipt plus the tolerance.
    """

    def __init__(
        self,
        half_width_ns: int,
        given: tuple[int, int] | None = None,
        future_tolerance_ns: int | None = None,
    ) -> None:
        self.half_width_ns = half_width_ns
        self.given = given
        self.future_tolerance_ns = future_tolerance_ns
        self.centre_ns: int | None = None
        """The median the inferred window is centred on, ns; None if given or not yet known."""
        self.since_ns, self.until_ns = given if given is not None else (MIN_NS, MAX_NS + 1)
        """The bounds in force, half open (everything until an inferred window is known)."""
        self.ready = given is not None
        """Whether observations can be judged yet."""
        self._history = [0] * WINDOW_HISTORY
        self._count = 0

    def add(self, time_ns: int) -> None:
        """Note a time read (it moves an inferred window)."""
        if self.given is not None:
            return
        count = self._count
        self._history[count % WINDOW_HISTORY] = time_ns
        self._count = count = count + 1
        if count % WINDOW_REFRESH == 0 or (count == WINDOW_SAMPLE and not self.ready):
            self.fix()

    def fix(self) -> None:
        """Centre an inferred window on the median of the recent times (at the end of the
        input too, however few times were read)."""
        if self.given is not None or self._count == 0:
            return
        recent = np.array(self._history[: min(self._count, WINDOW_HISTORY)], dtype=np.int64)
        middle = (recent.size - 1) // 2
        self.centre_ns = int(np.partition(recent, middle)[middle])
        self.since_ns = self.centre_ns - self.half_width_ns
        self.until_ns = self.centre_ns + self.half_width_ns + 1
        self.ready = True

    def contains(self, time_ns: int, received_ns: int) -> bool:
        """Whether `time_ns`, received at `received_ns`, is inside the window."""
        if not self.since_ns <= time_ns < self.until_ns:
            return False
        tolerance = self.future_tolerance_ns
        return tolerance is None or time_ns <= received_ns + tolerance

    def why_outside(self, time_ns: int, received_ns: int) -> str:
        """For a reason: how `time_ns` is outside the window."""
        tolerance = self.future_tolerance_ns
        when = format_time(time_ns)
        if tolerance is not None and time_ns > received_ns + tolerance:
            return (
                f"time {when} is {(time_ns - received_ns) / NS_PER_S:,.0f} s later than its "
                f"receipt at {format_time(received_ns)} (tolerance {tolerance / NS_PER_S:g} s)"
            )
        if self.given is not None or self.centre_ns is None:
            return (
                f"time {when} is outside the run's window {format_time(self.since_ns)} to "
                f"{format_time(self.until_ns)}"
            )
        hours = (time_ns - self.centre_ns) / _HOURS_NS
        centre_s = self.centre_ns - self.centre_ns % NS_PER_S
        return (
            f"time {when} is {abs(hours):,.1f} h {'after' if hours > 0 else 'before'} the "
            f"median time of the data ({format_time(centre_s)}); the window is "
            f"± {self.half_width_ns / _HOURS_NS:g} h"
        )


@dataclass
class ReadCounts:
    """What a reader has done so far. `accepted + duplicates + quarantined + blank == lines`
    once the input is exhausted."""

    lines: int = 0
    blank: int = 0
    accepted: int = 0
    duplicates: int = 0
    """Lines that repeat an observation accepted earlier in the run: no-ops."""
    unsigned_accepted: int = 0
    """Unsigned observations from sensors with a public key, accepted by the
    `accept-flagged` policy (counted among `accepted` too)."""
    quarantined: Counter[str] = field(default_factory=Counter)
    """Reason code -> lines quarantined."""

    @property
    def quarantined_total(self) -> int:
        return sum(self.quarantined.values())


class ObservationReader:
    """Validates observation lines against the sensors; see the module's docstring.

    One reader is one run: it remembers the ids it accepted (about 150 bytes each) to find
    re-sends. `source_name` is used in each quarantined input's `source`
    (`observations.jsonl:1234`).
    """

    def __init__(
        self,
        sensors: Iterable[Sensor],
        settings: IngestSettings | None = None,
        source_name: str = "<lines>",
        *,
        window: tuple[int, int] | None = None,
    ) -> None:
        settings = settings or IngestSettings()
        self.source_name = source_name
        sensors = list(sensors)
        self._sensor_kinds = {sensor.id: sensor.kind for sensor in sensors}
        self._sensor_keys: dict[str, Ed25519PublicKey | None] = {
            sensor.id: _public_key(sensor.public_key) for sensor in sensors if sensor.public_key
        }
        self._unsigned_policy = settings.unsigned_policy
        tolerance = settings.future_tolerance_s
        self.window = TimeWindow(
            round(settings.window_hours * _HOURS_NS),
            window,
            None if tolerance is None else round(tolerance * NS_PER_S),
        )
        self.counts = ReadCounts()
        self._seen: dict[str, int] = {}  # id -> content hash << _LINE_BITS | line
        self._minutes: dict[str, int] = {}  # "YYYY-MM-DDTHH:MM" -> ns at its start
        self._decoder = json.JSONDecoder()
        self._scan = self._decoder.scan_once
        self._waiting: list[tuple[int, Observation | Quarantined]] = []

    # -- public -----------------------------------------------------------------------------

    def read_lines(
        self, lines: Iterable[bytes | str], *, first_line: int = 1
    ) -> Iterator[Observation | Quarantined]:
        """One result per non-blank line, in order: an `Observation` accepted, or a
        `Quarantined` input with its reason. Re-sent observations (same id, same content) yield
        nothing; `counts` says how many there were (`counts.lines` is brought up to date when the
        lines run out). Lines are numbered from `first_line`; a trailing LF or CRLF is not part
        of the raw text kept."""
        read = self._read
        admit = self._admit
        window = self.window
        counts = self.counts
        waiting = self._waiting
        lines_before = counts.lines
        lineno = first_line - 1
        try:
            for lineno, line in enumerate(lines, first_line):
                result = read(lineno, line)
                if result is None:
                    continue
                if type(result) is Observation:
                    if not window.ready:
                        window.add(result.time_ns)
                        waiting.append((lineno, result))
                        if window.ready:
                            yield from self._release()
                        continue
                    window.add(result.time_ns)
                    result = admit(lineno, result)
                    if result is None:
                        continue
                else:
                    counts.quarantined[result.reason_code] += 1
                    if waiting:
                        waiting.append((lineno, result))
                        continue
                yield result
        finally:
            counts.lines = lines_before + lineno - first_line + 1
            counts.accepted = len(self._seen)  # each accepted id is remembered once
        window.fix()
        try:
            yield from self._release()
        finally:
            counts.accepted = len(self._seen)

    def source_of(self, observation_id: str) -> str:
        """`source:line` of the line that an observation accepted in this run came from."""
        packed = self._seen.get(observation_id)
        if packed is None:
            return self.source_name
        return f"{self.source_name}:{packed & _LINE_MASK}"

    # -- per line ---------------------------------------------------------------------------

    def _read(self, lineno: int, line: bytes | str) -> Observation | Quarantined | None:
        """Parse and check one line (everything but the window and re-sends): the observation,
        its quarantine, or None for a blank line."""
        received_ns = _now_ns()
        if type(line) is str:
            text = line
        else:
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                return self._bad_encoding(lineno, line, exc, received_ns)
        if text[-1:] == "\n":
            text = text[:-2] if text[-2:-1] == "\r" else text[:-1]
        ident = None
        try:
            obj = None
            if text[:1] == "{":
                try:
                    obj, end = self._scan(text, 0)
                except (ValueError, StopIteration, RecursionError):
                    obj = None  # `_parse_slowly` says why
                else:
                    if end != len(text) and not text[end:].isspace():
                        obj = None
            if type(obj) is not dict:
                obj = self._parse_slowly(text)
                if obj is None:
                    self.counts.blank += 1
                    return None
            if "\\u" in text:
                ident = obj.get("id")
                _check_strings(obj)
            # What remains of `obj` after the common fields are taken out is the kind's fields.
            ident = obj.pop("id", _MISSING)
            kind = obj.pop("kind", _MISSING)
            sensor = obj.pop("sensor", _MISSING)
            when = obj.pop("time", _MISSING)
            signature = obj.pop("signature", None)
            if type(ident) is not str or not ident:
                if ident is _MISSING:
                    raise _Reject(R.MISSING_FIELD, "missing field 'id'")
                raise _Reject(R.BAD_VALUE, f"id must be a non-empty string, not {_describe(ident)}")
            check_fields = _CHECKS.get(kind) if type(kind) is str else None
            sensor_kind = self._sensor_kinds.get(sensor) if type(sensor) is str else None
            if check_fields is None or sensor_kind is None or when is _MISSING:
                self._common_problem(kind, sensor, when)
            time_ns = self._time(when, "time")
            allowed = SENSOR_KINDS[kind]
            if allowed is not None and sensor_kind not in allowed:
                raise _Reject(
                    R.BAD_VALUE,
                    f"sensor {sensor!r} is a {sensor_kind!r} sensor and cannot make {kind} "
                    f"observations (needs a {' or '.join(sorted(allowed))} sensor)",
                )
            if signature is not None and (type(signature) is not str or not signature):
                raise _Reject(
                    R.BAD_VALUE, f"signature must be a non-empty string, not {_describe(signature)}"
                )
            check_fields(obj, self._time)
            known = _KNOWN_FIELDS[kind]
            if not known.issuperset(obj):
                for name in obj.keys() - known:
                    obj[name] = _check_extra(name, obj[name])
            if self._sensor_keys and sensor in self._sensor_keys:
                self._authenticate(text, sensor, signature)
            return _make_observation(
                ident, kind, sensor, time_ns, text, received_ns, signature, obj
            )
        except _Reject as reject:
            return Quarantined(
                raw=storable(text),
                reason=reject.reason,
                reason_code=reject.code,
                source=f"{self.source_name}:{lineno}",
                received_ns=received_ns,
                observation_id=storable(ident) if type(ident) is str and ident else None,
            )

    def _authenticate(self, text: str, sensor: str, signature: str | None) -> None:
        """Check the signature of an observation from a sensor with a public key: Ed25519 over
        the canonical JSON (keys sorted, `,` and `:`, UTF-8) of the object without `signature`
        (contract section 3)."""
        key = self._sensor_keys[sensor]
        if signature is None:
            if self._unsigned_policy == "quarantine":
                raise _Reject(
                    R.UNSIGNED,
                    f"not signed, but sensor {sensor!r} has a public key "
                    f"(ingest.unsigned_policy = quarantine)",
                )
            return
        if key is None:
            raise _Reject(
                R.BAD_SIGNATURE, f"sensor {sensor!r}'s public_key is not a usable Ed25519 key"
            )
        try:
            original = json.loads(text)
            del original["signature"]
            message = canonical_json(original)
        except (ValueError, KeyError, TypeError, RecursionError):
            message = None
        if message is None or not verify_signature(key, signature, message):
            raise _Reject(
                R.BAD_SIGNATURE,
                f"signature does not verify with sensor {sensor!r}'s public key (changed in "
                f"transit, signed by another key, or not signed as contract section 3 says)",
            )

    def _common_problem(self, kind: Any, sensor: Any, when: Any) -> None:
        """Raise the rejection for a missing or unknown kind, sensor or time."""
        for name, value in (("kind", kind), ("sensor", sensor), ("time", when)):
            if value is _MISSING:
                raise _Reject(R.MISSING_FIELD, f"missing field {name!r}")
        if type(kind) is not str:
            raise _Reject(R.BAD_VALUE, f"kind must be a string, not {_describe(kind)}")
        if kind not in _CHECKS:
            raise _Reject(
                R.UNKNOWN_KIND,
                f"unknown kind {_show(kind)} (known: {', '.join(OBSERVATION_KINDS)})",
            )
        if type(sensor) is not str:
            raise _Reject(R.BAD_VALUE, f"sensor must be a string, not {_describe(sensor)}")
        raise _Reject(R.UNKNOWN_SENSOR, f"unknown sensor {_show(sensor)}")

    def _parse_slowly(self, text: str) -> dict[str, Any] | None:
        """The object on a line the fast path could not read; None for a blank line."""
        if not text.strip():
            return None
        try:
            obj = self._decoder.decode(text)
        except json.JSONDecodeError as exc:
            raise _Reject(
                R.MALFORMED_JSON, f"not valid JSON: {exc.msg} at column {exc.colno}"
            ) from None
        except RecursionError:
            raise _Reject(R.MALFORMED_JSON, "not valid JSON: nested too deeply to read") from None
        except ValueError as exc:  # e.g. an integer of more than 4300 digits
            raise _Reject(R.MALFORMED_JSON, f"not valid JSON: {storable(str(exc))}") from None
        if type(obj) is not dict:
            raise _Reject(R.MALFORMED_JSON, f"expected a JSON object {{...}}, got {_describe(obj)}")
        return obj

    def _time(self, value: Any, name: str) -> int:
        """ns of an RFC 3339 time. `YYYY-MM-DDTHH:MM:SS[.fffffffff]Z` takes a fast path with the
        minute cached; everything else, and the first time in each minute, goes through
        `parse_time` (the reference, with its messages). Both give the same result."""
        if type(value) is str and value[-1:] == "Z":
            base = self._minutes.get(value[:16])
            if base is not None and value[16:17] == ":":
                second = value[17:19]
                if second.isdigit() and second.isascii() and second < "60":
                    size = len(value)
                    if size == 20:
                        return base + int(second) * NS_PER_S
                    if 21 < size <= 30 and value[19] == ".":
                        fraction = value[20:-1]
                        if fraction.isdigit() and fraction.isascii():
                            return (
                                base
                                + int(second) * NS_PER_S
                                + int(fraction) * _FRACTION_SCALE[size - 22]
                            )
        try:
            ns = parse_time(value)
        except ValueError as exc:
            message = str(exc)
            if name != "time":
                message = f"{name}: {message}"
            raise _Reject(R.BAD_TIME, storable(message)) from None
        if len(value) >= 20 and value[-1] == "Z":
            self._remember_minute(value[:16])
        return ns

    def _remember_minute(self, head: str) -> None:
        """Cache the ns of `head` + `:00Z` (a whole minute) for `_time`'s fast path."""
        try:
            base = parse_time(head + ":00Z")
        except ValueError:
            return
        if base > MAX_NS - 60 * NS_PER_S:  # seconds could go past the last representable ns
            return
        if len(self._minutes) >= _MINUTE_CACHE_LIMIT:
            self._minutes.clear()
        self._minutes[head] = base

    def _bad_encoding(
        self, lineno: int, line: bytes, exc: UnicodeDecodeError, received_ns: int
    ) -> Quarantined:
        raw = bytes(line)
        if raw[-1:] == b"\n":
            raw = raw[:-2] if raw[-2:-1] == b"\r" else raw[:-1]
        text = storable(raw.decode("utf-8", "backslashreplace"))
        try:  # the id, if the rest of the line is readable
            obj = self._decoder.decode(raw.decode("utf-8", "surrogateescape"))
            ident = obj.get("id") if type(obj) is dict else None
        except (ValueError, RecursionError):
            ident = None
        bad = line[exc.start : exc.end]
        return Quarantined(
            raw=text,
            reason=(
                f"not UTF-8: byte{'s' if len(bad) > 1 else ''} {bad.hex(' ')} at byte "
                f"{exc.start + 1} ({exc.reason}); raw kept with undecodable bytes as \\xNN"
            ),
            reason_code=R.BAD_ENCODING,
            source=f"{self.source_name}:{lineno}",
            received_ns=received_ns,
            observation_id=storable(ident) if type(ident) is str and ident else None,
        )

    # -- window and re-sends ----------------------------------------------------------------

    def _admit(self, lineno: int, observation: Observation) -> Observation | Quarantined | None:
        """The window check and re-send check of a checked observation; None for a re-send."""
        time_ns = observation.time_ns
        window = self.window
        if not window.since_ns <= time_ns < window.until_ns or (
            window.future_tolerance_ns is not None
            and not window.contains(time_ns, observation.received_ns)
        ):
            reason = window.why_outside(time_ns, observation.received_ns)
            return self._quarantine_late(lineno, observation, R.OUT_OF_WINDOW, reason)
        # Same content as the store judges it: kind, sensor, time, signature and fields.
        # (`FrozenDict.__hash__` is the hash of the frozenset of its items; taken directly here
        # to save a Python-level call.)
        key = (observation.kind, observation.sensor, time_ns, observation.signature)
        content = hash((key, frozenset(dict.items(observation.fields)))) & _MASK64
        previous = self._seen.get(observation.id)
        if previous is None:
            self._seen[observation.id] = content << _LINE_BITS | (lineno & _LINE_MASK)
            if (
                observation.signature is None
                and self._unsigned_policy == "accept-flagged"
                and observation.sensor in self._sensor_keys
            ):
                self.counts.unsigned_accepted += 1
            return observation
        if previous >> _LINE_BITS == content:
            self.counts.duplicates += 1
            return None
        return self._quarantine_late(
            lineno,
            observation,
            R.DUPLICATE_CONFLICT,
            f"id {observation.id!r} was received before (line {previous & _LINE_MASK}) "
            f"with different content",
        )

    def _quarantine_late(
        self, lineno: int, observation: Observation, code: QuarantineReason, reason: str
    ) -> Quarantined:
        self.counts.quarantined[code] += 1
        return Quarantined(
            raw=observation.raw,
            reason=reason,
            reason_code=code,
            source=f"{self.source_name}:{lineno}",
            received_ns=observation.received_ns,
            observation_id=observation.id,
        )

    def _release(self) -> Iterator[Observation | Quarantined]:
        """The lines held while the window was first inferred, in order, now judged."""
        waiting = self._waiting[:]
        self._waiting.clear()
        for lineno, result in waiting:
            if type(result) is Observation:
                admitted = self._admit(lineno, result)
                if admitted is not None:
                    yield admitted
            else:
                yield result
