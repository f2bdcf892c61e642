"""Scheduled housekeeping for core: idempotency records older than 24 hours are deleted
(decision 0038). Schedule `kapflow idempotency_purge --enqueue` at least daily. On SQLite,
the planner's statistics are refreshed daily (decision 0043)."""

from django_tasks import task


@task()
def idempotency_purge_task() -> dict:
    from kapflow.core.idempotency import idempotency_purge

    return {"deleted": idempotency_purge()}


@task()
def sqlite_optimize_task() -> dict:
    """ANALYZE (bounded) and PRAGMA optimize on SQLite; nothing on PostgreSQL."""
    from kapflow.core.sqlite import optimize

    return {"seconds": round(optimize(), 3)}
