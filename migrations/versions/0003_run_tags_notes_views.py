"""run tags and notes, metric sort index, saved views

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "run_tag",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=50), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["run.id"], name=op.f("fk_run_tag_run_id_run"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "tag", name=op.f("pk_run_tag")),
    )
    with op.batch_alter_table("run_tag", schema=None) as batch_op:
        batch_op.create_index("ix_run_tag_tag", ["tag", "run_id"], unique=False)

    op.create_table(
        "saved_view",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_view")),
        sa.UniqueConstraint("name", name=op.f("uq_saved_view_name")),
    )

    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("notes", sa.Text(), server_default="", nullable=False))

    with op.batch_alter_table("latest_metric", schema=None) as batch_op:
        batch_op.create_index("ix_latest_metric_key_value", ["key", "value", "run_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("latest_metric", schema=None) as batch_op:
        batch_op.drop_index("ix_latest_metric_key_value")

    # recreate="never": SQLite (3.35+) drops the column in place. Copying the run table instead would drop the
    # old one, which its children's foreign keys (cascade, restrict) forbid or turn into deletes.
    with op.batch_alter_table("run", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("notes")

    op.drop_table("saved_view")
    with op.batch_alter_table("run_tag", schema=None) as batch_op:
        batch_op.drop_index("ix_run_tag_tag")

    op.drop_table("run_tag")
