"""Secure messages: threads about one client, their participants, messages, attachments and
read receipts.

A thread belongs to the client's practice (`organisation`). Who may take part is decided in
kapflow.policy (the `messaging` section); this module holds fields and the invariants the
database can enforce. Workflows live in services.py.
"""

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator, ProhibitNullCharactersValidator
from django.db import models
from django.utils import timezone

from kapflow.accounts.models import Membership, Organisation
from kapflow.core.models import TenantQuerySet
from kapflow.patients.models import Client

BODY_MAX_CHARS = 10_000
SUBJECT_MAX_CHARS = 200


def validate_storable_text(value: str) -> None:
    """Refuse text a database cannot store: lone surrogates (PostgreSQL's UTF-8 encoding fails
    on them; NUL is refused by ProhibitNullCharactersValidator beside this one)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError("Remove the unsupported characters.", code="encoding") from exc


TEXT_VALIDATORS = [ProhibitNullCharactersValidator(), validate_storable_text]


def attachment_upload_to(instance, filename: str) -> str:
    """A random name under private/: the stored name says nothing about the file or client,
    and MEDIA_ROOT is never served by URL (the download view streams the file)."""
    return f"private/messages/{timezone.now():%Y/%m}/{uuid.uuid4().hex}"


class ThreadKind(models.TextChoices):
    CARE = "care", "Client and care team"
    PARTNER = "partner", "Practice and prescriber"


class Thread(models.Model):
    """A conversation about one client. `care`: the client and their care team; `partner`:
    the practice's clinicians and the partner prescriber on the team (the client is not a
    participant)."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="+", help_text="The client's practice."
    )
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="message_threads")
    kind = models.CharField(max_length=20, choices=ThreadKind.choices)
    subject = models.CharField(max_length=SUBJECT_MAX_CHARS, validators=TEXT_VALIDATORS)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_message_at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["organisation", "client", "kind"]),
            models.Index(fields=["client", "-last_message_at"]),
        ]

    def __str__(self):
        return f"Thread #{self.pk}"

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("messaging:thread", args=[self.pk])


class ThreadParticipant(models.Model):
    """One person in a thread, through the membership they take part with. `last_read_at`
    drives unread counts; per-message read times are MessageReceipt rows."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="+", help_text="The thread's practice."
    )
    thread = models.ForeignKey(Thread, on_delete=models.PROTECT, related_name="participants")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    membership = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="+")
    last_read_at = models.DateTimeField(null=True, blank=True)
    joined_at = models.DateTimeField(default=timezone.now)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["thread", "user"], name="thread_participant_unique")
        ]
        indexes = [models.Index(fields=["membership", "thread"])]

    def __str__(self):
        return f"Participant #{self.pk} in thread #{self.thread_id}"


class Message(models.Model):
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="+", help_text="The thread's practice."
    )
    thread = models.ForeignKey(Thread, on_delete=models.PROTECT, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField(
        blank=True, validators=[MaxLengthValidator(BODY_MAX_CHARS), *TEXT_VALIDATORS]
    )
    created_at = models.DateTimeField(default=timezone.now)
    urgent_notice_shown = models.BooleanField(
        default=False,
        help_text="The client's message used crisis words and the emergency notice was shown.",
    )

    objects = TenantQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["thread", "created_at"])]

    def __str__(self):
        return f"Message #{self.pk}"


class MessageReceipt(models.Model):
    """When a participant first read a message (written when they open the thread)."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    message = models.ForeignKey(Message, on_delete=models.PROTECT, related_name="receipts")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    read_at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "user"], name="message_receipt_unique")
        ]

    def __str__(self):
        return f"Receipt for message #{self.message_id}"


class AttachmentType(models.TextChoices):
    PDF = "application/pdf", "PDF"
    PNG = "image/png", "PNG image"
    JPEG = "image/jpeg", "JPEG image"
    TEXT = "text/plain", "Plain text"


class Attachment(models.Model):
    """A file sent with a message. The stored name is random; `content_type` is what the
    file's first bytes say it is, never what the browser claimed."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    message = models.ForeignKey(Message, on_delete=models.PROTECT, related_name="attachments")
    file = models.FileField(upload_to=attachment_upload_to, max_length=200)
    original_name = models.CharField(max_length=200, validators=TEXT_VALIDATORS)
    content_type = models.CharField(max_length=40, choices=AttachmentType.choices)
    size = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantQuerySet.as_manager()

    def __str__(self):
        return f"Attachment #{self.pk}"

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("messaging:attachment", args=[self.pk])
