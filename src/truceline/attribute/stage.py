"""The attribution stage: events in, events with `attribution` and `violations` out.

Runs after the acoustic stage (and, later, the radar stage): every event is attributed
(`truceline.attribute.model`), then checked against the agreement's rules
(`truceline.comply.rules`); the violations are attached to their events, so storing the events
stores them too (the store's `violations` table).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from truceline.agreement.model import Agreement
from truceline.attribute.areas import Integrator
from truceline.attribute.calibration import load_calibration
from truceline.attribute.model import Attributor, with_attribution
from truceline.attribute.weapon import WeaponClassifier, detection_index
from truceline.comply.rules import RulesEngine
from truceline.config import AttributeSettings, ShotsSettings
from truceline.records import Event, Sensor, Violation


class AttributionStage:
    """Attribution and the rules engine over one agreement."""

    def __init__(
        self,
        agreement: Agreement,
        settings: AttributeSettings,
        *,
        shots: ShotsSettings | None = None,
        sensors: Sequence[Sensor] = (),
        snr_by_observation: Mapping[str, tuple[str, float]] | None = None,
    ):
        """`sensors` and `snr_by_observation` ({observation id: (sensor id, snr_db)}) feed the
        loudness evidence of the weapon class; without them only pairing and radar count."""
        integrator = Integrator(agreement, settings.samples)
        classifier = WeaponClassifier(
            settings, shots, detection_index(sensors, snr_by_observation or {})
        )
        self.attributor = Attributor(
            agreement, settings, load_calibration(settings.calibration), integrator, classifier
        )
        self.rules = RulesEngine(agreement, settings, integrator)

    def apply(
        self, events: Sequence[Event], created_ns: int | None = None
    ) -> tuple[list[Event], list[Violation]]:
        """The events with their attribution and violations, and all violations in event order.
        Events of types it cannot attribute pass through unchanged."""
        created = time.time_ns() if created_ns is None else created_ns
        attributions = self.attributor.attribute(events)
        attributed = [with_attribution(e, attributions.get(e.id)) for e in events]
        found = self.rules.violations(attributed, created_ns=created)
        out = [e.refined(violations=tuple(found.get(e.id, ()))) for e in attributed]
        return out, [v for e in out for v in e.violations]
