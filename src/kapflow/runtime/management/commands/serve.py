"""`kapflow serve`: run the web process, the task worker and the scheduler together.

The same three processes as the Procfile (PROCESSES below; a test keeps the two alike), for
a single host without a process manager: `make serve` runs it. Each child inherits this
process's environment and output. When one stops, or on SIGINT/SIGTERM, the others get
SIGTERM, then SIGKILL after 30 seconds; the exit code is the first child's.
"""

import signal
import subprocess
import sys
import time

from django.core.management.base import BaseCommand

PROCESSES = {
    "web": ["gunicorn", "-c", "python:kapflow.config.gunicorn"],
    "worker": ["kapflow", "worker"],
    "scheduler": ["kapflow", "scheduler"],
}


def argv(name: str) -> list[str]:
    """The Procfile's command, run with this interpreter (no PATH needed)."""
    program, *rest = PROCESSES[name]
    module = {"gunicorn": "gunicorn", "kapflow": "kapflow"}[program]
    return [sys.executable, "-m", module, *rest]


class Command(BaseCommand):
    help = "Run the web server, the task worker and the scheduler (what the Procfile lists)."
    requires_system_checks = []  # each child checks as it starts

    def add_arguments(self, parser):
        parser.add_argument(
            "--only", action="append", choices=sorted(PROCESSES), help="Run only these."
        )

    def handle(self, *args, only=None, **options):
        names = only or list(PROCESSES)
        children = {name: subprocess.Popen(argv(name)) for name in names}  # noqa: S603
        self.stdout.write(
            "kapflow serve: " + ", ".join(f"{n} (pid {p.pid})" for n, p in children.items())
        )
        self.stdout.flush()
        stopping = []

        def stop(signum, frame):
            stopping.append(signum)

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        exit_code = 0
        while not stopping:
            ended = [(n, p) for n, p in children.items() if p.poll() is not None]
            if ended:
                name, process = ended[0]
                exit_code = process.returncode or 1
                self.stderr.write(f"kapflow serve: {name} exited ({process.returncode}); stopping")
                break
            time.sleep(0.2)
        for process in children.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        for process in children.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if exit_code:
            sys.exit(exit_code)
