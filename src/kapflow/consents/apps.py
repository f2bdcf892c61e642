from django.apps import AppConfig


class ConsentsConfig(AppConfig):
    name = "kapflow.consents"
    label = "consents"
    verbose_name = "Informed consent"
