"""plan stagger

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 15:57:07.429739
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("distribution_plans", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "stagger", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("distribution_plans", schema=None) as batch_op:
        batch_op.drop_column("stagger")
