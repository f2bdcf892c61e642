"""The sessions API (/api/v1/sessions): a whole session over JSON, refusals as 409 with every
reason, 422 naming the field, 404 for anyone outside, and no body that gives a server error."""

import json

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kapflow.accounts import services as account_services
from kapflow.audit.models import AuditEvent
from kapflow.courses.models import DueItem
from kapflow.encounters import services
from kapflow.encounters.models import ChecklistResponse, DosingSession
from tests.conftest import sign_in
from tests.encounters.factories import ALL_YES, GOOD_START, MIN, dosed, opened, ready_course

URL = "/api/v1/sessions"


@pytest.fixture
def course(world):
    return ready_course(world.client, world.therapist, world.prescriber)


@pytest.fixture
def api(client):
    class Api:
        def __init__(self, actor):
            _, raw = account_services.api_token_create(actor=actor, name="tests", mfa_verified=True)
            self.headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}

        def get(self, path=""):
            return client.get(URL + path, **self.headers)

        def post(self, path="", body=None):
            return client.post(
                URL + path, data=json.dumps(body if body is not None else {}, default=str),
                content_type="application/json", **self.headers,
            )  # fmt: skip

    return Api


def test_a_whole_session_over_the_api(api, world, course):
    therapist = api(world.therapist)
    opened_ = therapist.post("", {"course_id": course.pk})
    assert opened_.status_code == 201, opened_.content
    sid = opened_.json()["id"]
    refused = therapist.post(f"/{sid}/start", {"version": 1})
    assert refused.status_code == 409
    codes = {e["code"]: e["overridable"] for e in refused.json()["errors"]}
    assert codes == {
        "vitals.bp_missing": True, "alcohol.not_attested": False, "driver.unconfirmed": True,
    }  # fmt: skip
    started = therapist.post(f"/{sid}/start", {"version": 1, **GOOD_START})
    assert started.status_code == 200 and started.json()["state"] == "in_progress"
    dose = therapist.post(
        f"/{sid}/entries", {"kind": "dose", "route": "sublingual", "amount": "200"}
    )
    assert dose.status_code == 201 and dose.json()["data"]["booster"] is False
    vitals = therapist.post(f"/{sid}/entries", {"kind": "vitals", "bp_systolic": 181,
                                                "bp_diastolic": 99})  # fmt: skip
    assert vitals.status_code == 201
    assert vitals.json()["flags"][0]["rule"] == "systolic >= 180 mmHg"
    state = therapist.get(f"/{sid}").json()
    assert state["flagged"] and [r["minutes_after_dose"] for r in state["rechecks"]] == [40, 120]
    assert {r["code"] for r in state["discharge_reasons"]} == {
        "discharge.vitals_flagged", "discharge.observation_short",
    }  # fmt: skip
    refused = therapist.post(f"/{sid}/discharge", {"version": state["version"]})
    assert refused.status_code == 409
    assert "discharge.not_alert" in {e["code"] for e in refused.json()["errors"]}
    stale = therapist.post(f"/{sid}/discharge", {"version": 1})
    assert stale.status_code == 409 and stale.json()["errors"][0]["code"] == "session.stale"


def test_discharge_over_the_api_raises_the_integration_items(api, world, course):
    session = dosed(world.therapist, course, at=timezone.now() - 130 * MIN)
    therapist = api(world.therapist)
    therapist.post(f"/{session.pk}/entries", {"kind": "vitals", "bp_systolic": 120,
                                               "bp_diastolic": 80})  # fmt: skip
    version = therapist.get(f"/{session.pk}").json()["version"]
    closed = therapist.post(
        f"/{session.pk}/discharge",
        {"version": version, "alert_oriented": True, "walks_steadily": True,
         "escort_present": True},
    )  # fmt: skip
    assert closed.status_code == 200, closed.content
    body = closed.json()
    assert body["state"] == "discharged" and body["first_hour_minutes"] == 60
    assert set(DueItem.objects.filter(course=course).values_list("code", flat=True)) >= {
        "integration.due", "integration.checkin",
    }  # fmt: skip


def test_inputs_are_checked_by_field(api, world, course):
    session = dosed(world.therapist, course)
    therapist = api(world.therapist)
    bad = therapist.post(f"/{session.pk}/entries", {"kind": "vitals", "bp_systolic": 999})
    assert bad.status_code == 422
    assert any("bp_systolic" in (e["field"] or "") for e in bad.json()["errors"])
    bad = therapist.post(f"/{session.pk}/entries", {"kind": "vitals", "bp_systolic": 120})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "bp_diastolic"


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("therapist", 200), ("admin", 200), ("prescriber", 200), ("therapist2", 404),
        ("biller", 404), ("client_member", 404), ("companion", 404), ("other_admin", 404),
    ],
)  # fmt: skip
def test_get_permission_matrix(api, client, world, course, who, status):
    session = dosed(world.therapist, course)
    if who in ("client_member", "companion"):  # no API tokens: their browser session
        sign_in(client, getattr(world, who).user)
        assert client.get(f"{URL}/{session.pk}").status_code == status
    else:
        assert api(getattr(world, who)).get(f"/{session.pk}").status_code == status


def test_checklist_over_the_api_for_the_client(client, world, course):
    session = opened(world.therapist, course)
    sign_in(client, world.client_member.user)
    response = client.post(
        f"{URL}/{session.pk}/checklist", data=json.dumps(ALL_YES), content_type="application/json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["respondent"] == "client"
    stored = ChecklistResponse.objects.get(session=session)
    assert (stored.respondent, stored.answered_by_id) == ("client", world.client_member.user_id)
    event = AuditEvent.objects.get(action="dosing_session.checklist")
    assert (event.target_id, event.client_id) == (session.pk, world.client.pk)


def test_the_session_checklist_refuses_a_post_without_the_csrf_token(world, course):
    session = opened(world.therapist, course)
    browser = sign_in(Client(enforce_csrf_checks=True), world.client_member.user)
    response = browser.post(
        f"{URL}/{session.pk}/checklist", data=json.dumps(ALL_YES), content_type="application/json"
    )
    assert response.status_code == 403, response.content
    assert not ChecklistResponse.objects.filter(session=session).exists()


def test_groups_over_the_api(api, world, course):
    therapist = api(world.therapist)
    created = therapist.post("/groups", {"course_ids": [course.pk]})
    assert created.status_code == 201, created.content
    gid = created.json()["id"]
    got = therapist.get(f"/groups/{gid}")
    assert got.status_code == 200 and len(got.json()["rows"]) == 1
    assert api(world.other_admin).get(f"/groups/{gid}").status_code == 404
    assert api(world.biller).post("/groups", {"course_ids": [course.pk]}).status_code == 404


bodies = st.one_of(
    st.none(),
    st.integers(),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(
        st.sampled_from(
            ["kind", "version", "bp_systolic", "bp_diastolic", "heart_rate", "spo2", "amount",
             "route", "unit", "event_type", "text", "reason", "strike", "occurred_at",
             "source", "course_id", "course_ids", "alert_oriented", "overrides"]
        ),
        st.one_of(
            st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
            st.floats(allow_nan=True), st.text(max_size=30), st.lists(st.integers(), max_size=3),
        ),
        max_size=6,
    ),
)  # fmt: skip


@settings(
    max_examples=40, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)  # fmt: skip
@given(body=bodies)
def test_no_body_gives_a_server_error(api, world, course, body):
    with transaction.atomic():
        session = dosed(world.therapist, course)
        entry_id = session.entries.first().pk
        group = services.group_create(
            actor=world.therapist, course_ids=[course.pk], kind="integration"
        )
        therapist = api(world.therapist)
        for path in ["", f"/{session.pk}/start", f"/{session.pk}/entries",
                     f"/{session.pk}/entries/{entry_id}/correct", f"/{session.pk}/discharge",
                     f"/{session.pk}/abandon", f"/{session.pk}/checklist", "/groups",
                     f"/{session.pk}/entries/{2**70}/correct", f"/groups/{group.pk}/close",
                     f"/groups/{group.pk}/clients"]:  # fmt: skip
            response = therapist.post(path, body)
            assert response.status_code < 500, (path, body, response.content[:300])
            if isinstance(body, dict):  # the same keys on a valid-looking base
                base = {"course_ids": [2**70], "attended_course_ids": [2**70], "version": 1}
                response = therapist.post(path, base | body)
            assert response.status_code < 500, (path, body, response.content[:300])
            if response.status_code >= 400:
                assert "errors" in response.json()
        transaction.set_rollback(True)
    assert not DosingSession.objects.exists()
