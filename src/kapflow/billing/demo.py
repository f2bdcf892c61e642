"""Demo billing (kapflow.demo.loader calls load_demo_billing after the sessions): the fee
schedule, and money in every state for billing@, through the services so every rule applies.

- The client sign-in (client@): out-of-network coverage and two diagnoses; two past visits
  (booked and marked completed through the scheduling services at their time): a therapy
  hour charged as 90837 (on the superbill) and an integration session drawn from a
  two-session integration package (half used); a $129/month low-dose subscription; one paid
  invoice (an HSA/FSA receipt) and one issued; this month's statement.
- Other clients: the $355 medication package for two dosing sessions on a draft, invoices
  issued (one over 90 days old), partly paid and void, so the finance page has ageing.
- The in-person dosing session discharged yesterday stays uncharged: billing@'s work list
  offers it (the e2e test charges it).

Idempotent: nothing is added once the practice has an invoice. All people are fictional.
"""

import logging
from datetime import UTC, datetime, time, timedelta

from django.core.exceptions import ValidationError

from kapflow.core import clock
from kapflow.core.errors import DomainError

logger = logging.getLogger(__name__)

FEES = [
    ("90791", "Psychiatric diagnostic evaluation (intake)", "intake", "250.00"),
    ("90832", "Psychotherapy, 30 minutes", "psychotherapy", "95.00"),
    ("90834", "Psychotherapy, 45 minutes", "psychotherapy", "140.00"),
    ("90837", "Psychotherapy, 60 minutes", "psychotherapy", "180.00"),
    ("KAP-TIME", "KAP session time beyond the psychotherapy hour (per hour)", "private_time",
     "150.00"),
]  # fmt: skip


def _past_visit(admin, course, kind: str, *, at: datetime):
    """A visit booked the day before `at` and marked completed two hours after it, through
    the scheduling services at those times; None when a rule refuses it."""
    from kapflow.scheduling import services as scheduling

    try:
        booking = scheduling.appointment_book(
            actor=admin, kind=kind, starts_at=at, minutes=60, course_ids=[course.pk],
            telehealth=True, confirm=True, now=at - timedelta(days=1),
        )  # fmt: skip
        appointment = booking.appointments[0]
        return scheduling.appointment_mark(
            actor=admin, appointment_id=appointment.pk, version=appointment.version,
            status="completed", now=at + timedelta(hours=2),
        )  # fmt: skip
    except (DomainError, ValidationError) as exc:
        logger.info("demo.billing.visit_refused", extra={"kind": kind, "error": str(exc)})
        return None


def _at(practice, days_ago: int, hour: int = 10) -> datetime:
    day = clock.clinical_date(practice) - timedelta(days=days_ago)
    return datetime.combine(day, time(hour), tzinfo=clock.clinical_zone(practice)).astimezone(UTC)


def load_demo_billing(*, practice) -> dict:
    from kapflow.accounts.models import Membership, Role
    from kapflow.billing import services
    from kapflow.billing.models import Invoice
    from kapflow.courses.models import Course
    from kapflow.patients.models import Client

    if Invoice.objects.for_org(practice).exists():
        return {"invoices": 0}
    members = Membership.objects.filter(organisation=practice, is_active=True).select_related(
        "organisation", "user"
    )
    biller = members.filter(roles__role=Role.BILLER).first()
    admin = members.filter(roles__role=Role.PRACTICE_ADMIN).first()
    if biller is None or admin is None:
        return {"invoices": 0}
    today = clock.clinical_date(practice)
    services.billing_settings_update(actor=biller, tax_id="93-0000000", rounding_minutes=15)
    for code, description, purpose, rate in FEES:
        services.fee_add(
            actor=biller, code=code, description=description, purpose=purpose, rate=rate,
            effective_from=today - timedelta(days=400),
        )  # fmt: skip
    # A rate change this year: a new row, the old one kept for the invoices that used it.
    services.fee_add(
        actor=biller, code="90837", description="Psychotherapy, 60 minutes",
        purpose="psychotherapy", rate="190.00", effective_from=today + timedelta(days=30),
    )  # fmt: skip

    own = Client.objects.for_org(practice).filter(user__email="client@harborlight.example").first()
    made = {"invoices": 0, "visits": 0}
    if own is not None:
        services.coverage_set(
            actor=biller, client_id=own.pk, kind="out_of_network", payer="Example Health Plan",
            payer_id="EHP01", member_id="XEH448812", group_number="G-2040",
            subscriber_name="Jordan Vale", relationship="self",
        )  # fmt: skip
        for code in ("F33.1", "F41.1"):
            services.diagnosis_add(actor=biller, client_id=own.pk, code=code)
        services.package_sell(
            actor=biller, client_id=own.pk, name="Integration sessions, two-pack",
            sessions_total=2, price="300.00", covers="integration",
        )  # fmt: skip
        services.subscription_start(
            actor=biller, client_id=own.pk, name="Low-dose programme, monthly",
            monthly_amount="129.00", billing_day=1, started_on=today.replace(day=1),
        )  # fmt: skip
        paid = Invoice.objects.for_org(practice).get(client=own, state="draft")
        paid = services.invoice_issue(actor=biller, invoice_id=paid.pk)
        services.payment_record(
            actor=biller, invoice_id=paid.pk, amount=str(paid.balance), method="hsa_fsa",
            reference="HSA card ending 4411",
        )  # fmt: skip
        made["invoices"] += 1
        course = Course.objects.for_org(practice).filter(client=own).order_by("-pk").first()
        if course is not None:
            for kind, days_ago in (("therapy", 9), ("integration", 6)):
                visit = _past_visit(admin, course, kind, at=_at(practice, days_ago))
                if visit is not None:
                    services.charge_encounter(
                        actor=biller, source_kind="appointment", source_id=visit.pk
                    )
                    made["visits"] += 1
            draft = Invoice.objects.for_org(practice).filter(client=own, state="draft").first()
            if draft is not None:
                services.invoice_issue(actor=biller, invoice_id=draft.pk)
                made["invoices"] += 1

    from kapflow.encounters.models import DosingSession

    # Not the clients of the demo's dosing sessions: a medication package would draw the
    # finished session down instead of leaving it to charge.
    in_session = DosingSession.objects.for_org(practice).values("client_id")
    others = list(
        Client.objects.for_org(practice)
        .filter(user__isnull=True)
        .exclude(pk__in=in_session)
        .order_by("pk")[:5]
    )
    states = ["draft", "issued_old", "partly_paid", "void", "issued"]
    for client, state in zip(others, states, strict=False):
        invoice_id = _package_invoice(services, biller, client)
        made["invoices"] += 1
        if state == "draft":
            continue
        if state == "void":
            services.invoice_void(actor=biller, invoice_id=invoice_id, reason="Sold in error")
            continue
        days = {"issued_old": 100, "partly_paid": 40}.get(state, 3)
        services.invoice_issue(actor=biller, invoice_id=invoice_id,
                               now=_at(practice, days, hour=12))  # fmt: skip
        if state == "partly_paid":
            services.payment_record(
                actor=biller, invoice_id=invoice_id, amount="155.00", method="financing",
                reference="Financing partner plan 2231",
            )  # fmt: skip
    services.statements_run(organisation=practice, month_start=today.replace(day=1))
    return made


def _package_invoice(services, biller, client) -> int:
    package = services.package_sell(
        actor=biller, client_id=client.pk, name="Medication for two dosing sessions",
        sessions_total=2, price="355.00", covers="dosing",
    )  # fmt: skip
    return package.draws.model.objects.filter(
        source_kind="package_sale", source_id=package.pk
    ).values_list("invoice_id", flat=True)[0]
