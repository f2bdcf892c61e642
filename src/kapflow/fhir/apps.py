from django.apps import AppConfig


class FhirConfig(AppConfig):
    name = "kapflow.fhir"
    label = "fhir"
    verbose_name = "FHIR R4 API and bulk export"
