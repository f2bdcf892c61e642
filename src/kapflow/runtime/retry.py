"""Retries with backoff for background tasks, in one place for both queue backends.

django-tasks 0.12 has no retries (a failed task is simply FAILED), so kapflow adds them here:

- A task that raises a *transient* error (the database or the network went away, a lock
  timed out, an SMTP server refused for now) runs again after a backoff: 30 s, 2 min, 8 min,
  32 min, then fails for good (5 attempts). `retry_policy` changes that per task.
- Any other exception (a bug, a row that no longer exists, a refused rule) fails at once:
  running it again would fail the same way, and an administrator should see it now.

The database worker (kapflow.runtime.worker) applies a policy by putting the same result row
back to READY with `run_after`; the RQ backend (kapflow.runtime.backends) hands RQ a `Retry`
and tells it not to retry permanent errors. Tasks take ids only and are written to be run
again (decision 0041), which is what makes a retry, or a rerun after a crash, safe.
"""

import contextlib
import smtplib
from dataclasses import dataclass
from datetime import timedelta

from django.db import InterfaceError, OperationalError


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5  # in all, the first run included
    first_delay: timedelta = timedelta(seconds=30)
    factor: int = 4

    def delay(self, attempt: int) -> timedelta:
        """The wait after failed attempt number `attempt` (1-based)."""
        return self.first_delay * (self.factor ** (attempt - 1))

    def delays(self) -> list[int]:
        """The waits in seconds between attempts, as RQ's Retry(interval=...) takes them."""
        return [int(self.delay(n).total_seconds()) for n in range(1, self.attempts)]


DEFAULT_POLICY = RetryPolicy()
NO_RETRY = RetryPolicy(attempts=1)

# Task module paths ("kapflow.audit.tasks.audit_verify_task") with their own policy.
_POLICIES: dict[str, RetryPolicy] = {}


def retry_policy(*, attempts: int, first_delay: timedelta | None = None, factor: int = 4):
    """Give one task its own policy: apply above @task().

    @retry_policy(attempts=1)
    @task()
    def sends_once(...): ...
    """

    def register(task):
        _POLICIES[task.module_path] = RetryPolicy(
            attempts=attempts, first_delay=first_delay or DEFAULT_POLICY.first_delay, factor=factor
        )
        return task

    return register


def policy_for(task_path: str) -> RetryPolicy:
    if task_path not in _POLICIES:
        # A policy is registered when its task's module is imported; recovery may look before.
        from django.utils.module_loading import import_string

        with contextlib.suppress(ImportError):
            import_string(task_path)
    return _POLICIES.get(task_path, DEFAULT_POLICY)


TRANSIENT = (
    OperationalError,  # connection lost, lock timeout, database shutting down
    InterfaceError,
    ConnectionError,
    TimeoutError,
    smtplib.SMTPServerDisconnected,
    smtplib.SMTPConnectError,
)


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500  # 4xx: "try again later"
    if isinstance(exc, TRANSIENT):
        return True
    try:
        from psycopg_pool import PoolTimeout
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:  # pragma: no cover (both are in the locks)
        return False
    return isinstance(exc, PoolTimeout | RedisConnectionError | RedisTimeoutError)
