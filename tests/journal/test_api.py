"""The journal API: the client's own entries over the session, staff's shared list over a
token, the error shapes, who gets 404, pinned queries, and no 5xx for any body."""

import json

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kapflow.accounts import services as account_services
from kapflow.accounts.models import Role
from kapflow.journal.models import JournalEntry
from tests.accounts.factories import member
from tests.conftest import sign_in
from tests.journal.factories import course_with_dosings, entry
from tests.patients.factories import ClientFactory

URL = "/api/v1/journal"


@pytest.fixture
def course(world):
    return course_with_dosings(world.client, world.therapist, prescriber=world.prescriber)


@pytest.fixture
def dosing(course):
    return course.events.filter(kind="dosing").order_by("-occurred_at").first()


def _as(client, membership):
    """Clients and companions call the API in their browser session."""
    client.force_login(membership.user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def _send(client, method, path, body=None, **headers):
    return getattr(client, method)(
        URL + path, data=json.dumps(body), content_type="application/json", **headers
    )


def _token(membership) -> dict:
    _, raw = account_services.api_token_create(actor=membership, name="tests", mfa_verified=True)
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def _fields(response) -> set:
    return {e["field"] for e in response.json()["errors"]}


def test_the_client_writes_reads_edits_and_deletes_an_entry(client, world, dosing):
    _as(client, world.client_member)
    body = {"kind": "integration", "body": "Lighter.", "dosing_event_id": dosing.pk}
    made = _send(client, "post", "/entries", body)
    assert made.status_code == 201, made.content
    data = made.json()
    assert (data["kind"], data["shared"], data["shared_at"]) == ("integration", False, None)
    assert data["dosing_session_at"] and data["course_id"] == dosing.course_id

    listed = client.get(URL + "/entries").json()
    assert [e["id"] for e in listed] == [data["id"]]
    assert client.get(f"{URL}/entries/{data['id']}").json()["body"] == "Lighter."

    edited = _send(client, "put", f"/entries/{data['id']}", body | {"shared": True})
    assert edited.status_code == 200
    assert edited.json()["shared"] and edited.json()["shared_at"]

    assert client.delete(f"{URL}/entries/{data['id']}").status_code == 204
    assert not JournalEntry.objects.exists()


def test_the_client_lists_their_dosing_sessions(client, world, course):
    sessions = _as(client, world.client_member).get(URL + "/dosing-sessions").json()
    assert len(sessions) == 2
    assert sessions[0]["occurred_at"] > sessions[1]["occurred_at"]
    assert {s["course_id"] for s in sessions} == {course.pk}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "intention", "body": "  "}, "body"),
        ({"kind": "intention", "body": "x" * 20_001}, "body"),
        ({"kind": "diary", "body": "Hello."}, "kind"),
        ({"kind": "intention", "body": "Hello.", "shared": "yes"}, "shared"),
        ({"kind": "intention", "body": "Hello.", "dosing_event_id": 2**70}, "dosing_event_id"),
        ({"kind": "intention", "body": "Hello.", "dosing_event_id": 999_999}, "dosing_event"),
        ({"body": "Hello."}, "kind"),
    ],
)
def test_invalid_input_is_a_422_naming_the_field(client, world, course, body, field):
    response = _send(_as(client, world.client_member), "post", "/entries", body)
    assert response.status_code == 422, response.content
    assert field in _fields(response)
    assert all(set(e) >= {"field", "code", "message"} for e in response.json()["errors"])
    assert not JournalEntry.objects.exists()


def test_a_client_never_reaches_another_clients_entry(client, world, course):
    other = member(world.practice, Role.CLIENT)
    theirs = entry(ClientFactory(organisation=world.practice, user=other.user), shared=True)
    _as(client, world.client_member)
    assert client.get(f"{URL}/entries/{theirs.pk}").status_code == 404
    body = {"kind": "reflection", "body": "Mine."}
    response = _send(client, "put", f"/entries/{theirs.pk}", body)
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "not_found"
    assert client.delete(f"{URL}/entries/{theirs.pk}").status_code == 404
    assert client.get(URL + "/entries").json() == []


def test_the_companion_gets_404_on_every_journal_endpoint(client, world, course):
    mine = entry(world.client, course=course, shared=True)
    _as(client, world.companion)
    body = {"kind": "reflection", "body": "Hello."}
    assert client.get(URL + "/entries").status_code == 404
    assert client.get(URL + "/dosing-sessions").status_code == 404
    assert _send(client, "post", "/entries", body).status_code == 404
    assert client.get(f"{URL}/entries/{mine.pk}").status_code == 404
    assert _send(client, "put", f"/entries/{mine.pk}", body).status_code == 404
    assert client.delete(f"{URL}/entries/{mine.pk}").status_code == 404
    assert client.get(f"{URL}/courses/{course.pk}/entries").status_code == 404


ROLES = ["admin", "therapist", "therapist2", "biller", "prescriber", "client_member",
         "companion", "other_admin", "other_therapist"]  # fmt: skip


@pytest.mark.parametrize("role", ROLES)
def test_shared_entries_of_a_course_for_staff(client, world, course, role):
    entry(world.client, course=course, shared=True, body="Shared.")
    entry(world.client, course=course, body="Private.")
    sign_in(client, getattr(world, role).user)
    response = client.get(f"{URL}/courses/{course.pk}/entries")
    if role in ("admin", "therapist"):
        assert response.status_code == 200
        assert [e["body"] for e in response.json()] == ["Shared."]
        assert response.json()[0]["client_id"] == world.client.pk
    else:
        assert response.status_code == 404, role
        assert "errors" in response.json()


@pytest.mark.parametrize("role", ROLES)
def test_only_the_client_reaches_the_client_endpoints(client, world, course, role):
    sign_in(client, getattr(world, role).user)
    expected = 200 if role == "client_member" else 404
    assert client.get(URL + "/entries").status_code == expected
    made = _send(client, "post", "/entries", {"kind": "reflection", "body": "Hi."})
    assert made.status_code == (201 if role == "client_member" else 404)


def test_staff_tokens_reach_the_course_list_and_the_prescriber_is_refused(client, world, course):
    entry(world.client, course=course, shared=True)
    assert (
        client.get(f"{URL}/courses/{course.pk}/entries", **_token(world.therapist)).status_code
        == 200
    )
    assert (
        client.get(f"{URL}/courses/{course.pk}/entries", **_token(world.prescriber)).status_code
        == 404
    )
    assert client.get(URL + "/entries", **_token(world.therapist)).status_code == 404


def test_the_course_list_takes_the_same_queries_for_1_and_20(client, world, course):
    headers = _token(world.therapist)

    def count():
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(f"{URL}/courses/{course.pk}/entries", **headers)
        assert response.status_code == 200
        return len(ctx.captured_queries), len(response.json())

    entry(world.client, course=course, shared=True)
    small, rows = count()
    assert rows == 1
    for _ in range(19):
        entry(world.client, course=course, shared=True)
    large, rows = count()
    assert (rows, large) == (20, small)


def test_openapi_documents_the_journal_paths(client, db):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    for path in ["/api/v1/journal/entries", "/api/v1/journal/entries/{entry_id}",
                 "/api/v1/journal/courses/{course_id}/entries",
                 "/api/v1/journal/dosing-sessions"]:  # fmt: skip
        assert path in paths
    assert paths["/api/v1/journal/entries"]["post"]["description"]


# ---- no input causes a 5xx ----------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["intention", "integration", "reflection", "\x00", "x" * 20_001])
)
values = scalars | st.lists(scalars, max_size=3) | st.dictionaries(st.text(max_size=5), scalars)
bodies = (
    st.dictionaries(
        st.sampled_from(["kind", "body", "shared", "dosing_event_id", "x"]), values, max_size=5
    )
    | scalars
    | st.lists(scalars, max_size=3)
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies)
def test_no_body_gives_a_server_error(client, world, course, dosing, body):
    with transaction.atomic():
        mine = entry(world.client, course=course, dosing_event=dosing)
        _as(client, world.client_member)
        valid = {"kind": "intention", "body": "Hello.", "dosing_event_id": dosing.pk}
        payloads = [body] + ([valid | body] if isinstance(body, dict) else [])
        for payload in payloads:
            for method, path in [("post", "/entries"), ("put", f"/entries/{mine.pk}")]:
                response = _send(client, method, path, payload)
                assert response.status_code < 500, (path, payload, response.content[:300])
                if response.status_code >= 400:
                    assert "errors" in response.json()
        transaction.set_rollback(True)


@pytest.mark.parametrize("raw", ["", "not json", "{", "[]", "null", '{"body": 1e400}'])
def test_malformed_json_is_a_4xx(client, world, course, raw):
    _as(client, world.client_member)
    response = client.post(URL + "/entries", data=raw, content_type="application/json")
    assert 400 <= response.status_code < 500, (raw, response.content)
