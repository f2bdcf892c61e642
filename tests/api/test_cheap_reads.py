"""Reads that cost little (issue 14, decision 0042): an authenticated API detail read is the
actor, the object and its audit row; a read writes nothing but that audit row (the token's
last use and the session's idle clock are written at most once a step)."""

import datetime
import re
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kapflow.accounts import services
from kapflow.accounts.models import ApiToken
from kapflow.audit.models import AuditEvent
from kapflow.core.middleware import IDLE_CLOCK_STEP_SECONDS, IDLE_KEY
from tests.conftest import sign_in

START = datetime.datetime(2027, 3, 1, 9, 0, tzinfo=datetime.UTC)
WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)


def _auth(raw):
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def _token(membership):
    _, raw = services.api_token_create(actor=membership, name="tests", mfa_verified=True)
    return raw


def _writes(queries) -> list[str]:
    return [q["sql"] for q in queries if WRITE.match(q["sql"])]


def _not_audit(statements) -> list[str]:
    # The chain's SQLite head lock is a no-op UPDATE of the audit table (audit.chain).
    return [sql for sql in statements if "audit_auditevent" not in sql]


@pytest.mark.parametrize("who", ["therapist", "admin", "prescriber"])
def test_api_client_detail_is_actor_object_and_audit(client, world, who, django_assert_num_queries):
    """1 the token with its membership, organisation, user and roles; 2 the client with its
    care team; 3 the audit chain's head (locked); 4 the audit INSERT. No emergency-grant
    query for a clinician who holds none."""
    headers = _auth(_token(getattr(world, who)))
    assert client.get(f"/api/v1/clients/{world.client.pk}", **headers).status_code == 200
    with django_assert_num_queries(4):
        response = client.get(f"/api/v1/clients/{world.client.pk}", **headers)
    assert response.status_code == 200
    assert response.json()["id"] == world.client.pk
    views = AuditEvent.objects.filter(client_id=world.client.pk, target_id=world.client.pk)
    latest = views.latest("pk")
    assert views.count() == 2
    assert (latest.actor_id, latest.organisation_id) == (
        getattr(world, who).user_id,
        getattr(world, who).organisation_id,
    )


def test_api_client_detail_shows_the_active_care_team(client, world):
    from kapflow.patients import services as patient_services

    headers = _auth(_token(world.admin))
    patient_services.care_team_add(
        actor=world.admin, client_id=world.client.pk, membership_id=world.therapist2.pk,
        role="therapist", acknowledge_warnings=True,
    )  # fmt: skip
    body = client.get(f"/api/v1/clients/{world.client.pk}", **headers).json()
    team = body["care_team"]
    expected = [
        (m.pk, m.membership_id, m.role, m.is_primary, str(m.membership.user))
        for m in world.client.care_team.filter(ended_at__isnull=True)
        .select_related("membership__user")
        .order_by("role", "-is_primary", "id")
    ]
    assert [
        (m["id"], m["membership_id"], m["role"], m["is_primary"], m["name"]) for m in team
    ] == expected
    assert {m["organisation"] for m in team} == {"Practice A", "Partner P"}
    first = world.client.care_team.get(pk=team[0]["id"])
    shown = datetime.datetime.fromisoformat(team[0]["added_at"].replace("Z", "+00:00"))
    # The API's JSON carries milliseconds (Django's encoder), as it did before.
    assert abs(shown - first.added_at) < datetime.timedelta(milliseconds=1)


def test_api_client_detail_of_another_practice_is_404(client, world):
    headers = _auth(_token(world.therapist))
    response = client.get(f"/api/v1/clients/{world.other_client.pk}", **headers)
    assert response.status_code == 404


def test_an_api_read_writes_only_its_audit_row(client, world):
    headers = _auth(_token(world.therapist))
    client.get(f"/api/v1/clients/{world.client.pk}", **headers)
    before = AuditEvent.objects.count()
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(f"/api/v1/clients/{world.client.pk}", **headers).status_code == 200
    assert _not_audit(_writes(ctx.captured_queries)) == []
    assert AuditEvent.objects.count() == before + 1


def test_token_last_use_is_written_at_most_every_five_minutes(client, world, time_machine):
    time_machine.move_to(START, tick=False)
    raw = _token(world.therapist)
    url = f"/api/v1/clients/{world.client.pk}"
    token = ApiToken.objects.get(membership=world.therapist)

    def use(after):
        time_machine.shift(after)
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url, **_auth(raw)).status_code == 200
        token.refresh_from_db()
        return [s for s in _writes(ctx.captured_queries) if "accounts_apitoken" in s]

    # Within five minutes of its making a use is not written: the first read costs the same
    # statements as any other.
    assert use(datetime.timedelta(minutes=4)) == [] and token.last_used_at is None
    assert len(use(datetime.timedelta(minutes=1))) == 1
    assert token.last_used_at == START + datetime.timedelta(minutes=5)
    assert use(datetime.timedelta(minutes=4, seconds=59)) == []
    assert token.last_used_at == START + datetime.timedelta(minutes=5)
    assert len(use(datetime.timedelta(seconds=1))) == 1
    assert token.last_used_at == START + datetime.timedelta(minutes=10)


def test_the_membership_is_read_once_for_a_page(client, world):
    sign_in(client, world.therapist.user)
    client.get("/clients/")
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/clients/").status_code == 200
    membership_reads = [
        q["sql"]
        for q in ctx.captured_queries
        if q["sql"].startswith('SELECT "accounts_membership"."id"')
    ]
    roles_alone = [
        q["sql"]
        for q in ctx.captured_queries
        if q["sql"].startswith('SELECT "accounts_membershiprole"')
    ]
    assert len(membership_reads) == 1
    assert roles_alone == []


def test_a_page_read_within_a_step_does_not_write_the_session(client, world):
    sign_in(client, world.therapist.user)
    client.get("/clients/")
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/clients/").status_code == 200
    assert [s for s in _writes(ctx.captured_queries) if "django_session" in s] == []


def test_a_page_read_after_a_step_moves_the_idle_clock(client, world):
    sign_in(client, world.therapist.user)
    session = client.session
    session[IDLE_KEY] = time.time() - IDLE_CLOCK_STEP_SECONDS - 1
    session.save()
    client.get("/clients/")
    assert client.session[IDLE_KEY] > time.time() - 5
