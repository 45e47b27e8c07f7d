"""Sensors that sign their observations (contract sections 2 and 3), for scenarios that test
sensor authentication.

A share `SigningSpec.sensor_fraction` of the sensors get an Ed25519 key, derived from the seed and
the sensor's id (`sensor_private_key`), so runs stay reproducible and tests can re-make any key;
`sensors.geojson` carries their `public_key`. Their observations are signed over the canonical
JSON of the object without `signature`, except a share sent unsigned (`unsigned_fraction`) and a
share whose signature is wrong (`bad_signature_fraction`: signed by the key over other bytes).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections import Counter
from collections.abc import Iterable

import numpy as np

from truceline.ledger.canonical import canonical_json
from truceline.ledger.keys import Ed25519PrivateKey, public_key_b64
from truceline.sim.scenario import SigningSpec


def sensor_private_key(seed: int, sensor_id: str) -> Ed25519PrivateKey:
    """The key the simulator gives sensor `sensor_id` in a run with `seed`."""
    secret = hashlib.sha256(f"truceline-sim-sensor-key/{seed}/{sensor_id}".encode()).digest()
    return Ed25519PrivateKey.from_private_bytes(secret)


def sign_line(line: str, key: Ed25519PrivateKey) -> str:
    """An observation line (a JSON object, optional trailing newline) with its `signature`."""
    obj = json.loads(line)
    obj.pop("signature", None)
    signature = base64.b64encode(key.sign(canonical_json(obj))).decode("ascii")
    body = line.rstrip("\r\n")
    return f'{body[:-1]},"signature":"{signature}"}}' + line[len(body) :]


class SensorSigner:
    """Keys for some sensors and the signing of their observation lines."""

    def __init__(
        self, spec: SigningSpec, seed: int, sensor_ids: Iterable[str], rng: np.random.Generator
    ) -> None:
        self.spec = spec
        ids = list(sensor_ids)
        chosen = rng.random(len(ids)) < spec.sensor_fraction
        self.keys = {
            sid: sensor_private_key(seed, sid)
            for sid, c in zip(ids, chosen.tolist(), strict=True)
            if c
        }
        self.counts: Counter[str] = Counter()

    def public_keys(self) -> dict[str, str]:
        return {sid: public_key_b64(key) for sid, key in self.keys.items()}

    def add_public_keys(self, geojson: dict) -> dict:
        """`sensors.geojson` with `public_key` in the properties of the sensors with keys."""
        keys = self.public_keys()
        for feature in geojson["features"]:
            props = feature["properties"]
            if props["id"] in keys:
                props["public_key"] = keys[props["id"]]
        return geojson

    def sign(self, lines: list[str], rng: np.random.Generator) -> list[str]:
        """The lines with those of sensors with keys signed (some unsigned, some badly)."""
        if not self.keys or not lines:
            return lines
        draw = rng.random(len(lines)).tolist()
        unsigned, bad = self.spec.unsigned_fraction, self.spec.bad_signature_fraction
        out = []
        for line, u in zip(lines, draw, strict=True):
            start = line.index('"sensor":"') + 10
            key = self.keys.get(line[start : line.index('"', start)])
            if key is None:
                out.append(line)
            elif u < unsigned:
                self.counts["unsigned"] += 1
                out.append(line)
            elif u < unsigned + bad:
                self.counts["bad_signature"] += 1
                out.append(_resign_bad(line, key))
            else:
                self.counts["signed"] += 1
                out.append(sign_line(line, key))
        return out


def _resign_bad(line: str, key: Ed25519PrivateKey) -> str:
    """The line with a signature over other bytes (what tampering in transit looks like)."""
    obj = json.loads(line)
    forged = base64.b64encode(key.sign(canonical_json({**obj, "tampered": True}))).decode("ascii")
    body = line.rstrip("\r\n")
    return f'{body[:-1]},"signature":"{forged}"}}' + line[len(body) :]
