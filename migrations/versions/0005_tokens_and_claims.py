"""api tokens with roles (stored hashed) and the token that claimed a run

Revision ID: 0005_tokens_and_claims
Revises: 0010_run_priority
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_tokens_and_claims"
down_revision: str | None = "0010_run_priority"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_api_token_token_sha256")),
    )
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claim_token_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    # recreate="never": SQLite (3.35+) drops the column in place. Copying the run table instead would, with foreign
    # keys on, cascade-delete its children (metrics, artifacts) and turn inline foreign keys into table ones.
    with op.batch_alter_table("run", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("claim_token_id")
    op.drop_table("api_token")
