"""The courses API: tenancy, every refusal reason, the walk to active, dosing overrides,
validation, and a pinned query count for the list."""

import datetime
import json

import pytest
from django.db import connection
from django.test import Client as HttpClient
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kapflow.accounts import services as account_services
from kapflow.consents.models import ConsentSignature
from kapflow.core import clock
from kapflow.courses.models import Course, CourseEvent
from kapflow.prescriptions.models import DoseUse
from tests.conftest import sign_in
from tests.consents import factories as consent_factories
from tests.courses.factories import event, make_course
from tests.patients.factories import ClientFactory, on_team

URL = "/api/v1/courses"


@pytest.fixture
def api(client):
    """api(actor).get(path, **params) / .post(path, body): requests with the actor's token."""

    class Api:
        def __init__(self, actor):
            _, raw = account_services.api_token_create(actor=actor, name="tests", mfa_verified=True)
            self.headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}

        @staticmethod
        def _url(path):
            return path if path.startswith("/api/") else URL + path

        def get(self, path="", **params):
            return client.get(self._url(path), params, **self.headers)

        def post(self, path="", body=None):
            return client.post(
                self._url(path),
                data=json.dumps(body or {}, default=str),
                content_type="application/json",
                **self.headers,
            )

        def put(self, path="", body=None):
            return client.put(
                self._url(path),
                data=json.dumps(body or {}, default=str),
                content_type="application/json",
                **self.headers,
            )

    return Api


def _course(world, stage="inquiry", **fields):
    return make_course(world.client, world.therapist, prescriber=world.prescriber, stage=stage,
                       **fields)  # fmt: skip


def _codes(response) -> list[str]:
    return [e["code"] for e in response.json()["errors"]]


def _fields(response) -> set:
    return {e["field"] for e in response.json()["errors"]}


def _screened(course, world):
    """A negative suicide-risk screen an hour ago: the screen gate is met."""
    event(course, world.therapist, "risk_screen", positive=False,
          at=timezone.now() - datetime.timedelta(hours=1))  # fmt: skip


GOOD_DAY = {
    "amount_mg": "200",  # the prescription's per-session amount (decision 0030)
    "bp_systolic": 120,
    "bp_diastolic": 80,
    "alcohol_free_24h": True,
    "companion_present": False,
    "driver_confirmed": True,
}


# ---- reading and tenancy ------------------------------------------------------------------


def test_list_and_detail_show_the_course(world, api):
    course = _course(world, stage="preparation")
    therapist = api(world.therapist)

    listed = therapist.get()
    assert listed.status_code == 200
    body = listed.json()
    assert (body["count"], body["page"], body["pages"]) == (1, 1, 1)
    row = body["results"][0]
    assert row["id"] == course.pk
    assert row["client_id"] == world.client.pk
    assert row["client_name"] == (
        f"{world.client.preferred_name or world.client.legal_first_name} "
        f"{world.client.legal_last_name}"
    )
    assert (row["stage"], row["stage_label"]) == ("preparation", "Preparation")
    assert (row["therapist_id"], row["prescriber_id"]) == (world.therapist.pk, world.prescriber.pk)
    assert {b["code"] for b in row["blockers"]} == {"preparation.none", "prescription.missing"}
    assert [d["code"] for d in row["deadlines"]] == ["preparation.due"]

    detail = therapist.get(f"/{course.pk}")
    assert detail.status_code == 200
    body = detail.json()
    assert body["id"] == course.pk
    assert body["eligibility"] == "eligible"
    assert body["consent"] == {
        "status": "signed", "signed_version": 1, "current_version": 1,
        "signed_at": body["consent"]["signed_at"], "withdrawn_at": None,
        "telehealth_signed": False,
    }  # fmt: skip
    assert body["consent"]["signed_at"] is not None
    assert body["clearance_valid_days"] == 180
    assert (body["prescription_active"], body["doses_dispensed"], body["doses_used"]) == (
        False,
        0,
        0,
    )
    assert {a["action"] for a in body["allowed_actions"]} == {"activate", "discharge", "withdraw"}
    assert body["timeline"] == []


def test_list_filters_by_stage_and_status(world, api):
    active = _course(world, stage="active")
    closed_client = ClientFactory(organisation=world.practice)
    on_team(closed_client, world.therapist)
    closed = make_course(closed_client, world.therapist, stage="withdrawn",
                         closed_at=timezone.now())  # fmt: skip
    therapist = api(world.therapist)

    assert [r["id"] for r in therapist.get().json()["results"]] == [active.pk]
    assert [r["id"] for r in therapist.get(status="closed").json()["results"]] == [closed.pk]
    assert {r["id"] for r in therapist.get(status="all").json()["results"]} == {
        active.pk,
        closed.pk,
    }
    assert therapist.get(stage="inquiry").json()["results"] == []
    assert [r["id"] for r in therapist.get(stage="active").json()["results"]] == [active.pk]
    other = therapist.get(therapist=world.therapist2.pk)
    assert other.json()["results"] == []


@pytest.mark.parametrize("who", ["other_admin", "other_therapist"])
def test_another_organisation_gets_404(world, api, who):
    course = _course(world, stage="active")
    outsider = api(getattr(world, who))
    assert outsider.get().json()["results"] == []
    for response in [
        outsider.get(f"/{course.pk}"),
        outsider.get(f"/{course.pk}/gates"),
        outsider.post(f"/{course.pk}/transitions", {"action": "complete"}),
        outsider.post(f"/{course.pk}/records", {"kind": "preparation"}),
        outsider.post(f"/{course.pk}/dosing", {**GOOD_DAY, "override_reason": "x"}),
    ]:
        assert response.status_code == 404, response.content
        assert _codes(response) == ["not_found"]
    assert not DoseUse.objects.filter(course=course).exists()
    assert not CourseEvent.objects.filter(course=course, kind="dosing").exists()


def test_biller_and_companion_get_404(client, world, api):
    course = _course(world, stage="active")
    biller = api(world.biller)
    assert biller.get().status_code == 404  # the caseload is clinical
    assert biller.get(f"/{course.pk}").status_code == 404
    assert biller.get(f"/{course.pk}/gates").status_code == 404

    sign_in(client, world.companion.user)
    assert client.get(URL).status_code == 404
    assert client.get(f"{URL}/{course.pk}").status_code == 404
    assert client.get(f"{URL}/{course.pk}/gates").status_code == 404


def test_partner_prescriber_sees_the_course_they_prescribe_for(world, api):
    course = _course(world, stage="medical_evaluation")
    prescriber = api(world.prescriber)
    assert [r["id"] for r in prescriber.get().json()["results"]] == [course.pk]
    assert prescriber.get(f"/{course.pk}").status_code == 200


# ---- transitions --------------------------------------------------------------------------


def test_blocked_transition_is_409_with_every_reason_and_changes_nothing(world, api):
    course = _course(world, stage="preparation", consent=False)
    events = CourseEvent.objects.count()

    response = api(world.therapist).post(f"/{course.pk}/transitions", {"action": "activate"})

    assert response.status_code == 409
    errors = response.json()["errors"]
    assert {e["code"] for e in errors} == {
        "consent.missing",
        "preparation.none",
        "prescription.missing",
    }
    assert all(e["overridable"] is False and e["field"] is None for e in errors)
    course.refresh_from_db()
    assert course.stage == "preparation"
    assert CourseEvent.objects.count() == events


def test_walk_from_inquiry_to_active(world, api):
    therapist, prescriber = api(world.therapist), api(world.prescriber)

    opened = therapist.post(
        "", {"client_id": world.client.pk, "pathway": "higher_dose", "delivery": "in_person"}
    )
    assert opened.status_code == 201, opened.content
    course_id = opened.json()["id"]
    assert opened.json()["stage"] == "inquiry"
    assert opened.json()["therapist_id"] == world.therapist.pk

    def step(who, action, expected, **body):
        response = who.post(f"/{course_id}/transitions", {"action": action, **body})
        assert response.status_code == 200, response.content
        assert response.json()["stage"] == expected
        return response.json()

    def record(who, kind, **body):
        response = who.post(f"/{course_id}/records", {"kind": kind, **body})
        assert response.status_code == 201, response.content
        assert response.json()["kind"] == kind
        return response.json()

    step(therapist, "start_intake", "intake")
    rx_api = "/api/v1/prescribing"
    sent = therapist.post(
        f"{rx_api}/referrals",
        {
            "course_id": course_id, "prescriber_id": world.prescriber.pk,
            "reason": "Recurrent depression, two medication trials.",
            "diagnoses": ["F33.1"], "consent_to_share": True,
            "consent_note": "Signed release of information on file.",
        },
    )  # fmt: skip
    assert sent.status_code == 201, sent.content
    referral_id = sent.json()["id"]
    assert sent.json()["diagnoses"][0]["code"] == "F33.1"
    assert therapist.get(f"/{course_id}").json()["prescriber_id"] == world.prescriber.pk
    accepted = prescriber.post(f"{rx_api}/referrals/{referral_id}/accept")
    assert accepted.json()["status"] == "accepted", accepted.content
    evaluation = prescriber.get(f"{rx_api}/referrals/{referral_id}/evaluation").json()
    body = {
        "version": evaluation["version"],
        "evaluated_on": clock.clinical_date(world.practice).isoformat(),
        "bp_systolic": 122, "bp_diastolic": 78, "pregnancy": "not_applicable",
        "ongoing_therapy": True,
        "checklist": {item["code"]: False for item in evaluation["checklist_items"]},
    }  # fmt: skip
    saved = prescriber.put(f"{rx_api}/referrals/{referral_id}/evaluation", body)
    assert saved.status_code == 200, saved.content
    assert saved.json()["findings"] == []
    decided = prescriber.post(
        f"{rx_api}/referrals/{referral_id}/decision",
        {
            "decision": "eligible", "reason": "No contraindications found.",
            "signature": world.prescriber.user.full_name,
            "findings_digest": saved.json()["findings_digest"], "clearance_valid_days": 180,
        },
    )  # fmt: skip
    assert decided.status_code == 201, decided.content
    eligible = therapist.get(f"/{course_id}").json()
    assert (eligible["stage"], eligible["eligibility"]) == ("eligible", "eligible")
    assert eligible["clearance_valid_days"] == 180
    written = prescriber.post(
        f"{rx_api}/courses/{course_id}/prescriptions",
        {
            "product": "ketamine_sl_rdt", "strength_mg": "100", "dose_mg": "200",
            "quantity": 2, "refills": 1, "pharmacy_name": "Cedar Compounding",
            "dea_number": "AB1234563",
        },
    )  # fmt: skip
    assert written.status_code == 201, written.content
    filled = prescriber.post(
        f"{rx_api}/prescriptions/{written.json()['id']}/fills",
        {"quantity": 2, "dispensed_on": clock.clinical_date(world.practice).isoformat()},
    )
    assert filled.json()["doses_left"] == 2, filled.content
    # The therapist cannot confirm consent the client has not signed.
    refused = therapist.post(f"/{course_id}/transitions", {"action": "record_consent"})
    assert refused.status_code == 409
    assert [e["code"] for e in refused.json()["errors"]] == ["consent.missing"]
    # The client signs the current KAP consent in their portal (session), then the
    # therapist confirms it.
    document = consent_factories.current(world.practice, "kap")
    portal = sign_in(HttpClient(), world.client_member.user)
    signed = portal.post(
        "/api/v1/consents/mine/signatures",
        data=json.dumps({
            "document_id": document.pk, "understood": True,
            "typed_name": f"{world.client.legal_first_name} {world.client.legal_last_name}",
            "signed_on": clock.clinical_date(world.practice).isoformat(),
        }),
        content_type="application/json",
    )  # fmt: skip
    assert signed.status_code == 201, signed.content
    consented = step(therapist, "record_consent", "consented")
    assert consented["consent"]["status"] == "signed"
    assert consented["consent"]["signed_version"] == document.version
    confirmed = next(e for e in consented["timeline"] if e["action"] == "record_consent")
    assert confirmed["data"]["consent_version"] == document.version
    prepared = step(therapist, "start_preparation", "preparation", preparation_planned=2)
    assert prepared["preparation_planned"] == 2
    record(therapist, "preparation", note="Set and setting discussed.")
    active = step(therapist, "activate", "active")

    assert (active["prescription_active"], active["doses_dispensed"]) == (True, 2)
    assert active["allowed_actions"][0]["action"] == "enter_maintenance"
    actions = [e["action"] for e in reversed(active["timeline"]) if e["kind"] == "transition"]
    assert actions == [
        "open", "start_intake", "refer", "begin_evaluation", "decide_eligible",
        "record_consent", "start_preparation", "activate",
    ]  # fmt: skip
    by_action = {e["action"]: e for e in active["timeline"]}
    assert by_action["decide_eligible"]["actor_name"] == str(world.prescriber.user)
    assert by_action["activate"]["actor_name"] == str(world.therapist.user)
    assert Course.objects.get(pk=course_id).stage == "active"


def test_opening_a_second_course_is_409(world, api):
    _course(world, stage="intake")
    response = api(world.therapist).post(
        "", {"client_id": world.client.pk, "pathway": "low_dose", "delivery": "at_home"}
    )
    assert response.status_code == 409
    assert _codes(response) == ["course.already_open"]
    assert Course.objects.filter(client=world.client).count() == 1


def test_referral_steps_are_refused_on_the_course_endpoint(world, api):
    course = _course(world, stage="medical_evaluation")
    for who in (world.therapist, world.prescriber):
        response = api(who).post(
            f"/{course.pk}/transitions",
            {"action": "decide_eligible", "clearance_on": "2025-01-01", "clearance_valid_days": 90},
        )
        assert response.status_code == 409
        assert _codes(response) == ["course.use_referral"]
    course.refresh_from_db()
    assert course.stage == "medical_evaluation"


def test_prescriber_cannot_record_the_therapists_session(world, api):
    course = _course(world, stage="preparation")
    response = api(world.prescriber).post(f"/{course.pk}/records", {"kind": "preparation"})
    assert response.status_code == 403
    assert not CourseEvent.objects.filter(course=course).exists()


def test_decision_without_reason_is_422_naming_reason(world, api):
    course = _course(world, stage="intake")
    response = api(world.therapist).post(f"/{course.pk}/transitions", {"action": "discharge"})
    assert response.status_code == 422
    assert _fields(response) == {"reason"}


# ---- dosing -------------------------------------------------------------------------------


def test_dosing_refused_lists_hard_and_soft_reasons(world, api):
    course = _course(world, stage="active", doses=0)

    response = api(world.therapist).post(
        f"/{course.pk}/dosing",
        {"amount_mg": "200", "alcohol_free_24h": False, "companion_present": False,
         "driver_confirmed": False},
    )  # fmt: skip

    assert response.status_code == 409
    flags = {e["code"]: e["overridable"] for e in response.json()["errors"]}
    assert flags == {
        "prescription.missing": False,
        "screen.missing": False,
        "vitals.bp_missing": True,
        "alcohol.not_attested": False,
        "driver.unconfirmed": True,
    }
    assert not DoseUse.objects.filter(course=course).exists()


def test_high_blood_pressure_is_409_then_passes_under_the_prescribers_decision(world, api):
    course = _course(world, stage="active")
    _screened(course, world)
    therapist = api(world.therapist)
    high = {**GOOD_DAY, "bp_systolic": 170, "bp_diastolic": 95}

    refused = therapist.post(f"/{course.pk}/dosing", high)
    assert refused.status_code == 409
    assert [(e["code"], e["overridable"], e["override_by"]) for e in refused.json()["errors"]] == [
        ("vitals.bp_high", True, "prescriber")
    ]
    assert not DoseUse.objects.filter(course=course).exists()

    signed = api(world.prescriber).post(f"/{course.pk}/overrides", {
        "bp_systolic": 170, "bp_diastolic": 95,
        "overrides": [{"code": "vitals.bp_high", "category": "prescriber_reviewed",
                       "rationale": "Repeat reading 150/90 at rest."}],
    })  # fmt: skip
    assert signed.status_code == 201, signed.content
    started = therapist.post(f"/{course.pk}/dosing", high)
    assert started.status_code == 201, started.content
    assert started.json()["kind"] == "dosing"
    assert started.json()["overridden"] == ["vitals.bp_high"]
    assert started.json()["data"]["bp_systolic"] == 170
    assert DoseUse.objects.filter(course=course).count() == 1

    timeline = therapist.get(f"/{course.pk}").json()["timeline"]
    override = next(e for e in timeline if e["kind"] == "override")
    assert override["overridden"] == ["vitals.bp_high"]
    assert override["reason"] == (
        "vitals.bp_high: prescriber_reviewed: Repeat reading 150/90 at rest."
    )


def test_good_day_doses_without_override(world, api):
    course = _course(world, stage="active")
    _screened(course, world)
    response = api(world.therapist).post(f"/{course.pk}/dosing", GOOD_DAY)
    assert response.status_code == 201, response.content
    assert response.json()["overridden"] == []
    assert not CourseEvent.objects.filter(course=course, kind="override").exists()


def test_withdrawn_consent_cannot_be_overridden(world, api):
    course = _course(world, stage="active")
    _screened(course, world)
    therapist = api(world.therapist)
    # Consent is no longer a course record: withdrawal goes through the consents API.
    assert therapist.post(f"/{course.pk}/records", {"kind": "consent_withdrawn"}).status_code == 422
    signature = ConsentSignature.objects.get(client=world.client, document__kind="kap")
    withdrawn = therapist.post(
        f"/api/v1/consents/signatures/{signature.pk}/withdrawal",
        {"reason": "The client phoned to withdraw consent."},
    )
    assert withdrawn.status_code == 201, withdrawn.content

    response = therapist.post(
        f"/{course.pk}/dosing",
        {**GOOD_DAY, "overrides": [{"code": "consent.withdrawn",
                                    "category": "verified_other_means",
                                    "rationale": "Client says it is fine."}]},
    )  # fmt: skip

    assert response.status_code == 409
    errors = {e["code"]: e["overridable"] for e in response.json()["errors"]}
    assert errors == {"consent.withdrawn": False}
    assert not DoseUse.objects.filter(course=course).exists()
    assert not CourseEvent.objects.filter(course=course, kind__in=["dosing", "override"]).exists()


# ---- validation ---------------------------------------------------------------------------


def test_unknown_action_is_422_naming_action(world, api):
    course = _course(world, stage="intake")
    response = api(world.therapist).post(f"/{course.pk}/transitions", {"action": "teleport"})
    assert response.status_code == 422
    assert _fields(response) == {"action"}


def test_zero_clearance_days_is_422(world, api):
    course = _course(world, stage="medical_evaluation")
    response = api(world.prescriber).post(
        f"/{course.pk}/transitions",
        {"action": "decide_eligible", "clearance_on": "2025-01-01", "clearance_valid_days": 0},
    )
    assert response.status_code == 422
    assert _fields(response) == {"clearance_valid_days"}
    course.refresh_from_db()
    assert course.stage == "medical_evaluation"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"stage": "limbo"}, "stage"),
        ({"status": "pending"}, "status"),
        ({"sort": "random"}, "sort"),
        ({"page": "0"}, "page"),
        ({"therapist": "abc"}, "therapist"),
    ],
)
def test_bad_list_filter_is_422_naming_it(world, api, params, field):
    response = api(world.therapist).get(**params)
    assert response.status_code == 422
    assert _fields(response) == {field}


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("records", {"kind": "dosing"}, "kind"),
        ("records", {"kind": "preparation", "occurred_at": "2025-01-01T10:00:00"}, "occurred_at"),
        ("records", {"kind": "prescription"}, "kind"),
        ("dosing", {**GOOD_DAY, "bp_systolic": 900}, "bp_systolic"),
        ("dosing", {"bp_systolic": 120, "bp_diastolic": 80}, "alcohol_free_24h"),
        ("transitions", {"action": "start_preparation", "preparation_planned": 4},
         "preparation_planned"),
    ],
)  # fmt: skip
def test_bad_body_is_422_naming_the_field(world, api, path, body, field):
    course = _course(world, stage="active")
    response = api(world.therapist).post(f"/{course.pk}/{path}", body)
    assert response.status_code == 422
    assert field in _fields(response)


json_values = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=30)
    | st.sampled_from(
        ["2025-01-01", "2025-01-01T10:00:00", "2025-01-01T10:00:00Z", "activate", "prescription"]
    )
)
body_fields = st.sampled_from(
    [
        "action", "reason", "prescriber_id", "clearance_on", "clearance_valid_days",
        "consent_version", "preparation_planned", "kind", "occurred_at", "note", "positive",
        "doses_authorised", "bp_systolic", "bp_diastolic", "alcohol_free_24h",
        "companion_present", "driver_confirmed", "overrides",
    ]
)  # fmt: skip


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.dictionaries(body_fields, json_values, max_size=6))
def test_no_body_gives_a_server_error(world, api, body):
    course = Course.objects.filter(client=world.client).first() or _course(world, stage="active")
    therapist = api(world.therapist)
    for path in ["transitions", "records", "dosing"]:
        response = therapist.post(f"/{course.pk}/{path}", body)
        assert response.status_code < 500, (path, body, response.content[:300])
        if response.status_code >= 400:
            assert "errors" in response.json()


# ---- gates --------------------------------------------------------------------------------


def test_gates_list_the_dosing_reasons_in_preparation(world, api):
    course = _course(world, stage="preparation")
    response = api(world.therapist).get(f"/{course.pk}/gates")
    assert response.status_code == 200
    body = response.json()
    assert {r["code"] for r in body["dosing"]} == {
        "stage.not_active",
        "prescription.missing",
        "preparation.none",
        "screen.missing",
    }
    assert set(body["transitions"]) == {"activate", "discharge", "withdraw"}
    assert {r["code"] for r in body["transitions"]["activate"]} == {
        "preparation.none",
        "prescription.missing",
    }
    assert body["transitions"]["discharge"] == []
    assert [d["code"] for d in body["deadlines"]] == ["preparation.due"]


# ---- queries and schema -------------------------------------------------------------------


def _make_courses(world, n):
    stages = ["inquiry", "referred", "preparation", "active"]
    for i in range(n):
        client = ClientFactory(organisation=world.practice)
        on_team(client, world.therapist)
        make_course(client, world.therapist, prescriber=world.prescriber,
                    stage=stages[i % len(stages)])  # fmt: skip


def test_list_queries_are_the_same_for_10_and_100_courses(client, world, api):
    therapist = api(world.therapist)

    def count():
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(URL, {"status": "all"}, **therapist.headers)
        assert response.status_code == 200
        return len(ctx.captured_queries), len(response.json()["results"])

    _make_courses(world, 10)
    small, rows = count()
    assert rows == 10
    _make_courses(world, 90)
    large, rows = count()
    assert rows == 25
    assert small == large


def test_openapi_lists_the_course_paths(client, db):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    for path in [
        "/api/v1/courses",
        "/api/v1/courses/{course_id}",
        "/api/v1/courses/{course_id}/gates",
        "/api/v1/courses/{course_id}/transitions",
        "/api/v1/courses/{course_id}/records",
        "/api/v1/courses/{course_id}/dosing",
    ]:
        assert path in paths
    assert paths["/api/v1/courses"]["get"]["summary"] == "List courses"
    assert "every reason" in paths["/api/v1/courses/{course_id}/dosing"]["post"]["description"]
