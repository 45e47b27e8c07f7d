"""The evidence ledger: every record truceline keeps, appended to a Merkle log (RFC 9162).

See docs/ledger.md for the design and docs/evidence-format.md for the exported bundle.
"""
