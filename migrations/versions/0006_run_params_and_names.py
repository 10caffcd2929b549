"""run params, display names and tracking runs

Revision ID: 0006_run_params_and_names
Revises: 0005_tokens_and_claims
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_run_params_and_names"
down_revision: str | None = "0005_tokens_and_claims"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "run_param",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.String(length=500), nullable=False),
        sa.Column("type", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["run.id"], name=op.f("fk_run_param_run_id_run"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "key", name=op.f("pk_run_param")),
    )
    with op.batch_alter_table("run_param", schema=None) as batch_op:
        batch_op.create_index("ix_run_param_key_value", ["key", "value", "run_id"], unique=False)

    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name", sa.String(length=250), nullable=True))
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), server_default="training", nullable=False)
        )


def downgrade() -> None:
    # recreate="never": SQLite (3.35+) drops the columns in place (see 0003).
    with op.batch_alter_table("run", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("kind")
        batch_op.drop_column("name")

    with op.batch_alter_table("run_param", schema=None) as batch_op:
        batch_op.drop_index("ix_run_param_key_value")
    op.drop_table("run_param")
