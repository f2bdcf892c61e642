"""The client's intentions and integration journal.

An entry belongs to the client who wrote it. It is private unless the client shares it; a
shared entry appears in the therapist's course view until the client unshares or deletes it.
The text is therapy content: only kapflow.policy.can_read_shared_journal reads shared entries.
"""

from django.db import models
from django.utils import timezone

from kapflow.accounts.models import Organisation
from kapflow.core.models import TenantQuerySet
from kapflow.patients.models import Client

BODY_MAX = 20_000


class EntryKind(models.TextChoices):
    INTENTION = "intention", "Intention (before a dosing session)"
    INTEGRATION = "integration", "Integration (after a dosing session)"
    REFLECTION = "reflection", "Reflection"


class JournalEntry(models.Model):
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="+", help_text="The client's practice."
    )
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="journal_entries")
    course = models.ForeignKey(
        "courses.Course", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=20, choices=EntryKind.choices)
    dosing_event = models.ForeignKey(
        "courses.CourseEvent",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        limit_choices_to={"kind": "dosing"},
        help_text="The dosing session the entry is about.",
    )
    body = models.TextField(max_length=BODY_MAX)
    shared = models.BooleanField(
        default=False, help_text="Shared with the therapist; private when off."
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    shared_at = models.DateTimeField(
        null=True, blank=True, help_text="When it was last shared; empty while private."
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "journal entries"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=EntryKind.values), name="journal_entry_kind_valid"
            ),
            # Shared and shared_at move together, so "shared since" is never missing.
            models.CheckConstraint(
                condition=models.Q(shared=True, shared_at__isnull=False)
                | models.Q(shared=False, shared_at__isnull=True),
                name="journal_entry_shared_at_matches",
            ),
        ]
        indexes = [
            # The client's own list, newest first.
            models.Index(
                fields=["organisation", "client", "-created_at", "-id"],
                name="journal_entry_client_list",
            ),
            # The course view: shared entries only.
            models.Index(
                fields=["course", "-created_at", "-id"],
                condition=models.Q(shared=True),
                name="journal_entry_shared_course",
            ),
        ]

    def __str__(self):
        return f"Journal entry #{self.pk}"
