"""End to end in Chromium: a therapist assigns the PHQ-9, the client answers item 9 above
"Not at all" in the portal, the therapist sees the urgent task, the risk banner and the
blocked dosing gate, records a risk assessment, and the gate clears."""

import datetime
import re

import pytest
from django.utils import timezone
from django_otp.oath import totp
from playwright.sync_api import expect

from kapflow.accounts.models import Role
from kapflow.assessments.models import UrgentTask
from tests.accounts.factories import (
    PASSWORD,
    OrganisationFactory,
    PartnerFactory,
    member,
    partnership,
    totp_device,
)
from tests.courses.factories import event, make_course
from tests.patients.factories import ClientFactory, on_team

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

RISK = "screen.suicide_risk_positive"
PHQ9_ITEMS = [f"phq9_{i}" for i in range(1, 10)]


def _sign_in_staff(page, base, membership):
    device = totp_device(membership.user)
    page.goto(f"{base}/sign-in/")
    page.get_by_label("Email").fill(membership.user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    page.get_by_label(re.compile("Code from your authenticator")).fill(f"{code:06d}")
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name=re.compile("Welcome"))).to_be_visible()


def _sign_in_client(page, base, membership, first_name):
    # Clients sign in with a password only: MFA is required of staff roles.
    page.goto(f"{base}/sign-in/")
    page.get_by_label("Email").fill(membership.user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=f"Hello, {first_name}")).to_be_visible()


def _risk_reason(page):
    return page.get_by_test_id("dosing-gate").locator(f'li[data-code="{RISK}"]')


def test_positive_phq9_item_9_blocks_dosing_until_a_risk_assessment(browser, live_server):
    practice = OrganisationFactory(name="Cedar Grove Practice", state="OR")
    partner = PartnerFactory(name="Meridian Medical")
    partnership(practice, partner)
    therapist = member(practice, Role.THERAPIST, licences=[("LMFT", "OR")])
    prescriber = member(partner, Role.PRESCRIBER, licences=[("NP", "OR")])
    client_member = member(practice, Role.CLIENT)
    client = ClientFactory(
        organisation=practice,
        legal_first_name="Ode",
        legal_last_name="Brightwater",
        state="OR",
        user=client_member.user,
    )
    on_team(client, therapist)
    on_team(client, prescriber, role="prescriber", added_by=therapist.user)
    # Active, prepared, prescribed and screened negative yesterday: ready to dose.
    course = make_course(client, therapist, prescriber=prescriber, stage="active")
    event(
        course,
        therapist,
        "risk_screen",
        positive=False,
        at=timezone.now() - datetime.timedelta(days=1),
    )
    base = live_server.url
    course_url = f"{base}/courses/{course.pk}/"

    t = browser.new_context().new_page()
    _sign_in_staff(t, base, therapist)
    t.goto(course_url)
    expect(t.get_by_test_id("dosing-gate")).to_contain_text("Nothing blocks this.")
    expect(t.get_by_test_id("risk-banner")).to_have_count(0)

    # The therapist assigns the PHQ-9 from the client's Assessments page.
    t.goto(f"{base}/assessments/clients/{client.pk}/")
    t.get_by_text("Assign a questionnaire").click()
    t.get_by_label("Questionnaire").select_option("phq9")
    t.get_by_role("button", name="Assign", exact=True).click()
    expect(t.get_by_text("Questionnaire assigned")).to_be_visible()
    expect(t.get_by_test_id("open-assignment")).to_have_count(1)

    # The client answers it in the portal: item 9 "Several days".
    c = browser.new_context().new_page()
    _sign_in_client(c, base, client_member, "Ode")
    c.get_by_role("link", name="Questionnaires from your care team").click()
    c.get_by_role("link", name="phq9").click()
    expect(
        c.get_by_role("heading", name=re.compile("Patient Health Questionnaire"))
    ).to_be_visible()
    for item in PHQ9_ITEMS[:8]:
        c.locator(f"#item-{item}").get_by_label("Not at all").check()
    c.locator("#item-phq9_9").get_by_label("Several days").check()
    c.get_by_role("button", name="Send my answers").click()
    expect(c.get_by_text("Thank you").first).to_be_visible()
    task = UrgentTask.objects.get(client=client)
    assert task.codes == ["phq9.item9_positive"] and task.resolved_at is None

    # The therapist's caseload names the client under urgent tasks; the course is blocked.
    t.goto(f"{base}/courses/")
    urgent = t.get_by_test_id("urgent-tasks")
    expect(urgent).to_be_visible()
    expect(urgent).to_contain_text("Brightwater")
    t.goto(course_url)
    expect(t.get_by_test_id("risk-banner")).to_be_visible()
    expect(_risk_reason(t)).to_have_count(1)

    # The therapist records the risk assessment on the urgent task page.
    t.goto(f"{base}/courses/")
    t.get_by_test_id("urgent-tasks").get_by_role("link", name=re.compile("Brightwater")).click()
    expect(t.get_by_role("heading", name="Urgent safety review")).to_be_visible()
    # A structured assessment (decision 0029): level, the three reviews, the decision.
    t.get_by_label("Low", exact=True).check()
    t.get_by_label("Protective factors reviewed").check()
    t.get_by_label("Safety plan reviewed with the client").check()
    t.get_by_label("Means restriction discussed").check()
    t.get_by_label("Risk assessed: safe to continue the course").check()
    t.locator("textarea[name=note]").fill(
        "Passive thoughts only, no plan or intent; safety plan reviewed with the client."
    )
    t.get_by_role("button", name="Record risk assessment and decision").click()
    expect(t.get_by_text("Risk assessment and decision recorded.")).to_be_visible()

    t.goto(course_url)
    expect(_risk_reason(t)).to_have_count(0)
    expect(t.get_by_test_id("risk-banner")).to_have_count(0)
    expect(t.get_by_test_id("dosing-gate")).to_contain_text("Nothing blocks this.")
    t.goto(f"{base}/courses/")
    expect(t.get_by_test_id("urgent-tasks")).to_have_count(0)
    task.refresh_from_db()
    assert (task.decision, task.resolved_by_id) == ("proceed", therapist.pk)
