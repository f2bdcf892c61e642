"""The prescriber's journey counted (issue 17): a referred client evaluated, signed eligible
and prescribed for in at most 8 clicks, with no retry (no page answered 4xx or 5xx on the
way). The referral's medicines and history start the evaluation, accepting opens it, one
button answers the rest of the checklist "No", the decision is the button pressed, and
signing goes straight on to a prefilled prescription. The test prints the clicks, and the
evaluation page's height; it leaves screenshots of the evaluation and the course page at
1366 and 390 px in $KAPFLOW_SHOTS_COURSE (default /tmp/shots-course)."""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from kapflow.accounts.models import Role
from kapflow.prescriptions import services as rx_services
from kapflow.prescriptions.models import EligibilityDecision, MedicalEvaluation, Prescription
from tests.accounts.factories import OrganisationFactory, PartnerFactory, member, partnership
from tests.courses.factories import make_course
from tests.e2e.flows import sign_in
from tests.e2e.journey_helpers import Tally
from tests.patients.factories import ClientFactory, on_team

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CEILING = 8
SHOTS = Path(os.environ.get("KAPFLOW_SHOTS_COURSE", "/tmp/shots-course"))


def _height(page) -> int:
    return page.evaluate("document.documentElement.scrollHeight")


def _shoot(page, name: str) -> dict[int, int]:
    """Full-page screenshots at 1366 and 390 px; the page's height at each."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    heights = {}
    for width in (1366, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.reload()
        heights[width] = _height(page)
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1366, "height": 900})
    page.reload()
    return heights


def test_the_prescriber_evaluates_signs_and_prescribes_in_eight_clicks(browser, live_server):
    practice = OrganisationFactory(name="Fernbrook Counselling")
    partner = PartnerFactory(name="Quarry Hill Medical")
    partnership(practice, partner)
    therapist = member(practice, Role.THERAPIST, licences=[("LPC", "WA")])
    prescriber = member(partner, Role.PRESCRIBER, licences=[("MD", "WA")])
    prescriber.user.full_name = "Dr. Ines Harrow"
    prescriber.user.save(update_fields=["full_name"])
    client = ClientFactory(organisation=practice, legal_last_name="Quillfeather", state="WA")
    on_team(client, therapist)
    course = make_course(client, therapist, stage="intake")
    referral = rx_services.referral_send(
        actor=therapist, course_id=course.pk, prescriber_id=prescriber.pk,
        reason="Recurrent depression; two antidepressant trials without remission.",
        diagnoses=["F33.1"], medications="Sertraline 100 mg daily; Trazodone 50 mg at night",
        history="Two SSRI trials. No psychosis, no mania. Normotensive at intake.",
        consent_to_share=True, consent_note="Signed release of information on file.",
    )  # fmt: skip
    base = live_server.url

    page = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    page.set_default_timeout(15000)
    refused = []
    page.on(
        "response", lambda r: refused.append(f"{r.status} {r.url}") if r.status >= 400 else None
    )
    sign_in(page, base, prescriber)
    p = Tally(page, who="prescriber")

    p.click(page.get_by_role("link", name="Prescriber queue"), "queue")
    p.click(
        page.get_by_test_id("new-referrals").get_by_role("link", name=re.compile("Quillfeather")),
        "the referral",
    )
    p.click(page.get_by_role("button", name="Accept and begin the evaluation"), "accept")

    # Accepting opened the evaluation, started from what the referral sent.
    expect(page.get_by_test_id("evaluation-form")).to_be_visible()
    expect(page.get_by_label("Medication 1", exact=True)).to_have_value("sertraline")
    expect(page.get_by_label("Medication 2", exact=True)).to_have_value("trazodone")
    expect(page.get_by_label("Medical and psychiatric history")).to_contain_text("Two SSRI")
    heights = _shoot(page, "evaluation-form")
    print(f"\nevaluation page height: {heights[1366]} px at 1366, {heights[390]} px at 390")

    p.fill(page.get_by_label("Blood pressure, systolic (mmHg)"), "124")
    p.fill(page.get_by_label("Blood pressure, diastolic (mmHg)"), "80")
    p.select(page.get_by_label("Pregnancy status"), "not_applicable", "pregnancy status")
    p.click(page.get_by_role("button", name=re.compile("Answer “No” to every item")), "no to rest")
    panel = page.get_by_test_id("decision-panel")
    # The save sits in the sticky panel with the decision: still in view at the page's foot.
    page.mouse.wheel(0, 5000)
    expect(panel.get_by_role("button", name="Save and screen again")).to_be_in_viewport()
    p.click(panel.get_by_role("button", name="Save and screen again"), "save")
    expect(page.get_by_text("Evaluation saved")).to_be_visible()
    expect(page.get_by_test_id("findings")).to_contain_text("No findings")
    assert panel.evaluate("e => getComputedStyle(e).position") == "sticky"

    form = page.get_by_test_id("decision-form")
    expect(form.get_by_label(re.compile("Clearance valid for"))).to_have_value("180")
    p.fill(form.get_by_label("Reason"), "No contraindications or interactions.")
    # The expected signature is on the label; the title may be left out.
    expect(
        form.get_by_text("Sign: type your full name as registered: Dr. Ines Harrow")
    ).to_be_visible()
    p.fill(form.get_by_label("Sign: type your full name"), "Ines Harrow")
    p.click(form.get_by_role("button", name="Sign: eligible"), "sign eligible")

    # Straight on to the prescription, prefilled for the course's pathway and delivery.
    expect(page.get_by_role("heading", name="Write a ketamine prescription")).to_be_visible()
    expect(page.get_by_label("Product")).to_have_value("ketamine_sl_rdt")
    expect(page.get_by_label("Frequency")).to_have_value("per_session")
    p.fill(page.get_by_label("Dose (mg)"), "200")
    p.fill(page.get_by_label("Doses per fill"), "2")
    p.fill(page.locator("input[name=pharmacy_name]"), "Larchmont Compounding Pharmacy")
    p.fill(page.get_by_label("Your DEA registration number"), "AB1234563")
    p.click(page.get_by_role("button", name="Sign and issue"), "sign and issue")
    expect(page.get_by_test_id("rx-status")).to_have_text("Active")

    print(p.report())
    assert not refused, f"a retry: {refused}"
    assert len(p.clicks) <= CEILING, p.report()
    decision = EligibilityDecision.objects.get()
    assert (decision.decision, decision.signature) == ("eligible", "Ines Harrow")
    assert MedicalEvaluation.objects.get(referral=referral).medications[0]["name"] == "sertraline"
    assert Prescription.objects.get().course_id == course.pk

    # The course page as each side sees it now, at both widths.
    page.goto(f"{base}/courses/{course.pk}/")
    expect(page.get_by_test_id("next-steps")).to_be_visible()
    _shoot(page, "course-prescriber")
    t = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    sign_in(t, base, therapist)
    t.goto(f"{base}/courses/{course.pk}/")
    expect(t.get_by_test_id("next-steps")).to_contain_text("Waiting for the client to sign")
    for width, name in ((1366, "course-therapist-1366"), (390, "course-therapist-390")):
        t.set_viewport_size({"width": width, "height": 900})
        t.reload()
        t.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
        wide = t.evaluate("document.documentElement.scrollWidth")
        assert wide <= width, f"the course page is {wide} px wide at {width} px"
    t.context.close()
    page.context.close()
