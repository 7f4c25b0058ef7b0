"""jobs workspace id without foreign key: a plan's job rows copy the plan's workspace

The plan row's own foreign key checks the workspace; checking it again for each of a 10,000-job
plan's rows cost a trigger call per row of the plan's COPY. Nothing deletes a workspace, and no
cascade hung on this key.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 19:05:53.286677
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# PostgreSQL's name for the key 0001 created unnamed; SQLite's batch mode finds it by this convention.
NAME = "distribution_jobs_workspace_id_fkey"
CONVENTION = {"fk": "%(table_name)s_%(column_0_name)s_fkey"}


def upgrade() -> None:
    with op.batch_alter_table("distribution_jobs", schema=None, naming_convention=CONVENTION) as batch_op:
        batch_op.drop_constraint(NAME, type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("distribution_jobs", schema=None, naming_convention=CONVENTION) as batch_op:
        batch_op.create_foreign_key(NAME, "workspaces", ["workspace_id"], ["id"])
