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

from kapflow.audit.actions import action_words
from kapflow.core.models import TenantQuerySet

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
    content_digest = models.CharField(
        max_length=64,
        blank=True,
        default="",
        db_default="",  # rows inserted by SQL (the runtime-role check) need no value
        help_text="SHA-256 (hex) of the file an export produced, so a copy can be verified.",
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
            models.Index(
                fields=["content_digest"],
                condition=~models.Q(content_digest=""),
                name="audit_event_content_digest_idx",
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
        return action_words(self.action).words


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


class DisclosurePurpose(models.TextChoices):
    TREATMENT = "treatment", "Treatment"
    PAYMENT = "payment", "Payment"
    OPERATIONS = "operations", "Health care operations"
    OTHER = "other", "Another purpose (say which)"


class Disclosure(models.Model):
    """A disclosure of a client's information that staff made outside kapflow (to an
    insurer, a court, public health, another provider), kept for the client's accounting of
    disclosures (HIPAA 164.528, ONC 170.315(d)(11)). Disclosures kapflow itself makes (the
    referral, the partner's reads, copies released, the companion's page) come from the
    audit trail instead (kapflow.audit.accounting).

    Written only by kapflow.audit.services.disclosure_record, with an audit event; never
    changed or deleted (164.528(j): kept six years)."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    client = models.ForeignKey("patients.Client", on_delete=models.PROTECT, related_name="+")
    disclosed_on = models.DateField("Date disclosed")
    recipient = models.CharField(
        "Recipient", max_length=200, help_text="The person or organisation that received it."
    )
    recipient_address = models.CharField(
        "Recipient's address", max_length=300, blank=True, help_text="If known."
    )
    purpose = models.CharField("Purpose", max_length=20, choices=DisclosurePurpose.choices)
    purpose_detail = models.CharField(
        "Statement of purpose",
        max_length=300,
        blank=True,
        help_text="Required for another purpose; optional otherwise.",
    )
    what = models.CharField(
        "What was disclosed", max_length=500, help_text="In words, e.g. 'visit dates, diagnoses'."
    )
    legal_basis = models.CharField(
        "Legal basis",
        max_length=300,
        help_text="e.g. the client's signed authorisation, a court order, a reporting law.",
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(
                fields=["organisation", "client", "-disclosed_on"], name="audit_disclosure_idx"
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(purpose="other") | ~models.Q(purpose_detail=""),
                name="audit_disclosure_other_purpose_stated",
            ),
        ]

    def __str__(self):
        return f"disclosure #{self.pk} on {self.disclosed_on}"
