"""In-app notifications: one row per person told that something happened.

A notification holds no PHI: its kind (a fixed sentence), when, and the page it points to as a
route name and one id. The recipient learns *what* happened by opening that page, which checks
their access and audits the read like any other visit; a notification whose page they can no
longer open shows them "not found" there, as any other link would (decision 0050).

This app imports no other kapflow app: the apps that own the events call
`kapflow.notifications.services.notify` inside their own transaction.
"""

from django.db import models
from django.utils import timezone

from kapflow.accounts.models import Membership, Organisation
from kapflow.core.models import TenantQuerySet


class Kind(models.TextChoices):
    # The label is what the recipient reads; no name, date of birth, score or answer.
    CONSENT_SIGNED = "consent_signed", "A client signed a consent form."
    QUESTIONNAIRE_ANSWERED = "questionnaire_answered", "A client answered a questionnaire."
    MESSAGE_RECEIVED = "message_received", "You have a new secure message."
    REFERRAL_RECEIVED = "referral_received", "A new referral is waiting for your evaluation."
    EVALUATION_DECIDED = "evaluation_decided", "A prescriber decided an evaluation."
    PRESCRIPTION_ISSUED = "prescription_issued", "A prescription was issued."
    ALERT_RAISED = "alert_raised", "A safety alert was raised: open it now."


class Notification(models.Model):
    # The recipient's organisation (a partner prescriber's is the partner's): every list
    # starts there, like any tenant row.
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    recipient = models.ForeignKey(
        Membership, on_delete=models.PROTECT, related_name="notifications"
    )
    kind = models.CharField(max_length=40, choices=Kind.choices)
    # Where it points: a URL name taking one id (e.g. "courses:detail"), or none.
    route = models.CharField(max_length=80, blank=True)
    object_id = models.PositiveBigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(
                fields=["organisation", "recipient", "-created_at"], name="notification_inbox"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=Kind.values), name="notification_kind_valid"
            ),
        ]

    def __str__(self):
        return f"Notification #{self.pk}"
