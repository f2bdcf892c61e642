"""The course page as the place of work (issue 17): the next step is one click from the
course, chosen from the reasons the rules already give (no rule written twice), for the
person looking; questionnaires entered from the course come back to it."""

import re

import pytest
from django.utils import timezone

from kapflow.clinical import course as rules
from kapflow.courses import selectors
from kapflow.courses.models import Course
from kapflow.courses.next_steps import Viewer, course_next_steps
from kapflow.courses.services import course_facts_refresh
from tests.conftest import sign_in
from tests.courses.factories import make_course
from tests.prescriptions.factories import evaluate, refer


def _with_facts(course):
    return selectors.with_facts(Course.objects.filter(pk=course.pk)).get()


def _primary(page: str) -> tuple[str, str]:
    """(data-code, href) of the page's primary next step."""
    found = re.search(r'data-testid="next-primary" data-code="([^"]*)"><a href="([^"]*)"', page)
    assert found, "no primary next step with a link"
    return found.group(1), found.group(2).replace("&amp;", "&")


def _links(page: str) -> dict[str, str]:
    nav = page.split('data-testid="course-links"')[1].split("</nav>")[0]
    return {
        code: href.replace("&amp;", "&")
        for href, code in re.findall(r'<a href="([^"]*)" data-code="([^"]*)"', nav)
    }


def test_the_therapist_at_intake_refers_from_the_course(client, world):
    course = make_course(world.client, world.therapist, stage="intake")
    sign_in(client, world.therapist.user)
    page = client.get(f"/courses/{course.pk}/").content.decode()
    now = timezone.now()
    reasons = selectors.course_row(_with_facts(course), now=now).blockers
    code, href = _primary(page)
    if reasons and reasons[0].code == "screen.missing":
        # The rules' first reason leads: the risk screen, recorded on this page.
        assert (code, href) == ("screen.missing", "#record-risk_screen")
        assert 'id="record-risk_screen"' in page
    else:
        assert href == f"/prescribing/courses/{course.pk}/refer/"
    links = _links(page)
    assert links["refer"] == f"/prescribing/courses/{course.pk}/refer/"
    assert links["questionnaires"] == f"/assessments/clients/{world.client.pk}/?course={course.pk}"
    assert links["consent"] == f"/consents/clients/{world.client.pk}/"
    assert links["book.preparation"] == f"/schedule/book/?course={course.pk}&kind=preparation"


def test_the_prescriber_evaluates_from_the_course(client, world):
    course = make_course(world.client, world.therapist, prescriber=world.prescriber,
                         stage="medical_evaluation")  # fmt: skip
    evaluation = evaluate(course, world.prescriber, complete=False)
    sign_in(client, world.prescriber.user)
    page = client.get(f"/courses/{course.pk}/").content.decode()
    _, href = _primary(page)
    assert href == f"/prescribing/referrals/{evaluation.referral_id}/evaluation/"
    assert _links(page)["evaluate"] == href


def test_the_prescriber_accepts_a_new_referral_from_the_course(client, world):
    course = make_course(world.client, world.therapist, prescriber=world.prescriber,
                         stage="referred")  # fmt: skip
    referral = refer(course, world.prescriber, status="sent")
    sign_in(client, world.prescriber.user)
    _, href = _primary(client.get(f"/courses/{course.pk}/").content.decode())
    assert href == f"/prescribing/referrals/{referral.pk}/"


def test_the_prescriber_prescribes_from_an_eligible_course(client, world):
    course = make_course(world.client, world.therapist, prescriber=world.prescriber,
                         stage="eligible")  # fmt: skip
    sign_in(client, world.prescriber.user)
    page = client.get(f"/courses/{course.pk}/").content.decode()
    code, href = _primary(page)
    assert href == f"/prescribing/courses/{course.pk}/prescribe/"
    assert code in ("prescription.missing", "stage.eligible")
    assert _links(page)["prescribe"] == href


def test_a_prescription_not_filled_leads_the_prescriber_to_record_the_fill(client, world):
    """The gate's "no doses left" on a prescription never filled: the fill is what is next,
    on the prescription's page, not a second prescription (issue 17)."""
    from tests.prescriptions.factories import prescribe

    course = make_course(world.client, world.therapist, prescriber=world.prescriber,
                         stage="active", doses=0)  # fmt: skip
    prescription = prescribe(course, world.prescriber, doses=0)
    course_facts_refresh(course_id=course.pk)
    sign_in(client, world.prescriber.user)
    page = client.get(f"/courses/{course.pk}/").content.decode()
    code, href = _primary(page)
    assert (code, href) == (
        "prescription.no_doses_left",
        f"/prescribing/prescriptions/{prescription.pk}/",
    )
    assert "Record the pharmacy&#x27;s fill" in page or "Record the pharmacy's fill" in page
    assert "Write the prescription" not in page
    # The therapist waits for the same step, named as it is.
    sign_in(client, world.therapist.user)
    page = client.get(f"/courses/{course.pk}/").content.decode()
    assert "Waiting for the prescriber to record the fill" in page


def test_the_therapist_waits_for_the_clients_signature(client, world):
    course = make_course(world.client, world.therapist, prescriber=world.prescriber,
                         stage="eligible", consent=False)  # fmt: skip
    sign_in(client, world.therapist.user)
    page = client.get(f"/courses/{course.pk}/").content.decode()
    code, href = _primary(page)
    assert code.startswith("consent.")
    assert href == f"/consents/clients/{world.client.pk}/"
    assert "Waiting for the client to sign in their portal" in page


def test_a_closed_course_has_no_primary_step(world):
    course = make_course(world.client, world.therapist, stage="discharged")
    facts = selectors.course_row(_with_facts(course), now=timezone.now()).facts
    steps = course_next_steps(course=course, facts=facts, reasons=[], referral=None,
                              prescribing=None, viewer=Viewer(can_assess=True))  # fmt: skip
    assert steps.primary is None
    assert [s.code for s in steps.links] == ["questionnaires", "consent"]


def test_a_reason_for_someone_else_is_shown_as_waiting(world):
    course = make_course(world.client, world.therapist, prescriber=world.prescriber,
                         stage="eligible")  # fmt: skip
    facts = selectors.course_row(_with_facts(course), now=timezone.now()).facts
    reason = rules.Reason("prescription.missing", "No active prescription.")
    steps = course_next_steps(course=course, facts=facts, reasons=[reason], referral=None,
                              prescribing=None, viewer=Viewer())  # fmt: skip
    assert (steps.primary.url, steps.primary.why) == ("", "No active prescription.")


PHQ9 = {f"phq9_{i}": "1" for i in range(1, 9)} | {"phq9_9": "0"}


def test_a_questionnaire_entered_from_the_course_returns_to_it(client, world):
    course = make_course(world.client, world.therapist, prescriber=world.prescriber,
                         stage="intake")  # fmt: skip
    sign_in(client, world.therapist.user)
    listing = client.get(f"/assessments/clients/{world.client.pk}/?course={course.pk}")
    page = listing.content.decode()
    assert f"/assessments/clients/{world.client.pk}/enter/phq9/?course={course.pk}" in page
    assert f'href="/courses/{course.pk}/">Back to the course' in page
    response = client.post(
        f"/assessments/clients/{world.client.pk}/enter/phq9/?course={course.pk}", PHQ9
    )
    assert response.status_code == 302
    assert response.url == f"/courses/{course.pk}/"


@pytest.mark.parametrize("bad", ["javascript:alert(1)", "//evil.example/", "12abc", ""])
def test_only_a_course_id_sends_the_clinician_back(client, world, bad):
    sign_in(client, world.therapist.user)
    make_course(world.client, world.therapist, stage="intake")
    response = client.post(
        f"/assessments/clients/{world.client.pk}/enter/phq9/", PHQ9, QUERY_STRING=f"course={bad}"
    )
    assert response.url == f"/assessments/clients/{world.client.pk}/"
