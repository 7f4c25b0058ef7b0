"""a job's last attempt may have landed (outcome unknown); what a reconciliation found

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("distribution_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outcome_unknown", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("delivery_attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reconciled", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("delivery_attempts", schema=None) as batch_op:
        batch_op.drop_column("reconciled")
    with op.batch_alter_table("distribution_jobs", schema=None) as batch_op:
        batch_op.drop_column("outcome_unknown")
