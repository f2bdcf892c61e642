"""End to end in Chromium: a therapist and a partner prescriber take a client from inquiry to
ready-to-dose; the checklist shrinks as facts arrive; a refusal lists every reason."""

import re

import pytest
from django_otp.oath import totp
from playwright.sync_api import expect

from kapflow.accounts.models import Role
from tests.accounts.factories import (
    PASSWORD,
    OrganisationFactory,
    PartnerFactory,
    member,
    partnership,
    totp_device,
)
from tests.patients.factories import ClientFactory, on_team

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _sign_in(page, base, membership):
    device = totp_device(membership.user)
    page.goto(f"{base}/sign-in/")
    page.get_by_label("Email").fill(membership.user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    page.get_by_label(re.compile("Code from your authenticator")).fill(f"{code:06d}")
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name=re.compile("Welcome"))).to_be_visible()


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
    client = ClientFactory(organisation=practice, legal_last_name="Ashgrove", state="OR")
    on_team(client, therapist)
    base = live_server.url

    t = browser.new_context().new_page()
    _sign_in(t, base, therapist)
    t.goto(f"{base}/clients/{client.pk}/")
    t.get_by_text("Open a KAP course").click()
    t.get_by_role("button", name="Open course at inquiry").click()
    expect(t.get_by_test_id("stage")).to_have_text("Inquiry")
    course_url = t.url

    _step(t, "Start intake assessment")
    expect(t.get_by_test_id("stage")).to_have_text("Intake assessment")

    # Referring without a prescriber is refused with the reason in plain words.
    _step(t, "Refer to prescriber")
    expect(t.get_by_test_id("refused-reasons")).to_contain_text(
        "Choose the prescriber the client is referred to."
    )
    panel = t.locator("details.action", has_text="Refer to prescriber")
    _open(panel)
    choice = panel.locator("select[name=prescriber] option", has_text="Meridian Medical")
    panel.locator("select[name=prescriber]").select_option(choice.get_attribute("value"))
    panel.get_by_role("button", name="Refer to prescriber").click()
    expect(t.get_by_test_id("stage")).to_have_text("Referred to prescriber")

    p = browser.new_context().new_page()
    _sign_in(p, base, prescriber)
    p.get_by_role("link", name="Prescriber queue").click()
    p.get_by_role("link", name=re.compile("Ashgrove")).click()
    _step(p, "Begin medical evaluation")
    expect(p.get_by_test_id("stage")).to_have_text("Medical evaluation")
    panel = p.locator("details.action", has_text="Decide: eligible")
    _open(panel)
    panel.locator("input[name=clearance_on]").fill("2026-11-20")
    panel.get_by_role("button", name="Decide: eligible").click()
    expect(p.get_by_test_id("stage")).to_have_text("Eligible")
    rx = p.locator("details.record-form", has_text="Prescription recorded")
    _open(rx)
    rx.locator("input[name=doses_authorised]").fill("2")
    rx.get_by_role("button", name=re.compile("Record prescription", re.I)).click()
    expect(p.get_by_text("0 used of 2 authorised")).to_be_visible()

    t.goto(course_url)
    before = _gate_codes(t)
    assert "eligibility.missing" not in before and "consent.missing" in before
    _step(t, "Record signed consent")
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

    # On the day, missing vitals and confirmations refuse the session with every reason.
    t.get_by_role("button", name="Start a dosing session").click()
    t.get_by_role("button", name="Start the session").click()
    refused = t.get_by_test_id("refused-reasons")
    expect(refused.locator("li")).to_have_count(3)
    for text in ("blood pressure", "alcohol", "drive the client home"):
        expect(refused).to_contain_text(text)
    t.get_by_label("Pre-dose systolic (mmHg)").fill("128")
    t.get_by_label("Pre-dose diastolic (mmHg)").fill("84")
    t.get_by_label(re.compile("no alcohol")).check()
    t.get_by_label(re.compile("drive the client home")).check()
    t.get_by_role("button", name="Start the session").click()
    expect(t.get_by_text("1 used of 2 authorised")).to_be_visible()
    expect(t.get_by_test_id("timeline")).to_contain_text("Dosing session")
