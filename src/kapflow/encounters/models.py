"""Dosing sessions (individual and group): the checklist, the live timeline, discharge.

A `DosingSession` is one client's session on one course: opened (checklist), started once the
dosing gate passes (in progress), then discharged (closed) or abandoned. Its `TimelineEntry`
rows are append-only: a mistake is corrected by a new entry that names the old one, never by
editing it. `version` is the optimistic-concurrency counter every change bumps, so two staff
with the screen open cannot overwrite each other unseen.

A `GroupSession` (seed 004) holds several clients' sessions; each keeps its own gate check,
dose, vitals, events and discharge. Rules live in kapflow.clinical.session; writes in
services.py.
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from kapflow.accounts.models import Membership, Organisation
from kapflow.core.models import TenantQuerySet
from kapflow.patients.models import Client


def default_recheck_minutes() -> list[int]:
    return [40, 120]


class SessionSettings(models.Model):
    """Per-practice in-session thresholds (DOMAIN.md section 2, all "verify"). The pre-dose
    hold is the course gate's (courses.GateSettings)."""

    organisation = models.OneToOneField(
        Organisation, on_delete=models.PROTECT, related_name="session_settings"
    )
    bp_systolic_flag = models.PositiveSmallIntegerField(
        default=180,
        validators=[MinValueValidator(120), MaxValueValidator(250)],
        help_text="Flag in-session systolic at or above this (mmHg). IV protocols often "
        "pause at >180/100 (verify).",
    )
    bp_diastolic_flag = models.PositiveSmallIntegerField(
        default=100,
        validators=[MinValueValidator(70), MaxValueValidator(150)],
        help_text="Flag in-session diastolic at or above this (mmHg).",
    )
    heart_rate_high = models.PositiveSmallIntegerField(
        default=110,
        validators=[MinValueValidator(80), MaxValueValidator(200)],
        help_text="Flag heart rate above this (bpm). IV protocols: >110 (verify).",
    )
    heart_rate_low = models.PositiveSmallIntegerField(
        default=50,
        validators=[MinValueValidator(30), MaxValueValidator(70)],
        help_text="Flag heart rate below this (bpm). Practice default (verify).",
    )
    spo2_low = models.PositiveSmallIntegerField(
        default=92,
        validators=[MinValueValidator(80), MaxValueValidator(98)],
        help_text="Flag SpO2 below this (%). Practice default (verify).",
    )
    recheck_minutes = models.JSONField(
        default=default_recheck_minutes,
        help_text="Minutes after the dose when vitals are due, e.g. [40, 120].",
    )
    companion_check_minutes = models.PositiveSmallIntegerField(
        default=15,
        validators=[MinValueValidator(5), MaxValueValidator(60)],
        help_text="At home: the companion checks visually this often (minutes).",
    )
    observation_minutes_in_person = models.PositiveSmallIntegerField(
        default=120,
        validators=[MinValueValidator(30), MaxValueValidator(480)],
        help_text="Minimum observation after the dose before discharge, in the office "
        "(Spravato: 2 hours).",
    )
    observation_minutes_at_home = models.PositiveSmallIntegerField(
        default=120,
        validators=[MinValueValidator(30), MaxValueValidator(480)],
        help_text="Minimum observation after the dose before discharge, at home (verify).",
    )
    start_valid_minutes = models.PositiveSmallIntegerField(
        default=240,
        validators=[MinValueValidator(15), MaxValueValidator(720)],
        help_text="The first dose must be given within this many minutes of the start (the "
        "gate check); later, abandon the session and start again.",
    )

    class Meta:
        verbose_name_plural = "session settings"

    def __str__(self):
        return f"Session settings for {self.organisation}"


class GroupKind(models.TextChoices):
    DOSING = "dosing", "Group dosing session"
    INTEGRATION = "integration", "Group integration session"


class GroupState(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class GroupSession(models.Model):
    """Seed 004: several clients dosing (or integrating) together with one or two
    clinicians. A dosing group holds one DosingSession per client; an integration group one
    GroupAttendee per client, whose attendance is recorded on their course when it closes."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20, choices=GroupKind.choices, default=GroupKind.DOSING)
    appointment = models.ForeignKey(
        "scheduling.Appointment", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    room = models.ForeignKey(
        "scheduling.Room", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    clinicians = models.ManyToManyField(Membership, related_name="+")
    # Copied from scheduling.SchedulingSettings.group_size_max when the group is created.
    size_limit = models.PositiveSmallIntegerField(
        default=6, validators=[MinValueValidator(2), MaxValueValidator(20)]
    )
    state = models.CharField(max_length=20, choices=GroupState.choices, default=GroupState.OPEN)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["organisation", "-created_at"])]

    def __str__(self):
        return f"Group session #{self.pk}"

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("encounters:group", args=[self.pk])


class GroupAttendee(models.Model):
    """One client of a group integration session. On closing, each client who attended gets
    an integration event on their course (courses.services.course_record)."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    group = models.ForeignKey(GroupSession, on_delete=models.PROTECT, related_name="attendees")
    course = models.ForeignKey("courses.Course", on_delete=models.PROTECT, related_name="+")
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+")
    attended = models.BooleanField(null=True, blank=True, help_text="Empty until the close.")
    integration_event = models.OneToOneField(
        "courses.CourseEvent", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "course"], name="group_attendee_once")
        ]

    def __str__(self):
        return f"Attendee #{self.pk} of group session #{self.group_id}"


class Delivery(models.TextChoices):
    IN_PERSON = "in_person", "In person"
    AT_HOME = "at_home", "At home (telehealth)"


class SessionState(models.TextChoices):
    CHECKLIST = "checklist", "Pre-session checklist"
    IN_PROGRESS = "in_progress", "In progress"
    DISCHARGED = "discharged", "Discharged (closed)"
    ABANDONED = "abandoned", "Abandoned"


OPEN_STATES = (SessionState.CHECKLIST, SessionState.IN_PROGRESS)


class DosingSession(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    course = models.ForeignKey(
        "courses.Course", on_delete=models.PROTECT, related_name="dosing_sessions"
    )
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+")
    appointment = models.ForeignKey(
        "scheduling.Appointment", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    group = models.ForeignKey(
        GroupSession, on_delete=models.PROTECT, null=True, blank=True, related_name="sessions"
    )
    delivery = models.CharField(max_length=20, choices=Delivery.choices)
    state = models.CharField(
        max_length=20, choices=SessionState.choices, default=SessionState.CHECKLIST
    )
    opened_at = models.DateTimeField(default=timezone.now)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # The course's DOSING event, written when the first dose is given
    # (courses.services.dose_given_record): the gate's facts read it. Empty before that, so
    # a session abandoned before any dose is not counted as a dosing.
    dose_event = models.OneToOneField(
        "courses.CourseEvent",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="dosing_session",
    )
    override_reason = models.TextField(blank=True)
    overridden = models.JSONField(default=list, blank=True)
    # The day's pre-dose facts the gate passed with at the start (clinical.course.DoseDay):
    # copied onto the course's DOSING event when the first dose is given.
    start_day = models.JSONField(default=dict, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    abandon_reason = models.TextField(blank=True)
    # The length billed: started_at to discharge, split into the first hour and the rest.
    minutes = models.PositiveIntegerField(null=True, blank=True)
    first_hour_minutes = models.PositiveIntegerField(null=True, blank=True)
    additional_minutes = models.PositiveIntegerField(null=True, blank=True)
    additional_hour_units = models.PositiveIntegerField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["organisation", "state", "-opened_at"]),
            models.Index(fields=["course", "-opened_at"]),
        ]
        constraints = [
            # One open session per course: a double "open" cannot start two.
            models.UniqueConstraint(
                fields=["course"],
                condition=models.Q(state__in=["checklist", "in_progress"]),
                name="dosing_session_one_open_per_course",
            ),
            models.CheckConstraint(
                condition=models.Q(state__in=SessionState.values),
                name="dosing_session_state_valid",
            ),
        ]

    def __str__(self):
        return f"Dosing session #{self.pk}"

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("encounters:detail", args=[self.pk])

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def at_home(self) -> bool:
        return self.delivery == Delivery.AT_HOME


class Respondent(models.TextChoices):
    CLIENT = "client", "Client"
    COMPANION = "companion", "Companion"
    CLINICIAN = "clinician", "Clinician (on the client's word)"


CHECKLIST_ITEMS = (
    ("fasting", "Fasting as instructed"),
    ("no_alcohol_24h", "No alcohol in the last 24 hours"),
    ("ride_or_companion", "Ride home arranged, or companion present"),
    ("phone_charged", "Phone charged"),
    ("setting_ready", "Setting ready (quiet room, eye mask, music)"),
)


class ChecklistResponse(models.Model):
    """The pre-session checklist, answered by the client and (at home) the companion. A new
    answer is a new row; the latest per respondent counts."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    session = models.ForeignKey(
        DosingSession, on_delete=models.PROTECT, related_name="checklist_responses"
    )
    respondent = models.CharField(max_length=20, choices=Respondent.choices)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    answered_at = models.DateTimeField(default=timezone.now)
    fasting = models.BooleanField(default=False)
    no_alcohol_24h = models.BooleanField(default=False)
    ride_or_companion = models.BooleanField(default=False)
    phone_charged = models.BooleanField(default=False)
    setting_ready = models.BooleanField(default=False)

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["session", "respondent", "-answered_at"])]

    def __str__(self):
        return f"Checklist #{self.pk} for session #{self.session_id}"

    @property
    def complete(self) -> bool:
        return all(getattr(self, code) for code, _ in CHECKLIST_ITEMS)


class EntryKind(models.TextChoices):
    DOSE = "dose", "Dose"
    VITALS = "vitals", "Vitals"
    OBSERVATION = "observation", "Observation"
    EVENT = "event", "Event"
    INTERVENTION = "intervention", "Intervention"
    NOTE = "note", "Note"


class EntrySource(models.TextChoices):
    CLINICIAN = "clinician", "Clinician"
    CLIENT = "client", "Client read-out"
    COMPANION = "companion", "Companion read-out"


class EventType(models.TextChoices):
    NAUSEA = "nausea", "Nausea"
    VOMITING = "vomiting", "Vomiting"
    ANXIETY = "anxiety", "Anxiety"
    ELEVATED_BP = "elevated_bp", "Elevated blood pressure"
    DISSOCIATION_DISTRESS = "dissociation_distress", "Distressing dissociation"
    OTHER = "other", "Other"


class Route(models.TextChoices):
    SUBLINGUAL = "sublingual", "Sublingual (lozenge / RDT)"
    ORAL = "oral", "Oral"
    INTRAMUSCULAR = "intramuscular", "Intramuscular"
    INTRAVENOUS = "intravenous", "Intravenous"
    INTRANASAL = "intranasal", "Intranasal (esketamine)"


class DoseUnit(models.TextChoices):
    MG = "mg", "mg"
    MG_PER_KG = "mg/kg", "mg/kg"


class TimelineEntry(models.Model):
    """One thing that happened in the session. Append-only: `corrects` names the entry this
    one replaces (with `struck` when it only strikes it through); `reason` says why."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    session = models.ForeignKey(DosingSession, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=20, choices=EntryKind.choices)
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    source = models.CharField(
        max_length=20, choices=EntrySource.choices, default=EntrySource.CLINICIAN
    )
    # dose: route, amount, unit, booster, dose_use_id; vitals: bp_systolic, bp_diastolic,
    # heart_rate, spo2, phase ("pre_dose" / "in_session"); event: type, intervention;
    # observation / intervention / note: text.
    data = models.JSONField(default=dict, blank=True)
    # vitals: [{code, message, rule}] computed when recorded, with the rule that fired.
    flags = models.JSONField(default=list, blank=True)
    flagged = models.BooleanField(default=False)
    corrects = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="corrected_by"
    )
    struck = models.BooleanField(default=False)
    reason = models.TextField(blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "timeline entries"
        indexes = [models.Index(fields=["session", "occurred_at", "id"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=EntryKind.values), name="timeline_entry_kind_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(corrects__isnull=False) | models.Q(struck=False),
                name="timeline_entry_strike_is_a_correction",
            ),
        ]

    def __str__(self):
        return f"Timeline entry #{self.pk}"


class DischargeRecord(models.Model):
    """The discharge criteria as recorded when the session closed (all true by then)."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    session = models.OneToOneField(
        DosingSession, on_delete=models.PROTECT, related_name="discharge"
    )
    alert_oriented = models.BooleanField()
    walks_steadily = models.BooleanField()
    escort_present = models.BooleanField(help_text="Companion at home; driver in person.")
    vitals_within_range = models.BooleanField()
    observation_minutes = models.PositiveIntegerField()
    note = models.TextField(blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()

    def __str__(self):
        return f"Discharge of session #{self.session_id}"
