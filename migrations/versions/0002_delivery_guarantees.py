"""circuit breaker, limits, holds, dead letters, operational events

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "operational_events",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("workspace_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("type", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("target_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("plan_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("job_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("message", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column(
            "data", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("operational_events", schema=None) as batch_op:
        batch_op.create_index("ix_events_workspace_created", ["workspace_id", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_operational_events_type"), ["type"], unique=False)

    op.create_table(
        "dead_letters",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("workspace_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("job_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("plan_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("target_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("error_class", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "request", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "response", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("replayed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("replay_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["distribution_jobs.id"],
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_id"),
    )
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dead_letters_plan_id"), ["plan_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_dead_letters_target_id"), ["target_id"], unique=False)
        batch_op.create_index("ix_dead_letters_workspace_created", ["workspace_id", "created_at"], unique=False)

    with op.batch_alter_table("delivery_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_attempts_target_started", ["target_id", "started_at"], unique=False)

    with op.batch_alter_table("distribution_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("held_reason", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True))

    with op.batch_alter_table("distribution_targets", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "rate_limit",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("max_concurrency", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "circuit_state", sqlmodel.sql.sqltypes.AutoString(length=20), server_default="closed", nullable=False
            )
        )
        batch_op.add_column(sa.Column("circuit_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("circuit_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True))
        batch_op.add_column(sa.Column("circuit_changed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("circuit_probe_job_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True)
        )


def downgrade() -> None:

    with op.batch_alter_table("distribution_targets", schema=None) as batch_op:
        batch_op.drop_column("circuit_probe_job_id")
        batch_op.drop_column("circuit_changed_at")
        batch_op.drop_column("circuit_reason")
        batch_op.drop_column("circuit_until")
        batch_op.drop_column("circuit_state")
        batch_op.drop_column("max_concurrency")
        batch_op.drop_column("rate_limit")

    with op.batch_alter_table("distribution_jobs", schema=None) as batch_op:
        batch_op.drop_column("held_reason")

    with op.batch_alter_table("delivery_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_attempts_target_started")

    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.drop_index("ix_dead_letters_workspace_created")
        batch_op.drop_index(batch_op.f("ix_dead_letters_target_id"))
        batch_op.drop_index(batch_op.f("ix_dead_letters_plan_id"))

    op.drop_table("dead_letters")
    with op.batch_alter_table("operational_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_operational_events_type"))
        batch_op.drop_index("ix_events_workspace_created")

    op.drop_table("operational_events")
