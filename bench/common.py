"""Helpers every bench scenario module shares: the log line, SQL capture and counting, and
loading an actor as the middleware does.

bench/run.py and its scenario modules (bench/scheduling.py, bench/directory.py) import this
module; it imports none of them, so the scenarios need not import bench/run.py back.
"""

from __future__ import annotations

import sys

TRANSACTION_CONTROL = {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"}


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def capture(fn, i: int) -> list[str]:
    """The SQL of one call, as Django logs it (Django also logs BEGIN/COMMIT/SAVEPOINT)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        fn(i)
    return [q["sql"] for q in ctx.captured_queries]


def count_statements(sql: list[str]) -> tuple[int, int]:
    """(data statements, transaction-control statements)."""
    tx = sum(1 for q in sql if q.split(None, 1)[0].upper() in TRANSACTION_CONTROL)
    return len(sql) - tx, tx


def load_actor(membership_id: int):
    from kapflow.accounts.models import Membership

    return (
        Membership.objects.select_related("organisation", "user")
        .prefetch_related("roles")
        .get(pk=membership_id)
    )
