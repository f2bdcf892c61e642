"""The course pages' other paths (issue 20): opening a course from the client page, a step or
a record refused for its input (422, the field named, nothing written), the dosing start
and the standing override refused by the gate (409), and who is turned away."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from kapflow.audit.models import AuditEvent
from kapflow.courses.models import Course, CourseEvent, OverrideDecision
from tests.conftest import sign_in
from tests.courses.factories import event, make_course

pytestmark = pytest.mark.django_db

OPEN = {"condition": "depression", "pathway": "low_dose", "delivery": "in_person"}


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _ready(world):
    course = make_course(world.client, world.therapist, prescriber=world.prescriber, stage="active")
    event(course, world.therapist, "risk_screen", positive=False)
    return course


# ---- the prescriber's old dashboard address -----------------------------------------------


def test_the_prescriber_dashboard_moved_to_the_prescribing_queue(client, world):
    sign_in(client, world.prescriber.user)
    response = client.get(reverse("courses:prescriber"))
    assert response.status_code == 302
    assert response["Location"] == reverse("prescriptions:queue")


def test_the_prescriber_dashboard_is_not_found_for_a_therapist(client, world):
    sign_in(client, world.therapist.user)
    assert client.get(reverse("courses:prescriber")).status_code == 404


# ---- opening a course -----------------------------------------------------------------------


def test_a_therapist_on_the_team_opens_a_course_at_inquiry(client, world):
    sign_in(client, world.therapist.user)

    response = client.post(reverse("courses:open", args=[world.unreferred.pk]), OPEN)

    course = Course.objects.get(client=world.unreferred)
    assert response.status_code == 302
    assert response["Location"] == course.get_absolute_url()
    assert (course.stage, course.pathway, course.therapist_id) == (
        "inquiry",
        "low_dose",
        world.therapist.pk,
    )
    assert _messages(response) == ["Course opened at inquiry."]


def test_opening_with_the_intake_starts_it_in_the_same_press(client, world):
    sign_in(client, world.therapist.user)

    response = client.post(
        reverse("courses:open", args=[world.unreferred.pk]), {**OPEN, "then": "start_intake"}
    )

    course = Course.objects.get(client=world.unreferred)
    assert response.status_code == 302
    assert course.stage == "intake"
    assert _messages(response) == ["Course opened; intake started."]


def test_an_open_form_without_a_pathway_opens_nothing(client, world):
    sign_in(client, world.therapist.user)

    response = client.post(
        reverse("courses:open", args=[world.unreferred.pk]), {**OPEN, "pathway": ""}
    )

    assert response.status_code == 302
    assert response["Location"] == world.unreferred.get_absolute_url()
    assert _messages(response) == ["Choose a pathway and a delivery."]
    assert not Course.objects.filter(client=world.unreferred).exists()


def test_a_second_open_course_is_refused_with_the_reason(client, world):
    make_course(world.unreferred, world.therapist, stage="intake")
    sign_in(client, world.therapist.user)

    response = client.post(reverse("courses:open", args=[world.unreferred.pk]), OPEN)

    assert response.status_code == 302
    assert response["Location"] == world.unreferred.get_absolute_url()
    assert len(_messages(response)) == 1
    assert Course.objects.filter(client=world.unreferred).count() == 1


@pytest.mark.parametrize("who", ["other_admin", "other_therapist", "client_member", "therapist2"])
def test_who_cannot_see_the_client_gets_404_and_no_course(client, world, who):
    sign_in(client, getattr(world, who).user)
    response = client.post(reverse("courses:open", args=[world.unreferred.pk]), OPEN)
    assert response.status_code == 404
    assert not Course.objects.filter(client=world.unreferred).exists()


# ---- a step or a record refused for its input ------------------------------------------------


def test_a_step_without_an_action_is_refused_with_422_and_changes_nothing(client, world):
    course = make_course(world.client, world.therapist, stage="inquiry")
    sign_in(client, world.therapist.user)
    url = reverse("courses:transition", args=[course.pk])

    response = client.post(url, {"action": "", "prescriber": "0"})

    assert response.status_code == 422
    [message] = response.context["input_errors"]
    assert "Prescriber:" in message
    assert Course.objects.get(pk=course.pk).stage == "inquiry"


def test_a_referral_step_posted_here_is_refused_with_its_reason_not_a_500(client, world):
    course = make_course(world.client, world.therapist, prescriber=world.prescriber,
                         stage="medical_evaluation")  # fmt: skip
    sign_in(client, world.prescriber.user)

    response = client.post(
        reverse("courses:transition", args=[course.pk]), {"action": "decide_not_eligible"}
    )

    assert response.status_code == 422
    assert response.context["input_errors"] == [
        "Referral, evaluation and eligibility steps are taken on the referral page."
    ]
    assert Course.objects.get(pk=course.pk).stage == "medical_evaluation"


def test_a_step_the_service_refuses_for_its_input_names_the_field(client, world):
    course = make_course(world.client, world.therapist, stage="intake")
    sign_in(client, world.therapist.user)

    response = client.post(
        reverse("courses:transition", args=[course.pk]), {"action": "no_such_step"}
    )

    assert response.status_code == 422
    assert response.context["input_errors"] == ["Unknown step."]
    assert Course.objects.get(pk=course.pk).stage == "intake"


def test_a_screen_recorded_on_the_page_is_stored_and_audited(client, world):
    course = make_course(world.client, world.therapist, prescriber=world.prescriber,
                         stage="eligible")  # fmt: skip
    sign_in(client, world.therapist.user)

    response = client.post(
        reverse("courses:record", args=[course.pk]), {"kind": "risk_screen", "positive": "no"}
    )

    assert response.status_code == 302
    assert _messages(response) == ["Recorded."]
    recorded = CourseEvent.objects.filter(course=course, kind="risk_screen").get()
    assert (recorded.positive, recorded.actor_membership_id) == (False, world.therapist.pk)
    audited = AuditEvent.objects.get(action="course.record_risk_screen")
    assert (audited.target_id, audited.client_id) == (recorded.pk, world.client.pk)


def test_a_record_in_the_future_or_without_a_kind_is_refused_and_not_stored(client, world):
    course = make_course(world.client, world.therapist, prescriber=world.prescriber,
                         stage="eligible")  # fmt: skip
    sign_in(client, world.therapist.user)
    url = reverse("courses:record", args=[course.pk])
    before = CourseEvent.objects.filter(course=course).count()

    future = client.post(url, {"kind": "risk_screen", "occurred_at": "2099-01-01T10:00"})
    no_kind = client.post(url, {"kind": ""})

    assert future.status_code == no_kind.status_code == 422
    assert future.context["input_errors"] == ["This cannot be in the future."]
    assert no_kind.context["input_errors"] == ["kind: This field is required."]
    assert CourseEvent.objects.filter(course=course).count() == before


@pytest.mark.parametrize("who", ["other_admin", "therapist2", "biller"])
def test_a_record_on_a_course_one_cannot_see_is_404(client, world, who):
    course = make_course(world.client, world.therapist, stage="eligible")
    sign_in(client, getattr(world, who).user)
    before = CourseEvent.objects.filter(course=course).count()

    response = client.post(reverse("courses:record", args=[course.pk]), {"kind": "risk_screen"})

    assert response.status_code == 404
    assert CourseEvent.objects.filter(course=course).count() == before


# ---- the gate on the dosing start and the standing override ---------------------------------


def test_a_dosing_start_with_high_blood_pressure_is_refused_with_409(client, world):
    course = _ready(world)
    sign_in(client, world.therapist.user)

    response = client.post(
        reverse("courses:dosing", args=[course.pk]),
        {"amount_mg": "100", "bp_systolic": "170", "bp_diastolic": "95",
         "alcohol_free_24h": "on", "driver_confirmed": "on"},
    )  # fmt: skip

    assert response.status_code == 409
    assert "vitals.bp_high" in response.content.decode()
    assert not CourseEvent.objects.filter(course=course, kind="dosing").exists()


def test_the_override_page_shows_the_form(client, world):
    course = _ready(world)
    sign_in(client, world.prescriber.user)
    response = client.get(reverse("courses:override_sign", args=[course.pk]))
    assert response.status_code == 200
    assert "override_codes" in response.context["form"].fields


def test_the_prescriber_signs_a_standing_override_for_high_blood_pressure(client, world):
    course = _ready(world)
    sign_in(client, world.prescriber.user)

    response = client.post(
        reverse("courses:override_sign", args=[course.pk]),
        {"bp_systolic": "170", "bp_diastolic": "95", "override_codes": ["vitals.bp_high"],
         "override_category": "prescriber_reviewed",
         "override_rationale": "Known hypertension, 168/94 at last visit; reviewed, proceed."},
    )  # fmt: skip

    assert response.status_code == 302
    decision = OverrideDecision.objects.get(course=course)
    assert (decision.codes, decision.signed_by_id) == (["vitals.bp_high"], world.prescriber.pk)
    assert AuditEvent.objects.filter(action="course.gate_override").count() == 1


def test_an_override_the_gate_does_not_give_is_refused_and_not_signed(client, world):
    course = _ready(world)
    sign_in(client, world.prescriber.user)

    response = client.post(
        reverse("courses:override_sign", args=[course.pk]),
        {"bp_systolic": "120", "bp_diastolic": "80", "override_codes": ["vitals.bp_high"],
         "override_category": "prescriber_reviewed", "override_rationale": "Reviewed."},
    )  # fmt: skip

    assert response.status_code == 200
    assert response.context["form"].errors["__all__"] == [
        "The gate does not give these reasons now: vitals.bp_high."
    ]
    assert not OverrideDecision.objects.filter(course=course).exists()


def test_an_override_without_a_reason_ticked_names_the_field(client, world):
    course = _ready(world)
    sign_in(client, world.prescriber.user)

    response = client.post(
        reverse("courses:override_sign", args=[course.pk]), {"bp_systolic": "170"}
    )

    assert response.status_code == 200
    assert "override_codes" in response.context["form"].errors
    assert not OverrideDecision.objects.filter(course=course).exists()


def test_the_gate_settings_refuse_an_impossible_threshold_by_its_field(client, world):
    sign_in(client, world.admin.user)
    response = client.post(
        reverse("courses:settings"),
        {"bp_systolic_max": "400", "bp_diastolic_max": "90", "screen_valid_days": "30",
         "integration_hours": "72", "followup_grace_days": "7", "followup_interval_days": "30",
         "dose_interval_hours": "24"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "bp_systolic_max" in response.context["form"].errors
