"""The alerts API: raising as the client and as a companion, the advice in the answer, staff
lists and acknowledgement, the 403/404/409/422 shapes, pinned queries, and no 5xx."""

import json

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kapflow.accounts import services as account_services
from kapflow.alerts import services
from kapflow.alerts.models import Alert
from tests.conftest import sign_in
from tests.journal.factories import course_with_dosings
from tests.patients.factories import ClientFactory

URL = "/api/v1/alerts"


@pytest.fixture
def course(world):
    return course_with_dosings(world.client, world.therapist, prescriber=world.prescriber)


def _as(client, membership):
    client.force_login(membership.user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def _post(client, path, body, **headers):
    return client.post(
        URL + path, data=json.dumps(body), content_type="application/json", **headers
    )


def _token(membership) -> dict:
    _, raw = account_services.api_token_create(actor=membership, name="tests", mfa_verified=True)
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def _fields(response) -> set:
    return {e["field"] for e in response.json()["errors"]}


def _alert(world, symptoms=("nausea",)):
    return services.alert_raise(
        actor=world.client_member, client_id=world.client.pk, kind="reaction",
        answers={"symptoms": list(symptoms)},
    )  # fmt: skip


def test_the_checklist_is_published(client, world):
    listed = _as(client, world.client_member).get(URL + "/symptoms").json()
    assert listed[0] == {"code": "chest_pain", "label": "Chest pain or tightness",
                         "severity": "emergency"}  # fmt: skip
    assert {s["severity"] for s in listed} == {"emergency", "urgent", "routine"}


def test_the_client_reports_for_themself_and_is_told_what_to_do(client, world, course):
    body = {"kind": "reaction", "answers": {"symptoms": ["self_harm"]}, "note": "Scared."}
    response = _post(_as(client, world.client_member), "", body)
    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["severity"], data["call_988"], data["call_911"]) == ("emergency", True, False)
    assert "988" in data["message"] and "911" in data["message"]
    assert (data["client_id"], data["course_id"]) == (world.client.pk, course.pk)


def test_the_companion_presses_need_help_now(client, world, course, mailoutbox):
    _as(client, world.companion)
    body = {"kind": "help_now", "client_id": world.client.pk}
    response = _post(client, "", body)
    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["kind"], data["severity"], data["call_911"]) == ("help_now", "emergency", True)
    # An empty checklist is still "no answers".
    again = _post(client, "", body | {"answers": {}})
    assert again.status_code == 201 and again.json()["id"] == data["id"]
    assert Alert.objects.get().raised_by_role == "companion"


def test_a_companion_must_name_the_client(client, world, course):
    response = _post(_as(client, world.companion), "", {"kind": "help_now"})
    assert response.status_code == 422
    assert _fields(response) == {"client_id"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "reaction", "answers": {"symptoms": ["made_up"]}}, "answers.symptoms.0"),
        ({"kind": "reaction", "answers": {"bp_systolic": 150}}, "bp_diastolic"),
        ({"kind": "reaction", "answers": {"bp_systolic": "150", "bp_diastolic": 90}},
         "answers.bp_systolic"),
        ({"kind": "reaction"}, "symptoms"),
        ({"kind": "reaction", "answers": {"symptoms": ["nausea"]}, "note": "x" * 2001}, "note"),
        ({"kind": "help_now", "answers": {"symptoms": ["nausea"]}}, "answers"),
        ({"kind": "panic"}, "kind"),
        ({"kind": "help_now", "client_id": 2**70}, "client_id"),
    ],
)  # fmt: skip
def test_invalid_reports_are_422_naming_the_field(client, world, course, body, field):
    response = _post(_as(client, world.client_member), "", body)
    assert response.status_code == 422, response.content
    assert field in _fields(response)
    assert not Alert.objects.exists()


def test_nobody_reports_for_a_client_who_is_not_theirs(client, world, course):
    stranger = ClientFactory(organisation=world.practice)
    for who in (world.client_member, world.companion):
        body = {"kind": "help_now", "client_id": stranger.pk}
        response = _post(_as(client, who), "", body)
        assert response.status_code == 404
        assert response.json()["errors"][0]["code"] == "not_found"
    assert _post(client, "", {"kind": "help_now"}, **_token(world.therapist)).status_code == 404
    assert not Alert.objects.exists()


ROLES = ["admin", "therapist", "therapist2", "biller", "prescriber", "client_member",
         "companion", "other_admin", "other_therapist"]  # fmt: skip
SEES = {"admin", "therapist", "prescriber"}


@pytest.mark.parametrize("role", ROLES)
def test_who_reads_alerts(client, world, course, role):
    alert = _alert(world)
    sign_in(client, getattr(world, role).user)
    listed = client.get(URL + "/open")
    course_list = client.get(f"{URL}/courses/{course.pk}/open")
    one = client.get(f"{URL}/{alert.pk}")
    if role in SEES:
        assert [a["id"] for a in listed.json()] == [alert.pk]
        assert [a["id"] for a in course_list.json()] == [alert.pk]
        assert one.json()["answers"]["symptoms"] == ["nausea"]
        assert one.json()["can_acknowledge"] == (role != "admin")
    elif role in ("therapist2", "other_admin", "other_therapist"):
        assert listed.json() == []
        assert (course_list.status_code, one.status_code) == (404, 404)
    else:
        assert (listed.status_code, course_list.status_code, one.status_code) == (404, 404, 404)


@pytest.mark.parametrize(
    ("role", "expected"),
    [("therapist", 200), ("prescriber", 200), ("admin", 403), ("therapist2", 404),
     ("biller", 404), ("client_member", 404), ("companion", 404), ("other_admin", 404),
     ("other_therapist", 404)],
)  # fmt: skip
def test_who_acknowledges(client, world, course, role, expected):
    alert = _alert(world)
    sign_in(client, getattr(world, role).user)
    response = _post(client, f"/{alert.pk}/acknowledge", {"note": "Called the client."})
    assert response.status_code == expected, response.content
    if expected == 200:
        assert response.json()["acknowledgement_note"] == "Called the client."
        again = _post(client, f"/{alert.pk}/acknowledge", {"note": "Again."})
        assert again.status_code == 409
        assert again.json()["errors"][0]["code"] == "alert.acknowledged"
    else:
        assert "errors" in response.json()


def test_acknowledging_without_a_note_is_422(client, world, course):
    alert = _alert(world)
    response = _post(client, f"/{alert.pk}/acknowledge", {"note": " "}, **_token(world.therapist))
    assert response.status_code == 422 and _fields(response) == {"note"}


def test_open_alerts_take_the_same_queries_for_1_and_20(client, world, course):
    headers = _token(world.therapist)

    def count():
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(URL + "/open", **headers)
        assert response.status_code == 200
        return len(ctx.captured_queries), len(response.json())

    _alert(world)
    small, rows = count()
    assert rows == 1
    for _ in range(19):
        _alert(world, symptoms=("seizure",))
    large, rows = count()
    assert (rows, large) == (20, small)


def test_openapi_documents_the_alert_paths(client, db):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    for path in ["/api/v1/alerts", "/api/v1/alerts/open", "/api/v1/alerts/{alert_id}",
                 "/api/v1/alerts/{alert_id}/acknowledge", "/api/v1/alerts/symptoms",
                 "/api/v1/alerts/courses/{course_id}/open"]:  # fmt: skip
        assert path in paths, path
    assert "reply time" not in paths["/api/v1/alerts"]["post"]["description"]


# ---- no input causes a 5xx ----------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["reaction", "help_now", "nausea", "self_harm", "\x00"])
)
answers = st.dictionaries(
    st.sampled_from(["symptoms", "bp_systolic", "bp_diastolic", "x"]),
    scalars | st.lists(scalars | st.sampled_from(["nausea", "seizure"]), max_size=4),
    max_size=4,
)
values = scalars | answers | st.lists(scalars, max_size=3)
bodies = (
    st.dictionaries(st.sampled_from(["client_id", "kind", "answers", "note"]), values, max_size=4)
    | scalars
    | st.lists(scalars, max_size=3)
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies)
def test_no_body_gives_a_server_error(client, world, course, body):
    with transaction.atomic():
        alert = _alert(world)
        payloads = [body]
        if isinstance(body, dict):
            payloads.append({"kind": "reaction", "client_id": world.client.pk} | body)
        for who in (world.client_member, world.companion):
            _as(client, who)
            for payload in payloads:
                response = _post(client, "", payload)
                assert response.status_code < 500, (payload, response.content[:300])
                if response.status_code >= 400:
                    assert "errors" in response.json()
        headers = _token(world.therapist)
        for payload in payloads:
            response = _post(client, f"/{alert.pk}/acknowledge", payload, **headers)
            assert response.status_code < 500, (payload, response.content[:300])
        transaction.set_rollback(True)


@pytest.mark.parametrize("raw", ["", "not json", "{", "[]", "null", '{"client_id": 1e400}'])
def test_malformed_json_is_a_4xx(client, world, course, raw):
    _as(client, world.companion)
    response = client.post(URL, data=raw, content_type="application/json")
    assert 400 <= response.status_code < 500, (raw, response.content)
