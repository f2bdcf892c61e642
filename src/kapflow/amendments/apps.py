from django.apps import AppConfig


class AmendmentsConfig(AppConfig):
    name = "kapflow.amendments"
    label = "amendments"
    verbose_name = "Record amendments"
