"""The typed records that flow between truceline's stages.

Every record is a small frozen dataclass. Times are `int` nanoseconds since the Unix epoch, UTC
(see `truceline.timeutil`); coordinates are WGS 84 degrees; distances are metres. Mappings inside
records are `FrozenDict`s and sequences are tuples, so a record cannot be changed once made: a
stage that refines a record makes a new one (`dataclasses.replace`).

These types trust their caller. Input from outside is validated at the ingest boundary, before any
record is made.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any, NamedTuple, NoReturn


class FrozenDict(dict[str, Any]):
    """A read-only `dict`: hashable, equal to a `dict` with the same items, JSON-serialisable.

    Values are frozen on the way in: nested mappings become `FrozenDict`s, lists become tuples.
    Operations that would change it raise `TypeError`.
    """

    __slots__ = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if len(args) == 1 and not kwargs and type(args[0]) is dict:
            items = args[0]  # read only: no copy needed
        else:
            items = dict(*args, **kwargs)
        super().__init__({key: freeze(value) for key, value in items.items()})

    def _read_only(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(f"{type(self).__name__} is read-only")

    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))

    def __reduce__(self) -> tuple[Callable[[dict[str, Any]], FrozenDict], tuple[dict[str, Any]]]:
        return (_unpickle_frozen, (dict(self),))

    def __copy__(self) -> FrozenDict:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenDict:
        return self

    def __repr__(self) -> str:
        return f"FrozenDict({dict.__repr__(self)})"


EMPTY = FrozenDict()


def _unpickle_frozen(items: dict[str, Any]) -> FrozenDict:
    """A pickled `FrozenDict` back: its values were frozen when it was made (nested ones come
    back as `FrozenDict`s and tuples), so they are not frozen again. A sixth of the cost of
    `FrozenDict(items)`, for the millions of observations sent to the acoustic worker (made by
    `dict.__new__`: even an empty `FrozenDict()` would go through `__init__`)."""
    frozen = dict.__new__(FrozenDict)
    dict.update(frozen, items)
    return frozen


_PLAIN = frozenset({str, int, float, bool, type(None)})
"""Types `freeze` returns as they are, tested by exact type before the slower `isinstance`."""


def freeze(value: Any) -> Any:
    """`value` with every mapping made a `FrozenDict` and every list or tuple a tuple, deeply."""
    kind = type(value)
    if kind in _PLAIN or kind is FrozenDict:
        return value
    if kind is dict:
        return FrozenDict(value)
    if kind is list or kind is tuple:  # before the slower isinstance tests below
        return tuple([freeze(item) for item in value])
    if isinstance(value, FrozenDict):
        return value
    if isinstance(value, Mapping):
        return FrozenDict(value)
    if isinstance(value, list | tuple):
        return tuple(freeze(item) for item in value)
    return value


def frozen_update(frozen: FrozenDict, changes: Mapping[str, Any]) -> FrozenDict:
    """`FrozenDict({**frozen, **changes})`, equal and in the same key order, with only the
    `changes` frozen: `frozen`'s values are already (a record's properties), and freezing them
    again walks every nested tuple."""
    out = dict.__new__(FrozenDict)
    dict.update(out, frozen)
    for key, value in changes.items():
        dict.__setitem__(out, key, freeze(value))
    return out


def _set(record: Any, name: str, value: Any) -> None:
    object.__setattr__(record, name, value)


class EvaluationMode(StrEnum):
    """Who made a record (QuakeML `evaluationMode`)."""

    AUTOMATIC = "automatic"
    MANUAL = "manual"


class EvaluationStatus(StrEnum):
    """How far a record has been checked (QuakeML `evaluationStatus`)."""

    PRELIMINARY = "preliminary"
    REVIEWED = "reviewed"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


class QuarantineReason(StrEnum):
    """The known machine codes for why an input was quarantined; the list is open-ended."""

    MALFORMED_JSON = "malformed-json"
    BAD_ENCODING = "bad-encoding"
    MISSING_FIELD = "missing-field"
    BAD_VALUE = "bad-value"
    BAD_TIME = "bad-time"
    NON_FINITE = "non-finite"
    UNKNOWN_SENSOR = "unknown-sensor"
    UNKNOWN_KIND = "unknown-kind"
    OUT_OF_WINDOW = "out-of-window"
    BAD_SIGNATURE = "bad-signature"
    UNSIGNED = "unsigned"
    DUPLICATE_CONFLICT = "duplicate-conflict"


@dataclass(frozen=True, slots=True)
class Provenance:
    """Who or what made a record, how far it has been checked, when, how and from what."""

    evaluation_mode: EvaluationMode
    evaluation_status: EvaluationStatus
    author: str
    """Program and version (`truceline 0.1.0`) or the analyst's name."""
    created_ns: int
    """When the record was made, ns since the epoch."""
    method: str | None = None
    """The algorithm that made it (a locator's or rule's name); None for manual work."""
    inputs: tuple[str, ...] = ()
    """Ids of the records it was made from."""

    def __post_init__(self) -> None:
        # The enums' own members as they are: calling the enum on one costs a lookup each.
        if type(self.evaluation_mode) is not EvaluationMode:
            _set(self, "evaluation_mode", EvaluationMode(self.evaluation_mode))
        if type(self.evaluation_status) is not EvaluationStatus:
            _set(self, "evaluation_status", EvaluationStatus(self.evaluation_status))
        if type(self.inputs) is not tuple:
            _set(self, "inputs", tuple(self.inputs))

    @classmethod
    def automatic(cls, method: str, inputs: Iterable[str], created_ns: int) -> Provenance:
        """An automatic, preliminary result of this version of truceline."""
        from truceline import __version__

        return cls(
            evaluation_mode=EvaluationMode.AUTOMATIC,
            evaluation_status=EvaluationStatus.PRELIMINARY,
            author=f"truceline {__version__}",
            created_ns=created_ns,
            method=method,
            inputs=tuple(inputs),
        )


@dataclass(frozen=True, slots=True)
class Sensor:
    """A sensor at a fixed place, as declared in `sensors.geojson`."""

    id: str
    kind: str
    """`acoustic`, `radar`, `weather`, ... (open-ended)."""
    operator: str
    """A party id, or `monitor` for the neutral mission."""
    lon: float
    lat: float
    elevation_m: float | None = None
    timing_sigma_s: float = 0.01
    """One-sigma error of the arrival times it reports, s."""
    public_key: str | None = None
    """Base64 Ed25519 public key; where present, its observations are signed."""
    properties: Mapping[str, Any] = EMPTY
    """Any other properties of its feature, kept as given."""
    raw: str | None = None
    """The GeoJSON feature text as received, if known."""

    def __post_init__(self) -> None:
        _set(self, "properties", freeze(self.properties))


@dataclass(frozen=True, slots=True)
class Observation:
    """One report from one sensor, accepted at ingest."""

    id: str
    kind: str
    """`acoustic`, `weather`, `radar_plot`, `radar_track`, ... (open-ended)."""
    sensor: str
    """The id of the sensor that made it."""
    time_ns: int
    """The observation's `time`, ns since the epoch."""
    raw: str
    """The exact text as received (one JSON line), kept byte for byte as evidence."""
    received_ns: int
    """When truceline received it, ns since the epoch."""
    signature: str | None = None
    """Base64 Ed25519 signature by the sensor's key, if signed."""
    fields: Mapping[str, Any] = EMPTY
    """The kind-specific fields (everything but id, kind, sensor, time, signature)."""

    def __post_init__(self) -> None:
        _set(self, "fields", freeze(self.fields))

    def __reduce__(self) -> tuple[type[Observation], tuple[Any, ...]]:
        # Made again through __init__ (its fields are frozen already): a third of the cost of
        # the slots dataclass's attribute-by-attribute state, for millions sent to a worker.
        return (
            Observation,
            (
                self.id,
                self.kind,
                self.sensor,
                self.time_ns,
                self.raw,
                self.received_ns,
                self.signature,
                self.fields,
            ),
        )


class AcousticArrival(NamedTuple):
    """An acoustic detection as the radar stage's fusion reads it back from the store: which
    sensor, when, and the bearing if reported (a tuple: millions are read in a day)."""

    id: str
    sensor: str
    time_ns: int
    azimuth_deg: float | None
    """Back-azimuth, degrees clockwise from north, if the sensor reported one."""
    azimuth_sigma_deg: float | None


@dataclass(frozen=True, slots=True)
class EvidenceArrivals:
    """The acoustic arrivals of many events' evidence as columns, one row per detection, each
    event's rows together in the order of its evidence (`rows[event id]`: its first and
    past-the-last row). What the acoustic stage holds of the detections it located, handed on
    with its events, so that the merge (`truceline.radar.joint.HeldArrivals`) need not read
    them back from the store: row i is `AcousticArrival(id, sensor_ids[sensor[i]],
    time_ns[i], azimuth_deg[i], azimuth_sigma_deg[i])` with NaN for a bearing not reported."""

    sensor_ids: tuple[str, ...]
    sensor: Any
    """Index into `sensor_ids` per row (int32 array)."""
    time_ns: Any
    """Detection time per row, ns since the Unix epoch (int64 array)."""
    azimuth_deg: Any
    azimuth_sigma_deg: Any
    rows: Mapping[str, tuple[int, int]]


@dataclass(frozen=True, slots=True)
class Quarantined:
    """An input that was not accepted, kept with the reason so nothing is silently dropped."""

    raw: str
    """The exact text as received."""
    reason: str
    """For a person: `unknown sensor 'A-17'`."""
    reason_code: str
    """For a program: a `QuarantineReason` value such as `unknown-sensor`."""
    source: str
    """Where it came from: `observations.jsonl:1234`."""
    received_ns: int
    """When truceline received it, ns since the epoch."""
    observation_id: str | None = None
    """Its `id`, if that could be read."""


@dataclass(frozen=True, slots=True)
class Ellipse:
    """A confidence ellipse on the ground: semi-axes in metres, major axis clockwise from north."""

    major_m: float
    minor_m: float
    azimuth_deg: float


@dataclass(frozen=True, slots=True)
class Origin:
    """Where and when an event happened, with its uncertainty."""

    lon: float
    lat: float
    time_ns: int
    ellipse95: Ellipse | None = None
    """Semi-axes of the 95% confidence ellipse of the position."""
    covariance: tuple[tuple[float, float, float], ...] | None = None
    """3x3 covariance of (east_m, north_m, time_s): m², m·s and s²."""
    rms_residual_s: float | None = None
    """Root mean square of the arrival-time residuals, s."""
    n_sensors: int = 0
    """Number of sensors whose observations the origin uses."""

    def __post_init__(self) -> None:
        if self.covariance is not None:
            matrix = tuple(tuple(float(x) for x in row) for row in self.covariance)
            if len(matrix) != 3 or any(len(row) != 3 for row in matrix):
                raise ValueError("covariance must be 3x3 over (east_m, north_m, time_s)")
            _set(self, "covariance", matrix)


@dataclass(frozen=True, slots=True)
class Violation:
    """A breach of one rule of the agreement by one event."""

    id: str
    rule: str
    """The rule's id in the agreement (`no-fire`)."""
    article: str
    """The article of the agreement the rule comes from."""
    event_id: str
    party: str | None
    """The party held to have breached it, or None if undetermined."""
    probability: float
    """Probability that the breach happened and is the party's, 0 to 1."""
    explanation: str
    provenance: Provenance


@dataclass(frozen=True, slots=True)
class Event:
    """A located event (a launch, an impact, an air track) resting on observations."""

    id: str
    type: str
    """`launch`, `impact`, `air-track`, ... (open-ended)."""
    origin: Origin
    provenance: Provenance
    evidence: tuple[str, ...] = ()
    """Ids of the observations it rests on."""
    paired: str | None = None
    """Id of the launch or impact event paired with this one."""
    path: tuple[tuple[float, float, float, int], ...] | None = None
    """Air tracks: (lon, lat, alt_m, time_ns) points in time order."""
    attribution: Mapping[str, float] = EMPTY
    """Party id -> probability; may sum to less than 1, the rest being undetermined."""
    violations: tuple[Violation, ...] = ()
    properties: Mapping[str, Any] = EMPTY

    def __post_init__(self) -> None:
        for name, normal in _EVENT_NORMAL.items():
            _set(self, name, normal(getattr(self, name)))

    def refined(self, **changes: Any) -> Event:
        """The event with `changes`, equal to what `dataclasses.replace` makes, but only the
        changed fields are normalised: the others are already (an air track's path of
        thousands of points is not made again)."""
        new = object.__new__(Event)
        for name in _EVENT_FIELDS:
            _set(new, name, getattr(self, name))
        for name, value in changes.items():
            if name not in _EVENT_FIELDS:
                raise TypeError(f"Event has no field {name!r}")
            normal = _EVENT_NORMAL.get(name)
            _set(new, name, value if normal is None else normal(value))
        return new

    @property
    def time_ns(self) -> int:
        """The origin time, ns since the epoch."""
        return self.origin.time_ns


def _path_point(point: Iterable[Any]) -> tuple[float, float, float, int]:
    lon, lat, alt_m, time_ns = point
    return (float(lon), float(lat), float(alt_m), int(time_ns))


def _path(
    path: Iterable[Iterable[Any]] | None,
) -> tuple[tuple[float, float, float, int], ...] | None:
    return None if path is None else tuple(_path_point(point) for point in path)


_EVENT_FIELDS = tuple(f.name for f in fields(Event))
_EVENT_NORMAL: dict[str, Callable[[Any], Any]] = {
    "evidence": tuple,
    "violations": tuple,
    "attribution": freeze,
    "properties": freeze,
    "path": _path,
}
"""How `Event` normalises its fields (the rest are kept as given), in this order."""


@dataclass(frozen=True, slots=True)
class Review:
    """An analyst's decision on a record. Reviews are appended, never overwritten."""

    target_id: str
    """Id of the event or violation reviewed."""
    status: EvaluationStatus
    reason: str
    by: str
    """The analyst."""
    time_ns: int

    def __post_init__(self) -> None:
        _set(self, "status", EvaluationStatus(self.status))


@dataclass(frozen=True, slots=True)
class Run:
    """One run of a command that wrote to the store, with its settings and outcome."""

    run_id: str
    command: str
    started_ns: int
    finished_ns: int | None = None
    settings: Mapping[str, Any] = EMPTY
    summary: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        _set(self, "settings", freeze(self.settings))
        if self.summary is not None:
            _set(self, "summary", freeze(self.summary))
