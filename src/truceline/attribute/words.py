"""Words for probabilities: the U.S. ICD 203 yardstick (default) and the UK PHIA yardstick.

ICD 203 (Analytic Standards, 2015) divides [0, 1] into seven bands with no gaps:

    almost no chance 1-5%, very unlikely 5-20%, unlikely 20-45%, roughly even chance 45-55%,
    likely 55-80%, very likely 80-95%, almost certain 95-99%.

Values below 1% take the lowest band's words and above 99% the highest's. The UK Professional
Head of Intelligence Assessment (PHIA) yardstick leaves deliberate gaps between its bands:

    remote chance <= 5%, highly unlikely 10-20%, unlikely 25-35%, realistic possibility 40-50%,
    likely or probably 55-75%, highly likely 80-90%, almost certain >= 95%.

A value in a gap takes the words of the nearer band (a tie goes to the band nearer 50%), so that
every number has words; the number is always shown beside them.

    >>> describe(0.97)
    'almost certain (97%)'
    >>> describe(0.97, "phia")
    'almost certain (97%)'
    >>> words(0.52, "phia")
    'realistic possibility'
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Band:
    """Words for probabilities from `low` to `high` (both as fractions)."""

    words: str
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class Yardstick:
    id: str
    name: str
    bands: tuple[Band, ...]

    def band(self, probability: float) -> Band:
        """The band whose words describe `probability` (the nearest band for a gap)."""
        p = min(1.0, max(0.0, float(probability)))
        for band in self.bands:
            if band.low <= p <= band.high:
                return band

        def gap(band: Band) -> tuple[float, float]:
            distance = band.low - p if p < band.low else p - band.high
            centre = (band.low + band.high) / 2
            return (round(distance, 12), abs(centre - 0.5))

        return min(self.bands, key=gap)


ICD_203 = Yardstick(
    "icd203",
    "ICD 203",
    (
        Band("almost no chance", 0.0, 0.05),
        Band("very unlikely", 0.05, 0.20),
        Band("unlikely", 0.20, 0.45),
        Band("roughly even chance", 0.45, 0.55),
        Band("likely", 0.55, 0.80),
        Band("very likely", 0.80, 0.95),
        Band("almost certain", 0.95, 1.0),
    ),
)

PHIA = Yardstick(
    "phia",
    "PHIA",
    (
        Band("remote chance", 0.0, 0.05),
        Band("highly unlikely", 0.10, 0.20),
        Band("unlikely", 0.25, 0.35),
        Band("realistic possibility", 0.40, 0.50),
        Band("likely", 0.55, 0.75),
        Band("highly likely", 0.80, 0.90),
        Band("almost certain", 0.95, 1.0),
    ),
)

YARDSTICKS = {y.id: y for y in (ICD_203, PHIA)}


def yardstick(name: str = "icd203") -> Yardstick:
    """The yardstick called `name` (`icd203` or `phia`)."""
    try:
        return YARDSTICKS[name]
    except KeyError:
        raise ValueError(f"unknown yardstick {name!r} (known: {', '.join(YARDSTICKS)})") from None


def words(probability: float, name: str = "icd203") -> str:
    """The yardstick's words for `probability`."""
    return yardstick(name).band(probability).words


def describe(probability: float, name: str = "icd203") -> str:
    """Words and number together: `almost certain (97%)`."""
    p = min(1.0, max(0.0, float(probability)))
    percent = f"{100 * p:.0f}%"
    if percent == "100%" and p < 1:
        percent = ">99%"
    elif percent == "0%" and p > 0:
        percent = "<1%"
    return f"{words(p, name)} ({percent})"
