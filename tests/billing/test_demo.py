"""The demo's money: billing@ has invoices in every state, a package half used, a
subscription, a superbill ready and a finished session to charge; client@ sees a statement
and a receipt. Loaded through the services (kapflow.billing.demo)."""

from datetime import timedelta

import pytest

from kapflow.accounts.models import Membership
from kapflow.billing import pdf, selectors
from kapflow.billing.models import Invoice, Package, Subscription
from kapflow.demo.loader import load_demo
from tests.pdftext import pdf_readable


@pytest.fixture
def demo(db):
    load_demo(clients=16)
    return {
        m.user.email: m
        for m in Membership.objects.select_related("organisation", "user").prefetch_related("roles")
    }


def test_billing_has_work_and_money_in_every_state(demo):
    biller = demo["billing@harborlight.example"]
    states = set(Invoice.objects.values_list("state", flat=True))
    assert {"draft", "issued", "partly_paid", "paid", "void"} <= states
    assert Package.objects.filter(sessions_used=1, sessions_total=2).exists()
    assert Subscription.objects.filter(cancelled_on__isnull=True).exists()
    assert any(c.kind == "dosing" for c in selectors.chargeable_list(actor=biller))
    finance = selectors.finance_summary(actor=biller)
    assert finance.ageing["over 90"] > 0 and finance.owed_total > 0
    own = demo["client@harborlight.example"]
    client = selectors.own_client(actor=own)
    start = finance.today - timedelta(days=365)
    bill = selectors.superbill_for(client=client, start=start, end=finance.today)
    text = pdf_readable(pdf.render_superbill(bill))
    assert "90837" in text and "F33.1" in text and "XEH448812" in text
    # Loading again adds nothing.
    count = Invoice.objects.count()
    load_demo(clients=16)
    assert Invoice.objects.count() == count


def test_the_client_sees_a_statement_and_a_receipt(demo):
    own = demo["client@harborlight.example"]
    invoices = selectors.own_invoices(actor=own)
    assert any(inv.state == "paid" for inv in invoices)
    client = selectors.own_client(actor=own)
    assert selectors.client_money(client=client)["statements"]
