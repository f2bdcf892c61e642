"""Billing pages: the biller's workbench (sessions to charge, drafts to issue), the practice's
finances (owed, ageing, revenue), invoices and their money, a client's billing tab, the
superbill, the claim CSV, the month-end run; and the client's portal page (statements,
receipts, superbills, coverage).

Thin: rules live in services, selectors and kapflow.policy. Anyone who may not see a page
gets 404; a refused action shows its message beside the form (422 for a field, 409 for a
rule). Every file goes out through audit.exports.export_response.
"""

import csv
import io
from datetime import date, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from kapflow import policy
from kapflow.audit.exports import export_response
from kapflow.audit.services import audit_route_not_found
from kapflow.audit.views import csv_safe
from kapflow.billing import forms, pdf, selectors, services
from kapflow.billing.models import Invoice, InvoiceState
from kapflow.core import clock
from kapflow.core.errors import DomainError, NotFound, PermissionDenied
from kapflow.core.views import add_errors, staff_actor


def _biller(request):
    actor = staff_actor(request)
    if not policy.can_work_billing(actor):
        raise Http404()
    return actor


def _client_actor(request):
    actor = getattr(request, "actor", None)
    if not policy.is_client_actor(actor):
        raise audit_route_not_found(request)
    return actor


def _call(request, form, service, **kwargs):
    """Run a service for a valid form; returns (result, status). Errors go on the form."""
    if not form.is_valid():
        return None, 422
    try:
        return service(**kwargs, **form.cleaned_data), 200
    except (NotFound, PermissionDenied):
        raise
    except ValidationError as exc:
        add_errors(form, exc)
        return None, 422
    except DomainError as exc:
        form.add_error(None, exc.message)
        return None, 409


def _period(request, organisation) -> tuple[date, date]:
    form = forms.PeriodForm(request.GET or None)
    if form.is_bound and form.is_valid():
        return form.cleaned_data["start"], form.cleaned_data["end"]
    if form.is_bound:
        raise ValidationError(form.errors)
    today = clock.clinical_date(organisation)
    return today - timedelta(days=365), today


# ---- the practice ---------------------------------------------------------------------------


@login_required
def workbench(request):
    actor = _biller(request)
    return render(request, "billing/workbench.html", {
        "chargeable": selectors.chargeable_list(actor=actor),
        "drafts": selectors.invoice_list(actor=actor, state=InvoiceState.DRAFT, limit=50),
        "home": selectors.biller_home(actor=actor),
        "charge_form": forms.ChargeForm(),
        "run_form": forms.StatementRunForm(),
    })  # fmt: skip


@login_required
def finance(request):
    actor = _biller(request)
    return render(request, "billing/finance.html", {"f": selectors.finance_summary(actor=actor)})


def _billing_setup(request):
    actor = staff_actor(request)
    if not policy.can_manage_billing_setup(actor):
        raise Http404()
    return actor


@login_required
@require_http_methods(["GET", "POST"])
def fee_schedule(request):
    """The fee schedule with its dates; a new rate is a new dated row (services.fee_add)."""
    actor = _billing_setup(request)
    form, status = forms.FeeForm(), 200
    if request.method == "POST":
        form = forms.FeeForm(request.POST)
        fee, status = _call(request, form, services.fee_add, actor=actor)
        if fee is not None:
            messages.success(
                request, f"{fee.code} at {fee.rate} from {fee.effective_from:%Y-%m-%d}."
            )
            return redirect("billing:fees")
    context = {**selectors.fee_schedule_page(actor=actor), "form": form}
    return render(request, "billing/fee_schedule.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def billing_settings(request):
    """The practice's tax id, currency and rounding rule."""
    actor = _billing_setup(request)
    row = selectors.billing_settings_get(actor=actor)
    form = forms.BillingSettingsForm(
        initial={f: getattr(row, f) for f in forms.BillingSettingsForm.base_fields}
    )
    status = 200
    if request.method == "POST":
        form = forms.BillingSettingsForm(request.POST)
        done, status = _call(request, form, services.billing_settings_update, actor=actor)
        if done is not None:
            messages.success(request, "Billing settings saved.")
            return redirect("billing:settings")
    return render(request, "billing/settings.html", {"form": form}, status=status)


@login_required
@require_POST
def charge(request):
    actor = _biller(request)
    form = forms.ChargeForm(request.POST)
    invoice, status = _call(request, form, services.charge_encounter, actor=actor)
    if invoice is not None:
        messages.success(request, f"Charged to {invoice.label}.")
        return redirect("billing:invoice", invoice_id=invoice.pk)
    return render(request, "billing/form_error.html", {"form": form}, status=status)


@login_required
@require_POST
def statements_run(request):
    actor = _biller(request)
    form = forms.StatementRunForm(request.POST)
    if not form.is_valid():
        return render(request, "billing/form_error.html", {"form": form}, status=422)
    month = form.cleaned_data["month"].replace(day=1)
    count = services.statements_run(organisation=actor.organisation, month_start=month)
    messages.success(request, f"{count} statement(s) made for {month:%Y-%m}.")
    return redirect("billing:workbench")


@login_required
def invoice_list(request):
    actor = staff_actor(request)
    state = request.GET.get("state", "")
    if state not in InvoiceState.values:
        state = ""
    rows = selectors.invoice_list(actor=actor, state=state)
    return render(request, "billing/invoice_list.html", {
        "invoices": rows, "state": state, "states": InvoiceState.choices,
        "can_work": policy.can_work_billing(actor),
    })  # fmt: skip


def _invoice_context(actor, invoice, **forms_given) -> dict:
    return {
        "invoice": invoice,
        "can_work": policy.can_work_billing(actor),
        "payment_form": forms_given.get("payment") or forms.PaymentForm(),
        "refund_form": forms_given.get("refund") or forms.RefundForm(),
        "credit_form": forms_given.get("credit") or forms.CreditForm(),
        "write_off_form": forms_given.get("write_off") or forms.WriteOffForm(),
        "void_form": forms_given.get("void") or forms.VoidForm(),
        "error": forms_given.get("error", ""),
    }


@login_required
def invoice_detail(request, invoice_id: int):
    actor = staff_actor(request)
    invoice = selectors.invoice_get(actor=actor, invoice_id=invoice_id)
    return render(request, "billing/invoice_detail.html", _invoice_context(actor, invoice))


ACTIONS = {
    "issue": (None, services.invoice_issue, "Invoice issued."),
    "pay": (forms.PaymentForm, services.payment_record, "Payment recorded."),
    "refund": (forms.RefundForm, services.payment_refund, "Refund recorded."),
    "credit": (forms.CreditForm, services.credit_apply, "Credit applied."),
    "write_off": (forms.WriteOffForm, services.write_off, "Write-off recorded."),
    "void": (forms.VoidForm, services.invoice_void, "Invoice voided."),
}
FORM_KEYS = {"pay": "payment"}


@login_required
@require_POST
def invoice_action(request, invoice_id: int, action: str):
    actor = staff_actor(request)
    if action not in ACTIONS:
        raise Http404()
    form_class, service, success = ACTIONS[action]
    invoice = selectors.invoice_get(actor=actor, invoice_id=invoice_id, audit=False)
    if not policy.can_work_billing(actor):
        raise PermissionDenied("Invoices are worked by the practice's billers and admins.")
    form = form_class(request.POST) if form_class else forms.forms.Form(request.POST)
    kwargs = {"actor": actor}
    if action != "refund":
        kwargs["invoice_id"] = invoice.pk
    result, status = _call(request, form, service, **kwargs)
    if result is not None:
        messages.success(request, success)
        return redirect("billing:invoice", invoice_id=invoice.pk)
    invoice = selectors.invoice_get(actor=actor, invoice_id=invoice_id, audit=False)
    context = _invoice_context(actor, invoice, **{FORM_KEYS.get(action, action): form})
    context["error"] = " ".join(form.non_field_errors())
    return render(request, "billing/invoice_detail.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def client_billing(request, client_id: int):
    actor = _biller(request)
    client = selectors.billing_client_get(actor=actor, client_id=client_id)
    coverage = selectors.coverage_get(actor=actor, client_id=client.pk)
    coverage_form = forms.CoverageForm(
        initial={f: getattr(coverage, f) for f in forms.CoverageForm.base_fields}
        if coverage
        else None
    )
    diagnosis_form = forms.DiagnosisForm()
    status = 200
    if request.method == "POST":
        if request.POST.get("form") == "diagnosis":
            diagnosis_form = forms.DiagnosisForm(request.POST)
            done, status = _call(request, diagnosis_form, services.diagnosis_add, actor=actor,
                                 client_id=client.pk)  # fmt: skip
        else:
            coverage_form = forms.CoverageForm(request.POST)
            done, status = _call(request, coverage_form, services.coverage_set, actor=actor,
                                 client_id=client.pk)  # fmt: skip
        if done is not None:
            messages.success(request, "Saved.")
            return redirect("billing:client", client_id=client.pk)
    return render(request, "billing/client.html", {
        "client": client, "coverage": coverage, "coverage_form": coverage_form,
        "diagnosis_form": diagnosis_form, "diagnoses": selectors.diagnoses(client=client),
        "invoices": selectors.invoice_list(actor=actor, client_id=client.pk),
        **selectors.client_money(client=client),
    }, status=status)  # fmt: skip


def _superbill_response(actor, client, start, end):
    bill = selectors.superbill_for(client=client, start=start, end=end)
    return export_response(
        actor=actor, action="superbill.export", body=pdf.render_superbill(bill),
        content_type="application/pdf", filename=f"superbill-{client.pk}-{start:%Y%m%d}.pdf",
        target=client, client_id=client.pk,
    )  # fmt: skip


@login_required
def invoice_superbill(request, invoice_id: int):
    """The superbill for one invoice's session(s): its coded services, its dates."""
    actor = _biller(request)
    try:
        bill = selectors.invoice_superbill(actor=actor, invoice_id=invoice_id)
    except (NotFound, PermissionDenied):
        raise
    except DomainError as exc:
        form = forms.forms.Form({})
        form.full_clean()
        form.add_error(None, exc.message)
        return render(request, "billing/form_error.html", {"form": form}, status=409)
    return export_response(
        actor=actor, action="superbill.export", body=pdf.render_superbill(bill),
        content_type="application/pdf", filename=f"superbill-invoice-{invoice_id}.pdf",
        target=bill.client, client_id=bill.client.pk,
    )  # fmt: skip


@login_required
def client_superbill(request, client_id: int):
    actor = _biller(request)
    client = selectors.billing_client_get(actor=actor, client_id=client_id)
    try:
        start, end = _period(request, client.organisation)
    except ValidationError:
        return render(request, "billing/form_error.html",
                      {"form": forms.PeriodForm(request.GET)}, status=422)  # fmt: skip
    return _superbill_response(actor, client, start, end)


CLAIM_COLUMNS = [
    "service_date", "client_id", "client_last_name", "client_first_name", "date_of_birth",
    "payer", "payer_id", "member_id", "group_number", "subscriber_name", "relationship",
    "diagnoses", "cpt", "modifiers", "place_of_service", "units", "charge", "rendering_npi",
    "rendering_clinician", "invoice",
]  # fmt: skip


def claims_csv_body(lines, diagnoses_by_client) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CLAIM_COLUMNS)
    for ln in lines:
        client = ln.invoice.client
        cov = getattr(client, "coverage", None)
        user = ln.clinician.user if ln.clinician_id else None
        writer.writerow([csv_safe(v) for v in (
            ln.service_date.isoformat(), client.pk, client.legal_last_name,
            client.legal_first_name, client.date_of_birth.isoformat(),
            cov.payer if cov else "", cov.payer_id if cov else "", cov.member_id if cov else "",
            cov.group_number if cov else "", cov.subscriber_name if cov else "",
            cov.relationship if cov else "", " ".join(diagnoses_by_client.get(client.pk, [])),
            ln.code, ln.modifiers.replace(",", " "), ln.place_of_service,
            format(ln.units.normalize(), "f"), ln.amount, user.npi if user else "",
            (user.full_name or user.email) if user else "", ln.invoice.label,
        )])  # fmt: skip
    return out.getvalue().encode()


@login_required
def claims_csv(request):
    from kapflow.billing.models import Diagnosis

    actor = _biller(request)
    try:
        start, end = _period(request, actor.organisation)
    except ValidationError:
        return render(request, "billing/form_error.html",
                      {"form": forms.PeriodForm(request.GET)}, status=422)  # fmt: skip
    lines = selectors.claim_lines(actor=actor, start=start, end=end)
    dx: dict = {}
    for client_id, code in (
        Diagnosis.objects.for_org(actor.organisation)
        .filter(client_id__in={ln.invoice.client_id for ln in lines})
        .values_list("client_id", "code")
    ):
        dx.setdefault(client_id, []).append(code)
    return export_response(
        actor=actor, action="claims.export", body=claims_csv_body(lines, dx),
        content_type="text/csv", filename=f"claims-{start:%Y%m%d}-{end:%Y%m%d}.csv",
        targets=[ln.invoice for ln in lines] or None, client_attr="client_id",
    )  # fmt: skip


# ---- the client (portal) --------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def mine(request):
    actor = _client_actor(request)
    client = selectors.own_client(actor=actor)
    coverage = selectors.coverage_get(actor=actor, client_id=client.pk)
    form = forms.CoverageForm(
        initial={f: getattr(coverage, f) for f in forms.CoverageForm.base_fields}
        if coverage
        else None
    )
    status = 200
    if request.method == "POST":
        form = forms.CoverageForm(request.POST)
        done, status = _call(request, form, services.coverage_set, actor=actor,
                             client_id=client.pk)  # fmt: skip
        if done is not None:
            messages.success(request, "Your coverage has been updated.")
            return redirect("billing:mine")
    return render(request, "billing/mine.html", {
        "client": client, "coverage": coverage, "form": form,
        "invoices": selectors.own_invoices(actor=actor), **selectors.client_money(client=client),
    }, status=status)  # fmt: skip


@login_required
def mine_receipt(request, invoice_id: int):
    actor = _client_actor(request)
    invoice = selectors.own_invoice_get(actor=actor, invoice_id=invoice_id)
    body = pdf.render_receipt(invoice, selectors.settings_for(invoice.client.organisation))
    return export_response(
        actor=actor, action="receipt.export", body=body, content_type="application/pdf",
        filename=f"receipt-{invoice.label}.pdf", target=invoice, client_id=invoice.client_id,
    )  # fmt: skip


@login_required
def mine_superbill(request):
    actor = _client_actor(request)
    client = selectors.own_client(actor=actor)
    try:
        start, end = _period(request, client.organisation)
    except ValidationError:
        return render(request, "billing/form_error.html",
                      {"form": forms.PeriodForm(request.GET)}, status=422)  # fmt: skip
    return _superbill_response(actor, client, start, end)


@login_required
def mine_statement(request, statement_id: int):
    actor = _client_actor(request)
    statement = selectors.statement_get(actor=actor, statement_id=statement_id)
    statement.client = selectors.own_client(actor=actor)
    open_invoices = Invoice.objects.for_org(statement.organisation_id).filter(
        client=statement.client, state__in=["issued", "partly_paid"],
        issued_on__lte=statement.period_end,
    )  # fmt: skip
    return export_response(
        actor=actor, action="statement.export", body=pdf.render_statement(statement, open_invoices),
        content_type="application/pdf", filename=f"statement-{statement.period_start:%Y-%m}.pdf",
        target=statement, client_id=statement.client_id,
    )  # fmt: skip
