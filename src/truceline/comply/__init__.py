"""Compliance: events checked against the agreement's rules (the rules engine)."""

from truceline.comply.rules import Breach, RulesEngine

__all__ = ["Breach", "RulesEngine"]
