from django.apps import AppConfig


class AssessmentsConfig(AppConfig):
    name = "kapflow.assessments"
    label = "assessments"
    verbose_name = "Assessments and outcomes"
