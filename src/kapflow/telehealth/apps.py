from django.apps import AppConfig


class TelehealthConfig(AppConfig):
    name = "kapflow.telehealth"
    label = "telehealth"
    verbose_name = "Session room (telehealth)"

    def ready(self):
        from kapflow.telehealth import signals  # noqa: F401
