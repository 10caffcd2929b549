"""grids and run dependencies

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "grid",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiment.id"],
            name=op.f("fk_grid_experiment_id_experiment"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grid")),
    )
    with op.batch_alter_table("grid", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_grid_experiment_id"), ["experiment_id"], unique=False)

    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("grid_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("cell", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("generator_run_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_run_generator_run_id"), ["generator_run_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_run_grid_id"), ["grid_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_run_grid_id_grid"), "grid", ["grid_id"], ["id"], ondelete="SET NULL"
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_run_generator_run_id_run"),
            "run",
            ["generator_run_id"],
            ["id"],
            ondelete="RESTRICT",
        )


def downgrade() -> None:

    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_run_generator_run_id_run"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_run_grid_id_grid"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_run_grid_id"))
        batch_op.drop_index(batch_op.f("ix_run_generator_run_id"))
        batch_op.drop_column("generator_run_id")
        batch_op.drop_column("cell")
        batch_op.drop_column("grid_id")

    with op.batch_alter_table("grid", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grid_experiment_id"))

    op.drop_table("grid")
