"""The store's tables, in SQLAlchemy Core with types portable between SQLite and PostgreSQL.

Times are BIGINT nanoseconds since the Unix epoch, UTC; coordinates DOUBLE degrees (WGS 84);
mappings and lists JSON. The migration scripts under `migrations/versions/` create exactly these
tables; `tests/store/test_migrations.py` checks that the two agree.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# An auto-incrementing key: BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite.
AutoId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON(none_as_null=True)


def _provenance_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("evaluation_mode", sa.Text, nullable=False),
        sa.Column("evaluation_status", sa.Text, nullable=False),
        sa.Column("author", sa.Text, nullable=False),
        sa.Column("created_ns", sa.BigInteger, nullable=False),
        sa.Column("method", sa.Text),
        sa.Column("inputs", Json, nullable=False),
    ]


sensors = sa.Table(
    "sensors",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("operator", sa.Text, nullable=False),
    sa.Column("lon", sa.Double, nullable=False),
    sa.Column("lat", sa.Double, nullable=False),
    sa.Column("elevation_m", sa.Double),
    sa.Column("timing_sigma_s", sa.Double, nullable=False),
    sa.Column("public_key", sa.Text),
    sa.Column("properties", Json, nullable=False),
    sa.Column("raw", sa.Text),
)

observations = sa.Table(
    "observations",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("sensor", sa.Text, nullable=False),
    sa.Column("time_ns", sa.BigInteger, nullable=False),
    sa.Column("received_ns", sa.BigInteger, nullable=False),
    sa.Column("raw", sa.Text, nullable=False),
    sa.Column("signature", sa.Text),
    sa.Column("fields", Json, nullable=False),
    sa.Column("run_id", sa.Text),
    sa.Index("ix_observations_time_ns", "time_ns"),
    sa.Index("ix_observations_sensor_time_ns", "sensor", "time_ns"),
)

quarantine = sa.Table(
    "quarantine",
    metadata,
    sa.Column("id", AutoId, primary_key=True, autoincrement=True),
    sa.Column("raw", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("reason_code", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("received_ns", sa.BigInteger, nullable=False),
    sa.Column("observation_id", sa.Text),
    sa.Column("run_id", sa.Text),
    sa.Index("ix_quarantine_reason_code", "reason_code"),
    sa.Index("ix_quarantine_observation_id", "observation_id"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("time_ns", sa.BigInteger, nullable=False),
    sa.Column("lon", sa.Double, nullable=False),
    sa.Column("lat", sa.Double, nullable=False),
    sa.Column("ellipse_major_m", sa.Double),
    sa.Column("ellipse_minor_m", sa.Double),
    sa.Column("ellipse_azimuth_deg", sa.Double),
    sa.Column("covariance", Json),
    sa.Column("rms_residual_s", sa.Double),
    sa.Column("n_sensors", sa.Integer, nullable=False),
    sa.Column("evidence", Json, nullable=False),
    sa.Column("paired", sa.Text),
    sa.Column("path", Json),
    sa.Column("attribution", Json, nullable=False),
    *_provenance_columns(),
    sa.Column("properties", Json, nullable=False),
    sa.Column("run_id", sa.Text),
    sa.Index("ix_events_time_ns", "time_ns"),
)

violations = sa.Table(
    "violations",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("rule", sa.Text, nullable=False),
    sa.Column("article", sa.Text, nullable=False),
    sa.Column("event_id", sa.Text, sa.ForeignKey("events.id", ondelete="CASCADE"), nullable=False),
    sa.Column("party", sa.Text),
    sa.Column("probability", sa.Double, nullable=False),
    sa.Column("explanation", sa.Text, nullable=False),
    *_provenance_columns(),
    sa.Column("run_id", sa.Text),
    sa.Index("ix_violations_event_id", "event_id"),
)

reviews = sa.Table(
    "reviews",
    metadata,
    sa.Column("id", AutoId, primary_key=True, autoincrement=True),
    sa.Column("target_id", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("by", sa.Text, nullable=False),
    sa.Column("time_ns", sa.BigInteger, nullable=False),
    sa.Index("ix_reviews_target_id", "target_id"),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("run_id", sa.Text, primary_key=True),
    sa.Column("command", sa.Text, nullable=False),
    sa.Column("started_ns", sa.BigInteger, nullable=False),
    sa.Column("finished_ns", sa.BigInteger),
    sa.Column("settings", Json, nullable=False),
    sa.Column("summary", Json),
)

# -- the evidence ledger (truceline.ledger; docs/ledger.md) -------------------------------------

# Leaf index: the rowid itself on SQLite.
LeafIndex = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

ledger_entries = sa.Table(
    "ledger_entries",
    metadata,
    sa.Column("idx", LeafIndex, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("record_id", sa.Text),
    sa.Column("content_hash", sa.LargeBinary, nullable=False),
    sa.Column("supersedes", sa.BigInteger),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("leaf_hash", sa.LargeBinary),  # SHA-256(0x00 || data); null: none kept
    sa.Index("ix_ledger_entries_kind_record_id", "kind", "record_id"),
)

# The hashes of the complete subtrees of 16 leaves or more (truceline.ledger.store
# LOWEST_STORED_LEVEL): the lower ones are made from the entries' leaf hashes when needed.
ledger_nodes = sa.Table(
    "ledger_nodes",
    metadata,
    sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hash", sa.LargeBinary, nullable=False),
)

ledger_heads = sa.Table(
    "ledger_heads",
    metadata,
    sa.Column("id", AutoId, primary_key=True, autoincrement=True),
    sa.Column("tree_size", sa.BigInteger, nullable=False),
    sa.Column("root_hash", sa.LargeBinary, nullable=False),
    sa.Column("timestamp_ns", sa.BigInteger, nullable=False),
    sa.Column("key_id", sa.Text, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Index("ix_ledger_heads_tree_size", "tree_size"),
)
