"""Chain the rows written before the chain existed, in id order (decision 0033), and make
AuditCheck append-only like the trail.

Why the digests live on the audit row itself rather than in a separate chain table: one
INSERT per event instead of two, and verify reads one table. The price is this one-time
backfill, which needs UPDATE: on PostgreSQL the append-only trigger is disabled for it and
enabled again in the same transaction. The migration is atomic, and ALTER TABLE holds a lock
that makes every other writer wait until commit, so no other session ever sees the table
without its trigger. It runs as the owning role, as every migration does; the runtime role
could not do it (kapflow.audit.dbrole).

The digest code is a frozen copy of kapflow.audit.chain at VERSION kapflow-audit-v1
(migrations never import app code); tests/audit/test_chain.py checks that both agree.
"""

import hashlib
import hmac
import json
from datetime import UTC

from django.conf import settings
from django.db import migrations

GENESIS = "0" * 64
FIELDS = (
    "at",
    "actor_id",
    "organisation_id",
    "record_organisation_id",
    "action",
    "target_type",
    "target_id",
    "client_id",
    "subject_hash",
    "request_id",
    "client_request_id",
    "ip_address",
    "user_agent",
    "route",
    "changed_fields",
)
BATCH = 2000
LOCK_KEY = int.from_bytes(hashlib.sha256(b"kapflow.audit.chain").digest()[:8], "big", signed=True)


def _key() -> bytes:
    configured = getattr(settings, "KAPFLOW_AUDIT_KEY", "") or ""
    if configured:
        return configured.encode()
    return hmac.new(settings.SECRET_KEY.encode(), b"kapflow.audit.chain", "sha256").digest()


def _digest(key: bytes, prev: str, values) -> str:
    at, *rest = values
    stamp = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body = b"kapflow-audit-v1\n" + json.dumps([stamp, *rest], separators=(",", ":")).encode()
    return hmac.new(key, prev.encode() + b"\n" + body, "sha256").hexdigest()


def chain_rows(apps, schema_editor):
    AuditEvent = apps.get_model("audit", "AuditEvent")
    connection = schema_editor.connection
    postgres = connection.vendor == "postgresql"
    key = _key()
    with connection.cursor() as cursor:
        if postgres:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
            cursor.execute(
                "ALTER TABLE audit_auditevent DISABLE TRIGGER audit_auditevent_append_only"
            )
        prev, last = GENESIS, 0
        while True:
            batch = list(
                AuditEvent.objects.filter(id__gt=last)
                .order_by("id")
                .values_list("id", *FIELDS)[:BATCH]
            )
            if not batch:
                break
            updates = []
            for row in batch:
                digest = _digest(key, prev, row[1:])
                updates.append((prev, digest, row[0]))
                prev = digest
            cursor.executemany(
                "UPDATE audit_auditevent SET prev_digest = %s, digest = %s WHERE id = %s",
                updates,
            )
            last = batch[-1][0]
        if postgres:
            cursor.execute(
                "ALTER TABLE audit_auditevent ENABLE TRIGGER audit_auditevent_append_only"
            )
            cursor.execute(
                "CREATE TRIGGER audit_auditcheck_append_only "
                "BEFORE UPDATE OR DELETE ON audit_auditcheck "
                "FOR EACH ROW EXECUTE FUNCTION kapflow_audit_refuse_change()"
            )


def unchain_rows(apps, schema_editor):
    """Back to 0004: the digests are dropped with their columns by 0004's reverse."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "DROP TRIGGER IF EXISTS audit_auditcheck_append_only ON audit_auditcheck"
        )


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_auditevent_add_chain_fields")]

    operations = [migrations.RunPython(chain_rows, unchain_rows)]
