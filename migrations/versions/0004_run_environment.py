"""run environment (what a run ran on) and rerun_of (the run it repeats)

Revision ID: 0004_run_environment
Revises: 0003
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_run_environment"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("run", sa.Column("environment", sa.JSON(), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds a column with its foreign key in place; batch mode would copy the run table, which its
        # children's foreign keys (cascade, restrict) forbid or turn into deletes.
        op.execute("ALTER TABLE run ADD COLUMN rerun_of INTEGER REFERENCES run (id)")
    else:
        op.add_column("run", sa.Column("rerun_of", sa.Integer(), nullable=True))
        op.create_foreign_key(op.f("fk_run_rerun_of_run"), "run", "run", ["rerun_of"], ["id"])
    op.create_index("ix_run_rerun_of", "run", ["rerun_of"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_run_rerun_of", table_name="run")
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(op.f("fk_run_rerun_of_run"), "run", type_="foreignkey")
    # recreate="never": SQLite (3.35+) drops the columns in place, its inline foreign key with them.
    with op.batch_alter_table("run", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("rerun_of")
        batch_op.drop_column("environment")
