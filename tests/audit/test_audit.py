"""The audit trail: one row per read and per write, no PHI values, append-only on PostgreSQL."""

import datetime

import pytest
from django.db import DatabaseError, connection, transaction

from kapflow.audit.models import AuditEvent
from kapflow.audit.services import audit_record
from kapflow.patients import services
from tests.conftest import sign_in


def test_reading_a_client_leaves_exactly_one_row(client, world):
    sign_in(client, world.therapist.user)
    before = AuditEvent.objects.count()
    response = client.get(f"/clients/{world.client.pk}/")
    assert response.status_code == 200
    rows = list(AuditEvent.objects.order_by("id")[before:])
    assert len(rows) == 1
    row = rows[0]
    assert row.action == "client.view"
    assert row.actor_id == world.therapist.user_id
    assert row.organisation_id == world.practice.pk
    assert (row.target_type, row.target_id, row.client_id) == (
        "client",
        world.client.pk,
        world.client.pk,
    )
    assert row.route == "patients:detail"
    assert row.request_id == response["X-Request-Id"]


def test_writing_a_client_leaves_exactly_one_row_without_values(client, world):
    sign_in(client, world.admin.user)
    before = AuditEvent.objects.count()
    response = client.patch(
        f"/api/v1/clients/{world.client.pk}",
        data={"preferred_name": "Sunny", "pronouns": "she/her"},
        content_type="application/json",
    )
    assert response.status_code == 200
    writes = AuditEvent.objects.filter(action="client.update")
    assert AuditEvent.objects.count() == before + 1
    row = writes.get()
    assert row.changed_fields == ["preferred_name", "pronouns"]
    flat = " ".join(str(v) for v in row.__dict__.values())
    assert "Sunny" not in flat and "she/her" not in flat


def test_list_page_writes_one_row_per_client_shown(client, world):
    sign_in(client, world.admin.user)
    before = AuditEvent.objects.count()
    client.get("/clients/")
    assert AuditEvent.objects.count() == before + 2
    shown = AuditEvent.objects.filter(action="client.list")
    assert set(shown.values_list("client_id", flat=True)) == {world.client.pk, world.unreferred.pk}


def test_failed_write_leaves_no_audit_row_and_no_change(world):
    before = AuditEvent.objects.count()
    with pytest.raises(Exception):
        services.client_update(
            actor=world.admin,
            client_id=world.client.pk,
            data={"date_of_birth": datetime.date(2999, 1, 1)},
        )
    world.client.refresh_from_db()
    assert world.client.date_of_birth == datetime.date(1985, 6, 1)
    assert AuditEvent.objects.count() == before


def test_admin_filters_and_exports_the_trail(client, world):
    sign_in(client, world.therapist.user)
    client.get(f"/clients/{world.client.pk}/")
    sign_in(client, world.admin.user)
    page = client.get("/audit/", {"action": "client.view", "client": world.client.pk})
    assert page.status_code == 200
    assert world.therapist.user.email in page.content.decode()
    export = client.get("/audit/export.csv", {"action": "client.view"})
    body = b"".join(export.streaming_content).decode()
    lines = body.strip().splitlines()
    assert lines[0].startswith("at,actor_id,actor_email")
    assert any(f",client,{world.client.pk},{world.client.pk}," in line for line in lines[1:])
    assert world.client.legal_last_name not in body


def test_other_organisation_does_not_see_our_trail(client, world):
    sign_in(client, world.therapist.user)
    client.get(f"/clients/{world.client.pk}/")
    sign_in(client, world.other_admin.user)
    response = client.get("/api/v1/audit", {"client": world.client.pk})
    assert response.status_code == 200
    assert response.json()["count"] == 0


def test_partner_reads_appear_in_the_practice_trail(client, world):
    sign_in(client, world.prescriber.user)
    client.get(f"/clients/{world.client.pk}/")
    sign_in(client, world.admin.user)
    data = client.get("/api/v1/audit", {"client": world.client.pk, "action": "client.view"}).json()
    assert [r["organisation_id"] for r in data["results"]] == [world.partner.pk]


def test_client_sees_who_looked_at_their_record(client, world):
    sign_in(client, world.prescriber.user)
    client.get(f"/clients/{world.client.pk}/")
    client.force_login(
        world.client_member.user, backend="django.contrib.auth.backends.ModelBackend"
    )
    response = client.get("/me/access-report/")
    assert response.status_code == 200
    text = response.content.decode()
    assert world.prescriber.user.full_name in text
    assert "Partner P" in text


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger is PostgreSQL-only")
@pytest.mark.parametrize(
    "statement", ["UPDATE audit_auditevent SET action = 'x'", "DELETE FROM audit_auditevent"]
)
def test_postgres_refuses_update_and_delete_of_audit_rows(world, statement):
    audit_record(actor=None, action="client.view", target=world.client, client_id=world.client.pk)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
    assert AuditEvent.objects.filter(action="x").count() == 0
    assert AuditEvent.objects.count() >= 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger is PostgreSQL-only")
def test_postgres_refuses_orm_update_of_audit_rows(world):
    event = audit_record(actor=None, action="client.view")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="tampered")
    event.refresh_from_db()
    assert event.action == "client.view"
