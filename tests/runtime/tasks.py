"""Tasks for the runtime tests only: they take plain values, as real tasks take ids."""

import time
from pathlib import Path

from django.db import OperationalError
from django_tasks import task

from kapflow.runtime.retry import retry_policy

CALLS: list[str] = []


@task()
def sleepy(marker: str, seconds: float) -> str:
    """Writes `start` to the marker file, sleeps, then writes `done`: a kill -9 in between
    leaves a start without a done."""
    path = Path(marker)
    with path.open("a") as out:
        out.write("start\n")
    time.sleep(seconds)
    with path.open("a") as out:
        out.write("done\n")
    return "slept"


@task()
def transient_failure(label: str) -> None:
    CALLS.append(label)
    raise OperationalError("the database went away")


@task()
def permanent_failure(label: str) -> None:
    CALLS.append(label)
    raise ValueError(f"no such row for someone@example.org ({label})")


@retry_policy(attempts=1)
@task()
def no_retries(label: str) -> None:
    CALLS.append(label)
    raise OperationalError("once only")


@task()
def succeeds(label: str) -> str:
    CALLS.append(label)
    return label
