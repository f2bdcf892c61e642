"""`kapflow import FILE`: a practice archive (export.py) into an empty install.

Before anything is written: the archive's members are checked against the SHA-256 in its
manifest (a changed or damaged member is refused by name), its migrations must be this
install's, and the install must be empty (only what `migrate` writes). Then every row goes
in within one transaction, ids kept, values inserted raw as dbcopy does (decision 0043):
no default or auto_now replaces what was stored, encrypted fields are encrypted under this
install's first key, foreign keys are checked at COMMIT. Content types and permissions
replace the ones `migrate` wrote. Sequences continue after the highest id (PostgreSQL).

The audit trail arrives chained from the start (export.py). Each event's digest is checked
under this install's chain key; when the keys differ the import refuses unless told to
chain the events again under this key (`--rechain-audit`), which it then says. Stored files
are written before the rows and removed again if the rows fail.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.contrib.contenttypes.models import ContentType
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.core.management.color import no_style
from django.db import connection, transaction

from kapflow.audit import chain
from kapflow.audit.models import AuditEvent
from kapflow.core.errors import DomainError
from kapflow.portability import archive
from kapflow.portability.export import migration_state
from kapflow.portability.graph import LEFT_OUT, WHOLE, exported_models

logger = logging.getLogger(__name__)

BATCH = 1000


class ImportRefused(DomainError):
    """The archive cannot be loaded here (the message says why); nothing was written."""


@dataclass(frozen=True)
class ImportResult:
    manifest: dict
    rows: int
    files: int
    rechained: bool
    audit: chain.VerifyResult
    seconds: float


def _migration_problem(manifest: dict) -> str:
    theirs = {(app, n) for app, names in manifest["migrations"].items() for n in names}
    ours = {(app, n) for app, names in migration_state().items() for n in names}
    if theirs == ours:
        return ""
    return (
        f"The archive was written at other migrations ({len(theirs - ours)} not applied here, "
        f"{len(ours - theirs)} not in the archive): import it with kapflow "
        f"{manifest.get('kapflow_version')} migrated to the same state."
    )


def busy_tables() -> list[str]:
    """Tables an import would write to that already hold rows."""
    busy = []
    existing = set(connection.introspection.table_names())
    with connection.cursor() as cursor:
        for model in exported_models():
            label, table = model._meta.label, model._meta.db_table
            if label in WHOLE or label in LEFT_OUT or table not in existing:
                continue
            quoted = connection.ops.quote_name(table)
            cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {quoted})")  # noqa: S608 (a table name)
            if cursor.fetchone()[0]:
                busy.append(table)
    return busy


def check(path: Path) -> dict:
    """Everything that can be known before writing; the manifest, or ImportRefused."""
    try:
        manifest = archive.read_manifest(path)
        archive.verify_members(path, manifest)
    except archive.ArchiveError as exc:
        raise ImportRefused(str(exc), code="import.archive") from exc
    problem = _migration_problem(manifest)
    if problem:
        raise ImportRefused(problem, code="import.migrations")
    busy = busy_tables()
    if busy:
        shown = ", ".join(busy[:5]) + (", ..." if len(busy) > 5 else "")
        raise ImportRefused(
            f"This install is not empty: {len(busy)} tables hold rows ({shown}). Import into "
            "a new database that has only been migrated.",
            code="import.not_empty",
        )
    for name in manifest["members"]:
        if name.startswith(archive.FILES):
            stored = name.removeprefix(archive.FILES)
            if default_storage.exists(stored):
                raise ImportRefused(
                    f"A stored file named {stored} is already in this install's media "
                    "directory: import with an empty KAPFLOW_MEDIA_ROOT.",
                    code="import.file_exists",
                )
    return manifest


class _Chain:
    """Checks (or, told to, replaces) the imported events' digests in order."""

    def __init__(self, rechain: bool) -> None:
        self.key = chain.chain_key()
        self.prev = chain.GENESIS
        self.rechain = rechain
        self.rechained = False

    def take(self, event) -> None:
        values = chain._stored_values(event)
        expected = chain.digest(self.key, self.prev, values, event.content_digest)
        if event.prev_digest != self.prev or event.digest != expected:
            if not self.rechain:
                raise ImportRefused(
                    f"Audit event {event.pk} in the archive does not verify under this "
                    "install's KAPFLOW_AUDIT_KEY: set the key of the install that exported "
                    "it, or pass --rechain-audit to chain the trail again under this key.",
                    code="import.audit_key",
                )
            event.prev_digest, event.digest = self.prev, expected
            self.rechained = True
        self.prev = event.digest


def _load_table(model, source, audit: _Chain) -> int:
    """Insert the member's rows raw: each value through its field's to_python and
    get_db_prep_save (what the ORM's raw insert does, without building a model per row;
    the encrypted field encrypts there). Audit events are built to check their chain."""
    fields = [f for f in model._meta.local_concrete_fields if not getattr(f, "generated", False)]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({marks})"  # noqa: S608
    batch, count = [], 0
    with connection.cursor() as cursor:
        for line in source:
            values = archive.decode_values(fields, line)
            if model is AuditEvent:
                event = model(**values)
                audit.take(event)
                values["prev_digest"], values["digest"] = event.prev_digest, event.digest
            batch.append([f.get_db_prep_save(values[f.attname], connection) for f in fields])
            if len(batch) == BATCH:
                cursor.executemany(sql, batch)
                count += len(batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)
            count += len(batch)
    return count


def import_practice(
    *, path: Path, rechain_audit: bool = False, progress: Callable[[str], None] | None = None
) -> ImportResult:
    started = time.monotonic()
    say = progress or (lambda line: None)
    manifest = check(path)
    say(f"archive verified: {len(manifest['members'])} members")
    by_table = {m._meta.db_table: m for m in exported_models()}
    written: list[str] = []
    audit = _Chain(rechain_audit)
    rows = 0
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                for label in reversed(WHOLE):  # permissions, then the content types they name
                    model = next(m for m in by_table.values() if m._meta.label == label)
                    quoted = connection.ops.quote_name(model._meta.db_table)
                    cursor.execute(f"DELETE FROM {quoted}")  # noqa: S608 (a table name)
            loaded = []
            for name, source in archive.members(path):
                if name.startswith(archive.FILES):
                    stored = name.removeprefix(archive.FILES)
                    saved = default_storage.save(stored, File(source, name=stored))
                    written.append(saved)
                    if saved != stored:
                        raise ImportRefused(
                            f"The file {stored} could not keep its name.", code="import.file"
                        )
                    continue
                table = name.removeprefix(archive.TABLES).removesuffix(".jsonl")
                model = by_table.get(table)
                if model is None:
                    raise ImportRefused(
                        f"{name}: this release has no table {table}.", code="import.table"
                    )
                began = time.monotonic()
                count = _load_table(model, source, audit)
                if count != manifest["tables"].get(table):
                    raise ImportRefused(
                        f"{name} holds {count} rows; its manifest says "
                        f"{manifest['tables'].get(table)}.",
                        code="import.count",
                    )
                rows += count
                loaded.append(model)
                say(f"{table}: {count} rows ({time.monotonic() - began:.1f} s)")
            with connection.cursor() as cursor:
                for sql in connection.ops.sequence_reset_sql(no_style(), loaded):
                    cursor.execute(sql)
    except BaseException:
        for name in written:
            default_storage.delete(name)
        raise
    finally:
        ContentType.objects.clear_cache()
    verified = chain.verify()
    if audit.rechained:
        say("the audit trail was chained again under this install's key")
    say(
        f"audit trail: {'intact' if verified.ok else 'BROKEN'}, {verified.events} events"
        + ("" if verified.ok else f" (event {verified.broken_id}: {verified.detail})")
    )
    logger.info("portability.imported", extra={"rows": rows, "files": len(written)})
    return ImportResult(
        manifest, rows, len(written), audit.rechained, verified, time.monotonic() - started
    )
