"""The prescribing API (/api/v1/prescribing): happy paths, refusals as 409 with every reason
and its overridable flag, 422 naming the field, 404 for another organisation, and no body
that gives a server error."""

import datetime
import json

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kapflow.accounts import services as account_services
from kapflow.core.errors import NotFound
from kapflow.courses.models import Course, CourseEvent
from kapflow.prescriptions import selectors
from kapflow.prescriptions.models import (
    Dispense,
    EligibilityDecision,
    MedicalEvaluation,
    Prescription,
    Referral,
)
from tests.accounts.factories import practice_today
from tests.courses.factories import make_course
from tests.patients.factories import ClientFactory, on_team
from tests.prescriptions.factories import CLEAN_CHECKLIST, evaluate, prescribe, refer

URL = "/api/v1/prescribing"
TODAY = practice_today
DAY = datetime.timedelta(days=1)


@pytest.fixture
def api(client):
    """api(actor).get(path, **params) / .post(path, body) / .put(path, body), with a token."""

    class Api:
        def __init__(self, actor):
            _, raw = account_services.api_token_create(actor=actor, name="tests", mfa_verified=True)
            self.headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}

        def get(self, path="", **params):
            return client.get(URL + path, params, **self.headers)

        def _send(self, method, path, body):
            return method(
                URL + path,
                data=json.dumps(body if body is not None else {}, default=str),
                content_type="application/json",
                **self.headers,
            )

        def post(self, path="", body=None):
            return self._send(client.post, path, body)

        def put(self, path="", body=None):
            return self._send(client.put, path, body)

    return Api


def _codes(response) -> list[str]:
    return [e["code"] for e in response.json()["errors"]]


def _fields(response) -> set:
    return {e["field"] for e in response.json()["errors"]}


def _flags(response) -> dict:
    return {e["code"]: e["overridable"] for e in response.json()["errors"]}


def _course(world, stage, **fields):
    return make_course(
        world.client, world.therapist, prescriber=world.prescriber, stage=stage, **fields
    )


REFERRAL = {
    "reason": "Recurrent depression after two medication trials.", "diagnoses": ["F33.1"],
    "medications": "Sertraline 100 mg", "history": "No psychosis.", "share_scores": False,
    "consent_to_share": True, "consent_note": "Signed release of information on file.",
}  # fmt: skip

PRESCRIPTION = {
    "product": "ketamine_sl_rdt", "strength_mg": "100", "dose_mg": "200", "quantity": 2,
    "refills": 1, "pharmacy_name": "Cedar Compounding", "dea_number": "AB1234563",
}  # fmt: skip


def _evaluation_body(evaluation, **changes):
    return {
        "version": evaluation["version"], "evaluated_on": TODAY().isoformat(),
        "bp_systolic": 122, "bp_diastolic": 78, "pregnancy": "not_applicable",
        "ongoing_therapy": True, "checklist": CLEAN_CHECKLIST,
    } | changes  # fmt: skip


def _decision_body(world, evaluation, **changes):
    return {
        "decision": "eligible", "reason": "No contraindications found.",
        "signature": world.prescriber.user.full_name,
        "findings_digest": evaluation["findings_digest"], "clearance_valid_days": 180,
    } | changes  # fmt: skip


# ---- happy paths --------------------------------------------------------------------------


def test_send_accept_schedule_and_read_a_referral(world, api):
    course = make_course(world.unreferred, world.therapist, stage="intake")
    therapist, prescriber = api(world.therapist), api(world.prescriber)

    sent = therapist.post(
        "/referrals", REFERRAL | {"course_id": course.pk, "prescriber_id": world.prescriber.pk}
    )

    assert sent.status_code == 201, sent.content
    body = sent.json()
    assert (body["status"], body["course_id"], body["client_id"]) == (
        "sent", course.pk, world.unreferred.pk,
    )  # fmt: skip
    assert (body["practice"], body["partner"]) == ("Practice A", "Partner P")
    assert body["diagnoses"] == [
        {"code": "F33.1", "description": "Major depressive disorder, recurrent, moderate"}
    ]
    referral_id = body["id"]
    assert prescriber.get(f"/referrals/{referral_id}").json()["reason"] == REFERRAL["reason"]
    listed = prescriber.get("/referrals").json()
    assert (listed["count"], listed["results"][0]["id"]) == (1, referral_id)

    accepted = prescriber.post(f"/referrals/{referral_id}/accept")
    assert (accepted.status_code, accepted.json()["status"]) == (200, "accepted")
    # A booking lies within two years (decision 0027, Bounds): three weeks ahead.
    when = f"{TODAY() + datetime.timedelta(days=21)}T15:30:00"
    scheduled = prescriber.post(f"/referrals/{referral_id}/schedule", {"scheduled_for": when + "Z"})
    assert scheduled.status_code == 200, scheduled.content
    assert scheduled.json()["status"] == "scheduled"
    assert scheduled.json()["scheduled_for"].startswith(when)
    assert Course.objects.get(pk=course.pk).stage == "medical_evaluation"


def test_the_therapist_withdraws_a_referral(world, api):
    referral = refer(_course(world, "referred"), world.prescriber, status="sent")
    response = api(world.therapist).post(
        f"/referrals/{referral.pk}/close", {"reason": "Client chose another clinic."}
    )
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["status_reason"]) == (
        "withdrawn", "Client chose another clinic.",
    )  # fmt: skip
    assert Course.objects.get(pk=referral.course_id).stage == "intake"


@pytest.fixture
def opened(world, api):
    """world.client's course at medical evaluation with an empty evaluation, as JSON."""
    evaluation = evaluate(_course(world, "medical_evaluation"), world.prescriber, complete=False)
    response = api(world.prescriber).get(f"/referrals/{evaluation.referral_id}/evaluation")
    assert response.status_code == 200
    return response.json()


def test_the_evaluation_is_saved_screened_and_decided(world, api, opened):
    prescriber = api(world.prescriber)
    path = f"/referrals/{opened['referral_id']}/evaluation"
    assert opened["editable"] is True
    assert len(opened["checklist_items"]) == len(CLEAN_CHECKLIST)
    assert {f["code"] for f in opened["findings"]} >= {"missing.bp", "missing.checklist"}

    saved = prescriber.put(
        path, _evaluation_body(opened, medications=[{"name": "Xanax", "daily_dose_mg": 0.5}])
    )

    assert saved.status_code == 200, saved.content
    body = saved.json()
    assert body["version"] == opened["version"] + 1
    assert body["medications"] == [
        {"name": "alprazolam", "rxcui": "596", "dose": "", "daily_dose_mg": 0.5}
    ]
    assert [f["code"] for f in body["findings"]] == ["interaction.benzodiazepine"]
    assert body["findings"][0]["severity"] == "interaction"

    decided = prescriber.post(
        f"/referrals/{opened['referral_id']}/decision", _decision_body(world, body)
    )

    assert decided.status_code == 201, decided.content
    decision = decided.json()
    assert (decision["decision"], decision["clearance_valid_days"]) == ("eligible", 180)
    assert [f["code"] for f in decision["findings"]] == ["interaction.benzodiazepine"]
    assert decision["decided_by"] == str(world.prescriber.user)
    after = api(world.therapist).get(path).json()
    assert (after["editable"], after["decisions"][0]["id"]) == (False, decision["id"])
    course = MedicalEvaluation.objects.get(pk=after["id"]).course
    assert (course.stage, course.eligibility) == ("eligible", "eligible")


def test_write_fill_and_cancel_a_prescription(world, api):
    course = _course(world, "eligible")
    prescriber = api(world.prescriber)

    written = prescriber.post(f"/courses/{course.pk}/prescriptions", PRESCRIPTION)

    assert written.status_code == 201, written.content
    body = written.json()
    assert (body["status"], body["dea_schedule"], body["frequency"]) == (
        "active", "CIII", "per_session",
    )  # fmt: skip
    assert (body["doses_left"], body["fills_left"], body["dispenses"]) == (0, 2, [])
    rx_id = body["id"]

    filled = prescriber.post(
        f"/prescriptions/{rx_id}/fills",
        {"quantity": 2, "dispensed_on": TODAY().isoformat(), "shipped_on": TODAY().isoformat(),
         "tracking": "1Z999"},
    )  # fmt: skip
    assert filled.status_code == 201, filled.content
    assert (filled.json()["doses_left"], filled.json()["fills_left"]) == (2, 1)
    assert filled.json()["dispenses"][0]["fill_number"] == 0
    assert api(world.therapist).get(f"/prescriptions/{rx_id}").json()["doses_dispensed"] == 2

    cancelled = prescriber.post(f"/prescriptions/{rx_id}/cancel", {"reason": "Wrong pharmacy."})
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")


def test_record_a_followup(world, api):
    course = _course(world, "active")
    response = api(world.prescriber).post(
        f"/courses/{course.pk}/followups",
        {"plan": "continue", "note": "BP stable.", "bp_systolic": 124, "bp_diastolic": 80},
    )
    assert response.status_code == 201, response.content
    assert (response.json()["kind"], response.json()["data"]["plan"]) == ("followup", "continue")


def test_search_diagnoses_and_medications(world, api):
    therapist = api(world.therapist)
    found = therapist.post("/diagnoses/search", {"q": "F33.1"})
    assert found.status_code == 200
    assert found.json()[0] == {
        "code": "F33.1", "description": "Major depressive disorder, recurrent, moderate",
    }  # fmt: skip
    meds = therapist.get("/medications", q="Nardil").json()
    assert meds[0]["name"] == "phenelzine" and "maoi" in meds[0]["classes"]
    assert therapist.post("/diagnoses/search", {"q": "F"}).status_code == 422


# ---- 409: every reason with its overridable flag ------------------------------------------


def test_a_refused_prescription_lists_hard_and_soft_reasons(world, api):
    course = _course(world, "eligible")
    response = api(world.prescriber).post(
        f"/courses/{course.pk}/prescriptions", PRESCRIPTION | {"refills": 6, "dose_mg": "600"}
    )
    assert response.status_code == 409
    assert _flags(response) == {
        "prescription.too_many_refills": False,
        "prescription.dose_unusual": True,
    }
    assert not Prescription.objects.exists()


def test_an_unusual_dose_is_written_with_confirm_reason(world, api):
    course = _course(world, "eligible")
    prescriber = api(world.prescriber)
    refused = prescriber.post(f"/courses/{course.pk}/prescriptions",
                              PRESCRIPTION | {"dose_mg": "600"})  # fmt: skip
    assert _flags(refused) == {"prescription.dose_unusual": True}
    written = prescriber.post(
        f"/courses/{course.pk}/prescriptions",
        PRESCRIPTION | {"dose_mg": "600", "confirm_reason": "Tolerant at 400 mg."},
    )
    assert written.status_code == 201, written.content
    assert Prescription.objects.get().warnings_confirmed == ["prescription.dose_unusual"]


def test_eligible_lists_missing_items_and_exclusions(world, api, opened):
    prescriber = api(world.prescriber)
    path = f"/referrals/{opened['referral_id']}"
    saved = prescriber.put(
        f"{path}/evaluation", _evaluation_body(opened, pregnancy="pregnant", bp_systolic=None)
    ).json()

    response = prescriber.post(f"{path}/decision", _decision_body(world, saved))

    assert response.status_code == 409
    assert _flags(response) == {"missing.bp": False, "pregnancy.pregnant": True}
    assert not EligibilityDecision.objects.exists()


def test_a_stale_evaluation_is_409_evaluation_stale(world, api, opened):
    prescriber = api(world.prescriber)
    path = f"/referrals/{opened['referral_id']}/evaluation"
    assert prescriber.put(path, _evaluation_body(opened)).status_code == 200
    response = prescriber.put(path, _evaluation_body(opened, bp_systolic=190))
    assert response.status_code == 409
    assert _codes(response) == ["evaluation.stale"]
    assert MedicalEvaluation.objects.get().bp_systolic == 122


def test_deciding_on_changed_findings_is_409(world, api, opened):
    prescriber = api(world.prescriber)
    path = f"/referrals/{opened['referral_id']}"
    first = prescriber.put(f"{path}/evaluation", _evaluation_body(opened)).json()
    prescriber.put(f"{path}/evaluation", _evaluation_body(first, bp_systolic=150))
    response = prescriber.post(f"{path}/decision", _decision_body(world, first))
    assert response.status_code == 409
    assert _codes(response) == ["evaluation.findings_changed"]
    assert not EligibilityDecision.objects.exists()


def test_a_second_open_referral_is_409(world, api):
    course = _course(world, "referred")
    refer(course, world.prescriber, status="sent")
    response = api(world.therapist).post(
        "/referrals", REFERRAL | {"course_id": course.pk, "prescriber_id": world.prescriber.pk}
    )
    assert response.status_code == 409
    assert _codes(response) == ["referral.open"]
    assert Referral.objects.count() == 1


def test_a_fill_after_the_last_refill_is_409(world, api):
    prescription = prescribe(_course(world, "active", doses=0), doses=2, refills=0)
    response = api(world.prescriber).post(
        f"/prescriptions/{prescription.pk}/fills",
        {"quantity": 1, "dispensed_on": TODAY().isoformat()},
    )
    assert response.status_code == 409
    assert _flags(response) == {"prescription.no_refills_left": False}


def test_the_therapist_cannot_prescribe(world, api):
    course = _course(world, "eligible")
    response = api(world.therapist).post(f"/courses/{course.pk}/prescriptions", PRESCRIPTION)
    assert response.status_code == 403
    assert _codes(response) == ["permission_denied"]


# ---- 422 names the field ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"consent_to_share": False}, "consent_to_share"),
        ({"consent_note": ""}, "consent_note"),
        ({"diagnoses": ["XYZ"]}, "diagnoses"),
        ({"diagnoses": []}, "diagnoses"),
        ({"reason": ""}, "reason"),
        ({"prescriber_id": "someone"}, "prescriber_id"),
    ],
)
def test_a_bad_referral_is_422_naming_the_field(world, api, changes, field):
    course = make_course(world.unreferred, world.therapist, stage="intake")
    response = api(world.therapist).post(
        "/referrals",
        REFERRAL | {"course_id": course.pk, "prescriber_id": world.prescriber.pk} | changes,
    )
    assert response.status_code == 422, response.content
    assert field in _fields(response)
    assert not Referral.objects.exists()


def test_a_non_prescriber_is_422_naming_prescriber(world, api):
    course = make_course(world.unreferred, world.therapist, stage="intake")
    response = api(world.therapist).post(
        "/referrals", REFERRAL | {"course_id": course.pk, "prescriber_id": world.therapist2.pk}
    )
    assert response.status_code == 422
    assert _fields(response) == {"prescriber"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"checklist": CLEAN_CHECKLIST | {"contra.made_up": True}}, "checklist"),
        ({"bp_systolic": 400}, "bp_systolic"),
        ({"pregnancy": "maybe"}, "pregnancy"),
        ({"evaluated_on": "2999-01-01"}, "evaluated_on"),
        ({"medications": [{"name": "Xanax", "daily_dose_mg": -1}]}, "medications.0.daily_dose_mg"),
        ({"version": 0}, "version"),
    ],
)
def test_a_bad_evaluation_is_422_naming_the_field(world, api, opened, changes, field):
    response = api(world.prescriber).put(
        f"/referrals/{opened['referral_id']}/evaluation", _evaluation_body(opened) | changes
    )
    assert response.status_code == 422, response.content
    assert field in _fields(response)
    assert MedicalEvaluation.objects.get().version == opened["version"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"signature": "Somebody Else"}, "signature"),
        ({"decision": "maybe"}, "decision"),
        ({"findings_digest": "abc"}, "findings_digest"),
        ({"clearance_valid_days": None}, "clearance_valid_days"),
        ({"clearance_valid_days": 0}, "clearance_valid_days"),
    ],
)
def test_a_bad_decision_is_422_naming_the_field(world, api, opened, changes, field):
    prescriber = api(world.prescriber)
    path = f"/referrals/{opened['referral_id']}"
    saved = prescriber.put(f"{path}/evaluation", _evaluation_body(opened)).json()
    response = prescriber.post(f"{path}/decision", _decision_body(world, saved) | changes)
    assert response.status_code == 422, response.content
    assert field in _fields(response)
    assert not EligibilityDecision.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"dea_number": "AB1234564"}, "dea_number"),
        ({"dea_number": "AB12"}, "dea_number"),
        ({"product": "ketamine_powder"}, "product"),
        ({"quantity": 0}, "quantity"),
        ({"frequency": "weekly"}, "frequency"),
        ({"pharmacy_name": ""}, "pharmacy_name"),
    ],
)
def test_a_bad_prescription_is_422_naming_the_field(world, api, changes, field):
    course = _course(world, "eligible")
    response = api(world.prescriber).post(
        f"/courses/{course.pk}/prescriptions", PRESCRIPTION | changes
    )
    assert response.status_code == 422, response.content
    assert field in _fields(response)
    assert not Prescription.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"quantity": 3, "dispensed_on": TODAY().isoformat()}, "quantity"),
        ({"quantity": 1, "dispensed_on": (TODAY() + DAY).isoformat()}, "dispensed_on"),
        ({"quantity": 1, "dispensed_on": TODAY().isoformat(), "received_on": TODAY().isoformat()},
         "received_on"),
        ({"quantity": 1}, "dispensed_on"),
    ],
)  # fmt: skip
def test_a_bad_fill_is_422_naming_the_field(world, api, body, field):
    prescription = prescribe(_course(world, "active", doses=0), doses=0, quantity=2)
    response = api(world.prescriber).post(f"/prescriptions/{prescription.pk}/fills", body)
    assert response.status_code == 422, response.content
    assert field in _fields(response)
    assert not Dispense.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [({"plan": "continue"}, "note"), ({"plan": "later", "note": "x"}, "plan"),
     ({"plan": "continue", "note": "x", "occurred_at": "2025-01-01T10:00:00"}, "occurred_at")],
)  # fmt: skip
def test_a_bad_followup_is_422_naming_the_field(world, api, body, field):
    course = _course(world, "active")
    response = api(world.prescriber).post(f"/courses/{course.pk}/followups", body)
    assert response.status_code == 422
    assert field in _fields(response)
    assert not CourseEvent.objects.filter(course=course, kind="followup").exists()


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
def test_a_datetime_past_the_calendars_end_in_utc_is_422(world, api, moment):
    referral = refer(_course(world, "medical_evaluation"), world.prescriber, status="accepted")
    prescriber = api(world.prescriber)
    scheduled = prescriber.post(f"/referrals/{referral.pk}/schedule", {"scheduled_for": moment})
    assert scheduled.status_code == 422, scheduled.content
    assert _fields(scheduled) == {"scheduled_for"}
    referral.refresh_from_db()
    assert (referral.status, referral.scheduled_for) == ("accepted", None)


def test_a_followup_time_past_the_calendars_start_in_utc_is_422(world, api):
    other = make_course(world.unreferred, world.therapist, prescriber=world.prescriber,
                        stage="active")  # fmt: skip
    on_team(world.unreferred, world.prescriber, role="prescriber")
    response = api(world.prescriber).post(
        f"/courses/{other.pk}/followups",
        {"plan": "continue", "note": "x", "occurred_at": "0001-01-01T00:00:00+05:00"},
    )
    assert response.status_code == 422, response.content
    assert _fields(response) == {"occurred_at"}


# ---- another organisation gets 404 --------------------------------------------------------


@pytest.fixture
def everything(world):
    """One of each: a course with an evaluated referral, its evaluation and a prescription."""
    course = _course(world, "active")
    referral = refer(course, world.prescriber, status="evaluated")
    evaluate(course, world.prescriber, referral=referral)
    return course, referral, course.prescriptions.get()


@pytest.mark.parametrize("who", ["other_admin", "other_therapist"])
def test_another_organisation_gets_404_everywhere(world, api, everything, who):
    course, referral, prescription = everything
    outsider = api(getattr(world, who))
    r, c, p = referral.pk, course.pk, prescription.pk
    assert outsider.get("/referrals", status="all").json()["count"] == 0
    for response in [
        outsider.get(f"/referrals/{r}"),
        outsider.post(f"/referrals/{r}/accept"),
        outsider.post(f"/referrals/{r}/schedule", {"scheduled_for": "2031-01-01T10:00:00Z"}),
        outsider.post(f"/referrals/{r}/close", {"reason": "No."}),
        outsider.get(f"/referrals/{r}/evaluation"),
        outsider.put(f"/referrals/{r}/evaluation", {"version": 1, "evaluated_on": "2025-01-01"}),
        outsider.post(f"/referrals/{r}/decision", {"decision": "not_eligible", "reason": "x",
                                                   "signature": "x", "findings_digest": "0" * 64}),
        outsider.post("/referrals", REFERRAL | {"course_id": c, "prescriber_id": 1}),
        outsider.post(f"/courses/{c}/prescriptions", PRESCRIPTION),
        outsider.get(f"/prescriptions/{p}"),
        outsider.post(f"/prescriptions/{p}/fills", {"quantity": 1, "dispensed_on": "2025-01-01"}),
        outsider.post(f"/prescriptions/{p}/cancel", {"reason": "No."}),
        outsider.post(f"/courses/{c}/followups", {"plan": "stop", "note": "x"}),
    ]:  # fmt: skip
        assert response.status_code == 404, (response.request["PATH_INFO"], response.content)
        assert _codes(response) == ["not_found"]
    prescription.refresh_from_db()
    assert (prescription.status, prescription.dispenses.count()) == ("active", 1)
    referral.refresh_from_db()
    assert referral.status == "evaluated"


def test_the_biller_gets_404(world, api, everything):
    course, referral, prescription = everything
    biller = api(world.biller)
    assert biller.get("/referrals").status_code == 404
    assert biller.get(f"/referrals/{referral.pk}").status_code == 404
    assert biller.get(f"/prescriptions/{prescription.pk}").status_code == 404
    assert (
        biller.post(f"/courses/{course.pk}/followups", {"plan": "stop", "note": "x"}).status_code
        == 404
    )


def test_huge_ids_are_404(world, api):
    prescriber = api(world.prescriber)
    huge = 10**30
    assert prescriber.get(f"/referrals/{huge}").status_code == 404
    assert prescriber.post(f"/prescriptions/{huge}/cancel", {"reason": "x"}).status_code == 404
    assert prescriber.post(f"/courses/{huge}/prescriptions", PRESCRIPTION).status_code == 404


# ---- no body gives a server error ---------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(
        [
            "2025-01-01", "0001-01-01", "9999-12-31", "2025-01-01T10:00:00Z",
            "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "F33.1", "Nardil",
            "2031-01-01T10:00:00+14:00",
            "eligible", "not_eligible", "needs_info", "continue", "ketamine_sl_rdt",
            "ketamine_inj_50", "daily", "per_session", "AB1234563", "pregnant", "0" * 64,
        ]
    )
)  # fmt: skip
check_codes = st.sampled_from([*CLEAN_CHECKLIST, "x"])
values = (
    scalars
    | st.lists(scalars, max_size=3)
    | st.dictionaries(check_codes, st.none() | st.booleans() | scalars, max_size=4)
    | st.lists(
        st.fixed_dictionaries(
            {"name": scalars},
            optional={"rxcui": scalars, "dose": scalars, "daily_dose_mg": scalars},
        ),
        max_size=3,
    )
)
body_fields = st.sampled_from(
    [
        "course_id", "prescriber_id", "reason", "diagnoses", "medications", "history",
        "share_scores", "consent_to_share", "consent_note", "scheduled_for", "version",
        "evaluated_on", "modality", "bp_systolic", "bp_diastolic", "heart_rate", "weight_kg",
        "height_cm", "pregnancy", "ongoing_therapy", "checklist", "decision", "signature",
        "findings_digest", "acknowledge_exclusions", "clearance_valid_days", "product",
        "frequency", "strength_mg", "dose_mg", "quantity", "refills", "pharmacy_name",
        "dea_number", "written_on", "confirm_reason", "dispensed_on", "shipped_on",
        "received_on", "tracking", "plan", "note", "occurred_at", "q",
    ]
)  # fmt: skip
bodies = st.dictionaries(body_fields, values, max_size=8) | scalars | st.lists(scalars, max_size=2)


@pytest.fixture
def fuzzed(world):
    """Something for every POST/PUT endpoint to act on: world.unreferred's course at intake
    (to refer), world.client's at medical evaluation (to accept, evaluate and decide), and
    another client's active course with a prescription (to prescribe, fill and follow up)."""
    evaluation = evaluate(_course(world, "medical_evaluation"), world.prescriber, complete=False)
    intake = make_course(world.unreferred, world.therapist, stage="intake")
    someone = ClientFactory(organisation=world.practice)
    on_team(someone, world.therapist)
    on_team(someone, world.prescriber, role="prescriber")
    active = make_course(someone, world.therapist, prescriber=world.prescriber, stage="active",
                         doses=0)  # fmt: skip
    prescription = prescribe(active, doses=1, refills=5, quantity=10)
    return evaluation, intake, active, prescription


def _valid_bodies(world, evaluation, intake):
    """A valid body per endpoint, for random fields to be laid over."""
    try:
        view = selectors.evaluation_get_for_actor(
            actor=world.prescriber, referral_id=evaluation.referral_id
        )
        version, digest = view.evaluation.version, view.digest
    except NotFound:  # the referral was closed by an earlier call
        version, digest = 1, "0" * 64
    today = TODAY().isoformat()
    return {
        "/referrals": REFERRAL | {"course_id": intake.pk, "prescriber_id": world.prescriber.pk},
        "close": {"reason": "Closed."},
        "accept": {},
        "schedule": {"scheduled_for": "2031-01-01T10:00:00Z"},
        "evaluation": _evaluation_body({"version": version}),
        "decision": _decision_body(world, {"findings_digest": digest}),
        "prescriptions": PRESCRIPTION,
        "fills": {"quantity": 1, "dispensed_on": today},
        "cancel": {"reason": "Cancelled."},
        "followups": {"plan": "continue", "note": "Fine."},
        "search": {"q": "F33"},
    }


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies)
def test_no_body_gives_a_server_error(world, api, fuzzed, body):
    evaluation, intake, active, prescription = fuzzed
    r = evaluation.referral_id
    calls = [
        ("therapist", "post", "/referrals", "/referrals"),
        ("prescriber", "post", f"/referrals/{r}/accept", "accept"),
        ("prescriber", "post", f"/referrals/{r}/schedule", "schedule"),
        ("prescriber", "put", f"/referrals/{r}/evaluation", "evaluation"),
        ("prescriber", "post", f"/referrals/{r}/decision", "decision"),
        ("prescriber", "post", f"/courses/{active.pk}/prescriptions", "prescriptions"),
        ("prescriber", "post", f"/prescriptions/{prescription.pk}/fills", "fills"),
        ("prescriber", "post", f"/courses/{active.pk}/followups", "followups"),
        ("prescriber", "post", f"/prescriptions/{prescription.pk}/cancel", "cancel"),
        ("therapist", "post", "/diagnoses/search", "search"),
        ("therapist", "post", f"/referrals/{r}/close", "close"),
    ]
    with transaction.atomic():  # every example starts from the same records
        clients = {"therapist": api(world.therapist), "prescriber": api(world.prescriber)}
        for who, method, path, key in calls:
            payloads = [body]
            if isinstance(body, dict):  # also laid over a valid body, to reach the services
                payloads.append(_valid_bodies(world, evaluation, intake)[key] | body)
            for payload in payloads:
                response = getattr(clients[who], method)(path, payload)
                assert response.status_code < 500, (path, payload, response.content[:300])
                if response.status_code >= 400:
                    assert "errors" in response.json()
        transaction.set_rollback(True)


@pytest.mark.parametrize("raw", ["", "not json", "{", "[]", "null", '{"version": 1e400}'])
def test_malformed_json_is_a_4xx(world, api, client, opened, raw):
    prescriber = api(world.prescriber)
    response = client.put(
        f"{URL}/referrals/{opened['referral_id']}/evaluation", data=raw,
        content_type="application/json", **prescriber.headers,
    )  # fmt: skip
    assert 400 <= response.status_code < 500, (raw, response.content)


def test_openapi_lists_the_prescribing_paths(client, db):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    for path in [
        "/api/v1/prescribing/referrals",
        "/api/v1/prescribing/referrals/{referral_id}",
        "/api/v1/prescribing/referrals/{referral_id}/evaluation",
        "/api/v1/prescribing/referrals/{referral_id}/decision",
        "/api/v1/prescribing/courses/{course_id}/prescriptions",
        "/api/v1/prescribing/prescriptions/{prescription_id}/fills",
    ]:
        assert path in paths
    assert "put" in paths["/api/v1/prescribing/referrals/{referral_id}/evaluation"]
