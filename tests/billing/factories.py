"""Billing factories: a practice's fee schedule, and finished sessions to charge (rows written
as the encounters services leave them: a discharged dosing session with its billed minutes,
a completed appointment)."""

import datetime
from decimal import Decimal

from django.utils import timezone

from kapflow.billing import services
from kapflow.billing.models import FeeService
from kapflow.encounters.models import DosingSession
from kapflow.scheduling.models import Appointment, AppointmentParticipant
from tests.courses.factories import make_course

FEES = [
    ("90837", "Psychotherapy, 60 minutes", "psychotherapy", "180.00"),
    ("90834", "Psychotherapy, 45 minutes", "psychotherapy", "140.00"),
    ("90791", "Psychiatric diagnostic evaluation", "intake", "250.00"),
    ("KAP-PRIV", "KAP session time, private (per hour)", "private_time", "150.00"),
]


def fee_schedule(organisation, *, on=datetime.date(2020, 1, 1)):
    for code, description, purpose, rate in FEES:
        FeeService.objects.create(
            organisation=organisation, code=code, description=description, purpose=purpose,
            rate=Decimal(rate), effective_from=on,
        )  # fmt: skip


def discharged_session(world, *, minutes=160, at_home=False, ended_at=None, client=None):
    """A dosing session of `minutes`, discharged at `ended_at` (default: an hour ago)."""
    client = client or world.client
    from kapflow.courses.models import Course

    course = Course.objects.filter(client=client).first() or make_course(
        client, world.therapist, stage="active"
    )
    ended_at = ended_at or timezone.now() - datetime.timedelta(hours=1)
    started = ended_at - datetime.timedelta(minutes=minutes)
    return DosingSession.objects.create(
        organisation=client.organisation, course=course, client=client,
        delivery="at_home" if at_home else "in_person", state="discharged",
        opened_at=started, opened_by=world.therapist.user, started_at=started,
        ended_at=ended_at, minutes=minutes, first_hour_minutes=min(minutes, 60),
        additional_minutes=max(minutes - 60, 0), additional_hour_units=0,
    )  # fmt: skip


def completed_appointment(world, *, kind="integration", minutes=60, telehealth=False):
    starts = timezone.now() - datetime.timedelta(days=1)
    appointment = Appointment.objects.create(
        organisation=world.practice, kind=kind, starts_at=starts,
        ends_at=starts + datetime.timedelta(minutes=minutes), time_zone="America/Los_Angeles",
        telehealth=telehealth, status="completed", created_by=world.therapist.user,
    )  # fmt: skip
    for values in ({"role": "client", "client": world.client},
                   {"role": "therapist", "membership": world.therapist}):  # fmt: skip
        AppointmentParticipant.objects.create(
            organisation=world.practice, appointment=appointment, starts_at=starts,
            ends_at=appointment.ends_at, **values,
        )  # fmt: skip
    return appointment


def in_network(world, client=None):
    return services.coverage_set(
        actor=world.biller, client_id=(client or world.client).pk, kind="in_network",
        payer="Example Health", member_id="XEH123456", group_number="G-77",
        subscriber_name="Self", relationship="self",
    )  # fmt: skip


def charged_invoice(world, **session):
    from kapflow.billing.services import charge_encounter

    s = discharged_session(world, **session)
    return charge_encounter(actor=world.biller, source_kind="dosing_session", source_id=s.pk)


def issued_invoice(world, **session):
    invoice = charged_invoice(world, **session)
    return services.invoice_issue(actor=world.biller, invoice_id=invoice.pk)
