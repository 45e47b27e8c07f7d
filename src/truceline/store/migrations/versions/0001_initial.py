"""The initial schema: sensors, observations, quarantine, events, violations, reviews, runs.

Revision ID: 0001
Revises:
Create Date: 2026-03-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies of the types in schema.py as of this revision: a migration never imports the
# current schema, which later revisions change.
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


def upgrade() -> None:
    op.create_table(
        "sensors",
        sa.Column("id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("operator", sa.Text, nullable=False),
        sa.Column("lon", sa.Double, nullable=False),
        sa.Column("lat", sa.Double, nullable=False),
        sa.Column("elevation_m", sa.Double),
        sa.Column("timing_sigma_s", sa.Double, nullable=False),
        sa.Column("public_key", sa.Text),
        sa.Column("properties", Json, nullable=False),
        sa.Column("raw", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_sensors"),
    )

    op.create_table(
        "observations",
        sa.Column("id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("sensor", sa.Text, nullable=False),
        sa.Column("time_ns", sa.BigInteger, nullable=False),
        sa.Column("received_ns", sa.BigInteger, nullable=False),
        sa.Column("raw", sa.Text, nullable=False),
        sa.Column("signature", sa.Text),
        sa.Column("fields", Json, nullable=False),
        sa.Column("run_id", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_observations"),
    )
    op.create_index("ix_observations_time_ns", "observations", ["time_ns"])
    op.create_index("ix_observations_sensor_time_ns", "observations", ["sensor", "time_ns"])

    op.create_table(
        "quarantine",
        sa.Column("id", AutoId, nullable=False, autoincrement=True),
        sa.Column("raw", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("reason_code", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("received_ns", sa.BigInteger, nullable=False),
        sa.Column("observation_id", sa.Text),
        sa.Column("run_id", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_quarantine"),
    )
    op.create_index("ix_quarantine_reason_code", "quarantine", ["reason_code"])
    op.create_index("ix_quarantine_observation_id", "quarantine", ["observation_id"])

    op.create_table(
        "events",
        sa.Column("id", sa.Text, nullable=False),
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
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )
    op.create_index("ix_events_time_ns", "events", ["time_ns"])

    op.create_table(
        "violations",
        sa.Column("id", sa.Text, nullable=False),
        sa.Column("rule", sa.Text, nullable=False),
        sa.Column("article", sa.Text, nullable=False),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("party", sa.Text),
        sa.Column("probability", sa.Double, nullable=False),
        sa.Column("explanation", sa.Text, nullable=False),
        *_provenance_columns(),
        sa.Column("run_id", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_violations"),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name="fk_violations_event_id_events", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_violations_event_id", "violations", ["event_id"])

    op.create_table(
        "reviews",
        sa.Column("id", AutoId, nullable=False, autoincrement=True),
        sa.Column("target_id", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("by", sa.Text, nullable=False),
        sa.Column("time_ns", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reviews"),
    )
    op.create_index("ix_reviews_target_id", "reviews", ["target_id"])

    op.create_table(
        "runs",
        sa.Column("run_id", sa.Text, nullable=False),
        sa.Column("command", sa.Text, nullable=False),
        sa.Column("started_ns", sa.BigInteger, nullable=False),
        sa.Column("finished_ns", sa.BigInteger),
        sa.Column("settings", Json, nullable=False),
        sa.Column("summary", Json),
        sa.PrimaryKeyConstraint("run_id", name="pk_runs"),
    )


def downgrade() -> None:
    for table in (
        "runs",
        "reviews",
        "violations",
        "events",
        "quarantine",
        "observations",
        "sensors",
    ):
        op.drop_table(table)
