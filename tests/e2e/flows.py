"""Steps shared by the end-to-end journeys: sign in, and the referral and evaluation pages."""

import re

from django_otp.oath import totp
from playwright.sync_api import expect

from tests.accounts.factories import PASSWORD, totp_device


def sign_in(page, base, membership):
    device = totp_device(membership.user)
    page.goto(f"{base}/sign-in/")
    page.get_by_label("Email").fill(membership.user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    page.get_by_label(re.compile("Code from your authenticator")).fill(f"{code:06d}")
    # The code's form; .last: the page may repeat the button in a landmark (issue 17 layout).
    page.get_by_role("main").get_by_role("button", name="Verify").last.click()
    # Signed in: the home page (each role's dashboard has its own heading) offers Sign out.
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def refer(page, *, partner: str, diagnosis: str = "F33.1", search: str = "F33.1"):
    """On the course page at intake: send a referral to `partner`'s prescriber. The first
    attempt leaves out the client's consent and is refused, naming the fields."""
    page.get_by_role("button", name="Refer to a prescriber").click()
    choice = page.locator("select[name=prescriber] option", has_text=partner)
    page.locator("select[name=prescriber]").select_option(choice.get_attribute("value"))
    page.get_by_label("Reason for referral").fill(
        "Recurrent depression; two antidepressant trials without remission."
    )
    page.get_by_label("Search by code or words").fill(search)
    page.locator(f"button[data-icd-code='{diagnosis}']").click()
    expect(page.get_by_test_id("chosen-diagnoses")).to_contain_text(diagnosis)
    page.get_by_role("button", name="Send the referral").click()
    expect(page.locator("#id_consent_to_share_error")).to_contain_text("consent")
    expect(page.locator("#id_consent_note_error")).to_be_visible()
    page.get_by_label(re.compile("The client consented to share")).check()
    page.get_by_label("How consent was given").fill("Signed release of information on file.")
    expect(page.get_by_test_id("chosen-diagnoses")).to_contain_text(diagnosis)
    page.get_by_role("button", name="Send the referral").click()
    expect(page.get_by_test_id("referral-status")).to_have_text("Sent")


def accept_from_queue(page, *, last_name: str):
    page.get_by_role("link", name="Prescriber queue").click()
    page.get_by_test_id("new-referrals").get_by_role("link", name=re.compile(last_name)).click()
    expect(page.get_by_test_id("diagnoses")).to_be_visible()
    page.get_by_role("button", name="Accept and begin the evaluation").click()
    # Accepting opens the evaluation itself (issue 17).
    expect(page.get_by_test_id("evaluation-form")).to_be_visible()


def fill_evaluation(page, *, systolic="124", diastolic="80", medication=""):
    """Complete the evaluation: vitals, history answers, every checklist item answered no."""
    page.get_by_label("Blood pressure, systolic (mmHg)").fill(systolic)
    page.get_by_label("Blood pressure, diastolic (mmHg)").fill(diastolic)
    page.get_by_label("Pregnancy status").select_option("not_applicable")
    page.get_by_label("In ongoing therapy with a licensed provider").select_option("yes")
    checklist = page.get_by_test_id("checklist")
    for select in checklist.locator("select").all():
        select.select_option("no")
    if medication:
        page.get_by_label("Medication 1", exact=True).fill(medication)
        page.get_by_label("Dose 1", exact=True).fill("15 mg three times a day")
    page.get_by_role("button", name="Save and screen again").click()
    expect(page.get_by_text("Evaluation saved")).to_be_visible()


def sign_decision(page, *, decision: str, reason: str, name: str, days: str = "180"):
    form = page.get_by_test_id("decision-form")
    form.get_by_label("Reason").fill(reason)
    if decision == "Eligible":
        form.get_by_label(re.compile("Clearance valid for")).fill(days)
    form.get_by_label("Sign: type your full name").fill(name)
    # The decision is the button pressed (issue 17): "Sign: eligible", "Sign: not eligible".
    form.get_by_role("button", name=f"Sign: {decision.lower()}").click()


def sign_in_client(page, base, membership, first_name: str):
    """Clients sign in with a password only: MFA is required of staff roles."""
    page.goto(f"{base}/sign-in/")
    page.get_by_label("Email").fill(membership.user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=f"Hello, {first_name}")).to_be_visible()


def sign_consent(page, base, *, name: str, draw: bool = True):
    """In the client's portal: open the first document to sign, tick "read and understood",
    type `name`, draw a signature on the pad (signature.js), and sign."""
    page.goto(f"{base}/consents/mine/")
    page.get_by_role("button", name="Read and sign").first.click()
    page.get_by_label(re.compile("I have read and understood")).check()
    page.get_by_label("Type your full name to sign").fill(name)
    if draw:
        canvas = page.locator("canvas[data-signature-canvas]")
        expect(canvas).to_be_visible()
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()
        page.mouse.move(box["x"] + 30, box["y"] + 90)
        page.mouse.down()
        for step in range(1, 12):
            page.mouse.move(box["x"] + 30 + step * 25, box["y"] + 90 - (step % 3) * 20)
        page.mouse.up()
    page.get_by_role("button", name="Sign", exact=True).click()
    expect(page.get_by_role("heading", name="What you signed")).to_be_visible()
