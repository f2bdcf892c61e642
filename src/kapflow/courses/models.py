"""A client's KAP course of care, its timeline, and the practice's gate settings.

The course row holds the current state (stage and the facts the gates read); every change is
also a CourseEvent, the timeline that records who, when and why. Deadlines are not stored:
kapflow.clinical.course computes them from these rows.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from kapflow.accounts.models import Membership, Organisation
from kapflow.clinical.course import STAGE_LABELS, Delivery, Pathway, Stage
from kapflow.core.models import TenantQuerySet
from kapflow.patients.models import Client

STAGE_CHOICES = [(s.value, STAGE_LABELS[s]) for s in Stage]
PATHWAY_CHOICES = [
    (Pathway.HIGHER_DOSE.value, "Higher-dose sessions"),
    (Pathway.LOW_DOSE.value, "Psycholytic low-dose"),
]
DELIVERY_CHOICES = [
    (Delivery.IN_PERSON.value, "In person"),
    (Delivery.AT_HOME.value, "At home by telehealth, with a companion"),
]
CLOSED_VALUES = ["not_eligible", "completed", "discharged", "withdrawn"]
# What the course mainly treats (seeds 001-004); the ICD-10-CM diagnoses come with the
# referral (issue 5). Used to group outcomes.
CONDITION_CHOICES = [
    ("depression", "Depression"),
    ("anxiety", "Anxiety"),
    ("ptsd", "PTSD / trauma"),
    ("ocd", "OCD"),
    ("substance_use", "Substance use"),
    ("other", "Other"),
]


def stage_rank() -> models.Case:
    """Each stage's place in the pipeline, for ordering (an index is built on it)."""
    return models.Case(
        *[models.When(stage=s.value, then=models.Value(rank)) for rank, s in enumerate(Stage)],
        output_field=models.IntegerField(),
    )


class GateSettings(models.Model):
    """Per-practice thresholds for kapflow.clinical.course.GatePolicy (DOMAIN.md section 2)."""

    organisation = models.OneToOneField(
        Organisation, on_delete=models.PROTECT, related_name="gate_settings"
    )
    bp_systolic_max = models.PositiveSmallIntegerField(
        default=160, validators=[MinValueValidator(100), MaxValueValidator(220)]
    )
    bp_diastolic_max = models.PositiveSmallIntegerField(
        default=100, validators=[MinValueValidator(60), MaxValueValidator(140)]
    )
    screen_valid_days = models.PositiveSmallIntegerField(default=7)
    integration_hours = models.PositiveSmallIntegerField(default=72)
    followup_grace_days = models.PositiveSmallIntegerField(default=14)
    followup_interval_days = models.PositiveSmallIntegerField(default=90)
    # A refill request is raised when doses left fall to this many (issue 5).
    refill_threshold = models.PositiveSmallIntegerField(
        default=1, validators=[MaxValueValidator(20)]
    )
    # Minimum hours from the last dose to the next dosing (decision 0030; the default's
    # reasoning is on GatePolicy.dose_interval_hours). Never under 12: a session lasts two to
    # three hours and the client must not drive until the next day (DOMAIN.md section 2).
    dose_interval_hours = models.PositiveSmallIntegerField(
        default=24, validators=[MinValueValidator(12), MaxValueValidator(720)]
    )

    # Stricter owners of gate reasons than kapflow.clinical.overrides' defaults: reason code
    # -> "prescriber" or "nobody" (decision 0029). Never looser: clean() refuses it.
    override_authority = models.JSONField(default=dict, blank=True)

    def __str__(self):
        return f"Gate settings for {self.organisation}"

    def clean(self):
        from kapflow.clinical.overrides import practice_problems

        if not isinstance(self.override_authority, dict):
            raise ValidationError({"override_authority": "Expected reason code -> authority."})
        problems = practice_problems(self.override_authority)
        if problems:
            raise ValidationError(
                {"override_authority": [f"{code}: {msg}" for code, msg in problems.items()]}
            )


class Course(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="courses")
    stage = models.CharField(max_length=30, choices=STAGE_CHOICES, default="inquiry")
    # The stage's place in the pipeline, kept by the database: the caseload sorts by a column,
    # so its prepared statement has one plan that walks course_org_stage_rank whatever the
    # parameters (an ORDER BY CASE with bound values could not use the index, decision 0055).
    stage_rank = models.GeneratedField(
        expression=stage_rank(), output_field=models.SmallIntegerField(), db_persist=True
    )
    pathway = models.CharField(max_length=20, choices=PATHWAY_CHOICES, default="higher_dose")
    delivery = models.CharField(max_length=20, choices=DELIVERY_CHOICES, default="in_person")
    condition = models.CharField(max_length=20, choices=CONDITION_CHOICES, default="depression")
    therapist = models.ForeignKey(
        Membership, on_delete=models.PROTECT, related_name="courses_as_therapist"
    )
    prescriber = models.ForeignKey(
        Membership,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="courses_as_prescriber",
    )
    opened_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    stage_changed_at = models.DateTimeField(default=timezone.now)
    # The current eligibility and clearance, written only by the prescriber's signed
    # decision (kapflow.prescriptions.EligibilityDecision holds the record and findings).
    eligibility = models.CharField(
        max_length=20,
        blank=True,
        choices=[("eligible", "Eligible"), ("not_eligible", "Not eligible")],
    )
    clearance_on = models.DateField(null=True, blank=True)
    clearance_valid_days = models.PositiveSmallIntegerField(null=True, blank=True)
    # Consent is not stored here: the gate reads the client's signatures of the practice's
    # current documents (kapflow.consents) through courses.selectors.with_facts.
    preparation_planned = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(3)]
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["client"],
                condition=models.Q(closed_at__isnull=True),
                name="course_one_open_per_client",
            ),
        ]
        indexes = [
            # The caseload's default order: stages in pipeline order, longest waiting first.
            models.Index(
                fields=["organisation", "stage_rank", "stage_changed_at", "id"],
                name="course_org_stage_rank",
            ),
            # The caseload filtered by stage, longest-waiting first.
            models.Index(
                fields=["organisation", "stage", "stage_changed_at", "id"],
                name="course_org_stage_changed",
            ),
            models.Index(fields=["therapist", "closed_at"]),
            models.Index(fields=["prescriber", "stage"]),
        ]

    def __str__(self):
        return f"Course #{self.pk}"

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("courses:detail", args=[self.pk])


class EventKind(models.TextChoices):
    TRANSITION = "transition", "Stage change"
    PRESCRIPTION = "prescription", "Prescription recorded"
    CLEARANCE = "clearance", "Medical clearance"
    PREPARATION = "preparation", "Preparation session"
    RISK_SCREEN = "risk_screen", "Suicide-risk screen"
    DOSING = "dosing", "Dosing session"
    INTEGRATION = "integration", "Integration session"
    FOLLOWUP = "followup", "Medical follow-up"
    CONSENT_SIGNED = "consent_signed", "Consent signed"
    CONSENT_WITHDRAWN = "consent_withdrawn", "Consent withdrawn"
    OVERRIDE = "override", "Gate override"
    DOSING_REFUSED = "dosing_refused", "Dosing refused by the gate"


class CourseEvent(models.Model):
    """The course's timeline: every stage change, decision and session, with who, when, why.
    Append-only by convention (services never update or delete events)."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    course = models.ForeignKey(Course, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=30, choices=EventKind.choices)
    occurred_at = models.DateTimeField(default=timezone.now, help_text="When it happened.")
    recorded_at = models.DateTimeField(default=timezone.now)
    # Empty only for a client's answers sent through a one-time link (no sign-in).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor_membership = models.ForeignKey(
        Membership, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    from_stage = models.CharField(max_length=30, blank=True)
    to_stage = models.CharField(max_length=30, blank=True)
    action = models.CharField(max_length=40, blank=True)
    reason = models.TextField(blank=True)
    positive = models.BooleanField(null=True, blank=True, help_text="Risk screens: positive?")
    overridden = models.JSONField(default=list, blank=True, help_text="Reason codes overridden.")
    data = models.JSONField(default=dict, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["course", "kind", "-occurred_at"]),
            models.Index(fields=["organisation", "-recorded_at"]),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} on course #{self.course_id}"


class DueItem(models.Model):
    """A due or overdue item raised by the deadline scan, shown as a task on the dashboard.
    Unique per course, code and due time, so re-running the scan raises nothing twice."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    course = models.ForeignKey(Course, on_delete=models.PROTECT, related_name="due_items")
    code = models.CharField(max_length=40)
    label = models.CharField(max_length=100)
    due_at = models.DateTimeField()
    overdue = models.BooleanField(default=False)
    raised_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["course", "code", "due_at", "overdue"], name="due_item_once"
            )
        ]
        indexes = [
            models.Index(fields=["organisation", "resolved_at"]),
            # The prescriber queue's follow-ups: open items of one code, overdue first.
            models.Index(
                "code",
                models.F("overdue").desc(),
                "due_at",
                "id",
                condition=models.Q(resolved_at__isnull=True),
                name="due_item_open_by_code",
            ),
            # The caseload's due items: a practice's open items, overdue first, soonest
            # first, read by walking this index until the page's few are found.
            models.Index(
                "organisation",
                models.F("overdue").desc(),
                "due_at",
                "id",
                condition=models.Q(resolved_at__isnull=True),
                name="due_item_open_by_org",
            ),
        ]

    def __str__(self):
        return f"{self.label} for course #{self.course_id}"


class OverrideDecision(models.Model):
    """A signed override of dosing-gate reasons (decision 0029): who (membership and licence),
    when, which reasons, the structured justification per reason and the facts seen (the
    reasons' words and the day's readings at that moment). Written once, never changed.

    A decision signed at a start covers that start; one signed ahead (`standing`, usually the
    prescriber's) covers starts within kapflow.clinical.overrides.STANDING_DECISION_HOURS."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    course = models.ForeignKey(Course, on_delete=models.PROTECT, related_name="override_decisions")
    signed_by = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="+")
    signed_at = models.DateTimeField()
    authority = models.CharField(
        max_length=20,
        choices=[("treating_clinician", "Treating clinician"), ("prescriber", "Prescriber")],
    )
    licence_type = models.CharField(max_length=10)
    licence_state = models.CharField(max_length=2)
    licence_number = models.CharField(max_length=50)
    codes = models.JSONField(default=list)
    # code -> {"category": ..., "rationale": ...}
    justifications = models.JSONField(default=dict)
    # {"reasons": [{"code", "message"}], "day": {readings and attestations}}
    facts_seen = models.JSONField(default=dict)
    # The pre-dose reading the signer saw: a standing blood-pressure decision covers no higher.
    bp_systolic = models.PositiveSmallIntegerField(null=True, blank=True)
    bp_diastolic = models.PositiveSmallIntegerField(null=True, blank=True)
    standing = models.BooleanField(default=False)
    event = models.OneToOneField(
        CourseEvent, on_delete=models.PROTECT, null=True, blank=True, related_name="decision"
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["organisation", "-signed_at", "-id"]),
            models.Index(fields=["course", "standing", "-signed_at"]),
        ]

    def __str__(self):
        return f"Override decision #{self.pk} on course #{self.course_id}"


# The stored facts, in the order of CourseFacts' columns; each is an annotation of
# courses.selectors.with_facts of the same name.
FACT_FIELDS = (
    "preparation_done",
    "dosing_count",
    "last_dosing_at",
    "previous_dosing_at",
    "followup_anchor_at",
    "last_integration_at",
    "integrations_since_last_dosing",
    "last_followup_at",
    "open_session_id",
    "last_session_dose_at",
    "last_screen_at",
    "last_screen_positive",
    "open_urgent_task",
    "last_positive_screen_id",
    "last_risk_assessment_id",
    "active_prescription_id",
    "doses_authorised",
    "doses_used",
    "companion_confirmed",
    "therapist_licensed_until",
    "prescriber_licensed_until",
    "kap_current_version",
    "kap_signed_version",
    "kap_signed_at",
    "kap_withdrawn_at",
    "telehealth_signed",
)


class CourseFacts(models.Model):
    """The stored facts of a course (not kapflow.clinical.course.CourseFacts, the rules'
    dataclass that courses.selectors.course_facts builds from these values).

    What the rules read about a course that lives in other rows (its timeline, sessions,
    urgent tasks, prescriptions, the client's companion and consents, the clinicians'
    licences), stored so that a page of the caseload is one indexed query (decision 0042).

    Written only by courses.services.course_facts_refresh, which every write path that
    changes one of these rows calls in its own transaction; the values are exactly
    with_facts' annotations of the same names. The gates never read this row: they compute
    the facts from the rows under the course lock, and repair this row if it differs.
    Licences are stored as the date they run to, so "licensed today" is still decided when
    read, in the practice's zone."""

    course = models.OneToOneField(
        Course, on_delete=models.CASCADE, primary_key=True, related_name="facts"
    )
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    preparation_done = models.PositiveIntegerField(default=0)
    dosing_count = models.PositiveIntegerField(default=0)
    last_dosing_at = models.DateTimeField(null=True)
    previous_dosing_at = models.DateTimeField(null=True)
    followup_anchor_at = models.DateTimeField(null=True)
    last_integration_at = models.DateTimeField(null=True)
    integrations_since_last_dosing = models.PositiveIntegerField(default=0)
    last_followup_at = models.DateTimeField(null=True)
    # Ids of rows in other apps, kept as plain numbers: the facts point at them, nothing
    # follows the link.
    open_session_id = models.BigIntegerField(null=True)
    last_session_dose_at = models.DateTimeField(null=True)
    last_screen_at = models.DateTimeField(null=True)
    last_screen_positive = models.BooleanField(null=True)
    open_urgent_task = models.BooleanField(default=False)
    last_positive_screen_id = models.BigIntegerField(null=True)
    last_risk_assessment_id = models.BigIntegerField(null=True)
    active_prescription_id = models.BigIntegerField(null=True)
    doses_authorised = models.IntegerField(default=0)
    doses_used = models.IntegerField(default=0)
    companion_confirmed = models.BooleanField(default=False)
    therapist_licensed_until = models.DateField(null=True)
    prescriber_licensed_until = models.DateField(null=True)
    kap_current_version = models.PositiveIntegerField(null=True)
    kap_signed_version = models.PositiveIntegerField(null=True)
    kap_signed_at = models.DateTimeField(null=True)
    kap_withdrawn_at = models.DateTimeField(null=True)
    telehealth_signed = models.BooleanField(default=False)
    refreshed_at = models.DateTimeField()

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "course facts"
        indexes = [models.Index(fields=["organisation", "refreshed_at"])]

    def __str__(self):
        return f"Facts of course #{self.course_id}"
