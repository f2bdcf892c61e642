"""End to end in Chromium: a person searches by ZIP, opens a profile, takes the pre-screen,
books a joint intake slot and confirms it from the e-mail; the practice admin sees the
inquiry; a client self-books an integration session in the portal. axe-core (from npm)
finds no serious or critical violation on any public page, at desktop and 390 px."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.core import mail
from playwright.sync_api import expect

from kapflow.accounts.models import Role
from kapflow.clinical import directory as slot_rules
from kapflow.core import clock
from kapflow.directory.selectors import hours_and_busy
from kapflow.scheduling import services as scheduling
from tests.accounts.factories import OrganisationFactory, PartnerFactory, member, partnership
from tests.courses.factories import make_course
from tests.directory.factories import hours
from tests.e2e.flows import sign_in, sign_in_client
from tests.patients.factories import ClientFactory, on_team

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


def axe_clean(page, label: str) -> None:
    """No serious or critical axe-core violation, at desktop width and at 390 px."""
    for width, height in ((1200, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("async () => await axe.run(document)")
        bad = [
            (v["id"], [n["target"] for n in v["nodes"]][:3])
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert not bad, f"{label} at {width}px: {bad}"
    page.set_viewport_size({"width": 1200, "height": 900})


def _world():
    from kapflow.directory import services

    practice = OrganisationFactory(name="Lantern Bay Therapy", state="OR")
    partner = PartnerFactory(name="Lantern Medical")
    partnership(practice, partner)
    admin = member(practice, Role.PRACTICE_ADMIN)
    therapist = member(practice, Role.THERAPIST, licences=[("LMFT", "OR")])
    prescriber = member(partner, Role.PRESCRIBER, licences=[("NP", "OR")])
    hours(therapist)
    hours(prescriber)
    services.practice_profile_save(
        actor=admin,
        data={"display_name": "Lantern Bay Therapy", "state": "OR", "zip_code": "97214",
              "bio": "A Portland practice.", "partner_id": partner.pk, "published": True},
    )  # fmt: skip
    services.clinician_profile_save(
        actor=admin,
        membership_id=therapist.pk,
        data={"display_name": "Marlowe Quince", "bio": "Depression and trauma.",
              "modalities": ["higher_dose"], "conditions": ["depression"],
              "partner_prescriber_id": prescriber.pk, "published": True},
    )  # fmt: skip
    return practice, admin, therapist, prescriber


def test_search_screen_book_joint_then_admin_and_client(browser, live_server):
    practice, admin, therapist, _prescriber = _world()
    base = live_server.url
    context = browser.new_context(bypass_csp=True, viewport={"width": 1200, "height": 900})
    p = context.new_page()
    p.set_default_timeout(15000)

    # Search by ZIP.
    p.goto(f"{base}/find/")
    axe_clean(p, "search form")
    p.get_by_label("ZIP code").fill("97214")
    p.get_by_role("button", name="Search").click()
    expect(p.get_by_role("heading", name=re.compile("1 clinician found"))).to_be_visible()
    axe_clean(p, "search results")

    # The profile, then the practice's page.
    p.get_by_role("link", name="Marlowe Quince").click()
    expect(p.get_by_role("heading", name="Marlowe Quince", level=1)).to_be_visible()
    axe_clean(p, "clinician profile")
    profile_url = p.url
    p.get_by_role("link", name="Lantern Bay Therapy").first.click()
    expect(p.get_by_role("heading", name="Lantern Bay Therapy", level=1)).to_be_visible()
    axe_clean(p, "practice page")

    # The pre-screen.
    p.goto(profile_url)
    p.get_by_role("link", name="Take the 2-minute pre-screen first").click()
    axe_clean(p, "pre-screen form")
    p.get_by_label("Your age").fill("42")
    p.get_by_label("The state you live in").select_option("OR")
    p.get_by_role("button", name="See my guidance").click()
    expect(p.get_by_role("heading", name="KAP is likely worth a conversation")).to_be_visible()
    expect(p.get_by_text("This is not a diagnosis.")).to_be_visible()
    axe_clean(p, "pre-screen guidance")

    # Book the first joint slot, with the pre-screen's result attached.
    p.get_by_role("button", name="Choose a consultation time, with this result attached").click()
    expect(p.get_by_text("Your pre-screen result will be attached")).to_be_visible()
    p.get_by_role("button", name=re.compile("^Joint:")).first.click()
    expect(p.get_by_text("joint intake with")).to_be_visible()
    axe_clean(p, "request form")
    p.get_by_label("First name").fill("Sorrel")
    p.get_by_label("Last name").fill("Brightwater")
    p.get_by_label("E-mail").fill("sorrel@example.test")
    p.get_by_label("Date of birth").fill("1984-03-09")
    p.get_by_label("The state you live in").select_option("OR")
    p.get_by_role("button", name="Send my request").click()
    expect(p.get_by_role("heading", name="Check your e-mail")).to_be_visible()
    axe_clean(p, "request sent")
    body = next(m.body for m in reversed(mail.outbox) if "sorrel@example.test" in m.to)
    link = next(w for w in body.split() if "/consultation/" in w)
    p.goto(base + "/consultation/" + link.split("/consultation/", 1)[1])
    axe_clean(p, "request link")
    p.get_by_role("button", name="Confirm my request").click()
    expect(p.get_by_text("Confirmed: new inquiry")).to_be_visible()
    context.close()

    # The admin sees it.
    a = browser.new_context().new_page()
    sign_in(a, base, admin)
    a.goto(f"{base}/directory/inquiries/")
    a.get_by_role("link", name=re.compile("Inquiry #")).first.click()
    expect(a.get_by_text("Sorrel Brightwater")).to_be_visible()
    expect(a.get_by_text("(joint intake)")).to_be_visible()
    expect(a.get_by_text("likely")).to_be_visible()

    # A client of the practice self-books an integration session after a dosing session.
    record = ClientFactory(organisation=practice, legal_first_name="Tamsin", state="OR")
    on_team(record, therapist)
    course = make_course(record, therapist, stage="active")
    client_member = member(practice, Role.CLIENT)
    record.user = client_member.user
    record.save()
    now = clock.now()
    data = hours_and_busy([therapist.pk], start=now, end=now + timedelta(days=14))[therapist.pk]
    first = slot_rules.open_slots(**data, now=now, minutes=180, limit=1)[0]
    scheduling.appointment_book(
        actor=therapist, kind="dosing", starts_at=first.starts_at, course_ids=[course.pk],
        telehealth=True, confirm=True,
    )  # fmt: skip
    c = browser.new_context().new_page()
    sign_in_client(c, base, client_member, "Tamsin")
    c.goto(f"{base}/schedule/mine/")
    c.get_by_role("link", name="Book, move or cancel a session").click()
    c.get_by_test_id("book-integration").first.click()
    expect(c.get_by_text("Your session is booked.")).to_be_visible()
    expect(c.get_by_text("Integration session").first).to_be_visible()
