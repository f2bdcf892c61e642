# ruff: noqa: E501  (the matrix reads best one row per line)
"""Every role x every billing page and endpoint, exact status. `draft`: a draft invoice of
practice A's client (on the therapist's care team); `issued`: an issued one; `session`: a
discharged dosing session not yet charged; `client`: that client. 404 = not visible to the
role; 403 = visible (a therapist's client's invoice) but not the role's to change."""

import datetime
import json

import pytest

from kapflow.billing import services
from tests.billing.factories import charged_invoice, discharged_session, fee_schedule
from tests.conftest import sign_in

ROLES = ["admin", "therapist", "therapist2", "biller", "prescriber", "client_member",
         "companion", "other_admin", "other_therapist"]  # fmt: skip


def _row(*codes):
    return dict(zip(ROLES, codes, strict=True))


BILLERS = _row(200, 404, 404, 200, 404, 404, 404, 200, 404)
BILLERS_HERE = _row(200, 404, 404, 200, 404, 404, 404, 404, 404)
CLIENT_ONLY = _row(404, 404, 404, 404, 404, 200, 404, 404, 404)
MATRIX = [
    # (name, method, url template, body, expected per role)
    ("page workbench", "get", "/billing/", None, BILLERS),
    ("page finance", "get", "/billing/finance/", None, BILLERS),
    ("page invoices", "get", "/billing/invoices/", None, _row(200, 200, 200, 200, 404, 404, 404, 200, 200)),
    ("page invoice", "get", "/billing/invoices/{issued}/", None, _row(200, 200, 404, 200, 404, 404, 404, 404, 404)),
    ("page issue", "post", "/billing/invoices/{draft}/issue/", {}, _row(302, 403, 404, 302, 404, 404, 404, 404, 404)),
    ("page pay", "post", "/billing/invoices/{issued}/pay/", {"amount": "10.00", "method": "manual"}, _row(302, 403, 404, 302, 404, 404, 404, 404, 404)),
    ("page pay bad", "post", "/billing/invoices/{issued}/pay/", {"amount": "x"}, _row(422, 403, 404, 422, 404, 404, 404, 404, 404)),
    ("page void", "post", "/billing/invoices/{draft}/void/", {"reason": "Wrong"}, _row(302, 403, 404, 302, 404, 404, 404, 404, 404)),
    ("page charge", "post", "/billing/charge/", {"source_kind": "dosing_session", "source_id": "{session}"}, _row(302, 404, 404, 302, 404, 404, 404, 404, 404)),
    ("page charge bad", "post", "/billing/charge/", {}, _row(422, 404, 404, 422, 404, 404, 404, 422, 404)),
    ("page statements run", "post", "/billing/statements/run/", {"month": "2026-11-01"}, _row(302, 404, 404, 302, 404, 404, 404, 302, 404)),
    ("page fee schedule", "get", "/billing/fees/", None, BILLERS),
    ("page fee add", "post", "/billing/fees/", {"code": "90837", "description": "Psychotherapy, 60 minutes", "purpose": "psychotherapy", "rate": "190.00", "effective_from": "2026-12-01", "unit_minutes": 60}, _row(302, 404, 404, 302, 404, 404, 404, 302, 404)),
    ("page billing settings", "get", "/billing/settings/", None, BILLERS),
    ("page billing settings save", "post", "/billing/settings/", {"tax_id": "12-3456789", "currency": "USD", "rounding_minutes": 15, "rounding": "nearest", "telehealth_modifier": "95", "payment_terms_days": 30}, _row(302, 404, 404, 302, 404, 404, 404, 302, 404)),
    ("page client tab", "get", "/billing/clients/{client}/", None, BILLERS_HERE),
    ("page client coverage", "post", "/billing/clients/{client}/", {"kind": "self_pay", "relationship": "self"}, _row(302, 404, 404, 302, 404, 404, 404, 404, 404)),
    # The issued invoice is all private time (no coverage): nothing coded to claim, 409 (test_pdf has the 200).
    ("page invoice superbill", "get", "/billing/invoices/{issued}/superbill.pdf", None, _row(409, 404, 404, 409, 404, 404, 404, 404, 404)),
    ("page invoice superbill draft", "get", "/billing/invoices/{draft}/superbill.pdf", None, _row(409, 404, 404, 409, 404, 404, 404, 404, 404)),
    ("page superbill", "get", "/billing/clients/{client}/superbill.pdf", None, BILLERS_HERE),
    ("page claims csv", "get", "/billing/claims.csv", None, BILLERS),
    ("page claims csv bad", "get", "/billing/claims.csv?start=x", None, _row(422, 404, 404, 422, 404, 404, 404, 422, 404)),
    ("portal billing", "get", "/billing/me/", None, CLIENT_ONLY),
    ("portal coverage", "post", "/billing/me/", {"kind": "self_pay", "relationship": "self"}, _row(404, 404, 404, 404, 404, 302, 404, 404, 404)),
    ("portal superbill", "get", "/billing/me/superbill.pdf", None, CLIENT_ONLY),
    ("portal receipt", "get", "/billing/me/invoices/{issued}/receipt.pdf", None, CLIENT_ONLY),
    ("api invoices", "get", "/api/v1/billing/invoices", None, _row(200, 200, 200, 200, 404, 404, 404, 200, 200)),
    ("api invoice", "get", "/api/v1/billing/invoices/{issued}", None, _row(200, 200, 404, 200, 404, 404, 404, 404, 404)),
    ("api chargeable", "get", "/api/v1/billing/chargeable", None, BILLERS),
    ("api charge", "post", "/api/v1/billing/charges", {"source_kind": "dosing_session", "source_id": "{session}"}, _row(201, 404, 404, 201, 404, 404, 404, 404, 404)),
    ("api issue", "post", "/api/v1/billing/invoices/{draft}/issue", None, _row(200, 403, 404, 200, 404, 404, 404, 404, 404)),
    ("api pay", "post", "/api/v1/billing/invoices/{issued}/payments", {"amount": "10.00", "method": "hsa_fsa"}, _row(201, 403, 404, 201, 404, 404, 404, 404, 404)),
    ("api pay too much", "post", "/api/v1/billing/invoices/{issued}/payments", {"amount": "99999.00", "method": "manual"}, _row(422, 403, 404, 422, 404, 404, 404, 404, 404)),
    ("api credit", "post", "/api/v1/billing/invoices/{issued}/credits", {"amount": "5.00", "reason": "Goodwill"}, _row(201, 403, 404, 201, 404, 404, 404, 404, 404)),
    ("api write-off", "post", "/api/v1/billing/invoices/{issued}/write-offs", {"amount": "5.00", "reason_code": "courtesy"}, _row(201, 403, 404, 201, 404, 404, 404, 404, 404)),
    ("api void", "post", "/api/v1/billing/invoices/{draft}/void", {"reason": "Wrong"}, _row(200, 403, 404, 200, 404, 404, 404, 404, 404)),
    ("api coverage", "get", "/api/v1/billing/clients/{client}/coverage", None, BILLERS_HERE),
    ("api coverage put", "put", "/api/v1/billing/clients/{client}/coverage", {"kind": "self_pay"}, BILLERS_HERE),
    ("api fees", "get", "/api/v1/billing/fees", None, BILLERS),
    ("api finance", "get", "/api/v1/billing/finance", None, BILLERS),
    ("api diagnoses", "get", "/api/v1/billing/clients/{client}/diagnoses", None, BILLERS_HERE),
    ("api diagnosis add", "post", "/api/v1/billing/clients/{client}/diagnoses", {"code": "F41.1"}, _row(201, 404, 404, 201, 404, 404, 404, 404, 404)),
    ("api diagnosis remove", "delete", "/api/v1/billing/diagnoses/{diagnosis}", None, _row(204, 404, 404, 204, 404, 404, 404, 404, 404)),
    ("api packages", "get", "/api/v1/billing/clients/{client}/packages", None, BILLERS_HERE),
    ("api package sell", "post", "/api/v1/billing/clients/{client}/packages", {"name": "Two dosings", "sessions_total": 2, "price": "355.00"}, _row(201, 404, 404, 201, 404, 404, 404, 404, 404)),
    ("api subscription start", "post", "/api/v1/billing/clients/{client}/subscriptions", {"name": "Low dose", "monthly_amount": "129.00", "billing_day": 1}, _row(201, 404, 404, 201, 404, 404, 404, 404, 404)),
    ("api subscription cancel", "post", "/api/v1/billing/subscriptions/{subscription}/cancel", None, _row(200, 404, 404, 200, 404, 404, 404, 404, 404)),
    ("api statements run", "post", "/api/v1/billing/statements/run", {"month": "2026-11-01"}, BILLERS),
    ("api my statements", "get", "/api/v1/billing/mine/statements", None, CLIENT_ONLY),
    ("api my invoices", "get", "/api/v1/billing/mine/invoices", None, CLIENT_ONLY),
    ("api my invoice", "get", "/api/v1/billing/mine/invoices/{issued}", None, CLIENT_ONLY),
    ("api my coverage", "get", "/api/v1/billing/mine/coverage", None, CLIENT_ONLY),
    ("api my coverage put", "put", "/api/v1/billing/mine/coverage", {"kind": "out_of_network", "payer": "Example Health", "member_id": "M1"}, CLIENT_ONLY),
]  # fmt: skip


@pytest.fixture
def ids(world, time_machine):
    time_machine.move_to(datetime.datetime(2026, 11, 18, 20, 0, tzinfo=datetime.UTC), tick=False)
    fee_schedule(world.practice)
    issued = charged_invoice(world)
    services.invoice_issue(actor=world.biller, invoice_id=issued.pk)
    other_session = discharged_session(world, client=world.unreferred)
    draft = services.charge_encounter(
        actor=world.biller, source_kind="dosing_session", source_id=other_session.pk
    )
    # The draft is the client's too, so the therapist on the team sees it.
    draft.client = world.client
    draft.save()
    subscription = services.subscription_start(
        actor=world.biller, client_id=world.unreferred.pk, name="Low dose",
        monthly_amount="129.00", billing_day=1,
    )  # fmt: skip
    diagnosis = services.diagnosis_add(actor=world.biller, client_id=world.client.pk, code="F33.1")
    return {
        "client": world.client.pk, "issued": issued.pk, "draft": draft.pk,
        "session": discharged_session(world).pk, "diagnosis": diagnosis.pk,
        "subscription": subscription.pk,
    }  # fmt: skip


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("row", MATRIX, ids=[r[0] for r in MATRIX])
def test_billing_permission_matrix(client, world, ids, row, role):
    name, method, template, body, expected = row
    url = template.format(**ids)
    sign_in(client, getattr(world, role).user)
    kwargs = {}
    if body is not None:
        body = {k: (int(v.format(**ids)) if isinstance(v, str) and "{" in v else v)
                for k, v in body.items()}  # fmt: skip
        if url.startswith("/api/"):
            kwargs = {"data": json.dumps(body), "content_type": "application/json"}
        else:
            kwargs = {"data": body}
    elif method == "post" and url.startswith("/api/"):
        kwargs = {"content_type": "application/json"}
    response = getattr(client, method)(url, **kwargs)
    assert response.status_code == expected[role], (name, role, response.content[:300])
