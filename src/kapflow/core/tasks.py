"""Scheduled housekeeping for core: idempotency records older than 24 hours are deleted
(decision 0038). Schedule `kapflow idempotency_purge --enqueue` at least daily."""

from django_tasks import task


@task()
def idempotency_purge_task() -> dict:
    from kapflow.core.idempotency import idempotency_purge

    return {"deleted": idempotency_purge()}
