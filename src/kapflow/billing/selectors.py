"""Billing read paths shared by pages, the API and PDFs: the fee schedule in effect on a day,
encounters waiting to be charged, invoices (the practice's, a therapist's clients', a
client's own), coverage, the finance summary (owed, ageing, revenue), statements and the
superbill's facts.

Who reads comes from kapflow.policy (can_work_billing, invoices_queryset); anything else is
"not found", and a record held by someone else is recorded with audit_access_denied. Reads
of PHI (invoices, coverage, statements) are audited here.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Count, Max, Min, Q, Sum

from kapflow import policy
from kapflow.audit.services import audit_access_denied, audit_record, audit_record_many
from kapflow.billing.models import (
    OPEN_STATES,
    BillingSettings,
    Coverage,
    Diagnosis,
    FeeService,
    Invoice,
    InvoiceLine,
    InvoiceState,
    Package,
    Payment,
    Purpose,
    Refund,
    SourceKind,
    Statement,
    Subscription,
)
from kapflow.clinical import billing as rules
from kapflow.core import clock
from kapflow.core.errors import DomainError, NotFound
from kapflow.patients.models import Client

LIST_LIMIT = 200
CHARGEABLE_KINDS = ("intake", "preparation", "integration", "therapy")


def settings_for(organisation) -> BillingSettings:
    """The practice's billing settings, or the defaults (not saved) before any are set."""
    return BillingSettings.objects.filter(organisation=organisation).first() or BillingSettings(
        organisation=organisation
    )


def fee_schedule_on(organisation, day: date) -> tuple[rules.FeeSchedule, dict]:
    """The fee schedule in effect on `day`, as clinical.billing reads it, and its rows by
    code (the invoice line keeps the row it was priced from)."""
    s = settings_for(organisation)
    rows = FeeService.objects.for_org(organisation).filter(
        Q(effective_to__isnull=True) | Q(effective_to__gte=day), effective_from__lte=day
    )
    fees = {row.code: row for row in rows}
    schedule = rules.FeeSchedule(
        services=tuple(
            rules.Service(
                r.code,
                r.description,
                r.rate,
                rules.Purpose(r.purpose)
                if r.purpose in rules.Purpose._value2member_map_
                else rules.Purpose.PSYCHOTHERAPY,
                r.unit_minutes,
            )
            for r in fees.values()
        ),
        rounding_minutes=s.rounding_minutes,
        rounding=rules.Rounding(s.rounding),
        telehealth_modifier=s.telehealth_modifier,
        currency=s.currency,
    )
    return schedule, fees


def fee_list(*, actor) -> list[FeeService]:
    if not policy.can_work_billing(actor):
        raise NotFound()
    return list(FeeService.objects.for_org(actor.organisation).order_by("code", "-effective_from"))


def fee_schedule_page(*, actor) -> dict:
    """The fee schedule page: the rows in effect today or starting later (current), and the
    ended ones (history), each with its dates. Practice admins and billers only."""
    if not policy.can_manage_billing_setup(actor):
        raise NotFound()
    today = clock.clinical_date(actor.organisation)
    rows = fee_list(actor=actor)
    current = [r for r in rows if r.effective_to is None or r.effective_to >= today]
    ended = [r for r in rows if r.effective_to is not None and r.effective_to < today]
    return {"today": today, "current": current, "ended": ended,
            "settings": settings_for(actor.organisation)}  # fmt: skip


def billing_settings_get(*, actor) -> BillingSettings:
    if not policy.can_manage_billing_setup(actor):
        raise NotFound()
    return settings_for(actor.organisation)


# ---- clients ---------------------------------------------------------------------------------


def _deny(actor, model, object_id):
    audit_access_denied(actor=actor, model=model, object_id=object_id)
    return NotFound()


def billing_client_get(*, actor, client_id, for_update: bool = False) -> Client:
    """A client of the biller's practice, or NotFound."""
    if not policy.can_work_billing(actor):
        raise NotFound()
    qs = Client.objects.for_org(actor.organisation).select_related("organisation")
    if for_update:
        qs = qs.select_for_update(of=("self",))
    client = qs.filter(pk=client_id).first()
    if client is None:
        raise _deny(actor, Client, client_id)
    return client


def coverage_client_get(*, actor, client_id, for_update: bool = False) -> Client:
    """The client whose coverage `actor` may see: any client of the practice for its
    billers and admins; their own record for a client; NotFound for anyone else."""
    if policy.can_work_billing(actor):
        return billing_client_get(actor=actor, client_id=client_id, for_update=for_update)
    if policy.is_client_actor(actor):
        client = own_client(actor=actor)
        if client.pk == client_id:
            return client
    raise NotFound()


def own_client(*, actor) -> Client:
    if not policy.is_client_actor(actor):
        raise NotFound()
    client = (
        Client.objects.for_org(actor.organisation)
        .filter(user_id=actor.user_id)
        .select_related("organisation")
        .first()
    )
    if client is None:
        raise NotFound()
    return client


def coverage_get(*, actor, client_id: int) -> Coverage | None:
    """The client's coverage (None: nothing on file, which bills as self-pay). Audited."""
    client = coverage_client_get(actor=actor, client_id=client_id)
    row = Coverage.objects.filter(client=client).first()
    audit_record(actor=actor, action="coverage.view", target=row or client, client_id=client.pk)
    return row


def diagnoses(*, client) -> list[Diagnosis]:
    return list(Diagnosis.objects.for_org(client.organisation_id).filter(client=client))


# ---- encounters waiting to be charged --------------------------------------------------------


@dataclass(frozen=True)
class Chargeable:
    source_kind: str
    source_id: int
    kind: str  # clinical.billing.EncounterKind
    client_id: int
    clinician_id: int | None
    on: date
    minutes: int
    telehealth: bool
    at_home: bool
    complete: bool
    label: str = ""


def _from_session(session) -> Chargeable:
    ended = session.ended_at or session.opened_at
    return Chargeable(
        source_kind=SourceKind.DOSING_SESSION, source_id=session.pk, kind="dosing",
        client_id=session.client_id, clinician_id=session.course.therapist_id,
        on=clock.clinical_date(session.organisation, ended), minutes=session.minutes or 0,
        telehealth=session.at_home, at_home=session.at_home,
        complete=session.state == "discharged" and session.minutes is not None,
        label=f"Dosing session #{session.pk}",
    )  # fmt: skip


def _from_appointment(appointment, organisation) -> Chargeable | None:
    clients = [p for p in appointment.participants.all() if p.client_id]
    staff = [p for p in appointment.participants.all() if p.membership_id]
    if len(clients) != 1:
        return None
    return Chargeable(
        source_kind=SourceKind.APPOINTMENT, source_id=appointment.pk, kind=appointment.kind,
        client_id=clients[0].client_id, clinician_id=staff[0].membership_id if staff else None,
        on=clock.clinical_date(organisation, appointment.starts_at),
        minutes=appointment.duration_minutes, telehealth=appointment.telehealth,
        at_home=appointment.telehealth, complete=appointment.status == "completed",
        label=f"{appointment.get_kind_display()} #{appointment.pk}",
    )  # fmt: skip


def chargeable_get(*, actor, source_kind: str, source_id: int) -> Chargeable | None:
    """The encounter to charge (locked), or None when not the practice's."""
    from kapflow.encounters.models import DosingSession
    from kapflow.scheduling.models import Appointment

    if not policy.can_work_billing(actor):
        return None
    if source_kind == SourceKind.DOSING_SESSION:
        session = (
            DosingSession.objects.for_org(actor.organisation)
            .select_for_update(of=("self",))
            .select_related("course", "organisation")
            .filter(pk=source_id)
            .first()
        )
        return _from_session(session) if session else None
    if source_kind == SourceKind.APPOINTMENT:
        appointment = (
            Appointment.objects.for_org(actor.organisation)
            .select_for_update(of=("self",))
            .filter(pk=source_id, kind__in=CHARGEABLE_KINDS, is_group=False)
            .prefetch_related("participants")
            .first()
        )
        return _from_appointment(appointment, actor.organisation) if appointment else None
    return None


def chargeable_list(*, actor, limit: int = 50) -> list[Chargeable]:
    """Completed encounters of the practice not yet on an invoice (void ones aside), newest
    first: discharged dosing sessions and completed single-client appointments."""
    from kapflow.encounters.models import DosingSession
    from kapflow.scheduling.models import Appointment

    if not policy.can_work_billing(actor):
        raise NotFound()
    charged = (
        InvoiceLine.objects.for_org(actor.organisation)
        .exclude(invoice__state=InvoiceState.VOID)
        .values_list("source_kind", "source_id")
    )
    sessions = (
        DosingSession.objects.for_org(actor.organisation)
        .filter(state="discharged", minutes__isnull=False)
        .exclude(pk__in=charged.filter(source_kind=SourceKind.DOSING_SESSION).values("source_id"))
        .select_related("course", "organisation")
        .order_by("-ended_at")[:limit]
    )
    appointments = (
        Appointment.objects.for_org(actor.organisation)
        .filter(status="completed", kind__in=CHARGEABLE_KINDS, is_group=False)
        .exclude(pk__in=charged.filter(source_kind=SourceKind.APPOINTMENT).values("source_id"))
        .prefetch_related("participants")
        .order_by("-starts_at")[:limit]
    )
    rows = [_from_session(s) for s in sessions]
    rows += [c for a in appointments if (c := _from_appointment(a, actor.organisation))]
    rows.sort(key=lambda c: (c.on, c.source_id), reverse=True)
    return rows[:limit]


# ---- invoices --------------------------------------------------------------------------------


def _invoices(qs):
    return qs.select_related("client")


def invoice_list(
    *, actor, state: str = "", client_id: int | None = None, limit: int = LIST_LIMIT
) -> list[Invoice]:
    """The practice's invoices the actor may read, newest first; one audit row per client."""
    if not policy.can_list_invoices(actor):
        raise NotFound()
    qs = policy.invoices_queryset(actor)
    if state:
        qs = qs.filter(state=state)
    if client_id is not None:
        qs = qs.filter(client_id=client_id)
    rows = list(_invoices(qs).order_by("-created_at", "-id")[:limit])
    audit_record_many(actor=actor, action="invoice.list", targets=rows, client_attr="client_id")
    return rows


def _detail(qs):
    return _invoices(qs).prefetch_related(
        "lines__clinician__user", "payments__refunds", "credits", "write_offs"
    )


def invoice_get(*, actor, invoice_id: int, audit: bool = True) -> Invoice:
    invoice = _detail(policy.invoices_queryset(actor)).filter(pk=invoice_id).first()
    if invoice is None:
        raise _deny(actor, Invoice, invoice_id)
    if audit:
        audit_record(actor=actor, action="invoice.view", target=invoice,
                     client_id=invoice.client_id)  # fmt: skip
    return invoice


def own_invoices(*, actor) -> list[Invoice]:
    """The signed-in client's issued invoices (drafts are the practice's), newest first."""
    client = own_client(actor=actor)
    rows = list(
        _invoices(Invoice.objects.for_org(client.organisation_id))
        .filter(client=client)
        .exclude(state=InvoiceState.DRAFT)
        .order_by("-issued_on", "-id")[:LIST_LIMIT]
    )
    audit_record(actor=actor, action="invoice.list", target=client, client_id=client.pk)
    return rows


def own_invoice_get(*, actor, invoice_id: int) -> Invoice:
    client = own_client(actor=actor)
    invoice = (
        _detail(Invoice.objects.for_org(client.organisation_id))
        .filter(pk=invoice_id, client=client)
        .exclude(state=InvoiceState.DRAFT)
        .first()
    )
    if invoice is None:
        raise _deny(actor, Invoice, invoice_id)
    audit_record(actor=actor, action="invoice.view", target=invoice, client_id=client.pk)
    return invoice


def client_money(*, client) -> dict:
    """A client's packages (with what each session drew), subscriptions and statements."""
    org = client.organisation_id
    return {
        "packages": list(
            Package.objects.for_org(org).filter(client=client).prefetch_related("draws")
        ),
        "subscriptions": list(Subscription.objects.for_org(org).filter(client=client)),
        "statements": list(
            Statement.objects.for_org(org).filter(client=client).order_by("-period_start")[:24]
        ),
    }


def statement_get(*, actor, statement_id: int) -> Statement:
    client = own_client(actor=actor)
    row = (
        Statement.objects.for_org(client.organisation_id)
        .filter(pk=statement_id, client=client)
        .first()
    )
    if row is None:
        raise _deny(actor, Statement, statement_id)
    audit_record(actor=actor, action="statement.view", target=row, client_id=client.pk)
    return row


# ---- the practice's finances -----------------------------------------------------------------


@dataclass
class Finance:
    today: date
    owed_total: Decimal
    ageing: dict  # bucket -> amount
    owed_by: list  # [(client, amount, oldest issued_on)]
    revenue_by_service: list  # [(code or description, amount)]
    revenue_by_payer: list  # [(payer label, amount)]
    to_issue: int
    currency: str


def finance_summary(*, actor, today: date | None = None) -> Finance:
    """What is owed and by whom, ageing by 30/60/90 days, and this month's revenue (lines of
    invoices issued this month) by service and by payer. A fixed number of queries."""
    if not policy.can_work_billing(actor):
        raise NotFound()
    org = actor.organisation
    today = today or clock.clinical_date(org)
    open_qs = Invoice.objects.for_org(org).filter(state__in=OPEN_STATES)
    ageing = dict.fromkeys(rules.AGEING_BUCKETS, rules.ZERO)
    by_client: dict = {}
    for invoice in open_qs.select_related("client").order_by("issued_on", "id"):
        bucket = rules.ageing_bucket(invoice.issued_on, today=today)
        ageing[bucket] += invoice.balance
        entry = by_client.setdefault(invoice.client_id, [invoice.client, rules.ZERO,
                                                         invoice.issued_on])  # fmt: skip
        entry[1] += invoice.balance
    owed_by = sorted((tuple(v) for v in by_client.values()), key=lambda v: -v[1])
    month_start = today.replace(day=1)
    lines = InvoiceLine.objects.for_org(org).filter(
        invoice__issued_on__gte=month_start, invoice__issued_on__lte=today,
    ).exclude(invoice__state=InvoiceState.VOID)  # fmt: skip
    by_service = list(lines.values("code", "description").annotate(s=Sum("amount")).order_by("-s"))
    coverage_payer = dict(
        Coverage.objects.for_org(org).exclude(kind="self_pay").values_list("client_id", "payer")
    )
    payer_sums: dict = {}
    for row in lines.values("bill_to", "invoice__client_id").annotate(s=Sum("amount")):
        label = (
            coverage_payer.get(row["invoice__client_id"], "Payer")
            if row["bill_to"] == "payer"
            else "Prepaid package"
            if row["bill_to"] == "package"
            else "Client (self-pay)"
        )
        payer_sums[label] = payer_sums.get(label, rules.ZERO) + row["s"]
    audit_record(actor=actor, action="finance.view", target=None)
    return Finance(
        today=today,
        owed_total=sum(ageing.values(), rules.ZERO),
        ageing=ageing,
        owed_by=owed_by[:50],
        revenue_by_service=[(r["code"] or r["description"], r["s"]) for r in by_service],
        revenue_by_payer=sorted(payer_sums.items(), key=lambda kv: -kv[1]),
        to_issue=Invoice.objects.for_org(org).filter(state=InvoiceState.DRAFT).count(),
        currency=settings_for(org).currency,
    )


def biller_home(*, actor) -> dict:
    """The biller's work for the home page: drafts to issue, sessions to charge, what is
    owed (counts and totals only: no names on the home page)."""
    if not policy.can_work_billing(actor):
        return {}
    org = actor.organisation
    invoices = Invoice.objects.for_org(org)
    counts = invoices.aggregate(
        drafts=Count("id", filter=Q(state=InvoiceState.DRAFT)),
        open=Count("id", filter=Q(state__in=OPEN_STATES)),
        owed=Sum("balance", filter=Q(state__in=OPEN_STATES)),
    )
    return {
        "drafts": counts["drafts"],
        "open": counts["open"],
        "owed": counts["owed"] or rules.ZERO,
        "to_charge": len(chargeable_list(actor=actor, limit=100)),
        "currency": settings_for(org).currency,
    }


# ---- superbill and claims --------------------------------------------------------------------


@dataclass
class Superbill:
    client: Client
    practice: object
    settings: BillingSettings
    clinician: object  # Membership or None
    licences: list
    coverage: Coverage | None
    diagnoses: list
    lines: list  # InvoiceLine rows with a code
    paid: Decimal
    charged: Decimal
    start: date
    end: date
    generated_on: date


def superbill_for(*, client, start: date, end: date, invoice=None) -> Superbill:
    """Facts for a superbill: every psychotherapy and intake line (coded services a payer
    reimburses; private time is not) of the client's non-void, issued invoices with
    a date of service in the period, the payments on those invoices, the practice, the
    rendering clinician (the first line's) with NPI and licences, coverage and diagnoses.
    With `invoice`, only that invoice's lines (a superbill for one session)."""
    org = client.organisation
    only = {"invoice": invoice} if invoice is not None else {}
    lines = list(
        InvoiceLine.objects.for_org(org)
        .filter(invoice__client=client, service_date__range=(start, end), **only)
        .filter(purpose__in=[Purpose.PSYCHOTHERAPY, Purpose.INTAKE])
        .exclude(invoice__state__in=[InvoiceState.VOID, InvoiceState.DRAFT])
        .select_related("clinician__user", "invoice")
        .order_by("service_date", "id")
    )
    invoice_ids = {line.invoice_id for line in lines}
    paid = Payment.objects.filter(invoice_id__in=invoice_ids).aggregate(s=Sum("amount"))["s"]
    refunded = Refund.objects.filter(invoice_id__in=invoice_ids).aggregate(s=Sum("amount"))["s"]
    charged = sum((ln.amount for ln in lines), rules.ZERO)
    # Payments are made per invoice; a superbill claims only its coded services, so what it
    # shows as paid is at most what they were charged.
    paid = rules.money(min((paid or 0) - (refunded or 0), charged))
    clinician = next((ln.clinician for ln in lines if ln.clinician_id), None)
    return Superbill(
        client=client, practice=org, settings=settings_for(org), clinician=clinician,
        licences=list(clinician.user.licences.all()) if clinician else [],
        coverage=Coverage.objects.filter(client=client).first(), diagnoses=diagnoses(client=client),
        lines=lines, paid=paid, charged=charged,
        start=start, end=end, generated_on=clock.clinical_date(org),
    )  # fmt: skip


def invoice_superbill(*, actor, invoice_id: int) -> Superbill:
    """The superbill for one issued invoice: its coded services over its own service dates.
    Practice admins and billers; a draft or void invoice, or one with no coded service
    (private time only), has none (DomainError)."""
    if not policy.can_work_billing(actor):
        raise NotFound()
    invoice = invoice_get(actor=actor, invoice_id=invoice_id, audit=False)
    if invoice.state in (InvoiceState.DRAFT, InvoiceState.VOID):
        raise DomainError("A superbill is made from an issued invoice, not a draft or a void one.",
                          code="superbill.not_issued")  # fmt: skip
    dates = invoice.lines.filter(purpose__in=[Purpose.PSYCHOTHERAPY, Purpose.INTAKE]).aggregate(
        start=Min("service_date"), end=Max("service_date")
    )
    if dates["start"] is None:
        raise DomainError("This invoice has no coded service (private time is not claimable).",
                          code="superbill.nothing_coded")  # fmt: skip
    return superbill_for(client=invoice.client, start=dates["start"], end=dates["end"],
                         invoice=invoice)  # fmt: skip


def claim_lines(*, actor, start: date, end: date) -> list[InvoiceLine]:
    """Lines billed to a payer with a date of service in the period (claim-ready CSV)."""
    if not policy.can_work_billing(actor):
        raise NotFound()
    return list(
        InvoiceLine.objects.for_org(actor.organisation)
        .filter(bill_to="payer", service_date__range=(start, end))
        .exclude(invoice__state__in=[InvoiceState.VOID, InvoiceState.DRAFT])
        .select_related("invoice__client__coverage", "clinician__user")
        .order_by("service_date", "id")
    )
