"""Reports and exports read from a replica when DATABASE_REPLICA_URL is set (decision 0044).

The router's rules are checked here on every run. The last tests need a real PostgreSQL
streaming replica and are skipped unless KAPFLOW_TEST_REPLICA_URL is set: bench/replica.sh
makes a hot standby of the local server with pg_basebackup and runs them with
DATABASE_REPLICA_URL pointing at it. The "replica" alias mirrors the test database, so the
standby serves the copy of the test database streamed from the primary.
"""

import os
import time

import pytest
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from kapflow.audit.models import AuditEvent
from kapflow.audit.selectors import audit_list, client_access_report
from kapflow.audit.services import audit_record
from kapflow.core import replica
from kapflow.core.replica import REPLICA, ReplicaRouter, report_db
from tests.conftest import sign_in
from tests.patients.factories import ClientFactory
from tests.runtime.test_settings import PRODUCTION, load

# ---- the rules (no replica needed) ---------------------------------------------------------


@pytest.fixture
def with_replica(monkeypatch):
    monkeypatch.setattr(replica, "replica_configured", lambda: True)


def test_only_report_reads_go_to_the_replica(with_replica):
    router = ReplicaRouter()
    assert router.db_for_read(AuditEvent, report=True) == REPLICA
    assert router.db_for_read(AuditEvent) is None  # Django's default: "default"
    assert router.db_for_write(AuditEvent, report=True) == DEFAULT_DB_ALIAS
    assert router.allow_migrate(DEFAULT_DB_ALIAS, "audit")
    assert not router.allow_migrate(REPLICA, "audit")


@pytest.mark.django_db
def test_a_report_read_inside_a_transaction_stays_on_the_primary(with_replica):
    # pytest-django runs this test inside a transaction, as a service would.
    assert transaction.get_connection().in_atomic_block
    assert ReplicaRouter().db_for_read(AuditEvent, report=True) == DEFAULT_DB_ALIAS


@pytest.mark.skipif(bool(os.environ.get("DATABASE_REPLICA_URL")), reason="a replica is set")
def test_without_a_replica_reports_read_the_primary():
    assert not replica.replica_configured()
    assert report_db(AuditEvent) == DEFAULT_DB_ALIAS


def test_the_replica_url_adds_a_mirrored_alias_with_the_primarys_pool(monkeypatch):
    monkeypatch.delenv("DATABASE_REPLICA_URL", raising=False)
    primary = "postgres://kapflow@db.internal:5432/kapflow"
    s = load(monkeypatch, DATABASE_URL=primary, **PRODUCTION)
    assert set(s["DATABASES"]) == {"default"}
    assert s["DATABASE_ROUTERS"] == ["kapflow.core.replica.ReplicaRouter"]
    s = load(
        monkeypatch,
        DATABASE_URL=primary,
        DATABASE_REPLICA_URL="postgres://kapflow@replica.internal:5432/kapflow",
        **PRODUCTION,
    )
    copy = s["DATABASES"]["replica"]
    assert copy["HOST"] == "replica.internal"
    assert copy["TEST"] == {"MIRROR": "default"}
    assert copy["OPTIONS"] == s["DATABASES"]["default"]["OPTIONS"]
    assert "pool" in copy["OPTIONS"]


# ---- against a real streaming replica -----------------------------------------------------

needs_replica = pytest.mark.skipif(
    not os.environ.get("KAPFLOW_TEST_REPLICA_URL"),
    reason="needs a streaming replica: bench/replica.sh starts one and runs these tests",
)
on_both = pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPLICA])


def caught_up(timeout: float = 30) -> None:
    """Wait until the standby has replayed everything the primary has written so far."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()")
        lsn = cursor.fetchone()[0]
    deadline = time.monotonic() + timeout
    with connections[REPLICA].cursor() as cursor:
        while True:
            cursor.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [lsn])
            if cursor.fetchone()[0]:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"the replica did not replay {lsn} in {timeout} s")
            time.sleep(0.05)


def touches(queries, table: str) -> bool:
    return any(table in q["sql"] for q in queries.captured_queries)


@needs_replica
@on_both
def test_the_replica_is_a_read_only_standby_of_the_primary():
    with connections[REPLICA].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery(), current_database()")
        assert cursor.fetchone() == (True, connection.settings_dict["NAME"])
    with pytest.raises(DatabaseError, match="read-only"), connections[REPLICA].cursor() as cur:
        cur.execute("CREATE TABLE kapflow_replica_probe (id int)")


@needs_replica
@on_both
def test_the_audit_trail_is_read_from_the_replica(world):
    patient = ClientFactory(organisation=world.practice)
    audit_record(actor=world.admin, action="client.view", target=patient, client_id=patient.pk)
    caught_up()
    with (
        CaptureQueriesContext(connections[REPLICA]) as on_replica,
        CaptureQueriesContext(connection) as on_primary,
    ):
        events = list(audit_list(actor=world.admin))
        reported = list(client_access_report(client_id=patient.pk))
    assert [e.client_id for e in events if e.action == "client.view"] == [patient.pk]
    assert {e._state.db for e in events + reported} == {REPLICA}
    assert [e.action for e in reported] == ["client.view"]
    assert touches(on_replica, "audit_auditevent")
    assert not touches(on_primary, "audit_auditevent")


@needs_replica
@on_both
def test_the_audit_page_and_export_read_the_replica_and_audit_on_the_primary(client, world):
    patient = ClientFactory(organisation=world.practice)
    audit_record(actor=world.admin, action="client.view", target=patient, client_id=patient.pk)
    sign_in(client, world.admin.user)
    caught_up()
    with CaptureQueriesContext(connections[REPLICA]) as on_replica:
        page = client.get("/audit/")
        export = client.get("/audit/export.csv")
        body = b"".join(export.streaming_content).decode()
    assert page.status_code == 200 and export.status_code == 200
    assert f",{patient.pk}," in body
    assert touches(on_replica, "audit_auditevent")
    # The export's own audit row is written on the primary.
    assert AuditEvent.objects.using(DEFAULT_DB_ALIAS).filter(action="audit.export").exists()


@needs_replica
@on_both
def test_writes_and_reads_in_a_transaction_use_the_primary(world):
    with transaction.atomic():
        patient = ClientFactory(organisation=world.practice)
        audit_record(actor=world.admin, action="client.view", target=patient, client_id=patient.pk)
        # Not replayed anywhere yet: only the primary can answer inside the transaction.
        events = audit_list(actor=world.admin)
        assert events.db == DEFAULT_DB_ALIAS
        assert events.filter(client_id=patient.pk).exists()


@needs_replica
@on_both
def test_the_practice_outcomes_report_and_export_read_the_replica(client, world):
    from tests.outcomes.factories import treated_client

    treated_client(world, [20, 14, 8])
    sign_in(client, world.admin.user)
    caught_up()
    with (
        CaptureQueriesContext(connections[REPLICA]) as on_replica,
        CaptureQueriesContext(connection) as on_primary,
    ):
        page = client.get("/outcomes/practice/?group_by=condition")
        export = client.get("/outcomes/practice.csv?group_by=condition")
        body = b"".join(export.streaming_content) if export.streaming else export.content
    assert page.status_code == 200 and export.status_code == 200 and body
    assert touches(on_replica, "outcomes_outcomesummary")
    assert not touches(on_primary, "outcomes_outcomesummary")
    audited = AuditEvent.objects.using(DEFAULT_DB_ALIAS).filter(action__startswith="outcomes.")
    assert {"outcomes.practice_view", "outcomes.practice_export"} <= set(
        audited.values_list("action", flat=True)
    )
