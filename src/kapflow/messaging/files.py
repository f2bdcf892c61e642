"""Checking an uploaded attachment before anything is stored.

The type is read from the file's first bytes (its magic number) and must agree with the
name's extension; what the browser claims (`content_type` of the upload) is ignored. Errors
name the attachment by position ("Attachment 2"), never by its file name, which may itself
be PHI.
"""

import os
import unicodedata
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.files.uploadhandler import FileUploadHandler

from kapflow.messaging.models import AttachmentType

MAX_BYTES = 5 * 1024 * 1024
MAX_PER_MESSAGE = 3
NAME_MAX_CHARS = 200

EXTENSIONS = {
    ".pdf": AttachmentType.PDF,
    ".png": AttachmentType.PNG,
    ".jpg": AttachmentType.JPEG,
    ".jpeg": AttachmentType.JPEG,
    ".txt": AttachmentType.TEXT,
}
ACCEPT = ",".join([*EXTENSIONS, *dict.fromkeys(EXTENSIONS.values())])

_MAGIC = (
    (b"%PDF-", AttachmentType.PDF),
    (b"\x89PNG\r\n\x1a\n", AttachmentType.PNG),
    (b"\xff\xd8\xff", AttachmentType.JPEG),
)
# Programs and archives are refused outright, whatever they are called.
_REFUSED_MAGIC = (
    b"MZ",  # Windows PE
    b"\x7fELF",
    b"\xca\xfe\xba\xbe",  # Mach-O universal, Java class
    b"\xfe\xed\xfa\xce",
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"PK\x03\x04",  # zip, docx, jar, apk
    b"#!",  # scripts
)
# Plain text may hold tabs, line breaks and form feeds, but no other control characters.
_TEXT_CONTROLS_ALLOWED = {"\t", "\n", "\r", "\f"}

KINDS_ALLOWED = "a PDF, PNG, JPEG or plain-text (.txt) file"


@dataclass(frozen=True)
class CheckedUpload:
    upload: object  # the UploadedFile, rewound
    original_name: str
    content_type: str
    size: int


def clean_name(name: str) -> str:
    """The name to show and to offer on download: no folders, no control characters, at
    most NAME_MAX_CHARS (the extension kept)."""
    base = os.path.basename((name or "").replace("\\", "/"))
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C").strip().strip(".")
    stem, ext = os.path.splitext(base)
    if len(base) > NAME_MAX_CHARS:
        base = stem[: NAME_MAX_CHARS - len(ext)] + ext
    return base or "attachment"


def sniff(head: bytes) -> str | None:
    """The allowed type the first bytes announce, or None (plain text has no magic)."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return None


def _is_plain_text(upload) -> bool:
    upload.seek(0)
    data = upload.read(MAX_BYTES + 1)
    if not data or data.startswith(_REFUSED_MAGIC):
        return False
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not any(
        unicodedata.category(c) == "Cc" and c not in _TEXT_CONTROLS_ALLOWED for c in text
    )


def check_upload(upload, *, position: int) -> CheckedUpload:
    """Refuse anything that is not an allowed type, is empty, or is over MAX_BYTES."""
    label = f"Attachment {position}"
    name = clean_name(getattr(upload, "name", ""))
    expected = EXTENSIONS.get(os.path.splitext(name)[1].lower())
    if expected is None:
        raise ValidationError({"attachments": f"{label}: attach {KINDS_ALLOWED}."})
    size = upload.size or 0
    if size == 0:
        raise ValidationError({"attachments": f"{label} is empty."})
    if size > MAX_BYTES:
        raise ValidationError(
            {"attachments": f"{label} is larger than {MAX_BYTES // (1024 * 1024)} MB."}
        )
    upload.seek(0)
    head = upload.read(16)
    if head.startswith(_REFUSED_MAGIC):
        raise ValidationError({"attachments": f"{label} looks like a program; it was refused."})
    actual = sniff(head)
    if actual is None and expected == AttachmentType.TEXT and _is_plain_text(upload):
        actual = AttachmentType.TEXT
    if actual != expected:
        raise ValidationError(
            {
                "attachments": (
                    f"{label}: its contents are not a {AttachmentType(expected).label} as its "
                    "name says. Attach the original file."
                )
            }
        )
    upload.seek(0)
    return CheckedUpload(upload=upload, original_name=name, content_type=actual, size=size)


def check_uploads(uploads) -> list[CheckedUpload]:
    uploads = list(uploads or [])
    if len(uploads) > MAX_PER_MESSAGE:
        raise ValidationError(
            {"attachments": f"Attach at most {MAX_PER_MESSAGE} files to one message."}
        )
    return [check_upload(u, position=i) for i, u in enumerate(uploads, start=1)]


class AttachmentLimitHandler(FileUploadHandler):
    """Keeps at most MAX_BYTES + 1 bytes of each of the first MAX_PER_MESSAGE files of a
    request and nothing of any further file, so an oversized upload never fills memory or
    disk. The files still arrive (cut short), so check_uploads refuses them with the usual
    size or count message. Insert it before the request body is read (see views)."""

    def __init__(self, request=None):
        super().__init__(request)
        self.files_seen = 0
        self.keep = 0

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.files_seen += 1
        self.keep = MAX_BYTES + 1 if self.files_seen <= MAX_PER_MESSAGE else 0

    def receive_data_chunk(self, raw_data, start):
        if start >= self.keep:
            return None  # swallowed: later handlers never see these bytes
        return raw_data[: self.keep - start]

    def file_complete(self, file_size):
        return None  # the next handler (memory or temporary file) builds the file
