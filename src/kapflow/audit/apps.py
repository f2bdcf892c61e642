from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "kapflow.audit"
    label = "audit"
    verbose_name = "Audit trail"
