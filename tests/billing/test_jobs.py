"""The daily billing jobs: subscriptions charged on their billing day by the practice's own
calendar, and last month's statements once the month has ended. Each job is run twice, as
a retried period would be, and does its work once."""

import datetime
from decimal import Decimal

import pytest

from kapflow.audit.models import AuditEvent
from kapflow.billing import services
from kapflow.billing.models import InvoiceLine, Statement
from kapflow.runtime import jobs as periodic
from kapflow.runtime.schedule import jobs
from tests.billing.factories import fee_schedule, issued_invoice

UTC = datetime.UTC
FROZEN = datetime.datetime(2026, 11, 18, 20, 0, tzinfo=UTC)


@pytest.fixture
def practice(world, time_machine):
    time_machine.move_to(FROZEN, tick=False)
    fee_schedule(world.practice)
    return world


def _subscription(world, **kwargs):
    values = {"name": "Low-dose programme", "monthly_amount": "129.00", "billing_day": 1,
              "started_on": datetime.date(2026, 11, 1)}  # fmt: skip
    return services.subscription_start(
        actor=world.biller, client_id=world.client.pk, **{**values, **kwargs}
    )


def _periods(sub):
    lines = InvoiceLine.objects.filter(source_kind="subscription", source_id=sub.pk)
    return sorted(lines.values_list("service_date", "amount"))


def test_the_jobs_are_registered_daily_after_midnight_in_the_americas():
    by_name = {job.name: job for job in jobs()}
    for name in ("billing_subscriptions", "billing_statements"):
        job = by_name[name]
        assert job.every == datetime.timedelta(days=1)
        # 10:00 UTC is midnight in Hawaii: every US practice has turned the day.
        assert datetime.timedelta(hours=10) <= job.offset < datetime.timedelta(hours=14)


def test_a_subscription_is_charged_on_its_billing_day_once(practice, time_machine):
    sub = _subscription(practice)
    # 1 December 05:00 UTC is still 30 November in Oregon: not yet.
    time_machine.move_to(datetime.datetime(2026, 12, 1, 5, 0, tzinfo=UTC), tick=False)
    results = periodic.billing_subscriptions()
    assert [r.args for r in results] == [[practice.practice.pk]]
    assert len(_periods(sub)) == 1

    time_machine.move_to(datetime.datetime(2026, 12, 1, 20, 0, tzinfo=UTC), tick=False)
    periodic.billing_subscriptions()
    periodic.billing_subscriptions()  # the period retried
    assert _periods(sub) == [
        (datetime.date(2026, 11, 1), Decimal("129.00")),
        (datetime.date(2026, 12, 1), Decimal("129.00")),
    ]
    sub.refresh_from_db()
    assert sub.billed_through == datetime.date(2026, 12, 31)
    events = AuditEvent.objects.filter(action="subscription.bill")
    assert events.count() == 1 and events.get().client_id == practice.client.pk


def test_missed_days_catch_up_and_cancellation_stops_charges(practice, time_machine):
    sub = _subscription(practice)
    other = _subscription(practice, name="Second programme")
    services.subscription_cancel(actor=practice.biller, subscription_id=other.pk,
                                 on=datetime.date(2026, 11, 20))  # fmt: skip
    time_machine.move_to(datetime.datetime(2027, 2, 3, 20, 0, tzinfo=UTC), tick=False)
    periodic.billing_subscriptions()
    periodic.billing_subscriptions()
    assert [d for d, _ in _periods(sub)] == [
        datetime.date(2026, 11, 1), datetime.date(2026, 12, 1),
        datetime.date(2027, 1, 1), datetime.date(2027, 2, 1),
    ]  # fmt: skip
    assert [d for d, _ in _periods(other)] == [datetime.date(2026, 11, 1)]


def test_statements_are_made_once_after_the_month_ends(practice, time_machine):
    issued_invoice(practice)
    # A run by hand during the month is replaced by the month-end run.
    services.statements_run(organisation=practice.practice,
                            month_start=datetime.date(2026, 11, 1))  # fmt: skip
    time_machine.move_to(datetime.datetime(2026, 11, 30, 20, 0, tzinfo=UTC), tick=False)
    periodic.billing_statements()
    assert Statement.objects.get().created_at < datetime.datetime(2026, 12, 1, tzinfo=UTC)

    time_machine.move_to(datetime.datetime(2026, 12, 1, 20, 0, tzinfo=UTC), tick=False)
    results = periodic.billing_statements()
    assert all(isinstance(r.args[0], int) and len(r.args) == 1 for r in results)
    first = Statement.objects.get()
    assert (first.period_start, first.client_id) == (datetime.date(2026, 11, 1),
                                                     practice.client.pk)  # fmt: skip
    assert first.balance == Decimal("412.50")
    time_machine.move_to(datetime.datetime(2026, 12, 2, 20, 0, tzinfo=UTC), tick=False)
    periodic.billing_statements()
    periodic.billing_statements()
    assert list(Statement.objects.values_list("pk", flat=True)) == [first.pk]


def test_a_practice_with_nothing_issued_gets_no_statements(practice, time_machine):
    time_machine.move_to(datetime.datetime(2026, 12, 1, 20, 0, tzinfo=UTC), tick=False)
    periodic.billing_statements()
    assert not Statement.objects.exists()
    assert not AuditEvent.objects.filter(action="statement.run").exists()
