from __future__ import annotations

import pytest

from truceline.attribute.words import ICD_203, PHIA, describe, words, yardstick


@pytest.mark.parametrize(
    ("p", "expected"),
    [
        (0.0, "almost no chance"),
        (0.03, "almost no chance"),
        (0.10, "very unlikely"),
        (0.30, "unlikely"),
        (0.50, "roughly even chance"),
        (0.70, "likely"),
        (0.90, "very likely"),
        (0.97, "almost certain"),
        (1.0, "almost certain"),
    ],
)
def test_icd_203_bands(p, expected):
    assert words(p) == expected


@pytest.mark.parametrize(
    ("p", "expected"),
    [
        (0.02, "remote chance"),
        (0.15, "highly unlikely"),
        (0.30, "unlikely"),
        (0.45, "realistic possibility"),
        (0.65, "likely"),
        (0.85, "highly likely"),
        (0.99, "almost certain"),
        # gaps go to the nearer band; a tie to the band nearer 50%
        (0.07, "remote chance"),
        (0.925, "highly likely"),
        (0.525, "realistic possibility"),
    ],
)
def test_phia_bands_and_gaps(p, expected):
    assert words(p, "phia") == expected


def test_number_and_words_together():
    assert describe(0.973) == "almost certain (97%)"
    assert describe(0.9996) == "almost certain (>99%)"
    assert describe(0.001) == "almost no chance (<1%)"
    assert describe(0.62, "phia") == "likely (62%)"


def test_yardsticks_cover_the_unit_interval():
    for stick in (ICD_203, PHIA):
        assert stick.bands[0].low == 0.0 and stick.bands[-1].high == 1.0
        for a, b in zip(stick.bands, stick.bands[1:], strict=False):
            assert a.high <= b.low
    with pytest.raises(ValueError, match="unknown yardstick"):
        yardstick("nato")
