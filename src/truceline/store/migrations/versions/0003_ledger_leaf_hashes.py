"""The ledger's leaf hashes move to their entries; `ledger_nodes` keeps levels 4 and up only.

Each entry's leaf hash (formerly the level-0 row of `ledger_nodes`) becomes the column
`ledger_entries.leaf_hash`, and the node hashes of levels 0 to 3 (subtrees of fewer than 16
leaves) are no longer kept: they are made again from a block of at most 16 leaf hashes when a
proof needs them (`truceline.ledger.store.LOWEST_STORED_LEVEL`). Roots, proofs and signed
heads are unchanged.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Frozen as of this revision (truceline.ledger.store.LOWEST_STORED_LEVEL).
LOWEST_STORED_LEVEL = 4


def upgrade() -> None:
    op.add_column("ledger_entries", sa.Column("leaf_hash", sa.LargeBinary))
    op.execute(
        "UPDATE ledger_entries SET leaf_hash = (SELECT hash FROM ledger_nodes "
        "WHERE ledger_nodes.level = 0 AND ledger_nodes.idx = ledger_entries.idx)"
    )
    op.execute(f"DELETE FROM ledger_nodes WHERE level < {LOWEST_STORED_LEVEL}")


def downgrade() -> None:
    # The nodes of levels 0 to 3 again, from the leaf hashes (levels 1 to 3 hashed here, as
    # RFC 9162 does: SHA-256(0x01 || left || right)).
    connection = op.get_bind()
    nodes = sa.table(
        "ledger_nodes",
        sa.column("level", sa.SmallInteger),
        sa.column("idx", sa.BigInteger),
        sa.column("hash", sa.LargeBinary),
    )
    rows = connection.execute(
        sa.text(
            "SELECT idx, leaf_hash FROM ledger_entries WHERE leaf_hash IS NOT NULL ORDER BY idx"
        )
    )
    batch: list[dict[str, object]] = []
    pending: dict[int, dict[int, bytes]] = {}
    for index, leaf in rows:
        index, value, level = int(index), bytes(leaf), 0
        while True:
            batch.append({"level": level, "idx": index, "hash": value})
            if level + 1 >= LOWEST_STORED_LEVEL:
                break  # its parent is kept already
            if not index & 1:  # a left child: wait for its sibling
                pending.setdefault(level, {})[index] = value
                break
            left = pending.get(level, {}).pop(index - 1, None)
            if left is None:
                break
            value = hashlib.sha256(b"\x01" + left + value).digest()
            index >>= 1
            level += 1
        if len(batch) >= 5000:
            connection.execute(sa.insert(nodes), batch)
            batch = []
    if batch:
        connection.execute(sa.insert(nodes), batch)
    with op.batch_alter_table("ledger_entries") as table:
        table.drop_column("leaf_hash")
