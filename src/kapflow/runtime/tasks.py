"""Background work for the runtime itself: housekeeping of its own rows. No PHI here."""

import logging
from datetime import timedelta

from django_tasks import task

from kapflow.core import clock

logger = logging.getLogger(__name__)

# Successful task results are kept two weeks, failed ones (what an administrator looks at)
# ninety days; job runs thirty days; heartbeats of processes gone a day.
SUCCESSFUL_DAYS = 14
FAILED_DAYS = 90
JOB_RUN_DAYS = 30


@task()
def runtime_purge_task() -> dict:
    from django.db.models import Q
    from django_tasks_db.models import DBTaskResult

    from kapflow.runtime.models import Heartbeat, JobRun

    now = clock.now()
    results, _ = (
        DBTaskResult.objects.finished()
        .filter(
            Q(status="SUCCESSFUL", finished_at__lt=now - timedelta(days=SUCCESSFUL_DAYS))
            | Q(status="FAILED", finished_at__lt=now - timedelta(days=FAILED_DAYS))
        )
        .delete()
    )
    runs, _ = JobRun.objects.filter(claimed_at__lt=now - timedelta(days=JOB_RUN_DAYS)).delete()
    beats, _ = Heartbeat.objects.filter(seen_at__lt=now - timedelta(days=1)).delete()
    counts = {"task_results": results, "job_runs": runs, "heartbeats": beats}
    logger.info("runtime.purged", extra=counts)
    return counts
