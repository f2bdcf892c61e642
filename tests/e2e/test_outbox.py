"""End to end in Chromium, in demo mode: a practice admin invites a therapist, reads the
invitation in the outbox and follows its link in another window, where the new person sets
their password (decision 0039)."""

import re

import pytest
from playwright.sync_api import expect

from kapflow.accounts.models import Membership, Role
from tests.accounts.factories import OrganisationFactory, member
from tests.e2e.flows import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_an_admin_follows_an_invitation_from_the_outbox(page, browser, live_server, settings):
    settings.EMAIL_BACKEND = "kapflow.outbox.backend.OutboxBackend"
    settings.KAPFLOW_DEMO_MODE = True
    settings.KAPFLOW_BASE_URL = live_server.url
    practice = OrganisationFactory(name="Juniper Practice", state="OR")
    admin = member(practice, Role.PRACTICE_ADMIN)
    sign_in(page, live_server.url, admin)

    page.goto(f"{live_server.url}/members/")
    page.get_by_label("Email").first.fill("rowan.new@example.test")
    page.get_by_label("Therapist").check()
    page.get_by_role("button", name="Send invitation").click()
    page.get_by_role("link", name="Outbox").click()
    message = page.get_by_test_id("outbox-message")
    expect(message).to_have_count(1)
    expect(message).to_contain_text("You are invited to Juniper Practice on kapflow")
    expect(message).to_contain_text("To rowan.new@example.test")
    link = message.locator('a[href*="/invite/"]')
    href = link.get_attribute("href")
    assert href.startswith(f"{live_server.url}/invite/")

    # The invited person, in a window of their own.
    context = browser.new_context()
    invited = context.new_page()
    invited.goto(href)
    invited.get_by_label("Your full name").fill("Rowan Vale")
    invited.get_by_label(re.compile("Choose a password")).fill("a-long-enough-passphrase")
    invited.get_by_role("button", name="Create account").click()
    expect(invited).to_have_url(re.compile("/mfa/setup/"))
    context.close()
    assert Membership.objects.get(user__email="rowan.new@example.test").has_role("therapist")
