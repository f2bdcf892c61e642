"""End to end in Chromium, on the demo practice: the biller charges the dosing session
finished yesterday from the work list, issues the invoice, records a payment against it,
and the client sign-in downloads their superbill from the portal."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from kapflow.accounts.models import Membership
from kapflow.billing.models import Invoice, Payment
from kapflow.demo.loader import load_demo
from tests.accounts.factories import PASSWORD
from tests.e2e.flows import sign_in
from tests.pdftext import pdf_readable

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _member(email):
    membership = Membership.objects.select_related("user").get(user__email=email)
    membership.user.set_password(PASSWORD)
    membership.user.save()
    return membership


def test_biller_charges_issues_and_is_paid_then_the_client_downloads_a_superbill(
    browser, live_server
):
    load_demo(clients=12)
    biller = _member("billing@harborlight.example")
    client_member = _member("client@harborlight.example")
    base = live_server.url

    page = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
    page.set_default_timeout(15000)
    sign_in(page, base, biller)
    expect(page.get_by_test_id("billing-home")).to_contain_text("to charge")
    page.get_by_test_id("billing-workbench-link").click()
    charge = page.get_by_test_id("to-charge").get_by_role("button", name="Charge").first
    charge.click()
    expect(page.get_by_test_id("invoice-state")).to_have_text("Draft")
    expect(page.get_by_test_id("invoice-lines")).to_contain_text("KAP-TIME")
    page.get_by_test_id("issue-invoice").click()
    expect(page.get_by_test_id("invoice-state")).to_have_text("Issued")
    invoice = Invoice.objects.filter(state="issued").order_by("-pk").first()
    form = page.get_by_test_id("payment-form")
    form.get_by_label("Amount").fill("100.00")
    form.get_by_label("Method").select_option("card_external")
    form.get_by_label("Reference").fill("ch_demo_1")
    page.get_by_test_id("record-payment").click()
    expect(page.get_by_test_id("invoice-state")).to_have_text("Partly paid")
    assert Payment.objects.filter(invoice=invoice, reference="ch_demo_1").exists()
    page.context.close()

    portal = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
    portal.set_default_timeout(15000)
    portal.goto(f"{base}/sign-in/")
    portal.get_by_label("Email").fill(client_member.user.email)
    portal.get_by_label("Password").fill(PASSWORD)
    portal.get_by_role("button", name="Sign in").click()
    portal.get_by_test_id("my-billing").click()
    expect(portal.get_by_test_id("my-statements")).to_contain_text(re.compile(r"\d{4}"))
    expect(portal.get_by_test_id("my-invoices")).to_contain_text("Receipt")
    with portal.expect_download() as download:
        portal.get_by_test_id("my-superbill").click()
    text = pdf_readable(Path(download.value.path()).read_bytes())
    assert "Superbill" in text and "90837" in text and "Jordan" in text
    portal.context.close()
