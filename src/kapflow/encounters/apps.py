from django.apps import AppConfig


class EncountersConfig(AppConfig):
    name = "kapflow.encounters"
    label = "encounters"
    verbose_name = "Dosing and group sessions"
