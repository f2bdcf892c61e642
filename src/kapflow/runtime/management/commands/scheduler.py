"""`kapflow scheduler`: enqueue the periodic jobs (kapflow.runtime.jobs) once per period.

Run one, or two for availability: the JobRun claim makes each job run once per period
whichever scheduler wakes first. With RQ each tick also puts the jobs of workers that died
mid-task back on the queue (kapflow.runtime.rqworker; the database worker does its own).
`--once` runs one tick and exits (for cron or a test); `--list` prints the jobs and their
periods.
"""

import logging
import signal
import threading

from django.core.management.base import BaseCommand
from django.db import close_old_connections
from django.utils.crypto import get_random_string

from kapflow.core import clock
from kapflow.runtime.models import ProcessKind
from kapflow.runtime.rqworker import recover_configured_queues
from kapflow.runtime.schedule import jobs, tick
from kapflow.runtime.worker import heartbeat_start, heartbeat_stop

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Run the periodic jobs (deadline scan, reminders, audit verification, purges)."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=30.0, help="Seconds between ticks.")
        parser.add_argument("--once", action="store_true", help="One tick, then exit.")
        parser.add_argument("--list", action="store_true", help="List the jobs and exit.")
        parser.add_argument("--job", action="append", help="Only these jobs (repeatable).")

    def handle(self, *args, interval, once, list, job, **options):
        if list:
            for entry in jobs():
                at = f" from {entry.offset} UTC" if entry.offset else ""
                self.stdout.write(f"{entry.name:18} every {entry.every}{at}: {entry.description}")
            return
        only = set(job) if job else None
        scheduler_id = "scheduler-" + get_random_string(24)
        if once:
            self._tick(scheduler_id, only)
            return
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        beat = heartbeat_start(scheduler_id, ProcessKind.SCHEDULER, interval=10.0)
        self.stdout.write(f"{scheduler_id}: {len(jobs())} jobs, a tick every {interval:g} s")
        self.stdout.flush()
        try:
            while not stop.is_set():
                self._tick(scheduler_id, only)
                stop.wait(interval)
        finally:
            heartbeat_stop(beat)

    def _tick(self, scheduler_id: str, only) -> None:
        try:
            try:
                recover_configured_queues()
            except Exception:  # Redis away: the tick's jobs fail the same way and say so
                logger.exception("task.recovery_failed")
            for name in tick(now=clock.now(), claimed_by=scheduler_id, only=only):
                self.stdout.write(f"enqueued {name}")
            self.stdout.flush()
        finally:
            close_old_connections()
