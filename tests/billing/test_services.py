"""Billing write paths: charges from finished sessions, invoices through their states,
money movements, packages, subscriptions, coverage and the month-end run; each refusal
names its field or rule and leaves nothing half-saved."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from kapflow.audit.models import AuditEvent
from kapflow.billing import services
from kapflow.billing.models import (
    Coverage,
    FeeService,
    Invoice,
    InvoiceLine,
    Package,
    Payment,
    Statement,
)
from kapflow.core.errors import DomainError, NotFound
from tests.billing.factories import (
    charged_invoice,
    completed_appointment,
    discharged_session,
    fee_schedule,
    in_network,
    issued_invoice,
)

D = Decimal
FROZEN = datetime.datetime(2026, 11, 18, 20, 0, tzinfo=datetime.UTC)


@pytest.fixture
def practice(world, time_machine):
    time_machine.move_to(FROZEN, tick=False)
    fee_schedule(world.practice)
    return world


def _lines(invoice):
    return [(ln.bill_to, ln.code, ln.amount) for ln in invoice.lines.order_by("id")]


def test_the_seed_session_splits_between_payer_and_client(practice):
    in_network(practice)
    invoice = charged_invoice(practice, minutes=160)
    assert invoice.state == "draft"
    assert _lines(invoice) == [
        ("payer", "90837", D("180.00")),
        ("client", "KAP-PRIV", D("262.50")),
    ]
    line = invoice.lines.first()
    assert line.clinician_id == practice.therapist.pk and line.place_of_service == "11"
    assert (invoice.total, invoice.payer_total, invoice.client_total) == (
        D("442.50"), D("180.00"), D("262.50"),
    )  # fmt: skip
    assert AuditEvent.objects.filter(action="charge.add", client_id=practice.client.pk).exists()


def test_telehealth_at_home_gets_modifier_95_and_pos_10(practice):
    in_network(practice)
    invoice = charged_invoice(practice, minutes=120, at_home=True)
    hour = invoice.lines.get(code="90837")
    assert (hour.modifiers, hour.place_of_service) == ("95", "10")


def test_no_coverage_bills_the_whole_session_privately(practice):
    invoice = charged_invoice(practice, minutes=160)
    assert _lines(invoice) == [("client", "KAP-PRIV", D("412.50"))]
    assert "No coverage on file" in invoice.lines.get().why


def test_an_integration_appointment_is_90837(practice):
    in_network(practice)
    appointment = completed_appointment(practice, kind="integration", minutes=60)
    invoice = services.charge_encounter(
        actor=practice.biller, source_kind="appointment", source_id=appointment.pk
    )
    assert _lines(invoice) == [("payer", "90837", D("180.00"))]


def test_a_session_is_charged_once(practice):
    session = discharged_session(practice)
    services.charge_encounter(
        actor=practice.biller, source_kind="dosing_session", source_id=session.pk
    )
    with pytest.raises(DomainError) as exc:
        services.charge_encounter(
            actor=practice.biller, source_kind="dosing_session", source_id=session.pk
        )
    assert exc.value.code == "charge.already"
    assert InvoiceLine.objects.count() == 1


def test_an_unfinished_session_is_not_charged(practice):
    session = discharged_session(practice)
    session.state = "in_progress"
    session.save()
    with pytest.raises(DomainError) as exc:
        services.charge_encounter(
            actor=practice.biller, source_kind="dosing_session", source_id=session.pk
        )
    assert exc.value.code == "charge.not_complete"
    assert Invoice.objects.count() == 0


def test_another_practice_cannot_charge_or_see(practice):
    session = discharged_session(practice)
    with pytest.raises(NotFound):
        services.charge_encounter(
            actor=practice.other_admin, source_kind="dosing_session", source_id=session.pk
        )
    with pytest.raises(NotFound):
        services.charge_encounter(
            actor=practice.therapist, source_kind="dosing_session", source_id=session.pk
        )


def test_no_private_rate_is_a_clear_refusal_and_nothing_saved(practice):
    FeeService.objects.filter(code="KAP-PRIV").delete()
    session = discharged_session(practice)
    with pytest.raises(DomainError) as exc:
        services.charge_encounter(
            actor=practice.biller, source_kind="dosing_session", source_id=session.pk
        )
    assert exc.value.code == "charge.no_price"
    assert Invoice.objects.count() == 0 and InvoiceLine.objects.count() == 0


def test_a_package_is_drawn_down_instead_of_charging(practice):
    package = services.package_sell(
        actor=practice.biller, client_id=practice.client.pk, name="Medication, two dosings",
        sessions_total=2, price="355.00",
    )  # fmt: skip
    invoice = charged_invoice(practice, minutes=160)
    package.refresh_from_db()
    assert package.sessions_used == 1 and package.sessions_left == 1
    draw = invoice.lines.get(bill_to="package")
    assert draw.amount == 0 and draw.package_id == package.pk and "package" in draw.why
    # The sale is on the same draft: 355.00 to the client.
    assert invoice.total == D("355.00")
    services.invoice_void(actor=practice.biller, invoice_id=invoice.pk, reason="Wrong client")
    package.refresh_from_db()
    assert package.sessions_used == 0


def test_invoice_life_issue_pay_partly_then_fully_refund_and_write_off(practice):
    invoice = issued_invoice(practice, minutes=160)  # 412.50 private
    assert invoice.state == "issued"
    assert invoice.issued_on == datetime.date(2026, 11, 18)
    assert invoice.due_on == datetime.date(2026, 12, 18)
    services.payment_record(actor=practice.biller, invoice_id=invoice.pk, amount="200.00",
                            method="hsa_fsa", reference="HSA-1")  # fmt: skip
    invoice.refresh_from_db()
    assert (invoice.state, invoice.balance) == ("partly_paid", D("212.50"))
    payment = services.payment_record(
        actor=practice.biller, invoice_id=invoice.pk, amount="200.00", method="financing",
        reference="FIN-9",
    )  # fmt: skip
    services.write_off(actor=practice.biller, invoice_id=invoice.pk, amount="12.50",
                       reason_code="small_balance")  # fmt: skip
    invoice.refresh_from_db()
    assert (invoice.state, invoice.balance) == ("paid", D("0.00"))
    services.payment_refund(actor=practice.biller, payment_id=payment.pk, amount="50.00",
                            reason="Overcharged")  # fmt: skip
    invoice.refresh_from_db()
    assert (invoice.state, invoice.paid, invoice.balance) == (
        "partly_paid", D("350.00"), D("50.00"),
    )  # fmt: skip
    services.credit_apply(actor=practice.biller, invoice_id=invoice.pk, amount="50.00",
                          reason="Goodwill")  # fmt: skip
    invoice.refresh_from_db()
    assert invoice.state == "paid"
    # Totals add back to the rows.
    assert invoice.total == sum(ln.amount for ln in invoice.lines.all())


@pytest.mark.parametrize(
    ("amount", "method", "field"),
    [("0", "manual", "amount"), ("-5", "manual", "amount"), ("1.234", "manual", "amount"),
     ("abc", "manual", "amount"), ("NaN", "manual", "amount"), ("10.00", "bitcoin", "method"),
     ("9999.00", "manual", "amount")],
)  # fmt: skip
def test_a_bad_payment_names_its_field_and_saves_nothing(practice, amount, method, field):
    invoice = issued_invoice(practice)
    with pytest.raises(ValidationError) as exc:
        services.payment_record(actor=practice.biller, invoice_id=invoice.pk, amount=amount,
                                method=method)  # fmt: skip
    assert field in exc.value.message_dict
    assert Payment.objects.count() == 0
    invoice.refresh_from_db()
    assert invoice.state == "issued"


def test_no_money_on_a_draft_or_void_invoice(practice):
    invoice = charged_invoice(practice)
    with pytest.raises(DomainError) as exc:
        services.payment_record(actor=practice.biller, invoice_id=invoice.pk, amount="1.00",
                                method="manual")  # fmt: skip
    assert exc.value.code == "invoice.not_open"
    services.invoice_issue(actor=practice.biller, invoice_id=invoice.pk)
    with pytest.raises(DomainError):
        services.invoice_issue(actor=practice.biller, invoice_id=invoice.pk)


def test_void_needs_payments_refunded_first(practice):
    invoice = issued_invoice(practice)
    services.payment_record(actor=practice.biller, invoice_id=invoice.pk, amount="10.00",
                            method="manual")  # fmt: skip
    with pytest.raises(DomainError) as exc:
        services.invoice_void(actor=practice.biller, invoice_id=invoice.pk, reason="x")
    assert exc.value.code == "invoice.has_payments"
    with pytest.raises(ValidationError):
        services.invoice_void(actor=practice.biller, invoice_id=invoice.pk, reason=" ")


def test_a_voided_session_can_be_charged_again(practice):
    session = discharged_session(practice)
    invoice = services.charge_encounter(
        actor=practice.biller, source_kind="dosing_session", source_id=session.pk
    )
    services.invoice_void(actor=practice.biller, invoice_id=invoice.pk, reason="Redo")
    again = services.charge_encounter(
        actor=practice.biller, source_kind="dosing_session", source_id=session.pk
    )
    assert again.pk != invoice.pk


def test_a_new_rate_never_rewrites_history(practice):
    old = FeeService.objects.get(code="90837")
    services.fee_add(actor=practice.biller, code="90837", description="Psychotherapy, 60",
                     purpose="psychotherapy", rate="200.00",
                     effective_from=datetime.date(2026, 11, 19))  # fmt: skip
    old.refresh_from_db()
    assert old.rate == D("180.00") and old.effective_to == datetime.date(2026, 11, 18)
    with pytest.raises(ValidationError) as exc:
        services.fee_add(actor=practice.biller, code="90837", description="x",
                         purpose="psychotherapy", rate="1.00",
                         effective_from=datetime.date(2026, 1, 1))  # fmt: skip
    assert "effective_from" in exc.value.message_dict
    in_network(practice)
    invoice = charged_invoice(practice)  # today is the 18th: the old rate
    assert invoice.lines.get(code="90837").amount == D("180.00")


def test_coverage_by_the_client_and_its_rules(practice):
    with pytest.raises(ValidationError) as exc:
        services.coverage_set(actor=practice.client_member, client_id=practice.client.pk,
                              kind="in_network")  # fmt: skip
    assert {"payer", "member_id"} <= set(exc.value.message_dict)
    assert Coverage.objects.count() == 0
    row = services.coverage_set(actor=practice.client_member, client_id=practice.client.pk,
                                kind="out_of_network", payer="Example Health",
                                member_id="M1")  # fmt: skip
    assert row.kind == "out_of_network"
    event = AuditEvent.objects.get(action="coverage.update")
    assert "member_id" in event.changed_fields and "M1" not in str(event.changed_fields)
    with pytest.raises(NotFound):
        services.coverage_set(actor=practice.client_member, client_id=practice.unreferred.pk,
                              kind="self_pay")  # fmt: skip
    with pytest.raises(NotFound):
        services.coverage_set(actor=practice.therapist, client_id=practice.client.pk,
                              kind="self_pay")  # fmt: skip


def test_diagnoses_are_billable_icd10_codes(practice):
    services.diagnosis_add(actor=practice.biller, client_id=practice.client.pk, code="F33.1")
    with pytest.raises(ValidationError):
        services.diagnosis_add(actor=practice.biller, client_id=practice.client.pk, code="F33")
    with pytest.raises(ValidationError):
        services.diagnosis_add(actor=practice.biller, client_id=practice.client.pk, code="F33.1")


def test_subscription_prorates_its_first_month_and_credits_on_cancel(practice):
    sub = services.subscription_start(
        actor=practice.biller, client_id=practice.client.pk, name="Low-dose programme",
        monthly_amount="129.00", billing_day=1, started_on=datetime.date(2026, 11, 16),
    )  # fmt: skip
    line = InvoiceLine.objects.get(source_kind="subscription", source_id=sub.pk)
    assert line.amount == D("64.50") and "prorated" in line.why
    invoice = services.invoice_issue(actor=practice.biller, invoice_id=line.invoice_id)
    services.subscription_cancel(actor=practice.biller, subscription_id=sub.pk,
                                 on=datetime.date(2026, 11, 23))  # fmt: skip
    invoice.refresh_from_db()
    assert invoice.credited == D("30.10")  # 7 of 30 days given back
    sub.refresh_from_db()
    assert sub.cancelled_on == datetime.date(2026, 11, 23)


def test_subscriptions_bill_on_their_day(practice, time_machine):
    sub = services.subscription_start(
        actor=practice.biller, client_id=practice.client.pk, name="Low-dose programme",
        monthly_amount="129.00", billing_day=1, started_on=datetime.date(2026, 11, 1),
    )  # fmt: skip
    assert services.subscriptions_bill_due(actor=practice.biller,
                                           today=datetime.date(2026, 11, 30)) == 0  # fmt: skip
    assert services.subscriptions_bill_due(actor=practice.biller,
                                           today=datetime.date(2026, 12, 1)) == 1  # fmt: skip
    sub.refresh_from_db()
    assert sub.billed_through == datetime.date(2026, 12, 31)


def test_month_end_statements(practice):
    invoice = issued_invoice(practice)
    services.payment_record(actor=practice.biller, invoice_id=invoice.pk, amount="100.00",
                            method="card_external", reference="ch_1")  # fmt: skip
    count = services.statements_run(organisation=practice.practice,
                                    month_start=datetime.date(2026, 11, 1))  # fmt: skip
    assert count == 1
    st = Statement.objects.get()
    assert (st.charged, st.paid, st.balance) == (D("412.50"), D("100.00"), D("312.50"))
    services.statements_run(organisation=practice.practice,
                            month_start=datetime.date(2026, 11, 1))  # fmt: skip
    assert Statement.objects.count() == 1


def test_package_is_never_overdrawn(practice):
    package = services.package_sell(
        actor=practice.biller, client_id=practice.client.pk, name="One dosing",
        sessions_total=1, price="180.00",
    )  # fmt: skip
    charged_invoice(practice)
    second = charged_invoice(practice)
    package.refresh_from_db()
    assert package.sessions_used == 1
    assert not second.lines.filter(bill_to="package").exclude(package=None).count() > 1
    assert Package.objects.get().sessions_left == 0


def test_a_card_payment_needs_the_processors_reference_and_its_confirmation(practice, monkeypatch):
    from kapflow.billing import processors

    invoice = issued_invoice(practice)
    with pytest.raises(ValidationError) as exc:
        services.payment_record(actor=practice.biller, invoice_id=invoice.pk, amount="10.00",
                                method="card_external")  # fmt: skip
    assert "reference" in exc.value.message_dict

    class Refusing:
        name = "refusing"

        def confirm(self, **kwargs):
            return False

    monkeypatch.setattr(processors, "card_processor", lambda: Refusing())
    with pytest.raises(DomainError) as exc:
        services.payment_record(actor=practice.biller, invoice_id=invoice.pk, amount="10.00",
                                method="card_external", reference="ch_x")  # fmt: skip
    assert exc.value.code == "payment.not_confirmed"
    assert Payment.objects.count() == 0
