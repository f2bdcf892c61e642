"""The audit trail (HIPAA 164.312(b)): who did what to which record, when, from where.

Append-only. Rows hold ids and action names, never PHI values. Foreign keys are kept without
database constraints so that an audit row never blocks (or is changed by) deleting something
else; on PostgreSQL a trigger refuses UPDATE and DELETE (migration 0002).
"""

from django.conf import settings
from django.db import models
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

    class Meta:
        indexes = [
            models.Index(fields=["organisation", "-at"]),
            models.Index(fields=["client", "-at"]),
            models.Index(fields=["actor", "-at"]),
        ]

    def __str__(self):
        return f"{self.action} {self.target_type}#{self.target_id}"

    @property
    def action_label(self) -> str:
        return ACTION_LABELS.get(self.action, self.action)
