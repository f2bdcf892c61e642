"""Questionnaire assignments, responses, one-time links and urgent safety tasks.

Scoring and safety rules live in kapflow.clinical.instruments; this module stores what was
asked, what was answered and what the rules concluded at that moment. A submitted response
is immutable: a correction is a new response that points at the one it corrects.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from kapflow.accounts.models import Membership, Organisation
from kapflow.core.models import TenantQuerySet
from kapflow.patients.models import Client


class Schedule(models.TextChoices):
    ONCE = "once", "Once"
    BASELINE = "baseline", "Baseline, before the first dosing"
    PRE_DOSING = "pre_dosing", "Before a dosing session"
    WEEK_AFTER = "week_after", "One week after a dosing session"
    MONTHLY = "monthly", "Monthly"


class MeasurementPlan(models.Model):
    """A standing order: ask the client for this instrument on the KAP schedule (baseline,
    before each dosing, a week after, then monthly) while the course is open."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="measurement_plans")
    course = models.ForeignKey("courses.Course", on_delete=models.PROTECT, related_name="+")
    instrument = models.CharField(max_length=20)
    created_by = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["course", "instrument"],
                condition=models.Q(ended_at__isnull=True),
                name="measurement_plan_one_active",
            )
        ]

    def __str__(self):
        return f"Measurement plan #{self.pk} ({self.instrument})"


class Assignment(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="assignments")
    course = models.ForeignKey(
        "courses.Course", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    instrument = models.CharField(max_length=20)
    schedule = models.CharField(max_length=20, choices=Schedule.choices, default=Schedule.ONCE)
    plan = models.ForeignKey(
        MeasurementPlan, on_delete=models.PROTECT, null=True, blank=True, related_name="assignments"
    )
    occasion = models.CharField(max_length=20, blank=True, help_text="The plan's occasion key.")
    due_at = models.DateTimeField(null=True, blank=True)
    assigned_by = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="+")
    assigned_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["client", "completed_at", "cancelled_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "occasion"],
                condition=models.Q(plan__isnull=False),
                name="assignment_once_per_plan_occasion",
            )
        ]

    def __str__(self):
        return f"Assignment #{self.pk} ({self.instrument})"

    @property
    def is_open(self) -> bool:
        return self.completed_at is None and self.cancelled_at is None


class Source(models.TextChoices):
    PORTAL = "portal", "Client portal"
    LINK = "link", "One-time link"
    STAFF = "staff", "Entered by staff"


class Response(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="responses")
    course = models.ForeignKey(
        "courses.Course", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    assignment = models.ForeignKey(
        Assignment, on_delete=models.PROTECT, null=True, blank=True, related_name="responses"
    )
    instrument = models.CharField(max_length=20)
    answers = models.JSONField(default=dict, blank=True)
    total = models.SmallIntegerField(null=True, blank=True)
    band = models.CharField(max_length=60, blank=True)
    severity = models.SmallIntegerField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    safety_flags = models.JSONField(default=list, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    started_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)
    corrects = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="corrected_by"
    )
    correction_reason = models.CharField(max_length=500, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [
            # Per-client first and latest scores for outcomes, read from the index alone.
            models.Index(
                fields=["client", "instrument", "submitted_at", "id"],
                include=["total"],
                condition=models.Q(submitted_at__isnull=False),
                name="response_current_totals",
            ),
            models.Index(fields=["client", "instrument", "submitted_at"]),
            models.Index(fields=["organisation", "instrument", "submitted_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(submitted_at__isnull=True) | models.Q(total__isnull=False),
                name="response_submitted_has_total",
            )
        ]

    def __str__(self):
        return f"Response #{self.pk} ({self.instrument})"

    @property
    def is_submitted(self) -> bool:
        return self.submitted_at is not None


class ResponseLink(models.Model):
    """A one-time link to complete an assignment without signing in. The URL carries an
    opaque token (only its hash is stored) and shows no PHI."""

    assignment = models.ForeignKey(Assignment, on_delete=models.PROTECT, related_name="links")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"Link for assignment #{self.assignment_id}"


class Decision(models.TextChoices):
    PROCEED = "proceed", "Risk assessed: safe to continue the course"
    HOLD = "hold", "Hold dosing; safety plan in place"
    HIGHER_CARE = "higher_care", "Refer to a higher level of care"


class UrgentTask(models.Model):
    """Raised at once by a positive safety screen; closed by a clinician's risk assessment."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="urgent_tasks")
    course = models.ForeignKey(
        "courses.Course", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # The scored screen that raised it, or (a screen typed on the course page) its event.
    response = models.ForeignKey(
        Response, on_delete=models.PROTECT, null=True, blank=True, related_name="urgent_tasks"
    )
    screen_event = models.ForeignKey(
        "courses.CourseEvent", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # A reassessment after "hold" or "higher care" is a new, already resolved task (decision
    # 0029): the first decision stays as it was signed.
    reassesses = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="reassessments"
    )
    codes = models.JSONField(default=list)
    level = models.CharField(max_length=10)
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        Membership, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decision = models.CharField(max_length=20, choices=Decision.choices, blank=True)
    # The structured risk assessment that closes the task (decision 0029): free text alone
    # never does. `assessment_note` is its rationale.
    assessment_note = models.TextField(blank=True)
    risk_level = models.CharField(
        max_length=10,
        blank=True,
        choices=[("low", "Low"), ("moderate", "Moderate"), ("high", "High")],
    )
    protective_factors_reviewed = models.BooleanField(default=False)
    safety_plan_reviewed = models.BooleanField(default=False)
    means_restriction_discussed = models.BooleanField(default=False)
    # Why the assessed level is lower than the screen's (required for that; decision 0029).
    downgrade_rationale = models.TextField(blank=True)
    licence_type = models.CharField(max_length=10, blank=True)
    licence_state = models.CharField(max_length=2, blank=True)
    licence_number = models.CharField(max_length=50, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["organisation", "resolved_at"])]

    def __str__(self):
        return f"Urgent task #{self.pk}"
