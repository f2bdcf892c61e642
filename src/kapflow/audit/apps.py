from django.apps import AppConfig
from django.core import checks


def check_audit_key(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """audit.W001: without KAPFLOW_AUDIT_KEY the chain key is derived from SECRET_KEY, so
    rotating SECRET_KEY makes every earlier digest fail verification (decision 0033)."""
    from django.conf import settings

    if settings.KAPFLOW_AUDIT_KEY or settings.TESTING or settings.KAPFLOW_DEMO_MODE:
        return []
    return [
        checks.Warning(
            "KAPFLOW_AUDIT_KEY is not set: the audit chain's key is derived from SECRET_KEY.",
            hint="Set KAPFLOW_AUDIT_KEY to a long random value and keep it apart from the "
            "database (docs/security.md, 'Audit trail').",
            id="audit.W001",
        )
    ]


class AuditConfig(AppConfig):
    name = "kapflow.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self):
        from axes.signals import user_locked_out
        from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
        from django.db.models.signals import post_save

        from kapflow import policy
        from kapflow.audit import signals
        from kapflow.audit.services import audit_route_not_found
        from kapflow.core.access import register_staff_gate

        checks.register(check_audit_key)
        # core's staff gate (core.access) asks policy and refuses through the audit trail.
        register_staff_gate(is_staff=policy.is_staff_actor, refuse=audit_route_not_found)
        # Sign-in events are audit events (issue 13). axes connects its own receivers first
        # (it is installed before this app), so a lockout is known when on_sign_in_failed runs.
        user_logged_in.connect(signals.on_signed_in, dispatch_uid="kapflow_audit_sign_in")
        user_logged_out.connect(signals.on_signed_out, dispatch_uid="kapflow_audit_sign_out")
        user_login_failed.connect(
            signals.on_sign_in_failed, dispatch_uid="kapflow_audit_sign_in_failed"
        )
        user_locked_out.connect(signals.on_locked_out, dispatch_uid="kapflow_audit_lockout")
        post_save.connect(signals.on_device_saved, dispatch_uid="kapflow_audit_mfa_fail")
