"""Recovery of RQ jobs whose worker died mid-task (kapflow.runtime.rqworker), against a real
Redis database of the test's own. A job is put in the state a killed worker leaves it in
(STARTED, in the started-job registry, its worker gone) without running a worker.
"""

import os
import subprocess
from datetime import timedelta

import pytest
from django.test import override_settings
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import Queue, SimpleWorker
from rq.executions import Execution
from rq.job import JobStatus
from rq.registry import FailedJobRegistry, StartedJobRegistry
from rq.utils import utcformat

from kapflow.core import clock
from kapflow.runtime import rqworker
from kapflow.runtime.backends import Job
from kapflow.runtime.rqworker import (
    HOST_FIELD,
    recover_abandoned_jobs,
    recover_configured_queues,
)
from kapflow.runtime.worker import host_key
from tests.runtime import tasks
from tests.runtime.processes import redis_up

pytestmark = pytest.mark.skipif(not redis_up(), reason="no Redis on 127.0.0.1:6379")

STALE_AFTER = timedelta(seconds=60)


@pytest.fixture
def redis(redis_url):
    rq_settings = {
        "RQ_QUEUES": {"default": {"URL": redis_url}},
        "TASKS": {"default": {"BACKEND": "kapflow.runtime.backends.RQBackend"}},
    }
    with override_settings(**rq_settings):
        yield Redis.from_url(redis_url)


def taken_by(connection, task_result, worker_name: str) -> Job:
    """What a worker does on taking a job: off the queue, STARTED, in the started registry."""
    job = Job.fetch(task_result.id, connection=connection)
    connection.lrem(Queue(job.origin, connection=connection).key, 0, job.id)
    with connection.pipeline() as pipeline:
        job.prepare_for_execution(worker_name, pipeline)
        Execution.create(job, ttl=90, pipeline=pipeline, worker_name=worker_name)
        pipeline.execute()
    return job


def registered(connection, name: str, *, pid: int, host: str | None, seconds_ago: int = 0):
    """A worker's hash as RQ (and kapflow's Worker, for `host`) writes it."""
    beat = clock.now() - timedelta(seconds=seconds_ago)
    mapping = {"last_heartbeat": utcformat(beat), "pid": pid}
    if host is not None:
        mapping[HOST_FIELD] = host
    connection.hset(f"rq:worker:{name}", mapping=mapping)


def recover(connection, stale_after: timedelta = STALE_AFTER) -> int:
    return recover_abandoned_jobs(connection, ["default"], stale_after=stale_after)


def lapse(connection, job) -> None:
    """The job's started-registry entry past its score: its worker stopped beating for it."""
    registry = StartedJobRegistry("default", connection=connection)
    (entry,) = connection.zrange(registry.key, 0, -1)
    connection.zadd(registry.key, {entry: clock.now().timestamp() - 1}, xx=True)


def in_started(connection, job) -> bool:
    return job.id in StartedJobRegistry("default", connection=connection).get_job_ids(cleanup=False)


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_a_job_whose_worker_is_gone_runs_again_once_and_finishes(redis):
    tasks.CALLS.clear()
    job = taken_by(redis, tasks.succeeds.enqueue("again"), "gone")
    assert job.retries_left == 4  # five attempts in all (the default policy)

    assert recover(redis) == 1
    job.refresh()
    assert job.get_status() == JobStatus.QUEUED
    assert job.retries_left == 3  # the lost attempt counts
    assert not in_started(redis, job)
    assert Queue("default", connection=redis).get_job_ids() == [job.id]
    assert recover(redis) == 0  # a second scheduler's pass finds nothing more to do

    SimpleWorker([Queue("default", connection=redis)], connection=redis, job_class=Job).work(
        burst=True
    )
    assert job.get_status(refresh=True) == JobStatus.FINISHED
    assert tasks.CALLS == ["again"]


def test_a_live_worker_keeps_its_job(redis):
    registered(redis, "busy", pid=os.getppid(), host=host_key())
    job = taken_by(redis, tasks.succeeds.enqueue("busy"), "busy")
    assert recover(redis) == 0
    assert job.get_status(refresh=True) == JobStatus.STARTED
    assert in_started(redis, job)


def test_a_worker_on_this_host_whose_pid_is_gone_is_dead_at_once(redis):
    registered(redis, "killed", pid=dead_pid(), host=host_key())
    job = taken_by(redis, tasks.succeeds.enqueue("killed"), "killed")
    assert recover(redis) == 1
    assert job.get_status(refresh=True) == JobStatus.QUEUED


def test_a_worker_on_another_host_is_dead_only_when_its_heartbeat_and_entry_are_stale(redis):
    registered(redis, "elsewhere", pid=dead_pid(), host="other-host:1")
    job = taken_by(redis, tasks.succeeds.enqueue("elsewhere"), "elsewhere")
    assert recover(redis) == 0  # its PID means nothing here
    # Past the setting (60 s) but within a busy worker's beat plus RQ's 60 s: still alive.
    registered(redis, "elsewhere", pid=1, host="other-host:1", seconds_ago=61)
    assert recover(redis) == 0
    # Its beat is old by our clock, but RQ's own per-job entry has not lapsed (clock skew).
    registered(redis, "elsewhere", pid=1, host="other-host:1", seconds_ago=120)
    assert recover(redis) == 0
    assert job.get_status(refresh=True) == JobStatus.STARTED
    lapse(redis, job)
    assert recover(redis) == 1
    assert job.get_status(refresh=True) == JobStatus.QUEUED


def test_a_lowered_setting_never_makes_a_busy_worker_stale(redis):
    # A busy RQ worker beats every 30 s: 40 s without a beat is normal, whatever the setting.
    registered(redis, "busy-elsewhere", pid=1, host="other-host:1", seconds_ago=40)
    job = taken_by(redis, tasks.succeeds.enqueue("busy"), "busy-elsewhere")
    lapse(redis, job)
    assert recover(redis, stale_after=timedelta(seconds=5)) == 0
    registered(redis, "busy-here", pid=os.getppid(), host=host_key(), seconds_ago=40)
    here = taken_by(redis, tasks.succeeds.enqueue("here"), "busy-here")
    assert recover(redis, stale_after=timedelta(seconds=5)) == 0
    assert job.get_status(refresh=True) == here.get_status(refresh=True) == JobStatus.STARTED


def test_a_task_without_retries_fails_as_worker_lost(redis):
    job = taken_by(redis, tasks.no_retries.enqueue("once"), "gone")
    assert recover(redis) == 1
    job.refresh()
    assert job.get_status() == JobStatus.FAILED
    assert job.id in FailedJobRegistry("default", connection=redis).get_job_ids(cleanup=False)
    assert "WorkerLost" in job.latest_result().exc_string
    # django-tasks-rq's failure callback ran: the task result names the error.
    assert job.meta["_django_tasks_rq_exceptions"] == ["kapflow.runtime.worker.WorkerLost"]


def test_a_task_that_kills_every_worker_ends_failed(redis):
    result = tasks.succeeds.enqueue("poison")
    reruns = 0
    for attempt in range(1, 6):
        job = taken_by(redis, result, f"worker-{attempt}")
        assert recover(redis) == 1
        if job.get_status(refresh=True) == JobStatus.QUEUED:
            reruns += 1
    assert reruns == 4  # attempts 2 to 5
    assert job.get_status() == JobStatus.FAILED


def test_recovery_and_rqs_registry_cleanup_take_turns(redis, monkeypatch):
    job = taken_by(redis, tasks.succeeds.enqueue("locked"), "gone")
    queue = Queue("default", connection=redis)
    assert queue.acquire_maintenance_lock()  # a worker's clean_registries is at this queue
    assert recover(redis) == 0
    assert job.get_status(refresh=True) == JobStatus.STARTED
    queue.release_maintenance_lock()

    rq_could_clean = []
    worker_dead = rqworker.worker_dead

    def checking(*args, **kwargs):
        rq_could_clean.append(queue.acquire_maintenance_lock())
        return worker_dead(*args, **kwargs)

    monkeypatch.setattr(rqworker, "worker_dead", checking)
    assert recover(redis) == 1
    assert rq_could_clean == [False]  # RQ's cleanup waits for the recovery's pass
    assert not redis.exists(queue.registry_cleaning_key)


def test_a_failure_between_removal_and_requeue_loses_nothing(redis, monkeypatch):
    job = taken_by(redis, tasks.succeeds.enqueue("crash"), "gone")

    def broken(*args, **kwargs):
        raise RedisConnectionError("Redis went away")

    with monkeypatch.context() as patched:
        patched.setattr(Queue, "_enqueue_job", broken)
        with pytest.raises(RedisConnectionError):
            recover(redis)
    assert job.get_status(refresh=True) == JobStatus.STARTED
    assert in_started(redis, job)  # still there for the next pass
    assert recover(redis) == 1
    assert Queue("default", connection=redis).get_job_ids() == [job.id]
    assert job.get_status(refresh=True) == JobStatus.QUEUED


def test_a_job_that_finishes_during_the_check_is_left_alone(redis, monkeypatch):
    taken_by(redis, tasks.succeeds.enqueue("finishing"), "gone")
    worker_dead = rqworker.worker_dead

    def finishing(connection, *args, **kwargs):
        # Its worker ends the job after recovery looked at the entry and before it acts.
        key = StartedJobRegistry("default", connection=connection).key
        connection.zrem(key, *connection.zrange(key, 0, -1))
        return worker_dead(connection, *args, **kwargs)

    monkeypatch.setattr(rqworker, "worker_dead", finishing)
    assert recover(redis) == 0
    assert Queue("default", connection=redis).get_job_ids() == []


def test_the_test_databases_claim_expires(redis_url):
    assert 0 < Redis.from_url(redis_url).ttl("kapflow-test-claim") <= 3600


def test_the_scheduler_pass_recovers_every_configured_queue(redis):
    job = taken_by(redis, tasks.succeeds.enqueue("scheduler"), "gone")
    with override_settings(TASKS={"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}):
        assert recover_configured_queues() == 0  # the database worker recovers its own
    assert recover_configured_queues() == 1
    assert job.get_status(refresh=True) == JobStatus.QUEUED


def test_an_idle_worker_beats_often_enough_for_health(redis):
    from kapflow.runtime.rqworker import Worker

    worker = Worker([Queue("default", connection=redis)], connection=redis)
    assert worker.dequeue_timeout == 15  # RQ's own waits 405 s between beats when idle
    worker.register_birth()
    assert redis.hget(worker.key, HOST_FIELD).decode() == host_key()
    worker.register_death()
