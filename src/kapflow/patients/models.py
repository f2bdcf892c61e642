"""The client (patient) record and the care team around it.

A client belongs to the therapy practice that owns the record (`organisation`). Clinicians of
a partner organisation reach a client only through an active CareTeamMember row (the grant).
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from kapflow.accounts.models import STATE_CHOICES, Membership, Organisation
from kapflow.core import clock
from kapflow.core.models import TenantQuerySet
from kapflow.core.names import check_names

# Fields holding a person's name: no invisible or direction characters (kapflow.core.names).
PERSON_NAME_FIELDS = (
    "legal_first_name",
    "legal_last_name",
    "preferred_name",
    "emergency_contact_name",
)


class Client(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    legal_first_name = models.CharField("Legal first name", max_length=100)
    legal_last_name = models.CharField("Legal last name", max_length=100)
    preferred_name = models.CharField("Preferred name", max_length=100, blank=True)
    pronouns = models.CharField(max_length=40, blank=True)
    date_of_birth = models.DateField("Date of birth")
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=30, blank=True)
    address_line1 = models.CharField("Address", max_length=200, blank=True)
    address_line2 = models.CharField("Address line 2", max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(
        max_length=2,
        choices=STATE_CHOICES,
        help_text="Where the client is located; clinicians must be licensed here.",
    )
    postal_code = models.CharField("ZIP code", max_length=10, blank=True)
    emergency_contact_name = models.CharField(max_length=200, blank=True)
    emergency_contact_relationship = models.CharField(max_length=100, blank=True)
    emergency_contact_phone = models.CharField(max_length=30, blank=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="client_record",
        help_text="The client's own portal sign-in, once invited.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["organisation", "legal_last_name", "legal_first_name", "id"]),
        ]

    def __str__(self):
        return f"Client #{self.pk}"

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("patients:detail", args=[self.pk])

    @property
    def display_name(self) -> str:
        first = self.preferred_name or self.legal_first_name
        return f"{first} {self.legal_last_name}"

    @property
    def sort_name(self) -> str:
        return f"{self.legal_last_name}, {self.legal_first_name}"

    def clean(self):
        super().clean()
        errors = {}
        try:
            check_names(
                {f: getattr(self, f) for f in PERSON_NAME_FIELDS},
                {
                    f: str(self._meta.get_field(f).verbose_name).capitalize()
                    for f in PERSON_NAME_FIELDS
                },
            )
        except ValidationError as exc:
            errors.update({field: messages[0] for field, messages in exc.message_dict.items()})
        if self.date_of_birth and self.date_of_birth > clock.clinical_date(
            self.organisation if self.organisation_id else None
        ):
            errors["date_of_birth"] = "Date of birth cannot be in the future."
        if self.postal_code and not (
            self.postal_code.replace("-", "").isdigit() and len(self.postal_code) in (5, 10)
        ):
            errors["postal_code"] = "Enter a 5-digit ZIP code or ZIP+4 (12345-6789)."
        if errors:
            raise ValidationError(errors)


class CareTeamRole(models.TextChoices):
    THERAPIST = "therapist", "Therapist"
    PRESCRIBER = "prescriber", "Prescriber"


class CareTeamMember(models.Model):
    """A clinician on a client's care team. For a partner prescriber this row is the grant that
    lets them see the client; ending it (ended_at) removes access but keeps the history."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="+", help_text="The client's practice."
    )
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="care_team")
    membership = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="care_of")
    role = models.CharField(max_length=20, choices=CareTeamRole.choices)
    is_primary = models.BooleanField(default=False)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    added_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_reason = models.CharField(max_length=500, blank=True)
    licence_warning = models.CharField(
        max_length=300, blank=True, help_text="The licensure warning shown when assigned."
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["client", "membership", "role"],
                condition=models.Q(ended_at__isnull=True),
                name="care_team_active_unique",
            )
        ]
        indexes = [
            models.Index(fields=["membership", "ended_at", "client"]),
            models.Index(fields=["organisation", "client"]),
        ]

    def __str__(self):
        return f"{self.get_role_display()} for client #{self.client_id}"


class Companion(models.Model):
    """A trusted adult named by the client for at-home sessions (seed 000). Companions see
    scheduling and safety information only, never clinical content."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="companions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="companion_of"
    )
    relationship = models.CharField(max_length=100, blank=True)
    date_of_birth = models.DateField(null=True, blank=True, help_text="Companions are 18+.")
    checklist = models.JSONField(default=dict, blank=True, help_text="{item code: done}")
    confirmed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "user"], name="companion_unique")]

    def __str__(self):
        return f"Companion for client #{self.client_id}"


class CompanionCheckin(models.Model):
    """What the companion sees during an at-home session: a check-in, optionally with the
    vitals the companion reads off the home monitor. Shown to the therapist at once."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    companion = models.ForeignKey(Companion, on_delete=models.PROTECT, related_name="checkins")
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+")
    course = models.ForeignKey(
        "courses.Course", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)
    state = models.CharField(
        max_length=20,
        choices=[
            ("settled", "Calm and settled"),
            ("restless", "Restless or uneasy"),
            ("distressed", "Distressed"),
            ("unresponsive", "Hard to rouse or not responding"),
        ],
    )
    bp_systolic = models.PositiveSmallIntegerField(null=True, blank=True)
    bp_diastolic = models.PositiveSmallIntegerField(null=True, blank=True)
    heart_rate = models.PositiveSmallIntegerField(null=True, blank=True)
    note = models.CharField(max_length=500, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["client", "-recorded_at"])]

    def __str__(self):
        return f"Companion check-in #{self.pk}"


# ---- emergency access ("break glass", decision 0036) ---------------------------------------

# A grant lasts an hour unless the clinician asks for less or more, never above four hours
# (ONC 170.315(d)(6); HIPAA 164.312(a)(2)(ii)). Long enough to handle the emergency, short
# enough that continuing care goes through the care team.
EMERGENCY_DEFAULT_MINUTES = 60
EMERGENCY_MAX_MINUTES = 240
EMERGENCY_EXPLANATION_MAX = 2000


class EmergencyReason(models.TextChoices):
    IMMINENT_RISK = "imminent_risk", "Imminent risk to the client's safety"
    MEDICAL_EMERGENCY = "medical_emergency", "Medical emergency during or after a session"
    COVERING = "covering_clinician", "Covering for a clinician who cannot be reached"


class EmergencyEnd(models.TextChoices):
    ENDED = "ended", "Ended by the clinician"
    REVOKED = "revoked", "Revoked by a practice admin"
    EXPIRED = "expired", "Expired"


class EmergencyAccess(models.Model):
    """A licensed clinician of the practice, not on the client's care team, reading the
    client's record in an emergency. Access lasts while `ended_at` is empty and `expires_at`
    is in the future (kapflow.policy); the practice's admins are told at once and review
    every grant. Rows are never deleted."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="+", help_text="The client's practice."
    )
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="emergency_accesses")
    membership = models.ForeignKey(
        Membership, on_delete=models.PROTECT, related_name="emergency_accesses"
    )
    reason_code = models.CharField("Reason", max_length=30, choices=EmergencyReason.choices)
    explanation = models.TextField(
        max_length=EMERGENCY_EXPLANATION_MAX,
        help_text="What is happening, in the clinician's words.",
    )
    licence_warning = models.CharField(
        max_length=300, blank=True, help_text="The licensure finding for the client's state."
    )
    started_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    end_kind = models.CharField(max_length=20, choices=EmergencyEnd.choices, blank=True)
    ended_by = models.ForeignKey(
        Membership, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    end_note = models.CharField(max_length=500, blank=True, help_text="Why an admin revoked it.")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        Membership, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    review_note = models.TextField(max_length=EMERGENCY_EXPLANATION_MAX, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(reason_code__in=EmergencyReason.values),
                name="emergency_access_reason_valid",
            ),
            models.CheckConstraint(
                condition=~models.Q(explanation=""), name="emergency_access_explained"
            ),
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("started_at")),
                name="emergency_access_expires_after_start",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(ended_at__isnull=True, end_kind="")
                    | models.Q(ended_at__isnull=False, end_kind__in=EmergencyEnd.values)
                ),
                name="emergency_access_end_has_kind",
            ),
            models.CheckConstraint(
                condition=models.Q(reviewed_at__isnull=True) | ~models.Q(review_note=""),
                name="emergency_access_review_has_note",
            ),
            # One open grant per clinician and client: a double submit finds the first.
            models.UniqueConstraint(
                fields=["client", "membership"],
                condition=models.Q(ended_at__isnull=True),
                name="emergency_access_open_unique",
            ),
        ]
        indexes = [
            # The policy's subquery and the per-request check: the actor's open grants.
            models.Index(fields=["membership", "ended_at", "client"]),
            # The admin's report and home: unreviewed first, newest first.
            models.Index(fields=["organisation", "reviewed_at", "-started_at"]),
        ]

    def __str__(self):
        return f"Emergency access #{self.pk} to client #{self.client_id}"

    def is_active(self, at) -> bool:
        return self.ended_at is None and self.expires_at > at
