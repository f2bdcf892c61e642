"""End to end in Chromium: MFA sign-in, creating a client, the audit row; the client's and
companion's views."""

import re

import pytest
from django_otp.oath import totp
from playwright.sync_api import expect

from kapflow.accounts.models import Role
from kapflow.patients.models import Client
from tests.accounts.factories import PASSWORD, OrganisationFactory, member, totp_device

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _sign_in(page, base, email):
    page.goto(f"{base}/sign-in/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_admin_signs_in_with_totp_creates_client_and_sees_audit_row(page, live_server):
    practice = OrganisationFactory(name="Cedar Grove Practice")
    admin = member(practice, Role.PRACTICE_ADMIN, Role.THERAPIST, licences=[("LMFT", "OR")])
    device = totp_device(admin.user)

    _sign_in(page, live_server.url, admin.user.email)
    expect(page.get_by_role("heading", name="Two-step verification")).to_be_visible()
    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    page.get_by_label(re.compile("Code from your authenticator")).fill(f"{code:06d}")
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name=re.compile("Welcome"))).to_be_visible()

    page.get_by_role("link", name="Clients", exact=True).first.click()
    page.get_by_role("button", name="New client").click()
    # Submitting an empty form names every missing field and saves nothing.
    page.get_by_role("button", name="Create client").click()
    expect(page.get_by_text("Legal last name: This field is required.")).to_be_visible()
    assert Client.objects.count() == 0

    page.get_by_label("Legal first name").fill("Wren")
    page.get_by_label("Legal last name").fill("Halvorsen")
    page.get_by_label("Date of birth").fill("1987-03-14")
    page.get_by_label("State").select_option("OR")
    page.get_by_role("button", name="Create client").click()
    expect(page.get_by_role("heading", name="Wren Halvorsen")).to_be_visible()
    created = Client.objects.get()
    expect(page.get_by_text("Licensed in OR")).to_be_visible()

    page.get_by_role("link", name="Audit trail").click()
    table = page.get_by_test_id("audit-table")
    row = table.locator("tr", has_text="client.create")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(admin.user.email)
    expect(row).to_contain_text(f"#{created.pk}")


def test_search_finds_a_client_without_putting_the_name_in_the_url(page, live_server):
    practice = OrganisationFactory(name="Cedar Grove Practice")
    admin = member(practice, Role.PRACTICE_ADMIN)
    device = totp_device(admin.user)
    from tests.patients.factories import ClientFactory

    ClientFactory(organisation=practice, legal_last_name="Quernmoor")
    ClientFactory.create_batch(3, organisation=practice)
    _sign_in(page, live_server.url, admin.user.email)
    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    page.get_by_label(re.compile("Code from your authenticator")).fill(f"{code:06d}")
    page.get_by_role("button", name="Verify").click()
    page.goto(f"{live_server.url}/clients/")
    expect(page.get_by_text("4 clients")).to_be_visible()
    page.get_by_label(re.compile("Search by name")).fill("Quern")
    expect(page.get_by_text("1 client matching")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("Quernmoor"))).to_be_visible()
    assert "Quern" not in page.url


def test_client_sees_own_record_and_companion_sees_nothing_clinical(page, live_server):
    practice = OrganisationFactory(name="Cedar Grove Practice")
    client_member = member(practice, Role.CLIENT)
    record = Client.objects.create(
        organisation=practice,
        user=client_member.user,
        legal_first_name="Ode",
        legal_last_name="Brightwater",
        date_of_birth="1990-01-01",
        state="OR",
    )
    companion = member(practice, Role.COMPANION)
    from kapflow.patients.models import Companion

    Companion.objects.create(organisation=practice, client=record, user=companion.user)

    _sign_in(page, live_server.url, client_member.user.email)
    expect(page.get_by_role("heading", name="Hello, Ode")).to_be_visible()
    page.get_by_role("link", name="See who has looked at your record").click()
    expect(page.get_by_text("Opened your portal home page").first).to_be_visible()
    response = page.goto(f"{live_server.url}/clients/{record.pk}/")
    assert response.status == 404
    page.get_by_role("button", name="Sign out").click()

    _sign_in(page, live_server.url, companion.user.email)
    expect(page.get_by_role("heading", name="Thank you for being a companion")).to_be_visible()
    expect(page.get_by_text("Brightwater")).to_have_count(0)
    assert page.goto(f"{live_server.url}/clients/{record.pk}/").status == 404
    assert page.goto(f"{live_server.url}/clients/").status == 404
