"""End to end in Chromium: a therapist and a partner prescriber take a client from inquiry to
ready-to-dose; the client signs the consent in their portal; the checklist shrinks as facts
arrive; a refusal lists every reason."""

import datetime
import re
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from kapflow.accounts.models import Role
from kapflow.consents.models import ConsentSignature
from kapflow.core import clock
from kapflow.core.timezones import viewer_zone
from kapflow.patients.models import Client
from kapflow.scheduling.models import Appointment
from tests.accounts.factories import OrganisationFactory, PartnerFactory, member, partnership
from tests.consents.factories import publish
from tests.e2e.flows import (
    accept_from_queue,
    fill_evaluation,
    refer,
    sign_consent,
    sign_decision,
    sign_in,
    sign_in_client,
)
from tests.patients.factories import ClientFactory, on_team

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _step(page, label):
    """Open a step's panel on the course page and submit it."""
    panel = page.locator("details.action[data-action]", has=page.get_by_role("button", name=label))
    _open(panel)
    panel.get_by_role("button", name=label).click()


def _open(panel):
    if not panel.evaluate("e => e.open"):
        panel.locator("summary").click()


def _record(page, label, **fields):
    panel = page.locator("details.record-form", has_text=label)
    _open(panel)
    for name, value in fields.items():
        panel.locator(f"[name={name}]").select_option(value)
    panel.get_by_role("button", name=re.compile(f"Record {label}", re.I)).click()


def _gate_codes(page):
    return (
        page.get_by_test_id("dosing-gate")
        .locator("li")
        .evaluate_all("els => els.map(e => e.dataset.code)")
    )


def test_inquiry_to_ready_to_dose_across_both_organisations(browser, live_server):
    practice = OrganisationFactory(name="Cedar Grove Practice")
    partner = PartnerFactory(name="Meridian Medical")
    partnership(practice, partner)
    therapist = member(practice, Role.THERAPIST, licences=[("LMFT", "OR")])
    prescriber = member(partner, Role.PRESCRIBER, licences=[("NP", "OR")])
    client_member = member(practice, Role.CLIENT)
    client = ClientFactory(
        organisation=practice,
        legal_first_name="Marin",
        legal_last_name="Ashgrove",
        state="OR",
        user=client_member.user,
    )
    on_team(client, therapist)
    publish(practice, "kap", by=therapist.user)  # the practice's consent, version 1
    base = live_server.url

    t = browser.new_context().new_page()
    sign_in(t, base, therapist)
    t.goto(f"{base}/clients/{client.pk}/")
    _open(t.locator("details", has=t.get_by_role("button", name="Open course at inquiry")))
    t.get_by_role("button", name="Open course at inquiry").click()
    expect(t.get_by_test_id("stage")).to_have_text("Inquiry")
    course_url = t.url

    _step(t, "Start intake assessment")
    expect(t.get_by_test_id("stage")).to_have_text("Intake assessment")

    # The referral: the first attempt without the client's consent is refused by field.
    refer(t, partner="Meridian Medical")
    t.goto(course_url)
    expect(t.get_by_test_id("stage")).to_have_text("Referred to prescriber")

    p = browser.new_context().new_page()
    sign_in(p, base, prescriber)
    accept_from_queue(p, last_name="Ashgrove")
    fill_evaluation(p)
    expect(p.get_by_test_id("findings")).to_contain_text("No findings")
    sign_decision(p, decision="Eligible", reason="No contraindications or interactions.",
                  name=prescriber.user.full_name)  # fmt: skip
    expect(p.get_by_test_id("decision-value").first).to_have_text("Eligible")
    p.goto(course_url)
    expect(p.get_by_test_id("stage")).to_have_text("Eligible")
    p.get_by_role("button", name="Write a prescription").click()
    p.get_by_label("Product").select_option("ketamine_sl_rdt")
    p.get_by_label("Strength (mg per unit)").fill("100")
    p.get_by_label("Dose (mg)").fill("200")
    p.get_by_label("Doses per fill").fill("2")
    p.get_by_label(re.compile("Refills")).fill("1")
    p.locator("input[name=pharmacy_name]").fill("Cedar Compounding Pharmacy")
    p.get_by_label("Your DEA registration number").fill("AB1234563")
    p.get_by_role("button", name="Sign and issue").click()
    expect(p.get_by_test_id("doses-left")).to_contain_text("0 (0 used of 0 dispensed)")
    _open(p.get_by_test_id("fill-form"))  # open already: nothing filled yet
    p.get_by_label("Dispensed on").fill(clock.clinical_date(practice).isoformat())
    p.get_by_role("button", name="Record the fill").click()
    expect(p.get_by_test_id("doses-left")).to_contain_text("2 (0 used of 2 dispensed)")

    t.goto(course_url)
    before = _gate_codes(t)
    assert "eligibility.missing" not in before and "consent.missing" in before
    # The therapist cannot confirm a consent the client has not signed.
    _step(t, "Confirm signed consent")
    expect(t.get_by_test_id("refused-reasons")).to_contain_text("No current signed informed")

    # The client reads and signs the consent in the portal, drawing a signature too.
    c = browser.new_context().new_page()
    sign_in_client(c, base, client_member, "Marin")
    sign_consent(c, base, name="marin ashgrove")
    expect(c.get_by_alt_text("Your drawn signature")).to_be_visible()
    signature = ConsentSignature.objects.get(client=client)
    assert signature.drawn_signature.startswith("data:image/png;base64,")
    assert signature.typed_name == "marin ashgrove" and signature.ip_address
    c.context.close()

    t.goto(course_url)
    expect(t.get_by_test_id("consent-status")).to_contain_text("version 1, signed")
    _step(t, "Confirm signed consent")
    expect(t.get_by_test_id("stage")).to_have_text("Consented")
    _step(t, "Start preparation")
    expect(t.get_by_test_id("stage")).to_have_text("Preparation")

    # Marking ready to dose with no preparation session: refused, every reason listed.
    _step(t, "Ready to dose")
    expect(t.get_by_test_id("refused-reasons").locator("li")).to_have_count(1)
    expect(t.get_by_test_id("refused-reasons")).to_contain_text("No preparation session")

    t.goto(course_url)
    shrinking = [len(_gate_codes(t))]
    _record(t, "Preparation session")
    shrinking.append(len(_gate_codes(t)))
    _record(t, "Suicide-risk screen", positive="no")
    shrinking.append(len(_gate_codes(t)))
    assert shrinking[0] > shrinking[1] > shrinking[2], shrinking

    _step(t, "Ready to dose")
    expect(t.get_by_test_id("stage")).to_have_text("Active: dosing and integration")
    expect(t.get_by_test_id("dosing-gate")).to_contain_text("Nothing blocks this.")

    # The client will spend a week in California, where the therapist holds no licence: a
    # telehealth session for that week is refused with the reason (decision 0031).
    Client.objects.filter(pk=client.pk).update(state="CA")
    course_id = course_url.rstrip("/").rsplit("/", 1)[-1]
    next_week = (timezone.now() + datetime.timedelta(days=7)).astimezone(
        ZoneInfo(viewer_zone(therapist.user, therapist))
    )
    t.goto(f"{base}/schedule/book/?course={course_id}&kind=therapy")
    t.locator("[name=starts_at]").fill(next_week.strftime("%Y-%m-%dT10:00"))
    t.get_by_label("Telehealth (video)").check()
    t.get_by_role("button", name=re.compile("^Book")).click()
    refusal = t.locator("#id_therapist_error")
    expect(refusal).to_contain_text("California")
    expect(refusal).to_be_focused()
    assert not Appointment.objects.filter(course_id=int(course_id)).exists()
    Client.objects.filter(pk=client.pk).update(state="OR")
    t.goto(course_url)

    # On the day, missing vitals and confirmations refuse the session with every reason (the
    # quick record here; the session screen has its own journey, test_session_journey).
    t.get_by_role("link", name="Record a session held without the session screen").click()
    t.get_by_role("button", name="Start the session").click()
    refused = t.get_by_test_id("refused-reasons")
    expect(refused.locator("li")).to_have_count(3)
    for text in ("blood pressure", "alcohol", "drive the client home"):
        expect(refused).to_contain_text(text)
    t.get_by_label("Pre-dose systolic (mmHg)").fill("128")
    t.get_by_label("Pre-dose diastolic (mmHg)").fill("84")
    t.get_by_label(re.compile("no alcohol")).check()
    t.locator("[name=driver_confirmed]").check()
    t.get_by_role("button", name="Start the session").click()
    expect(t.get_by_text("1 left (1 used of 2 dispensed)")).to_be_visible()
    expect(t.get_by_test_id("timeline")).to_contain_text("Dosing session")
