"""Reaction reports and "need help now" alerts raised by a client or their companion.

An alert is open until a clinician on the care team acknowledges it. Its severity comes from
kapflow.clinical.reactions at the moment it is raised and is kept as it was then, with the
reason codes. Answers and the note are clinical content: staff read them only through
kapflow.policy.alerts_queryset.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from kapflow.accounts.models import Membership, Organisation
from kapflow.clinical.reactions import Severity as ClinicalSeverity
from kapflow.core.models import TenantQuerySet
from kapflow.patients.models import Client

NOTE_MAX = 2000


class AlertKind(models.TextChoices):
    REACTION = "reaction", "Reaction report"
    HELP_NOW = "help_now", "Need help now"


class Severity(models.TextChoices):
    EMERGENCY = ClinicalSeverity.EMERGENCY.value, "Emergency"
    URGENT = ClinicalSeverity.URGENT.value, "Urgent"
    ROUTINE = ClinicalSeverity.ROUTINE.value, "Routine"


class RaisedByRole(models.TextChoices):
    CLIENT = "client", "The client"
    COMPANION = "companion", "The client's companion"


class Alert(models.Model):
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="+", help_text="The client's practice."
    )
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="alerts")
    course = models.ForeignKey(
        "courses.Course", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=20, choices=AlertKind.choices)
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    raised_by_role = models.CharField(max_length=20, choices=RaisedByRole.choices)
    raised_at = models.DateTimeField(default=timezone.now)
    answers = models.JSONField(
        default=dict,
        blank=True,
        help_text='Reaction checklist: {"symptoms": [codes], "bp_systolic", "bp_diastolic"}.',
    )
    note = models.TextField(max_length=NOTE_MAX, blank=True, help_text="In the reporter's words.")
    severity = models.CharField(max_length=20, choices=Severity.choices)
    reasons = models.JSONField(
        default=list, blank=True, help_text="The rule codes that set the severity."
    )
    acknowledged_by = models.ForeignKey(
        Membership, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledgement_note = models.TextField(max_length=NOTE_MAX, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=AlertKind.values), name="alert_kind_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(severity__in=Severity.values), name="alert_severity_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(raised_by_role__in=RaisedByRole.values),
                name="alert_raised_by_role_valid",
            ),
            # Acknowledged means both who and when.
            models.CheckConstraint(
                condition=models.Q(acknowledged_at__isnull=True, acknowledged_by__isnull=True)
                | models.Q(acknowledged_at__isnull=False, acknowledged_by__isnull=False),
                name="alert_acknowledged_by_and_at",
            ),
            # "Need help now" is always an emergency for the care team.
            models.CheckConstraint(
                condition=~models.Q(kind="help_now") | models.Q(severity="emergency"),
                name="alert_help_now_is_emergency",
            ),
        ]
        indexes = [
            # Dashboards and the caseload: open alerts, newest first.
            models.Index(
                fields=["organisation", "-raised_at", "-id"],
                condition=models.Q(acknowledged_at__isnull=True),
                name="alert_open_by_org",
            ),
            # The course page and the client's history.
            models.Index(fields=["client", "-raised_at"], name="alert_client_raised"),
        ]

    def __str__(self):
        return f"Alert #{self.pk}"

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("alerts:detail", args=[self.pk])

    @property
    def is_open(self) -> bool:
        return self.acknowledged_at is None
