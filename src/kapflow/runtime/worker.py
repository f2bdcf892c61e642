"""The task worker for the database backend: django-tasks-db's worker plus what production needs.

django-tasks-db 0.13 runs READY rows and marks them SUCCESSFUL or FAILED. It has no retries,
and a worker killed mid-task (kill -9, OOM, a lost host) leaves its row RUNNING for ever. This
module adds, around the same loop:

- a heartbeat row (`runtime.Heartbeat`) written every few seconds by a thread, read by
  /health/ready and by recovery;
- recovery of abandoned tasks: a RUNNING row whose worker is dead goes back to READY and runs
  again (at start, then every few beats). A worker is dead when its heartbeat row is gone
  (it stopped), is stale (no beat for `stale_after`), or is on this host and its PID no
  longer exists (a restart after kill -9 recovers at once). A task whose attempts are used
  up fails instead of looping (`WorkerLost`);
- retries with backoff for transient errors (kapflow.runtime.retry), on the same row, so
  the admin sees one row per task with its attempts (`worker_ids`) and the last error;
- tracebacks stored with e-mail addresses, dates and phone numbers masked, and one
  `task.failed` / `task.retry` log line with ids and the exception's class only.

Nothing here knows what a task does; tasks take ids and may run more than once.
"""

import logging
import os
import socket
import threading
from datetime import timedelta
from traceback import format_exception

from django.db import close_old_connections, connection
from django_tasks_db.management.commands.db_worker import Worker as DbWorker
from django_tasks_db.models import DBTaskResult

from kapflow.core import clock
from kapflow.core.logging import scrub_text
from kapflow.runtime.models import Heartbeat, ProcessKind
from kapflow.runtime.retry import is_transient, policy_for

logger = logging.getLogger(__name__)

STATUS_READY = "READY"
STATUS_RUNNING = "RUNNING"
STATUS_FAILED = "FAILED"


class WorkerLost(Exception):
    """The worker running a task stopped before the task finished, too many times."""


def host_key() -> str:
    """This host as seen by PIDs: the host name and, on Linux, the PID namespace (two
    containers may share a host name but not a PID namespace)."""
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        namespace = 0
    return f"{socket.gethostname()}:{namespace}"[:255]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def dead_process_ids(*, stale_after: timedelta, now=None) -> set[str]:
    """Heartbeat rows of processes known to be dead: stale, or on this host with no such
    PID. (Processes with no row at all are dead too; callers check membership.)"""
    now = now or clock.now()
    here = host_key()
    dead = set()
    for beat in Heartbeat.objects.all():
        stale = beat.seen_at < now - stale_after
        gone = beat.host == here and beat.pid != os.getpid() and not pid_alive(beat.pid)
        if stale or gone:
            dead.add(beat.process_id)
    return dead


def recover_abandoned(*, stale_after: timedelta, now=None) -> int:
    """Put RUNNING tasks whose worker is dead back to READY (or FAILED when their attempts
    are used up). Safe to run from several workers at once: each row changes only if it is
    still RUNNING under the same worker."""
    now = now or clock.now()
    running = list(
        DBTaskResult.objects.running().values_list("id", "worker_ids", "task_path", "started_at")
    )
    if not running:
        return 0
    dead = dead_process_ids(stale_after=stale_after, now=now)
    alive = set(Heartbeat.objects.exclude(process_id__in=dead).values_list("process_id", flat=True))
    recovered = 0
    for result_id, worker_ids, task_path, started_at in running:
        last = worker_ids[-1] if worker_ids else ""
        if last in alive:
            continue
        attempts = len(worker_ids)
        # Only if no one has recovered and claimed it since we looked (a claim sets started_at).
        rows = DBTaskResult.objects.filter(
            pk=result_id, status=STATUS_RUNNING, started_at=started_at
        )
        if attempts >= policy_for(task_path).attempts:
            changed = rows.update(
                status=STATUS_FAILED,
                finished_at=now,
                exception_class_path=f"{WorkerLost.__module__}.{WorkerLost.__qualname__}",
                traceback=f"The worker ({last}) stopped during attempt {attempts} of {attempts}.",
                return_value=None,
            )
            if changed:
                logger.error(
                    "task.failed",
                    extra={"task_id": str(result_id), "task": task_path, "error": "WorkerLost"},
                )
        else:
            changed = rows.update(status=STATUS_READY, run_after=now, started_at=None)
            if changed:
                logger.warning(
                    "task.recovered",
                    extra={"task_id": str(result_id), "task": task_path, "attempt": attempts},
                )
        recovered += changed
    return recovered


class HeartbeatThread(threading.Thread):
    """Beats every `interval` seconds in its own database connection; every `recover_every`
    beats it also runs recovery (workers only)."""

    def __init__(self, beat: Heartbeat, *, interval: float, on_beat=None, recover_every=0):
        super().__init__(name=f"heartbeat-{beat.process_id}", daemon=True)
        self.beat = beat
        self.interval = interval
        self.on_beat = on_beat
        self.recover_every = recover_every
        self.current_task = ""
        self.stopped = threading.Event()

    def run(self) -> None:
        beats = 0
        try:
            while not self.stopped.wait(self.interval):
                beats += 1
                try:
                    self.touch()
                    if self.on_beat and self.recover_every and beats % self.recover_every == 0:
                        self.on_beat()
                except Exception:
                    logger.exception("heartbeat.failed", extra={"process_id": self.beat.process_id})
                finally:
                    close_old_connections()
        finally:
            connection.close()

    def touch(self) -> None:
        updated = Heartbeat.objects.filter(process_id=self.beat.process_id).update(
            seen_at=clock.now(), current_task=self.current_task
        )
        if not updated:
            # Someone removed the row (recovery on another host after a long pause): come back.
            Heartbeat.objects.create(
                process_id=self.beat.process_id,
                kind=self.beat.kind,
                host=self.beat.host,
                pid=self.beat.pid,
                current_task=self.current_task,
            )

    def stop(self) -> None:
        self.stopped.set()


def heartbeat_start(
    process_id: str, kind: str, *, interval: float, on_beat=None, recover_every=0
) -> HeartbeatThread:
    Heartbeat.objects.update_or_create(
        process_id=process_id,
        defaults={
            "kind": kind,
            "host": host_key(),
            "pid": os.getpid(),
            "started_at": clock.now(),
            "seen_at": clock.now(),
            "current_task": "",
        },
    )
    beat = Heartbeat.objects.get(process_id=process_id)
    thread = HeartbeatThread(beat, interval=interval, on_beat=on_beat, recover_every=recover_every)
    thread.start()
    return thread


def heartbeat_stop(thread: HeartbeatThread) -> None:
    thread.stop()
    thread.join(timeout=thread.interval + 5)
    Heartbeat.objects.filter(process_id=thread.beat.process_id).delete()


class Worker(DbWorker):
    """django-tasks-db's loop with heartbeats, recovery and retries (see the module)."""

    def __init__(self, *, heartbeat_interval: float, stale_after: timedelta, **kwargs):
        super().__init__(**kwargs)
        self.heartbeat_interval = heartbeat_interval
        self.stale_after = stale_after
        self.heartbeat: HeartbeatThread | None = None

    def recover(self) -> int:
        return recover_abandoned(stale_after=self.stale_after)

    def run(self) -> None:
        self.heartbeat = heartbeat_start(
            self.worker_id,
            ProcessKind.WORKER,
            interval=self.heartbeat_interval,
            on_beat=self.recover,
            recover_every=3,
        )
        try:
            self.recover()
            super().run()
        finally:
            heartbeat_stop(self.heartbeat)
            close_old_connections()

    def run_task(self, db_task_result: DBTaskResult) -> None:
        """Run one claimed task; a transient failure with attempts left goes back to READY
        with a delay instead of FAILED."""
        if self.heartbeat is not None:
            self.heartbeat.current_task = str(db_task_result.id)
        try:
            self._run_task(db_task_result)
        finally:
            if self.heartbeat is not None:
                self.heartbeat.current_task = ""

    def _run_task(self, db_task_result: DBTaskResult) -> None:
        from django_tasks_db.compat import TaskContext, task_finished, task_started

        try:
            self.running_task = True
            task = db_task_result.task
            task_result = db_task_result.task_result
            backend_type = type(task.get_backend())
            task_started.send(sender=backend_type, task_result=task_result)
            if task.takes_context:
                return_value = task.call(
                    TaskContext(task_result=task_result), *task_result.args, **task_result.kwargs
                )
            else:
                return_value = task.call(*task_result.args, **task_result.kwargs)
            db_task_result.set_successful(return_value)
            task_finished.send(sender=backend_type, task_result=db_task_result.task_result)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                # Stopped on a second signal: leave the row RUNNING; recovery reruns it.
                raise
            self._failed(db_task_result, exc)
        finally:
            self.running_task = False
            self._run_tasks += 1

    def _failed(self, db_task_result: DBTaskResult, exc: BaseException) -> None:
        attempt = len(db_task_result.worker_ids)
        policy = policy_for(db_task_result.task_path)
        error = f"{type(exc).__module__}.{type(exc).__qualname__}"
        traceback = scrub_text("".join(format_exception(exc)))
        ids = {"task_id": str(db_task_result.id), "task": db_task_result.task_path}
        if is_transient(exc) and attempt < policy.attempts:
            delay = policy.delay(attempt)
            DBTaskResult.objects.filter(pk=db_task_result.pk).update(
                status=STATUS_READY,
                run_after=clock.now() + delay,
                exception_class_path=error,
                traceback=traceback,
            )
            seconds = int(delay.total_seconds())
            logger.warning(
                "task.retry", extra={**ids, "attempt": attempt, "error": error, "delay_s": seconds}
            )
            return
        db_task_result.set_failed(exc)
        DBTaskResult.objects.filter(pk=db_task_result.pk).update(traceback=traceback)
        logger.error("task.failed", extra={**ids, "attempt": attempt, "error": error})
        try:
            from django_tasks_db.compat import task_finished

            db_task_result.refresh_from_db()
            task_finished.send(
                sender=type(db_task_result.task.get_backend()),
                task_result=db_task_result.task_result,
            )
        except Exception:  # the task's module may be gone; the row says FAILED already
            logger.exception("task.failed_signal", extra=ids)
