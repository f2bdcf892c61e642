from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "kapflow.alerts"
    label = "alerts"
    verbose_name = "Reactions and help alerts"
