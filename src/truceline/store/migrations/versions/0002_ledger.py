"""The evidence ledger: entries (the leaves), node hashes of complete subtrees, signed heads.

Revision ID: 0002
Revises: 0001
Create Date: 2026-03-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Frozen copies of the types in schema.py as of this revision.
AutoId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LeafIndex = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ledger_entries",
        sa.Column("idx", LeafIndex, nullable=False, autoincrement=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("record_id", sa.Text),
        sa.Column("content_hash", sa.LargeBinary, nullable=False),
        sa.Column("supersedes", sa.BigInteger),
        sa.Column("data", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("idx", name="pk_ledger_entries"),
    )
    op.create_index("ix_ledger_entries_kind_record_id", "ledger_entries", ["kind", "record_id"])

    op.create_table(
        "ledger_nodes",
        sa.Column("level", sa.SmallInteger, nullable=False, autoincrement=False),
        sa.Column("idx", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("hash", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name="pk_ledger_nodes"),
    )

    op.create_table(
        "ledger_heads",
        sa.Column("id", AutoId, nullable=False, autoincrement=True),
        sa.Column("tree_size", sa.BigInteger, nullable=False),
        sa.Column("root_hash", sa.LargeBinary, nullable=False),
        sa.Column("timestamp_ns", sa.BigInteger, nullable=False),
        sa.Column("key_id", sa.Text, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_heads"),
    )
    op.create_index("ix_ledger_heads_tree_size", "ledger_heads", ["tree_size"])


def downgrade() -> None:
    op.drop_table("ledger_heads")
    op.drop_table("ledger_nodes")
    op.drop_table("ledger_entries")
