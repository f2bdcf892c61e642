from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "kapflow.patients"
    label = "patients"
    verbose_name = "Clients and care teams"
