"""Billing over JSON (issue 15, decision 0045): the same selectors, services and policy as the
pages.

Practice endpoints answer "not found" to anyone who may not work billing (therapists read
their clients' invoices only); the client's endpoints (`/mine...`) answer "not found" to
anyone but a signed-in client. Amounts are strings with two decimals ("180.00") in the
invoice's `currency`, so no amount passes through a float. A field at fault is 422 naming
it; a rule refusal (an invoice already issued, a session already charged) is 409 with its
code.
"""

from datetime import date
from typing import Literal

from ninja import Router, Schema, Status
from pydantic import Field

from kapflow import policy
from kapflow.billing import selectors, services
from kapflow.billing.models import (
    CoverageKind,
    InvoiceState,
    PaymentMethod,
    Purpose,
    Relationship,
    SourceKind,
    WriteOffReason,
)
from kapflow.core.api import ERRORS, MAX_ID, ErrorsOut, staff_actor
from kapflow.core.errors import NotFound

router = Router(tags=["billing"])

AMOUNT = r"^\d{1,10}(\.\d{1,2})?$"
StateName = Literal[tuple(InvoiceState.values)]  # type: ignore[valid-type]
MethodName = Literal[tuple(PaymentMethod.values)]  # type: ignore[valid-type]
CoverageName = Literal[tuple(CoverageKind.values)]  # type: ignore[valid-type]
RelationshipName = Literal[tuple(Relationship.values)]  # type: ignore[valid-type]
ReasonName = Literal[tuple(WriteOffReason.values)]  # type: ignore[valid-type]
PurposeName = Literal[tuple(Purpose.values)]  # type: ignore[valid-type]


class LineOut(Schema):
    id: int
    service_date: date
    code: str = Field(description="CPT/HCPCS code; empty for a package or subscription line.")
    description: str
    modifiers: list[str]
    place_of_service: str
    units: str
    unit_price: str
    amount: str
    bill_to: Literal["payer", "client", "package"]
    minutes: int
    why: str = Field(description="Why the line is what it is, in words.")


class PaymentOut(Schema):
    id: int
    amount: str
    method: MethodName
    reference: str
    received_on: date
    refunded: str


class InvoiceOut(Schema):
    id: int
    number: str
    client_id: int
    state: StateName
    currency: str
    issued_on: date | None
    due_on: date | None
    total: str
    payer_total: str
    client_total: str
    paid: str
    credited: str
    written_off: str
    balance: str


class InvoiceDetailOut(InvoiceOut):
    lines: list[LineOut]
    payments: list[PaymentOut]


class ChargeIn(Schema):
    source_kind: Literal["dosing_session", "appointment"] = Field(
        description="A discharged dosing session, or a completed intake, preparation, "
        "integration or therapy appointment."
    )
    source_id: int = Field(ge=1, le=MAX_ID)


class ChargeableOut(Schema):
    source_kind: str
    source_id: int
    kind: str
    client_id: int
    on: date
    minutes: int
    telehealth: bool


class PaymentIn(Schema):
    amount: str = Field(pattern=AMOUNT, description="E.g. 120.00")
    method: MethodName
    reference: str = Field("", max_length=100)
    received_on: date | None = Field(None, description="Default: the practice's today.")


class RefundIn(Schema):
    amount: str = Field(pattern=AMOUNT)
    reason: str = Field(max_length=300)


class CreditIn(Schema):
    amount: str = Field(pattern=AMOUNT)
    reason: str = Field(max_length=300)


class WriteOffIn(Schema):
    amount: str = Field(pattern=AMOUNT)
    reason_code: ReasonName
    note: str = Field("", max_length=300)


class VoidIn(Schema):
    reason: str = Field(max_length=300)


class CoverageIn(Schema):
    kind: CoverageName
    payer: str = Field("", max_length=200)
    payer_id: str = Field("", max_length=20)
    member_id: str = Field("", max_length=40)
    group_number: str = Field("", max_length=40)
    subscriber_name: str = Field("", max_length=200)
    relationship: RelationshipName = "self"


class CoverageOut(Schema):
    client_id: int
    kind: CoverageName | None = Field(description="None: nothing on file (billed as self-pay).")
    payer: str
    payer_id: str
    member_id: str
    group_number: str
    subscriber_name: str
    relationship: RelationshipName


class FeeIn(Schema):
    code: str = Field(max_length=10)
    description: str = Field(max_length=200)
    purpose: PurposeName
    rate: str = Field(pattern=AMOUNT)
    effective_from: date


class FeeOut(Schema):
    id: int
    code: str
    description: str
    purpose: PurposeName
    rate: str
    currency: str
    effective_from: date
    effective_to: date | None


class AmountRow(Schema):
    name: str
    amount: str


class FinanceOut(Schema):
    today: date
    currency: str
    owed_total: str
    ageing: dict[str, str] = Field(description="current, 31-60, 61-90, over 90 (days).")
    owed_by: list[AmountRow] = Field(description="Client ids (`Client #id`) and what they owe.")
    revenue_by_service: list[AmountRow]
    revenue_by_payer: list[AmountRow]
    drafts_to_issue: int


def _money(value) -> str:
    return f"{value:.2f}"


def _invoice(inv) -> dict:
    return {
        "id": inv.pk, "number": inv.label, "client_id": inv.client_id, "state": inv.state,
        "currency": inv.currency, "issued_on": inv.issued_on, "due_on": inv.due_on,
        "total": _money(inv.total), "payer_total": _money(inv.payer_total),
        "client_total": _money(inv.client_total), "paid": _money(inv.paid),
        "credited": _money(inv.credited), "written_off": _money(inv.written_off),
        "balance": _money(inv.balance),
    }  # fmt: skip


def _detail(inv) -> dict:
    return {
        **_invoice(inv),
        "lines": [
            {
                "id": ln.pk,
                "service_date": ln.service_date,
                "code": ln.code,
                "description": ln.description,
                "modifiers": [m for m in ln.modifiers.split(",") if m],
                "place_of_service": ln.place_of_service,
                "units": format(ln.units.normalize(), "f"),
                "unit_price": _money(ln.unit_price),
                "amount": _money(ln.amount),
                "bill_to": ln.bill_to,
                "minutes": ln.minutes,
                "why": ln.why,
            }
            for ln in inv.lines.all()
        ],
        "payments": [
            {
                "id": p.pk,
                "amount": _money(p.amount),
                "method": p.method,
                "reference": p.reference,
                "received_on": p.received_on,
                "refunded": _money(sum((r.amount for r in p.refunds.all()), 0)),
            }
            for p in inv.payments.all()
        ],
    }


def _reloaded(actor, invoice_id: int) -> dict:
    return _detail(selectors.invoice_get(actor=actor, invoice_id=invoice_id, audit=False))


def _coverage(client_id: int, row) -> dict:
    fields = ("payer", "payer_id", "member_id", "group_number", "subscriber_name")
    return {
        "client_id": client_id,
        "kind": row.kind if row else None,
        "relationship": row.relationship if row else "self",
        **{f: getattr(row, f) if row else "" for f in fields},
    }


# ---- the practice ---------------------------------------------------------------------------


@router.get("/invoices", response={200: list[InvoiceOut], 404: ErrorsOut, 422: ErrorsOut},
            summary="List invoices")  # fmt: skip
def invoice_list(request, state: StateName | None = None, client_id: int | None = None):
    """Invoices the actor may read, newest first (at most 200): billers and admins every
    invoice of the practice, therapists those of clients on their care team."""
    actor = staff_actor(request)
    if client_id is not None and not 1 <= client_id <= MAX_ID:
        client_id = 0
    rows = selectors.invoice_list(actor=actor, state=state or "", client_id=client_id)
    return [_invoice(row) for row in rows]


@router.get("/invoices/{int:invoice_id}", response={200: InvoiceDetailOut, 404: ErrorsOut},
            summary="Read an invoice")  # fmt: skip
def invoice_get(request, invoice_id: int):
    actor = staff_actor(request)
    return _detail(selectors.invoice_get(actor=actor, invoice_id=invoice_id))


@router.get("/chargeable", response={200: list[ChargeableOut], 404: ErrorsOut},
            summary="Finished sessions not yet charged")  # fmt: skip
def chargeable(request):
    actor = staff_actor(request)
    return [
        {"source_kind": c.source_kind, "source_id": c.source_id, "kind": c.kind,
         "client_id": c.client_id, "on": c.on, "minutes": c.minutes, "telehealth": c.telehealth}
        for c in selectors.chargeable_list(actor=actor)
    ]  # fmt: skip


@router.post("/charges", response={201: InvoiceDetailOut, **ERRORS},
             summary="Charge a finished session")  # fmt: skip
def charge(request, payload: ChargeIn):
    """Put a finished session on the client's draft invoice, priced by the fee schedule in
    effect on its day, split between payer and client by the client's coverage, or drawn
    from a prepaid package. 409 `charge.already` when it is on an invoice already."""
    actor = staff_actor(request)
    kind = SourceKind(payload.source_kind)
    invoice = services.charge_encounter(actor=actor, source_kind=kind, source_id=payload.source_id)
    return Status(201, _reloaded(actor, invoice.pk))


@router.post("/invoices/{int:invoice_id}/issue", response={200: InvoiceDetailOut, **ERRORS},
             summary="Issue a draft invoice")  # fmt: skip
def issue(request, invoice_id: int):
    actor = staff_actor(request)
    services.invoice_issue(actor=actor, invoice_id=invoice_id)
    return _reloaded(actor, invoice_id)


@router.post("/invoices/{int:invoice_id}/payments", response={201: InvoiceDetailOut, **ERRORS},
             summary="Record a payment")  # fmt: skip
def pay(request, invoice_id: int, payload: PaymentIn):
    """A payment taken outside kapflow (card processor, cash, HSA/FSA, financing partner,
    insurer), never more than the balance."""
    actor = staff_actor(request)
    services.payment_record(actor=actor, invoice_id=invoice_id, **payload.dict())
    return Status(201, _reloaded(actor, invoice_id))


@router.post("/payments/{int:payment_id}/refunds", response={201: InvoiceDetailOut, **ERRORS},
             summary="Refund a payment")  # fmt: skip
def refund(request, payment_id: int, payload: RefundIn):
    actor = staff_actor(request)
    row = services.payment_refund(actor=actor, payment_id=payment_id, **payload.dict())
    return Status(201, _reloaded(actor, row.invoice_id))


@router.post("/invoices/{int:invoice_id}/credits", response={201: InvoiceDetailOut, **ERRORS},
             summary="Apply a credit")  # fmt: skip
def credit(request, invoice_id: int, payload: CreditIn):
    actor = staff_actor(request)
    services.credit_apply(actor=actor, invoice_id=invoice_id, **payload.dict())
    return Status(201, _reloaded(actor, invoice_id))


@router.post("/invoices/{int:invoice_id}/write-offs", response={201: InvoiceDetailOut, **ERRORS},
             summary="Write off part of an invoice")  # fmt: skip
def write_off(request, invoice_id: int, payload: WriteOffIn):
    actor = staff_actor(request)
    services.write_off(actor=actor, invoice_id=invoice_id, **payload.dict())
    return Status(201, _reloaded(actor, invoice_id))


@router.post("/invoices/{int:invoice_id}/void", response={200: InvoiceDetailOut, **ERRORS},
             summary="Void an invoice")  # fmt: skip
def void(request, invoice_id: int, payload: VoidIn):
    actor = staff_actor(request)
    services.invoice_void(actor=actor, invoice_id=invoice_id, reason=payload.reason)
    return _reloaded(actor, invoice_id)


@router.get("/clients/{int:client_id}/coverage", response={200: CoverageOut, 404: ErrorsOut},
            summary="A client's coverage")  # fmt: skip
def coverage_get(request, client_id: int):
    actor = staff_actor(request)
    return _coverage(client_id, selectors.coverage_get(actor=actor, client_id=client_id))


@router.put("/clients/{int:client_id}/coverage", response={200: CoverageOut, **ERRORS},
            summary="Set a client's coverage")  # fmt: skip
def coverage_put(request, client_id: int, payload: CoverageIn):
    actor = staff_actor(request)
    row = services.coverage_set(actor=actor, client_id=client_id, **payload.dict())
    return _coverage(client_id, row)


@router.get("/fees", response={200: list[FeeOut], 404: ErrorsOut}, summary="The fee schedule")
def fees(request):
    """Every row of the fee schedule, current and past (a rate change is a new row)."""
    actor = staff_actor(request)
    return [
        {"id": f.pk, "code": f.code, "description": f.description, "purpose": f.purpose,
         "rate": _money(f.rate), "currency": f.currency, "effective_from": f.effective_from,
         "effective_to": f.effective_to}
        for f in selectors.fee_list(actor=actor)
    ]  # fmt: skip


@router.post("/fees", response={201: FeeOut, **ERRORS}, summary="Add a fee or a new rate")
def fee_add(request, payload: FeeIn):
    """A new row from `effective_from`; the current rate of the code ends the day before. A
    date on or before the current row's start is 422: history is never rewritten."""
    actor = staff_actor(request)
    f = services.fee_add(actor=actor, **payload.dict())
    return Status(201, {
        "id": f.pk, "code": f.code, "description": f.description, "purpose": f.purpose,
        "rate": _money(f.rate), "currency": f.currency, "effective_from": f.effective_from,
        "effective_to": f.effective_to,
    })  # fmt: skip


@router.get("/finance", response={200: FinanceOut, 404: ErrorsOut}, summary="Practice finances")
def finance(request):
    """What is owed and by whom, ageing by 30/60/90 days, and this month's revenue by service
    and by payer. Billers and admins."""
    actor = staff_actor(request)
    f = selectors.finance_summary(actor=actor)
    return {
        "today": f.today, "currency": f.currency, "owed_total": _money(f.owed_total),
        "ageing": {k: _money(v) for k, v in f.ageing.items()},
        "owed_by": [{"name": f"Client #{c.pk}", "amount": _money(a)} for c, a, _ in f.owed_by],
        "revenue_by_service": [{"name": n, "amount": _money(a)} for n, a in f.revenue_by_service],
        "revenue_by_payer": [{"name": n, "amount": _money(a)} for n, a in f.revenue_by_payer],
        "drafts_to_issue": f.to_issue,
    }  # fmt: skip


# ---- the client -----------------------------------------------------------------------------


@router.get("/mine/invoices", response={200: list[InvoiceOut], 404: ErrorsOut},
            summary="My invoices")  # fmt: skip
def mine_invoices(request):
    """The signed-in client's issued invoices, newest first."""
    return [_invoice(row) for row in selectors.own_invoices(actor=request.actor)]


@router.get("/mine/invoices/{int:invoice_id}", response={200: InvoiceDetailOut, 404: ErrorsOut},
            summary="One of my invoices")  # fmt: skip
def mine_invoice(request, invoice_id: int):
    return _detail(selectors.own_invoice_get(actor=request.actor, invoice_id=invoice_id))


@router.get("/mine/coverage", response={200: CoverageOut, 404: ErrorsOut}, summary="My coverage")
def mine_coverage(request):
    client = selectors.own_client(actor=request.actor)
    return _coverage(client.pk, selectors.coverage_get(actor=request.actor, client_id=client.pk))


@router.put("/mine/coverage", response={200: CoverageOut, **ERRORS}, summary="Update my coverage")
def mine_coverage_put(request, payload: CoverageIn):
    client = selectors.own_client(actor=request.actor)
    row = services.coverage_set(actor=request.actor, client_id=client.pk, **payload.dict())
    return _coverage(client.pk, row)


# ---- diagnoses, packages, subscriptions, statements -------------------------------------------


class BillingDiagnosisIn(Schema):
    code: str = Field(max_length=10, description="A billable ICD-10-CM code, e.g. F33.1.")


class BillingDiagnosisOut(Schema):
    id: int
    code: str
    description: str
    pointer: str = Field(description="The superbill's diagnosis pointer (A, B, ...).")


class PackageIn(Schema):
    name: str = Field(max_length=200)
    sessions_total: int = Field(ge=1, le=50)
    price: str = Field(pattern=AMOUNT)
    covers: Literal["dosing", "intake", "preparation", "integration", "therapy"] = "dosing"


class PackageOut(Schema):
    id: int
    name: str
    covers: str
    sessions_total: int
    sessions_used: int
    sessions_left: int
    price: str
    currency: str
    purchased_on: date
    drawn_on: list[date] = Field(description="The service date of each session it paid for.")


class SubscriptionIn(Schema):
    name: str = Field(max_length=200)
    monthly_amount: str = Field(pattern=AMOUNT)
    billing_day: int = Field(ge=1, le=31)


class SubscriptionOut(Schema):
    id: int
    name: str
    monthly_amount: str
    currency: str
    billing_day: int
    started_on: date
    billed_through: date | None
    cancelled_on: date | None


class StatementRunIn(Schema):
    month: date = Field(description="Any day of the month to state.")


class StatementRunOut(Schema):
    month: date
    statements: int


class StatementOut(Schema):
    id: int
    period_start: date
    period_end: date
    charged: str
    paid: str
    balance: str
    currency: str


def _diagnoses(client) -> list[dict]:
    from kapflow.billing.pdf import POINTERS

    return [
        {"id": d.pk, "code": d.code, "description": d.description,
         "pointer": POINTERS[i] if i < len(POINTERS) else ""}
        for i, d in enumerate(selectors.diagnoses(client=client))
    ]  # fmt: skip


def _package(p) -> dict:
    return {
        "id": p.pk, "name": p.name, "covers": p.covers, "sessions_total": p.sessions_total,
        "sessions_used": p.sessions_used, "sessions_left": p.sessions_left,
        "price": _money(p.price), "currency": p.currency, "purchased_on": p.purchased_on,
        "drawn_on": [d.service_date for d in p.draws.all()],
    }  # fmt: skip


def _subscription(s) -> dict:
    return {
        "id": s.pk, "name": s.name, "monthly_amount": _money(s.monthly_amount),
        "currency": s.currency, "billing_day": s.billing_day, "started_on": s.started_on,
        "billed_through": s.billed_through, "cancelled_on": s.cancelled_on,
    }  # fmt: skip


@router.get(
    "/clients/{int:client_id}/diagnoses",
    response={200: list[BillingDiagnosisOut], 404: ErrorsOut},
    summary="A client's diagnoses for claims",
)
def diagnoses(request, client_id: int):
    actor = staff_actor(request)
    return _diagnoses(selectors.billing_client_get(actor=actor, client_id=client_id))


@router.post(
    "/clients/{int:client_id}/diagnoses",
    response={201: list[BillingDiagnosisOut], **ERRORS},
    summary="Add a diagnosis for claims",
)
def diagnosis_add(request, client_id: int, payload: BillingDiagnosisIn):
    actor = staff_actor(request)
    services.diagnosis_add(actor=actor, client_id=client_id, code=payload.code)
    return Status(201, _diagnoses(selectors.billing_client_get(actor=actor, client_id=client_id)))


@router.delete("/diagnoses/{int:diagnosis_id}", response={204: None, **ERRORS},
               summary="Remove a diagnosis")  # fmt: skip
def diagnosis_remove(request, diagnosis_id: int):
    actor = staff_actor(request)
    services.diagnosis_remove(actor=actor, diagnosis_id=diagnosis_id)
    return Status(204, None)


@router.get("/clients/{int:client_id}/packages", response={200: list[PackageOut], 404: ErrorsOut},
            summary="A client's packages")  # fmt: skip
def packages(request, client_id: int):
    actor = staff_actor(request)
    client = selectors.billing_client_get(actor=actor, client_id=client_id)
    return [_package(p) for p in selectors.client_money(client=client)["packages"]]


@router.post("/clients/{int:client_id}/packages", response={201: PackageOut, **ERRORS},
             summary="Sell a prepaid package")  # fmt: skip
def package_sell(request, client_id: int, payload: PackageIn):
    """The package, and its price as a line on the client's draft invoice. Each session of
    the kind it covers then draws one down instead of being charged."""
    actor = staff_actor(request)
    package = services.package_sell(actor=actor, client_id=client_id, **payload.dict())
    return Status(201, _package(package))


@router.post("/clients/{int:client_id}/subscriptions", response={201: SubscriptionOut, **ERRORS},
             summary="Start a monthly subscription")  # fmt: skip
def subscription_start(request, client_id: int, payload: SubscriptionIn):
    """Starts today; the first, partial period is charged prorated by day."""
    actor = staff_actor(request)
    row = services.subscription_start(actor=actor, client_id=client_id, **payload.dict())
    return Status(201, _subscription(row))


@router.post(
    "/subscriptions/{int:subscription_id}/cancel",
    response={200: SubscriptionOut, **ERRORS},
    summary="Cancel a subscription",
)
def subscription_cancel(request, subscription_id: int):
    """From today; unused days already billed are credited back."""
    actor = staff_actor(request)
    return _subscription(services.subscription_cancel(actor=actor, subscription_id=subscription_id))


@router.post("/statements/run", response={200: StatementRunOut, **ERRORS},
             summary="Make the month's statements")  # fmt: skip
def statements_run(request, payload: StatementRunIn):
    actor = staff_actor(request)
    if not policy.can_work_billing(actor):
        raise NotFound()
    month = payload.month.replace(day=1)
    count = services.statements_run(organisation=actor.organisation, month_start=month)
    return {"month": month, "statements": count}


@router.get("/mine/statements", response={200: list[StatementOut], 404: ErrorsOut},
            summary="My monthly statements")  # fmt: skip
def mine_statements(request):
    client = selectors.own_client(actor=request.actor)
    return [
        {"id": s.pk, "period_start": s.period_start, "period_end": s.period_end,
         "charged": _money(s.charged), "paid": _money(s.paid), "balance": _money(s.balance),
         "currency": s.currency}
        for s in selectors.client_money(client=client)["statements"]
    ]  # fmt: skip
