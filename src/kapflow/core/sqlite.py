"""SQLite care (decision 0043): statistics for SQLite's query planner, and the signs that an
installation has outgrown SQLite.

SQLite plans without statistics until ANALYZE has run, and nothing ran it: at 10,000 clients
the practice outcomes report's old query took 30.6 s on a never-analysed database and 65 ms
after one ANALYZE. `optimize` runs ANALYZE (bounded by `analysis_limit`, so it reads about a
thousand rows per index however large the file) and `PRAGMA optimize`: after every migrate
(the post_migrate receiver in core.apps) and daily (the scheduler's `sqlite_optimize` job).

`outgrown` says why a practice should move to PostgreSQL (docs/deploy.md), for the practice
admin's home and `manage.py check` (core.W001): more than OUTGROWN_CLIENTS clients, a file of
more than OUTGROWN_BYTES, or a write that gave up waiting for the lock in the last
LOCK_TIMEOUT_DAYS days (recorded by `lock_timeout_record`, beside the database file: the
database itself is what was locked).

Nothing here does anything on PostgreSQL, whose autovacuum keeps its statistics. Reads no
PHI: counts, sizes and file times only.
"""

import logging
import os
import time
from datetime import timedelta
from pathlib import Path

from django.db import DatabaseError, connections

from kapflow.core import clock

logger = logging.getLogger(__name__)

ANALYSIS_LIMIT = 1000  # rows ANALYZE reads per index: milliseconds, and plans as good
# SQLite serialises every write, and every page view writes its audit row. Past these the
# decision (0043) says PostgreSQL: a practice of this size has several clinicians writing at
# once, and a file this large makes the nightly copy and a restore slow.
OUTGROWN_CLIENTS = 2000
OUTGROWN_BYTES = 1024**3
LOCK_TIMEOUT_DAYS = 30
LOCK_MARK_SUFFIX = ".lock-timeouts"


def is_sqlite(using: str = "default") -> bool:
    return connections[using].vendor == "sqlite"


def database_file(using: str = "default") -> Path | None:
    """The SQLite database's file, or None (PostgreSQL, or an in-memory test database)."""
    if not is_sqlite(using):
        return None
    name = str(connections[using].settings_dict["NAME"] or "")
    if not name or name == ":memory:" or name.startswith("file:"):
        return None
    return Path(name)


def optimize(*, using: str = "default") -> float:
    """Refresh the planner's statistics: ANALYZE within ANALYSIS_LIMIT rows per index, then
    PRAGMA optimize. Returns the seconds it took; 0 and nothing done on PostgreSQL."""
    if not is_sqlite(using):
        return 0.0
    started = time.perf_counter()
    with connections[using].cursor() as cursor:
        cursor.execute(f"PRAGMA analysis_limit = {int(ANALYSIS_LIMIT)}")
        cursor.execute("ANALYZE")
        cursor.execute("PRAGMA optimize")
    seconds = time.perf_counter() - started
    logger.info("sqlite.optimize", extra={"seconds": round(seconds, 3)})
    return seconds


def optimize_after_migrate(sender, *, using: str = "default", **kwargs) -> None:
    """post_migrate receiver (connected once, for the core app): statistics for the schema
    migrate just changed, and for data an upgrade finds already there."""
    optimize(using=using)


def _lock_mark(using: str) -> Path | None:
    path = database_file(using)
    return None if path is None else path.with_name(path.name + LOCK_MARK_SUFFIX)


def lock_timeout_record(exc: BaseException, *, using: str = "default") -> bool:
    """Note that a write gave up waiting for SQLite's lock ("database is locked"): the sign of
    writers that SQLite cannot serve at once. Touches a file beside the database. Returns
    whether `exc` was such an error."""
    if not isinstance(exc, DatabaseError) or "database is locked" not in str(exc):
        return False
    mark = _lock_mark(using)
    if mark is not None:
        try:
            mark.touch()
        except OSError:
            logger.warning("sqlite.lock_mark_unwritable")
    logger.warning("sqlite.lock_timeout")
    return True


def on_request_exception(sender, request=None, **kwargs) -> None:
    """got_request_exception receiver: record a lock timeout that reached a response."""
    import sys

    exc = sys.exc_info()[1]
    if exc is not None and is_sqlite():
        lock_timeout_record(exc)


def outgrown(*, using: str = "default") -> list[str]:
    """Why this installation should move to PostgreSQL, in plain sentences; empty when it
    should not (or already runs on PostgreSQL). One COUNT and two file stats."""
    path = database_file(using)
    if path is None or not path.exists():
        return []
    reasons = []
    try:
        with connections[using].cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM patients_client")
            clients = cursor.fetchone()[0]
    except DatabaseError:  # not migrated yet
        clients = 0
    if clients > OUTGROWN_CLIENTS:
        reasons.append(
            f"It holds {clients:,} client records (SQLite suits up to {OUTGROWN_CLIENTS:,})."
        )
    size = sum(os.path.getsize(p) for p in (path, Path(f"{path}-wal")) if os.path.exists(p))
    if size > OUTGROWN_BYTES:
        reasons.append(f"The database file is {size / 1024**3:.1f} GB (SQLite suits up to 1 GB).")
    mark = _lock_mark(using)
    if mark is not None and mark.exists():
        seen = clock.now().timestamp() - mark.stat().st_mtime
        if seen < timedelta(days=LOCK_TIMEOUT_DAYS).total_seconds():
            reasons.append(
                "A change was refused in the last 30 days because another was being written "
                'at the same moment ("database is locked").'
            )
    return reasons


def check_sqlite_outgrown(app_configs=None, **kwargs) -> list:
    """core.W001: the installation has outgrown SQLite (see `outgrown`)."""
    from django.core import checks

    if not is_sqlite():
        return []
    return [
        checks.Warning(
            f"This installation has outgrown SQLite: {reason}",
            hint="Move to PostgreSQL: docs/deploy.md, 'Moving from SQLite to PostgreSQL' "
            "(kapflow copy_to_postgres).",
            id="core.W001",
        )
        for reason in outgrown()
    ]
