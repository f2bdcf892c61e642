"""Copy every row of this installation's database into an empty, migrated PostgreSQL database
(decision 0043): the move off SQLite, `kapflow copy_to_postgres --to postgres://...`.

All or nothing: the target is written in one transaction, which commits only after every
table is copied and every sequence reset; any error rolls all of it back. The source is read
in one transaction too, so the copy is one consistent moment (stop the web, worker and
scheduler first: rows written during the copy would not be in it).

Rows keep their ids. Foreign keys on PostgreSQL are DEFERRABLE INITIALLY DEFERRED (Django
makes them so), so tables go in any order and self-references need no sorting; every
constraint is checked at COMMIT. Values pass through each field as they would in the
application (read, then prepared for PostgreSQL), inserted raw, so no default or auto_now
replaces what was stored; encrypted fields (accounts.crypto) are decrypted and encrypted
again under the first configured key. The append-only and immutability triggers refuse
UPDATE and DELETE, never INSERT, so the audit trail arrives as it was and its hash chain
still verifies (`kapflow audit_verify` against the target).

The target must have been migrated to the same migrations and hold no rows but the content
types and permissions `migrate` writes; those are replaced by the source's, whose ids the
other tables reference. Logs table names and counts only.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass

import dj_database_url
from django.apps import apps
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management.color import no_style
from django.db import connections, transaction
from django.db.migrations.recorder import MigrationRecorder

from kapflow.core.errors import DomainError

logger = logging.getLogger(__name__)

TARGET_ALIAS = "copy_target"
BATCH = 1000
# Written by `migrate` itself on the target; replaced by the source's rows.
MIGRATE_WRITES = (Permission, ContentType)


class CopyRefused(DomainError):
    """The target is not a database the copy may write to (named in the message)."""


@dataclass(frozen=True)
class TableCopied:
    table: str
    rows: int


def target_connect(url: str, *, alias: str = TARGET_ALIAS):
    """A connection to the PostgreSQL database at `url` under `alias`."""
    config = dj_database_url.parse(url)
    if config.get("ENGINE") != "django.db.backends.postgresql":
        raise CopyRefused("The target must be a postgres:// URL.", code="copy.not_postgres")
    # configure_settings fills Django's defaults in; it wants a "default" beside the alias.
    filled = connections.configure_settings({"default": {}, alias: config})
    connections.settings[alias] = filled[alias]
    return connections[alias]


def copied_models() -> list:
    """Every model with a table of its own, in a stable order: concrete, managed, not a proxy
    (auto-created many-to-many tables included)."""
    found = [
        model
        for model in apps.get_models(include_auto_created=True)
        if model._meta.managed and not model._meta.proxy
    ]
    return sorted(found, key=lambda m: m._meta.db_table)


def _tables(alias: str) -> set[str]:
    with connections[alias].cursor() as cursor:
        return set(connections[alias].introspection.table_names(cursor))


def target_problems(*, source: str, target: str) -> list[str]:
    """Why the copy may not write to `target`, in sentences; empty when it may."""
    problems = []
    applied = set(MigrationRecorder(connections[source]).applied_migrations())
    there = set(MigrationRecorder(connections[target]).applied_migrations())
    if applied != there:
        missing = len(applied - there)
        extra = len(there - applied)
        problems.append(
            f"The target's migrations differ from this database's ({missing} missing, {extra} "
            "not applied here): migrate both to the same release first."
        )
        return problems
    tables = _tables(target)
    busy = []
    with connections[target].cursor() as cursor:
        for model in copied_models():
            table = model._meta.db_table
            if model in MIGRATE_WRITES or table not in tables:
                continue
            quoted = connections[target].ops.quote_name(table)
            cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {quoted})")  # noqa: S608 (a table name)
            if cursor.fetchone()[0]:
                busy.append(table)
    if busy:
        problems.append(
            f"The target already holds rows in {len(busy)} tables ({', '.join(busy[:5])}"
            f"{', ...' if len(busy) > 5 else ''}): it must be a new, empty database."
        )
    return problems


def _copy_model(model, *, source: str, target: str) -> int:
    # A generated column (Course.stage_rank) is computed by the target, never written.
    fields = [f for f in model._meta.local_concrete_fields if not getattr(f, "generated", False)]
    rows = model._base_manager.using(source).order_by("pk").iterator(chunk_size=BATCH)
    batch, copied = [], 0
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            model._base_manager.using(target)._insert(batch, fields=fields, raw=True)
            copied += len(batch)
            batch = []
    if batch:
        model._base_manager.using(target)._insert(batch, fields=fields, raw=True)
        copied += len(batch)
    return copied


def copy_database(
    *, target: str, source: str = "default", progress: Callable[[str], None] | None = None
) -> list[TableCopied]:
    """Copy every row from `source` into `target` (an alias, see target_connect), all or
    nothing. Raises CopyRefused, before writing anything, when target_problems finds any."""
    if connections[target].vendor != "postgresql":
        raise CopyRefused("The target must be PostgreSQL.", code="copy.not_postgres")
    problems = target_problems(source=source, target=target)
    if problems:
        raise CopyRefused(" ".join(problems), code="copy.target_not_empty")
    source_tables = _tables(source)
    models = [m for m in copied_models() if m._meta.db_table in source_tables]
    done = []
    with transaction.atomic(using=source), transaction.atomic(using=target):
        with connections[target].cursor() as cursor:
            for model in MIGRATE_WRITES:  # permissions, then the content types they name
                table = connections[target].ops.quote_name(model._meta.db_table)
                cursor.execute(f"DELETE FROM {table}")  # noqa: S608 (a table name)
        for model in models:
            rows = _copy_model(model, source=source, target=target)
            done.append(TableCopied(model._meta.db_table, rows))
            if progress is not None and rows:
                progress(f"{model._meta.db_table}: {rows}")
        # Each serial column continues after the highest id copied.
        with connections[target].cursor() as cursor:
            for sql in connections[target].ops.sequence_reset_sql(no_style(), models):
                cursor.execute(sql)
    logger.info(
        "dbcopy.done",
        extra={"tables": len(done), "rows": sum(t.rows for t in done)},
    )
    return done
