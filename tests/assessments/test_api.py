"""The assessments API: the instrument catalogue, item-named validation, staff entry, the
client's own answers, the safety path into the dosing gate, corrections, tenancy, and no 5xx
for any body."""

import datetime
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kapflow.accounts import services as account_services
from kapflow.accounts.models import Role
from kapflow.assessments import services
from kapflow.assessments.models import Assignment, Response, UrgentTask
from kapflow.courses.models import CourseEvent
from tests.accounts.factories import member
from tests.conftest import sign_in
from tests.courses.factories import make_course
from tests.patients.factories import ClientFactory
from tests.prescriptions.factories import shared_scores

URL = "/api/v1/assessments"
PHQ9_CLEAN = {f"phq9_{i}": 1 for i in range(1, 9)} | {"phq9_9": 0}  # total 8, mild
PHQ9_POSITIVE = PHQ9_CLEAN | {"phq9_9": 1}
RISK = "screen.suicide_risk_positive"

# A complete structured risk assessment (decision 0029); the decision and rationale vary.
ASSESSED = {
    "risk_level": "low", "protective_factors_reviewed": True, "safety_plan_reviewed": True,
    "means_restriction_discussed": True,
}  # fmt: skip
NOTE = "Passive thoughts only, no plan or intent; C-SSRS screener low."


@pytest.fixture
def api(client):
    """api(actor).get(path) / .post(path, body): requests with the staff actor's token."""

    class Api:
        def __init__(self, actor):
            _, raw = account_services.api_token_create(actor=actor, name="tests", mfa_verified=True)
            self.headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}

        def get(self, path, **params):
            return client.get(URL + path, params, **self.headers)

        def post(self, path, body=None):
            return client.post(
                URL + path, data=json.dumps(body), content_type="application/json", **self.headers
            )

    return Api


def _post(client, path, body):
    """A POST in the test client's own session (clients and companions have no tokens)."""
    return client.post(URL + path, data=json.dumps(body), content_type="application/json")


def _as_client(client, membership):
    # Clients sign in with a password only; no MFA step.
    client.force_login(membership.user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def _fields(response) -> set:
    return {e["field"] for e in response.json()["errors"]}


def _codes(response) -> list[str]:
    return [e["code"] for e in response.json()["errors"]]


def _course(world):
    return make_course(world.client, world.therapist, prescriber=world.prescriber, stage="active")


def _assign(world, instrument="phq9"):
    return services.assignment_create(
        actor=world.therapist, client_id=world.client.pk, instrument=instrument
    )


def _enter(api, world, answers, **extra):
    body = {"client_id": world.client.pk, "instrument": "phq9", "answers": answers} | extra
    return api.post("/responses", body)


# ---- the catalogue ------------------------------------------------------------------------


def test_instruments_ship_wording_only_where_the_licence_allows(world, api):
    response = api(world.therapist).get("/instruments")
    assert response.status_code == 200
    listed = {i["code"]: i for i in response.json()}
    assert set(listed) == {"phq9", "gad7", "pcl5", "cssrs", "cadss"}

    phq9 = listed["phq9"]
    assert (phq9["respondent"], phq9["entry"]) == ("self", "items")
    assert (phq9["min_total"], phq9["max_total"]) == (0, 27)
    assert [b["label"] for b in phq9["bands"]][:2] == ["minimal", "mild"]
    assert phq9["bands"][1] == {"low": 5, "high": 9, "label": "mild", "severity": 1}
    assert phq9["loinc_panel"] and phq9["licence"]
    items = {item["id"]: item for item in phq9["items"]}
    assert set(items) == {f"phq9_{i}" for i in range(1, 10)} | {"phq9_difficulty"}
    assert all(items[f"phq9_{i}"]["text"] for i in range(1, 10))
    assert items["phq9_9"]["options"][1] == {"value": 1, "label": "Several days"}
    assert items["phq9_9"]["loinc"]
    assert (items["phq9_difficulty"]["required"], items["phq9_difficulty"]["scored"]) == (
        False,
        False,
    )

    for code in ("cssrs", "pcl5"):
        assert listed[code]["items"], code
        assert all(item["text"] is None for item in listed[code]["items"]), code
        assert all(item["label"] for item in listed[code]["items"]), code
    assert listed["cssrs"]["respondent"] == "clinician"
    assert {i["id"] for i in listed["cssrs"]["items"]} == {f"q{n}" for n in range(1, 7)} | {
        "q6_recent"
    }
    assert len(listed["pcl5"]["items"]) == 20

    cadss = listed["cadss"]
    assert cadss["entry"] == "total" and cadss["items"] == []
    assert (cadss["min_total"], cadss["max_total"]) == (0, 92)


def test_the_client_can_read_the_catalogue_to_answer(client, world):
    response = _as_client(client, world.client_member).get(f"{URL}/instruments")
    assert response.status_code == 200


# ---- assigning ----------------------------------------------------------------------------


def test_assignment_is_created_and_listed_for_the_client(world, api):
    course = _course(world)
    therapist = api(world.therapist)
    created = therapist.post(
        "/assignments",
        {"client_id": world.client.pk, "instrument": "gad7", "schedule": "pre_dosing",
         "due_at": (timezone.now() + datetime.timedelta(days=30)).isoformat()},
    )  # fmt: skip
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["instrument"], body["schedule"], body["course_id"]) == (
        "gad7",
        "pre_dosing",
        course.pk,
    )
    assert body["assigned_by_id"] == world.therapist.pk and body["completed_at"] is None

    listed = therapist.get(f"/clients/{world.client.pk}")
    assert listed.status_code == 200
    assert [a["id"] for a in listed.json()["open_assignments"]] == [body["id"]]


def test_unknown_instrument_is_422_on_instrument(world, api):
    therapist = api(world.therapist)
    for path, body in [
        ("/assignments", {"client_id": world.client.pk, "instrument": "bdi2"}),
        ("/responses", {"client_id": world.client.pk, "instrument": "bdi2", "answers": {}}),
    ]:
        response = therapist.post(path, body)
        assert response.status_code == 422, path
        assert _fields(response) == {"instrument"}
    assert not Assignment.objects.exists() and not Response.objects.exists()


def test_clinician_rated_instrument_cannot_be_assigned(world, api):
    response = api(world.therapist).post(
        "/assignments", {"client_id": world.client.pk, "instrument": "cssrs"}
    )
    assert response.status_code == 422 and _fields(response) == {"instrument"}


@pytest.mark.parametrize(
    ("body", "field"),
    [({"schedule": "hourly"}, "schedule"), ({"due_at": "2031-05-01T09:00:00"}, "due_at"),
     ({"client_id": 0}, "client_id")],
)  # fmt: skip
def test_bad_assignment_input_is_422_naming_the_field(world, api, body, field):
    response = api(world.therapist).post(
        "/assignments", {"client_id": world.client.pk, "instrument": "phq9"} | body
    )
    assert response.status_code == 422 and field in _fields(response)


# ---- staff entry: item-named validation ---------------------------------------------------


def test_missing_items_are_422_naming_each_missing_item_and_save_nothing(world, api):
    response = _enter(api(world.therapist), world, {"phq9_1": 1, "phq9_2": 3})
    assert response.status_code == 422
    assert _fields(response) == {f"phq9_{i}" for i in range(3, 10)}
    assert set(_codes(response)) == {"invalid"}
    assert not Response.objects.exists() and not UrgentTask.objects.exists()


def test_no_answers_at_all_names_every_required_item(world, api):
    response = _enter(api(world.therapist), world, None)
    assert response.status_code == 422
    assert _fields(response) == {f"phq9_{i}" for i in range(1, 10)}


@pytest.mark.parametrize("bad", [7, -1, True, "2", 2.5, [1]])
def test_out_of_range_or_non_integer_answer_is_422_naming_the_item(world, api, bad):
    response = _enter(api(world.therapist), world, PHQ9_CLEAN | {"phq9_4": bad})
    assert response.status_code == 422, response.content
    assert _fields(response) == {"phq9_4"}
    assert not Response.objects.exists()


def test_unknown_item_is_named(world, api):
    response = _enter(api(world.therapist), world, PHQ9_CLEAN | {"phq9_42": 1})
    assert response.status_code == 422 and _fields(response) == {"phq9_42"}


def test_staff_entry_returns_the_total_and_band(world, api):
    course = _course(world)
    response = _enter(api(world.therapist), world, PHQ9_CLEAN | {"phq9_difficulty": 1})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["total"], body["band"], body["severity"]) == (8, "mild", 1)
    assert (body["source"], body["safety_flags"], body["corrects_id"]) == ("staff", [], None)
    assert body["submitted_at"] and body["course_id"] == course.pk
    assert body["answers"]["phq9_difficulty"] == 1
    screen = CourseEvent.objects.get(course=course, kind="risk_screen")
    assert screen.positive is False


def test_entry_completes_the_assignment_it_names(world, api):
    assignment = _assign(world)
    response = _enter(api(world.therapist), world, PHQ9_CLEAN, assignment_id=assignment.pk)
    assert response.status_code == 201 and response.json()["assignment_id"] == assignment.pk
    assignment.refresh_from_db()
    assert assignment.completed_at is not None
    again = _enter(api(world.therapist), world, PHQ9_CLEAN, assignment_id=assignment.pk)
    assert again.status_code == 422 and _fields(again) == {"assignment"}


def test_total_only_instrument_takes_a_total(world, api):
    therapist = api(world.therapist)
    body = {"client_id": world.client.pk, "instrument": "cadss"}
    ok = therapist.post("/responses", body | {"total": 25})
    assert ok.status_code == 201 and (ok.json()["total"], ok.json()["band"]) == (25, "moderate")
    for extra, field in [
        ({"total": 500}, "total"),
        ({}, "total"),
        ({"total": True}, "total"),
        ({"answers": {"q1": 1}}, "answers"),
        ({"answers": {}, "total": 3}, "total"),
    ]:
        response = therapist.post("/responses", body | extra)
        assert response.status_code == 422, extra
        assert field in _fields(response), (extra, response.json())
    phq9 = therapist.post("/responses", body | {"instrument": "phq9", "total": 8})
    assert phq9.status_code == 422 and _fields(phq9) == {"total"}
    assert Response.objects.count() == 1


# ---- the safety path ----------------------------------------------------------------------


def test_positive_item_9_raises_an_urgent_task_and_blocks_dosing_until_proceed(client, world, api):
    course = _course(world)
    therapist = api(world.therapist)

    def dosing_codes():
        response = client.get(f"/api/v1/courses/{course.pk}/gates", **therapist.headers)
        assert response.status_code == 200, response.content
        return [r["code"] for r in response.json()["dosing"]]

    assert RISK not in dosing_codes()
    entered = _enter(therapist, world, PHQ9_POSITIVE)
    assert entered.status_code == 201
    assert [f["code"] for f in entered.json()["safety_flags"]] == ["phq9.item9_positive"]
    assert entered.json()["safety_flags"][0]["level"] == "moderate"

    listed = therapist.get(f"/clients/{world.client.pk}").json()
    [task] = listed["urgent_tasks"]
    assert task["codes"] == ["phq9.item9_positive"] and task["resolved_at"] is None
    assert task["response_id"] == entered.json()["id"] and task["course_id"] == course.pk
    assert RISK in dosing_codes()

    resolved = therapist.post(
        f"/urgent-tasks/{task['id']}/resolve",
        {"decision": "proceed", "note": "Passive thoughts, no plan or intent; plan reviewed.",
         **ASSESSED},
    )  # fmt: skip
    assert resolved.status_code == 200, resolved.content
    body = resolved.json()
    assert (body["decision"], body["resolved_by_id"]) == ("proceed", world.therapist.pk)
    assert body["resolved_at"] is not None
    assert RISK not in dosing_codes()
    assert therapist.get(f"/clients/{world.client.pk}").json()["urgent_tasks"] == []

    again = therapist.post(
        f"/urgent-tasks/{task['id']}/resolve",
        {"decision": "hold", "note": "Second look: holding after all.", **ASSESSED},
    )
    assert again.status_code == 409 and _codes(again) == ["urgent_task.resolved"]


def test_hold_keeps_dosing_blocked(client, world, api):
    course = _course(world)
    therapist = api(world.therapist)
    _enter(therapist, world, PHQ9_CLEAN | {"phq9_9": 3})
    task = UrgentTask.objects.get()
    assert task.level == "high"
    response = therapist.post(
        f"/urgent-tasks/{task.pk}/resolve",
        {"decision": "hold", "note": "Safety plan reviewed; hold dosing.", **ASSESSED,
         "risk_level": "high"},
    )  # fmt: skip
    assert response.status_code == 200
    gates = client.get(f"/api/v1/courses/{course.pk}/gates", **therapist.headers).json()
    assert RISK in [r["code"] for r in gates["dosing"]]


@pytest.mark.parametrize(
    ("body", "fields"),
    [({"decision": "maybe", "note": NOTE, **ASSESSED}, {"decision"}),
     ({"decision": "proceed", "note": " ", **ASSESSED}, {"note"}),
     ({"note": NOTE, **ASSESSED}, {"decision"}),
     ({"decision": "hold", **ASSESSED}, {"note"}),
     ({"decision": "hold", "note": NOTE}, {"risk_level"}),
     ({"decision": "hold", "note": "testing", **ASSESSED}, {"note"}),
     ({"decision": "proceed", "note": NOTE, **ASSESSED, "risk_level": "high"}, {"decision"}),
     ({"decision": "proceed", "note": NOTE, "risk_level": "low"},
      {"protective_factors_reviewed", "safety_plan_reviewed", "means_restriction_discussed"})],
)  # fmt: skip
def test_resolving_needs_the_structured_risk_assessment(world, api, body, fields):
    _course(world)
    therapist = api(world.therapist)
    _enter(therapist, world, PHQ9_POSITIVE)
    task = UrgentTask.objects.get()
    response = therapist.post(f"/urgent-tasks/{task.pk}/resolve", body)
    assert response.status_code == 422 and _fields(response) == fields
    task.refresh_from_db()
    assert task.resolved_at is None


# ---- the client's own questionnaire -------------------------------------------------------


def test_client_answers_their_own_assignment_draft_then_submit(client, world):
    course = _course(world)
    assignment = _assign(world)
    _as_client(client, world.client_member)
    path = f"/assignments/{assignment.pk}/answers"

    draft = _post(client, path, {"answers": {"phq9_1": 2}, "submit": False})
    assert draft.status_code == 200, draft.content
    assert (draft.json()["submitted_at"], draft.json()["total"]) == (None, None)
    assert draft.json()["source"] == "portal" and draft.json()["answers"] == {"phq9_1": 2}

    missing = _post(client, path, {"answers": {"phq9_1": 2}, "submit": True})
    assert missing.status_code == 422
    assert _fields(missing) == {f"phq9_{i}" for i in range(2, 10)}
    bad = _post(client, path, {"answers": PHQ9_CLEAN | {"phq9_2": 9}, "submit": True})
    assert bad.status_code == 422 and _fields(bad) == {"phq9_2"}

    done = _post(client, path, {"answers": PHQ9_POSITIVE, "submit": True})
    assert done.status_code == 200, done.content
    body = done.json()
    assert (body["id"], body["total"], body["band"]) == (draft.json()["id"], 9, "mild")
    assert body["submitted_at"] is not None
    task = UrgentTask.objects.get()
    assert task.course_id == course.pk and task.response_id == body["id"]
    screen = CourseEvent.objects.get(course=course, kind="risk_screen")
    assert screen.positive is True and screen.actor == world.client_member.user

    closed = _post(client, path, {"answers": PHQ9_CLEAN, "submit": True})
    assert closed.status_code == 409 and _codes(closed) == ["assignment.closed"]


def test_another_client_and_staff_get_404_on_a_clients_assignment(client, world, api):
    assignment = _assign(world)
    path = f"/assignments/{assignment.pk}/answers"
    body = {"answers": PHQ9_CLEAN, "submit": True}

    someone = member(world.practice, Role.CLIENT)
    ClientFactory(organisation=world.practice, user=someone.user)
    response = _post(_as_client(client, someone), path, body)
    assert response.status_code == 404 and _codes(response) == ["not_found"]

    assert api(world.therapist).post(path, body).status_code == 404
    assert _post(sign_in(client, world.therapist.user), path, body).status_code == 404
    assert _post(_as_client(client, world.companion), path, body).status_code == 404
    assert not Response.objects.exists()
    assignment.refresh_from_db()
    assert assignment.completed_at is None


def test_client_endpoint_without_sign_in_is_401(client, world):
    assignment = _assign(world)
    response = _post(client, f"/assignments/{assignment.pk}/answers", {"answers": {}})
    assert response.status_code == 401


# ---- corrections --------------------------------------------------------------------------


def test_correction_is_a_new_response_and_replaces_the_old_in_the_list(world, api):
    therapist = api(world.therapist)
    old = _enter(therapist, world, PHQ9_CLEAN).json()
    path = f"/responses/{old['id']}/corrections"

    assert _fields(therapist.post(path, {"reason": " ", "answers": PHQ9_CLEAN})) == {"reason"}
    assert _fields(therapist.post(path, {"answers": PHQ9_CLEAN})) == {"reason"}
    bad = therapist.post(path, {"reason": "Typo", "answers": PHQ9_CLEAN | {"phq9_3": 5}})
    assert bad.status_code == 422 and _fields(bad) == {"phq9_3"}

    new = therapist.post(path, {"reason": "Item 3 misread", "answers": PHQ9_CLEAN | {"phq9_3": 3}})
    assert new.status_code == 201, new.content
    body = new.json()
    assert (body["corrects_id"], body["total"], body["correction_reason"]) == (
        old["id"],
        10,
        "Item 3 misread",
    )
    assert body["submitted_at"] == old["submitted_at"]
    listed = therapist.get(f"/clients/{world.client.pk}").json()["responses"]
    assert [r["id"] for r in listed] == [body["id"]]
    assert Response.objects.get(pk=old["id"]).total == 8  # the original is kept as it was

    twice = therapist.post(path, {"reason": "Again", "answers": PHQ9_CLEAN})
    assert twice.status_code == 409 and _codes(twice) == ["response.superseded"]


# ---- who may call what --------------------------------------------------------------------


def _staff_calls(world, assignment, response, task):
    return [
        ("get", f"/clients/{world.client.pk}", None),
        ("post", "/assignments", {"client_id": world.client.pk, "instrument": "phq9"}),
        ("post", "/responses", {"client_id": world.client.pk, "instrument": "phq9",
                                "answers": PHQ9_CLEAN}),
        ("post", f"/responses/{response.pk}/corrections", {"reason": "r", "answers": PHQ9_CLEAN}),
        ("post", f"/urgent-tasks/{task.pk}/resolve", {"decision": "proceed", "note": NOTE,
                                                       **ASSESSED}),
    ]  # fmt: skip


@pytest.fixture
def positive(world):
    """An open assignment and a positive PHQ-9 with its open urgent task."""
    _course(world)
    assignment = _assign(world)
    response = services.response_enter(
        actor=world.therapist, client_id=world.client.pk, instrument="phq9",
        answers=PHQ9_POSITIVE,
    )  # fmt: skip
    return assignment, response, UrgentTask.objects.get(response=response)


@pytest.mark.parametrize("who", ["biller", "other_admin", "other_therapist", "therapist2"])
def test_staff_without_access_get_404_and_change_nothing(world, api, positive, who):
    outsider = api(getattr(world, who))
    counts = (Assignment.objects.count(), Response.objects.count())
    for method, path, body in _staff_calls(world, *positive):
        response = getattr(outsider, method)(path, *([body] if body else []))
        assert response.status_code == 404, (who, path, response.content)
        assert _codes(response) == ["not_found"]
    assert (Assignment.objects.count(), Response.objects.count()) == counts
    assert UrgentTask.objects.get().resolved_at is None


@pytest.mark.parametrize("who", ["companion", "client_member"])
def test_companion_and_client_get_404_on_staff_endpoints(client, world, positive, who):
    _as_client(client, getattr(world, who))
    for method, path, body in _staff_calls(world, *positive):
        response = client.get(URL + path) if method == "get" else _post(client, path, body)
        assert response.status_code == 404, (who, path, response.content)
    assert UrgentTask.objects.get().resolved_at is None


def test_practice_admin_sees_but_cannot_assess(world, api, positive):
    admin = api(world.admin)
    assert admin.get(f"/clients/{world.client.pk}").status_code == 200
    refused = admin.post("/assignments", {"client_id": world.client.pk, "instrument": "phq9"})
    assert refused.status_code == 403 and _codes(refused) == ["permission_denied"]


def test_partner_prescriber_on_the_care_team_may_assess(world, api, positive):
    shared_scores(world.client, world.therapist, world.prescriber)
    prescriber = api(world.prescriber)
    assert prescriber.get(f"/clients/{world.client.pk}").status_code == 200
    created = prescriber.post("/assignments", {"client_id": world.client.pk, "instrument": "gad7"})
    assert created.status_code == 201


def test_huge_or_missing_ids_are_404(world, api):
    therapist = api(world.therapist)
    huge = 10**30
    assert therapist.get(f"/clients/{huge}").status_code == 404
    assert (
        therapist.post(
            f"/urgent-tasks/{huge}/resolve", {"decision": "hold", "note": NOTE, **ASSESSED}
        ).status_code
        == 404
    )
    assert therapist.post(f"/responses/{huge}/corrections", {"reason": "r"}).status_code == 404
    body = {"client_id": 999_999, "instrument": "phq9"}
    assert therapist.post("/assignments", body).status_code == 404


# ---- no input causes a 5xx ----------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["phq9", "cadss", "cssrs", "proceed", "2030-01-01T00:00:00Z", "once"])
)
item_ids = st.sampled_from(["phq9_1", "phq9_9", "phq9_difficulty", "q6", "x", ""]) | st.text(
    max_size=8
)
values = scalars | st.dictionaries(item_ids, scalars, max_size=12) | st.lists(scalars, max_size=3)
body_fields = st.sampled_from(
    ["client_id", "instrument", "schedule", "due_at", "answers", "total", "assignment_id",
     "submit", "reason", "decision", "note"]
)  # fmt: skip
bodies = st.dictionaries(body_fields, values, max_size=7) | scalars | st.lists(scalars, max_size=3)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies)
def test_no_json_body_gives_a_server_error(client, world, api, body):
    assignment = Assignment.objects.filter(client=world.client).first() or _assign(world)
    response = Response.objects.filter(client=world.client).first() or (
        services.response_enter(actor=world.therapist, client_id=world.client.pk,
                                instrument="phq9", answers=PHQ9_POSITIVE)
    )  # fmt: skip
    task = UrgentTask.objects.first()
    therapist = api(world.therapist)
    for path in [
        "/assignments",
        "/responses",
        f"/responses/{response.pk}/corrections",
        f"/urgent-tasks/{task.pk}/resolve",
    ]:
        answer = therapist.post(path, body)
        assert answer.status_code < 500, (path, body, answer.content[:300])
        if answer.status_code >= 400:
            assert "errors" in answer.json()
    own = _post(
        _as_client(client, world.client_member), f"/assignments/{assignment.pk}/answers", body
    )
    assert own.status_code < 500, (body, own.content[:300])


@pytest.mark.parametrize(
    "raw", ["", "not json", "{", "[]", "null", '{"answers": {"phq9_1": 1e400}}']
)
def test_malformed_json_is_a_4xx(world, api, client, raw):
    therapist = api(world.therapist)
    response = client.post(
        f"{URL}/responses", data=raw, content_type="application/json", **therapist.headers
    )
    assert 400 <= response.status_code < 500, (raw, response.content)


# ---- queries and schema -------------------------------------------------------------------


def test_client_list_queries_are_the_same_for_1_and_30_responses(client, world, api):
    _course(world)
    therapist = api(world.therapist)

    def count():
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(f"{URL}/clients/{world.client.pk}", **therapist.headers)
        assert response.status_code == 200
        return len(ctx.captured_queries), len(response.json()["responses"])

    def add(n):
        for _ in range(n):
            _assign(world)
            services.response_enter(
                actor=world.therapist, client_id=world.client.pk, instrument="phq9",
                answers=PHQ9_POSITIVE,
            )  # fmt: skip

    add(1)
    small, rows = count()
    assert rows == 1
    add(29)
    large, rows = count()
    assert rows == 30
    assert small == large


def test_openapi_documents_the_assessment_paths(client, db):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    expected = {
        ("/api/v1/assessments/instruments", "get"): "List the instruments",
        ("/api/v1/assessments/assignments", "post"): "Assign a questionnaire",
        ("/api/v1/assessments/clients/{client_id}", "get"): "A client's questionnaires",
        ("/api/v1/assessments/responses", "post"): "Enter a questionnaire",
        ("/api/v1/assessments/assignments/{assignment_id}/answers", "post"): (
            "Answer my questionnaire"
        ),
        ("/api/v1/assessments/responses/{response_id}/corrections", "post"): ("Correct a response"),
        ("/api/v1/assessments/urgent-tasks/{task_id}/resolve", "post"): (
            "Record a risk assessment"
        ),
    }
    for (path, method), summary in expected.items():
        operation = paths[path][method]
        assert operation["summary"] == summary
        assert operation["description"]
    assert "item id" in paths["/api/v1/assessments/responses"]["post"]["description"]
