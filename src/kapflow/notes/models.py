"""Clinical notes: progress notes and psychotherapy notes, their addenda, and supervision.

A note belongs to the client's practice (`organisation`), even when a partner prescriber
writes it. It is a draft until its author signs it; signing freezes the content, records the
typed signature and the SHA-256 of what was signed. After that the only changes are dated
addenda, and, for a clinician under supervision, one co-signature by the supervisor. On
PostgreSQL a trigger (migration 0002) refuses any other change to a signed note, and any
change to an addendum.

Psychotherapy notes (HIPAA 45 CFR 164.501) are `kind=psychotherapy`: kept apart from the
record, read only by their author and the author's supervisor, never in a records-request
bundle. Who reads what is in kapflow.policy (notes section).
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from kapflow.accounts.models import Membership, Organisation
from kapflow.clinical.notes import FORMATS, SESSION_TYPES
from kapflow.core.models import TenantQuerySet
from kapflow.patients.models import Client

ADDENDUM_MAX = 20_000


class SessionType(models.TextChoices):
    INTAKE = "intake", SESSION_TYPES["intake"]
    PREPARATION = "preparation", SESSION_TYPES["preparation"]
    DOSING = "dosing", SESSION_TYPES["dosing"]
    INTEGRATION = "integration", SESSION_TYPES["integration"]
    FOLLOWUP = "followup", SESSION_TYPES["followup"]
    THERAPY = "therapy", SESSION_TYPES["therapy"]


class NoteFormat(models.TextChoices):
    DAP = "dap", FORMATS["dap"]
    SOAP = "soap", FORMATS["soap"]


class NoteKind(models.TextChoices):
    PROGRESS = "progress", "Progress note (part of the record)"
    PSYCHOTHERAPY = "psychotherapy", "Psychotherapy note (kept apart, HIPAA 164.501)"


class NoteStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SIGNED = "signed", "Signed"


class Supervision(models.Model):
    """A supervised clinician (supervisee) and their supervisor in one practice. While it is
    active, notes the supervisee signs need the supervisor's co-signature to be final."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    supervisee = models.ForeignKey(
        Membership, on_delete=models.PROTECT, related_name="supervisions_as_supervisee"
    )
    supervisor = models.ForeignKey(
        Membership, on_delete=models.PROTECT, related_name="supervisions_as_supervisor"
    )
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            # One active supervisor per supervisee: the co-sign queue has one owner.
            models.UniqueConstraint(
                fields=["supervisee"],
                condition=models.Q(ended_at__isnull=True),
                name="supervision_one_active_per_supervisee",
            ),
            models.CheckConstraint(
                condition=~models.Q(supervisee=models.F("supervisor")),
                name="supervision_not_self",
            ),
        ]
        indexes = [models.Index(fields=["supervisor", "ended_at"])]

    def __str__(self):
        return f"Supervision #{self.pk}"

    @property
    def active(self) -> bool:
        return self.ended_at is None


class Note(models.Model):
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="+", help_text="The client's practice."
    )
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="clinical_notes")
    course = models.ForeignKey(
        "courses.Course", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    appointment = models.ForeignKey(
        "scheduling.Appointment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    session_type = models.CharField(max_length=20, choices=SessionType.choices)
    format = models.CharField(max_length=10, choices=NoteFormat.choices)
    kind = models.CharField(max_length=20, choices=NoteKind.choices, default=NoteKind.PROGRESS)
    session_date = models.DateField(help_text="The day of the session the note is about.")
    sections = models.JSONField(default=dict, blank=True, help_text="{section key: text}")
    status = models.CharField(max_length=10, choices=NoteStatus.choices, default=NoteStatus.DRAFT)
    author = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="+")
    author_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # Optimistic concurrency: every save of a draft carries the version it was made against.
    version = models.PositiveIntegerField(default=1)
    signed_at = models.DateTimeField(null=True, blank=True)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    signature_name = models.CharField(max_length=200, blank=True, help_text="Typed full name.")
    content_sha256 = models.CharField(max_length=64, blank=True)
    cosign_required = models.BooleanField(default=False)
    cosigned_at = models.DateTimeField(null=True, blank=True)
    cosigned_by = models.ForeignKey(
        Membership, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    cosign_name = models.CharField(max_length=200, blank=True, help_text="Typed full name.")

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(session_type__in=SessionType.values),
                name="note_session_type_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(format__in=NoteFormat.values), name="note_format_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=NoteKind.values), name="note_kind_valid"
            ),
            # A signed note has its signature; a draft has none.
            models.CheckConstraint(
                condition=(
                    models.Q(
                        status="signed",
                        signed_at__isnull=False,
                        signed_by__isnull=False,
                        content_sha256__regex=r"^[0-9a-f]{64}$",
                    )
                    | models.Q(status="draft", signed_at__isnull=True, cosigned_at__isnull=True)
                ),
                name="note_signature_matches_status",
            ),
            models.CheckConstraint(
                condition=models.Q(cosigned_at__isnull=True)
                | models.Q(cosign_required=True, cosigned_by__isnull=False),
                name="note_cosign_only_when_required",
            ),
        ]
        indexes = [
            models.Index(
                fields=["organisation", "client", "-session_date", "-id"], name="note_client_list"
            ),
            models.Index(
                fields=["author", "status"],
                condition=models.Q(cosign_required=True, cosigned_at__isnull=True),
                name="note_awaiting_cosign",
            ),
        ]

    def __str__(self):
        return f"Note #{self.pk}"

    @property
    def is_signed(self) -> bool:
        return self.status == NoteStatus.SIGNED

    @property
    def is_final(self) -> bool:
        """Signed, and co-signed when the author was under supervision."""
        return self.is_signed and (not self.cosign_required or self.cosigned_at is not None)

    @property
    def awaiting_cosign(self) -> bool:
        return self.is_signed and self.cosign_required and self.cosigned_at is None


class Addendum(models.Model):
    """A dated, attributed addition to a signed note. Immutable once written."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    note = models.ForeignKey(Note, on_delete=models.PROTECT, related_name="addenda")
    author = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="+")
    author_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    text = models.TextField(max_length=ADDENDUM_MAX)
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "addenda"
        indexes = [models.Index(fields=["note", "created_at", "id"])]

    def __str__(self):
        return f"Addendum #{self.pk}"
