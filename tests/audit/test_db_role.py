"""The runtime database role (kapflow.audit.dbrole): it may append to and read the audit
trail, and nothing else there: UPDATE, DELETE, TRUNCATE and DISABLE TRIGGER are refused.

The test creates the role in the cluster, grants it in the test database with the same SQL a
deployment runs, connects as it, and drops it again. PostgreSQL only."""

import uuid

import pytest
from django.db import connection

from kapflow.audit.chain import GENESIS
from kapflow.audit.dbrole import runtime_role_sql

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="database roles are PostgreSQL's"
)

REFUSED = [
    "UPDATE audit_auditevent SET action = 'x'",
    "DELETE FROM audit_auditevent",
    "TRUNCATE audit_auditevent",
    "ALTER TABLE audit_auditevent DISABLE TRIGGER audit_auditevent_append_only",
    "ALTER TABLE audit_auditevent DISABLE TRIGGER ALL",
    "DROP TRIGGER audit_auditevent_append_only ON audit_auditevent",
    "ALTER TABLE audit_auditevent DROP CONSTRAINT audit_event_chained",
    "UPDATE audit_auditcheck SET ok = true",
    "TRUNCATE audit_auditcheck",
]
INSERT = (
    "INSERT INTO audit_auditevent (at, action, target_type, request_id, client_request_id,"
    " user_agent, route, changed_fields, subject_hash, prev_digest, digest)"
    " VALUES (now(), 'role.test', '', '', '', '', '', '[]', '', %s, %s) RETURNING id"
)


@pytest.fixture
def runtime_role(db):
    import psycopg

    settings = connection.settings_dict
    params = {
        "host": settings["HOST"] or "localhost",
        "port": settings["PORT"] or 5432,
        "dbname": settings["NAME"],
    }
    owner = psycopg.connect(
        user=settings["USER"], password=settings["PASSWORD"] or None, autocommit=True, **params
    )
    role = f"kapflow_test_app_{uuid.uuid4().hex[:8]}"
    try:
        owner.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'runtime-role-test'")
    except psycopg.errors.InsufficientPrivilege:
        owner.close()
        pytest.skip("the test database user may not create roles")
    try:
        for statement in runtime_role_sql(role):
            owner.execute(statement)
        app = psycopg.connect(user=role, password="runtime-role-test", **params)
        yield app
        app.close()
    finally:
        owner.execute(f"DROP OWNED BY {role}")
        owner.execute(f"DROP ROLE {role}")
        owner.close()


@pytest.mark.parametrize("statement", REFUSED)
def test_the_runtime_role_cannot_change_the_trail(runtime_role, statement):
    import psycopg

    with pytest.raises(psycopg.errors.InsufficientPrivilege), runtime_role.transaction():
        runtime_role.execute(statement)


def test_the_runtime_role_appends_and_reads(runtime_role):
    with runtime_role.transaction(force_rollback=True):
        # The same serialisation the application uses (kapflow.audit.chain).
        runtime_role.execute("SELECT pg_advisory_xact_lock(1)")
        new_id = runtime_role.execute(INSERT, [GENESIS, "a" * 64]).fetchone()[0]
        found = runtime_role.execute(
            "SELECT action FROM audit_auditevent WHERE id = %s", [new_id]
        ).fetchone()
        assert found == ("role.test",)


def test_the_runtime_role_keeps_ordinary_writes_elsewhere(runtime_role):
    with runtime_role.transaction(force_rollback=True):
        runtime_role.execute("UPDATE django_session SET expire_date = expire_date")
        runtime_role.execute("DELETE FROM django_session WHERE false")


def test_the_sql_names_only_the_role_it_is_given():
    with pytest.raises(ValueError):
        runtime_role_sql("app; DROP TABLE x")
