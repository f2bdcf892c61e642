"""End to end in Chromium across two organisations: the therapist refers a client, the
partner prescriber evaluates with an MAOI listed, sees the findings, decides "not eligible",
and the therapist sees the decision with its reasons and the findings it was based on."""

import re

import pytest
from playwright.sync_api import expect

from kapflow.accounts.models import Role
from kapflow.prescriptions.models import EligibilityDecision
from tests.accounts.factories import OrganisationFactory, PartnerFactory, member, partnership
from tests.courses.factories import make_course
from tests.e2e.flows import accept_from_queue, fill_evaluation, refer, sign_decision, sign_in
from tests.patients.factories import ClientFactory, on_team

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_maoi_found_decided_not_eligible_and_seen_by_the_therapist(browser, live_server):
    practice = OrganisationFactory(name="Willow Bend Counselling")
    partner = PartnerFactory(name="Harbourside Medical")
    partnership(practice, partner)
    therapist = member(practice, Role.THERAPIST, licences=[("LPC", "WA")])
    prescriber = member(partner, Role.PRESCRIBER, licences=[("MD", "WA")])
    client = ClientFactory(organisation=practice, legal_last_name="Thornbury", state="WA")
    on_team(client, therapist)
    course = make_course(client, therapist, stage="intake")
    base = live_server.url

    t = browser.new_context().new_page()
    sign_in(t, base, therapist)
    t.goto(f"{base}/courses/{course.pk}/")
    refer(t, partner="Harbourside Medical", diagnosis="F33.1", search="recurrent moderate")

    p = browser.new_context().new_page()
    sign_in(p, base, prescriber)
    accept_from_queue(p, last_name="Thornbury")
    # Before anything is recorded, the screen lists what is missing, and signing "eligible"
    # is refused with every missing item.
    expect(p.get_by_test_id("findings")).to_contain_text("Missing information")
    fill_evaluation(p, systolic="128", diastolic="82", medication="Nardil")
    findings = p.get_by_test_id("findings")
    maoi = findings.locator("li[data-code='interaction.maoi']")
    expect(maoi).to_contain_text("phenelzine")
    expect(maoi).to_contain_text("Spravato PI")
    # A signature that is not the prescriber's own name is refused, and nothing is stored.
    sign_decision(p, decision="Not eligible", reason="MAOI.", name="Someone Else")
    expect(p.locator("#id_signature_error")).to_contain_text("full name")
    assert not EligibilityDecision.objects.exists()

    sign_decision(
        p,
        decision="Not eligible",
        reason="Takes phenelzine (an MAOI): ketamine would raise blood pressure dangerously. "
        "Revisit after a supervised washout if the psychiatrist agrees.",
        name=prescriber.user.full_name,
    )
    expect(p.get_by_text("Decision signed")).to_be_visible()
    expect(p.get_by_test_id("decision-value").first).to_have_text("Not eligible")
    decision = EligibilityDecision.objects.get()
    assert "interaction.maoi" in {f["code"] for f in decision.findings}

    t.goto(f"{base}/courses/{course.pk}/")
    expect(t.get_by_test_id("stage")).to_have_text("Not eligible (closed)")
    panel = t.get_by_test_id("prescribing-panel")
    expect(panel.get_by_test_id("decision-value")).to_have_text("Not eligible")
    expect(panel.get_by_test_id("decision-reason")).to_contain_text("phenelzine (an MAOI)")
    expect(panel.get_by_test_id("decision-findings")).to_contain_text("phenelzine")
    expect(panel.get_by_test_id("panel-referral-status")).to_have_text("Evaluated")
    t.get_by_role("link", name="Open the referral").click()
    expect(t.get_by_test_id("referral-status")).to_have_text("Evaluated")
    t.get_by_role("button", name=re.compile("evaluation and decision")).click()
    expect(t.get_by_test_id("decision-findings").first).to_contain_text("MAOI")
