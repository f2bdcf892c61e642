"""A real worker process on RQ (REDIS_URL set): a worker killed with SIGKILL in the middle of a
task loses nothing; the next worker runs the task again at its start, once.

The task touches no database, so this runs on SQLite too: there the worker is given a
database file of its own (the test database lives in this process's memory).
"""

import os
import signal
import uuid

import pytest
from django.db import connection
from django.test import override_settings
from redis import Redis
from rq.job import JobStatus
from rq.registry import FailedJobRegistry, StartedJobRegistry

from kapflow.runtime.backends import Job
from tests.runtime import tasks
from tests.runtime.processes import log_of, redis_up, wait_until

pytestmark = [
    pytest.mark.skipif(not redis_up(), reason="no Redis on 127.0.0.1:6379"),
    pytest.mark.process,
    pytest.mark.django_db(transaction=True),
]


# redis_url first: its teardown (emptying the database) then runs after the processes are gone.
def test_a_kill_9_on_rq_reruns_the_task_once(redis_url, processes, tmp_path):
    env = {"REDIS_URL": redis_url, "KAPFLOW_CACHE_PREFIX": f"kapflow-test-{uuid.uuid4().hex[:12]}"}
    if connection.vendor == "sqlite":
        env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'worker.sqlite3'}"
    redis = Redis.from_url(redis_url)
    marker = tmp_path / "sleepy.txt"
    rq_settings = {
        "RQ_QUEUES": {"default": {"URL": redis_url}},
        "TASKS": {"default": {"BACKEND": "kapflow.runtime.backends.RQBackend"}},
    }
    with override_settings(**rq_settings):
        slow = tasks.sleepy.enqueue(str(marker), 4.0)  # through kapflow's backend, as a service
    job = Job.fetch(slow.id, connection=redis)
    assert job.retries_left == 4  # the default policy: five attempts

    worker = processes.kapflow("worker", **env)
    wait_until(
        lambda: marker.exists() and marker.read_text() == "start\n",
        what=f"the start\n{log_of(worker)[-2000:]}",
    )
    assert job.get_status(refresh=True) == JobStatus.STARTED
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    # What RQ alone leaves until the entry lapses and a maintenance pass (every 10 min) sees it.
    assert job.get_status(refresh=True) == JobStatus.STARTED
    assert job.id in StartedJobRegistry("default", connection=redis).get_job_ids(cleanup=False)

    second = processes.kapflow("worker", **env)
    wait_until(
        lambda: job.get_status(refresh=True) == JobStatus.FINISHED,
        what=f"the rerun\n{log_of(second)[-2000:]}",
    )
    # The first run's work horse died with its worker: one start each, one done.
    assert marker.read_text() == "start\nstart\ndone\n"
    job.refresh()
    assert job.retries_left == 3  # the lost attempt counted
    assert job.return_value() == "slept"
    assert job.id not in FailedJobRegistry("default", connection=redis).get_job_ids(cleanup=False)
    processes.stop_all()  # before the Redis database is emptied
