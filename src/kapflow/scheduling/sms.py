"""Text messages: a small backend interface, chosen by the KAPFLOW_SMS_BACKEND setting
(a dotted path; the console backend by default).

A backend has one method, `send(to: str, body: str) -> None`. Bodies carry no PHI (see
kapflow.scheduling.reminders); the console backend still never prints the number in full.
"""

import logging
import sys

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

DEFAULT_BACKEND = "kapflow.scheduling.sms.ConsoleBackend"


def _masked(number: str) -> str:
    digits = "".join(ch for ch in number if ch.isdigit())
    return "…" + digits[-2:] if digits else "…"


class ConsoleBackend:
    """Prints the message to stdout with the number masked (development and the demo)."""

    def send(self, to: str, body: str) -> None:
        sys.stdout.write(f"[sms to {_masked(to)}] {body}\n")
        logger.info("sms.sent", extra={"backend": "console", "length": len(body)})


class LocmemBackend:
    """Keeps messages in `LocmemBackend.outbox` (tests)."""

    outbox: list[tuple[str, str]] = []

    def send(self, to: str, body: str) -> None:
        type(self).outbox.append((to, body))


def get_backend():
    return import_string(getattr(settings, "KAPFLOW_SMS_BACKEND", DEFAULT_BACKEND))()
