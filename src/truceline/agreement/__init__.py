"""Agreement as code: parties, control areas, the contact line, zones and rules, loaded from files
and validated; the geometry derived from them (distance to the line, sides, withdrawal zones)."""

from truceline.agreement.load import bundled_agreements, load_agreement, resolve_agreement_path
from truceline.agreement.model import NO_PARTY, Agreement, Party, Rule, RuleKind, Sector, Zone

__all__ = [
    "NO_PARTY",
    "Agreement",
    "Party",
    "Rule",
    "RuleKind",
    "Sector",
    "Zone",
    "bundled_agreements",
    "load_agreement",
    "resolve_agreement_path",
]
