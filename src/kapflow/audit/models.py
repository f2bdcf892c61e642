"""The audit trail (HIPAA 164.312(b)): who did what to which record, when, from where.

Append-only. Rows hold ids and action names, never PHI values. Foreign keys are kept without
database constraints so that an audit row never blocks (or is changed by) deleting something
else; on PostgreSQL a trigger refuses UPDATE and DELETE (migration 0002), the runtime role
holds only INSERT and SELECT (kapflow.audit.dbrole), and every row carries a keyed digest
chained to the row before it (kapflow.audit.chain, decision 0033). Rows are written only
through kapflow.audit.services.
"""

from django.conf import settings
from django.db import models
from django.db.models.functions import Length
from django.db.models.lookups import Exact
from django.utils import timezone

# Plain words for the client's own access report; unknown actions show their code.
ACTION_LABELS = {
    "client.list": "Saw your name in a client list",
    "client.view": "Opened your record",
    "client.create": "Created your record",
    "client.update": "Changed your details",
    "care_team.add": "Joined your care team",
    "care_team.remove": "Left your care team",
    "care_team.view": "Looked at your care team",
    "portal.record_view": "Viewed your record in the portal",
    "breakglass.opened": "Opened emergency access to your record",
    "breakglass.use": "Used emergency access to your record",
    "breakglass.ended": "Ended emergency access to your record",
    "breakglass.revoked": "Revoked emergency access to your record",
    "breakglass.expired": "Emergency access to your record expired",
    "breakglass.reviewed": "Reviewed an emergency access to your record",
    "breakglass.report": "Looked at an emergency access to your record",
}

# Sign-in and access events the practice reports on (the audit page's "Kind" filter).
EVENT_KINDS = {
    "auth.": "Sign-in, sign-out, failures and lockouts",
    "mfa.": "Multi-factor authentication",
    "access.denied": "Denied access to a record",
    "breakglass.": "Emergency access: opened, used, ended, expired, revoked, reviewed",
}


class AuditEvent(models.Model):
    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        related_name="+",
    )
    organisation = models.ForeignKey(
        "accounts.Organisation",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        related_name="+",
        help_text="The organisation the actor acted for.",
    )
    action = models.CharField(max_length=60)
    target_type = models.CharField(max_length=60, blank=True)
    target_id = models.BigIntegerField(null=True)
    client = models.ForeignKey(
        "patients.Client",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        related_name="+",
        help_text="The client whose record was touched, for the client's access report.",
    )
    request_id = models.CharField(
        max_length=64, blank=True, help_text="Made by the server for each request."
    )
    client_request_id = models.CharField(
        max_length=64,
        blank=True,
        help_text="The caller's X-Request-Id, printable ASCII, for correlation only.",
    )
    ip_address = models.GenericIPAddressField(null=True)
    user_agent = models.CharField(max_length=200, blank=True)
    route = models.CharField(max_length=100, blank=True, help_text="URL name, never the path.")
    changed_fields = models.JSONField(default=list, blank=True)
    record_organisation = models.ForeignKey(
        "accounts.Organisation",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        null=True,
        related_name="+",
        help_text="The organisation holding the record, for a denied access (access.denied).",
    )
    subject_hash = models.CharField(
        max_length=64,
        blank=True,
        help_text="Keyed hash of a typed address that matched no account; never the address.",
    )
    prev_digest = models.CharField(max_length=64, blank=True)
    digest = models.CharField(
        max_length=64, blank=True, help_text="HMAC-SHA256 over the event and prev_digest."
    )

    class Meta:
        indexes = [
            models.Index(fields=["organisation", "-at"]),
            models.Index(fields=["client", "-at"]),
            models.Index(fields=["actor", "-at"]),
            models.Index(
                fields=["record_organisation", "-at"],
                condition=models.Q(record_organisation__isnull=False),
                name="audit_event_record_org_idx",
            ),
        ]
        constraints = [
            # No row without its place in the chain (decision 0033).
            models.CheckConstraint(
                condition=Exact(Length("digest"), 64) & Exact(Length("prev_digest"), 64),
                name="audit_event_chained",
            ),
        ]

    def __str__(self):
        return f"{self.action} {self.target_type}#{self.target_id}"

    @property
    def action_label(self) -> str:
        return ACTION_LABELS.get(self.action, self.action)


class AuditCheck(models.Model):
    """One run of audit_verify: when, what it found. Append-only like the trail; the last
    intact (id, digest) is the next run's checkpoint, so a cut-back tail is noticed."""

    at = models.DateTimeField(default=timezone.now)
    ok = models.BooleanField()
    events = models.BigIntegerField(help_text="Events found intact before any break.")
    last_id = models.BigIntegerField(null=True, help_text="Last intact event.")
    last_digest = models.CharField(max_length=64, blank=True)
    broken_id = models.BigIntegerField(null=True, help_text="First event that fails.")
    detail = models.CharField(max_length=300, blank=True)
    seconds = models.FloatField(default=0)

    class Meta:
        indexes = [models.Index(fields=["-at"], name="audit_check_at_idx")]

    def __str__(self):
        return f"audit check {self.at:%Y-%m-%d %H:%M} {'ok' if self.ok else 'broken'}"
