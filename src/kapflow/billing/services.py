"""Billing write paths (issue 15, decision 0045): the fee schedule, coverage and diagnoses,
charges from completed encounters, packages and subscriptions, invoices (issue, void),
payments, refunds, credits, write-offs, and the month-end statement run.

Each function checks kapflow.policy, locks what can race (the encounter charged, the
package drawn, the invoice paid), asks kapflow.clinical.billing for every decision, saves,
recomputes the invoice's stored totals from its rows (clinical.billing.totals) and audits, in
one transaction. Field problems are ValidationError naming the field; rule refusals are
DomainError with a stable code. Nothing here knows HTTP; logs carry ids only.
"""

import logging
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Max, Q, Sum

from kapflow import policy
from kapflow.accounts.models import Membership
from kapflow.audit.services import audit_not_found, audit_record
from kapflow.billing import selectors
from kapflow.billing.models import (
    BillingSettings,
    BillTo,
    Coverage,
    CoverageKind,
    Credit,
    Diagnosis,
    FeeService,
    Invoice,
    InvoiceLine,
    InvoiceState,
    Package,
    Payment,
    PaymentMethod,
    Purpose,
    Refund,
    Relationship,
    SourceKind,
    Statement,
    Subscription,
    WriteOff,
    WriteOffReason,
)
from kapflow.clinical import billing as rules
from kapflow.core import clock
from kapflow.core.errors import DomainError, NotFound, PermissionDenied
from kapflow.patients.models import Client

logger = logging.getLogger(__name__)

TEXT_MAX = 300
MAX_AMOUNT = Decimal("9999999999.99")


def _amount(errors: dict, field: str, value, *, allow_zero: bool = False) -> Decimal:
    """A positive amount to the cent, or a message under `field`."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, TypeError, ValueError):
        errors[field] = "Enter an amount such as 120.00."
        return rules.ZERO
    if not amount.is_finite():
        errors[field] = "Enter an amount such as 120.00."
        return rules.ZERO
    if amount != amount.quantize(rules.CENT):
        errors[field] = "Amounts are to the cent: at most two decimal places."
    elif amount < 0 or (amount == 0 and not allow_zero):
        errors[field] = "The amount must be more than zero."
    elif amount > MAX_AMOUNT:
        errors[field] = "The amount is too large."
    return rules.money(amount) if field not in errors else rules.ZERO


def _text(errors: dict, field: str, value, *, required: str = "", max_length=TEXT_MAX) -> str:
    value = value.strip() if isinstance(value, str) else ""
    if not value and required:
        errors[field] = required
    elif len(value) > max_length:
        errors[field] = f"Keep this under {max_length} characters."
    elif "\x00" in value:
        errors[field] = "The text contains a character that cannot be saved."
    return value


def _require_biller(actor: Membership) -> None:
    if not policy.can_work_billing(actor):
        raise NotFound()


def _client(actor: Membership, client_id) -> Client:
    client = selectors.billing_client_get(actor=actor, client_id=client_id, for_update=True)
    return client


def _today(organisation) -> date:
    return clock.clinical_date(organisation)


# ---- settings and the fee schedule ------------------------------------------------------------


@transaction.atomic
def billing_settings_update(*, actor: Membership, **fields) -> BillingSettings:
    """The practice's tax id, currency and rounding rule (admins and billers). Every field is
    checked before anything is saved; a refusal names the field."""
    if not policy.can_manage_billing_setup(actor):
        raise NotFound()
    row, _ = BillingSettings.objects.select_for_update().get_or_create(
        organisation=actor.organisation
    )
    allowed = {"tax_id", "currency", "rounding_minutes", "rounding", "telehealth_modifier",
               "payment_terms_days"}  # fmt: skip
    errors: dict = {}
    if "tax_id" in fields:
        fields["tax_id"] = _text(errors, "tax_id", fields["tax_id"], max_length=20)
    if "currency" in fields:
        currency = fields["currency"].strip().upper() if isinstance(fields["currency"], str) else ""
        if not (len(currency) == 3 and currency.isascii() and currency.isalpha()):
            errors["currency"] = "Give the three-letter ISO 4217 code, such as USD."
        fields["currency"] = currency
    if "rounding_minutes" in fields and not (
        isinstance(fields["rounding_minutes"], int) and 1 <= fields["rounding_minutes"] <= 60
    ):
        errors["rounding_minutes"] = "Round private time to a step of 1 to 60 minutes."
    if errors:
        raise ValidationError(errors)
    changed = []
    for name, value in fields.items():
        if name in allowed and getattr(row, name) != value:
            setattr(row, name, value)
            changed.append(name)
    row.full_clean()
    row.save()
    audit_record(actor=actor, action="billing.settings", target=row, changed_fields=changed)
    return row


@transaction.atomic
def fee_add(
    *,
    actor: Membership,
    code: str,
    description: str,
    purpose: str,
    rate,
    effective_from: date,
    unit_minutes: int = 60,
    modifiers: str = "",
    place_of_service: str = "",
) -> FeeService:
    """A service or a new rate for one: a new row from `effective_from`, never an edit. The
    current row of the same code ends the day before; a date on or before the current row's
    start is refused, so history is never rewritten."""
    if not policy.can_manage_billing_setup(actor):
        raise NotFound()
    errors: dict = {}
    code = _text(errors, "code", code, required="Give the CPT/HCPCS code or your line's code.",
                 max_length=10).upper()  # fmt: skip
    description = _text(errors, "description", description, required="Describe the service.",
                        max_length=200)  # fmt: skip
    if purpose not in Purpose.values:
        errors["purpose"] = "Choose what the service is for."
    rate = _amount(errors, "rate", rate, allow_zero=True)
    if not isinstance(effective_from, date):
        errors["effective_from"] = "Give the first day the rate applies."
    elif (
        not date(2000, 1, 1)
        <= effective_from
        <= _today(actor.organisation) + timedelta(days=5 * 366)
    ):
        errors["effective_from"] = "Give a day from 2000 to five years ahead."
    if errors:
        raise ValidationError(errors)
    organisation = actor.organisation
    current = (
        FeeService.objects.for_org(organisation)
        .select_for_update()
        .filter(code=code)
        .order_by("-effective_from")
        .first()
    )
    if current is not None:
        if effective_from <= current.effective_from:
            raise ValidationError(
                {"effective_from": "A new rate starts after the current one: history is kept."}
            )
        current.effective_to = effective_from - timedelta(days=1)
        current.save(update_fields=["effective_to"])
    row = FeeService(
        organisation=organisation, code=code, description=description, purpose=purpose,
        rate=rate, effective_from=effective_from, unit_minutes=unit_minutes or 60,
        modifiers=modifiers, place_of_service=place_of_service,
        currency=selectors.settings_for(organisation).currency, created_by=actor.user,
    )  # fmt: skip
    row.full_clean()
    row.save()
    audit_record(actor=actor, action="fee.add", target=row)
    return row


# ---- coverage and diagnoses ---------------------------------------------------------------------


@transaction.atomic
def coverage_set(
    *,
    actor: Membership,
    client_id: int,
    kind: str,
    payer: str = "",
    payer_id: str = "",
    member_id: str = "",
    group_number: str = "",
    subscriber_name: str = "",
    relationship: str = Relationship.SELF,
) -> Coverage:
    """Set a client's coverage: the practice's billers and admins, or the client in the
    portal (policy.can_edit_coverage). Self-pay clears the insurance fields."""
    client = selectors.coverage_client_get(actor=actor, client_id=client_id, for_update=True)
    if not policy.can_edit_coverage(actor, client):
        raise PermissionDenied("You may not change this client's coverage.",
                               code="coverage.not_allowed")  # fmt: skip
    errors: dict = {}
    if kind not in CoverageKind.values:
        errors["kind"] = "Choose self-pay, in network or out of network."
    if relationship not in Relationship.values:
        errors["relationship"] = "Choose the subscriber's relationship to the client."
    insured = kind in (CoverageKind.IN_NETWORK, CoverageKind.OUT_OF_NETWORK)
    need = "Required for insurance." if insured else ""
    values = {
        "payer": _text(errors, "payer", payer, required=need, max_length=200),
        "payer_id": _text(errors, "payer_id", payer_id, max_length=20),
        "member_id": _text(errors, "member_id", member_id, required=need, max_length=40),
        "group_number": _text(errors, "group_number", group_number, max_length=40),
        "subscriber_name": _text(errors, "subscriber_name", subscriber_name, max_length=200),
    }
    if errors:
        raise ValidationError(errors)
    if not insured:
        values = dict.fromkeys(values, "")
        relationship = Relationship.SELF
    row = Coverage.objects.filter(client=client).first() or Coverage(
        organisation_id=client.organisation_id, client=client
    )
    new = {"kind": kind, "relationship": relationship, **values}
    changed = [k for k, v in new.items() if getattr(row, k, None) != v]
    for key, value in new.items():
        setattr(row, key, value)
    row.updated_at, row.updated_by = clock.now(), actor.user
    row.full_clean()
    row.save()
    audit_record(actor=actor, action="coverage.update", target=row, client_id=client.pk,
                 changed_fields=changed)  # fmt: skip
    return row


@transaction.atomic
def diagnosis_add(*, actor: Membership, client_id: int, code: str) -> Diagnosis:
    """Add an ICD-10-CM diagnosis for claims (billable codes only), ranked after the rest."""
    from kapflow.clinical.icd10 import diagnosis_get

    _require_biller(actor)
    client = _client(actor, client_id)
    found = diagnosis_get(code) if isinstance(code, str) and len(code) <= 10 else None
    if found is None or not found.billable:
        raise ValidationError({"code": "Choose a billable ICD-10-CM code (e.g. F33.1)."})
    existing = Diagnosis.objects.for_org(client.organisation_id).filter(client=client)
    if existing.filter(code=found.code).exists():
        raise ValidationError({"code": "This diagnosis is already on file."})
    rank = (existing.aggregate(m=Max("rank"))["m"] or 0) + 1
    row = Diagnosis(
        organisation_id=client.organisation_id, client=client, code=found.code,
        description=found.description[:300], rank=rank, added_by=actor.user,
    )  # fmt: skip
    row.full_clean()
    row.save()
    audit_record(actor=actor, action="diagnosis.add", target=row, client_id=client.pk)
    return row


@transaction.atomic
def diagnosis_remove(*, actor: Membership, diagnosis_id: int) -> None:
    _require_biller(actor)
    row = (
        Diagnosis.objects.for_org(actor.organisation).select_for_update().filter(pk=diagnosis_id)
    ).first()
    if row is None:
        raise audit_not_found(
            actor=actor, model=Diagnosis, object_id=diagnosis_id, message="Diagnosis not found."
        )
    audit_record(actor=actor, action="diagnosis.remove", target=row, client_id=row.client_id)
    row.delete()


# ---- invoices and charges -----------------------------------------------------------------------


def _next_number(organisation_id: int) -> int:
    top = Invoice.objects.filter(organisation_id=organisation_id).aggregate(m=Max("number"))["m"]
    return (top or 0) + 1


def _draft_for(actor: Membership | None, client: Client, *, user=None) -> Invoice:
    """The client's open draft (locked), or a new one. A scheduled task has no actor: the
    draft it starts is created by `user` (who set up what is being charged)."""
    draft = (
        Invoice.objects.for_org(client.organisation_id)
        .select_for_update()
        .filter(client=client, state=InvoiceState.DRAFT)
        .order_by("id")
        .first()
    )
    if draft is not None:
        return draft
    draft = Invoice(
        organisation_id=client.organisation_id, client=client,
        created_by=actor.user if actor is not None else user,
        number=_next_number(client.organisation_id),
        currency=selectors.settings_for(client.organisation).currency,
    )  # fmt: skip
    draft.save()
    audit_record(actor=actor, action="invoice.create", target=draft, client_id=client.pk)
    return draft


def recompute(invoice: Invoice) -> Invoice:
    """Store the invoice's totals, from its rows, and its paid state when issued."""
    lines = list(invoice.lines.values_list("bill_to", "amount"))
    t = rules.totals(
        lines,
        payments=[p for (p,) in invoice.payments.values_list("amount")],
        refunds=[r for (r,) in invoice.refunds.values_list("amount")],
        credits=[c for (c,) in invoice.credits.values_list("amount")],
        write_offs=[w for (w,) in invoice.write_offs.values_list("amount")],
    )
    invoice.total, invoice.client_total, invoice.payer_total = (
        t.total, t.client_total, t.payer_total,
    )  # fmt: skip
    invoice.paid, invoice.credited, invoice.written_off, invoice.balance = (
        t.paid, t.credited, t.written_off, t.balance,
    )  # fmt: skip
    if invoice.state in (InvoiceState.ISSUED, InvoiceState.PARTLY_PAID, InvoiceState.PAID):
        invoice.state = rules.paid_state(t).value
    invoice.version += 1
    invoice.save()
    return invoice


def _line(invoice: Invoice, line: rules.Line, purpose: str = "", **extra) -> InvoiceLine:
    row = InvoiceLine(
        organisation_id=invoice.organisation_id, invoice=invoice,
        purpose=purpose or line.purpose.value,
        code=line.code, description=line.description[:200], modifiers=",".join(line.modifiers),
        place_of_service=line.pos, units=line.units, unit_price=line.unit_price,
        amount=line.amount, bill_to=line.bill_to.value, minutes=line.minutes, why=line.why,
        **extra,
    )  # fmt: skip
    row.full_clean(exclude=["invoice"])
    row.save()
    return row


def _already_charged(organisation_id, source_kind: str, source_id: int) -> bool:
    return (
        InvoiceLine.objects.for_org(organisation_id)
        .filter(source_kind=source_kind, source_id=source_id)
        .exclude(invoice__state=InvoiceState.VOID)
        .exists()
    )


@transaction.atomic
def charge_encounter(*, actor: Membership, source_kind: str, source_id: int) -> Invoice:
    """Charge one completed encounter onto the client's draft invoice: a discharged dosing
    session, or a completed intake, preparation, integration or therapy appointment. The
    lines come from clinical.billing.charge_lines with the fee schedule in effect on the
    day of service, the client's coverage, and a package with sessions left (drawn down)."""
    _require_biller(actor)
    found = selectors.chargeable_get(actor=actor, source_kind=source_kind, source_id=source_id)
    if found is None:
        raise NotFound("Session not found.")
    if _already_charged(actor.organisation_id, source_kind, source_id):
        raise DomainError("This session has already been charged.", code="charge.already")
    if not found.complete:
        raise DomainError("Only a completed session can be charged.", code="charge.not_complete")
    client = _client(actor, found.client_id)
    coverage = Coverage.objects.filter(client=client).first()
    package = (
        Package.objects.for_org(client.organisation_id)
        .select_for_update()
        .filter(client=client, covers=found.kind, sessions_used__lt=F("sessions_total"))
        .order_by("purchased_on", "id")
        .first()
    )
    schedule, fees = selectors.fee_schedule_on(client.organisation, found.on)
    encounter = rules.Encounter(
        kind=rules.EncounterKind(found.kind), minutes=found.minutes, on=found.on,
        telehealth=found.telehealth, at_home=found.at_home,
    )  # fmt: skip
    facts = rules.Coverage(rules.CoverageKind(coverage.kind), coverage.payer) if coverage else None
    drawable = (
        rules.Package(package.name, package.sessions_left, (rules.EncounterKind(package.covers),))
        if package
        else None
    )
    try:
        lines = rules.charge_lines(encounter, schedule, facts, drawable)
    except rules.NoPrice as exc:
        raise DomainError(str(exc), code="charge.no_price", field="fee_schedule") from exc
    invoice = _draft_for(actor, client)
    for line in lines:
        drawn = line.bill_to == rules.BillTo.PACKAGE
        _line(
            invoice, line, source_kind=source_kind, source_id=source_id,
            service_date=found.on, clinician_id=found.clinician_id,
            fee=fees.get(line.code), package=package if drawn else None,
        )  # fmt: skip
        if drawn:
            package.sessions_used += 1
            package.full_clean()
            package.save(update_fields=["sessions_used"])
            audit_record(actor=actor, action="package.draw", target=package, client_id=client.pk)
    recompute(invoice)
    audit_record(actor=actor, action="charge.add", target=invoice, client_id=client.pk)
    logger.info("billing.charged", extra={"invoice_id": invoice.pk, "source_id": source_id})
    return invoice


def _invoice_locked(actor: Membership, invoice_id: int) -> Invoice:
    """The invoice locked for a change: NotFound when the actor may not read it, 403 when
    they may read it (a therapist, their client's) but not work it."""
    invoice = (
        policy.invoices_queryset(actor)
        .select_for_update(of=("self",))
        .filter(pk=invoice_id)
        .select_related("client__organisation")
        .first()
    )
    if invoice is None:
        from kapflow.audit.services import audit_access_denied

        audit_access_denied(actor=actor, model=Invoice, object_id=invoice_id)
        raise NotFound("Invoice not found.")
    if not policy.can_work_billing(actor):
        raise PermissionDenied(
            "Invoices are worked by the practice's billers and admins.",
            code="invoice.not_allowed",
        )
    return invoice


@transaction.atomic
def invoice_issue(*, actor: Membership, invoice_id: int, now: datetime | None = None) -> Invoice:
    """Issue a draft: it is dated the practice's day and due after the payment terms. A draft
    of package draw-downs only (nothing to pay) is paid when issued."""
    invoice = _invoice_locked(actor, invoice_id)
    if invoice.state != InvoiceState.DRAFT:
        raise DomainError("Only a draft can be issued.", code="invoice.not_draft")
    if not invoice.lines.exists():
        raise DomainError("An invoice needs at least one line.", code="invoice.empty")
    today = clock.clinical_date(invoice.client.organisation, now)
    invoice.state = InvoiceState.ISSUED
    invoice.issued_on = today
    invoice.due_on = today + timedelta(
        days=selectors.settings_for(invoice.client.organisation).payment_terms_days
    )
    invoice.issued_by = actor.user
    recompute(invoice)
    audit_record(actor=actor, action="invoice.issue", target=invoice,
                 client_id=invoice.client_id, changed_fields=["state"])  # fmt: skip
    logger.info("billing.issued", extra={"invoice_id": invoice.pk})
    return invoice


@transaction.atomic
def invoice_void(*, actor: Membership, invoice_id: int, reason: str) -> Invoice:
    """Void a draft or an issued invoice with nothing paid on it (refund payments first).
    Package sessions it drew are given back; its encounters may be charged again."""
    invoice = _invoice_locked(actor, invoice_id)
    errors: dict = {}
    reason = _text(errors, "reason", reason, required="Say why the invoice is void.")
    if errors:
        raise ValidationError(errors)
    if invoice.state == InvoiceState.VOID:
        raise DomainError("This invoice is already void.", code="invoice.void")
    if invoice.paid > 0:
        raise DomainError("Refund the payments on this invoice before voiding it.",
                          code="invoice.has_payments")  # fmt: skip
    for line in invoice.lines.filter(package__isnull=False).select_related("package"):
        package = Package.objects.select_for_update().get(pk=line.package_id)
        package.sessions_used = max(package.sessions_used - 1, 0)
        package.save(update_fields=["sessions_used"])
    invoice.state = InvoiceState.VOID
    invoice.voided_at = clock.now()
    invoice.void_reason = reason
    invoice.version += 1
    invoice.save()
    audit_record(actor=actor, action="invoice.void", target=invoice,
                 client_id=invoice.client_id, changed_fields=["state"])  # fmt: skip
    return invoice


def _open(invoice: Invoice) -> None:
    if invoice.state not in (InvoiceState.ISSUED, InvoiceState.PARTLY_PAID):
        raise DomainError("Money is recorded only against an issued, unpaid invoice.",
                          code="invoice.not_open")  # fmt: skip


@transaction.atomic
def payment_record(
    *,
    actor: Membership,
    invoice_id: int,
    amount,
    method: str,
    reference: str = "",
    received_on: date | None = None,
) -> Payment:
    """A payment received outside kapflow (card processor, cash, HSA/FSA card, financing
    partner, insurer), by method and reference. Never more than the balance."""
    invoice = _invoice_locked(actor, invoice_id)
    errors: dict = {}
    amount = _amount(errors, "amount", amount)
    if method not in PaymentMethod.values:
        errors["method"] = "Choose how it was paid."
    reference = _text(errors, "reference", reference, max_length=100)
    today = _today(invoice.client.organisation)
    received_on = received_on or today
    if received_on > today:
        errors["received_on"] = "A payment cannot be received in the future."
    elif received_on < date(2000, 1, 1):
        errors["received_on"] = "Give the day the payment was received."
    if errors:
        raise ValidationError(errors)
    _open(invoice)
    if amount > invoice.balance:
        raise ValidationError({"amount": "The payment is more than the balance owed."})
    if method == PaymentMethod.CARD_EXTERNAL:
        from kapflow.billing.processors import card_processor

        if not reference:
            raise ValidationError({"reference": "Give the card processor's reference."})
        if not card_processor().confirm(
            reference=reference, amount=amount, currency=invoice.currency
        ):
            raise DomainError("The card processor has no such charge.",
                              code="payment.not_confirmed", field="reference")  # fmt: skip
    row = Payment(
        organisation_id=invoice.organisation_id, invoice=invoice, amount=amount,
        currency=invoice.currency, method=method, reference=reference,
        received_on=received_on, recorded_by=actor.user,
    )  # fmt: skip
    row.full_clean()
    row.save()
    recompute(invoice)
    audit_record(actor=actor, action="payment.record", target=row, client_id=invoice.client_id)
    return row


@transaction.atomic
def payment_refund(*, actor: Membership, payment_id: int, amount, reason: str) -> Refund:
    """Refund part or all of a payment; the invoice is owed again by that much."""
    payment = (
        Payment.objects.filter(invoice__in=policy.invoices_queryset(actor), pk=payment_id)
    ).first()
    if payment is None:
        raise audit_not_found(
            actor=actor, model=Payment, object_id=payment_id, message="Payment not found."
        )
    invoice = _invoice_locked(actor, payment.invoice_id)
    payment = Payment.objects.select_for_update().get(pk=payment.pk)
    errors: dict = {}
    amount = _amount(errors, "amount", amount)
    reason = _text(errors, "reason", reason, required="Say why the payment is refunded.")
    if errors:
        raise ValidationError(errors)
    refunded = payment.refunds.aggregate(s=Sum("amount"))["s"] or rules.ZERO
    if amount > payment.amount - refunded:
        raise ValidationError({"amount": "The refund is more than what is left of the payment."})
    row = Refund(
        organisation_id=payment.organisation_id, payment=payment, invoice=invoice, amount=amount,
        reason=reason, refunded_on=_today(invoice.client.organisation), recorded_by=actor.user,
    )  # fmt: skip
    row.full_clean()
    row.save()
    if invoice.state == InvoiceState.PAID:
        invoice.state = InvoiceState.PARTLY_PAID
    recompute(invoice)
    audit_record(actor=actor, action="payment.refund", target=row, client_id=invoice.client_id)
    return row


@transaction.atomic
def credit_apply(*, actor: Membership, invoice_id: int, amount, reason: str) -> Credit:
    invoice = _invoice_locked(actor, invoice_id)
    errors: dict = {}
    amount = _amount(errors, "amount", amount)
    reason = _text(errors, "reason", reason, required="Say why the credit is given.")
    if errors:
        raise ValidationError(errors)
    _open(invoice)
    if amount > invoice.balance:
        raise ValidationError({"amount": "The credit is more than the balance owed."})
    row = Credit(organisation_id=invoice.organisation_id, invoice=invoice, amount=amount,
                 reason=reason, recorded_by=actor.user)  # fmt: skip
    row.full_clean()
    row.save()
    recompute(invoice)
    audit_record(actor=actor, action="credit.apply", target=row, client_id=invoice.client_id)
    return row


@transaction.atomic
def write_off(
    *, actor: Membership, invoice_id: int, amount, reason_code: str, note: str = ""
) -> WriteOff:
    invoice = _invoice_locked(actor, invoice_id)
    errors: dict = {}
    amount = _amount(errors, "amount", amount)
    if reason_code not in WriteOffReason.values:
        errors["reason_code"] = "Choose the reason for the write-off."
    note = _text(errors, "note", note)
    if errors:
        raise ValidationError(errors)
    _open(invoice)
    if amount > invoice.balance:
        raise ValidationError({"amount": "The write-off is more than the balance owed."})
    row = WriteOff(organisation_id=invoice.organisation_id, invoice=invoice, amount=amount,
                   reason_code=reason_code, note=note, recorded_by=actor.user)  # fmt: skip
    row.full_clean()
    row.save()
    recompute(invoice)
    audit_record(actor=actor, action="write_off.record", target=row, client_id=invoice.client_id)
    return row


# ---- packages and subscriptions -----------------------------------------------------------------


@transaction.atomic
def package_sell(
    *, actor: Membership, client_id: int, name: str, sessions_total: int, price, covers="dosing"
) -> Package:
    """Sell a prepaid package: the package, and its price as a line on the client's draft."""
    _require_biller(actor)
    client = _client(actor, client_id)
    errors: dict = {}
    name = _text(errors, "name", name, required="Name the package.", max_length=200)
    price = _amount(errors, "price", price)
    if not isinstance(sessions_total, int) or not 1 <= sessions_total <= 50:
        errors["sessions_total"] = "A package holds 1 to 50 sessions."
    if covers not in [k.value for k in rules.EncounterKind]:
        errors["covers"] = "Choose the kind of session the package pays for."
    if errors:
        raise ValidationError(errors)
    today = _today(client.organisation)
    package = Package(
        organisation_id=client.organisation_id, client=client, name=name,
        sessions_total=sessions_total, covers=covers, price=price, purchased_on=today,
        currency=selectors.settings_for(client.organisation).currency, created_by=actor.user,
    )  # fmt: skip
    package.full_clean()
    package.save()
    invoice = _draft_for(actor, client)
    _line(
        invoice,
        rules.Line(
            purpose=rules.Purpose.PACKAGE, code="", description=name[:200],
            bill_to=rules.BillTo.CLIENT, units=Decimal(1), unit_price=price, amount=price,
            minutes=0, why=f"Prepaid package of {sessions_total} {covers} session(s), paid in "
            "advance; each session draws one down instead of being charged.",
        ),
        source_kind=SourceKind.PACKAGE_SALE, source_id=package.pk, service_date=today,
        purpose=Purpose.OTHER,
    )  # fmt: skip
    recompute(invoice)
    audit_record(actor=actor, action="package.sell", target=package, client_id=client.pk)
    return package


@transaction.atomic
def subscription_start(
    *, actor: Membership, client_id: int, name: str, monthly_amount, billing_day: int,
    started_on: date | None = None,
) -> Subscription:  # fmt: skip
    """Start a monthly subscription; the first, partial period is charged prorated by day."""
    _require_biller(actor)
    client = _client(actor, client_id)
    errors: dict = {}
    name = _text(errors, "name", name, required="Name the subscription.", max_length=200)
    monthly_amount = _amount(errors, "monthly_amount", monthly_amount)
    if not isinstance(billing_day, int) or not 1 <= billing_day <= 31:
        errors["billing_day"] = "Choose a billing day from 1 to 31."
    if errors:
        raise ValidationError(errors)
    started_on = started_on or _today(client.organisation)
    row = Subscription(
        organisation_id=client.organisation_id, client=client, name=name,
        monthly_amount=monthly_amount, billing_day=billing_day, started_on=started_on,
        currency=selectors.settings_for(client.organisation).currency, created_by=actor.user,
    )  # fmt: skip
    row.full_clean()
    row.save()
    _bill_period(actor, row, started_on)
    audit_record(actor=actor, action="subscription.start", target=row, client_id=client.pk)
    return row


def _bill_period(actor, subscription: Subscription, on: date) -> None:
    """Charge the period holding `on`, prorated from the start day and to the cancellation."""
    start, end = rules.period_of(on, subscription.billing_day)
    first = max(start, subscription.started_on)
    last = min(end, subscription.cancelled_on) if subscription.cancelled_on else end
    amount = rules.prorate(subscription.monthly_amount, start=first, end=last,
                           period=(start, end))  # fmt: skip
    if amount <= 0:
        return
    whole = first == start and last == end
    invoice = _draft_for(actor, subscription.client, user=subscription.created_by)
    _line(
        invoice,
        rules.Line(
            purpose=rules.Purpose.PACKAGE, code="", description=subscription.name[:200],
            bill_to=rules.BillTo.CLIENT, units=Decimal(1), unit_price=amount, amount=amount,
            minutes=0,
            why=f"Monthly subscription for {first.isoformat()} to {last.isoformat()}"
            + ("." if whole else f", prorated by day from {subscription.monthly_amount} a month."),
        ),
        source_kind=SourceKind.SUBSCRIPTION, source_id=subscription.pk, service_date=first,
        purpose=Purpose.OTHER,
    )  # fmt: skip
    subscription.billed_through = last
    subscription.save(update_fields=["billed_through"])
    recompute(invoice)


@transaction.atomic
def subscription_cancel(
    *, actor: Membership, subscription_id: int, on: date | None = None
) -> Subscription:
    """Cancel from `on` (default: the practice's today). A period already billed past it is
    credited back prorated on the client's draft."""
    _require_biller(actor)
    row = (
        Subscription.objects.for_org(actor.organisation)
        .select_for_update()
        .filter(pk=subscription_id)
        .select_related("client__organisation")
        .first()
    )
    if row is None:
        raise audit_not_found(
            actor=actor,
            model=Subscription,
            object_id=subscription_id,
            message="Subscription not found.",
        )
    if row.cancelled_on is not None:
        raise DomainError("This subscription is already cancelled.", code="subscription.cancelled")
    on = on or _today(row.client.organisation)
    if on < row.started_on:
        raise ValidationError({"on": "A subscription cannot end before it started."})
    row.cancelled_on = on
    row.save(update_fields=["cancelled_on"])
    if row.billed_through and row.billed_through > on:
        start, end = rules.period_of(on, row.billing_day)
        back = rules.prorate(row.monthly_amount, start=on + timedelta(days=1),
                             end=row.billed_through, period=(start, end))  # fmt: skip
        billed = (
            InvoiceLine.objects.filter(source_kind=SourceKind.SUBSCRIPTION, source_id=row.pk)
            .exclude(invoice__state=InvoiceState.VOID)
            .order_by("-service_date")
            .select_related("invoice")
            .first()
        )
        if back > 0 and billed is not None and billed.invoice.is_open:
            credit_apply(actor=actor, invoice_id=billed.invoice_id,
                         amount=min(back, billed.invoice.balance),
                         reason="Subscription cancelled: unused days credited.")  # fmt: skip
        row.billed_through = on
        row.save(update_fields=["billed_through"])
    audit_record(actor=actor, action="subscription.cancel", target=row, client_id=row.client_id)
    return row


@transaction.atomic
def subscriptions_bill_due(*, actor: Membership, today: date | None = None) -> int:
    """Charge every active subscription whose next period has begun by `today`."""
    _require_biller(actor)
    return _subscriptions_bill(actor, actor.organisation, today or _today(actor.organisation))


@transaction.atomic
def subscriptions_bill_scheduled(*, organisation_id: int) -> int:
    """The daily job (billing.tasks): charge the practice's subscriptions whose billing day
    has come, by the practice's own calendar. Safe to run again: a period is charged once,
    since `billed_through` moves past it under the subscription's row lock."""
    from kapflow.accounts.models import Organisation

    organisation = Organisation.objects.get(pk=organisation_id)
    return _subscriptions_bill(None, organisation, _today(organisation))


def _subscriptions_bill(actor: Membership | None, organisation, today: date) -> int:
    """Each period begun by `today` and not yet billed, oldest first (a run that was missed
    catches up), one line per period on the client's draft. Returns the periods charged."""
    count = 0
    due = (
        Subscription.objects.for_org(organisation)
        .filter(billed_through__isnull=False)
        .filter(Q(cancelled_on__isnull=True) | Q(cancelled_on__gt=F("billed_through")))
        .select_related("client__organisation", "created_by")
        .order_by("id")
    )
    for row in due.select_for_update(of=("self",)):
        nxt = rules.next_billing_date(row.billed_through, row.billing_day)
        while nxt <= today and (row.cancelled_on is None or nxt <= row.cancelled_on):
            before = row.billed_through
            _bill_period(actor, row, nxt)
            if row.billed_through == before:  # nothing to charge (a zero proration)
                break
            audit_record(actor=actor, action="subscription.bill", target=row,
                         client_id=row.client_id)  # fmt: skip
            count += 1
            nxt = rules.next_billing_date(row.billed_through, row.billing_day)
    if count:
        logger.info("billing.subscriptions", extra={"organisation_id": organisation.pk,
                                                    "count": count})  # fmt: skip
    return count


# ---- month-end statements -----------------------------------------------------------------------


@transaction.atomic
def statements_month_end(*, organisation_id: int) -> int:
    """The daily job (billing.tasks): once the practice's month has ended, make last month's
    statements, once. Safe to run again and catches up after a missed day: it does nothing
    if last month's statements were made after the month ended (a run made before then, by
    hand, is replaced), or if the practice had issued no invoice by then. Returns the number
    of statements made."""
    from kapflow.accounts.models import Organisation

    organisation = Organisation.objects.select_for_update().get(pk=organisation_id)
    zone = clock.clinical_zone(organisation)
    this_month = _today(organisation).replace(day=1)
    month_start = (this_month - timedelta(days=1)).replace(day=1)
    ended_at = datetime.combine(this_month, datetime.min.time(), tzinfo=zone)
    statements = Statement.objects.for_org(organisation).filter(period_start=month_start)
    if statements.filter(created_at__gte=ended_at).exists():
        return 0
    issued = Invoice.objects.for_org(organisation).exclude(state=InvoiceState.DRAFT)
    if not issued.filter(issued_on__lt=this_month).exists():
        return 0
    return statements_run(organisation=organisation, month_start=month_start)


@transaction.atomic
def statements_run(*, organisation, month_start: date) -> int:
    """One statement per client with any invoice, for the month starting `month_start`: what
    was charged and received in the month and what is owed at its end. A fixed number of
    queries however many clients (three aggregates and one bulk insert); run again, it
    replaces the month's rows. Returns the number of statements."""
    from calendar import monthrange

    month_end = month_start.replace(day=monthrange(month_start.year, month_start.month)[1])
    invoices = Invoice.objects.for_org(organisation).exclude(state=InvoiceState.DRAFT)
    charged = dict(
        invoices.filter(issued_on__range=(month_start, month_end))
        .exclude(state=InvoiceState.VOID)
        .values("client_id").annotate(s=Sum("total")).values_list("client_id", "s")
    )  # fmt: skip
    owed = dict(
        invoices.filter(state__in=[InvoiceState.ISSUED, InvoiceState.PARTLY_PAID],
                        issued_on__lte=month_end)
        .values("client_id").annotate(s=Sum("balance")).values_list("client_id", "s")
    )  # fmt: skip
    paid = dict(
        Payment.objects.for_org(organisation)
        .filter(received_on__range=(month_start, month_end))
        .values("invoice__client_id").annotate(s=Sum("amount"))
        .values_list("invoice__client_id", "s")
    )  # fmt: skip
    clients = set(charged) | set(owed) | set(paid)
    currency = selectors.settings_for(organisation).currency
    Statement.objects.for_org(organisation).filter(period_start=month_start).delete()
    Statement.objects.bulk_create(
        [
            Statement(
                organisation=organisation,
                client_id=cid,
                period_start=month_start,
                period_end=month_end,
                charged=charged.get(cid) or rules.ZERO,
                paid=paid.get(cid) or rules.ZERO,
                balance=owed.get(cid) or rules.ZERO,
                currency=currency,
            )
            for cid in sorted(clients)
        ],
        batch_size=2000,
    )
    audit_record(actor=None, action="statement.run", target=None)
    logger.info("billing.statements", extra={"organisation_id": organisation.pk,
                                             "count": len(clients)})  # fmt: skip
    return len(clients)


__all__ = [
    "BillTo",
    "billing_settings_update",
    "charge_encounter",
    "coverage_set",
    "credit_apply",
    "diagnosis_add",
    "diagnosis_remove",
    "fee_add",
    "invoice_issue",
    "invoice_void",
    "package_sell",
    "payment_record",
    "payment_refund",
    "recompute",
    "statements_month_end",
    "statements_run",
    "subscription_cancel",
    "subscription_start",
    "subscriptions_bill_due",
    "subscriptions_bill_scheduled",
    "write_off",
]
