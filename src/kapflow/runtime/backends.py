"""The RQ task backend (REDIS_URL set) with kapflow's retry policy.

django-tasks-rq 0.12 enqueues without retries. `RQBackend` here gives every job RQ's own
`Retry` with the task's policy (kapflow.runtime.retry), and `Job` (the worker's job class,
`kapflow worker` passes it) stops RQ from retrying an error that is not transient, so both
backends retry the same things. RQ keeps failed jobs in its failed-job registry; the worker
also logs `task.failed` with ids and the exception's class.
"""

import logging

import django_rq
from django_tasks.base import TASK_MAX_PRIORITY, TaskResult, TaskResultStatus
from django_tasks.signals import task_enqueued
from django_tasks.utils import get_random_id
from django_tasks_rq import backend as rq_backend
from rq import Retry
from rq.job import Callback, JobStatus

from kapflow.runtime.retry import is_transient, policy_for

logger = logging.getLogger(__name__)


class Job(rq_backend.Job):
    """django-tasks-rq's job, told not to retry permanent errors."""

    _kapflow_permanent = False

    def _execute(self):
        try:
            return super()._execute()
        except BaseException as exc:
            self._kapflow_permanent = not is_transient(exc)
            logger.log(
                logging.ERROR if self._kapflow_permanent else logging.WARNING,
                "task.failed" if self._kapflow_permanent else "task.retry",
                extra={
                    "task_id": self.id,
                    "task": self.func_name,
                    "error": f"{type(exc).__module__}.{type(exc).__qualname__}",
                },
            )
            raise

    @property
    def should_retry(self) -> bool:
        return (not self._kapflow_permanent) and bool(super().should_retry)


class RQBackend(rq_backend.RQBackend):
    def enqueue(self, task, args, kwargs):
        self.validate_task(task)
        task_result = TaskResult(
            task=task,
            id=get_random_id(),
            status=TaskResultStatus.READY,
            enqueued_at=None,
            started_at=None,
            last_attempted_at=None,
            finished_at=None,
            args=args,
            kwargs=kwargs,
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        policy = policy_for(task.module_path)
        queue = django_rq.get_queue(task.queue_name, job_class=Job)
        job = queue.create_job(
            task.module_path,
            args=args,
            kwargs=kwargs,
            job_id=task_result.id,
            status=JobStatus.SCHEDULED if task.run_after else JobStatus.QUEUED,
            on_failure=Callback(rq_backend.failed_callback),
            on_success=Callback(rq_backend.success_callback),
            meta={"backend_name": self.alias},
            retry=Retry(max=policy.attempts - 1, interval=policy.delays())
            if policy.attempts > 1
            else None,
        )
        if task.run_after is None:
            job = queue.enqueue_job(job, at_front=task.priority == TASK_MAX_PRIORITY)
        else:
            job = queue.schedule_job(job, task.run_after)
        object.__setattr__(task_result, "enqueued_at", job.enqueued_at)
        task_enqueued.send(type(self), task_result=task_result)
        return task_result
