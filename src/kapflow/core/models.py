"""Shared model building blocks: the tenant queryset every organisation-owned model uses,
and the idempotency records that keep one request from being done twice (decision 0038)."""

from django.db import models
from django.utils import timezone


class TenantQuerySet(models.QuerySet):
    """Scopes rows to one organisation. Every selector on a tenant model starts with for_org."""

    def for_org(self, organisation):
        return self.filter(organisation=organisation)


class IdempotencyKind(models.TextChoices):
    API = "api", "API request (Idempotency-Key header)"
    FORM = "form", "Page form (one-time form token)"


class IdempotencyRecord(models.Model):
    """One claimed idempotency key (decision 0038): an API request's Idempotency-Key, or a
    page form's one-time token, for one principal.

    The row is written before the work runs; the unique constraint is what makes two copies
    of one request arriving together safe (the second insert fails and waits its turn).
    `status` is empty while the first copy is still running. An API record keeps the
    response (which may hold PHI, as the response did): it lives only here, never in logs or
    the cache, and is deleted 24 hours after it was made (`idempotency_purge`). A form record
    keeps only the status and where the first copy redirected to.

    The key is stored as its SHA-256 (callers choose it, so it is never kept as typed). The
    principal is "member:<user id>:<organisation id>" for an API token, "user:<user id>" for a
    signed-in session.
    """

    kind = models.CharField(max_length=4, choices=IdempotencyKind.choices)
    principal = models.CharField(max_length=64)
    key_hash = models.CharField(max_length=64)
    fingerprint = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    content_type = models.CharField(max_length=200, blank=True)
    body = models.BinaryField(blank=True, default=b"")
    location = models.CharField(max_length=2000, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "principal", "key_hash"], name="idempotency_one_record_per_key"
            ),
            models.CheckConstraint(
                condition=models.Q(status__isnull=True) | models.Q(completed_at__isnull=False),
                name="idempotency_completed_has_time",
            ),
        ]

    def __str__(self):
        return f"Idempotency record #{self.pk} ({self.kind})"
