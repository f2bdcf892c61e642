"""The shipped server runs as the restricted database role (docs/security.md, "Runtime
database role"): a role that owns nothing, granted with the same SQL a deployment runs
(`kapflow audit_db_role`). Pages work and append to the audit trail through it, the trail
still verifies, and the same role is refused TRUNCATE and DISABLE TRIGGER on the trail.
PostgreSQL only; the role is made in the cluster and dropped at the end."""

import uuid

import psycopg
import pytest
from django.db import connection

from kapflow.audit.dbrole import runtime_role_sql
from kapflow.audit.models import AuditEvent
from tests.conftest import sign_in
from tests.runtime.processes import database_url, free_port, http, log_of, wait_http

from .processes import needs_postgresql

pytestmark = [needs_postgresql(), pytest.mark.process, pytest.mark.django_db(transaction=True)]

PASSWORD = "restricted-role-test"


@pytest.fixture
def app_role():
    db = connection.settings_dict
    owner = psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        dbname=db["NAME"],
        user=db["USER"],
        password=db["PASSWORD"] or None,
        autocommit=True,
    )
    role = f"kapflow_srv_{uuid.uuid4().hex[:8]}"
    try:
        owner.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'")
    except psycopg.errors.InsufficientPrivilege:
        owner.close()
        pytest.skip("the test database user may not create roles")
    try:
        for statement in runtime_role_sql(role):
            owner.execute(statement)
        yield role
    finally:
        owner.execute(f"DROP OWNED BY {role}")
        owner.execute(f"DROP ROLE {role}")
        owner.close()


def role_url(role: str) -> str:
    # postgres://user@host:port/name → the same database as the restricted role.
    rest = database_url().split("@", 1)[1]
    return f"postgres://{role}:{PASSWORD}@{rest}"


def test_the_server_runs_as_the_restricted_role(client, world, processes, app_role):
    sign_in(client, world.therapist.user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    port = free_port()
    server = processes.gunicorn(port, workers=1, DATABASE_URL=role_url(app_role))
    base = f"http://127.0.0.1:{port}"
    wait_http(base, server)

    before = AuditEvent.objects.count()
    status, *_ = http(f"{base}/clients/{world.client.pk}/", headers={"Cookie": cookie})
    assert status == 200, log_of(server)
    # The read was audited by the server, connected as the role that may only append.
    assert AuditEvent.objects.count() > before
    read = AuditEvent.objects.order_by("-id").filter(action="client.view").first()
    assert read is not None and read.client_id == world.client.pk

    # The trail the server appended to still verifies, checked as the same role.
    verify = processes.kapflow("audit_verify", DATABASE_URL=role_url(app_role))
    assert verify.wait(timeout=120) == 0, log_of(verify)

    # And that role cannot empty the trail or switch off its guard.
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        dbname=db["NAME"],
        user=app_role,
        password=PASSWORD,
        autocommit=True,
    ) as app:
        for statement in (
            "TRUNCATE audit_auditevent",
            "ALTER TABLE audit_auditevent DISABLE TRIGGER ALL",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(statement)
