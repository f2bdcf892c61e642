"""The hash chain (decision 0033): every event is chained to the one before by a keyed
digest, appends cannot fork, and audit_verify names the first broken link."""

import importlib
import itertools
import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections

from kapflow.audit import chain
from kapflow.audit.apps import check_audit_key
from kapflow.audit.models import AuditCheck, AuditEvent
from kapflow.audit.services import audit_chain_check, audit_record, audit_record_many
from kapflow.core.clock import now as chain_now
from tests.conftest import sign_in


def _tamper(sql: str, params=()) -> None:
    """What the table's owner can do today: switch the trigger off, rewrite, switch it on."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "ALTER TABLE audit_auditevent DISABLE TRIGGER audit_auditevent_append_only"
            )
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute(
                "ALTER TABLE audit_auditevent ENABLE TRIGGER audit_auditevent_append_only"
            )


def _events(world, n=5):
    audit_record(actor=world.admin, action="client.view", target=world.client, client_id=1)
    audit_record_many(actor=world.admin, action="client.list", targets=[world.client] * (n - 1))
    return list(AuditEvent.objects.order_by("id"))


def test_every_event_is_chained_to_the_one_before(world):
    rows = _events(world)
    assert rows[0].prev_digest == chain.GENESIS
    for before, after in itertools.pairwise(rows):
        assert after.prev_digest == before.digest
    for row in rows:
        values = [getattr(row, name) for name in chain.CHAINED_FIELDS]
        assert row.digest == chain.digest(chain.chain_key(), row.prev_digest, values)


def test_the_first_event_starts_from_genesis(db):
    first = audit_record(actor=None, action="system.start")
    assert AuditEvent.objects.order_by("id").first().pk == first.pk
    assert first.prev_digest == chain.GENESIS


def test_verify_reports_ok_with_the_count(world):
    rows = _events(world, n=7)
    result = chain.verify(batch_size=3)
    assert (result.ok, result.events, result.last_id) == (True, len(rows), rows[-1].pk)


def test_a_large_batch_with_every_kind_of_value_is_stored_as_digested(world):
    """More rows than one statement could bind one by one (PostgreSQL stops at 65,535
    parameters: 18 a row), with an address, changed fields and an export's digest: stored
    in order, each row's id set, and the whole chain verifies."""
    events = [
        AuditEvent(
            at=chain_now(),
            actor_id=world.admin.user_id,
            organisation_id=world.practice.pk,
            action="client.export",
            target_type="client",
            target_id=world.client.pk,
            client_id=world.client.pk,
            ip_address="2001:db8::1" if i % 2 else "192.0.2.7",
            changed_fields=["email", "phone"] if i % 3 else [],
            route="clients:detail",
            content_digest="ab" * 32 if i % 5 == 0 else "",
        )
        for i in range(4_000)
    ]
    chain.append(events)
    assert all(e.pk is not None for e in events)
    assert [e.pk for e in events] == sorted(e.pk for e in events)
    stored = AuditEvent.objects.get(pk=events[3].pk)
    assert (stored.ip_address, stored.changed_fields) == ("2001:db8::1", [])
    assert AuditEvent.objects.get(pk=events[5].pk).content_digest == "ab" * 32
    result = chain.verify(batch_size=1_000)
    total = AuditEvent.objects.count()
    assert (result.ok, result.events, result.last_id) == (True, total, events[-1].pk)


def test_a_changed_row_is_named_with_what_differs(world):
    rows = _events(world)
    _tamper("UPDATE audit_auditevent SET action = 'client.list' WHERE id = %s", [rows[0].pk])
    result = chain.verify(batch_size=2)
    assert not result.ok
    assert result.broken_id == rows[0].pk
    assert "content differs" in result.detail


def test_a_removed_row_breaks_the_link_of_the_next(world):
    rows = _events(world)
    _tamper("DELETE FROM audit_auditevent WHERE id = %s", [rows[2].pk])
    result = chain.verify(batch_size=2)
    assert (result.ok, result.broken_id, result.events) == (False, rows[3].pk, 2)
    assert f"event {rows[1].pk}" in result.detail and "removed" in result.detail


def test_a_recomputed_row_without_the_key_still_fails(world):
    """Someone with the database but not the key cannot forge a digest that verifies."""
    import hmac

    rows = _events(world)
    values = [getattr(rows[1], name) for name in chain.CHAINED_FIELDS]
    values[chain.CHAINED_FIELDS.index("action")] = "client.update"
    forged = hmac.new(b"guessed-key", rows[1].prev_digest.encode() + b"\n", "sha256")
    forged.update(chain.canonical(values))
    _tamper(
        "UPDATE audit_auditevent SET action = 'client.update', digest = %s WHERE id = %s",
        [forged.hexdigest(), rows[1].pk],
    )
    assert chain.verify().broken_id == rows[1].pk


def test_a_cut_back_tail_is_caught_by_the_last_checkpoint(world):
    rows = _events(world)
    first = audit_chain_check()
    assert first.ok and first.last_id == rows[-1].pk
    _tamper("DELETE FROM audit_auditevent WHERE id >= %s", [rows[3].pk])
    second = audit_chain_check()
    assert not second.ok
    assert second.broken_id == rows[-1].pk and "cut back" in second.detail


def test_the_command_prints_ok_and_records_the_check(world, capsys):
    rows = _events(world)
    call_command("audit_verify", "--batch-size", "2")
    assert f"OK: {len(rows)} events" in capsys.readouterr().out
    check = AuditCheck.objects.get()
    assert (check.ok, check.events, check.broken_id) == (True, len(rows), None)


def test_the_command_fails_on_a_broken_chain(world):
    rows = _events(world)
    _tamper("UPDATE audit_auditevent SET target_id = 999 WHERE id = %s", [rows[1].pk])
    with pytest.raises(CommandError, match=f"BROKEN at event {rows[1].pk}"):
        call_command("audit_verify")
    assert not AuditCheck.objects.get().ok


def test_the_scheduled_task_records_a_check(world):
    _events(world)
    call_command("audit_verify", "--enqueue")
    assert AuditCheck.objects.get().ok


def test_the_audit_page_shows_the_integrity_status(client, world):
    sign_in(client, world.admin.user)
    assert "not verified yet" in client.get("/audit/").content.decode()
    audit_chain_check()
    assert "intact." in client.get("/audit/").content.decode()
    row = AuditEvent.objects.order_by("id").first()
    _tamper("UPDATE audit_auditevent SET route = 'x' WHERE id = %s", [row.pk])
    audit_chain_check()
    text = client.get("/audit/").content.decode()
    assert "broken" in text and f"#{row.pk}" in text


def test_the_key_comes_from_the_environment_setting(world, settings):
    settings.KAPFLOW_AUDIT_KEY = "first-key"
    _events(world)
    assert chain.verify().ok
    settings.KAPFLOW_AUDIT_KEY = "another-key"
    assert not chain.verify().ok


def test_a_missing_key_is_a_system_check_warning(settings):
    settings.KAPFLOW_AUDIT_KEY = ""
    settings.TESTING = False
    settings.KAPFLOW_DEMO_MODE = False
    assert [m.id for m in check_audit_key()] == ["audit.W001"]
    settings.KAPFLOW_AUDIT_KEY = "set"
    assert check_audit_key() == []


def test_the_backfill_migration_digests_as_the_chain_does(world):
    """The migration keeps a frozen copy of the v1 digest; both must agree."""
    migration = importlib.import_module("kapflow.audit.migrations.0005_auditevent_backfill_chain")
    row = _events(world)[1]
    values = [getattr(row, name) for name in chain.CHAINED_FIELDS]
    assert migration.FIELDS == chain.CHAINED_FIELDS
    assert migration._digest(migration._key(), row.prev_digest, values) == row.digest


def test_a_row_without_its_digest_is_refused_by_the_database(db):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        AuditEvent.objects.create(action="client.view")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="real concurrency: PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_do_not_fork_the_chain():
    barrier = threading.Barrier(4)
    errors = []

    def writer(n):
        try:
            barrier.wait()
            for _ in range(15):
                audit_record(actor=None, action=f"system.writer{n}")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    result = chain.verify()
    assert (result.ok, result.events) == (True, 60)
