"""The RQ worker (REDIS_URL set) and recovery of jobs whose worker died mid-task.

RQ 3.0 leaves a job whose worker was killed (kill -9, OOM, a lost host) STARTED in its queue's
StartedJobRegistry until the entry's score lapses (the last heartbeat plus 90 s), and only a
worker's maintenance pass, at its start and then every 10 minutes, looks at lapsed entries:
the job runs again after its next retry delay if it has retries left, else it goes to the
failed-job registry as `AbandonedJobError`. A worker restarted after a kill -9 therefore
reruns the task some 10 minutes later, or never if nothing else is running.

`recover_abandoned_jobs` makes that prompt: each STARTED job whose worker is dead goes back on
its queue at once. A worker is dead when its registration is gone or marked dead, or it ran on
this host (host name and PID namespace, as the database worker records them) and its PID is
gone (or is now ours). A worker on another host is dead only when both its last heartbeat is
older than `stale_after` and the job's started-registry entry has lapsed (RQ's own per-job
liveness, the score a busy worker pushes forward at each beat). A busy RQ worker beats only
every `job_monitoring_interval` (30 s), and two hosts' clocks may disagree, so no worker is
stale before `MIN_STALE` (that interval plus 60 s, as RQ itself waits), whatever the setting.
A rerun spends one of the job's `retries_left`, the count the task's retry policy set at
enqueue (kapflow.runtime.backends), which transient errors spend too; with none left the job
fails as `WorkerLost`, so a task that kills every worker ends failed instead of looping.

Each pass over a queue holds the queue's own maintenance lock, the one RQ's `clean_registries`
(its `StartedJobRegistry.cleanup`, which reruns lapsed jobs too) takes in every worker, so a
scheduler's pass, a worker's pass and RQ's cleanup never work on one queue at once (RQ also
runs that cleanup, unlocked, from a registry's `count` and `get_job_ids()`: kapflow calls them
only with cleanup=False, and mounts no django-rq dashboard). The registry entry's removal and
the requeue (or failure) are one MULTI/EXEC under WATCH of the registry and the job: both happen
or neither, and a job another process took meanwhile is left alone.

`kapflow worker` runs it at its start (and at RQ's maintenance passes) through `Worker`;
`kapflow scheduler` runs it on every tick. `Worker`'s work horse (the forked process that runs
the job) is killed with the worker, so a rerun never runs beside an orphaned first run.
"""

import logging
import os
import signal
from contextlib import suppress
from datetime import timedelta

from redis.exceptions import LockError, WatchError
from rq import Queue
from rq import Worker as RQWorker
from rq.callbacks import execute_failure_callback
from rq.defaults import DEFAULT_JOB_MONITORING_INTERVAL
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
LOCK_SECONDS = 60  # a recovery pass's hold on a queue's maintenance lock
WATCH_ATTEMPTS = 5  # tries at one entry's transaction while the registry keeps changing
# No RQ worker is stale before this: it beats every job_monitoring_interval when busy.
MIN_STALE = timedelta(seconds=DEFAULT_JOB_MONITORING_INTERVAL + 60)
IDLE_BEAT_SECONDS = 15


def worker_dead(
    connection,
    name: str | None,
    *,
    stale_after: timedelta,
    me: str = "",
    lapsed: bool = True,
) -> bool:
    """Whether the RQ worker `name` is certainly not running (see the module). `lapsed`: the
    job's started-registry entry is past its score (the worker stopped beating for it)."""
    if not name:
        return True
    if name == me:
        return False
    key = RQWorker.redis_worker_namespace_prefix + name
    last, pid, host, death = connection.hmget(key, "last_heartbeat", "pid", HOST_FIELD, "death")
    if last is None or death is not None:
        return True
    if host is not None and as_text(host) == host_key() and pid:
        pid = int(pid)
        if pid == os.getpid() or not pid_alive(pid):
            return True
        return _stale(last, stale_after)  # alive but hung: one clock, no skew
    return lapsed and _stale(last, stale_after)


def _stale(last_heartbeat, stale_after: timedelta) -> bool:
    return utcparse(as_text(last_heartbeat)) < clock.now() - max(stale_after, MIN_STALE)


def recover_abandoned_jobs(connection, queue_names, *, stale_after: timedelta, me: str = "") -> int:
    """Requeue (or fail, when its retries are spent) each STARTED job of `queue_names` whose
    worker is dead. Returns how many jobs it changed; a queue whose maintenance lock another
    process holds (a recovery pass, RQ's registry cleanup) is left for the next pass."""
    changed = 0
    for name in queue_names:
        queue = Queue(name, connection=connection, job_class=Job)
        lock = connection.lock(queue.registry_cleaning_key, timeout=LOCK_SECONDS)
        if not lock.acquire(blocking=False):
            continue
        try:
            registry = StartedJobRegistry(name, connection=connection, job_class=Job)
            for entry in connection.zrange(registry.key, 0, -1):
                changed += _recover(queue, registry, as_text(entry), stale_after, me)
        finally:
            with suppress(LockError):
                lock.release()
    return changed


def _recover(queue: Queue, registry: StartedJobRegistry, entry: str, stale_after, me) -> bool:
    """Requeue or fail the job of one registry entry if its worker is dead, in one transaction
    with the entry's removal. False when it is alive, or someone else took it meanwhile."""
    connection = queue.connection
    job_id, _ = parse_composite_key(entry)
    for _attempt in range(WATCH_ATTEMPTS):
        with connection.pipeline() as pipeline:
            try:
                pipeline.watch(registry.key, Job.key_for(job_id))
                score = pipeline.zscore(registry.key, entry)
                if score is None:
                    return False  # finished, or recovered by another process
                try:
                    job = Job.fetch(job_id, connection=connection)
                except NoSuchJobError:
                    return False  # RQ's own cleanup drops the entry
                if job.get_status(refresh=False) != JobStatus.STARTED:
                    return False  # finished or failed: a leftover entry, not a running job
                lapsed = score < clock.now().timestamp()
                if not worker_dead(
                    connection, job.worker_name, stale_after=stale_after, me=me, lapsed=lapsed
                ):
                    return False
                pipeline.multi()
                rerun = _rerun_or_fail(
                    job, Execution.from_composite_key(entry, connection), queue, pipeline
                )
                pipeline.execute()
            except WatchError:
                continue  # the registry or the job changed under us: look again
        _after(job, queue, rerun)
        return True
    return False


def _rerun_or_fail(job: Job, execution: Execution, queue: Queue, pipeline) -> bool:
    """Queue, in `pipeline` (a MULTI), the entry's removal and the job's rerun or failure."""
    execution.delete(job=job, pipeline=pipeline)
    if job.retries_left and job.retries_left > 0:
        job.retries_left -= 1
        job.started_at = None
        job.ended_at = None
        queue._enqueue_job(job, pipeline=pipeline)
        return True
    record_job_failure(job, f"{WorkerLost.__module__}.WorkerLost: {_lost(job)}", pipeline)
    return False


def _lost(job: Job) -> str:
    return f"The worker ({job.worker_name or 'unknown'}) stopped during the job's last attempt."


def _after(job: Job, queue: Queue, rerun: bool) -> None:
    """What follows a committed recovery: the log line; for a failure, as RQ's own cleanup of
    an abandoned job, the failure callback (django-tasks-rq records the exception class) and
    the job's dependents."""
    ids = {"task_id": job.id, "task": job.func_name}
    if rerun:
        logger.warning("task.recovered", extra={**ids, "retries_left": job.retries_left})
        return
    message = _lost(job)
    try:
        execute_failure_callback(job, UnixSignalDeathPenalty, WorkerLost, WorkerLost(message), None)
    except Exception:
        logger.exception("task.failed_callback", extra=ids)
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
