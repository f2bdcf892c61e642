"""The RQ worker (REDIS_URL set) and recovery of jobs whose worker died mid-task.

RQ 3.0 leaves a job whose worker was killed (kill -9, OOM, a lost host) STARTED in its queue's
StartedJobRegistry until the entry's score lapses (the last heartbeat plus 90 s), and only a
worker's maintenance pass, at its start and then every 10 minutes, looks at lapsed entries:
the job runs again after its next retry delay if it has retries left, else it goes to the
failed-job registry as `AbandonedJobError`. A worker restarted after a kill -9 therefore
reruns the task some 10 minutes later, or never if nothing else is running.

`recover_abandoned_jobs` makes that prompt: each STARTED job whose worker is dead goes back on
its queue at once. A worker is dead when its registration is gone or marked dead, its last
heartbeat is older than `stale_after` (a busy RQ worker beats every 30 s), or it ran on this
host (host name and PID namespace, as the database worker records them) and its PID is gone
(or is now ours). A rerun spends one of the job's `retries_left`, the count the task's retry
policy set at enqueue (kapflow.runtime.backends), which transient errors spend too; with none
left the job fails as `WorkerLost`, so a task that kills every worker ends failed instead of
looping. The registry entry is removed with a ZREM whose answer says who won, and each pass
holds a Redis lock, so two schedulers or workers recovering at once rerun a job once.

`kapflow worker` runs it at its start (and at RQ's maintenance passes) through `Worker`;
`kapflow scheduler` runs it on every tick. `Worker`'s work horse (the forked process that runs
the job) is killed with the worker, so a rerun never runs beside an orphaned first run.
"""

import logging
import os
import signal
from contextlib import suppress
from datetime import timedelta

from redis.exceptions import LockError
from rq import Queue
from rq import Worker as RQWorker
from rq.callbacks import execute_failure_callback
from rq.exceptions import NoSuchJobError
from rq.executions import Execution
from rq.job import JobStatus
from rq.job_lifecycle import record_job_failure
from rq.registry import StartedJobRegistry
from rq.timeouts import UnixSignalDeathPenalty
from rq.utils import as_text, parse_composite_key, utcparse

from kapflow.core import clock
from kapflow.runtime.backends import Job
from kapflow.runtime.worker import WorkerLost, host_key, pid_alive

logger = logging.getLogger(__name__)

HOST_FIELD = "kapflow_host"  # added to RQ's worker hash: host name and PID namespace
LOCK_KEY = "rq:kapflow:recovery-lock"
LOCK_SECONDS = 60
IDLE_BEAT_SECONDS = 15


def worker_dead(connection, name: str | None, *, stale_after: timedelta, me: str = "") -> bool:
    """Whether the RQ worker `name` is certainly not running (see the module)."""
    if not name:
        return True
    if name == me:
        return False
    key = RQWorker.redis_worker_namespace_prefix + name
    last, pid, host, death = connection.hmget(key, "last_heartbeat", "pid", HOST_FIELD, "death")
    if last is None or death is not None:
        return True
    if utcparse(as_text(last)) < clock.now() - stale_after:
        return True
    if host is not None and as_text(host) == host_key() and pid:
        pid = int(pid)
        return pid == os.getpid() or not pid_alive(pid)
    return False


def recover_abandoned_jobs(connection, queue_names, *, stale_after: timedelta, me: str = "") -> int:
    """Requeue (or fail, when its retries are spent) each STARTED job of `queue_names` whose
    worker is dead. Returns how many jobs it changed; 0 when another process holds the pass."""
    lock = connection.lock(LOCK_KEY, timeout=LOCK_SECONDS, blocking=False)
    if not lock.acquire(blocking=False):
        return 0
    changed = 0
    try:
        for name in queue_names:
            registry = StartedJobRegistry(name, connection=connection, job_class=Job)
            for entry in connection.zrange(registry.key, 0, -1):
                job_id, _ = parse_composite_key(as_text(entry))
                try:
                    job = Job.fetch(job_id, connection=connection)
                except NoSuchJobError:
                    continue  # RQ's own cleanup drops the entry
                if job.get_status(refresh=False) != JobStatus.STARTED:
                    continue  # finished or failed: a leftover entry, not a running job
                if not worker_dead(connection, job.worker_name, stale_after=stale_after, me=me):
                    continue
                if not connection.zrem(registry.key, entry):
                    continue  # another process recovered it first
                _rerun_or_fail(job, Execution.from_composite_key(as_text(entry), connection))
                changed += 1
    finally:
        with suppress(LockError):
            lock.release()
    return changed


def _rerun_or_fail(job: Job, execution: Execution) -> None:
    connection = execution.connection
    queue = Queue(job.origin, connection=connection, job_class=Job)
    ids = {"task_id": job.id, "task": job.func_name}
    lost = job.worker_name or "unknown"
    if job.retries_left and job.retries_left > 0:
        job.retries_left -= 1
        job.started_at = None
        job.ended_at = None
        with connection.pipeline() as pipeline:
            execution.delete(job=job, pipeline=pipeline)
            queue._enqueue_job(job, pipeline=pipeline)
            pipeline.execute()
        logger.warning("task.recovered", extra={**ids, "retries_left": job.retries_left})
        return
    message = f"The worker ({lost}) stopped during the job's last attempt."
    # As RQ's own cleanup of an abandoned job: the failure callback (django-tasks-rq records the
    # exception class), then FAILED in the failed-job registry, then its dependents.
    try:
        execute_failure_callback(job, UnixSignalDeathPenalty, WorkerLost, WorkerLost(message), None)
    except Exception:
        logger.exception("task.failed_callback", extra=ids)
    with connection.pipeline() as pipeline:
        execution.delete(job=job, pipeline=pipeline)
        record_job_failure(job, f"{WorkerLost.__module__}.WorkerLost: {message}", pipeline)
        pipeline.execute()
    queue.enqueue_dependents(job, refresh_job_status=False)
    logger.error("task.failed", extra={**ids, "error": "WorkerLost"})


def _die_with_parent(parent_pid: int | None) -> None:
    """In the work horse: be killed when the worker process dies (Linux). RQ's horse runs in
    its own process group and would otherwise finish the job after a kill -9 of its worker,
    while recovery, seeing the worker gone, runs it a second time beside it."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: an orphaned horse finishes its job
        return
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)  # the worker died before the prctl: recovery reruns the job


class Worker(RQWorker):
    """RQ's worker that records its host (for `worker_dead`), recovers abandoned jobs at its
    start and at each of RQ's maintenance passes, whose work horse dies with it, and that
    beats every 15 s when idle too (for /health/ready)."""

    @property
    def dequeue_timeout(self) -> int:
        # RQ waits for a job up to its worker TTL less 15 s (405 s) and beats only between
        # waits, so an idle worker looked dead to /health/ready after a minute. Beat every 15 s.
        return min(super().dequeue_timeout, IDLE_BEAT_SECONDS)

    def serialize(self) -> dict:
        return {**super().serialize(), HOST_FIELD: host_key()}

    def main_work_horse(self, job, queue):
        _die_with_parent(self.pid)
        return super().main_work_horse(job, queue)

    def run_maintenance_tasks(self):
        from django.conf import settings

        try:
            recover_abandoned_jobs(
                self.connection,
                self.queue_names(),
                stale_after=timedelta(seconds=settings.KAPFLOW_WORKER_STALE_SECONDS),
                me=self.name,
            )
        except Exception:  # recovery must never stop the worker; the scheduler tries again
            logger.exception("task.recovery_failed")
        super().run_maintenance_tasks()


def recover_configured_queues() -> int:
    """The scheduler's pass: recovery on every queue in RQ_QUEUES (nothing without RQ)."""
    from django.conf import settings

    from kapflow.runtime.health import task_backend

    if not task_backend().endswith("RQBackend"):
        return 0
    import django_rq

    stale_after = timedelta(seconds=settings.KAPFLOW_WORKER_STALE_SECONDS)
    return sum(
        recover_abandoned_jobs(django_rq.get_connection(name), [name], stale_after=stale_after)
        for name in settings.RQ_QUEUES
    )
