"""truceline: ceasefire monitoring along a contact line.

Sensor detections become located events with honest uncertainty; events are checked against the
agreement, attributed to a party with a calibrated probability, and kept as verifiable evidence.
"""

__version__ = "0.1.0"
