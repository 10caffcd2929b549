"""run priority

Revision ID: 0010_run_priority
Revises: 0009_workers
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_run_priority"
down_revision: str | None = "0009_workers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("priority", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    # recreate="never": SQLite (3.35+) drops the column in place. Copying the run table instead would, with foreign
    # keys on, cascade-delete its children (metrics, artifacts) and turn inline foreign keys into table ones.
    with op.batch_alter_table("run", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("priority")
