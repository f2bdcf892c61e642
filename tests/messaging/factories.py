"""Helpers for messaging tests: threads started through the service, and small files whose
first bytes are real (or deliberately wrong). Fictional data only."""

from django.core.files.uploadedfile import SimpleUploadedFile

from kapflow.messaging import services
from kapflow.messaging.models import ThreadKind

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
TEXT = b"Sleep log: 7 hours, felt rested.\nNo side effects.\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48


def upload(name: str, data: bytes, content_type: str = "application/octet-stream"):
    return SimpleUploadedFile(name, data, content_type=content_type)


def care_thread(world, actor=None, *, subject="Question about next week", body="Hello team",
                attachments=()):  # fmt: skip
    """A care thread about world.client, started by the client unless another actor is given."""
    actor = actor or world.client_member
    return services.thread_start(
        actor=actor,
        client_id=world.client.pk,
        kind=ThreadKind.CARE,
        subject=subject,
        body=body,
        attachments=attachments,
    )


def partner_thread(world, actor=None, *, subject="Dosing plan", body="Notes to share"):
    return services.thread_start(
        actor=actor or world.therapist,
        client_id=world.client.pk,
        kind=ThreadKind.PARTNER,
        subject=subject,
        body=body,
    )
