"""Prescribing pages: each renders for its owner with what matters on it, forms show field
errors (422) and every gate reason (409) without a server error, and the lists cost the same
number of queries however many clients are referred."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kapflow.clinical.eligibility import CHECKLIST
from kapflow.courses.models import Course, DueItem
from kapflow.prescriptions import selectors
from kapflow.prescriptions.models import (
    Dispense,
    DoseUse,
    EligibilityDecision,
    MedicalEvaluation,
    Prescription,
    Referral,
    RefillRequest,
)
from tests.accounts.factories import practice_today
from tests.conftest import sign_in
from tests.courses.factories import event, make_course
from tests.patients.factories import ClientFactory, on_team
from tests.prescriptions.factories import decide, evaluate, prescribe, refer

TODAY = practice_today
DAY = datetime.timedelta(days=1)


def _course(world, stage, **fields):
    return make_course(
        world.client, world.therapist, prescriber=world.prescriber, stage=stage, **fields
    )


def _text(response) -> str:
    return response.content.decode()


# ---- pages render for their owner --------------------------------------------------------


def test_the_queue_shows_new_referrals_and_evaluations(client, world):
    sent = refer(_course(world, "referred"), world.prescriber, status="sent")
    other = ClientFactory(organisation=world.practice)
    on_team(other, world.therapist)
    on_team(other, world.prescriber, role="prescriber")
    course = make_course(other, world.therapist, prescriber=world.prescriber,
                         stage="medical_evaluation")  # fmt: skip
    evaluating = evaluate(course, world.prescriber).referral
    sign_in(client, world.prescriber.user)

    page = _text(client.get("/prescribing/"))

    assert "New referrals (1)" in page and "Evaluations to decide (1)" in page
    assert f'href="/prescribing/referrals/{sent.pk}/">{world.client.legal_last_name}' in page
    assert f'href="/prescribing/referrals/{evaluating.pk}/evaluation/">{other.legal_last_name}' in (
        page
    )


def test_the_referral_list_shows_the_practices_referrals(client, world):
    referral = refer(_course(world, "referred"), world.prescriber, status="sent")
    sign_in(client, world.therapist.user)
    page = _text(client.get("/prescribing/referrals/"))
    assert f'href="/prescribing/referrals/{referral.pk}/"' in page
    assert world.client.legal_last_name in page and "Partner P" in page
    assert world.client.legal_last_name not in _text(
        client.get("/prescribing/referrals/", {"status": "declined"})
    )


def test_the_referral_form_offers_the_partners_prescriber(client, world):
    course = make_course(world.unreferred, world.therapist, stage="intake")
    sign_in(client, world.therapist.user)
    page = _text(client.get(f"/prescribing/courses/{course.pk}/refer/"))
    # The partner's one prescriber is chosen already (issue 17).
    assert (
        f'<option value="{world.prescriber.pk}" selected>{world.prescriber.user} — Partner P'
        in page
    )
    assert 'name="consent_to_share"' in page and 'name="diagnoses"' in page


def test_the_prescriber_reads_a_new_referral_and_may_accept_it(client, world):
    referral = refer(_course(world, "referred"), world.prescriber, status="sent")
    sign_in(client, world.prescriber.user)
    page = _text(client.get(f"/prescribing/referrals/{referral.pk}/"))
    assert "Depression that did not respond to two antidepressants." in page
    assert "F33.1 Major depressive disorder, recurrent, moderate" in page
    assert f'action="/prescribing/referrals/{referral.pk}/accept/"' in page
    assert "Decline the referral" in page


def test_accepting_on_the_page_opens_the_evaluation(client, world):
    referral = refer(_course(world, "referred"), world.prescriber, status="sent")
    sign_in(client, world.prescriber.user)
    response = client.post(f"/prescribing/referrals/{referral.pk}/accept/")
    assert response.status_code == 302
    assert MedicalEvaluation.objects.filter(referral=referral).exists()
    page = _text(client.get(f"/prescribing/referrals/{referral.pk}/evaluation/"))
    assert 'data-testid="evaluation-form"' in page and 'data-testid="decision-form"' in page
    assert 'data-code="missing.checklist"' in page and 'data-code="missing.bp"' in page


def test_the_evaluation_is_read_only_for_the_therapist(client, world):
    evaluation = evaluate(_course(world, "medical_evaluation"), world.prescriber)
    sign_in(client, world.therapist.user)
    page = _text(client.get(f"/prescribing/referrals/{evaluation.referral_id}/evaluation/"))
    assert "122/78 mmHg" in page
    assert 'data-testid="evaluation-form"' not in page
    assert 'data-testid="decision-form"' not in page
    assert "No findings" in page


def test_the_prescription_pages_render_for_the_prescriber(client, world):
    eligible = _course(world, "eligible")
    sign_in(client, world.prescriber.user)
    page = _text(client.get(f"/prescribing/courses/{eligible.pk}/prescribe/"))
    assert 'name="dea_number"' in page and "at most 5" in page
    prescription = prescribe(eligible, doses=2, refills=1)
    page = _text(client.get(f"/prescribing/prescriptions/{prescription.pk}/"))
    assert '<dd data-testid="doses-left">2 (0 used of 2 dispensed)</dd>' in page
    assert "1 of 2 used (1 left; 2 doses each)" in page
    assert "Record a fill" in page and "Cancel the prescription" in page


def test_the_therapist_reads_the_prescription_without_its_forms(client, world):
    prescription = _course(world, "active").prescriptions.get()
    sign_in(client, world.therapist.user)
    page = _text(client.get(f"/prescribing/prescriptions/{prescription.pk}/"))
    assert 'data-testid="doses-left">2 (0 used of 2 dispensed)' in page
    assert "Record a fill" not in page and "Cancel the prescription" not in page


def test_the_followup_page_says_when_it_is_overdue(client, world):
    course = _course(world, "active")
    event(course, world.therapist, "dosing", at=timezone.now() - 30 * DAY)
    event(course, world.therapist, "dosing", at=timezone.now() - 29 * DAY)
    sign_in(client, world.prescriber.user)
    page = _text(client.get(f"/prescribing/courses/{course.pk}/followup/"))
    assert "<strong>Overdue</strong> since" in page
    response = client.post(f"/prescribing/courses/{course.pk}/followup/",
                           {"plan": "continue", "note": "BP 124/80, sleeping well."})  # fmt: skip
    assert response.status_code == 302
    assert "<strong>Overdue</strong>" not in _text(
        client.get(f"/prescribing/courses/{course.pk}/followup/")
    )


def test_the_client_logs_a_daily_dose_on_the_portal(client, world):
    course = _course(world, "active", pathway="low_dose", delivery="at_home", doses=0)
    prescribe(course, doses=5, quantity=5, written_on=TODAY() - 2 * DAY)
    sign_in(client, world.client_member.user)
    assert "5 doses left from your pharmacy fills." in _text(client.get("/prescribing/mine/doses/"))

    response = client.post("/prescribing/mine/doses/", {"taken_on": TODAY().isoformat()})

    assert response.status_code == 302
    page = _text(client.get("/prescribing/mine/doses/"))
    assert "4 doses left" in page and "Today's dose is logged." in page


def test_a_client_without_a_daily_plan_is_told_so(client, world):
    _course(world, "active")
    sign_in(client, world.client_member.user)
    assert "Your plan has no daily doses to log." in _text(client.get("/prescribing/mine/doses/"))


# ---- refusals on the forms ---------------------------------------------------------------


REFERRAL = {
    "prescriber": "", "reason": "Recurrent depression.", "diagnoses": "F33.1",
    "consent_to_share": "on", "consent_note": "Signed release on file.",
}  # fmt: skip


@pytest.fixture
def intake(world):
    return make_course(world.unreferred, world.therapist, stage="intake")


def test_a_referral_is_sent_from_the_page(client, world, intake):
    sign_in(client, world.therapist.user)
    response = client.post(
        f"/prescribing/courses/{intake.pk}/refer/",
        REFERRAL | {"prescriber": world.prescriber.pk, "diagnoses": ["F33.1", "F41.1, F43.10"]},
    )
    referral = Referral.objects.get()
    assert (
        response.status_code == 302
        and response["Location"] == f"/prescribing/referrals/{referral.pk}/"
    )
    assert [d["code"] for d in referral.diagnoses] == ["F33.1", "F41.1", "F43.10"]


@pytest.mark.parametrize(
    ("changes", "shown"),
    [
        ({"consent_to_share": ""}, "The client must consent to sharing"),
        ({"consent_note": ""}, "Say how the client gave consent"),
        ({"diagnoses": "Q99.999"}, "Not an ICD-10-CM code: Q99.999. Pick from the list."),
        ({"diagnoses": ""}, "Add at least one diagnosis."),
        ({"reason": ""}, "Reason for referral: This field is required."),
    ],
)
def test_a_bad_referral_shows_the_field_error(client, world, intake, changes, shown):
    sign_in(client, world.therapist.user)
    response = client.post(
        f"/prescribing/courses/{intake.pk}/refer/",
        REFERRAL | {"prescriber": world.prescriber.pk} | changes,
    )
    assert response.status_code == 422
    assert shown in _text(response)
    assert not Referral.objects.exists()


def test_a_second_referral_shows_the_refusal(client, world, intake):
    sign_in(client, world.therapist.user)
    body = REFERRAL | {"prescriber": world.prescriber.pk}
    assert client.post(f"/prescribing/courses/{intake.pk}/refer/", body).status_code == 302
    response = client.post(f"/prescribing/courses/{intake.pk}/refer/", body)
    assert response.status_code == 409
    assert "This course already has an open referral." in _text(response)
    assert Referral.objects.count() == 1


def test_accepting_twice_shows_the_refusal(client, world):
    referral = refer(_course(world, "referred"), world.prescriber, status="sent")
    sign_in(client, world.prescriber.user)
    client.post(f"/prescribing/referrals/{referral.pk}/accept/")
    response = client.post(f"/prescribing/referrals/{referral.pk}/accept/")
    assert response.status_code == 409
    assert "Only a newly sent referral is accepted." in _text(response)


def test_closing_without_a_reason_shows_the_field_error(client, world):
    referral = refer(_course(world, "referred"), world.prescriber, status="sent")
    sign_in(client, world.therapist.user)
    response = client.post(f"/prescribing/referrals/{referral.pk}/close/", {"reason": ""})
    assert response.status_code == 422
    assert "Reason: This field is required." in _text(response)
    referral.refresh_from_db()
    assert referral.status == "sent"


def test_closing_a_closed_referral_shows_the_refusal(client, world):
    referral = refer(_course(world, "intake"), world.prescriber, status="declined")
    sign_in(client, world.therapist.user)
    response = client.post(f"/prescribing/referrals/{referral.pk}/close/", {"reason": "Again."})
    assert response.status_code == 409
    assert "This referral is no longer open." in _text(response)


def test_a_bad_evaluation_date_shows_the_field_error(client, world):
    referral = refer(_course(world, "medical_evaluation"), world.prescriber, status="accepted")
    evaluate(referral.course, world.prescriber, referral=referral)
    sign_in(client, world.prescriber.user)
    response = client.post(
        f"/prescribing/referrals/{referral.pk}/schedule/", {"scheduled_for": "next week"}
    )
    assert response.status_code == 422
    assert "Evaluation date and time: Enter a valid date/time." in _text(response)


@pytest.fixture
def evaluating(world):
    """world.client's course at medical evaluation, nothing recorded yet (version 1)."""
    return evaluate(_course(world, "medical_evaluation"), world.prescriber, complete=False)


def _evaluation_form(evaluation, **changes):
    data = {
        "intent": "save", "version": evaluation.version, "evaluated_on": TODAY().isoformat(),
        "modality": "video", "pregnancy": "not_applicable", "ongoing_therapy": "yes",
        "bp_systolic": "122", "bp_diastolic": "78",
    }  # fmt: skip
    data |= {f"check_{item.code}": "no" for item in CHECKLIST}
    return data | changes


def test_saving_the_evaluation_screens_it_again(client, world, evaluating):
    sign_in(client, world.prescriber.user)
    url = f"/prescribing/referrals/{evaluating.referral_id}/evaluation/"
    response = client.post(url, _evaluation_form(evaluating, med_0_name="Nardil"))
    assert response.status_code == 302
    page = _text(client.get(url))
    assert 'data-code="interaction.maoi"' in page and "MAOI (phenelzine)" in page
    assert 'data-code="missing.bp"' not in page


def test_a_stale_evaluation_form_shows_the_conflict(client, world, evaluating):
    sign_in(client, world.prescriber.user)
    url = f"/prescribing/referrals/{evaluating.referral_id}/evaluation/"
    assert client.post(url, _evaluation_form(evaluating)).status_code == 302
    response = client.post(url, _evaluation_form(evaluating, bp_systolic="190"))  # version 1
    assert response.status_code == 409
    assert "Someone saved this evaluation after you opened it." in _text(response)
    evaluating.refresh_from_db()
    assert (evaluating.version, evaluating.bp_systolic) == (2, 122)


def test_an_out_of_range_vital_shows_the_field_error(client, world, evaluating):
    sign_in(client, world.prescriber.user)
    url = f"/prescribing/referrals/{evaluating.referral_id}/evaluation/"
    response = client.post(url, _evaluation_form(evaluating, bp_systolic="400"))
    assert response.status_code == 422
    assert "Blood pressure, systolic (mmHg): Ensure this value is less than or equal to 260." in (
        _text(response)
    )
    evaluating.refresh_from_db()
    assert evaluating.version == 1


def _decision_form(world, evaluation, **changes):
    digest = selectors.evaluation_get_for_actor(
        actor=world.prescriber, referral_id=evaluation.referral_id
    ).digest
    data = {
        "intent": "decide", "decision": "eligible", "reason": "No contraindications.",
        "clearance_valid_days": "180", "signature": world.prescriber.user.full_name,
        "findings_digest": digest,
    }  # fmt: skip
    return data | changes


def test_deciding_eligible_with_missing_items_lists_each_one(client, world, evaluating):
    sign_in(client, world.prescriber.user)
    url = f"/prescribing/referrals/{evaluating.referral_id}/evaluation/"
    response = client.post(url, _decision_form(world, evaluating))
    assert response.status_code == 409
    page = _text(response)
    for message in ("Still missing: Blood pressure at evaluation is not recorded.",
                    "Still missing: Pregnancy and breastfeeding status is not recorded.",
                    "Still missing: Not recorded whether the client is in ongoing therapy",
                    "checklist questions not answered"):  # fmt: skip
        assert message in page
    assert 'value="No contraindications."' in page or "No contraindications.</textarea>" in page
    assert not EligibilityDecision.objects.exists()


def test_deciding_on_changed_findings_shows_the_conflict(client, world, evaluating):
    sign_in(client, world.prescriber.user)
    url = f"/prescribing/referrals/{evaluating.referral_id}/evaluation/"
    stale = _decision_form(world, evaluating)
    client.post(url, _evaluation_form(evaluating))
    response = client.post(url, stale)
    assert response.status_code == 409
    assert "The findings changed since the page was loaded." in _text(response)
    assert not EligibilityDecision.objects.exists()
    current = _decision_form(world, evaluating)["findings_digest"]
    assert f'name="findings_digest" value="{current}"' in _text(response)


def test_a_wrong_signature_shows_the_field_error(client, world, evaluating):
    sign_in(client, world.prescriber.user)
    url = f"/prescribing/referrals/{evaluating.referral_id}/evaluation/"
    client.post(url, _evaluation_form(evaluating))
    response = client.post(url, _decision_form(world, evaluating, signature="Somebody Else"))
    assert response.status_code == 422
    name = world.prescriber.user.full_name
    # The field and the expected form are named, beside the field.
    assert (
        f"Sign: type your full name as registered: {name}: Type your full name as registered "
        f"on your account: “{name}”."
    ) in _text(response)
    assert not EligibilityDecision.objects.exists()


def test_a_signed_decision_shows_on_the_evaluation_page(client, world, evaluating):
    sign_in(client, world.prescriber.user)
    url = f"/prescribing/referrals/{evaluating.referral_id}/evaluation/"
    client.post(url, _evaluation_form(evaluating))
    response = client.post(url, _decision_form(world, evaluating))
    assert response.status_code == 302
    page = _text(client.get(url))
    assert '<strong data-testid="decision-value">Eligible</strong>' in page
    assert 'data-testid="decision-form"' not in page
    assert Course.objects.get(pk=evaluating.course_id).stage == "eligible"


PRESCRIPTION = {
    "product": "ketamine_sl_rdt", "frequency": "per_session", "strength_mg": "100",
    "dose_mg": "200", "quantity": "2", "refills": "1", "pharmacy_name": "Cedar Compounding",
    "dea_number": "AB1234563",
}  # fmt: skip


def test_a_prescription_is_written_from_the_page(client, world):
    course = _course(world, "eligible")
    sign_in(client, world.prescriber.user)
    response = client.post(f"/prescribing/courses/{course.pk}/prescribe/", PRESCRIPTION)
    prescription = Prescription.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/prescribing/prescriptions/{prescription.pk}/"


@pytest.mark.parametrize(
    ("changes", "status", "shown"),
    [
        ({"refills": "6"}, 409, "A Schedule III prescription allows at most 5 refills."),
        ({"dose_mg": "600"}, 409, "600 mg is outside the usual 100-400 mg for a session"),
        ({"frequency": "daily"}, 409, "The higher-dose pathway is prescribed per dosing session."),
        ({"dea_number": "AB1234564"}, 422, "Your DEA registration number: Enter a valid DEA"),
        ({"quantity": "0"}, 422, "Doses per fill: Ensure this value is greater than or equal"),
        ({"product": "ketamine_powder"}, 422, "Select a valid choice."),
    ],
)  # fmt: skip
def test_a_refused_prescription_shows_why(client, world, changes, status, shown):
    course = _course(world, "eligible")
    sign_in(client, world.prescriber.user)
    response = client.post(f"/prescribing/courses/{course.pk}/prescribe/", PRESCRIPTION | changes)
    assert response.status_code == status
    assert shown in _text(response)
    assert not Prescription.objects.exists()


def test_an_unusual_dose_is_written_with_a_confirmation(client, world):
    course = _course(world, "eligible")
    sign_in(client, world.prescriber.user)
    response = client.post(
        f"/prescribing/courses/{course.pk}/prescribe/",
        PRESCRIPTION | {"dose_mg": "600", "confirm_reason": "Tolerant at 400 mg."},
    )
    assert response.status_code == 302
    page = _text(client.get(response["Location"]))
    assert "Warnings confirmed" in page and "prescription.dose_unusual: Tolerant at 400 mg." in page


def test_prescribing_for_a_course_not_yet_eligible_shows_the_gate(client, world):
    course = _course(world, "medical_evaluation")
    sign_in(client, world.prescriber.user)
    response = client.post(f"/prescribing/courses/{course.pk}/prescribe/", PRESCRIPTION)
    assert response.status_code == 409
    assert "Prescribe only after a signed eligible decision." in _text(response)


@pytest.fixture
def unfilled(world):
    return prescribe(_course(world, "active", doses=0), doses=0, refills=0, quantity=2)


@pytest.mark.parametrize(
    ("body", "status", "shown"),
    [
        ({"quantity": "3", "dispensed_on": TODAY().isoformat()}, 422,
         "Enter 1 to 2 doses (the quantity per fill)."),
        ({"quantity": "2", "dispensed_on": (TODAY() + DAY).isoformat()}, 422,
         "The date dispensed cannot be in the future."),
        ({"quantity": "2", "dispensed_on": TODAY().isoformat(),
          "shipped_on": (TODAY() - DAY).isoformat()}, 422,
         "Shipping cannot come before dispensing."),
        ({"quantity": "2"}, 422, "This field is required."),
    ],
)  # fmt: skip
def test_a_bad_fill_shows_the_field_error(client, world, unfilled, body, status, shown):
    sign_in(client, world.prescriber.user)
    response = client.post(f"/prescribing/prescriptions/{unfilled.pk}/fills/", body)
    assert response.status_code == status
    assert shown in _text(response)
    assert not Dispense.objects.exists()


def test_a_fill_beyond_the_refills_shows_the_refusal(client, world, unfilled):
    sign_in(client, world.prescriber.user)
    body = {"quantity": "2", "dispensed_on": TODAY().isoformat()}
    assert client.post(f"/prescribing/prescriptions/{unfilled.pk}/fills/", body).status_code == 302
    response = client.post(f"/prescribing/prescriptions/{unfilled.pk}/fills/", body)
    assert response.status_code == 409
    assert "Every fill this prescription allows is used" in _text(response)
    assert Dispense.objects.count() == 1


def test_cancelling_without_a_reason_shows_the_field_error(client, world, unfilled):
    sign_in(client, world.prescriber.user)
    response = client.post(f"/prescribing/prescriptions/{unfilled.pk}/cancel/", {"reason": ""})
    assert response.status_code == 422
    assert "This field is required." in _text(response)
    unfilled.refresh_from_db()
    assert unfilled.status == "active"


def test_the_refill_request_shows_and_can_be_declined(client, world):
    course = _course(world, "active", doses=0)
    prescription = prescribe(course, doses=1, quantity=1)
    request = RefillRequest.objects.create(
        organisation=course.organisation, course=course, prescription=prescription,
        prescriber=world.prescriber, doses_left=1, fills_left=0,
    )  # fmt: skip
    sign_in(client, world.prescriber.user)
    page = _text(client.get(f"/prescribing/prescriptions/{prescription.pk}/"))
    assert 'data-testid="refill-request"' in page and "Write a new prescription" in page
    url = f"/prescribing/prescriptions/{prescription.pk}/refills/{request.pk}/decline/"
    assert client.post(url, {"reason": ""}).status_code == 422
    assert client.post(url, {"reason": "Course ending."}).status_code == 302
    request.refresh_from_db()
    assert (request.status, request.note) == ("declined", "Course ending.")
    assert client.post(url, {"reason": "Again."}).status_code == 409


def test_a_followup_without_a_note_shows_the_field_error(client, world):
    course = _course(world, "active")
    sign_in(client, world.prescriber.user)
    response = client.post(f"/prescribing/courses/{course.pk}/followup/", {"plan": "continue"})
    assert response.status_code == 422
    assert "Summary: This field is required." in _text(response)


def test_a_followup_before_dosing_shows_the_gate(client, world):
    course = _course(world, "eligible")
    sign_in(client, world.prescriber.user)
    response = client.post(f"/prescribing/courses/{course.pk}/followup/",
                           {"plan": "continue", "note": "Early check."})  # fmt: skip
    assert response.status_code == 409
    assert "Follow-ups happen once dosing began." in _text(response)


@pytest.mark.parametrize(
    ("days", "shown"),
    [
        # Days from today, read when the test runs (under its clock), not at collection.
        (1, "Log a dose for today or the last 7 days."),
        (-8, "Log a dose for today or the last 7 days."),
        (0, "A dose is already logged for that day."),
    ],
)
def test_a_bad_dose_log_shows_the_field_error(client, world, days, shown):
    taken_on = TODAY() + days * DAY
    course = _course(world, "active", pathway="low_dose", delivery="at_home", doses=0)
    prescribe(course, doses=5, quantity=5, written_on=TODAY() - 2 * DAY)
    sign_in(client, world.client_member.user)
    client.post("/prescribing/mine/doses/", {"taken_on": TODAY().isoformat()})
    response = client.post("/prescribing/mine/doses/", {"taken_on": taken_on.isoformat()})
    assert response.status_code == 422
    assert shown in _text(response)
    assert DoseUse.objects.count() == 1


def test_a_dose_log_without_doses_left_shows_the_gate(client, world):
    course = _course(world, "active", pathway="low_dose", delivery="at_home", doses=0)
    prescribe(course, doses=0)
    sign_in(client, world.client_member.user)
    response = client.post("/prescribing/mine/doses/", {"taken_on": TODAY().isoformat()})
    assert response.status_code == 409
    assert "No doses are left to use." in _text(response)


# ---- fixed query counts ------------------------------------------------------------------


def _referred_clients(world, n, start=0):
    """n clients of practice A referred to world.prescriber, spread over every queue section:
    new referral, evaluation, refill request, follow-up due, low-dose days missed."""
    now = timezone.now()
    for i in range(start, start + n):
        someone = ClientFactory(organisation=world.practice)
        on_team(someone, world.therapist)
        on_team(someone, world.prescriber, role="prescriber")
        kind = i % 5
        stage = ["referred", "medical_evaluation", "active", "active", "active"][kind]
        course = make_course(someone, world.therapist, prescriber=world.prescriber, stage=stage,
                             pathway="low_dose" if kind == 4 else "higher_dose",
                             delivery="at_home" if kind == 4 else "in_person")  # fmt: skip
        if kind == 0:
            refer(course, world.prescriber, status="sent")
        elif kind == 1:
            evaluate(course, world.prescriber)
        else:
            referral = refer(course, world.prescriber, status="evaluated")
            decide(evaluate(course, world.prescriber, referral=referral))
        if kind == 2:
            RefillRequest.objects.create(
                organisation=course.organisation, course=course,
                prescription=course.prescriptions.get(), prescriber=world.prescriber,
                doses_left=1, fills_left=0,
            )  # fmt: skip
        if kind == 3:
            DueItem.objects.create(organisation=course.organisation, course=course,
                                   code="followup.due", label="Medical follow-up",
                                   due_at=now - DAY, overdue=True)  # fmt: skip


def _queries(client, url, **params):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params)
    assert response.status_code == 200
    return len(ctx.captured_queries), _text(response)


def test_the_queue_costs_the_same_for_2_and_30_referred_clients(client, world):
    sign_in(client, world.prescriber.user)
    _referred_clients(world, 2)
    client.get("/prescribing/")
    small, _ = _queries(client, "/prescribing/")
    _referred_clients(world, 28, start=2)
    large, page = _queries(client, "/prescribing/")
    assert small == large
    assert "New referrals (6)" in page and "Refill requests (6)" in page
    assert page.count("/followup/") >= 6
    queue = selectors.prescriber_queue(actor=world.prescriber)
    assert [len(queue.new_referrals), len(queue.evaluations), len(queue.refills),
            len(queue.followups), len(queue.low_dose)] == [6, 6, 6, 6, 6]  # fmt: skip


@pytest.mark.parametrize("role", ["therapist", "prescriber", "admin"])
def test_the_referral_list_costs_the_same_for_2_and_30_referrals(client, world, role):
    sign_in(client, getattr(world, role).user)
    _referred_clients(world, 2)
    client.get("/prescribing/referrals/", {"status": "all"})
    small, _ = _queries(client, "/prescribing/referrals/", status="all")
    _referred_clients(world, 28, start=2)
    large, page = _queries(client, "/prescribing/referrals/", status="all")
    assert small == large
    assert "Page 1 of 2" in page


def _prescriptions(course, world, n):
    for i in range(n):
        prescription = prescribe(course, doses=2, refills=1, written_on=TODAY() - (i + 2) * DAY)
        DoseUse.objects.create(organisation=course.organisation, course=course,
                               prescription=prescription, source="session", taken_on=TODAY(),
                               recorded_by=world.therapist.user)  # fmt: skip
        refer(course, world.prescriber, status="declined" if i % 2 else "withdrawn")


@pytest.mark.parametrize("role", ["therapist", "prescriber", "admin"])
def test_the_course_pages_prescribing_panel_costs_the_same_for_2_and_30(client, world, role):
    course = _course(world, "active", doses=0)
    decide(evaluate(course, world.prescriber,
                    referral=refer(course, world.prescriber, status="evaluated")))  # fmt: skip
    sign_in(client, getattr(world, role).user)
    _prescriptions(course, world, 2)
    client.get(f"/courses/{course.pk}/")
    small, _ = _queries(client, f"/courses/{course.pk}/")
    _prescriptions(course, world, 28)
    large, page = _queries(client, f"/courses/{course.pk}/")
    assert small == large
    assert page.count("2 dispensed, 1 used") == 20
