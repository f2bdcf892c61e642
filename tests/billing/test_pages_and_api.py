"""Billing pages and endpoints: what each shows, query counts pinned, bad input answered
with the field named (never a 500), another practice's rows "not found"."""

import datetime
import json

import pytest

from kapflow.billing import selectors, services
from kapflow.billing.models import Invoice, Payment
from tests.billing.factories import (
    charged_invoice,
    discharged_session,
    fee_schedule,
    in_network,
    issued_invoice,
)
from tests.conftest import sign_in
from tests.patients.factories import ClientFactory

FROZEN = datetime.datetime(2026, 11, 18, 20, 0, tzinfo=datetime.UTC)


@pytest.fixture
def practice(world, time_machine):
    time_machine.move_to(FROZEN, tick=False)
    fee_schedule(world.practice)
    return world


def _post_json(client, url, body, method="post"):
    return getattr(client, method)(url, data=json.dumps(body), content_type="application/json")


def test_biller_home_offers_work(client, practice):
    discharged_session(practice)
    charged_invoice(practice)
    sign_in(client, practice.biller.user)
    page = client.get("/").content.decode()
    assert 'data-testid="billing-home"' in page
    assert "1 finished session to charge" in page and "1 draft invoice to issue" in page


def test_workbench_charge_issue_pay_by_pages(client, practice):
    in_network(practice)
    session = discharged_session(practice)
    sign_in(client, practice.biller.user)
    page = client.get("/billing/").content.decode()
    assert f'data-testid="charge-dosing_session-{session.pk}"' in page
    response = client.post("/billing/charge/", {"source_kind": "dosing_session",
                                                "source_id": session.pk})  # fmt: skip
    invoice = Invoice.objects.get()
    assert (
        response.status_code == 302 and response["Location"] == f"/billing/invoices/{invoice.pk}/"
    )
    detail = client.get(response["Location"]).content.decode()
    assert "90837" in detail and "Time beyond the psychotherapy hour" in detail
    assert client.post(f"/billing/invoices/{invoice.pk}/issue/").status_code == 302
    response = client.post(f"/billing/invoices/{invoice.pk}/pay/",
                           {"amount": "9999.00", "method": "manual"})  # fmt: skip
    assert response.status_code == 422
    assert "more than the balance" in response.content.decode()
    assert Payment.objects.count() == 0
    paid = {"amount": "262.50", "method": "card_external", "reference": "ch_1"}
    response = client.post(f"/billing/invoices/{invoice.pk}/pay/", paid)
    assert response.status_code == 302
    invoice.refresh_from_db()
    assert invoice.state == "partly_paid"


def test_finance_page_ageing_and_revenue(client, practice, time_machine):
    in_network(practice)
    old = issued_invoice(practice, minutes=60)
    Invoice.objects.filter(pk=old.pk).update(issued_on=datetime.date(2026, 8, 1))
    issued_invoice(practice, minutes=160)
    sign_in(client, practice.biller.user)
    page = client.get("/billing/finance/").content.decode()
    assert "over 90 days" in page and "90837" in page and "Example Health" in page
    f = selectors.finance_summary(actor=practice.biller)
    assert f.ageing["over 90"] == old.total
    assert f.owed_total == sum(f.ageing.values())


def test_invoice_list_queries_do_not_grow(client, practice, django_assert_max_num_queries):
    issued_invoice(practice)
    sign_in(client, practice.biller.user)
    client.get("/billing/invoices/")
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as one:
        assert client.get("/billing/invoices/").status_code == 200
    for _ in range(5):
        issued_invoice(practice, client=ClientFactory(organisation=practice.practice))
    with django_assert_max_num_queries(len(one.captured_queries)):
        assert client.get("/billing/invoices/").status_code == 200
    with django_assert_max_num_queries(len(one.captured_queries)):
        assert client.get("/api/v1/billing/invoices").status_code == 200


def test_api_charge_issue_pay_and_read(client, practice):
    in_network(practice)
    session = discharged_session(practice, at_home=True)
    sign_in(client, practice.biller.user)
    response = _post_json(client, "/api/v1/billing/charges",
                          {"source_kind": "dosing_session", "source_id": session.pk})  # fmt: skip
    assert response.status_code == 201
    body = response.json()
    assert body["state"] == "draft" and body["total"] == "442.50"
    assert body["lines"][0]["modifiers"] == ["95"] and body["lines"][0]["place_of_service"] == "10"
    assert all(line["why"] for line in body["lines"])
    invoice_id = body["id"]
    again = _post_json(client, "/api/v1/billing/charges",
                       {"source_kind": "dosing_session", "source_id": session.pk})  # fmt: skip
    assert again.status_code == 409 and again.json()["errors"][0]["code"] == "charge.already"
    assert client.post(f"/api/v1/billing/invoices/{invoice_id}/issue").json()["state"] == "issued"
    response = _post_json(client, f"/api/v1/billing/invoices/{invoice_id}/payments",
                          {"amount": "1.234", "method": "manual"})  # fmt: skip
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "amount"
    paid = {"amount": "442.50", "method": "financing", "reference": "FIN-1"}
    response = _post_json(client, f"/api/v1/billing/invoices/{invoice_id}/payments", paid)
    assert response.status_code == 201 and response.json()["state"] == "paid"
    payment_id = response.json()["payments"][0]["id"]
    response = _post_json(client, f"/api/v1/billing/payments/{payment_id}/refunds",
                          {"amount": "500.00", "reason": "x"})  # fmt: skip
    assert response.status_code == 422


def test_api_bad_input_never_500(client, practice):
    invoice = issued_invoice(practice)
    sign_in(client, practice.biller.user)
    for url, body in [
        ("/api/v1/billing/charges", {"source_kind": "dosing_session", "source_id": 2**63}),
        ("/api/v1/billing/charges", {"source_kind": "nope", "source_id": 1}),
        (f"/api/v1/billing/invoices/{invoice.pk}/payments", {"amount": "1e5", "method": "manual"}),
        (f"/api/v1/billing/invoices/{invoice.pk}/void", {"reason": "\x00"}),
        (f"/api/v1/billing/invoices/{invoice.pk}/write-offs", {"amount": "1", "reason_code": "x"}),
        ("/api/v1/billing/fees", {"code": "", "description": "", "purpose": "other",
                                  "rate": "1", "effective_from": "2026-01-01"}),
    ]:  # fmt: skip
        response = _post_json(client, url, body)
        assert response.status_code == 422, (url, response.content)
    response = _post_json(client, f"/api/v1/billing/clients/{practice.client.pk}/coverage",
                          {"kind": "in_network"}, method="put")  # fmt: skip
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"payer", "member_id"}


def test_another_practice_gets_not_found(client, practice):
    invoice = issued_invoice(practice)
    sign_in(client, practice.other_admin.user)
    assert client.get(f"/api/v1/billing/invoices/{invoice.pk}").status_code == 404
    assert client.get(f"/billing/invoices/{invoice.pk}/").status_code == 404
    assert client.get(f"/billing/clients/{practice.client.pk}/").status_code == 404
    assert selectors.invoice_list(actor=practice.other_admin) == []


def test_client_portal_shows_statement_receipt_and_coverage(client, practice):
    invoice = issued_invoice(practice)
    services.payment_record(actor=practice.biller, invoice_id=invoice.pk, amount="100.00",
                            method="hsa_fsa")  # fmt: skip
    services.statements_run(organisation=practice.practice, month_start=datetime.date(2026, 11, 1))
    charged_invoice(practice)  # a draft: never shown to the client
    sign_in(client, practice.client_member.user)
    page = client.get("/billing/me/").content.decode()
    assert invoice.label in page and f'data-testid="receipt-{invoice.pk}"' in page
    assert "November 2026" in page
    assert client.get(f"/billing/me/invoices/{invoice.pk}/receipt.pdf").status_code == 200
    statement = practice.client.statements.get()
    response = client.get(f"/billing/me/statements/{statement.pk}.pdf")
    assert response.status_code == 200
    assert len(client.get("/api/v1/billing/mine/invoices").json()) == 1
    response = client.post("/billing/me/", {"kind": "out_of_network", "payer": "Example Health",
                                            "member_id": "Q1", "relationship": "self"})  # fmt: skip
    assert response.status_code == 302
    assert client.get("/api/v1/billing/mine/coverage").json()["payer"] == "Example Health"


def test_claims_csv_is_formula_safe(client, practice):
    in_network(practice)
    practice.client.legal_last_name = "=HYPERLINK(1)"
    practice.client.save()
    issued_invoice(practice)
    sign_in(client, practice.biller.user)
    response = client.get("/billing/claims.csv?start=2026-11-01&end=2026-11-30")
    body = b"".join(response.streaming_content) if response.streaming else response.content
    text = body.decode()
    assert "'=HYPERLINK(1)" in text and "90837" in text and "XEH123456" in text
    assert "KAP-PRIV" not in text  # only lines billed to the payer


def test_the_client_record_links_billing_for_billing_staff_only(client, practice):
    url = f"/clients/{practice.client.pk}/"
    sign_in(client, practice.biller.user)
    assert 'data-testid="billing-link"' in client.get(url).content.decode()
    sign_in(client, practice.therapist.user)
    assert 'data-testid="billing-link"' not in client.get(url).content.decode()
