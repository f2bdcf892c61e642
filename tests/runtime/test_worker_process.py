"""A real worker process: a task a page enqueues is done by `kapflow worker`, and a worker
killed with SIGKILL in the middle of a task loses nothing (the next worker runs it again).

PostgreSQL only: the worker is another process and must see the test database.
"""

import os
import signal

import pytest
from django_tasks_db.models import DBTaskResult

from kapflow.outbox.models import OutboxMessage
from tests.accounts.factories import UserFactory
from tests.runtime import tasks
from tests.runtime.processes import needs_postgresql, wait_until

pytestmark = [
    needs_postgresql(),
    pytest.mark.process,
    pytest.mark.django_db(transaction=True),
]


def status(result_id) -> str:
    return DBTaskResult.objects.get(pk=result_id).status


def test_a_page_enqueues_the_worker_does_and_a_kill_9_reruns(client, processes, db_tasks, tmp_path):
    user = UserFactory(email="reset-me@example.org")
    response = client.post("/password-reset/", {"email": user.email})
    assert response.status_code == 302
    reset = DBTaskResult.objects.get(task_path="kapflow.accounts.tasks.password_reset_send")
    assert reset.status == "READY"
    assert reset.args_kwargs == {"args": [user.pk], "kwargs": {}}  # an id, nothing else

    worker = processes.kapflow("worker", "--heartbeat", "1")
    wait_until(lambda: status(reset.pk) == "SUCCESSFUL", what="the reset e-mail task")
    assert OutboxMessage.objects.filter(
        recipient=user.email, subject="Reset your kapflow password"
    ).exists()

    marker = tmp_path / "sleepy.txt"
    slow = tasks.sleepy.enqueue(str(marker), 4.0)
    wait_until(lambda: marker.exists() and marker.read_text() == "start\n", what="the start")
    assert status(slow.id) == "RUNNING"
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    assert status(slow.id) == "RUNNING"  # what django-tasks-db alone would leave for ever

    processes.kapflow("worker", "--heartbeat", "1")
    wait_until(lambda: status(slow.id) == "SUCCESSFUL", what="the rerun")
    assert marker.read_text() == "start\nstart\ndone\n"
    row = DBTaskResult.objects.get(pk=slow.id)
    assert len(row.worker_ids) == 2  # two attempts on one row
    assert row.return_value == "slept"
