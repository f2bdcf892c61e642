"""The session room (issue 19, decision 0049): one video room per telehealth appointment.

A `VideoRoom` belongs to one appointment. Each person who may sit in it has one `Seat`
(therapist, client, companion, an invited prescriber or second clinician; at most four): a
reconnect after a dropped network returns to the same seat. `SeatVisit` rows record each
connection's join and leave times (they feed the billing split); `VisualCheck` rows the
15-minute visual check the companion is asked for and the answer. Media never passes
through kapflow and nothing is recorded: the rows hold times and states only.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from kapflow.accounts.models import Organisation
from kapflow.core.models import TenantQuerySet

SEATS_MAX = 4


class TelehealthSettings(models.Model):
    """Per-practice choice: kapflow's own room, or the external video link kept as before."""

    organisation = models.OneToOneField(
        Organisation, on_delete=models.PROTECT, related_name="telehealth_settings"
    )
    use_external_link = models.BooleanField(
        default=False,
        help_text="Use the appointment's external video link instead of kapflow's session room.",
    )

    class Meta:
        verbose_name_plural = "telehealth settings"

    def __str__(self):
        return f"Telehealth settings for {self.organisation}"


class RoomState(models.TextChoices):
    OPEN = "open", "Open"
    ENDED = "ended", "Ended"


class VideoRoom(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    appointment = models.OneToOneField(
        "scheduling.Appointment", on_delete=models.PROTECT, related_name="video_room"
    )
    state = models.CharField(max_length=10, choices=RoomState.choices, default=RoomState.OPEN)
    created_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    objects = TenantQuerySet.as_manager()

    def __str__(self):
        return f"Session room #{self.pk}"

    @property
    def group_name(self) -> str:
        return f"room.{self.pk}"

    @property
    def host_group_name(self) -> str:
        return f"room.{self.pk}.host"


class SeatRole(models.TextChoices):
    THERAPIST = "therapist", "Therapist"
    CLIENT = "client", "Client"
    COMPANION = "companion", "Companion"
    PRESCRIBER = "prescriber", "Prescriber"
    CLINICIAN = "clinician", "Second clinician"


class SeatStatus(models.TextChoices):
    WAITING = "waiting", "In the waiting room"
    ADMITTED = "admitted", "Admitted"
    REMOVED = "removed", "Removed"


class Seat(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    room = models.ForeignKey(VideoRoom, on_delete=models.CASCADE, related_name="seats")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=20, choices=SeatRole.choices)
    status = models.CharField(max_length=10, choices=SeatStatus.choices)
    # Invited by the therapist (a prescriber or second clinician not on the appointment).
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    admitted_at = models.DateTimeField(null=True, blank=True)
    # A number the therapist can call the companion on during the session, given in the room;
    # empty: the client's emergency contact's phone is shown instead.
    callback_phone = models.CharField(max_length=30, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["room", "user"], name="seat_once")]

    def __str__(self):
        return f"{self.get_role_display()} seat #{self.pk}"

    @property
    def group_name(self) -> str:
        return f"seat.{self.pk}"


class SeatVisit(models.Model):
    """One connection to the room: when it joined and left (and whether it dropped)."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    seat = models.ForeignKey(Seat, on_delete=models.CASCADE, related_name="visits")
    joined_at = models.DateTimeField()
    left_at = models.DateTimeField(null=True, blank=True)
    dropped = models.BooleanField(default=False, help_text="The connection was lost, not left.")

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["seat", "joined_at"])]

    def __str__(self):
        return f"Visit #{self.pk}"


class VisualCheckAnswer(models.TextChoices):
    SETTLED = "settled", "Calm and settled"
    RESTLESS = "restless", "Restless or uneasy"
    DISTRESSED = "distressed", "Distressed"
    UNRESPONSIVE = "unresponsive", "Hard to rouse or not responding"


class VisualCheck(models.Model):
    """The companion is asked to look at the client (partner protocols: every 15 minutes)."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    room = models.ForeignKey(VideoRoom, on_delete=models.CASCADE, related_name="visual_checks")
    prompted_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)
    answer = models.CharField(max_length=20, choices=VisualCheckAnswer.choices, blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["room", "-prompted_at"])]

    def __str__(self):
        return f"Visual check #{self.pk}"
