from django.apps import AppConfig


class PortabilityConfig(AppConfig):
    name = "kapflow.portability"
    label = "portability"
    verbose_name = "Export, import, backup and restore"
