"""jobs plan id index: a plan's jobs in id order (the console's pages of a large plan) without a sort

Replaces the plan_id index with (plan_id, id), which serves every plan_id lookup as well.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 16:13:28.731363
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("distribution_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_distribution_jobs_plan_id"))
        batch_op.create_index("ix_jobs_plan_id_id", ["plan_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("distribution_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_plan_id_id")
        batch_op.create_index(batch_op.f("ix_distribution_jobs_plan_id"), ["plan_id"], unique=False)
