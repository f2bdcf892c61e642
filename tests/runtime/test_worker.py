"""The database worker's additions to django-tasks-db: retries with backoff, failures kept
for the admin with PHI masked, and recovery of tasks whose worker died."""

import os
import sys
from datetime import timedelta

import pytest
from django_tasks_db.models import DBTaskResult

from kapflow.core import clock
from kapflow.runtime.models import Heartbeat, ProcessKind
from kapflow.runtime.retry import DEFAULT_POLICY, RetryPolicy, is_transient
from kapflow.runtime.worker import Worker, host_key, recover_abandoned
from tests.runtime import tasks

pytestmark = pytest.mark.django_db
STALE = timedelta(seconds=60)


def make_worker(worker_id="w-test") -> Worker:
    return Worker(
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id=worker_id,
        excluded_queue_names=[],
        heartbeat_interval=5,
        stale_after=STALE,
    )


def claim(result, worker_id="w-test") -> DBTaskResult:
    row = DBTaskResult.objects.get(pk=result.id)
    row.claim(worker_id)
    return row


def test_backoff_grows_and_ends():
    policy = RetryPolicy(attempts=4, first_delay=timedelta(seconds=30), factor=4)
    assert policy.delays() == [30, 120, 480]
    assert DEFAULT_POLICY.attempts == 5


def test_only_transient_errors_are_retried():
    from django.db import OperationalError

    assert is_transient(OperationalError("gone"))
    assert is_transient(ConnectionResetError())
    assert not is_transient(ValueError("bug"))
    assert not is_transient(KeyError("missing"))


def test_a_successful_task_is_marked_successful(db_tasks):
    result = tasks.succeeds.enqueue("a")
    make_worker().run_task(claim(result))
    row = DBTaskResult.objects.get(pk=result.id)
    assert row.status == "SUCCESSFUL"
    assert row.return_value == "a"


def test_a_transient_failure_goes_back_to_ready_with_a_delay(db_tasks, time_machine):
    time_machine.move_to(clock.now(), tick=False)
    result = tasks.transient_failure.enqueue("t")
    make_worker().run_task(claim(result))
    row = DBTaskResult.objects.get(pk=result.id)
    assert row.status == "READY"
    assert row.run_after == clock.now() + timedelta(seconds=30)
    assert row.exception_class_path == "django.db.utils.OperationalError"
    assert not DBTaskResult.objects.ready().filter(pk=result.id).exists()  # not yet

    # Each later attempt waits four times longer; the fifth failure is final.
    for attempt, wait in ((2, 120), (3, 480), (4, 1920)):
        time_machine.move_to(row.run_after, tick=False)
        make_worker(f"w{attempt}").run_task(claim(result, f"w{attempt}"))
        row.refresh_from_db()
        assert row.status == "READY"
        assert row.run_after == clock.now() + timedelta(seconds=wait)
    time_machine.move_to(row.run_after, tick=False)
    make_worker("w5").run_task(claim(result, "w5"))
    row.refresh_from_db()
    assert row.status == "FAILED"
    assert len(row.worker_ids) == 5


def test_a_permanent_failure_fails_at_once_with_phi_masked(db_tasks, caplog):
    result = tasks.permanent_failure.enqueue("p")
    make_worker().run_task(claim(result))
    row = DBTaskResult.objects.get(pk=result.id)
    assert row.status == "FAILED"
    assert row.exception_class_path == "builtins.ValueError"
    assert "someone@example.org" not in row.traceback
    assert "[redacted]" in row.traceback
    failed = [r for r in caplog.records if r.getMessage() == "task.failed"]
    assert failed and failed[0].error == "builtins.ValueError"
    assert not failed[0].exc_info  # the class only: the message may hold values


def test_a_task_with_one_attempt_is_not_retried(db_tasks):
    result = tasks.no_retries.enqueue("n")
    make_worker().run_task(claim(result))
    assert DBTaskResult.objects.get(pk=result.id).status == "FAILED"


def beat(process_id, *, pid, seen_ago=timedelta(0), host=None):
    return Heartbeat.objects.create(
        process_id=process_id,
        kind=ProcessKind.WORKER,
        host=host or host_key(),
        pid=pid,
        seen_at=clock.now() - seen_ago,
    )


def dead_pid() -> int:
    pid = 2**22 - 7
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid -= 1


def test_a_task_whose_worker_has_no_heartbeat_runs_again(db_tasks):
    result = tasks.succeeds.enqueue("r")
    claim(result, "gone")
    assert recover_abandoned(stale_after=STALE) == 1
    row = DBTaskResult.objects.get(pk=result.id)
    assert row.status == "READY"
    assert DBTaskResult.objects.ready().filter(pk=result.id).exists()


def test_a_task_whose_worker_pid_is_gone_on_this_host_runs_again_at_once(db_tasks):
    beat("killed", pid=dead_pid())
    result = tasks.succeeds.enqueue("k")
    claim(result, "killed")
    assert recover_abandoned(stale_after=STALE) == 1
    assert DBTaskResult.objects.get(pk=result.id).status == "READY"


def test_a_task_of_a_stale_worker_elsewhere_runs_again(db_tasks):
    beat("far", pid=1, host="elsewhere:1", seen_ago=timedelta(minutes=5))
    fresh = tasks.succeeds.enqueue("f")
    claim(fresh, "far")
    assert recover_abandoned(stale_after=STALE) == 1


def test_a_live_workers_task_is_left_alone(db_tasks):
    beat("alive-here", pid=os.getpid())
    beat("alive-far", pid=1, host="elsewhere:1", seen_ago=timedelta(seconds=10))
    claim(tasks.succeeds.enqueue("1"), "alive-here")
    claim(tasks.succeeds.enqueue("2"), "alive-far")
    assert recover_abandoned(stale_after=STALE) == 0
    assert DBTaskResult.objects.running().count() == 2


def test_a_task_that_kills_every_worker_fails_when_its_attempts_are_used(db_tasks):
    result = tasks.succeeds.enqueue("oom")
    for n in range(DEFAULT_POLICY.attempts):
        row = claim(result, f"dead-{n}")
        if n < DEFAULT_POLICY.attempts - 1:
            recover_abandoned(stale_after=STALE)
    recover_abandoned(stale_after=STALE)
    row.refresh_from_db()
    assert row.status == "FAILED"
    assert row.exception_class_path == "kapflow.runtime.worker.WorkerLost"


def test_platform_staff_see_failed_tasks_in_the_admin(client, db_tasks):
    from tests.accounts.factories import UserFactory
    from tests.conftest import sign_in

    result = tasks.permanent_failure.enqueue("seen")
    make_worker().run_task(claim(result))
    staff = UserFactory(is_staff=True, is_superuser=True)
    sign_in(client, staff)
    listing = client.get("/platform-admin/django_tasks_database/dbtaskresult/?status__exact=FAILED")
    assert listing.status_code == 200
    assert "permanent_failure" in listing.content.decode()
    detail = client.get(f"/platform-admin/django_tasks_database/dbtaskresult/{result.id}/change/")
    assert detail.status_code == 200
    assert "builtins.ValueError" in detail.content.decode()
    assert "someone@example.org" not in detail.content.decode()


def test_recovery_follows_the_tasks_own_policy(db_tasks):
    """A task allowed one attempt is not run again after its worker died."""
    from kapflow.runtime import retry

    result = tasks.no_retries.enqueue("once")
    claim(result, "gone")
    path = "tests.runtime.tasks.no_retries"
    # As in a worker that has not imported the task's module yet.
    saved = retry._POLICIES.pop(path), sys.modules.pop("tests.runtime.tasks")
    try:
        recover_abandoned(stale_after=STALE)
    finally:
        retry._POLICIES[path], sys.modules["tests.runtime.tasks"] = saved
    row = DBTaskResult.objects.get(pk=result.id)
    assert row.status == "FAILED"
    assert row.exception_class_path == "kapflow.runtime.worker.WorkerLost"
