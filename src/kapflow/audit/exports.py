"""Every file kapflow hands out goes through export_response (decision 0037; ONC
170.315(d)(8), HIPAA 164.312(c)(1) and (c)(2)): one place that

- hashes the file (SHA-256) before any byte is sent,
- sends the hash as an RFC 9530 `Repr-Digest: sha-256=:<base64>:` header (no content
  coding is applied to these responses, so it is also the digest of the bytes received),
- writes the export's audit event with the hash in `content_digest` (chained with the event,
  kapflow.audit.chain), so a copy found later can be checked against the trail: `kapflow
  export_verify <file>` or the staff page /audit/verify/ (find_exports below).

The files themselves are never changed to carry their own digest: a CSV stays a plain CSV,
a PDF stays as drawn. Large bodies (the audit CSV) are written to a spooled temporary file
while they are hashed, so memory stays bounded.
"""

import base64
import hashlib
import tempfile
from collections.abc import Iterable

from django.db.models import QuerySet
from django.http import FileResponse, HttpResponse

from kapflow.audit.models import AuditEvent
from kapflow.audit.services import audit_record, audit_record_many

SPOOL_BYTES = 8 * 1024 * 1024  # beyond this an export body is spooled to disk


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def repr_digest(hex_digest: str) -> str:
    """The RFC 9530 field value for a SHA-256 given as hex: `sha-256=:<base64>:`."""
    return f"sha-256=:{base64.b64encode(bytes.fromhex(hex_digest)).decode()}:"


def parse_digest(text: str) -> str | None:
    """A SHA-256 typed or pasted by a person, as lower-case hex: 64 hex digits, the base64
    form, or a whole `sha-256=:...:` field value. None when it is none of these."""
    text = (text or "").strip()
    if text.lower().startswith("sha-256="):
        text = text[len("sha-256=") :]
    text = text.strip(":").strip()
    if len(text) == 64:
        try:
            return bytes.fromhex(text).hex()
        except ValueError:
            return None
    try:
        raw = base64.b64decode(text, validate=True)
    except (ValueError, TypeError):
        return None
    return raw.hex() if len(raw) == 32 else None


def export_response(
    *,
    actor,
    action: str,
    body: bytes | Iterable[bytes],
    content_type: str,
    filename: str,
    target=None,
    client_id: int | None = None,
    targets: list | None = None,
    client_attr: str = "client_id",
) -> HttpResponse:
    """The response for one exported file, with its digest sent and audited.

    `body` is the whole file, or an iterable of byte chunks (spooled while hashed). The
    audit event is one row per item of `targets` (each note of a bundle), or, when there
    are none, one row on `target`; each carries the file's SHA-256 as content_digest."""
    hasher = hashlib.sha256()
    if isinstance(body, bytes):
        hasher.update(body)
        response = HttpResponse(body, content_type=content_type)
    else:
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 (closed by the response)
        for chunk in body:
            hasher.update(chunk)
            spool.write(chunk)
        spool.seek(0)
        response = FileResponse(spool, content_type=content_type)
    hex_digest = hasher.hexdigest()
    if targets:
        audit_record_many(
            actor=actor,
            action=action,
            targets=targets,
            client_attr=client_attr,
            content_digest=hex_digest,
        )
    else:
        audit_record(
            actor=actor,
            action=action,
            target=target,
            client_id=client_id,
            content_digest=hex_digest,
        )
    response["Repr-Digest"] = repr_digest(hex_digest)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def find_exports(*, hex_digest: str, events: QuerySet[AuditEvent] | None = None) -> list:
    """The export events whose file had this SHA-256, oldest first. `events` narrows the
    search to what a viewer may see (selectors.audit_list); the command searches all."""
    qs = events if events is not None else AuditEvent.objects.all()
    return list(
        qs.filter(content_digest=hex_digest)
        .select_related("actor", "organisation")
        .order_by("at", "id")
    )
