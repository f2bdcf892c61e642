"""Starting real kapflow processes (web server, worker, scheduler) for the process tests.

They run as production does: no KAPFLOW_TESTING, no DEBUG, the shipped gunicorn config,
secrets passed in (the test process's own SECRET_KEY, so a session made here is valid there),
and the test database by URL, so they see what a transactional test commits. Every process
started is killed with its process group by the `processes` fixture.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 90  # seconds: Django's start on a busy 2-core machine


def needs_postgresql():
    return pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="the processes share the test database, which on SQLite lives in memory",
    )


def redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return (
        f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
        f"/{db['NAME']}"
    )


def process_env(**extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("KAPFLOW_", "DJANGO_", "PYTEST_")) and key != "REDIS_URL"
    }
    env.update(
        {
            "DATABASE_URL": database_url(),
            "SECRET_KEY": settings.SECRET_KEY,
            "KAPFLOW_FIELD_KEYS": ",".join(settings.KAPFLOW_FIELD_KEYS),
            "EMAIL_BACKEND": "kapflow.outbox.backend.OutboxBackend",
            "KAPFLOW_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if settings.KAPFLOW_AUDIT_KEY:
        # Else the process derives the chain's key from the same SECRET_KEY, as this one does,
        # so the trail both write verifies as one chain.
        env["KAPFLOW_AUDIT_KEY"] = settings.KAPFLOW_AUDIT_KEY
    env.update(extra)
    return env


class Processes:
    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.started: list[tuple[subprocess.Popen, Path]] = []

    def start(self, args: list[str], env: dict[str, str], name: str) -> subprocess.Popen:
        log = self.tmp_path / f"{name}-{len(self.started)}.log"
        process = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        process.log_path = log
        self.started.append((process, log))
        return process

    def gunicorn(self, port: int, *, workers: int = 2, **extra: str) -> subprocess.Popen:
        env = process_env(
            KAPFLOW_BIND=f"127.0.0.1:{port}", KAPFLOW_WEB_WORKERS=str(workers), **extra
        )
        return self.start(["-m", "gunicorn", "-c", "python:kapflow.config.gunicorn"], env, "web")

    def kapflow(self, *command: str, **extra: str) -> subprocess.Popen:
        return self.start(["-m", "kapflow", *command], process_env(**extra), command[0])

    def stop(self, process: subprocess.Popen, sig=signal.SIGTERM, timeout: float = 30) -> None:
        if process.poll() is None:
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                return
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def stop_all(self) -> None:
        """At the end of a test: SIGKILL to each process group (gunicorn's workers too).
        Graceful stops are tested where they matter (test_serve)."""
        for process, _ in self.started:
            self.stop(process, signal.SIGKILL)


def log_of(process: subprocess.Popen) -> str:
    return Path(process.log_path).read_text(errors="replace")


def http(url: str, *, data: bytes | None = None, headers: dict | None = None, timeout=30):
    """(status, headers, body) of one request; no redirects followed."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def wait_until(predicate, *, timeout: float = START_TIMEOUT, every: float = 0.25, what="it"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def wait_http(base: str, process: subprocess.Popen, path: str = "/health/live") -> None:
    def up():
        if process.poll() is not None:
            raise AssertionError(f"exited ({process.returncode}):\n{log_of(process)[-3000:]}")
        try:
            return http(base + path, timeout=5)[0] == 200
        except OSError:
            return False

    wait_until(up, what=f"{base}{path}")


def ready(base: str) -> tuple[int, dict]:
    status, _, body = http(base + "/health/ready", timeout=10)
    return status, json.loads(body)
