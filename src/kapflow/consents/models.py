"""Informed consent: each practice's versioned consent documents, the client's signatures of
them, and withdrawals.

A ConsentDocument row is one published version of one kind of document. Publishing again
makes a new row with the next version, so the text a client signed never changes; the
current document of a kind is its highest published version. Documents, signatures and
withdrawals are append-only: kapflow.consents.services only inserts, and on PostgreSQL a
trigger refuses UPDATE and DELETE (migration 0002). No workflow lives here; the course gate
reads the facts through kapflow.courses.selectors.with_facts.
"""

import hashlib

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from kapflow.accounts.models import Organisation
from kapflow.core.models import TenantQuerySet
from kapflow.patients.models import Client

DRAWN_SIGNATURE_PREFIX = "data:image/png;base64,"
DRAWN_SIGNATURE_MAX_CHARS = 200 * 1024  # the whole data URL; a drawn name is far smaller


class ConsentKind(models.TextChoices):
    KAP = "kap", "Consent to ketamine-assisted psychotherapy"
    TELEHEALTH = "telehealth", "Telehealth and at-home dosing consent"
    RELEASE_OF_INFORMATION = (
        "release_of_information",
        "Release of information to the partner prescriber",
    )
    FINANCIAL_POLICY = "financial_policy", "Financial policy"


def body_sha256(body: str) -> str:
    """The digest a signature keeps of the exact text signed (UTF-8, as stored)."""
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


class ConsentDocument(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=30, choices=ConsentKind.choices)
    version = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    title = models.CharField(max_length=200)
    body = models.TextField(help_text="The full text the client reads and signs.")
    change_summary = models.TextField(
        blank=True, help_text="What changed since the previous version, shown to clients."
    )
    published_at = models.DateTimeField(default=timezone.now)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            # Also the index that finds a kind's current (highest) version.
            models.UniqueConstraint(
                fields=["organisation", "kind", "version"], name="consent_document_version_once"
            ),
            models.CheckConstraint(
                condition=models.Q(version__gte=1), name="consent_document_version_positive"
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()}, version {self.version}"

    @property
    def content_sha256(self) -> str:
        return body_sha256(self.body)


class ConsentSignature(models.Model):
    """One client's signature of one document version, with what proves it: the typed name,
    the date, an optional drawn signature, the time, the request's metadata and the digest of
    the text signed."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    document = models.ForeignKey(
        ConsentDocument, on_delete=models.PROTECT, related_name="signatures"
    )
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="consent_signatures")
    # 1 for the first signature of this version; a client who withdrew and consents again
    # signs the same version once more (2, 3, ...). One signature per round.
    sequence = models.PositiveSmallIntegerField(default=1)
    # The client's own sign-in. Empty only for records loaded without one (demo data).
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    typed_name = models.CharField(max_length=200)
    signed_on = models.DateField()
    drawn_signature = models.TextField(blank=True, help_text="A PNG data URL, when drawn.")
    signed_at = models.DateTimeField(default=timezone.now)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=200, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    content_sha256 = models.CharField(max_length=64)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["document", "client", "sequence"], name="consent_signature_once_per_round"
            ),
            models.CheckConstraint(
                condition=models.Q(drawn_signature="")
                | models.Q(drawn_signature__startswith=DRAWN_SIGNATURE_PREFIX),
                name="consent_signature_drawn_is_png",
            ),
        ]
        indexes = [
            # The course gate's "latest signature of a kind" for one client.
            models.Index(fields=["client", "-signed_at", "-id"], name="consent_sig_client_latest"),
        ]

    def __str__(self):
        return f"Consent signature #{self.pk}"


class ConsentWithdrawal(models.Model):
    """The client withdrew the consent they gave by `signature`: by themselves in the portal,
    or through a clinician on their care team, who then writes why."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    signature = models.OneToOneField(
        ConsentSignature, on_delete=models.PROTECT, related_name="withdrawal"
    )
    withdrawn_at = models.DateTimeField(default=timezone.now)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    on_behalf = models.BooleanField(
        default=False, help_text="Recorded by a clinician on the client's behalf."
    )
    reason = models.TextField(blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=200, blank=True)
    request_id = models.CharField(max_length=64, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(on_behalf=False) | ~models.Q(reason=""),
                name="consent_withdrawal_on_behalf_has_reason",
            ),
        ]

    def __str__(self):
        return f"Consent withdrawal #{self.pk}"
