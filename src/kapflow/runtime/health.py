"""Readiness checks: can this process serve? The database answers, the cache answers, and a
task worker has beaten recently (when the task backend needs one).

Each check returns None when fine, else a short reason with no detail from the failure (no
host names, no error text): the answer is public.
"""

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from kapflow.core import clock

logger = logging.getLogger(__name__)

IMMEDIATE_BACKENDS = (
    "django_tasks.backends.immediate.ImmediateBackend",
    "django_tasks.backends.dummy.DummyBackend",
)


def check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        logger.warning("health.database_failed", exc_info=True)
        return "unreachable"
    return None


def check_cache() -> str | None:
    key = f"kapflow:health:{uuid.uuid4().hex}"
    try:
        cache.set(key, "1", timeout=10)
        ok = cache.get(key) == "1"
        cache.delete(key)
    except Exception:
        logger.warning("health.cache_failed", exc_info=True)
        return "unreachable"
    return None if ok else "not storing"


def task_backend() -> str:
    return settings.TASKS["default"]["BACKEND"]


def check_worker() -> str | None:
    """A worker beat within KAPFLOW_WORKER_STALE_SECONDS; nothing to check when tasks run in
    the request (immediate backend)."""
    backend = task_backend()
    if backend in IMMEDIATE_BACKENDS:
        return None
    stale_after = timedelta(seconds=settings.KAPFLOW_WORKER_STALE_SECONDS)
    try:
        if backend.endswith("RQBackend"):
            return _check_rq_workers(stale_after)
        from kapflow.runtime.models import Heartbeat, ProcessKind

        recent = Heartbeat.objects.filter(
            kind=ProcessKind.WORKER, seen_at__gte=clock.now() - stale_after
        ).exists()
    except Exception:
        logger.warning("health.worker_failed", exc_info=True)
        return "unknown"
    return None if recent else "no recent heartbeat"


def _check_rq_workers(stale_after: timedelta) -> str | None:
    import django_rq
    from rq import Worker

    now = clock.now()
    for worker in Worker.all(connection=django_rq.get_connection("default")):
        beat = worker.last_heartbeat
        if beat is not None and beat.tzinfo is None:
            from datetime import UTC

            beat = beat.replace(tzinfo=UTC)
        if beat is not None and beat >= now - stale_after:
            return None
    return "no recent heartbeat"


CHECKS = {"database": check_database, "cache": check_cache, "worker": check_worker}


def readiness() -> tuple[bool, dict[str, str]]:
    results = {}
    for name, check in CHECKS.items():
        problem = check()
        results[name] = "ok" if problem is None else problem
    return all(value == "ok" for value in results.values()), results
