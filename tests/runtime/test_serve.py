"""`kapflow serve` (what `make serve` runs) starts the Procfile's three processes; the server
is ready once the worker beats; JSON logs carry the request id the response names; SIGTERM
stops all three. Two schedulers started together enqueue each job once.
"""

import json
import os
import signal
from pathlib import Path

import pytest
from django_tasks_db.models import DBTaskResult

from kapflow.runtime.management.commands.serve import PROCESSES
from kapflow.runtime.models import Heartbeat, JobRun
from kapflow.runtime.schedule import jobs
from tests.runtime.processes import (
    ROOT,
    free_port,
    http,
    log_of,
    needs_postgresql,
    ready,
    wait_http,
    wait_until,
)


def test_the_procfile_lists_what_serve_runs():
    lines = (ROOT / "Procfile").read_text().strip().splitlines()
    assert lines == [f"{name}: {' '.join(argv)}" for name, argv in PROCESSES.items()]


def test_make_serve_and_make_worker_exist():
    makefile = (ROOT / "Makefile").read_text()
    assert "\nserve:" in makefile and "\nworker:" in makefile and "\nscheduler:" in makefile
    assert "kapflow serve" in makefile


@needs_postgresql()
@pytest.mark.process
@pytest.mark.django_db(transaction=True)
def test_serve_runs_web_worker_and_scheduler_and_stops_them(processes):
    port = free_port()
    serve = processes.kapflow(
        "serve",
        KAPFLOW_BIND=f"127.0.0.1:{port}",
        KAPFLOW_WEB_WORKERS="1",
        KAPFLOW_LOG_FORMAT="json",
    )
    base = f"http://127.0.0.1:{port}"
    wait_http(base, serve)
    status, body = ready(base)
    assert status == 503 or body["checks"]["worker"] == "ok"
    wait_until(lambda: ready(base)[0] == 200, what="/health/ready")
    assert Heartbeat.objects.filter(kind="worker").exists()
    wait_until(lambda: Heartbeat.objects.filter(kind="scheduler").exists(), what="the scheduler")
    # The scheduler's first tick enqueued every job; the worker ran them.
    wait_until(lambda: JobRun.objects.count() == len(jobs()), what="the first tick")
    wait_until(
        lambda: not DBTaskResult.objects.exclude(status="SUCCESSFUL").exists(),
        what="the worker",
    )

    status, headers, _ = http(base + "/sign-in/")
    assert status == 200
    request_id = headers["X-Request-Id"]
    lines = [json.loads(line) for line in log_of(serve).splitlines() if line.startswith("{")]
    request_lines = [line for line in lines if line.get("event") == "http.request"]
    assert any(
        line["request_id"] == request_id and line["route"] == "accounts:login"
        for line in request_lines
    ), request_lines[-3:]

    children = [int(pid) for pid in _children(serve.pid)]
    assert len(children) == 3
    os.kill(serve.pid, signal.SIGTERM)
    assert serve.wait(timeout=60) == 0
    for pid in children:
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid)
    assert not Heartbeat.objects.exists()  # both left cleanly


def _children(pid: int) -> list[str]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return path.read_text().split()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


@needs_postgresql()
@pytest.mark.process
@pytest.mark.django_db(transaction=True)
def test_two_schedulers_enqueue_each_job_once(processes, world):
    first = processes.kapflow("scheduler", "--once")
    second = processes.kapflow("scheduler", "--once")
    assert first.wait(timeout=120) == 0, log_of(first)
    assert second.wait(timeout=120) == 0, log_of(second)
    assert JobRun.objects.count() == len(jobs())
    runs = {run.job: run for run in JobRun.objects.all()}
    expected = sum(len(run.task_ids) for run in runs.values())
    assert DBTaskResult.objects.count() == expected
    # Two practices: a deadline scan and a measurement scan each, once.
    assert len(runs["deadlines"].task_ids) == 4
    enqueued = log_of(first).count("enqueued ") + log_of(second).count("enqueued ")
    assert enqueued == len(jobs())
