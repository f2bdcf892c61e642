"""Appointments: who meets whom, when and where, plus clinicians' availability and rooms.

Times are stored in UTC (`starts_at`, `ends_at`); `time_zone` keeps the zone the appointment
was booked in, so a weekly series stays at 10:00 local across a daylight-saving change.
Pages show every time in the viewer's zone (kapflow.core.timezones).

Participants are rows, one per person: the client (for a group session, several), the
therapist, the prescriber, the companion. Each row repeats the appointment's times and
whether it is live, so "what is in this clinician's week" and "does this clinician have a
clash" are one index range scan (`participant_person_time`).
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from kapflow.accounts.models import STATE_CHOICES, Membership, Organisation, validate_time_zone
from kapflow.core.models import TenantQuerySet
from kapflow.patients.models import Client, Companion


class AppointmentKind(models.TextChoices):
    CONSULTATION = "consultation", "Consultation"
    INTAKE = "intake", "Intake assessment"
    MEDICAL_EVALUATION = "medical_evaluation", "Medical evaluation"
    PREPARATION = "preparation", "Preparation session"
    DOSING = "dosing", "Dosing session"
    INTEGRATION = "integration", "Integration session"
    FOLLOWUP = "followup", "Medical follow-up"
    THERAPY = "therapy", "Therapy session"


# Default length in minutes (seed 001: a dosing session lasts two to three hours; a
# psychotherapy hour is 53 minutes or more for 90837; intake 90791 is usually 60-90).
DEFAULT_MINUTES: dict[str, int] = {
    AppointmentKind.CONSULTATION: 30,
    AppointmentKind.INTAKE: 90,
    AppointmentKind.MEDICAL_EVALUATION: 60,
    AppointmentKind.PREPARATION: 60,
    AppointmentKind.DOSING: 180,
    AppointmentKind.INTEGRATION: 60,
    AppointmentKind.FOLLOWUP: 30,
    AppointmentKind.THERAPY: 60,
}

# Kinds that may hold several clients at once (seed 004: group KAP).
GROUP_KINDS = frozenset({AppointmentKind.DOSING, AppointmentKind.INTEGRATION})


class AppointmentStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    # The client is here (or, for telehealth, in the waiting room): set by "Check in".
    CHECKED_IN = "checked_in", "Checked in"
    # Its record is under way: a dosing session started, a preparation or integration
    # session begun from the appointment (decision 0054).
    IN_SESSION = "in_session", "In session"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    NO_SHOW = "no_show", "Did not attend"
    # Moved: the new times are a new row whose `rescheduled_from` points here.
    RESCHEDULED = "rescheduled", "Rescheduled"


# Still to happen or happening: what can be checked in, started, moved or cancelled.
OPEN_STATUSES = ("scheduled", "checked_in", "in_session")
# Holding its time: clashes, free slots and participants' `live` flag read these.
LIVE_STATUSES = (*OPEN_STATUSES, "completed")
# Kinds whose appointment is the encounter: opening it starts the record (decision 0054).
ENCOUNTER_KINDS = frozenset(
    {AppointmentKind.PREPARATION, AppointmentKind.DOSING, AppointmentKind.INTEGRATION}
)


class Room(models.Model):
    """A room of the practice's office. Two appointments may not share a room at once."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=80)
    capacity = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(50)]
    )
    is_active = models.BooleanField(default=True)
    # Where the room is: clinicians must be licensed here to see a client in it (decision
    # 0031). Blank: the practice's state.
    state = models.CharField(
        max_length=2,
        choices=STATE_CHOICES,
        blank=True,
        help_text="The state the room is in; empty: the practice's state.",
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "name"], name="room_name_unique")
        ]

    def __str__(self):
        return self.name


def default_self_book_kinds() -> list[str]:
    return ["preparation", "integration", "followup"]


class SchedulingSettings(models.Model):
    """Per-practice scheduling rules."""

    organisation = models.OneToOneField(
        Organisation, on_delete=models.PROTECT, related_name="scheduling_settings"
    )
    # Seed 004: group KAP; the practice decides how many clients one session may hold.
    group_size_max = models.PositiveSmallIntegerField(
        default=6, validators=[MinValueValidator(2), MaxValueValidator(20)]
    )
    # Reminder offsets in minutes before the start, e.g. [1440, 120] = a day and two hours.
    reminder_offsets = models.JSONField(default=list, blank=True)
    reminder_sms = models.BooleanField(default=False)
    # Reminders name the sender; a practice name such as "... Ketamine Clinic" would tell
    # whoever reads the recipient's messages what the treatment is.
    reminder_sender_name = models.CharField(
        max_length=80,
        blank=True,
        help_text=(
            "The name reminders are sent under; blank uses the practice's name. Choose a "
            'neutral name that does not reveal the treatment (for example not "... Ketamine '
            "Clinic\"), as others may read the recipient's messages."
        ),
    )
    # An integration session booked or moved later than the integration window after its
    # dosing session (GateSettings.integration_hours) warns; on, it is refused (decision 0031).
    integration_late_refused = models.BooleanField(
        default=False,
        help_text="Refuse, rather than warn about, an integration session booked later than "
        "the integration window after its dosing session.",
    )
    # Self-scheduling in the portal (issue 16, decision 0046): which kinds a client books
    # themselves (never dosing: policy.SELF_BOOKABLE_KINDS is the ceiling), how far ahead,
    # and until when before the start they may move or cancel.
    self_book_kinds = models.JSONField(default=default_self_book_kinds, blank=True)
    self_book_notice_hours = models.PositiveSmallIntegerField(
        default=24, validators=[MaxValueValidator(24 * 14)]
    )
    self_cancel_hours = models.PositiveSmallIntegerField(
        default=24, validators=[MaxValueValidator(24 * 14)]
    )

    def __str__(self):
        return f"Scheduling settings for {self.organisation}"


class AvailabilityRule(models.Model):
    """Weekly working hours of one clinician, in `time_zone` local time."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    membership = models.ForeignKey(
        Membership, on_delete=models.CASCADE, related_name="availability_rules"
    )
    weekday = models.PositiveSmallIntegerField(
        validators=[MaxValueValidator(6)], help_text="0 = Monday ... 6 = Sunday."
    )
    start_time = models.TimeField()
    end_time = models.TimeField()
    time_zone = models.CharField(max_length=64, validators=[validate_time_zone])
    valid_from = models.DateField(null=True, blank=True)
    valid_until = models.DateField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["membership", "weekday"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_time__gt=models.F("start_time")),
                name="availability_rule_ends_after_start",
            )
        ]

    def __str__(self):
        return f"Weekly hours #{self.pk}"

    @property
    def weekday_name(self) -> str:
        return ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")[
            self.weekday
        ]


class AvailabilityException(models.Model):
    """Time off (unavailable) or extra hours (available) for one clinician, in UTC."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    membership = models.ForeignKey(
        Membership, on_delete=models.CASCADE, related_name="availability_exceptions"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    available = models.BooleanField(default=False, help_text="True: extra hours.")
    reason = models.CharField(max_length=200, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["membership", "starts_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")),
                name="availability_exception_ends_after_start",
            )
        ]

    def __str__(self):
        return f"Availability exception #{self.pk}"


class AppointmentSeries(models.Model):
    """A recurring appointment: an RFC 5545 RRULE expanded into Appointment rows."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    rrule = models.CharField(max_length=200)
    time_zone = models.CharField(max_length=64, validators=[validate_time_zone])
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()

    def __str__(self):
        return f"Series #{self.pk}"


class Appointment(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=30, choices=AppointmentKind.choices)
    # The course it belongs to; empty for ordinary therapy or a consultation before a course,
    # and for a group session (each client's course is on their participant row).
    course = models.ForeignKey(
        "courses.Course",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="appointments",
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    time_zone = models.CharField(
        max_length=64, validators=[validate_time_zone], help_text="Zone it was booked in."
    )
    room = models.ForeignKey(Room, on_delete=models.PROTECT, null=True, blank=True)
    telehealth = models.BooleanField(default=False)
    # The video visit link; shown only to participants, never e-mailed or put in a feed.
    telehealth_url = models.URLField(max_length=500, blank=True)
    is_group = models.BooleanField(default=False)
    status = models.CharField(
        max_length=20, choices=AppointmentStatus.choices, default=AppointmentStatus.SCHEDULED
    )
    status_reason = models.TextField(blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    status_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    series = models.ForeignKey(
        AppointmentSeries,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="appointments",
    )
    rescheduled_from = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # The first row of a reschedule chain (empty on that first row itself): the history of
    # a moved appointment is one query however often it moved.
    root = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # A dosing session booked with its integration session in one step (issue 6).
    follows = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="followed_by"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Optimistic concurrency: a change carries the version it was made against.
    version = models.PositiveIntegerField(default=1)

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["organisation", "starts_at"]),
            models.Index(fields=["room", "starts_at"]),
            models.Index(fields=["course", "kind", "starts_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")),
                name="appointment_ends_after_start",
            )
        ]

    def __str__(self):
        return f"Appointment #{self.pk}"

    @property
    def live(self) -> bool:
        return self.status in LIVE_STATUSES

    @property
    def client_participants(self) -> list:
        """The client rows among the (prefetched) participants."""
        return [p for p in self.participants.all() if p.client_id]

    @property
    def staff_participants(self) -> list:
        return [p for p in self.participants.all() if p.membership_id]

    @property
    def duration_minutes(self) -> int:
        return int((self.ends_at - self.starts_at).total_seconds() // 60)


class ParticipantRole(models.TextChoices):
    CLIENT = "client", "Client"
    THERAPIST = "therapist", "Therapist"
    PRESCRIBER = "prescriber", "Prescriber"
    COMPANION = "companion", "Companion"


class AppointmentParticipant(models.Model):
    """One person at an appointment: a staff membership, a client or a companion.

    `starts_at`, `ends_at` and `live` repeat the appointment's so that a person's calendar and
    clash checks read one index; services keep them in step on every change."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    appointment = models.ForeignKey(
        Appointment, on_delete=models.CASCADE, related_name="participants"
    )
    role = models.CharField(max_length=20, choices=ParticipantRole.choices)
    membership = models.ForeignKey(
        Membership, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    client = models.ForeignKey(
        Client, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    companion = models.ForeignKey(
        Companion, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # For a group session: the client's own course (the gate is checked per client).
    course = models.ForeignKey(
        "courses.Course", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    live = models.BooleanField(default=True)
    # The client's record of a preparation or integration appointment: the course event
    # completing it wrote (decision 0054). A dosing appointment's record is its
    # encounters.DosingSession, which points here through `appointment`.
    course_event = models.OneToOneField(
        "courses.CourseEvent",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="appointment_participant",
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["membership", "starts_at"], name="participant_person_time"),
            models.Index(fields=["client", "starts_at"], name="participant_client_time"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(membership__isnull=False, client__isnull=True, companion__isnull=True)
                    | models.Q(
                        membership__isnull=True, client__isnull=False, companion__isnull=True
                    )
                    | models.Q(
                        membership__isnull=True, client__isnull=True, companion__isnull=False
                    )
                ),
                name="participant_exactly_one_person",
            ),
            models.UniqueConstraint(
                fields=["appointment", "membership"],
                condition=models.Q(membership__isnull=False),
                name="participant_membership_once",
            ),
            models.UniqueConstraint(
                fields=["appointment", "client"],
                condition=models.Q(client__isnull=False),
                name="participant_client_once",
            ),
        ]

    def __str__(self):
        return f"{self.get_role_display()} at appointment #{self.appointment_id}"


class CalendarFeed(models.Model):
    """A person's secret iCalendar feed URL. Only the token's SHA-256 is stored; revoking
    sets `revoked_at` and a new feed gets a new token."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feeds"
    )
    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    # Off by default: event titles say only "kapflow appointment" (no PHI).
    show_details = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"Calendar feed #{self.pk}"


class ReminderChannel(models.TextChoices):
    EMAIL = "email", "E-mail"
    SMS = "sms", "Text message"


class ReminderSent(models.Model):
    """One reminder sent for one appointment to one person at one offset: the row makes the
    reminder task idempotent (unique), and is the record that it went out."""

    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="+")
    participant = models.ForeignKey(
        AppointmentParticipant, on_delete=models.CASCADE, related_name="+"
    )
    offset_minutes = models.PositiveIntegerField()
    channel = models.CharField(max_length=10, choices=ReminderChannel.choices)
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "offset_minutes", "channel"], name="reminder_once"
            )
        ]

    def __str__(self):
        return f"Reminder #{self.pk}"
