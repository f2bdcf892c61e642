from django.apps import AppConfig
from django.core import checks

CONSOLE = "django.core.mail.backends.console.EmailBackend"
# Backends that deliver to nobody: fine for the demo, debug and tests, not for production.
LOCAL_BACKENDS = {
    "kapflow.outbox.backend.OutboxBackend",
    "django.core.mail.backends.locmem.EmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
    "django.core.mail.backends.dummy.EmailBackend",
}


def check_email_backend(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """outbox.E001: the console backend prints addresses and live links (invitations, password
    resets) to the process's output, which ends up in logs. outbox.W001: a local backend
    outside the demo, debug and tests means nobody receives mail (decision 0039)."""
    from django.conf import settings

    if settings.DEBUG or settings.KAPFLOW_DEMO_MODE or settings.TESTING:
        return []
    if settings.EMAIL_BACKEND == CONSOLE:
        return [
            checks.Error(
                "EMAIL_BACKEND is the console backend: every message, with its live links, "
                "would be printed to the output.",
                hint="Set EMAIL_BACKEND (and EMAIL_HOST, ...) to send by SMTP.",
                id="outbox.E001",
            )
        ]
    if settings.EMAIL_BACKEND in LOCAL_BACKENDS:
        return [
            checks.Warning(
                f"EMAIL_BACKEND is {settings.EMAIL_BACKEND}: no message reaches anyone.",
                hint="Set EMAIL_BACKEND (and EMAIL_HOST, ...) to send by SMTP.",
                id="outbox.W001",
            )
        ]
    return []


class OutboxConfig(AppConfig):
    name = "kapflow.outbox"
    label = "outbox"
    verbose_name = "Local outbox"

    def ready(self):
        checks.register(check_email_backend)
