"""End to end in Chromium: the therapist invites a client, who sets up an account, signs the
KAP consent and writes a shared intention that the therapist then reads on the course page;
the client names a companion, who accepts, confirms their checklist, sees the safety sheet
and nothing clinical."""

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from kapflow.accounts.models import Role
from kapflow.consents.models import ConsentSignature
from kapflow.patients.models import Companion
from tests.accounts.factories import OrganisationFactory, member
from tests.consents.factories import publish
from tests.courses.factories import event, make_course
from tests.e2e.flows import sign_in
from tests.patients.factories import ClientFactory, on_team

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _invite_path(recipient: str) -> str:
    body = next(m.body for m in reversed(mail.outbox) if recipient in m.to)
    line = next(line for line in body.splitlines() if "/invite/" in line)
    return "/invite/" + line.split("/invite/", 1)[1].strip()


def _create_account(page, base, path, name):
    page.goto(base + path)
    page.get_by_label("Your full name").fill(name)
    page.get_by_label(re.compile("Choose a password")).fill("a-long-enough-passphrase")
    page.get_by_role("button", name="Create account").click()


def test_client_signs_shares_an_intention_and_names_a_companion(browser, live_server):
    practice = OrganisationFactory(name="Juniper Hill Therapy", phone="503-555-0142")
    therapist = member(practice, Role.THERAPIST, licences=[("LCSW", "OR")])
    record = ClientFactory(organisation=practice, legal_first_name="Wren",
                           legal_last_name="Castellan", state="OR",
                           email="wren.castellan@example.test")  # fmt: skip
    on_team(record, therapist)
    course = make_course(record, therapist, stage="eligible", delivery="at_home")
    event(course, therapist, "dosing")  # a past session the intention can point to
    publish(practice, "kap", title="Consent to ketamine-assisted psychotherapy")
    base = live_server.url

    t = browser.new_context().new_page()
    sign_in(t, base, therapist)
    t.goto(f"{base}/clients/{record.pk}/")
    t.get_by_role("button", name="Invite to the client portal").click()
    expect(t.get_by_text("Portal invitation sent")).to_be_visible()

    c = browser.new_context().new_page()
    _create_account(c, base, _invite_path("wren.castellan@example.test"), "Wren Castellan")
    expect(c.get_by_role("heading", name=re.compile("Hello, Wren"))).to_be_visible()
    expect(c.get_by_test_id("next-step")).to_contain_text("ketamine suitable for you")

    # Consent: read, refuse a wrong name, then sign.
    c.get_by_role("link", name=re.compile("Consent forms")).click()
    c.get_by_role("button", name="Read and sign").first.click()
    c.get_by_label(re.compile("I have read and understood")).check()
    c.get_by_label("Type your full name to sign").fill("Someone Else")
    c.get_by_role("button", name="Sign", exact=True).click()
    expect(c.locator(".errorlist").first).to_be_visible()
    assert not ConsentSignature.objects.exists()
    c.get_by_label(re.compile("I have read and understood")).check()
    c.get_by_label("Type your full name to sign").fill("Wren Castellan")
    c.get_by_role("button", name="Sign", exact=True).click()
    expect(c.get_by_role("heading", name="What you signed")).to_be_visible()
    assert ConsentSignature.objects.get().client_id == record.pk

    # A shared intention.
    c.goto(f"{base}/journal/")
    c.get_by_test_id("new-entry").click()
    c.get_by_label("Intention").check()
    c.get_by_label("Your entry").fill("I want to meet the grief with curiosity, not fear.")
    c.get_by_label("Share this entry with my therapist").check()
    c.get_by_role("button", name="Save").click()
    expect(c.get_by_text("Shared with your therapist").first).to_be_visible()

    t.goto(f"{base}/courses/{course.pk}/")
    expect(t.get_by_test_id("journal-entries")).to_contain_text("grief with curiosity")
    expect(t.get_by_test_id("dosing-gate")).not_to_contain_text("No current signed")

    # The companion: named by the client, invited, confirms, sees nothing clinical.
    c.goto(f"{base}/")
    c.get_by_role("link", name="Name a companion").click()
    c.get_by_label("Their name").fill("Ash Castellan")
    c.get_by_label("Their e-mail address").fill("ash@example.test")
    c.get_by_label("How you know them").fill("brother")
    c.get_by_label("Their date of birth").fill("1984-06-30")
    c.get_by_role("button", name="Send the invitation").click()
    expect(c.get_by_test_id("companions")).to_contain_text("Name a companion")

    a = browser.new_context().new_page()
    _create_account(a, base, _invite_path("ash@example.test"), "Ash Castellan")
    # The companion's home leads with what to do first (decision 0050).
    a.get_by_role("button", name="Read the safety sheet and confirm your checklist").click()
    expect(a.get_by_test_id("safety-sheet")).to_contain_text("911")
    expect(a.get_by_test_id("safety-sheet")).to_contain_text("503-555-0142")
    for box in a.locator("input[type=checkbox]").all():
        box.check()
    a.get_by_role("button", name="I confirm I will be present").click()
    expect(a.get_by_test_id("confirmed")).to_be_visible()
    assert Companion.objects.get(client=record).confirmed_at is not None
    page_text = a.content()
    assert "Recurrent" not in page_text and "grief" not in page_text
    for path in (f"/clients/{record.pk}/", f"/courses/{course.pk}/", "/journal/",
                 f"/assessments/clients/{record.pk}/", "/messages/"):  # fmt: skip
        response = a.goto(base + path)
        assert response.status == 404, path

    t.goto(f"{base}/courses/{course.pk}/")
    expect(t.get_by_test_id("dosing-gate")).not_to_contain_text("companion who has confirmed")
