"""`kapflow worker`: run background tasks until stopped.

With the database backend (the default) it runs kapflow.runtime.worker.Worker: heartbeats,
recovery of tasks left RUNNING by a dead worker, retries with backoff. With RQ (REDIS_URL)
it runs django-rq's worker with kapflow's job and worker classes (kapflow.runtime.rqworker:
jobs left STARTED by a dead worker run again) and RQ's scheduler (for retry delays).
SIGTERM lets the current task finish; a second one stops it (the task is recovered and runs
again).
"""

from datetime import timedelta

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.utils.crypto import get_random_string

from kapflow.runtime.health import IMMEDIATE_BACKENDS, task_backend


class Command(BaseCommand):
    help = "Run the background task worker (database backend, or RQ when REDIS_URL is set)."

    def add_arguments(self, parser):
        parser.add_argument("--queues", default="default", help="Comma-separated queue names.")
        parser.add_argument("--interval", type=float, default=1.0, help="Seconds between polls.")
        parser.add_argument(
            "--batch", action="store_true", help="Run what is ready now, then exit."
        )
        parser.add_argument("--max-tasks", type=int, default=None)
        parser.add_argument(
            "--heartbeat", type=float, default=5.0, help="Seconds between heartbeats."
        )

    def handle(self, *args, queues, interval, batch, max_tasks, heartbeat, **options):
        backend = task_backend()
        queue_names = [name.strip() for name in queues.split(",") if name.strip()]
        if backend in IMMEDIATE_BACKENDS:
            raise CommandError(
                f"The task backend is {backend}: tasks run inside the request and need no "
                "worker. Unset KAPFLOW_TASKS_BACKEND to use the database backend."
            )
        if backend.endswith("RQBackend"):
            call_command(
                "rqworker",
                *queue_names,
                job_class="kapflow.runtime.backends.Job",
                worker_class="kapflow.runtime.rqworker.Worker",
                with_scheduler=True,
                burst=batch,
                max_jobs=max_tasks,
            )
            return
        from kapflow.runtime.worker import Worker

        worker = Worker(
            queue_names=queue_names,
            interval=interval,
            batch=batch,
            backend_name="default",
            startup_delay=not batch,
            max_tasks=max_tasks,
            worker_id=get_random_string(32),
            excluded_queue_names=[],
            heartbeat_interval=heartbeat,
            stale_after=timedelta(seconds=settings.KAPFLOW_WORKER_STALE_SECONDS),
        )
        worker.configure_signals()
        self.stdout.write(f"worker {worker.worker_id} on {','.join(queue_names)}")
        self.stdout.flush()
        worker.run()
