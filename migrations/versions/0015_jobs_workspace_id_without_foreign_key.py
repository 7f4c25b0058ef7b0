"""jobs: workspace_id without its foreign key, no recipient_id index, fallback_of indexed only where set

What a plan's COPY of 10,000 job rows paid per row for nothing:
- the workspace foreign key: the rows copy the plan's workspace, which the plan row's own key checks;
  nothing deletes a workspace and no cascade hung on it;
- the recipient_id index: no query looks jobs up by recipient;
- an entry for each NULL fallback_of: only a fallback job has one, and every lookup is by equality
  (``fallback_of = …`` or ``IN (…)``), which the partial index serves on both databases.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 19:05:53.286677
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# PostgreSQL's name for the key 0001 created unnamed; SQLite's batch mode finds it by this convention.
WORKSPACE_KEY = "distribution_jobs_workspace_id_fkey"
CONVENTION = {"fk": "%(table_name)s_%(column_0_name)s_fkey"}
SET = "fallback_of IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("distribution_jobs", schema=None, naming_convention=CONVENTION) as batch_op:
        batch_op.drop_constraint(WORKSPACE_KEY, type_="foreignkey")
        batch_op.drop_index("ix_distribution_jobs_recipient_id")
        batch_op.drop_index("ix_distribution_jobs_fallback_of")
        batch_op.create_index(
            "ix_jobs_fallback_of",
            ["fallback_of"],
            unique=False,
            sqlite_where=sa.text(SET),
            postgresql_where=sa.text(SET),
        )


def downgrade() -> None:
    with op.batch_alter_table("distribution_jobs", schema=None, naming_convention=CONVENTION) as batch_op:
        batch_op.drop_index("ix_jobs_fallback_of", sqlite_where=sa.text(SET), postgresql_where=sa.text(SET))
        batch_op.create_index("ix_distribution_jobs_fallback_of", ["fallback_of"], unique=False)
        batch_op.create_index("ix_distribution_jobs_recipient_id", ["recipient_id"], unique=False)
        batch_op.create_foreign_key(WORKSPACE_KEY, "workspaces", ["workspace_id"], ["id"])
