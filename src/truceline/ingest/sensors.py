"""Reading `sensors.geojson` (contract section 2) into `Sensor` records.

The sensors file is configuration: one bad feature makes the whole file unusable, so
`read_sensors` either returns every sensor or raises `InputError` listing every problem, one
line each, naming the file, the feature (index from 0, and id) and what is wrong.

Each feature is a GeoJSON Point (`[lon, lat]` or `[lon, lat, elevation_m]`, WGS 84) whose
properties are `id` (unique), `kind`, `operator`, optional `timing_sigma_s` (> 0, default 0.01 s)
and optional `public_key` (base64 of a 32-byte Ed25519 key). Every other property is kept in
`Sensor.properties`, and the feature's text exactly as it appears in the file in `Sensor.raw`.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from truceline.errors import InputError, Problem
from truceline.ingest.observations import storable
from truceline.records import Sensor

PUBLIC_KEY_BYTES = 32
"""Length of an Ed25519 public key, bytes."""
MAX_DEPTH = 32
"""Deepest nesting allowed in an extra property."""


class _Model(BaseModel):
    model_config = ConfigDict(strict=True, allow_inf_nan=False, frozen=True)


class _Point(_Model):
    model_config = ConfigDict(extra="allow")

    type: Literal["Point"]
    coordinates: Annotated[list[float], Field(min_length=2, max_length=3)]

    @field_validator("coordinates")
    @classmethod
    def _in_range(cls, value: list[float]) -> list[float]:
        lon, lat = value[0], value[1]
        if not -180.0 <= lon <= 180.0:
            raise ValueError(f"longitude {lon} is outside -180 to 180")
        if not -90.0 <= lat <= 90.0:
            raise ValueError(f"latitude {lat} is outside -90 to 90")
        return value


class _Properties(_Model):
    model_config = ConfigDict(extra="allow")

    id: Annotated[str, Field(min_length=1)]
    kind: Annotated[str, Field(min_length=1)]
    operator: Annotated[str, Field(min_length=1)]
    timing_sigma_s: Annotated[float, Field(gt=0)] = 0.01
    public_key: str | None = None

    @field_validator("id", "kind", "operator")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    @field_validator("public_key")
    @classmethod
    def _ed25519_key(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            key = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("is not base64 text") from None
        if len(key) != PUBLIC_KEY_BYTES:
            raise ValueError(
                f"decodes to {len(key)} bytes; an Ed25519 public key has {PUBLIC_KEY_BYTES}"
            )
        return value


class _Feature(_Model):
    model_config = ConfigDict(extra="allow")

    type: Literal["Feature"]
    geometry: _Point
    properties: _Properties


def read_sensors(path: str | os.PathLike[str]) -> list[Sensor]:
    """The sensors of a `sensors.geojson` file, in file order.

    Raises `InputError` (exit code 2) listing every problem: unreadable file, invalid JSON, not
    a FeatureCollection, a feature that is not a Point with the required properties, a value out
    of range, a repeated id, an extra property holding NaN or an infinity.
    """
    file = os.fspath(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError([Problem(file, f"cannot read: {exc.strerror or exc}")]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            [Problem(file, f"not UTF-8 text: byte {exc.start + 1} ({exc.reason})")]
        ) from None
    return parse_sensors(text, file)


def parse_sensors(text: str, file: str = "sensors.geojson") -> list[Sensor]:
    """The sensors of the text of a `sensors.geojson` file; `file` names it in problems."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        problem = Problem(file, f"invalid JSON: {exc.msg} (column {exc.colno})", line=exc.lineno)
        raise InputError([problem]) from None
    except (ValueError, RecursionError) as exc:
        raise InputError([Problem(file, f"invalid JSON: {exc}")]) from None
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise InputError([Problem(file, "expected a GeoJSON FeatureCollection")])
    features = data.get("features")
    if not isinstance(features, list):
        raise InputError([Problem(file, "the FeatureCollection has no 'features' list")])
    if not features:
        raise InputError([Problem(file, "the FeatureCollection has no features: no sensors")])
    raws = _feature_texts(text)
    if raws is None or len(raws) != len(features):  # pragma: no cover - json.loads agreed above
        raws = [json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in features]

    problems: list[Problem] = []
    sensors: list[Sensor] = []
    first_index: dict[str, int] = {}
    for index, (feature, raw) in enumerate(zip(features, raws, strict=True)):
        props = feature.get("properties") if isinstance(feature, dict) else None
        fid = props.get("id") if isinstance(props, dict) else None
        fid = fid if isinstance(fid, str) and fid else None
        found: list[str] = []
        sensor = _sensor(feature, raw, found)
        if fid is not None:
            if fid in first_index:
                found.append(f"duplicate id {fid!r} (first used by feature {first_index[fid]})")
            else:
                first_index[fid] = index
        problems.extend(
            Problem(file, storable(message), feature_index=index, feature_id=storable(fid or ""))
            for message in found
        )
        if sensor is not None and not found:
            sensors.append(sensor)
    if problems:
        raise InputError(problems)
    return sensors


_DECLARED = frozenset({"id", "kind", "operator", "timing_sigma_s", "public_key"})
_JSON_TYPES = {
    bool: "a boolean",
    int: "a number",
    float: "a number",
    str: "a string",
    list: "an array",
    dict: "an object",
    type(None): "null",
}


def _sensor(feature: Any, raw: str, found: list[str]) -> Sensor | None:
    """The sensor of one feature, or None with its problems appended to `found`."""
    if not isinstance(feature, dict):
        found.append(f"expected a GeoJSON Feature object, not {_JSON_TYPES[type(feature)]}")
        return None
    props = feature.get("properties")
    if isinstance(props, dict):
        for name, value in props.items():
            where = f"properties.{name}"
            problem = _bad_text(name, f"property name {name!r}") or (
                _bad_extra(value, where)
                if name not in _DECLARED
                else _bad_text(value, where)
                if isinstance(value, str)
                else None
            )
            if problem:
                found.append(problem)
    try:
        model = _Feature.model_validate(feature)
    except ValidationError as exc:
        errors = exc.errors()
        if any(tuple(e["loc"]) == ("geometry", "type") for e in errors):
            # Not a Point: its coordinates' shape is beside the point.
            errors = [e for e in errors if tuple(e["loc"][:2]) != ("geometry", "coordinates")]
        found.extend(_message(error) for error in errors)
        return None
    if found:
        return None
    props_model = model.properties
    coordinates = model.geometry.coordinates
    return Sensor(
        id=props_model.id,
        kind=props_model.kind,
        operator=props_model.operator,
        lon=float(coordinates[0]),
        lat=float(coordinates[1]),
        elevation_m=float(coordinates[2]) if len(coordinates) == 3 else None,
        timing_sigma_s=float(props_model.timing_sigma_s),
        public_key=props_model.public_key,
        properties=dict(props_model.model_extra or {}),
        raw=raw,
    )


def _message(error: Any) -> str:
    """One pydantic error as a line: where, what, and the value given."""
    loc = ".".join(str(part) if not isinstance(part, int) else f"[{part}]" for part in error["loc"])
    loc = loc.replace(".[", "[")
    kind = error["type"]
    if kind == "missing":
        return f"missing {loc}"
    message = error["msg"]
    if loc == "geometry.coordinates" and kind in ("too_short", "too_long"):
        message = "should be [lon, lat] or [lon, lat, elevation_m]"
    elif kind == "string_too_short":
        message = "must not be empty"
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    elif message.startswith("Input should be "):
        message = "should be " + message.removeprefix("Input should be ")
    given = error.get("input")
    shown = (
        "an object"
        if isinstance(given, dict)
        else json.dumps(given, ensure_ascii=False, default=str)
    )
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{loc} {message} (got {shown})" if loc else f"{message} (got {shown})"


def _bad_extra(value: Any, where: str) -> str | None:
    """Why an extra property cannot be stored (non-finite number, too deep, bad text), if so."""
    stack = [(value, where, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return f"{path} is {json.dumps(item)}; numbers must be finite"
        if isinstance(item, str):
            problem = _bad_text(item, path)
            if problem:
                return problem
        elif isinstance(item, list | dict):
            if depth >= MAX_DEPTH:
                return f"{path} is nested more than {MAX_DEPTH} levels deep"
            if isinstance(item, list):
                stack.extend((v, f"{path}[{i}]", depth + 1) for i, v in enumerate(item))
            else:
                for key, v in item.items():
                    problem = _bad_text(key, f"a property name in {path}")
                    if problem:
                        return problem
                    stack.append((v, f"{path}.{key}", depth + 1))
    return None


def _bad_text(text: str, where: str) -> str | None:
    if "\x00" in text:
        return f"{storable(where)} contains a NUL character, which cannot be stored"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return f"{storable(where)} contains an unpaired surrogate, which cannot be stored"
    return None


def _feature_texts(text: str) -> list[str] | None:
    """The exact text of each element of the top-level object's `features` array (the last
    one, as `json.loads` keeps the last of repeated keys); None if it cannot be found."""
    decoder = json.JSONDecoder()
    found: list[str] | None = None
    position = _skip(text, 0)
    if text[position : position + 1] != "{":
        return None
    position = _skip(text, position + 1)
    while text[position : position + 1] == '"':
        key, position = decoder.raw_decode(text, position)
        position = _skip(text, position)
        if text[position : position + 1] != ":":
            return None
        position = _skip(text, position + 1)
        if key == "features" and text[position : position + 1] == "[":
            found, position = _elements(decoder, text, position)
        else:
            _, position = decoder.raw_decode(text, position)
        position = _skip(text, position)
        if text[position : position + 1] == ",":
            position = _skip(text, position + 1)
    return found


def _elements(decoder: json.JSONDecoder, text: str, position: int) -> tuple[list[str], int]:
    """The text of each element of the array that opens at `position`, and the position just
    after the array."""
    elements: list[str] = []
    position = _skip(text, position + 1)
    while text[position : position + 1] not in ("]", ""):
        _, end = decoder.raw_decode(text, position)
        elements.append(text[position:end])
        position = _skip(text, end)
        if text[position : position + 1] == ",":
            position = _skip(text, position + 1)
    return elements, position + 1


def _skip(text: str, position: int) -> int:
    """The position of the first non-whitespace character at or after `position` (JSON
    whitespace: space, tab, CR, LF)."""
    size = len(text)
    while position < size and text[position] in " \t\r\n":
        position += 1
    return position
