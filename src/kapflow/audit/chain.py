"""The audit trail's hash chain (decision 0033): every event carries a keyed digest over its
own content and the digest of the event before it, so a changed, removed, inserted or
reordered row breaks the chain at a place `audit_verify` can name.

digest = HMAC-SHA256(key, prev_digest + "\\n" + canonical(event)), hex. The first event's
prev_digest is GENESIS. An export's event also covers the SHA-256 of the file it produced
(`content_digest`, decision 0037) under VERSION_2; every other event keeps VERSION. The key
comes from KAPFLOW_AUDIT_KEY; without it, a key derived from SECRET_KEY (system check
audit.W001 says so), which changes if SECRET_KEY does.

Appends are serialised so the chain cannot fork: on PostgreSQL a transaction-level advisory
lock is taken before the head is read and held until the transaction commits or rolls back;
on SQLite a no-op UPDATE of the head row takes the database's write lock first. This module
computes and checks digests; it must not decide who may see events (selectors) or what is
recorded (services).
"""

import hashlib
import hmac
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC

from django.db import connection, transaction

from kapflow.audit.models import AuditEvent

logger = logging.getLogger(__name__)

GENESIS = "0" * 64
VERSION = b"kapflow-audit-v1"
# v2: v1's fields plus the export's content digest, for rows that have one. Rows without one
# (every row written before v2, and all but exports after) digest exactly as under v1.
VERSION_2 = b"kapflow-audit-v2"
# pg_advisory_xact_lock key: the first 8 bytes of sha256("kapflow.audit.chain"), signed.
ADVISORY_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"kapflow.audit.chain").digest()[:8], "big", signed=True
)

# The fields a digest covers, in order. Adding a field is a new VERSION: old rows keep theirs.
CHAINED_FIELDS = (
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


def chain_key() -> bytes:
    """KAPFLOW_AUDIT_KEY, else a key derived from SECRET_KEY (see audit.W001)."""
    from django.conf import settings

    configured = getattr(settings, "KAPFLOW_AUDIT_KEY", "") or ""
    if configured:
        return configured.encode()
    return hmac.new(settings.SECRET_KEY.encode(), b"kapflow.audit.chain", "sha256").digest()


def subject_hash(value: str) -> str:
    """A keyed hash of a normalised identity (a typed address that matched no account), so
    repeated attempts at one address can be grouped without the address being stored."""
    key = hmac.new(chain_key(), b"kapflow.audit.subject", "sha256").digest()
    return hmac.new(key, value.encode(), "sha256").hexdigest()


def canonical(values: Sequence, content_digest: str = "") -> bytes:
    """The chained fields (in CHAINED_FIELDS order, as stored) as deterministic bytes; an
    export's content digest, when there is one, last under VERSION_2."""
    at, *rest = values
    stamp = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if content_digest:
        fields = [stamp, *rest, content_digest]
        return VERSION_2 + b"\n" + json.dumps(fields, separators=(",", ":")).encode()
    return VERSION + b"\n" + json.dumps([stamp, *rest], separators=(",", ":")).encode()


def digest(key: bytes, prev: str, values: Sequence, content_digest: str = "") -> str:
    message = prev.encode() + b"\n" + canonical(values, content_digest)
    return hmac.new(key, message, "sha256").hexdigest()


def _stored_values(event: AuditEvent) -> list:
    """The event's chained values as the database will hand them back (addresses are
    normalised on the way in, so the digest is taken over the normalised form)."""
    ip_field = AuditEvent._meta.get_field("ip_address")
    values = []
    for name in CHAINED_FIELDS:
        value = getattr(event, name)
        if name == "ip_address":
            value = ip_field.get_prep_value(value) or None
        elif name == "changed_fields":
            value = list(value or [])
        values.append(value)
    return values


HEAD_SQL = "SELECT digest FROM audit_auditevent ORDER BY id DESC LIMIT 1"


def _lock_and_read_head() -> str:
    """Serialise appends until this transaction ends (the chain must not fork), then read
    the head digest, in one query. On PostgreSQL two statements travel in one simple query;
    in READ COMMITTED each statement takes its own snapshot, so the head is read after the
    lock is granted and sees the previous holder's committed row."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK_KEY}); {HEAD_SQL}")
            cursor.nextset()
        else:
            # A deferred SQLite transaction reads under a shared lock, so two writers could
            # both read the same head. A write takes the database's write lock before it
            # reads: this one sets the head row's digest to itself and returns it.
            cursor.execute(
                "UPDATE audit_auditevent SET digest = digest"
                " WHERE id = (SELECT MAX(id) FROM audit_auditevent) RETURNING digest"
            )
        row = cursor.fetchone()
    return row[0] if row else GENESIS


def append(events: list[AuditEvent]) -> list[AuditEvent]:
    """Chain and insert `events` in order, in one INSERT. Cost per call: one round trip for
    the lock and the head, one HMAC per event, the INSERT (bench/audit_chain.py)."""
    if not events:
        return events
    key = chain_key()
    # No savepoint: a failed insert fails the caller's transaction anyway, and a savepoint
    # would add two round trips to every audit write.
    with transaction.atomic(savepoint=False):
        head = _lock_and_read_head()
        stored = []
        for event in events:
            values = _stored_values(event)
            event.prev_digest = head
            event.digest = digest(key, head, values, event.content_digest)
            head = event.digest
            stored.append(values)
        if len(events) == 1:
            events[0].save(force_insert=True)
        elif connection.vendor == "postgresql":
            _insert_many(events, stored)
        else:
            AuditEvent.objects.bulk_create(events)
    return events


# The columns of one audit row, in the order _insert_many binds them.
INSERT_COLUMNS = (*CHAINED_FIELDS, "prev_digest", "digest", "content_digest")
_JSON_AT = CHAINED_FIELDS.index("changed_fields")


def _insert_sql() -> str:
    """One INSERT for any number of rows: a typed array per column, unnested (as Django's
    own bulk_create does on PostgreSQL), so the text and its 18 parameters never change."""
    q = connection.ops.quote_name
    fields = {f.attname: f for f in AuditEvent._meta.concrete_fields}
    arrays = ", ".join(f"%s::{fields[name].db_type(connection)}[]" for name in INSERT_COLUMNS)
    columns = ", ".join(q(name) for name in INSERT_COLUMNS)
    return (
        f"INSERT INTO {q(AuditEvent._meta.db_table)} ({columns}) "  # noqa: S608 (names only)
        f"SELECT * FROM UNNEST({arrays}) RETURNING {q('id')}"
    )


def _insert_many(events: list[AuditEvent], stored: list[list]) -> None:
    """Several rows in one INSERT on PostgreSQL, bound from the values their digests were
    taken over (the list pages' rows: bulk_create spent more CPU preparing each field again
    than the INSERT costs). The ids come back in the rows' order, as bulk_create sets them."""
    columns: list[list] = [[] for _ in INSERT_COLUMNS]
    for event, values in zip(events, stored, strict=True):
        row = list(values)
        row[_JSON_AT] = json.dumps(row[_JSON_AT])
        row += (event.prev_digest, event.digest, event.content_digest)
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(), columns)
        ids = [row[0] for row in cursor.fetchall()]
    for event, pk in zip(events, ids, strict=True):
        event.pk = pk
        event._state.adding = False
        event._state.db = connection.alias


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    events: int
    last_id: int | None
    last_digest: str
    broken_id: int | None = None
    detail: str = ""


def _rows(batch_size: int, start_after: int = 0) -> Iterator[tuple]:
    """Every event in id order, fetched in batches by id (keyset), values only."""
    fields = ("id", "prev_digest", "digest", "content_digest", *CHAINED_FIELDS)
    last = start_after
    while True:
        batch = list(
            AuditEvent.objects.filter(id__gt=last).order_by("id").values_list(*fields)[:batch_size]
        )
        if not batch:
            return
        yield from batch
        last = batch[-1][0]


def verify(*, batch_size: int = 5000, checkpoint: tuple[int, str] | None = None) -> VerifyResult:
    """Walk the whole chain; stop at the first broken link and say what differs.

    `checkpoint` is (id, digest) of the last event an earlier run found intact: if that
    event is gone or changed, events were removed from the end since then (the chain alone
    cannot show a cut-back tail)."""
    key = chain_key()
    prev_id, prev = None, GENESIS
    count = 0
    checkpoint_seen = checkpoint is None
    for row in _rows(batch_size):
        event_id, stored_prev, stored, content_digest, values = (*row[:4], row[4:])
        if stored_prev != prev:
            where = f"event {prev_id}" if prev_id is not None else "the start of the trail"
            return VerifyResult(
                False,
                count,
                prev_id,
                prev,
                event_id,
                f"link broken: its previous digest is not that of {where}; events between "
                "them were removed, added or reordered",
            )
        if not hmac.compare_digest(stored, digest(key, prev, values, content_digest)):
            return VerifyResult(
                False,
                count,
                prev_id,
                prev,
                event_id,
                "content differs from what was written (or the key changed)",
            )
        if checkpoint is not None and event_id == checkpoint[0]:
            if stored != checkpoint[1]:
                return VerifyResult(
                    False, count, prev_id, prev, event_id, "differs from the last verified run"
                )
            checkpoint_seen = True
        prev_id, prev = event_id, stored
        count += 1
    if not checkpoint_seen:
        return VerifyResult(
            False,
            count,
            prev_id,
            prev,
            checkpoint[0],
            "missing: the last event verified before is gone, so the trail was cut back",
        )
    return VerifyResult(True, count, prev_id, prev)


def event_intact(event: AuditEvent) -> bool:
    """Whether one stored event still carries the digest of its own content and link (its
    content_digest included): the export check uses it to say the event that vouches for a
    file was not changed. Whether the chain around it is whole is audit_verify's question."""
    values = _stored_values(event)
    expected = digest(chain_key(), event.prev_digest, values, event.content_digest)
    return hmac.compare_digest(event.digest, expected)
