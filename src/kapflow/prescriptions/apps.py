from django.apps import AppConfig


class PrescriptionsConfig(AppConfig):
    name = "kapflow.prescriptions"
    label = "prescriptions"
    verbose_name = "Referral, evaluation and prescriptions"
    default_auto_field = "django.db.models.BigAutoField"
