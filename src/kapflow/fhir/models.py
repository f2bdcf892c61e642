"""Bulk $export jobs (FHIR Bulk Data): who asked for what, where the task worker is with it,
and the NDJSON files it wrote. The files live under MEDIA_ROOT/private/fhir-exports/, which no
URL serves; only the requester downloads them, through a view that re-checks, until they
expire and the periodic purge deletes them (decision 0048)."""

from django.db import models
from django.utils import timezone

from kapflow.accounts.models import Membership, Organisation
from kapflow.core.models import TenantQuerySet


class ExportLevel(models.TextChoices):
    SYSTEM = "system", "Everything the requester may see"
    PATIENT = "patient", "Every patient the requester may see"
    GROUP = "group", "The patients of one clinician's caseload"


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETE = "complete", "Complete"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired (files deleted)"


ACTIVE_STATUSES = (ExportStatus.QUEUED, ExportStatus.RUNNING)


class BulkExport(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    requested_by = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="+")
    # The status URL's id: random, so one export's address says nothing about another's.
    token = models.CharField(max_length=64, unique=True)
    level = models.CharField(max_length=10, choices=ExportLevel.choices)
    group = models.ForeignKey(
        Membership, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        help_text="Group level: the clinician whose caseload is exported.",
    )  # fmt: skip
    types = models.JSONField(default=list, help_text="FHIR resource types, in order.")
    since = models.DateTimeField(null=True, blank=True)
    request_url = models.CharField(max_length=2000, help_text="The kick-off URL (ids only).")
    status = models.CharField(
        max_length=10, choices=ExportStatus.choices, default=ExportStatus.QUEUED
    )
    progress = models.CharField(max_length=200, blank=True)
    output = models.JSONField(default=list, blank=True, help_text="[{type, file, count}]")
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["requested_by", "status"]),
            models.Index(fields=["status", "expires_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=ExportStatus.values),
                name="bulk_export_status_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(level__in=ExportLevel.values), name="bulk_export_level_valid"
            ),
        ]

    def __str__(self):
        return f"Bulk export #{self.pk}"
