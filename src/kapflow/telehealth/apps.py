from django.apps import AppConfig


class TelehealthConfig(AppConfig):
    name = "kapflow.telehealth"
    label = "telehealth"
    verbose_name = "Session room (telehealth)"

    def ready(self):
        from kapflow.encounters import presence
        from kapflow.telehealth import signals  # noqa: F401
        from kapflow.telehealth.selectors import therapist_presence

        # The discharge bills the therapist's time in the room (decision 0049).
        presence.register(therapist_presence)
