from django.apps import AppConfig


class RuntimeConfig(AppConfig):
    name = "kapflow.runtime"
    label = "runtime"
    verbose_name = "Runtime: workers, scheduler, health"
