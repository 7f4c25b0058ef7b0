"""job queued_for and the unqueued index

Rows written before this revision have no ``queued_for``: the scheduler tick sends one message for
each of them still waiting within the enqueue horizon, a harmless duplicate (claims are idempotent).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_WHERE = sa.text("queued_for IS NOT next_attempt_at")
POSTGRESQL_WHERE = sa.text("queued_for IS DISTINCT FROM next_attempt_at")


def upgrade() -> None:
    with op.batch_alter_table("distribution_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("queued_for", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.create_index(
            "ix_jobs_unqueued",
            ["next_attempt_at"],
            unique=False,
            sqlite_where=SQLITE_WHERE,
            postgresql_where=POSTGRESQL_WHERE,
        )


def downgrade() -> None:
    with op.batch_alter_table("distribution_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_unqueued", sqlite_where=SQLITE_WHERE, postgresql_where=POSTGRESQL_WHERE)
        batch_op.drop_column("queued_for")
