"""The superbill, receipt and statement PDFs: produced, and their text (pdftotext) holds every
field a payer needs (NUCC 1500 fields, shared DOMAIN.md section 3), in every script."""

import datetime

import pytest

from kapflow.accounts.models import ClinicianLicence
from kapflow.billing import pdf, selectors, services
from kapflow.billing.models import BillingSettings, Statement
from tests.billing.factories import charged_invoice, fee_schedule, in_network
from tests.pdftext import SCRIPTS, pdf_readable, readable

FROZEN = datetime.datetime(2026, 11, 18, 20, 0, tzinfo=datetime.UTC)
PERIOD = (datetime.date(2026, 1, 1), datetime.date(2026, 12, 31))


@pytest.fixture
def billed(world, time_machine):
    time_machine.move_to(FROZEN, tick=False)
    fee_schedule(world.practice)
    world.practice.npi = "1234567893"
    world.practice.address = "100 Example Quay, Portland, OR 97201"
    world.practice.save()
    BillingSettings.objects.create(organisation=world.practice, tax_id="93-1234567")
    user = world.therapist.user
    user.full_name, user.npi = "Avery Lindqvist", "1987654321"
    user.save()
    ClinicianLicence.objects.filter(user=user).update(number="LMFT-0042")
    in_network(world)
    services.diagnosis_add(actor=world.biller, client_id=world.client.pk, code="F33.1")
    services.diagnosis_add(actor=world.biller, client_id=world.client.pk, code="F41.1")
    invoice = charged_invoice(world, minutes=160, at_home=True)
    services.invoice_issue(actor=world.biller, invoice_id=invoice.pk)
    services.payment_record(actor=world.biller, invoice_id=invoice.pk, amount="100.00",
                            method="hsa_fsa", reference="HSA-778")  # fmt: skip
    return world


def test_the_superbill_holds_every_required_field(billed):
    client = billed.client
    bill = selectors.superbill_for(client=client, start=PERIOD[0], end=PERIOD[1])
    text = pdf_readable(pdf.render_superbill(bill))
    for expected in (
        "Superbill", "Harbor" if "Harbor" in billed.practice.name else billed.practice.name,
        "100 Example Quay", "93-1234567", "1234567893",  # practice, tax id, group NPI
        "Avery Lindqvist", "1987654321", "LMFT OR LMFT-0042",  # clinician, NPI, licence
        client.legal_first_name, client.legal_last_name, client.date_of_birth.isoformat(),
        "Example Health", "XEH123456", "G-77",  # insurance
        "A. F33.1", "B. F41.1",  # diagnoses with pointers
        "2026-11-18", "10", "90837", "95", "AB", "180.00",  # the service line
        "Amount paid", "100.00", "Signature", "Date",
    ):  # fmt: skip
        assert expected in text, (expected, text)
    # The private time has no CPT code and stays off the superbill.
    assert "KAP-PRIV" not in text


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_every_script_renders(billed, script):
    sample = SCRIPTS[script]
    client = billed.client
    client.legal_first_name, client.legal_last_name = sample, ""
    client.save()
    user = billed.therapist.user
    user.full_name = sample
    user.save()
    bill = selectors.superbill_for(client=client, start=PERIOD[0], end=PERIOD[1])
    text = pdf_readable(pdf.render_superbill(bill))
    assert readable(sample) in text
    assert "\ufffd" not in text


def test_receipt_and_statement(billed):
    invoice = selectors.own_invoices(actor=billed.client_member)[0]
    invoice = selectors.own_invoice_get(actor=billed.client_member, invoice_id=invoice.pk)
    text = pdf_readable(pdf.render_receipt(invoice, selectors.settings_for(billed.practice)))
    for expected in ("Receipt", invoice.label, "HSA/FSA card", "HSA-778", "90837", "100.00"):
        assert expected in text, expected
    services.statements_run(organisation=billed.practice, month_start=datetime.date(2026, 11, 1))
    statement = Statement.objects.get()
    text = pdf_readable(pdf.render_statement(statement, [invoice]))
    assert "Balance owed" in text and str(statement.balance) in text


def test_the_portal_superbill_download_is_audited_with_its_digest(client, billed):
    from kapflow.audit.models import AuditEvent
    from tests.conftest import sign_in

    sign_in(client, billed.client_member.user)
    response = client.get("/billing/me/superbill.pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert "Repr-Digest" in response
    event = AuditEvent.objects.get(action="superbill.export")
    assert event.client_id == billed.client.pk and event.content_digest


def test_the_superbill_for_one_invoice_holds_only_its_session(client, billed, time_machine):
    from kapflow.audit.models import AuditEvent
    from kapflow.billing.models import Invoice
    from tests.conftest import sign_in

    first = Invoice.objects.get(state="partly_paid")
    earlier = charged_invoice(
        billed, minutes=45,
        ended_at=datetime.datetime(2026, 11, 10, 20, 0, tzinfo=datetime.UTC),
    )  # fmt: skip
    services.invoice_issue(actor=billed.biller, invoice_id=earlier.pk)
    # Printed a week later, so the session's date is not the day it is generated.
    time_machine.move_to(datetime.datetime(2026, 11, 25, 20, 0, tzinfo=datetime.UTC), tick=False)
    sign_in(client, billed.biller.user)
    page = client.get(f"/billing/invoices/{first.pk}/").content.decode()
    assert f'href="/billing/invoices/{first.pk}/superbill.pdf"' in page

    response = client.get(f"/billing/invoices/{first.pk}/superbill.pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    text = pdf_readable(response.content)
    assert "90837" in text and "2026-11-18" in text, text
    # The other session, on another invoice, stays off it.
    assert "90834" not in text and "2026-11-10" not in text
    event = AuditEvent.objects.get(action="superbill.export")
    assert event.client_id == billed.client.pk and event.content_digest

    other = pdf_readable(client.get(f"/billing/invoices/{earlier.pk}/superbill.pdf").content)
    assert "90834" in other and "2026-11-10" in other
    assert "90837" not in other and "2026-11-18" not in other


def test_no_superbill_for_a_draft_and_no_link_for_a_therapist(client, billed):
    from tests.conftest import sign_in

    draft = charged_invoice(billed)
    sign_in(client, billed.biller.user)
    response = client.get(f"/billing/invoices/{draft.pk}/superbill.pdf")
    assert response.status_code == 409
    assert "not a draft" in response.content.decode()
    assert "superbill.pdf" not in client.get(f"/billing/invoices/{draft.pk}/").content.decode()

    issued = selectors.own_invoices(actor=billed.client_member)[0]
    sign_in(client, billed.therapist.user)
    assert client.get(f"/billing/invoices/{issued.pk}/").status_code == 200
    assert "superbill.pdf" not in client.get(f"/billing/invoices/{issued.pk}/").content.decode()
    assert client.get(f"/billing/invoices/{issued.pk}/superbill.pdf").status_code == 404
