from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "kapflow.scheduling"
    label = "scheduling"
    verbose_name = "Appointments and availability"
