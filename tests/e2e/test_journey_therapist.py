"""The therapist's journey counted (issue 17): a new client taken from the first contact to a
discharged dosing session and a signed dosing note that started pre-filled, in at most 25
clicks. The prescriber's part (evaluate, sign, prescribe in at most 8 clicks with no retry,
then record the fill) and the client's (accept the invitation, sign the consent, answer the
pre-session checklist) run in browser contexts of their own; the prescriber's clicks are
counted and printed apart, the client's are not counted. Time moves only in the database
(the observation time before discharge), as in test_session_journey."""

import datetime
import re
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.utils import timezone
from django_otp.oath import totp
from playwright.sync_api import expect

from kapflow.accounts.models import Role
from kapflow.core.timezones import viewer_zone
from kapflow.encounters.models import DosingSession, TimelineEntry
from kapflow.notes.models import Note
from kapflow.scheduling.models import Room
from tests.accounts.factories import (
    PASSWORD,
    OrganisationFactory,
    PartnerFactory,
    member,
    partnership,
    totp_device,
)
from tests.consents.factories import publish
from tests.e2e.journey_helpers import Tally

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _patient_expectations():
    """A long journey on a shared machine: expectations wait up to 20 s, then the default."""
    expect.set_options(timeout=20_000)
    yield
    expect.set_options(timeout=5_000)


CEILING = 25


def _panel(page, label):
    return page.locator("details.action[data-action]", has=page.get_by_role("button", name=label))


def _step(t: Tally, label):
    """A step on the course page: open its panel if it is closed, press its button."""
    panel = _panel(t.page, label)
    if not panel.evaluate("e => e.open"):
        t.click(panel.locator("summary"), f"open “{label}”")
    t.click(panel.get_by_role("button", name=label), label)


def _record(t: Tally, label, **choices):
    panel = t.page.locator("details.record-form", has_text=label)
    if not panel.evaluate("e => e.open"):
        t.click(panel.locator("summary"), f"open “{label}”")
    for name, value in choices.items():
        t.select(panel.locator(f"[name={name}]"), value, f"{label}: {name}")
    t.click(panel.get_by_role("button", name=re.compile(f"Record {label}", re.I)), label)


def _sign_in(page, base, membership):
    """flows.sign_in, with the form found inside <main> (the header may hold forms too)."""
    device = totp_device(membership.user)
    page.goto(f"{base}/sign-in/")
    main = page.locator("main")
    main.get_by_label("Email").fill(membership.user.email)
    main.get_by_label("Password").fill(PASSWORD)
    main.get_by_role("button", name="Sign in").click()
    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    field = main.get_by_label(re.compile("Code from your authenticator"))
    field.fill(f"{code:06d}")
    field.press("Enter")  # the code's own form (a page may show another Verify button)
    expect(page.get_by_role("heading", name=re.compile("Welcome"))).to_be_visible()


PRESCRIBER_CEILING = 8


def _prescriber_part(browser, base, prescriber) -> tuple[Tally, int]:
    """The prescriber's part as the pages lead it (decision 0051): accept the referral, which
    opens the evaluation started from the referral; sign "eligible", which opens the
    prefilled prescription; issue it, and record the pharmacy's fill, whose form is open and
    dated today on a prescription not yet filled. Returns the tally and the clicks it took to
    evaluate, sign and prescribe (the fill after them). No page may answer 4xx or 5xx: a
    retry would be hidden in the count otherwise."""
    page = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    page.set_default_timeout(30000)
    refused = []
    page.on(
        "response", lambda r: refused.append(f"{r.status} {r.url}") if r.status >= 400 else None
    )
    _sign_in(page, base, prescriber)
    p = Tally(page, who="prescriber")
    p.click(page.get_by_role("link", name="Prescriber queue"), "queue")
    p.click(page.get_by_test_id("new-referrals").get_by_role("link", name=re.compile("Ashgrove")),
            "the referral")  # fmt: skip
    p.click(page.get_by_role("button", name="Accept and begin the evaluation"), "accept")
    expect(page.get_by_test_id("evaluation-form")).to_be_visible()
    p.fill(page.get_by_label("Blood pressure, systolic (mmHg)"), "124")
    p.fill(page.get_by_label("Blood pressure, diastolic (mmHg)"), "80")
    p.select(page.get_by_label("Pregnancy status"), "not_applicable", "pregnancy status")
    # Ongoing therapy comes from the referral (the therapist's own attestation).
    expect(page.get_by_label("In ongoing therapy with a licensed provider")).to_have_value("yes")
    p.click(page.get_by_role("button", name=re.compile("Answer “No” to every item")), "no to rest")
    panel = page.get_by_test_id("decision-panel")
    p.click(panel.get_by_role("button", name="Save and screen again"), "save")
    expect(page.get_by_text("Evaluation saved")).to_be_visible()
    expect(page.get_by_test_id("findings")).to_contain_text("No findings")
    form = page.get_by_test_id("decision-form")
    p.fill(form.get_by_label("Reason"), "No contraindications or interactions.")
    p.fill(form.get_by_label("Sign: type your full name"), prescriber.user.full_name)
    p.click(form.get_by_role("button", name="Sign: eligible"), "sign: eligible")
    expect(page.get_by_role("heading", name="Write a ketamine prescription")).to_be_visible()
    expect(page.get_by_label("Product")).to_have_value("ketamine_sl_rdt")
    p.fill(page.get_by_label("Dose (mg)"), "200")
    p.fill(page.get_by_label("Doses per fill"), "2")
    p.fill(page.locator("input[name=pharmacy_name]"), "Cedar Compounding Pharmacy")
    p.fill(page.get_by_label("Your DEA registration number"), "AB1234563")
    p.click(page.get_by_role("button", name="Sign and issue"), "sign and issue")
    expect(page.get_by_test_id("rx-status")).to_have_text("Active")
    prescribed = len(p.clicks)
    # The fill: its form is open, dated today; the pharmacy's handover is the default.
    fill = page.get_by_test_id("fill-form")
    expect(fill.get_by_label("Dispensed on")).not_to_have_value("")
    p.click(fill.get_by_role("button", name="Record the fill"), "record the fill")
    expect(page.get_by_test_id("doses-left")).to_contain_text("2 (0 used of 2 dispensed)")
    page.context.close()
    assert not refused, f"a retry: {refused}"
    return p, prescribed


def _client_part(browser, base, invitation_url):
    """The client accepts the e-mailed invitation, signs the consent and, on the day,
    answers the pre-session checklist (not counted: the client's own clicks)."""
    page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    page.set_default_timeout(30000)
    page.goto(invitation_url)
    if page.get_by_label("Your full name").count():
        page.get_by_label("Your full name").fill("Marin Ashgrove")
    page.get_by_label(re.compile("Choose a password")).fill("a-long-enough-passphrase")
    page.get_by_role("button", name="Create account").click()
    page.goto(f"{base}/consents/mine/")
    page.get_by_role("button", name="Read and sign").first.click()
    page.get_by_label(re.compile("I have read and understood")).check()
    page.get_by_label("Type your full name to sign").fill("Marin Ashgrove")
    page.get_by_role("button", name="Sign", exact=True).click()
    expect(page.get_by_role("heading", name="What you signed")).to_be_visible()
    return page


def test_the_therapist_takes_a_new_client_to_a_signed_dosing_note(browser, live_server):
    practice = OrganisationFactory(name="Cedar Grove Practice", state="OR")
    partner = PartnerFactory(name="Meridian Medical")
    partnership(practice, partner)
    therapist = member(practice, Role.THERAPIST, licences=[("LMFT", "OR")])
    prescriber = member(partner, Role.PRESCRIBER, licences=[("NP", "OR")])
    publish(practice, "kap", by=therapist.user)
    Room.objects.create(organisation=practice, name="Willow Room")
    base = live_server.url

    page = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    page.set_default_timeout(30000)
    _sign_in(page, base, therapist)  # the start of the day, not counted
    t = Tally(page)

    # The first contact: a new client, from the day's page.
    t.click(page.get_by_test_id("today").get_by_role("link", name="New client"), "New client")
    t.fill(page.get_by_label("Legal first name"), "Marin")
    t.fill(page.get_by_label("Legal last name"), "Ashgrove")
    t.fill(page.get_by_label("Date of birth"), "1986-04-12")
    t.fill(page.get_by_label("Email"), "marin.ashgrove@example.test")
    expect(page.get_by_label("State")).to_have_value("OR")  # the practice's own
    t.fill(page.locator("[name=emergency_contact_name]"), "Ana Ashgrove")
    t.fill(page.locator("[name=emergency_contact_phone]"), "503-555-0142")
    expect(page.get_by_label(re.compile("Invite to the client portal"))).to_be_checked()
    t.click(page.get_by_role("button", name="Create client"), "Create client")
    expect(page.get_by_text("Portal invitation sent")).to_be_visible()
    # A client with no course: the form to open one is open; one press opens it at intake.
    t.click(page.get_by_role("button", name="Open and start the intake"), "open at intake")
    expect(page.get_by_test_id("stage")).to_have_text("Intake assessment")
    course_url = page.url
    course_id = int(course_url.rstrip("/").rsplit("/", 1)[-1])

    # The referral.
    t.click(page.get_by_role("button", name="Refer to a prescriber"), "refer")
    # The practice's one partner prescriber is chosen already.
    choice = page.locator("select[name=prescriber] option", has_text="Meridian Medical")
    expect(page.locator("select[name=prescriber]")).to_have_value(choice.get_attribute("value"))
    t.fill(page.get_by_label("Reason for referral"), "Recurrent depression; two trials.")
    t.fill(page.get_by_label("Search by code or words"), "F33.1")
    # The first search parses the ICD-10-CM release (slow on a busy machine): wait for it.
    page.locator("button[data-icd-code='F33.1']").wait_for(timeout=60000)
    t.click(page.locator("button[data-icd-code='F33.1']"), "diagnosis")
    t.check(page.get_by_label(re.compile("The client consented to share")), "consent to share")
    t.fill(page.get_by_label("How consent was given"), "Signed release on file.")
    t.click(page.get_by_role("button", name="Send the referral"), "send the referral")
    expect(page.get_by_test_id("referral-status")).to_have_text("Sent")

    # The therapist's page polls (alerts, notifications); the in-memory SQLite test database
    # takes one writer at a time, so it rests while the others work (not a click: the
    # therapist comes back to the course below, counted).
    page.goto("about:blank")
    prescriber_tally, prescribed = _prescriber_part(browser, base, prescriber)

    [invitation] = [m for m in mail.outbox if "marin.ashgrove@example.test" in m.to]
    # The e-mailed link names the configured site; the live server has its own port.
    invitation_url = base + re.search(r"/invite/\S+", invitation.body).group(0)
    client_page = _client_part(browser, base, invitation_url)

    # Back on the course: the signature has arrived.
    t.visit(course_url, "the course")
    expect(page.get_by_test_id("consent-status")).to_contain_text("signed")
    _step(t, "Confirm signed consent")
    _step(t, "Start preparation")
    _record(t, "Preparation session")
    _record(t, "Suicide-risk screen", positive="no")
    _step(t, "Ready to dose")
    expect(page.get_by_test_id("stage")).to_have_text("Active: dosing and integration")

    # The dosing session, booked to start in a few minutes.
    zone = ZoneInfo(viewer_zone(therapist.user, therapist))
    soon = (timezone.now() + datetime.timedelta(minutes=10)).astimezone(zone)
    t.click(page.get_by_role("button", name="Book a dosing session"), "book a dosing session")
    t.fill(page.locator("[name=starts_at]"), soon.strftime("%Y-%m-%dT%H:%M"))
    room = page.get_by_label("Room").locator("option:checked")
    expect(room).to_have_text("Willow Room")  # the practice's one room
    t.click(page.get_by_role("button", name=re.compile("^Book")), "book")
    if page.get_by_role("button", name="Book anyway").count():
        t.click(page.get_by_role("button", name="Book anyway"), "book anyway")
    expect(page.get_by_test_id("open-session")).to_be_visible()
    t.click(page.get_by_test_id("open-session"), "open the session")
    if page.get_by_role("button", name="Open the session").count():
        t.click(page.get_by_role("button", name="Open the session"), "open the session record")
    expect(page.get_by_test_id("start-form")).to_be_visible()
    expect(page.get_by_test_id("context-emergency")).to_contain_text("Ana Ashgrove")
    expect(page.get_by_test_id("context-dose")).to_contain_text("200 mg per session")
    expect(page.get_by_test_id("context-allergies")).to_be_visible()

    # The client answers the pre-session checklist on their phone (not counted).
    session = DosingSession.objects.get(course_id=course_id)
    client_page.goto(f"{base}/sessions/{session.pk}/checklist/")
    for box in client_page.locator("input[type=checkbox]").all():
        box.check()
    client_page.get_by_role("button", name=re.compile("Send|Save|Submit")).first.click()
    client_page.context.close()

    form = page.get_by_test_id("start-form")
    t.fill(form.get_by_label("Systolic (mmHg)"), "122")
    t.fill(form.get_by_label("Diastolic (mmHg)"), "78")
    t.click(form.get_by_role("button", name="Check the gate and start"), "start")
    expect(page.get_by_test_id("dose-form")).to_be_visible()

    # The dose comes filled in from the prescription.
    dose = page.get_by_test_id("dose-form")
    expect(dose.get_by_label("Amount")).to_have_value(re.compile(r"^200(\.0+)?$"))
    t.click(dose.get_by_role("button", name="Record dose"), "record the dose")
    expect(page.get_by_test_id("timeline")).to_contain_text("uses one dose")
    vitals = page.get_by_test_id("vitals-form")
    t.fill(vitals.get_by_label("Systolic (mmHg)"), "184")
    t.fill(vitals.get_by_label("Diastolic (mmHg)"), "96")
    t.click(vitals.get_by_role("button", name="Record vitals"), "vitals")
    expect(page.get_by_test_id("flagged")).to_contain_text("Rule: systolic >= 180 mmHg")
    t.fill(vitals.get_by_label("Systolic (mmHg)"), "136")
    t.fill(vitals.get_by_label("Diastolic (mmHg)"), "84")
    t.click(vitals.get_by_role("button", name="Record vitals"), "vitals again")
    expect(page.get_by_test_id("flagged")).to_have_count(0)

    # Two and a half hours pass (moved in the database: no waiting in tests). The screen's
    # poll rests first: the in-memory SQLite test database takes one writer at a time.
    page.wait_for_load_state("networkidle")
    session.refresh_from_db()
    shift = datetime.timedelta(minutes=150)
    DosingSession.objects.filter(pk=session.pk).update(started_at=session.started_at - shift)
    for entry in TimelineEntry.objects.filter(session=session):
        if entry.data.get("bp_systolic") != 136:
            TimelineEntry.objects.filter(pk=entry.pk).update(occurred_at=entry.occurred_at - shift)

    discharge = page.get_by_test_id("discharge-form")
    t.click(discharge.get_by_role("button", name=re.compile("I checked all three")), "all three")
    expect(discharge.get_by_label(re.compile("Driver here"))).to_be_checked()
    t.click(discharge.get_by_role("button", name="Discharge and close"), "discharge")
    expect(page.get_by_test_id("discharged")).to_be_visible()

    # The dosing note starts from the record; the clinician adds the assessment and signs.
    t.click(page.get_by_test_id("write-note"), "write the dosing note")
    editor = page.locator("#note-editor")
    objective = editor.locator("[name=section_objective]")
    expect(objective).to_contain_text("Dose: 200 mg")
    expect(objective).to_contain_text("BP 184/96")
    expect(editor.locator("[name=section_discharge]")).to_contain_text("min of observation")
    t.fill(editor.locator("[name=section_assessment]"),
           "Tolerated the dose well; one raised reading settled without treatment.")  # fmt: skip
    t.fill(editor.get_by_label(re.compile("full name", re.I)), therapist.user.full_name)
    # The editor's autosave (2 s after typing) first: SQLite cannot take two writers at once.
    page.wait_for_timeout(2500)
    page.wait_for_load_state("networkidle")
    t.click(editor.get_by_test_id("sign"), "sign the note")
    expect(page.get_by_test_id("note-status")).to_have_text("Signed and final")
    note = Note.objects.get(client__legal_last_name="Ashgrove")
    assert note.status == "signed" and "Dose: 200 mg" in note.sections["objective"]

    print()
    print(t.report())
    print(prescriber_tally.report())
    print(
        f"prescriber: {prescribed} clicks to evaluate, sign and prescribe (ceiling "
        f"{PRESCRIBER_CEILING}), {len(prescriber_tally.clicks) - prescribed} to record the fill"
    )
    print(f"therapist: {len(t.clicks)} clicks (ceiling {CEILING})")
    assert len(t.clicks) <= CEILING, t.report()
    assert prescribed <= PRESCRIBER_CEILING, prescriber_tally.report()
