"""Dosing-session factories: a course ready to dose, and sessions at each state."""

import datetime

from django.utils import timezone

from kapflow.encounters import services
from tests.courses.factories import event, make_course

MIN = datetime.timedelta(minutes=1)
GOOD_VITALS = {"bp_systolic": 120, "bp_diastolic": 80, "heart_rate": 72, "spo2": 98}
GOOD_START = {**GOOD_VITALS, "alcohol_free_24h": True, "driver_confirmed": True,
              "companion_present": True}  # fmt: skip
ALL_YES = {
    "fasting": True, "no_alcohol_24h": True, "ride_or_companion": True, "phone_charged": True,
    "setting_ready": True,
}  # fmt: skip


def ready_course(client, therapist, prescriber=None, **fields):
    """A course at active with every advance gate met (a negative screen today)."""
    course = make_course(client, therapist, prescriber=prescriber, stage="active", **fields)
    event(course, therapist, "risk_screen", positive=False)
    return course


def opened(actor, course, **kwargs):
    return services.session_open(actor=actor, course_id=course.pk, **kwargs)


def started(actor, course, *, at=None, **overrides):
    session = opened(actor, course, now=at)
    values = {**GOOD_START, **overrides}
    return services.session_start(
        actor=actor, session_id=session.pk, version=session.version, now=at, **values
    )


def dosed(actor, course, *, at=None, amount=200):
    """A started session with its first dose given at `at` (default two and a half hours ago,
    so the observation time has passed)."""
    at = at or timezone.now() - 150 * MIN
    session = started(actor, course, at=at)
    services.entry_add(
        actor=actor, session_id=session.pk, kind="dose", route="sublingual", amount=amount,
        unit="mg", occurred_at=at, now=at,
    )  # fmt: skip
    session.refresh_from_db()
    return session


def dosing_appointment(course, therapist, *, starts_at=None, is_group=False):
    """A scheduled dosing appointment for the course (rows made directly: these tests are
    about sessions, not booking)."""
    from kapflow.scheduling.models import Appointment, AppointmentParticipant

    starts_at = starts_at or timezone.now() - 160 * MIN
    appointment = Appointment.objects.create(
        organisation=course.organisation, kind="dosing", course=None if is_group else course,
        starts_at=starts_at, ends_at=starts_at + 180 * MIN, time_zone="America/Los_Angeles",
        is_group=is_group, created_by=therapist.user,
    )  # fmt: skip
    AppointmentParticipant.objects.create(
        organisation=course.organisation, appointment=appointment, role="client",
        client=course.client, course=course, starts_at=appointment.starts_at,
        ends_at=appointment.ends_at,
    )  # fmt: skip
    return appointment
