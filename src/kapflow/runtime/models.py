"""What the runtime processes leave in the database: worker and scheduler heartbeats, and one
row per scheduled job and period.

No PHI and no tenant data live here: process ids, host names, job names and task ids.
"""

from django.db import models
from django.utils import timezone


class ProcessKind(models.TextChoices):
    WORKER = "worker", "Task worker"
    SCHEDULER = "scheduler", "Scheduler"


class Heartbeat(models.Model):
    """A running worker or scheduler says it is alive every few seconds.

    `host` is the host name and PID namespace, so a process on the same host can tell that a
    worker whose PID no longer exists is dead without waiting for its beat to go stale
    (kapflow.runtime.worker.recover_abandoned).
    """

    process_id = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=16, choices=ProcessKind.choices)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    seen_at = models.DateTimeField(default=timezone.now, db_index=True)
    # What the worker is running now (a task result id), for the admin and recovery logs.
    current_task = models.CharField(max_length=64, blank=True)

    class Meta:
        indexes = [models.Index(fields=["kind", "seen_at"], name="heartbeat_kind_seen")]

    def __str__(self) -> str:
        return f"{self.kind} {self.process_id}"


class JobRun(models.Model):
    """One scheduled job in one period, claimed by the first scheduler to insert it.

    The unique constraint is the whole single-run guarantee: two schedulers that wake in the
    same period both try the INSERT, one commits and enqueues, the other gets IntegrityError
    and moves on. It holds on SQLite and PostgreSQL alike.
    """

    job = models.CharField(max_length=64)
    period_start = models.DateTimeField()
    claimed_at = models.DateTimeField(default=timezone.now)
    claimed_by = models.CharField(max_length=64)
    task_ids = models.JSONField(default=list)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "period_start"], name="jobrun_once_per_period")
        ]
        indexes = [models.Index(fields=["claimed_at"], name="jobrun_claimed_at")]

    def __str__(self) -> str:
        return f"{self.job} @ {self.period_start:%Y-%m-%d %H:%M}Z"
