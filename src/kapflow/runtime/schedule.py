"""The scheduler's clock: which periodic job is due, and the claim that runs it once.

A job is due once per period (`every`, shifted by `offset` from midnight UTC on 1 January
2001, a Monday). `tick` tries to INSERT a `JobRun` row for (job, period start); the unique
constraint lets exactly one scheduler win, and the winner enqueues the job's tasks in the
same transaction (with the database backend the task rows commit with the claim; with RQ
they are queued just before it). A scheduler that was down simply runs the current period
when it returns: every job is a scan that catches up by itself.

The jobs themselves are listed in kapflow.runtime.jobs.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, transaction

from kapflow.runtime.models import JobRun

logger = logging.getLogger(__name__)

EPOCH = datetime(2001, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ScheduledJob:
    name: str
    every: timedelta
    enqueue: Callable[[], list]  # enqueues the job's tasks, returns their results
    offset: timedelta = timedelta(0)
    description: str = ""

    def period_start(self, now: datetime) -> datetime:
        periods = (now - EPOCH - self.offset) // self.every
        return EPOCH + self.offset + periods * self.every


_REGISTRY: dict[str, ScheduledJob] = {}


def scheduled(name: str, *, every: timedelta, offset: timedelta = timedelta(0)):
    """Register the decorated function as the job `name`: it enqueues tasks (ids only) and
    returns their results."""

    def register(func: Callable[[], list]) -> Callable[[], list]:
        if name in _REGISTRY and _REGISTRY[name].enqueue is not func:
            raise ValueError(f"scheduled job {name!r} is registered twice")
        _REGISTRY[name] = ScheduledJob(
            name=name,
            every=every,
            enqueue=func,
            offset=offset,
            description=(func.__doc__ or "").strip().split("\n")[0],
        )
        return func

    return register


def jobs() -> list[ScheduledJob]:
    import kapflow.runtime.jobs  # noqa: F401 (registers the jobs)

    return sorted(_REGISTRY.values(), key=lambda job: job.name)


def tick(*, now: datetime, claimed_by: str, only: set[str] | None = None) -> list[str]:
    """Claim and enqueue every job due in the period containing `now` that no scheduler has
    claimed yet. Returns the names of the jobs this call enqueued."""
    enqueued = []
    for job in jobs():
        if only is not None and job.name not in only:
            continue
        start = job.period_start(now)
        try:
            with transaction.atomic():
                run = JobRun.objects.create(job=job.name, period_start=start, claimed_by=claimed_by)
                results = job.enqueue() or []
                run.task_ids = [str(result.id) for result in results]
                run.save(update_fields=["task_ids"])
        except IntegrityError:
            continue  # another scheduler has this period
        except Exception:
            # Nothing was claimed (the transaction rolled back): the next tick tries again.
            logger.exception("schedule.enqueue_failed", extra={"job": job.name})
            continue
        logger.info(
            "schedule.enqueued",
            extra={"job": job.name, "period_start": start.isoformat(), "tasks": len(run.task_ids)},
        )
        enqueued.append(job.name)
    return enqueued
