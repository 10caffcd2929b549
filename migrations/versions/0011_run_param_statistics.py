"""run_param: PostgreSQL statistics on (key, value) together

Revision ID: 0011_run_param_statistics
Revises: 0007_run_logs
Create Date: 2026-11-30

A param filter (`param=arch:resnet50`) matches rows by key and value together, and the two are correlated (each
key has its own few values). PostgreSQL estimates such a pair as if independent: 177 rows for 2,011 at 10,000
runs of ten params, so it joined an experiment's every run instead of walking the sort index and stopping at the
page (7.9 -> 2.6 ms for the top-100 search in the database). Extended statistics (functional dependencies and the
most common pairs) give it the right count. SQLite has no such object; nothing to do there.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011_run_param_statistics"
down_revision: str | None = "0007_run_logs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "st_run_param_key_value"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE STATISTICS IF NOT EXISTS {NAME} (dependencies, mcv) ON key, value FROM run_param")
        op.execute("ANALYZE run_param")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP STATISTICS IF EXISTS {NAME}")
