"""Attribution: which party is responsible for each event, and how sure we are
(docs/methods.md, Attribution)."""

from truceline.attribute.calibration import CalibrationMap, fit_calibration, load_calibration
from truceline.attribute.model import Attribution, Attributor
from truceline.attribute.stage import AttributionStage
from truceline.attribute.words import ICD_203, PHIA, describe, words, yardstick

__all__ = [
    "ICD_203",
    "PHIA",
    "Attribution",
    "AttributionStage",
    "Attributor",
    "CalibrationMap",
    "describe",
    "fit_calibration",
    "load_calibration",
    "words",
    "yardstick",
]
