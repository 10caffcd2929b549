"""Fresh planner statistics on PostgreSQL after a burst of new rows.

PostgreSQL plans from the statistics ANALYZE gathers; autovacuum refreshes them at most once a minute
(`autovacuum_naptime`). A new database that a sweep or a script fills with a thousand runs in seconds is planned
as if its tables were empty until then: the top-100 search by a param at 1,000 fresh runs measured 11.3 ms in the
database with empty statistics and 0.64 ms after ANALYZE (nested loops over an experiment's every run for each
matching param). Twice a second the API compares each table's size on disk (`pg_relation_size`, exact at once) with
the size its statistics were taken at (`pg_class.relpages`) and analyzes a table grown by more than a fifth and a
few pages since, or never analyzed and no longer tiny. The planner itself scales its row estimates by that ratio,
so a table that grew by rewritten rows (dead versions not yet vacuumed) is analyzed too: its rows are no
longer as dense as the statistics say.

The row counters of `pg_stat_user_tables` alone were too slow: a backend reports them at most once a second while
busy and, after its last write, only once it has been idle for ten seconds, so right after a burst they still
describe the tables before it. Read that way, and every 2 s, the tracking benchmark's search at 1,000 runs met
empty statistics three times out of three (p50 16 ms; 5.2-6.7 ms once analyzed). They are still read, as a
second trigger: the size on disk counts the pages of rows not yet committed, which an ANALYZE during a long
transaction records without their rows, and the live-row counter catches that table once those rows are
committed and reported. A pass costs about 1 ms (0.4 ms of this process's CPU).

Tables this database user does not own are left out (PostgreSQL would skip them with a warning on every pass),
and an advisory lock keeps several API processes from analyzing the same tables at once. SQLite's planner
needs no statistics for these queries (measured: the same plans before and after ANALYZE).
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import Engine, bindparam, text

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 0.5  # see the module's docstring
AFTER_FAILURE_SECONDS = 60.0
# The tables a runs page, a search or a metric read plans over.
TABLES = ("run", "run_param", "run_tag", "latest_metric", "metric", "experiment")
# A table is analyzed once it is this share larger than its statistics say, and this many pages (on disk) or rows
# (by the counters) more.
GROWTH, MIN_NEW_PAGES, MIN_NEW_ROWS = 0.2, 2, 50
# Any fixed number the API's processes agree on (pg_try_advisory_lock's key).
LOCK_KEY = 0x78636C_5354  # "xcl" "ST"

_STALE = text(
    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid "
    "WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname IN :tables "
    "AND pg_has_role(c.relowner, 'USAGE') "
    "AND (pg_relation_size(c.oid) >= "
    "(c.relpages * (1 + :growth) + :min_pages) * current_setting('block_size')::bigint "
    "OR CASE WHEN c.reltuples < 0 THEN s.n_mod_since_analyze >= :min_rows "
    "ELSE s.n_live_tup >= c.reltuples * (1 + :growth) + :min_rows END)"
).bindparams(bindparam("tables", expanding=True))


def stale_tables(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        found = connection.execute(
            _STALE,
            {"tables": list(TABLES), "growth": GROWTH, "min_pages": MIN_NEW_PAGES, "min_rows": MIN_NEW_ROWS},
        )
        return sorted(found.scalars())


def analyze_stale(engine: Engine) -> list[str]:
    """ANALYZE each table past the threshold, unless another process holds the lock; returns their names."""
    tables = stale_tables(engine)
    if not tables:
        return []
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if not connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}).scalar():
            return []
        try:
            for table in tables:  # names from the fixed TABLES, never from a request
                connection.exec_driver_sql(f'ANALYZE "{table}"')
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
    return tables


async def keep_fresh(engine: Engine, interval: float = INTERVAL_SECONDS) -> None:
    """The API's background task (PostgreSQL only); after a failure (the database unreachable) it waits longer
    before the next pass, so a down database does not fill the log every few seconds."""
    delay = interval
    while True:
        await asyncio.sleep(delay)
        try:
            await asyncio.to_thread(analyze_stale, engine)
            delay = interval
        except Exception:
            log.exception("refreshing planner statistics failed; next try in %.0f s", AFTER_FAILURE_SECONDS)
            delay = AFTER_FAILURE_SECONDS
