"""schedules, their runs, and the plan columns for schedules, pause and haltWhen

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 12:51:51.945417
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "distribution_schedules",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("workspace_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column(
            "spec", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("overlap", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("catchup_window_seconds", sa.Float(), nullable=False),
        sa.Column("remaining_runs", sa.Integer(), nullable=True),
        sa.Column(
            "template", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "content_source",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "conditions", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("next_nominal_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("next_fire_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("runs_started", sa.Integer(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workspace_id", "name", name="uq_schedules_workspace_name"),
    )
    with op.batch_alter_table("distribution_schedules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_distribution_schedules_workspace_id"), ["workspace_id"], unique=False)
        batch_op.create_index("ix_schedules_next_fire", ["paused", "next_fire_at"], unique=False)

    op.create_table(
        "schedule_runs",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("workspace_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("schedule_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("nominal_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("due_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("trigger", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("overlap", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("plan_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("content_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("finished_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["distribution_schedules.id"],
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("schedule_id", "nominal_at", name="uq_schedule_runs_occurrence"),
    )
    with op.batch_alter_table("schedule_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_schedule_runs_schedule_id"), ["schedule_id"], unique=False)
        batch_op.create_index("ix_schedule_runs_status_due", ["status", "due_at"], unique=False)

    with op.batch_alter_table("distribution_plans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("schedule_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True))
        batch_op.add_column(sa.Column("scheduled_for", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "halt_when",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("paused_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True))
        batch_op.add_column(sa.Column("paused_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_distribution_plans_schedule_id"), ["schedule_id"], unique=False)
        batch_op.create_unique_constraint("uq_plans_schedule_occurrence", ["schedule_id", "scheduled_for"])


def downgrade() -> None:

    with op.batch_alter_table("distribution_plans", schema=None) as batch_op:
        batch_op.drop_constraint("uq_plans_schedule_occurrence", type_="unique")
        batch_op.drop_index(batch_op.f("ix_distribution_plans_schedule_id"))
        batch_op.drop_column("paused_at")
        batch_op.drop_column("paused_reason")
        batch_op.drop_column("halt_when")
        batch_op.drop_column("scheduled_for")
        batch_op.drop_column("schedule_id")

    with op.batch_alter_table("schedule_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_schedule_runs_status_due")
        batch_op.drop_index(batch_op.f("ix_schedule_runs_schedule_id"))

    op.drop_table("schedule_runs")
    with op.batch_alter_table("distribution_schedules", schema=None) as batch_op:
        batch_op.drop_index("ix_schedules_next_fire")
        batch_op.drop_index(batch_op.f("ix_distribution_schedules_workspace_id"))

    op.drop_table("distribution_schedules")
