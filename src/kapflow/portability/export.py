"""`kapflow export --practice SLUG`: the practice's rows (graph.Selection), its stored files
and its audit trail in one archive (archive.py), read in one transaction.

Encrypted fields (accounts.crypto, decision 0034) are written as plaintext: the archive
already holds every clinical record in the clear, it must be guarded as the database is,
and import encrypts them again under the target's own keys, so the two installs need not
share a key. The file is created mode 0600.

The audit trail is one chain for the whole install (decision 0033); the practice's events
are a part of it. Each is checked against its stored digest first (an export refuses a
trail that was changed), then the archive carries them chained on their own, from the
start, under this install's chain key: an install holding only this practice verifies.
After the archive is complete a `practice.export` event (with the archive's SHA-256) is
appended to the practice's trail; the archive does not contain it.
"""

import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.migrations.recorder import MigrationRecorder

from kapflow.accounts.models import Organisation, User
from kapflow.audit import chain
from kapflow.audit.models import AuditEvent
from kapflow.core import clock
from kapflow.core.errors import DomainError
from kapflow.messaging.models import Attachment
from kapflow.portability import archive
from kapflow.portability.graph import CHUNK, NO_SIGN_IN, Selection, exported_models

logger = logging.getLogger(__name__)


class ExportRefused(DomainError):
    """The practice cannot be exported as it stands (the message says why)."""


@dataclass(frozen=True)
class ExportResult:
    path: Path
    sha256: str
    manifest: dict
    seconds: float


def kapflow_version() -> str:
    try:
        return metadata.version("kapflow")
    except metadata.PackageNotFoundError:
        return "unknown"


def migration_state() -> dict[str, list[str]]:
    applied = MigrationRecorder(connection).applied_migrations()
    state: dict[str, list[str]] = {}
    for app, name in sorted(applied):
        state.setdefault(app, []).append(name)
    return state


def _rows(model, pks: set):
    ordered = sorted(pks)
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start : start + CHUNK]
        yield from model._base_manager.filter(pk__in=chunk).order_by("pk")


def _audit_rechained(events):
    """The practice's events, each checked against its stored digest, then chained anew."""
    key, prev = chain.chain_key(), chain.GENESIS
    for event in events:
        if not chain.event_intact(event):
            raise ExportRefused(
                f"Audit event {event.pk} does not match its stored digest: the trail was "
                "changed, or this install's KAPFLOW_AUDIT_KEY is not the one that wrote it. "
                "Run `kapflow audit_verify`.",
                code="export.audit_broken",
            )
        values = chain._stored_values(event)
        event.prev_digest = prev
        event.digest = chain.digest(key, prev, values, event.content_digest)
        prev = event.digest
        yield event


def _write_table(model, pks, selection, directory: Path, audit_head: list) -> tuple[str, dict]:
    fields = list(model._meta.local_concrete_fields)
    name = f"{archive.TABLES}{model._meta.db_table}.jsonl"
    out = archive.Hashing(directory / name.replace("/", "__"))
    rows = _rows(model, pks)
    if model is AuditEvent:
        prev = chain.GENESIS
        for event in _audit_rechained(rows):
            prev = event.digest
            out.write(archive.encode_row(fields, event) + b"\n")
        audit_head.append(prev)
    elif model is User:
        for user in rows:
            if user.pk not in selection.signing_in:
                user.password = NO_SIGN_IN
            out.write(archive.encode_row(fields, user) + b"\n")
    else:
        for obj in rows:
            out.write(archive.encode_row(fields, obj) + b"\n")
    return name, out.close()


def _write_files(selection, directory: Path, members: dict, listed: dict) -> list[str]:
    """Every stored upload of an exported attachment; names of those missing on disk."""
    missing = []
    names = set()
    for attachment in _rows(Attachment, selection.pks.get(Attachment, set())):
        if attachment.file.name:
            names.add(attachment.file.name)
    for name in sorted(names):
        if not default_storage.exists(name):
            missing.append(name)
            continue
        member = f"{archive.FILES}{name}"
        target = archive.Hashing(directory / f"file-{len(members)}")
        with default_storage.open(name, "rb") as source:
            while chunk := source.read(archive.READ_SIZE):
                target.write(chunk)
        listed[member] = target.close()
        members[member] = target.path
    return missing


def export_practice(
    *, slug: str, out: Path, progress: Callable[[str], None] | None = None
) -> ExportResult:
    """Write the practice `slug` to `out`. Raises ExportRefused when there is no such
    practice or its audit trail does not verify; nothing is written then."""
    started = time.monotonic()
    say = progress or (lambda line: None)
    organisation = Organisation.objects.filter(slug=slug).first()
    if organisation is None:
        raise ExportRefused(f"No organisation has the slug {slug!r}.", code="export.no_practice")
    with tempfile.TemporaryDirectory(prefix="kapflow-export-") as tmp:
        directory = Path(tmp)
        members: dict[str, Path] = {}
        listed: dict[str, dict] = {}
        tables: dict[str, int] = {}
        audit_head: list[str] = []
        outermost = not connection.in_atomic_block
        with transaction.atomic():
            if connection.vendor == "postgresql" and outermost:
                # One snapshot for every table: rows written meanwhile are in none of them.
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            selection = Selection(organisation).walk()
            say(f"selected {sum(len(p) for p in selection.pks.values())} rows")
            for model in exported_models():
                pks = selection.pks.get(model)
                if not pks:
                    continue
                began = time.monotonic()
                name, digest = _write_table(model, pks, selection, directory, audit_head)
                listed[name] = digest
                members[name] = directory / name.replace("/", "__")
                tables[model._meta.db_table] = len(pks)
                say(f"{model._meta.db_table}: {len(pks)} rows ({time.monotonic() - began:.1f} s)")
            missing = _write_files(selection, directory, members, listed)
            files = sum(1 for name in listed if name.startswith(archive.FILES))
            say(f"files: {files}" + (f" ({len(missing)} missing on disk)" if missing else ""))
            state = migration_state()
        manifest = {
            "format": archive.FORMAT,
            "format_version": archive.FORMAT_VERSION,
            "kapflow_version": kapflow_version(),
            "practice": {"id": organisation.pk, "slug": organisation.slug},
            "migrations": state,
            "tables": tables,
            "members": listed,
            "files": {"count": files, "missing_on_disk": missing},
            "audit": {
                "events": tables.get(AuditEvent._meta.db_table, 0),
                "head": audit_head[0] if audit_head else chain.GENESIS,
                "chained": "from the start, the practice's events only, under the chain key "
                "of the install that exported them",
            },
            "secrets": "plaintext: encrypted fields are decrypted; guard this file",
            archive.VOLATILE: {
                "at": clock.now().isoformat(),
                "database": connection.vendor,
            },
        }
        sha = archive.write_archive(out, manifest, members)
    _record_export(organisation, sha)
    seconds = time.monotonic() - started
    logger.info(
        "portability.exported",
        extra={"organisation_id": organisation.pk, "rows": sum(tables.values()), "files": files},
    )
    return ExportResult(out, sha, manifest, seconds)


def _record_export(organisation, sha: str) -> None:
    event = AuditEvent(
        at=clock.now(),
        organisation_id=organisation.pk,
        action="practice.export",
        target_type="organisation",
        target_id=organisation.pk,
        route="cli:export",
        content_digest=sha,
    )
    with transaction.atomic():
        chain.append([event])
