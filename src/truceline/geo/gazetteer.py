"""Describe places by the nearest settlement, and find settlements by name.

Monitoring reports give positions as analysts read them: "3.2 km SE of Toretsk (Donetsk oblast)".
`Gazetteer.describe` finds the nearest settlement of at least `min_population` people within
`max_distance_km`, then measures distance and azimuth along the WGS 84 geodesic (pyproj). The
nearest-neighbour search runs in a k-d tree on Earth-centred, Earth-fixed coordinates (metres on
the ellipsoid), where the chord between two places within tens of kilometres is within a
millionth of the geodesic; the few candidates nearest by chord are then ranked by geodesic
distance, so the answer is the geodesically nearest settlement.

`Gazetteer.find` resolves names the way people type them: case-insensitive, ignoring apostrophes,
hyphens and spaces, and folding the romanisation variants that GeoNames and the Ukrainian national
system disagree on ("Kupyansk" and "Kupiansk", "Hulyaypole" and "Huliaipole"); Cyrillic input is
transliterated first.

>>> gaz = Gazetteer()
>>> gaz.find("Kupiansk").name
'Kupyansk'
>>> str(gaz.describe(37.8478, 48.3948))
'in Toretsk (Donetsk oblast)'
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pyproj import Transformer
from scipy.spatial import cKDTree

from truceline.errors import UsageError
from truceline.geo.geography import Settlement, Settlements, oblasts, oblasts_at, settlements
from truceline.geo.projection import compass_point, geodesic_azimuth_deg, geodesic_distance_m

__all__ = ["Gazetteer", "PlaceDescription", "SettlementLookupError", "name_key"]

IN_SETTLEMENT_KM = 0.5  # closer than this, a place is described as "in" the settlement
DOMINANCE = 10  # a match this many times more populous than every other wins an ambiguity

_ECEF = Transformer.from_crs("EPSG:4326", "EPSG:4978", always_xy=True)

_CYRILLIC = {
    "а": "a", "б": "b", "в": "v", "г": "h", "ґ": "g", "д": "d", "е": "e", "є": "ie", "ж": "zh",
    "з": "z", "и": "y", "і": "i", "ї": "i", "й": "i", "к": "k", "л": "l", "м": "m", "н": "n",
    "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
    "ч": "ch", "ш": "sh", "щ": "shch", "ь": "", "ю": "iu", "я": "ia", "ы": "y", "э": "e",
    "ё": "e", "ъ": "",
}  # fmt: skip
_FOLDS = (
    (re.compile(r"x"), "kh"),  # Kaxovka
    (re.compile(r"w"), "v"),  # Pokrowsk
    (re.compile(r"c(?!h)"), "ts"),  # scholarly Torec'k
    (re.compile(r"j"), "i"),  # Kostjantynivka
    (re.compile(r"g"), "h"),  # Russian-style Gulyaypole
    (re.compile(r"y"), "i"),  # Kupyansk / Kupiansk, Khmelnytskyy / Khmelnytskyi
    (re.compile(r"i+"), "i"),  # Mykolayiv -> mikolaiiv -> mikolaiv
)


def name_key(name: str) -> str:
    """A place name folded for matching: lower case, Cyrillic transliterated, diacritics,
    apostrophes, hyphens and spaces dropped, y/i, j/i, g/h, w/v, x/kh, c/ts folded.

    >>> name_key("Kupyans'k") == name_key("Kupiansk") == name_key("Купʼянськ")
    True
    """
    text = "".join(_CYRILLIC.get(c, c) for c in name.casefold())
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-z0-9]", "", text)
    for pattern, repl in _FOLDS:
        text = pattern.sub(repl, text)
    return text


class SettlementLookupError(KeyError, UsageError):
    """No settlement, or more than one, answers to a name; `candidates` are the close matches."""

    def __init__(self, message: str, candidates: tuple[Settlement, ...] = ()):
        super().__init__(message)
        self.message = message
        self.candidates = candidates

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class PlaceDescription:
    """A place described by its nearest settlement, as in monitoring reports.

    `distance_km` and `azimuth_deg` run from the settlement to the place along the geodesic
    (azimuth clockwise from north, degrees); `compass` is the 16-point direction. With no
    settlement within the gazetteer's range, `settlement` is None and the text gives the
    coordinates; `oblast` is then the unit the place itself lies in (None at sea or abroad).
    """

    lon: float
    lat: float
    settlement: str | None
    oblast: str | None
    distance_km: float | None
    azimuth_deg: float | None
    compass: str | None

    def __str__(self) -> str:
        if self.settlement is None or self.distance_km is None:
            ns = "N" if self.lat >= 0 else "S"
            ew = "E" if self.lon >= 0 else "W"
            return f"{abs(self.lat):.4f} {ns}, {abs(self.lon):.4f} {ew}"
        where = f"{self.settlement} ({self.oblast})" if self.oblast else self.settlement
        if self.distance_km < IN_SETTLEMENT_KM:
            return f"in {where}"
        return f"{self.distance_km:.1f} km {self.compass} of {where}"


def _ecef(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.float64]:
    lon_a, lat_a = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    x, y, z = _ECEF.transform(lon_a.ravel(), lat_a.ravel(), np.zeros(lon_a.size))
    return np.column_stack([x, y, z])


class Gazetteer:
    """The bundled settlements as reference points for describing and finding places.

    `min_population` (people) leaves out smaller places; `max_distance_km` is the farthest a
    reference settlement may be. Defaults match the `gazetteer.*` settings.
    """

    def __init__(
        self,
        min_population: int = 500,
        max_distance_km: float = 30.0,
        places: Settlements | None = None,
    ):
        if min_population < 0:
            raise ValueError(f"min_population must be >= 0, got {min_population}")
        if not max_distance_km > 0:
            raise ValueError(f"max_distance_km must be > 0, got {max_distance_km}")
        self.min_population = int(min_population)
        self.max_distance_km = float(max_distance_km)
        everything = settlements() if places is None else places
        self.places = everything.select(everything.population >= self.min_population)
        if len(self.places) == 0:
            raise ValueError(f"no settlement has {min_population} people or more")
        self._tree = cKDTree(_ecef(self.places.lon, self.places.lat))

    def __repr__(self) -> str:
        return (
            f"Gazetteer({len(self.places)} settlements, min_population={self.min_population}, "
            f"max_distance_km={self.max_distance_km})"
        )

    # --- describing places ------------------------------------------------------------------

    def nearest(
        self, lon: ArrayLike, lat: ArrayLike
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Index into `places` of the geodesically nearest settlement to each point, and the
        distance in metres; -1 and inf where none lies within `max_distance_km`."""
        lon_a, lat_a = np.broadcast_arrays(
            np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
        )
        lon_f, lat_f = lon_a.ravel(), lat_a.ravel()
        xyz = _ecef(lon_f, lat_f)
        limit_m = self.max_distance_km * 1000.0
        n = len(self.places)
        index = np.full(len(lon_f), -1, dtype=np.int64)
        dist = np.full(len(lon_f), np.inf)
        todo = np.arange(len(lon_f))
        k = min(8, n)
        while len(todo):
            # chords never exceed geodesics, so the bound keeps every settlement within range
            chord, cand = self._tree.query(xyz[todo], k=k, distance_upper_bound=limit_m * 1.001)
            chord, cand = chord.reshape(len(todo), k), cand.reshape(len(todo), k)
            valid = cand < n
            safe = np.where(valid, cand, 0)
            geo = geodesic_distance_m(
                lon_f[todo, None], lat_f[todo, None], self.places.lon[safe], self.places.lat[safe]
            )
            geo = np.where(valid & (geo <= limit_m), geo, np.inf)
            best = np.argmin(geo, axis=1)
            rows = np.arange(len(todo))
            best_dist = geo[rows, best]
            # a settlement beyond the k-th has a chord, hence a geodesic, at least the k-th chord:
            # if that is no shorter than the best geodesic, none can beat it; else widen k
            complete = (~valid[:, -1]) | (chord[:, -1] >= best_dist) | (k >= n)
            found = complete & np.isfinite(best_dist)
            index[todo[found]] = cand[rows[found], best[found]]
            dist[todo[found]] = best_dist[found]
            todo = todo[~complete]
            k = min(2 * k, n)
        return index.reshape(lon_a.shape), dist.reshape(lon_a.shape)

    def describe_many(self, lon: ArrayLike, lat: ArrayLike) -> list[PlaceDescription]:
        """`describe` for arrays of points (degrees); one geodesic computation for all of them."""
        lon_f = np.atleast_1d(np.asarray(lon, dtype=float)).ravel()
        lat_f = np.atleast_1d(np.asarray(lat, dtype=float)).ravel()
        lon_f, lat_f = np.broadcast_arrays(lon_f, lat_f)
        index, dist_m = self.nearest(lon_f, lat_f)
        found = index >= 0
        safe = np.where(found, index, 0)
        azimuth = geodesic_azimuth_deg(self.places.lon[safe], self.places.lat[safe], lon_f, lat_f)
        unplaced = np.flatnonzero(~found)
        units = np.full(len(lon_f), None, dtype=object)
        if len(unplaced):
            units[unplaced] = oblasts_at(lon_f[unplaced], lat_f[unplaced])
        out = []
        for i in range(len(lon_f)):
            if not found[i]:
                out.append(
                    PlaceDescription(
                        float(lon_f[i]), float(lat_f[i]), None, units[i], None, None, None
                    )
                )
                continue
            j = index[i]
            out.append(
                PlaceDescription(
                    lon=float(lon_f[i]),
                    lat=float(lat_f[i]),
                    settlement=str(self.places.name[j]),
                    oblast=str(self.places.oblast[j]),
                    distance_km=float(dist_m[i]) / 1000.0,
                    azimuth_deg=float(azimuth[i]),
                    compass=compass_point(float(azimuth[i])),
                )
            )
        return out

    def describe(self, lon: float, lat: float) -> PlaceDescription:
        """The place at (lon, lat) in degrees as "3.2 km SE of Toretsk (Donetsk oblast)", "in
        Toretsk (Donetsk oblast)" (under 0.5 km) or "48.3950 N, 37.8478 E" (nothing in range)."""
        return self.describe_many([lon], [lat])[0]

    # --- finding settlements by name -------------------------------------------------------

    @cached_property
    def _name_keys(self) -> NDArray[np.str_]:
        return np.array([name_key(n) for n in self.places.name], dtype=str)

    @cached_property
    def _alt_index(self) -> dict[str, list[int]]:
        index: dict[str, list[int]] = {}
        for i, alts in enumerate(self.places.alt_names):
            for alt in filter(None, str(alts).split("|")):
                index.setdefault(name_key(alt), []).append(i)
        return index

    @cached_property
    def _unit_keys(self) -> dict[str, set[str]]:
        """Folded unit names and labels ("donetsk", "donetskoblast") -> the labels they mean."""
        keys: dict[str, set[str]] = {}
        for unit in oblasts():
            for text in (unit.name, unit.label):
                keys.setdefault(name_key(text), set()).add(unit.label)
        return keys

    def _units(self, oblast: str) -> set[str]:
        labels = self._unit_keys.get(name_key(oblast))
        if not labels:
            known = sorted({u.label for u in oblasts()})
            raise SettlementLookupError(f"unknown oblast {oblast!r}; known: {', '.join(known)}")
        return labels

    def _describe_candidates(self, indices: Iterable[int]) -> str:
        parts = []
        for i in indices:
            s = self.places[i]
            parts.append(
                f"{s.name} ({s.oblast}, population {s.population:,}, {s.lat:.4f} N {s.lon:.4f} E)"
            )
        return "; ".join(parts)

    def matches(self, name: str, oblast: str | None = None) -> list[Settlement]:
        """Every settlement answering to `name` (within `oblast` if given), most populous first.

        Folded names (`name_key`) are compared with GeoNames' names first; only if none match,
        with the alternate names (former names, other romanisations). Empty if nothing matches.
        """
        return [self.places[i] for i in self._match_indices(name, oblast)[0]]

    def _match_indices(self, name: str, oblast: str | None) -> tuple[NDArray[np.int64], NDArray]:
        key = name_key(name)
        if not key:
            raise SettlementLookupError(f"empty settlement name {name!r}")
        allowed = (
            np.isin(self.places.oblast, sorted(self._units(oblast)))
            if oblast is not None
            else np.ones(len(self.places), dtype=bool)
        )
        found = np.flatnonzero((self._name_keys == key) & allowed)
        if len(found) == 0:
            found = np.array([i for i in self._alt_index.get(key, []) if allowed[i]], dtype=int)
        order = np.argsort(-self.places.population[found], kind="stable")
        return found[order].astype(np.int64), allowed

    def find(self, name: str, oblast: str | None = None) -> Settlement:
        """The settlement called `name`, optionally within `oblast` ("Donetsk", "Donetsk oblast",
        "Kyiv city"). Matches the GeoNames name first, then its alternate names, after folding
        with `name_key`. Among several matches the most populous wins if it has at least ten
        times the people of every other; otherwise, or if nothing matches, raises
        `SettlementLookupError` (a KeyError) naming the candidates or the closest names."""
        key = name_key(name)
        order, allowed = self._match_indices(name, oblast)
        where = f" in {oblast}" if oblast is not None else ""
        if len(order) == 1:
            return self.places[order[0]]
        if len(order) > 1:
            top, second = self.places.population[order[:2]]
            if top >= DOMINANCE * max(second, 1):
                return self.places[order[0]]
            raise SettlementLookupError(
                f"{name!r}{where} is ambiguous: {self._describe_candidates(order[:8])}"
                + ("" if oblast else "; give the oblast"),
                tuple(self.places[i] for i in order),
            )
        pool = np.flatnonzero(allowed)
        pool_keys = self._name_keys[pool]
        close_keys = difflib.get_close_matches(
            key, sorted(set(pool_keys.tolist())), n=5, cutoff=0.75
        )
        close = [i for k in close_keys for i in pool[pool_keys == k]]
        close.sort(key=lambda i: -int(self.places.population[i]))
        hint = f"; close matches: {self._describe_candidates(close[:8])}" if close else ""
        raise SettlementLookupError(
            f"no settlement {name!r}{where}{hint}", tuple(self.places[i] for i in close)
        )
